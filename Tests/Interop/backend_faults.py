#!/usr/bin/env python3
"""A WebSocket backend that misbehaves, against a transceiver with its default limits.

Runs a backend (docs/backend-protocol.md) in this process and `parley transceiver --backend
ws://...` pointed at it; each aiortc call sends a tone on `oai-events`-enabled WebRTC and the
backend answers according to the phase:

1. bursty: the caller's audio comes back in bursts far faster than real time (1 s of audio
   at once every second, and once 5 s at once). The echoed packets must stay paced: median
   gap 20 ms, under 2 % of gaps below 10 ms (no bursts on the wire), no loss of the call.
2. slow: the caller's audio comes back at half real time (20 ms every 40 ms). Packets go
   out as audio arrives, never in bursts (under 2 % of gaps below 10 ms), and the call lives.
3. stops reading: the backend reads the start of the call, then never reads again and
   keeps its socket open. The caller must get an `error` event with code
   `backend_unresponsive` on `oai-events` and the call must end within --limit seconds of
   the backend stopping (the stall timeout, 5 s by default: the backend answers no
   WebSocket ping); the transceiver's resident memory must grow less than 16 MiB
   meanwhile; parley_sessions_ended_total{reason="backend_unresponsive"} must count it.

Prints one JSON line; exit 0 on pass, 1 on failure."""

import argparse
import asyncio
import json
import os
import struct
import tempfile
import time

import websockets

import peers

HEADER = struct.Struct("!BBHII")  # version, kind, reserved, sequence, media time
SAMPLES_PER_FRAME = 480  # 20 ms at 24 kHz
MEMORY_GROWTH_LIMIT_KIB = 16 * 1024


class Backend:
    """The misbehaving backend; `mode` decides what the next call gets."""

    def __init__(self):
        self.mode = "bursty"
        self.stopped_reading_at = None
        self.sequence = 0

    def frame(self, samples: bytes) -> bytes:
        self.sequence += 1
        return HEADER.pack(1, 1, 0, self.sequence, 0) + samples

    async def send_all(self, socket, samples: bytes) -> None:
        """Sends `samples` at once, in frames of one second (the protocol's largest)."""
        for start in range(0, len(samples), 48000):
            await socket.send(self.frame(samples[start:start + 48000]))

    async def serve(self, socket):
        mode = self.mode
        if mode == "stop-reading":
            # Read the start of the call, then never again: the socket stays open and its
            # receive buffer fills until TCP stops the transceiver's writes.
            for _ in range(5):
                await socket.recv()
            self.stopped_reading_at = time.monotonic()
            await asyncio.sleep(120)
            return
        pending = bytearray()
        big_burst_done = False
        last_burst = time.monotonic()
        sent_at = time.monotonic()
        try:
            async for message in socket:
                if isinstance(message, str):
                    continue
                samples = message[HEADER.size:]
                if mode == "slow":
                    # Half real time: each 20 ms frame leaves 40 ms after the previous one.
                    sent_at = max(sent_at + 0.040, time.monotonic())
                    asyncio.get_running_loop().call_at(
                        asyncio.get_running_loop().time() + (sent_at - time.monotonic()),
                        lambda chunk=samples: asyncio.ensure_future(socket.send(self.frame(chunk))))
                    continue
                pending += samples
                now = time.monotonic()
                if not big_burst_done and len(pending) >= 5 * 48000:
                    # 5 s of audio at once.
                    await self.send_all(socket, bytes(pending))
                    pending.clear()
                    big_burst_done = True
                    last_burst = now
                elif big_burst_done and now - last_burst >= 1.0:
                    await self.send_all(socket, bytes(pending))
                    pending.clear()
                    last_burst = now
        except websockets.ConnectionClosed:
            pass


async def pacing_phase(url: str, backend: Backend, mode: str, settle: float, seconds: float) -> tuple:
    backend.mode = mode
    call = peers.WatchedCall(url, frequency=440.0)
    try:
        await call.start()
        await asyncio.sleep(settle)
        await call.mark()
        await asyncio.sleep(seconds)
        window = await call.window()
        errors = [event for _, event in call.events if event.get("type") == "error"]
        return window, errors, call.closed_at is not None
    finally:
        await call.close()


