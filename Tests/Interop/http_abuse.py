#!/usr/bin/env python3
"""Abuse of a transceiver's signaling port while an aiortc echo call runs on it.

Starts `parley transceiver` (echo backend, one shard) with small limits so each one is
reached in seconds: --http-max-connections 300, --http-read-timeout 3, --http-idle-timeout 4,
--max-pending-offers 8. Then, one after the other:
- 300 keep-alive connections that each sent a request fill every place (a connection that sent
  its head is never evicted): 5 more get 503 too_many_connections with Retry-After; after the
  idle timeout all 300 are closed;
- slowloris: 1,000 connections that send a partial request head and trickle header lines,
  reopened as they are closed, for 8 s; meanwhile a fresh call's POST, retried on 503 after
  Retry-After (at most 5 attempts), must connect and hear its audio back;
- bodies of 10 MB (declared by Content-Length, and chunked): 413 with the limit in the JSON;
- 8 offers whose body never completes hold every pending-offer place, then 1,000 POSTs in a
  burst (100 at a time) get 503 too_many_pending_offers (with Retry-After) or 400.

Passes when the running call lost under 1 % either way, the fresh call connected, every
refusal had the expected status and JSON error (503 too_many_connections with Retry-After,
408 request_timeout for slow heads (most of them evicted by newcomers), 413 offer_too_large, 503 too_many_pending_offers), the counters moved
(parley_http_rejected_total, parley_signaling_rejected_total), the connection count came back
to what it was and the process is alive. Prints one JSON line; exit 0 on pass, 1 on failure."""

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import selectors
import socket
import tempfile
import threading
import time

import peers

LOSS_LIMIT = 0.01
MAX_CONNECTIONS, READ_TIMEOUT, IDLE_TIMEOUT, PENDING_OFFERS = 300, 3, 4, 8
TEN_MB = 10 * 1024 * 1024


def parse_response(data: bytes) -> dict:
    """Status, headers and JSON error code of one raw HTTP/1.1 response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    parts = lines[0].split()
    headers = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line}
    try:
        error = json.loads(body.decode()).get("error", {})
    except ValueError:
        error = {}
    return {"status": int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None, "headers": headers,
            "code": error.get("code"), "message": error.get("message")}


class Tally:
    """Responses seen, by (status, code), with one example of each; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.examples = {}

    def add(self, response: dict) -> None:
        key = f"{response['status']} {response['code']}"
        with self.lock:
            self.counts[key] += 1
            self.examples.setdefault(key, response)


def slowloris(host: str, port: int, connections: int, seconds: float, tally: Tally, stats: dict) -> None:
    """Keeps `connections` connections sending a request head one header line every 0.5 s;
    records what the server answers and reopens each one it closes."""
    selector = selectors.DefaultSelector()
    received = {}
    opened = 0

    def open_one():
        nonlocal opened
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((host, port))
        received[sock] = b""
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "connecting")
        opened += 1

    def close_one(sock):
        selector.unregister(sock)
        data = received.pop(sock)
        sock.close()
        if data:
            tally.add(parse_response(data))
        else:
            stats["closed_without_answer"] += 1

    for _ in range(connections):
        open_one()
    ends = time.monotonic() + seconds
    next_trickle = time.monotonic() + 0.5
    while time.monotonic() < ends:
        for key, events in selector.select(timeout=0.1):
            sock = key.fileobj
            if key.data == "connecting" and events & selectors.EVENT_WRITE:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    try:
                        sock.send(b"POST /v1/realtime/calls HTTP/1.1\r\nHost: parley\r\n")
                    except OSError:
                        pass
                selector.modify(sock, selectors.EVENT_READ, "open")
                continue
            if events & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(4096)
                except OSError:
                    chunk = b""
                if chunk:
                    received[sock] += chunk
                    continue
                close_one(sock)
                if time.monotonic() < ends:
                    open_one()
        if time.monotonic() >= next_trickle:
            next_trickle += 0.5
            for sock in list(received):
                try:
                    sock.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
    for sock in list(received):
        selector.unregister(sock)
        sock.close()
    stats["opened"] = opened


