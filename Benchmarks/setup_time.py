#!/usr/bin/env python3
"""Call set-up time, measured at the client: makes N calls one after another against a server
that speaks Parley's call API and reports, per stage, median, p95, min and max in
milliseconds. Stages are counted from the start of the call: for aiortc from the moment the
offer is POSTed, for Chromium from the click on the demo page's Connect button (the page
then creates its offer and POSTs it, a few ms).

  signaling      the answer has been received
  ice            ICE connected
  dtls           DTLS connected
  channel        the oai-events data channel is open (Chromium only: the demo page opens it;
                 not required, for servers without data channels)
  first_audio    first audio received (aiortc: first decoded frame of the echo;
                 Chromium: the remote track's unmute event, i.e. its first packet)

aiortc calls reuse Tests/Interop/peers.py (echo_call); Chromium calls reuse the WebDriver of
Tests/Interop/chromium_demo.py: one chromedriver and one browser session, and for each call
the page is reloaded, Connect clicked, window.parleyStatus polled, and the call hung up.
The first --warmup calls are made but not counted. chromedriver (and the browser it runs)
is stopped by its process id whatever happens.

A benchmark, not a test: the table goes to stdout (with --json, the table goes to stderr
and one JSON object to stdout). Exit status 1 when any counted call failed."""

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Interop"))

import chromium_demo  # noqa: E402  (found through the path above)
import peers  # noqa: E402

STAGES = ("signaling", "ice", "dtls", "channel", "first_audio")
PAGE_TIMINGS = {"signaling": "signalingMs", "ice": "iceMs", "dtls": "dtlsMs", "channel": "eventsMs",
                "first_audio": "firstAudioMs"}
# Audio the aiortc client records after the first echoed frame: the least echo_call accepts.
AIORTC_RECORD_SECONDS = 0.3
CHROMIUM_POLL_SECONDS = 0.02
# How long a Chromium call waits for its data channel once every other stage is in.
CHANNEL_GRACE_SECONDS = 2.0