async def run(args, workdir: str) -> tuple:
    backend = Backend()
    server = await websockets.serve(backend.serve, "127.0.0.1", 0, max_size=2**21, ping_interval=None)
    backend_port = server.sockets[0].getsockname()[1]
    process, url, _ = peers.start_parley(args.parley, "--backend", f"ws://127.0.0.1:{backend_port}/",
                                         "--log-level", "warning", log_path=os.path.join(workdir, "parley.log"))
    report = {"test": "backend_faults"}
    reasons = []
    try:
        peers.pin_ice_to_loopback_if_local(url)
        # 1. Faster than real time, in bursts: the pacer holds the cadence. The first 5 s are
        # buffered by the backend for its big burst; measure after it.
        window, errors, ended = await pacing_phase(url, backend, "bursty", settle=6.5, seconds=6)
        report["bursty"] = window
        if not 18 <= window["gap_ms_median"] <= 22 or window["gaps_under_10ms_share"] >= 0.02:
            reasons.append(f"bursty backend: echoed packets not paced at 20 ms: {window}")
        if window["downstream_loss"] >= 0.01 or errors or ended:
            reasons.append(f"bursty backend: loss {window['downstream_loss']:.2%}, errors {errors}, ended {ended}")

        # 2. Slower than real time: audio goes out as it comes, never in bursts.
        window, errors, ended = await pacing_phase(url, backend, "slow", settle=1.5, seconds=5)
        report["slow"] = window
        if window["gaps_under_10ms_share"] >= 0.02 or window["packets_received"] < 80:
            reasons.append(f"slow backend: echoed packets bursty or missing: {window}")
        if errors or ended:
            reasons.append(f"slow backend: the call got errors {errors} or ended ({ended})")

        # 3. Stops reading.
        backend.mode = "stop-reading"
        before = peers.read_metrics(url)
        rss_start = peers.process_rss_kib(process.pid)
        call = peers.WatchedCall(url, frequency=440.0)
        rss_peak = rss_start
        try:
            await call.start(await_audio=False)
            deadline = time.monotonic() + args.limit + 10
            while time.monotonic() < deadline and not (call.event("error") and call.closed_at):
                rss_peak = max(rss_peak, peers.process_rss_kib(process.pid))
                await asyncio.sleep(0.25)
            error = call.event("error")
            stopped = backend.stopped_reading_at
            report["stops_reading"] = {
                "error": error[1].get("error") if error else None,
                "seconds_to_error": round(error[0] - stopped, 2) if error and stopped else None,
                "seconds_to_call_end": round(call.closed_at - stopped, 2) if call.closed_at and stopped else None,
                "rss_kib_before": rss_start, "rss_kib_peak": rss_peak,
            }
            if not error or error[1].get("error", {}).get("code") != "backend_unresponsive":
                reasons.append(f"no backend_unresponsive error event: {[event for _, event in call.events][-5:]}")
            elif error[0] - stopped > args.limit:
                reasons.append(f"the error came {error[0] - stopped:.1f} s after the backend stopped reading (limit {args.limit} s)")
            if not call.closed_at:
                reasons.append("the call did not end")
            if rss_peak - rss_start > MEMORY_GROWTH_LIMIT_KIB:
                reasons.append(f"resident memory grew {(rss_peak - rss_start) / 1024:.1f} MiB")
        finally:
            await call.close()
        after = peers.read_metrics(url)
        counted = {
            "ended_backend_unresponsive": peers.metric_value(after, "parley_sessions_ended_total", 'reason="backend_unresponsive"')
            - peers.metric_value(before, "parley_sessions_ended_total", 'reason="backend_unresponsive"'),
            "send_dropped_audio": peers.metric_value(after, "parley_backend_send_dropped_total", 'kind="audio"'),
        }
        report["counters"] = counted
        if counted["ended_backend_unresponsive"] != 1:
            reasons.append(f"not counted: {counted}")
        if process.poll() is not None:
            reasons.append(f"the transceiver exited with {process.returncode}")
    except peers.PeerError as error:
        reasons.append(str(error))
    finally:
        peers.stop_process(process)
        server.close()
    if reasons:
        report["log_tail"] = open(os.path.join(workdir, "parley.log")).read()[-1500:]
    return report, "; ".join(reasons)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley executable")
    parser.add_argument("--limit", type=float, default=6.0,
                        help="seconds from the backend's last read to the caller's error event")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report, reason = asyncio.run(run(args, workdir))
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    raise SystemExit(main())
