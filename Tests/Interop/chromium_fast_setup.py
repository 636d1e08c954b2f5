#!/usr/bin/env python3
"""Headless Chromium with SPED and SNAP switched on calls Parley through the relay and uses both;
with the switches off, the classic set-up.

Runs `parley demo --backend echo` (relay, transceiver, demo page) on free loopback ports and
makes two calls from the demo page, each from a fresh Chromium:
- with `--force-fieldtrials=WebRTC-IceHandshakeDtls/Enabled/` (SPED, draft-hancke-webrtc-sped:
  the DTLS handshake rides the ICE checks) and `--enable-features=WebRtcSctpSnap` (SNAP,
  draft-hancke-tsvwg-snap: the SCTP INIT travels in the SDP);
- without them.
Each call must hear its microphone tone echoed and get `session.updated` on `oai-events`. The
transceiver's metrics must show what each call used: `parley_dtls_handshakes_total{carrier}`
("stun" for SPED, "records" otherwise) and `parley_data_channel_setups_total{sctp}` ("snap" or
"handshake"). Prints one JSON line with both calls' page timings; exit 0 on pass.

Everything it starts is stopped by PID."""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import chromium_demo
import peers

# The echoed tone (0.3 of full scale) for at least a fifth of a second: audio that came back.
MIN_AUDIO_ENERGY = 0.01
SWITCHES = ["--force-fieldtrials=WebRTC-IceHandshakeDtls/Enabled/", "--enable-features=WebRtcSctpSnap"]
# What each call must add to the transceiver's counters: (metric, labels) → increase.
EXPECTED = {
    "switches on": {("parley_dtls_handshakes_total", 'carrier="stun"'): 1,
                    ("parley_dtls_handshakes_total", 'carrier="records"'): 0,
                    ("parley_data_channel_setups_total", 'sctp="snap"'): 1,
                    ("parley_data_channel_setups_total", 'sctp="handshake"'): 0},
    "switches off": {("parley_dtls_handshakes_total", 'carrier="stun"'): 0,
                     ("parley_dtls_handshakes_total", 'carrier="records"'): 1,
                     ("parley_data_channel_setups_total", 'sctp="snap"'): 0,
                     ("parley_data_channel_setups_total", 'sctp="handshake"'): 1},
}


def counters(url: str) -> dict:
    text = peers.read_metrics(url)
    return {key: peers.metric_value(text, *key) for key in EXPECTED["switches on"]}


def call(args, url: str, scratch: str, wav: str, flags: list) -> dict:
    profile = tempfile.mkdtemp(dir=scratch)
    with chromium_demo.chromium_session(args.chromedriver, args.chromium, profile,
                                        [f"--use-file-for-fake-audio-capture={wav}", *flags]) as driver:
        return chromium_demo.drive(driver, url + "/", args.timeout, require_events=True, min_audio_energy=MIN_AUDIO_ENERGY)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley binary")
    chromium_demo.add_chromium_arguments(parser)
    args = parser.parse_args()

    http_port = peers.free_port()
    public_udp = peers.free_port(socket.SOCK_DGRAM)
    backbone = peers.free_port(socket.SOCK_DGRAM)
    public_tcp = peers.free_port()
    url = f"http://127.0.0.1:{http_port}"
    report = {"test": "chromium_fast_setup"}
    reason = ""
    with tempfile.TemporaryDirectory(prefix="parley-chromium-fast-") as scratch:
        log_path = os.path.join(scratch, "demo.log")
        with open(log_path, "wb") as log:
            demo = subprocess.Popen([os.path.abspath(args.parley), "demo", "--backend", "echo",
                                     "--http", f"127.0.0.1:{http_port}", "--public", f"127.0.0.1:{public_udp}",
                                     "--public-tcp", f"127.0.0.1:{public_tcp}", "--backbone", f"127.0.0.1:{backbone}",
                                     "--log-level", "warning"],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            peers.wait_healthy(url, demo, log_path)
            wav = os.path.join(scratch, "tone.wav")
            chromium_demo.write_tone_wav(wav, args.freq)
            for name, flags in (("switches on", SWITCHES), ("switches off", [])):
                before = counters(url)
                result = call(args, url, scratch, wav, flags)
                time.sleep(0.5)  # the hang-up's last packets
                after = counters(url)
                status = result.get("status") or {}
                increases = {f"{metric}{{{labels}}}": after[(metric, labels)] - before[(metric, labels)]
                             for metric, labels in EXPECTED[name]}
                report[name] = {"timings": status.get("timings"), "inbound_audio_energy": status.get("inboundAudioEnergy"),
                                "session_updated": chromium_demo.has_session_updated(status), "counted": increases}
                reason = chromium_demo.verdict(result, args.timeout, True, MIN_AUDIO_ENERGY)
                if not reason:
                    wrong = {key: value for key, value in increases.items()
                             if value != EXPECTED[name][tuple(key[:-1].split("{", 1))]}
                    if wrong:
                        reason = f"{name}: counters rose by {wrong}, expected {EXPECTED[name]}"
                if reason:
                    reason = f"{name}: {reason}" if not reason.startswith(name) else reason
                    break
        except (chromium_demo.WebDriverError, peers.PeerError, KeyError, TypeError, OSError) as error:
            reason = reason or f"{type(error).__name__}: {error}"
        finally:
            peers.stop_process(demo)
        if reason:
            report["demo_log"] = open(log_path, errors="replace").read()[-2000:]
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    sys.exit(main())