def read_answer(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body (or what came before the close)."""
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                return data
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def hold_keep_alive(host: str, port: int, count: int) -> list:
    """`count` connections that each sent GET /healthz, read its answer and stay open."""
    held = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
        read_answer(sock)
        held.append(sock)
    return held


def refused_newcomer(host: str, port: int) -> dict:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
        return parse_response(read_answer(sock))


def big_body(host: str, port: int, chunked: bool) -> dict:
    """A POST announcing (or streaming, chunked) 10 MB; returns the parsed answer."""
    with socket.create_connection((host, port), timeout=10) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {TEN_MB}"
        sock.sendall(f"POST /v1/realtime/calls HTTP/1.1\r\nHost: parley\r\nContent-Type: application/sdp\r\n{framing}\r\n\r\n".encode())
        piece = b"a" * 65536
        sent = 0
        data = b""
        try:
            while sent < TEN_MB:
                sock.sendall((b"10000\r\n" + piece + b"\r\n") if chunked else piece)
                sent += len(piece)
                sock.settimeout(0)
                try:
                    data += sock.recv(65536)
                except BlockingIOError:
                    pass
                sock.settimeout(10)
                if data:
                    break
        except OSError:
            pass
        sock.settimeout(5)
        try:
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 10:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        answer = parse_response(data)
        answer["bytes_sent"] = sent
        return answer


def slow_body(host: str, port: int, tally: Tally, held: threading.Event) -> None:
    """An offer whose head is complete and whose body never is: holds a pending-offer place
    until the read timeout answers 408."""
    with socket.create_connection((host, port), timeout=READ_TIMEOUT + 5) as sock:
        sock.sendall(b"POST /v1/realtime/calls HTTP/1.1\r\nHost: parley\r\nContent-Type: application/sdp\r\n"
                     b"Content-Length: 2000\r\n\r\nv=0\r\n")
        held.wait()
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            data += sock.recv(4096)
        except OSError:
            pass
        tally.add(parse_response(data))


def burst_post(url: str) -> dict:
    status, headers, body = peers.http_request(url + peers.CALLS_PATH, "POST", b"v=0\r\nnot an offer\r\n", "application/sdp", timeout=20)
    try:
        code = json.loads(body).get("error", {}).get("code")
    except ValueError:
        code = None
    return {"status": status, "code": code, "headers": {"retry-after": headers.get("Retry-After")}, "message": None}


async def run(parley: str, workdir: str) -> dict:
    process, url, _ = peers.start_parley(
        parley, "--backend", "echo", "--log-level", "warning", "--http-max-connections", str(MAX_CONNECTIONS),
        "--http-read-timeout", str(READ_TIMEOUT), "--http-idle-timeout", str(IDLE_TIMEOUT),
        "--max-pending-offers", str(PENDING_OFFERS),
        log_path=os.path.join(workdir, "parley.log"))
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    report = {"test": "http_abuse"}
    reasons = []
    running = None
    try:
        peers.pin_ice_to_loopback_if_local(url)
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=64))
        running = peers.WatchedCall(url, frequency=440.0)
        await running.start()
        await asyncio.sleep(1)
        before = peers.read_metrics(url)
        baseline_connections = peers.metric_value(before, "parley_http_connections")
        await running.mark()

        held = await asyncio.to_thread(hold_keep_alive, host, port, MAX_CONNECTIONS)
        newcomers = [await asyncio.to_thread(refused_newcomer, host, port) for _ in range(5)]
        report["at_the_cap"] = {"held": len(held), "newcomers": [f"{n['status']} {n['code']} retry-after={n['headers'].get('retry-after')}" for n in newcomers]}
        if any(n["status"] != 503 or n["code"] != "too_many_connections" or n["headers"].get("retry-after") != "1" for n in newcomers):
            reasons.append(f"newcomers at the connection cap got {report['at_the_cap']['newcomers']}")
        idle_started = time.monotonic()
        while True:
            # /metrics itself gets 503 while every place is held.
            status, _, body = peers.http_request(url + "/metrics", "GET", timeout=5)
            if status == 200 and peers.metric_value(body.decode(), "parley_http_connections") <= baseline_connections + 1:
                break
            if time.monotonic() - idle_started > IDLE_TIMEOUT + 5:
                reasons.append("keep-alive connections were not closed after the idle timeout")
                break
            await asyncio.sleep(0.25)
        report["at_the_cap"]["closed_after_seconds"] = round(time.monotonic() - idle_started, 1)
        for sock in held:
            sock.close()

        slow_tally, slow_stats = Tally(), collections.Counter()
        attack = threading.Thread(target=slowloris, args=(host, port, 1000, 8.0, slow_tally, slow_stats), daemon=True)
        attack.start()
        await asyncio.sleep(2)

        fresh = peers.WatchedCall(url, frequency=660.0, post_attempts=5)
        try:
            await fresh.start()
            await asyncio.sleep(1)
            fresh_window = await fresh.window()
            report["fresh_call"] = {"posts": fresh.posts, "packets_received": fresh_window["packets_received"]}
            if fresh_window["packets_received"] < 20:
                reasons.append(f"the fresh call heard only {fresh_window['packets_received']} packets")
        except peers.PeerError as error:
            report["fresh_call"] = {"posts": fresh.posts, "error": str(error)}
            reasons.append(f"a fresh call did not connect during the abuse: {error}")
        finally:
            await fresh.close()
        await asyncio.to_thread(attack.join, 30)

        bodies = await asyncio.gather(*(asyncio.to_thread(big_body, host, port, chunked) for chunked in (False, False, True, True)))
        report["big_bodies"] = [{key: answer[key] for key in ("status", "code", "message", "bytes_sent")} for answer in bodies]
        for answer in bodies:
            if answer["status"] != 413 or answer["code"] != "offer_too_large" or "65536" not in (answer["message"] or ""):
                reasons.append(f"a 10 MB body got {answer['status']} {answer['code']}: {answer['message']}")
                break

        slow_tally_bodies, held = Tally(), threading.Event()
        holders = [threading.Thread(target=slow_body, args=(host, port, slow_tally_bodies, held), daemon=True)
                   for _ in range(PENDING_OFFERS)]
        for holder in holders:
            holder.start()
        await asyncio.sleep(0.5)
        burst_tally = Tally()
        burst_started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            for answer in pool.map(lambda _: burst_post(url), range(1000)):
                burst_tally.add(answer)
        report["burst_seconds"] = round(time.monotonic() - burst_started, 1)
        held.set()
        for holder in holders:
            holder.join(READ_TIMEOUT + 10)

        window = await running.window()
        report["running_call"] = window
        for direction in ("downstream_loss", "upstream_loss"):
            if window[direction] >= LOSS_LIMIT:
                reasons.append(f"the running call's {direction} was {window[direction]:.2%}")

        report["slowloris"] = {"opened": slow_stats["opened"], "closed_without_answer": slow_stats["closed_without_answer"],
                               "answers": dict(slow_tally.counts)}
        report["slow_bodies"] = dict(slow_tally_bodies.counts)
        report["burst"] = dict(burst_tally.counts)
        if not slow_tally.examples.get("408 request_timeout"):
            reasons.append(f"no 408 request_timeout among the slowloris answers: {dict(slow_tally.counts)}")
        if set(slow_tally.counts) - {"503 too_many_connections", "408 request_timeout"}:
            reasons.append(f"unexpected slowloris answers: {dict(slow_tally.counts)}")
        if slow_tally_bodies.counts.get("408 request_timeout") != PENDING_OFFERS:
            reasons.append(f"offers with unfinished bodies got {dict(slow_tally_bodies.counts)}, expected 408 request_timeout each")
        busy = burst_tally.examples.get("503 too_many_pending_offers")
        if not busy or busy["headers"].get("retry-after") != "1":
            reasons.append(f"no 503 too_many_pending_offers with Retry-After in the burst: {dict(burst_tally.counts)}")
        if set(burst_tally.counts) - {"503 too_many_pending_offers", "400 invalid_offer"}:
            reasons.append(f"unexpected answers in the burst: {dict(burst_tally.counts)}")

        deadline = time.monotonic() + 10
        while True:
            after = peers.read_metrics(url)
            connections = peers.metric_value(after, "parley_http_connections")
            if connections <= baseline_connections + 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        report["http_connections"] = {"before": baseline_connections, "after": connections}
        if connections > baseline_connections + 1:
            reasons.append(f"{connections:.0f} signaling connections still open after the abuse (before: {baseline_connections:.0f})")
        counters = {f"http_rejected_{reason}": peers.metric_value(after, "parley_http_rejected_total", f'reason="{reason}"')
                    for reason in ("connection_limit", "header_timeout", "evicted")}
        counters.update({f"signaling_rejected_{code}": peers.metric_value(after, "parley_signaling_rejected_total", f'code="{code}"')
                         for code in ("offer_too_large", "too_many_pending_offers", "request_timeout", "invalid_offer")})
        report["counters"] = counters
        expected_counts = {
            "http_rejected_connection_limit": slow_tally.counts["503 too_many_connections"] + len(newcomers),
            "signaling_rejected_too_many_pending_offers": burst_tally.counts["503 too_many_pending_offers"],
            "signaling_rejected_request_timeout": PENDING_OFFERS,
        }
        for name, count in expected_counts.items():
            if counters[name] < count:
                reasons.append(f"{name} counted {counters[name]:.0f}, clients saw {count}")
        if counters["http_rejected_header_timeout"] + counters["http_rejected_evicted"] < slow_tally.counts["408 request_timeout"]:
            reasons.append(f"408s not counted: {counters}")
        if counters["signaling_rejected_offer_too_large"] < len(bodies):
            reasons.append(f"413s not counted: {counters}")
        if process.poll() is not None:
            reasons.append(f"the transceiver exited with {process.returncode}")
        elif peers.http_request(url + "/healthz", "GET", timeout=5)[0] != 200:
            reasons.append("/healthz did not answer 200 after the abuse")
    except peers.PeerError as error:
        reasons.append(str(error))
    finally:
        if running:
            await running.close()
        peers.stop_process(process)
    if reasons:
        report["log_tail"] = open(os.path.join(workdir, "parley.log")).read()[-1500:]
    return report, "; ".join(reasons)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report, reason = asyncio.run(run(args.parley, workdir))
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    raise SystemExit(main())
