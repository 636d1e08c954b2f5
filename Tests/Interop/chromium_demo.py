#!/usr/bin/env python3
"""Drives the demo page in headless Chromium: a generated tone WAV is the microphone, the
script clicks Connect and polls window.parleyStatus until DTLS is connected and the page
receives non-silent audio (getStats totalAudioEnergy > 0), then hangs up.
Speaks WebDriver JSON over HTTP to a chromedriver it starts on a free port and always
stops (by its process id) at the end. Prints one JSON line; exit 0 on pass, 1 on failure."""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import wave

import numpy as np

import peers

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
    "--no-first-run", "--disable-gpu",
]


class WebDriverError(Exception):
    pass


class WebDriver:
    """The few W3C WebDriver commands this test needs, over plain HTTP."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def command(self, method: str, path: str, payload=None, timeout: float = 30.0):
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}").get("value")
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: {str(detail.get('message'))[:300]}") from error
        except (urllib.error.URLError, OSError) as error:
            raise WebDriverError(f"{method} {path}: {error}") from error

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.command("GET", "/status", timeout=2).get("ready"):
                    return
            except WebDriverError:
                pass
            time.sleep(0.1)
        raise WebDriverError(f"chromedriver not ready after {timeout:.0f} s")

    def start_session(self, chromium: str, flags: list) -> None:
        options = {"args": flags}
        if chromium:
            options["binary"] = chromium
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        value = self.command("POST", "/session", {"capabilities": capabilities}, timeout=60)
        self.session = value["sessionId"]

    def in_session(self, method: str, path: str, payload=None, timeout: float = 30.0):
        return self.command(method, f"/session/{self.session}{path}", payload, timeout)

    def open(self, url: str) -> None:
        self.in_session("POST", "/url", {"url": url})

    def click(self, css: str) -> None:
        element = self.in_session("POST", "/element", {"using": "css selector", "value": css})
        self.in_session("POST", f"/element/{element[ELEMENT_KEY]}/click", {})

    def script(self, source: str):
        return self.in_session("POST", "/execute/sync", {"script": source, "args": []})

    def end_session(self) -> None:
        if self.session:
            session, self.session = self.session, None
            self.command("DELETE", f"/session/{session}", timeout=15)


def write_tone_wav(path: str, frequency: float, seconds: float = 5.0, rate: int = 48000) -> None:
    """A 16-bit mono WAV tone; Chromium loops it as the fake microphone."""
    t = np.arange(int(seconds * rate)) / rate
    samples = np.round(0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


def stop_process_group(process: subprocess.Popen) -> None:
    """Stops the chromedriver we started (its own process group, so the browser it spawned
    goes too), by id: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def chromium_session(chromedriver: str, chromium: str, scratch: str, flags=()):
    """chromedriver on a free port driving one headless Chromium session (CHROMIUM_FLAGS,
    then `flags`, with a profile in `scratch`); yields the WebDriver and stops both by PID,
    whatever happens."""
    port = peers.free_port()
    log = open(os.path.join(scratch, "chromedriver.log"), "wb")
    process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    driver = WebDriver(port)
    try:
        driver.wait_ready(10)
        driver.start_session(chromium, CHROMIUM_FLAGS + list(flags) + [f"--user-data-dir={os.path.join(scratch, 'profile')}"])
        yield driver
    finally:
        try:
            driver.end_session()
        except WebDriverError:
            pass
        stop_process_group(process)
        log.close()


def has_session_updated(status: dict) -> bool:
    return any(event.get("type") == "session.updated" for event in status.get("events") or [])


def drive(driver: WebDriver, page: str, timeout: float, require_events: bool, min_audio_energy: float = 0.0,
          hang_up: bool = True) -> dict:
    """Clicks Connect and waits for DTLS, received audio energy above `min_audio_energy`
    (getStats totalAudioEnergy: the mean square of the samples times seconds) and, with
    `require_events`, session.updated; then hangs up, unless `hang_up` is false."""
    driver.open(page)
    driver.click("#connect")
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = driver.script("return window.parleyStatus") or {}
        if status.get("error") or status.get("state") == "failed":
            break
        if status.get("dtlsState") == "connected" and (status.get("inboundAudioEnergy") or 0) > min_audio_energy \
                and (has_session_updated(status) or not require_events):
            break
        time.sleep(0.2)
    result = {"status": status}
    if hang_up and status and status.get("state") == "connected":
        driver.click("#connect")  # the same button hangs up
        result["after_hangup"] = driver.script("return window.parleyStatus.state")
    return result


def verdict(result: dict, timeout: float, require_events: bool, min_audio_energy: float = 0.0) -> str:
    status = result.get("status") or {}
    if status.get("error"):
        return f"page reported an error: {status['error']}"
    if status.get("dtlsState") != "connected":
        return f"DTLS not connected within {timeout:.0f} s (state {status.get('state')}, ICE {status.get('iceState')}, DTLS {status.get('dtlsState')})"
    if not (status.get("inboundAudioEnergy") or 0) > min_audio_energy:
        return f"received audio energy {status.get('inboundAudioEnergy')} not above {min_audio_energy} within {timeout:.0f} s (timings {status.get('timings')})"
    if require_events and not has_session_updated(status):
        return f"no session.updated on the oai-events channel within {timeout:.0f} s (events {status.get('events')})"
    if result.get("after_hangup") != "closed":
        return f"after Hang up the page state is {result.get('after_hangup')!r}, not 'closed'"
    return ""


def add_chromium_arguments(parser: argparse.ArgumentParser) -> None:
    """--chromedriver, --chromium, --freq and --timeout, as every Chromium script takes them."""
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="chromedriver binary")
    parser.add_argument("--chromium", default="", help="Chromium binary (default: chromedriver's choice)")
    parser.add_argument("--freq", type=float, default=440.0, help="tone played as the fake microphone, Hz")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="demo page URL")
    add_chromium_arguments(parser)
    parser.add_argument("--require-events", action="store_true",
                        help="also require the page's oai-events channel to answer its session.update with session.updated")
    args = parser.parse_args()

    report = {"test": "chromium_demo", "url": args.url}
    reason = ""
    with tempfile.TemporaryDirectory(prefix="parley-chromium-") as scratch:
        wav = os.path.join(scratch, "tone.wav")
        write_tone_wav(wav, args.freq)
        try:
            with chromium_session(args.chromedriver, args.chromium, scratch, [f"--use-file-for-fake-audio-capture={wav}"]) as driver:
                result = drive(driver, args.url, args.timeout, args.require_events)
            report.update(result)
            reason = verdict(result, args.timeout, args.require_events)
        except (WebDriverError, KeyError, TypeError) as error:
            reason = f"webdriver: {error}"
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    sys.exit(main())
