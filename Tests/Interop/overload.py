#!/usr/bin/env python3
"""Overload without collapse: `parley loadgen` offers more full-voice calls (Opus decoded and
encoded for every frame) than one transceiver shard can carry, a few new calls a second. The
shard's loop fills up; once it is busy past `--overload-utilisation` for a second
(ShardPressure), new calls must get `503 overloaded` with Retry-After, `/readyz` must answer
503 `overloaded` while that lasts, and every call that was admitted must stay whole: no call
fails for any other reason and loss in each direction stays under 1 %.

Prints one JSON line (admitted, refused, loss, the utilisation the shard reported, what
/readyz said); exit 0 on pass. The transceiver is started on free ports and stopped by PID."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import peers

LOSS_LIMIT = 0.01


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", default=".build/debug/parley")
    parser.add_argument("--calls", type=int, default=150, help="calls offered")
    parser.add_argument("--ramp", type=float, default=5.0, help="new calls per second")
    parser.add_argument("--utilisation", type=float, default=0.8, help="the transceiver's --overload-utilisation")
    args = parser.parse_args()
    parley = os.path.abspath(args.parley)
    report = {"test": "overload", "offered": args.calls}
    http, udp = peers.free_port(), peers.free_port(peers.socket.SOCK_DGRAM)
    url = f"http://127.0.0.1:{http}"
    with tempfile.TemporaryDirectory(prefix="parley-overload-") as scratch:
        log = open(os.path.join(scratch, "transceiver.log"), "wb")
        transceiver = subprocess.Popen([parley, "transceiver", "--http", f"127.0.0.1:{http}", "--udp", f"127.0.0.1:{udp}",
                                        "--shards", "1", "--backend", "echo", "--max-sessions", "10000",
                                        "--overload-utilisation", str(args.utilisation), "--log-level", "warning"],
                                       stdout=log, stderr=subprocess.STDOUT)
        readiness, utilisation, stop = set(), [], threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    status, _, body = peers.http_request(url + "/readyz", "GET", timeout=1)
                    readiness.add(f"{status} {body.decode().strip()}")
                    utilisation.append(peers.metric_sum(peers.read_metrics(url), "parley_shard_loop_utilisation"))
                except Exception:
                    pass
                stop.wait(0.5)

        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    peers.http_request(url + "/healthz", "GET", timeout=1)
                    break
                except Exception:
                    time.sleep(0.1)
            watcher = threading.Thread(target=watch)
            watcher.start()
            load = subprocess.run([parley, "loadgen", "--url", url + peers.CALLS_PATH, "--sessions", str(args.calls),
                                   "--ramp", str(args.ramp), "--duration", "10", "--echo-check", "--json"],
                                  capture_output=True, text=True, timeout=args.calls / args.ramp + 120)
            stop.set()
            watcher.join()
            rejected = peers.metric_sum(peers.read_metrics(url), "parley_signaling_rejected_total")
        finally:
            stop.set()
            transceiver.terminate()
            try:
                transceiver.wait(15)
            except subprocess.TimeoutExpired:
                transceiver.kill()
                transceiver.wait(5)
            log.close()
    result = json.loads(load.stdout) if load.stdout.startswith("{") else {}
    failures = result.get("failures") or []
    refused = [failure for failure in failures if '"overloaded"' in failure["reason"]]
    other = [failure["reason"][:160] for failure in failures if failure not in refused]
    packets = result.get("packets") or {}
    losses = {key: packets.get(key) or 0.0 for key in ("echoLoss", "upstreamLoss", "downstreamLoss")}
    report.update({"admitted": result.get("callsConnected", 0), "refused_overloaded": len(refused),
                   "rejections_counted": rejected, "other_failures": other[:5], "loss": losses,
                   "utilisation_max": round(max(utilisation), 2) if utilisation else None,
                   "readyz": sorted(readiness)})
    reason = None
    if not result:
        reason = f"loadgen printed no report: {load.stderr[-400:]}"
    elif not refused:
        reason = "no call was refused: the offered load did not reach the overload limit"
    elif other:
        reason = f"{len(other)} calls failed for another reason than overload: {other[:3]}"
    elif max(losses.values()) >= LOSS_LIMIT:
        reason = f"admitted calls lost {losses}"
    elif "503 overloaded" not in readiness:
        reason = f"/readyz never reported the overload: {sorted(readiness)}"
    elif rejected < len(refused):
        reason = f"{len(refused)} calls refused, {rejected} counted in parley_signaling_rejected_total"
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    sys.exit(main())
