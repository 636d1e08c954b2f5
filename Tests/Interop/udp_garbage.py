#!/usr/bin/env python3
"""Sends hostile datagrams to the server's media UDP port, each from a fresh socket:
random bytes, an empty datagram, a truncated STUN request, a binding request for a live
call's ufrag with a wrong MESSAGE-INTEGRITY, a binding request for an unknown ufrag, and
DTLS-looking bytes. A control check with the right password must be answered (so the
probes demonstrably reach a live call); nothing may come back on any of those sockets within 1 s, the sum of
parley_packets_dropped_total in /metrics must grow (skip with --no-metrics, e.g. for Pion),
and a tone echo call afterwards must still pass.
Prints one JSON line; exit 0 on pass, 1 on failure."""

import argparse
import asyncio
import hashlib
import hmac
import os
import re
import select
import socket
import struct
import sys
import time
import zlib

from aiortc import RTCConfiguration, RTCPeerConnection

import peers
import tone_echo

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
USERNAME, PRIORITY, ICE_CONTROLLING, MESSAGE_INTEGRITY, FINGERPRINT = 0x0006, 0x0024, 0x802A, 0x0008, 0x8028
FINGERPRINT_XOR = 0x5354554E
DROPPED_METRIC = "parley_packets_dropped_total"
CONTROL = "control_right_integrity"


def stun_attribute(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("!HH", kind, len(value)) + value + padding


def binding_request(username: str, key: bytes) -> bytes:
    """An RFC 8445 §7.1.2 connectivity check with MESSAGE-INTEGRITY under `key`
    (RFC 8489 §14.5) and a correct FINGERPRINT (§14.7)."""
    transaction = os.urandom(12)
    body = (stun_attribute(USERNAME, username.encode())
            + stun_attribute(PRIORITY, struct.pack("!I", 1853824767))
            + stun_attribute(ICE_CONTROLLING, os.urandom(8)))

    def header(length: int) -> bytes:
        return struct.pack("!HHI", BINDING_REQUEST, length, MAGIC_COOKIE) + transaction

    integrity = hmac.new(key, header(len(body) + 24) + body, hashlib.sha1).digest()
    body += stun_attribute(MESSAGE_INTEGRITY, integrity)
    crc = zlib.crc32(header(len(body) + 8) + body) ^ FINGERPRINT_XOR
    body += stun_attribute(FINGERPRINT, struct.pack("!I", crc))
    return header(len(body)) + body


def dtls_client_hello_lookalike() -> bytes:
    """A DTLS 1.2 record header (RFC 6347 §4.1) with a ClientHello handshake header and
    random contents: routed as DTLS by RFC 7983 demultiplexing, from an unknown address."""
    handshake = struct.pack("!B", 1) + (100).to_bytes(3, "big") + struct.pack("!H", 0) + (0).to_bytes(3, "big") \
        + (100).to_bytes(3, "big") + os.urandom(100)
    return struct.pack("!BHH", 22, 0xFEFD, 0) + (0).to_bytes(6, "big") + struct.pack("!H", len(handshake)) + handshake


def probes(username: str) -> dict:
    """`username` is a live call's "serverUfrag:clientUfrag": the wrong-integrity probe
    differs from a real check only in its MESSAGE-INTEGRITY key."""
    valid = binding_request(username, b"wrong-password-0123456789")
    return {
        "random_bytes": os.urandom(200),
        "empty": b"",
        "truncated_stun": valid[:20 + 9],
        "wrong_integrity": valid,
        "unknown_ufrag": binding_request("nosuchufrag:probe", os.urandom(22)),
        "dtls_lookalike": dtls_client_hello_lookalike(),
    }


def send_and_listen(target, packets: dict, listen_seconds: float) -> dict:
    """Sends each packet from its own fresh socket; returns bytes received per probe."""
    sockets = {}
    try:
        for name, payload in packets.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            sockets[sock] = name
            sock.sendto(payload, target)
        received = {name: 0 for name in packets}
        deadline = time.monotonic() + listen_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(list(sockets), [], [], remaining)
            for sock in readable:
                try:
                    received[sockets[sock]] += len(sock.recv(65535))
                except OSError:  # ICMP port unreachable and the like
                    pass
        return received
    finally:
        for sock in sockets:
            sock.close()


async def open_live_call(url: str):
    """POSTs a real aiortc offer (without connecting) so a live call's server ufrag exists;
    returns (pc, location, answer, username) with the check USERNAME "server:client"."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 10)
    answer, location = await asyncio.wait_for(asyncio.to_thread(peers.post_offer, url, pc.localDescription.sdp), 12)
    server, client = (re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE) for sdp in (answer, pc.localDescription.sdp))
    if not server or not client:
        raise peers.PeerError("the answer or the offer has no a=ice-ufrag line")
    return pc, location, answer, f"{server.group(1)}:{client.group(1)}"


async def run(url: str, target, use_metrics: bool, listen_seconds: float) -> dict:
    report = {"test": "udp_garbage", "udp": f"{target[0]}:{target[1]}", "metrics_checked": use_metrics}
    reasons = []
    peers.pin_ice_to_loopback_if_local(url)
    dropped_before = peers.metric_sum(peers.read_metrics(url), DROPPED_METRIC) if use_metrics else None

    pc, location, answer, username = await open_live_call(url)
    password = re.search(r"^a=ice-pwd:(\S+)", answer, re.MULTILINE)
    packets = probes(username)
    if password:  # positive control: the same check with the right key must be answered
        packets[CONTROL] = binding_request(username, password.group(1).encode())
    try:
        received = await asyncio.to_thread(send_and_listen, target, packets, listen_seconds)
    finally:
        await asyncio.wait_for(pc.close(), 5)
        report["delete_status"] = await asyncio.to_thread(peers.delete_call, location)
    control = received.pop(CONTROL, None)
    report["bytes_back"], report["control_bytes_back"] = received, control
    if not control:
        reasons.append("the control check (right ICE password) got no answer: the probes are not reaching the call")
    answered = {name: size for name, size in received.items() if size}
    if answered:
        reasons.append(f"the server answered garbage: {answered} bytes")

    if use_metrics:
        dropped_after = peers.metric_sum(peers.read_metrics(url), DROPPED_METRIC)
        report["dropped_before"], report["dropped_after"] = dropped_before, dropped_after
        if dropped_after <= dropped_before:
            reasons.append(f"{DROPPED_METRIC} did not grow ({dropped_before} -> {dropped_after})")

    call = await peers.echo_call(url, 1000.0, 2.0, 20.0)
    echo_reason = tone_echo.check(call)
    report["echo_after"] = call.summary()
    if echo_reason:
        reasons.append(f"echo call after the garbage failed: {echo_reason}")
    report["pass"] = not reasons
    report["reason"] = "; ".join(reasons) or None
    return report


def parse_address(text: str):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--udp", type=parse_address, required=True, help="server media UDP address, HOST:PORT")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--no-metrics", action="store_true", help="skip the /metrics drop-counter check")
    parser.add_argument("--listen", type=float, default=1.0, help="seconds to wait for (forbidden) replies")
    args = parser.parse_args()
    try:
        report = asyncio.run(asyncio.wait_for(run(args.url, args.udp, not args.no_metrics, args.listen), 60))
    except (peers.PeerError, asyncio.TimeoutError, OSError, ValueError) as error:
        report = {"test": "udp_garbage", "pass": False, "reason": f"{type(error).__name__}: {error}"}
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
