#!/usr/bin/env python3
"""A UDP flood at a transceiver's media port from addresses that never signalled, while
aiortc echo calls run on the same shard.

Starts `parley transceiver` (echo backend, one shard: every datagram lands on the loop that
carries the calls), connects --calls aiortc calls, then floods the shard's port for
--seconds from --senders processes, each with 32 sockets bound to random addresses of
127.0.0.0/8, at --rate datagrams per second in all: half random bytes (20-300 bytes), half
STUN binding requests (RFC 8489) with random usernames, a random MESSAGE-INTEGRITY and a
valid FINGERPRINT, the shape of a connectivity check for a call that does not exist.

Passes when every call lost under 1 % of its packets either way during the flood and
parley_packets_dropped_total counted the flood (unknown_address, unknown_ufrag and
stun_malformed together at least 90 % of what was sent, so the transceiver read it rather
than the kernel dropping it). Reports the transceiver's CPU time per flooded datagram.
Prints one JSON line; exit 0 on pass, 1 on failure."""

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import random
import socket
import struct
import tempfile
import time
import zlib

import peers

LOSS_LIMIT = 0.01
MAGIC_COOKIE = 0x2112A442
USERNAME, MESSAGE_INTEGRITY, FINGERPRINT = 0x0006, 0x0008, 0x8028
FLOOD_REASONS = ("unknown_address", "unknown_ufrag", "stun_malformed", "relay_not_allowed")


def stun_attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def fake_check(rng: random.Random) -> bytes:
    """A binding request for a ufrag no call has: USERNAME, a MESSAGE-INTEGRITY of random
    bytes (RFC 8489 §14.5) and a correct FINGERPRINT (§14.7)."""
    username = f"{rng.getrandbits(64):016x}:{rng.getrandbits(16):04x}".encode()
    body = stun_attribute(USERNAME, username) + stun_attribute(MESSAGE_INTEGRITY, rng.randbytes(20))
    transaction = rng.randbytes(12)
    header = struct.pack("!HHI", 0x0001, len(body) + 8, MAGIC_COOKIE) + transaction
    crc = zlib.crc32(header + body) ^ 0x5354554E
    return header + body + stun_attribute(FINGERPRINT, struct.pack("!I", crc))


def flood(port: int, rate: float, seconds: float, seed: int, sent) -> None:
    """One sender process: 32 sockets on random 127/8 addresses, `rate` datagrams a second."""
    rng = random.Random(seed)
    sockets = []
    for _ in range(32):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}", 0))
        sock.setblocking(False)
        sockets.append(sock)
    # A pool of datagrams made in advance, so the sender's time goes into sending.
    pool = [fake_check(rng) if index % 2 else rng.randbytes(rng.randrange(20, 300)) for index in range(4096)]
    target = ("127.0.0.1", port)
    count = 0
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            break
        due = int(elapsed * rate) + 1
        while count < due:
            try:
                sockets[count % 32].sendto(pool[count % 4096], target)
            except BlockingIOError:
                pass
            count += 1
        time.sleep(0.001)
    sent.value = count


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dropped(metrics_text: str) -> dict:
    return {reason: peers.metric_value(metrics_text, "parley_packets_dropped_total", f'reason="{reason}"')
            for reason in FLOOD_REASONS}


async def run(args, workdir: str) -> tuple:
    process, url, udp_port = peers.start_parley(args.parley, "--backend", "echo", "--log-level", "warning",
                                                log_path=os.path.join(workdir, "parley.log"))
    report = {"test": "udp_flood", "rate": args.rate, "seconds": args.seconds, "senders": args.senders}
    reasons = []
    calls = []
    try:
        peers.pin_ice_to_loopback_if_local(url)
        calls = [peers.WatchedCall(url, frequency=400.0 + 120 * index) for index in range(args.calls)]
        await asyncio.gather(*(call.start() for call in calls))
        await asyncio.sleep(1)
        before = dropped(peers.read_metrics(url))
        cpu_before = cpu_seconds(process.pid)
        for call in calls:
            await call.mark()
        counters = [multiprocessing.Value("q", 0) for _ in range(args.senders)]
        senders = [multiprocessing.Process(target=flood, args=(udp_port, args.rate / args.senders, args.seconds, seed, counter))
                   for seed, counter in enumerate(counters)]
        started = time.monotonic()
        for sender in senders:
            sender.start()
        while any(sender.is_alive() for sender in senders):
            await asyncio.sleep(0.2)
        for sender in senders:
            sender.join()
        flood_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        cpu_used = cpu_seconds(process.pid) - cpu_before
        windows = [await call.window() for call in calls]
        after = dropped(peers.read_metrics(url))
        sent = sum(counter.value for counter in counters)
        counted = {reason: after[reason] - before[reason] for reason in FLOOD_REASONS}
        report.update({
            "sent": sent, "sent_per_second": round(sent / flood_seconds), "dropped_counted": counted,
            "counted_share": round(sum(counted.values()) / sent, 4) if sent else 0.0,
            "transceiver_cpu_seconds": round(cpu_used, 2),
            "cpu_us_per_flooded_datagram": round(cpu_used / sent * 1e6, 2) if sent else None,
            "calls": [{key: window[key] for key in ("packets_received", "downstream_loss", "upstream_loss", "gap_ms_p99")}
                      for window in windows],
        })
        for index, window in enumerate(windows):
            for direction in ("downstream_loss", "upstream_loss"):
                if window[direction] >= LOSS_LIMIT:
                    reasons.append(f"call {index}: {direction} {window[direction]:.2%} during the flood")
        if sent < args.rate * args.seconds * 0.5:
            reasons.append(f"only {sent} datagrams sent: the flood did not reach half its rate")
        if report["counted_share"] < 0.9:
            reasons.append(f"only {report['counted_share']:.0%} of the flood was counted as dropped: {counted}")
        if counted["unknown_ufrag"] == 0 or counted["unknown_address"] == 0:
            reasons.append(f"the STUN-looking and the random halves were not both counted: {counted}")
        if process.poll() is not None:
            reasons.append(f"the transceiver exited with {process.returncode}")
    except peers.PeerError as error:
        reasons.append(str(error))
    finally:
        for call in calls:
            await call.close()
        peers.stop_process(process)
    return report, "; ".join(reasons)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley executable")
    parser.add_argument("--calls", type=int, default=3, help="aiortc echo calls during the flood")
    parser.add_argument("--rate", type=float, default=30000, help="flood datagrams per second, all senders together")
    parser.add_argument("--seconds", type=float, default=20, help="how long the flood lasts")
    parser.add_argument("--senders", type=int, default=2, help="sender processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report, reason = asyncio.run(run(args, workdir))
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    raise SystemExit(main())
