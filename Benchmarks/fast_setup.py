#!/usr/bin/env python3
"""Call set-up with and without SPED and SNAP, at a 50 ms round trip and under loss.

SPED (draft-hancke-webrtc-sped) carries the DTLS handshake in the ICE checks; SNAP
(draft-hancke-tsvwg-snap) puts the SCTP INIT in the SDP so the data channel needs no SCTP
handshake. For each path (default: 25 ms each way; and 25 ms each way with 5 % loss each way)
and each client configuration, on a fresh stack:

    client --HTTP--> impair --tcp--> transceiver (signaling, demo page)
    client --UDP---> impair --udp--> relay public --> transceiver (media)

`parley relay` (1 worker) and `parley transceiver --backend echo` advertising the proxy's UDP
address; `Benchmarks/impair` adds the delay and loss. Clients:
- `parley loadgen --events` (SPED and SNAP by default) and `parley loadgen --events --no-sped
  --no-snap`: CALLS calls at 2 per second; stages from the POST, as the loadgen measures them;
- headless Chromium on the demo page (Benchmarks/setup_time.py) with
  `--force-fieldtrials=WebRTC-IceHandshakeDtls/Enabled/ --enable-features=WebRtcSctpSnap`, and
  without: CALLS calls one after another; the page's stages count from its Connect click.

Writes OUT/fast-setup.json (every run's report) and OUT/fast-setup.md (medians per stage, in ms
and in round trips counted from the answer's arrival, where both clients agree: the loadgen
opens a fresh TCP connection for the POST, Chromium reuses the page's). Every process is
stopped by PID. A benchmark, not a test: exit 1 only when a run could not be made."""

import argparse
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
from free_ports import free_ports  # noqa: E402
from soak import Stack, wait_http, load_average  # noqa: E402

CHROMIUM_SWITCHES = ["--force-fieldtrials=WebRTC-IceHandshakeDtls/Enabled/", "--enable-features=WebRtcSctpSnap"]
STAGES = ("signaling", "ice", "dtls", "channel", "first_audio")
# The loadgen report's names for the stages.
LOADGEN_STAGES = {"signaling": "signaling", "ice": "ice", "dtls": "dtls", "channel": "eventsChannel",
                  "first_audio": "firstAudio"}
CLIENTS = {
    "loadgen, SPED + SNAP": ("loadgen", []),
    "loadgen, classic": ("loadgen", ["--no-sped", "--no-snap"]),
    "Chromium, SPED + SNAP": ("chromium", CHROMIUM_SWITCHES),
    "Chromium, classic": ("chromium", []),
}


