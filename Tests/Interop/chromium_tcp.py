#!/usr/bin/env python3
"""Headless Chromium reaches Parley over ICE-TCP (RFC 6544) when UDP is blocked, and over UDP
when it is not.

In a network namespace of its own (only a loopback interface; needs root), the script runs
`parley demo --backend echo` (relay with a UDP and a TCP public port, transceiver, demo page)
and Chromium. First an nftables rule in that namespace drops every UDP datagram to the
relay's public UDP port: the page must still connect, through the relay's TCP port, hear its
microphone tone echoed, and get `session.updated` on its `oai-events` data channel; its
selected candidate pair must be TCP, and the nftables rule must have dropped Chromium's UDP
checks. Then the rule goes and the same page must pick UDP. Prints one JSON line with both calls' timings; exit 0 on pass.

Everything it starts is stopped by PID; the namespace is deleted at the end."""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import chromium_demo
import peers

# The echoed tone (0.3 of full scale, so a mean square of about 0.045) for at least a fifth
# of a second: audio that came back, not comfort noise.
MIN_AUDIO_ENERGY = 0.01
HTTP = "127.0.0.1:8080"
PUBLIC_UDP = "127.0.0.1:3478"
PUBLIC_TCP = "127.0.0.1:3443"
NFT_TABLE = "parley_interop"


def nft(*arguments: str) -> str:
    return subprocess.run(["nft", *arguments], check=True, capture_output=True, text=True).stdout


def block_udp_to_relay() -> None:
    """Drops every UDP datagram to the relay's public UDP port, as a network that blocks
    outbound UDP would; counted, so the test can show Chromium tried."""
    port = PUBLIC_UDP.rsplit(":", 1)[1]
    nft("add", "table", "inet", NFT_TABLE)
    nft("add", "chain", "inet", NFT_TABLE, "output", "{ type filter hook output priority 0; policy accept; }")
    nft("add", "rule", "inet", NFT_TABLE, "output", "udp", "dport", port, "counter", "drop")


def dropped_udp_packets() -> int:
    listing = json.loads(nft("-j", "list", "table", "inet", NFT_TABLE))
    for item in listing.get("nftables", []):
        for expression in item.get("rule", {}).get("expr", []):
            if "counter" in expression:
                return int(expression["counter"]["packets"])
    return 0


def unblock_udp() -> None:
    nft("delete", "table", "inet", NFT_TABLE)


def call(chromedriver: str, chromium: str, scratch: str, wav: str, timeout: float) -> dict:
    """One call from a fresh Chromium on the demo page; returns the page's status."""
    profile = tempfile.mkdtemp(dir=scratch)
    with chromium_demo.chromium_session(chromedriver, chromium, profile,
                                        [f"--use-file-for-fake-audio-capture={wav}"]) as driver:
        result = chromium_demo.drive(driver, f"http://{HTTP}/", timeout, require_events=True,
                                     min_audio_energy=MIN_AUDIO_ENERGY)
    return result


def summary(result: dict) -> dict:
    status = result.get("status") or {}
    return {"transport": status.get("transport"), "timings": status.get("timings"),
            "inbound_audio_energy": status.get("inboundAudioEnergy"),
            "session_updated": chromium_demo.has_session_updated(status),
            "after_hangup": result.get("after_hangup")}


def inside(args) -> int:
    """The test proper, run inside the namespace."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    report = {"test": "chromium_tcp"}
    reason = ""
    with tempfile.TemporaryDirectory(prefix="parley-chromium-tcp-") as scratch:
        log_path = os.path.join(scratch, "demo.log")
        with open(log_path, "wb") as log:
            demo = subprocess.Popen([args.parley, "demo", "--backend", "echo", "--http", HTTP, "--public", PUBLIC_UDP,
                                     "--public-tcp", PUBLIC_TCP, "--log-level", "warning"],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            peers.wait_healthy(f"http://{HTTP}", demo, log_path)
            wav = os.path.join(scratch, "tone.wav")
            chromium_demo.write_tone_wav(wav, args.freq)

            block_udp_to_relay()
            try:
                blocked = call(args.chromedriver, args.chromium, scratch, wav, args.timeout)
                dropped = dropped_udp_packets()
            finally:
                unblock_udp()
            report["udp_blocked"] = summary(blocked) | {"udp_datagrams_dropped_by_nftables": dropped}
            reason = chromium_demo.verdict(blocked, args.timeout, True, MIN_AUDIO_ENERGY)
            if not reason and report["udp_blocked"]["transport"] != "tcp":
                reason = f"with UDP blocked the selected pair is {report['udp_blocked']['transport']!r}, not tcp"
            if not reason and dropped == 0:
                reason = "nftables dropped no UDP: Chromium never tried the relay's UDP port"

            if not reason:
                allowed = call(args.chromedriver, args.chromium, scratch, wav, args.timeout)
                report["udp_allowed"] = summary(allowed)
                reason = chromium_demo.verdict(allowed, args.timeout, True, MIN_AUDIO_ENERGY)
                if not reason and report["udp_allowed"]["transport"] != "udp":
                    reason = f"with UDP allowed the selected pair is {report['udp_allowed']['transport']!r}, not udp"
        except (chromium_demo.WebDriverError, peers.PeerError, subprocess.CalledProcessError, KeyError, TypeError) as error:
            reason = reason or f"{type(error).__name__}: {error}"
        finally:
            demo.terminate()
            try:
                demo.wait(10)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait(5)
        if reason:
            report["demo_log"] = open(log_path, errors="replace").read()[-2000:]
    return peers.report_verdict(report, reason)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley binary")
    chromium_demo.add_chromium_arguments(parser)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.parley = os.path.abspath(args.parley)
    if args.inside:
        return inside(args)
    return peers.rerun_in_own_namespace(__file__, "parley-tcp")


if __name__ == "__main__":
    sys.exit(main())