def percentile(values: list, fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarize(calls: list) -> dict:
    """Per stage: how many calls reached it and the median, p95, min and max in ms."""
    summary = {}
    for stage in STAGES:
        values = [call[stage] for call in calls if call.get(stage) is not None]
        if not values:
            summary[stage] = {"n": 0, "median_ms": None, "p95_ms": None, "min_ms": None, "max_ms": None}
            continue
        summary[stage] = {
            "n": len(values),
            "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "min_ms": round(min(values), 1),
            "max_ms": round(max(values), 1),
        }
    return summary


def format_table(report: dict) -> str:
    lines = [f"{report['client']} -> {report['url']}: {report['succeeded']}/{report['calls']} calls succeeded"
             f" (+{report['warmup']} warm-up), times in ms from the start of each call",
             f"{'stage':<12} {'n':>3} {'median':>8} {'p95':>8} {'min':>8} {'max':>8}"]

    def cell(value):
        return f"{value:>8.1f}" if value is not None else f"{'-':>8}"
    for stage, row in report["stages"].items():
        lines.append(f"{stage:<12} {row['n']:>3} {cell(row['median_ms'])} {cell(row['p95_ms'])}"
                     f" {cell(row['min_ms'])} {cell(row['max_ms'])}")
    for failure in report["failures"]:
        lines.append(f"call {failure['call']} failed: {failure['error']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- aiortc


async def aiortc_calls(url: str, count: int, timeout: float, pause: float) -> list:
    peers.pin_ice_to_loopback_if_local(url)
    calls = []
    for _ in range(count):
        call = await peers.echo_call(url, 1000.0, seconds=AIORTC_RECORD_SECONDS, timeout=timeout, settle_seconds=0.0)
        error = call.error
        if not error and call.delete_status != 204:
            error = f"DELETE returned {call.delete_status}, expected 204"
        calls.append({"signaling": call.post_ms, "ice": call.ice_connected_ms, "dtls": call.dtls_connected_ms,
                      "channel": None, "first_audio": call.first_audio_ms, "error": error})
        await asyncio.sleep(pause)
    return calls


# ---------------------------------------------------------------- Chromium


def chromium_call(driver: chromium_demo.WebDriver, page: str, timeout: float) -> dict:
    """Reloads the page, clicks Connect, waits for every stage (or a failure), hangs up."""
    driver.open(page)
    driver.click("#connect")
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = driver.script("return window.parleyStatus") or {}
        timings = status.get("timings") or {}
        if status.get("error") or status.get("state") == "failed":
            break
        if all(timings.get(key) is not None for stage, key in PAGE_TIMINGS.items() if stage != "channel"):
            if timings.get("eventsMs") is not None:
                break
            deadline = min(deadline, time.monotonic() + CHANNEL_GRACE_SECONDS)
        time.sleep(CHROMIUM_POLL_SECONDS)
    timings = status.get("timings") or {}
    call = {stage: timings.get(key) for stage, key in PAGE_TIMINGS.items()}
    missing = [stage for stage in STAGES if call[stage] is None and stage != "channel"]
    if status.get("error"):
        call["error"] = f"page reported: {status['error']}"
    elif missing:
        call["error"] = (f"not reached within {timeout:.0f} s: {', '.join(missing)}"
                         f" (ICE {status.get('iceState')}, DTLS {status.get('dtlsState')})")
    else:
        call["error"] = None
    if status.get("state") in ("connecting", "connected"):
        driver.click("#connect")  # the same button hangs up and DELETEs the call
    return call


def chromium_calls(url: str, count: int, timeout: float, pause: float, chromedriver: str, chromium: str,
                   extra_flags: list = ()) -> list:
    page = url.rstrip("/") + "/"
    calls = []
    with tempfile.TemporaryDirectory(prefix="parley-setup-") as scratch:
        wav = os.path.join(scratch, "tone.wav")
        chromium_demo.write_tone_wav(wav, 440.0)
        flags = chromium_demo.CHROMIUM_FLAGS + [f"--use-file-for-fake-audio-capture={wav}",
                                                f"--user-data-dir={os.path.join(scratch, 'profile')}", *extra_flags]
        port = peers.free_port()
        with open(os.path.join(scratch, "chromedriver.log"), "wb") as log:
            process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            driver = chromium_demo.WebDriver(port)
            try:
                driver.wait_ready(10)
                driver.start_session(chromium, flags)
                for _ in range(count):
                    try:
                        calls.append(chromium_call(driver, page, timeout))
                    except (chromium_demo.WebDriverError, KeyError, TypeError) as error:
                        calls.append({stage: None for stage in STAGES} | {"error": f"webdriver: {error}"})
                    time.sleep(pause)
            finally:
                try:
                    driver.end_session()
                except chromium_demo.WebDriverError:
                    pass
                chromium_demo.stop_process_group(process)
    return calls


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="server base URL (Chromium loads the demo page at URL/)")
    parser.add_argument("--client", required=True, choices=("aiortc", "chromium"))
    parser.add_argument("--calls", type=int, default=20, help="calls counted in the statistics")
    parser.add_argument("--warmup", type=int, default=1, help="calls made first and not counted")
    parser.add_argument("--timeout", type=float, default=20.0, help="limit for each call to reach every stage, s")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between hanging up and the next call")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table on stderr)")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="chromedriver binary")
    parser.add_argument("--chromium", default="", help="Chromium binary (default: chromedriver's choice)")
    parser.add_argument("--chromium-flag", action="append", default=[],
                        help="an extra Chromium switch, e.g. --enable-features=WebRtcSctpSnap (repeatable)")
    args = parser.parse_args()
    if args.calls < 1 or args.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so chromedriver is still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    total = args.warmup + args.calls
    if args.client == "aiortc":
        calls = asyncio.run(aiortc_calls(args.url, total, args.timeout, args.pause))
    else:
        calls = chromium_calls(args.url, total, args.timeout, args.pause, args.chromedriver, args.chromium,
                               args.chromium_flag)
    counted = calls[args.warmup:]
    succeeded = [call for call in counted if not call["error"]]
    report = {
        "benchmark": "setup_time", "client": args.client, "url": args.url,
        "calls": args.calls, "warmup": args.warmup, "succeeded": len(succeeded),
        "stages": summarize(succeeded),
        "failures": [{"call": index + 1, "error": call["error"]} for index, call in enumerate(counted) if call["error"]],
        "per_call_ms": [{stage: None if call[stage] is None else round(call[stage], 1) for stage in STAGES}
                        for call in counted],
    }
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr, flush=True)
        peers.print_json(report)
    else:
        print(table, flush=True)
    return 0 if len(succeeded) == args.calls else 1


if __name__ == "__main__":
    sys.exit(main())