def run_client(args, stack, name, kind, extra, http_url):
    """One client run against a stack that is up; returns {stage: median ms}, the report and failures."""
    if kind == "loadgen":
        output = os.path.join(args.out, f"{name}.json")
        process = stack.start("loadgen", [
            args.parley, "loadgen", "--url", f"{http_url}/v1/realtime/calls", "--sessions", str(args.calls),
            "--ramp", "2", "--duration", "1", "--events", "--setup-timeout", "20", "--json", *extra], stdout=output)
        process.wait(args.calls / 2 + 120)
        report = json.load(open(output))
        medians = {stage: (report["setupMilliseconds"].get(key) or {}).get("p50") for stage, key in LOADGEN_STAGES.items()}
        return medians, report, report.get("callsFailed", 0)
    output = os.path.join(args.out, f"{name}.json")
    flags = [f"--chromium-flag={flag}" for flag in extra]
    python = os.path.join(ROOT, ".venv/bin/python")
    process = stack.start("chromium", [
        python if os.access(python, os.X_OK) else sys.executable, os.path.join(ROOT, "Benchmarks/setup_time.py"), "--url", http_url, "--client", "chromium",
        "--calls", str(args.calls), "--timeout", "20", "--json", *flags], stdout=output)
    process.wait(args.calls * 25 + 120)
    report = json.load(open(output))
    medians = {stage: (report["stages"].get(stage) or {}).get("median_ms") for stage in STAGES}
    return medians, report, len(report.get("failures", []))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", default=os.path.join(ROOT, ".build/release/parley"), help="the parley binary")
    parser.add_argument("--calls", type=int, default=20, help="calls per run")
    parser.add_argument("--delay", type=float, default=25, help="impair --delay, ms each way")
    parser.add_argument("--loss", type=float, action="append", help="impair --loss, percent each way (repeatable; default 0 and 5)")
    parser.add_argument("--out", default=os.path.join(ROOT, "Benchmarks/results/fast-setup"))
    args = parser.parse_args()
    args.parley = os.path.abspath(args.parley)
    if not os.access(args.parley, os.X_OK):
        sys.exit(f"no {args.parley}: swift build -c release --product parley")
    subprocess.run([os.path.join(ROOT, "Benchmarks/impair/build.sh")], check=True)
    os.makedirs(args.out, exist_ok=True)
    losses = args.loss or [0.0, 5.0]
    rtt = 2 * args.delay
    results = {"machine": {"system": f"{platform.system()} {platform.release()}", "cpus": os.cpu_count(),
                           "load_average_before": load_average()},
               "settings": {"calls": args.calls, "delay_ms": args.delay, "losses": losses}, "runs": []}
    status = 0
    for loss in losses:
        for client, (kind, extra) in CLIENTS.items():
            name = f"loss{loss:g}-{kind}-{'fast' if 'SPED' in client else 'classic'}"
            public, internal, admin, http, proxy_http, proxy_udp = free_ports(6)
            stack = Stack(args.out, name)
            try:
                relay = stack.start("relay", [
                    args.parley, "relay", "--public", f"127.0.0.1:{public}", "--internal", f"127.0.0.1:{internal}",
                    "--admin", f"127.0.0.1:{admin}", "--workers", "1", "--no-pin", "--log-level", "warning"])
                wait_http(f"http://127.0.0.1:{admin}/readyz", relay)
                transceiver = stack.start("transceiver", [
                    args.parley, "transceiver", "--http", f"127.0.0.1:{http}", "--udp", "127.0.0.1:0",
                    "--advertise", f"127.0.0.1:{proxy_udp}", "--relay", "127.0.0.1", "--backend", "echo",
                    "--log-level", "warning"])
                wait_http(f"http://127.0.0.1:{http}/healthz", transceiver)
                stack.start("impair", [
                    os.path.join(ROOT, "Benchmarks/impair/impair"), "--delay", str(args.delay), "--loss", str(loss),
                    "--tcp", f"127.0.0.1:{proxy_http}=127.0.0.1:{http}",
                    "--udp", f"127.0.0.1:{proxy_udp}=127.0.0.1:{public}"])
                wait_http(f"http://127.0.0.1:{proxy_http}/healthz", transceiver)
                medians, report, failures = run_client(args, stack, name, kind, extra, f"http://127.0.0.1:{proxy_http}")
                results["runs"].append({"loss_percent": loss, "client": client, "medians_ms": medians,
                                        "failures": failures, "report": report})
                print(f"--- {name} ({client}, {loss:g} % loss): {medians}, {failures} failed", flush=True)
            except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                print(f"--- {name}: {type(error).__name__}: {error}", flush=True)
                results["runs"].append({"loss_percent": loss, "client": client, "error": str(error)})
                status = 1
            finally:
                stack.stop()
    with open(os.path.join(args.out, "fast-setup.json"), "w") as file:
        json.dump(results, file, indent=1)
    with open(os.path.join(args.out, "fast-setup.md"), "w") as file:
        file.write(render(results, rtt))
    print(render(results, rtt))
    return status


def render(results, rtt):
    def cell(value, since):
        if value is None or since is None:
            return "–"
        return f"{value:.0f} ({(value - since) / rtt:+.2f} R)"

    lines = ["| path | client | calls failed | answer (ms) | ICE | DTLS | data channel open | first echoed audio |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in results["runs"]:
        if "error" in run:
            lines.append(f"| {run['loss_percent']:g} % loss | {run['client']} | run failed: {run['error']} |||||")
            continue
        medians = run["medians_ms"]
        answer = medians.get("signaling")
        lines.append(f"| {run['loss_percent']:g} % loss | {run['client']} | {run['failures']} | "
                     f"{'–' if answer is None else f'{answer:.0f}'} | "
                     + " | ".join(cell(medians.get(stage), answer) for stage in ("ice", "dtls", "channel", "first_audio"))
                     + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
