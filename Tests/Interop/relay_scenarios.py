#!/usr/bin/env python3
"""Real peers through real relays: `parley relay` in front of `parley transceiver`, a real
Redis as the flow store, aiortc and headless Chromium as clients, all on loopback.

Scenarios (all by default, or --scenario NAME, repeatable):
  through-relay     aiortc and Chromium calls echo through a relay; the answer's only
                    candidate is the relay's public address
  two-transceivers  20 concurrent aiortc calls through a 2-worker relay to 2 transceivers,
                    each call on the transceiver that signalled it, no cross-talk
  restart           the relay is killed and restarted mid-call, with Redis and without;
                    the call goes on; the audio gap at the client is measured for both
  redis-down        Redis stops mid-call: the call goes on; a new call still works; the
                    outage is counted
  redis-restart     Redis killed mid-call and started again empty: the call goes on, the
                    relay reconnects and records the live flow again, and a relay killed
                    after that restores the call from the new Redis
  hostile           forged and truncated tokens, floods, non-STUN first packets at the
                    relay: nothing answered, relay drop counters move, a new call works
  two-clusters      a call whose token names cluster B enters cluster A's relay and works
  two-regions       two regions (relay, transceiver and Redis each; 40 ms RTT between their
                    relays' backbones through Benchmarks/impair): answers carry the relay of
                    the caller's region (Parley-Client-Region); a caller of region a reaches a transceiver of region b through relay a
                    and the backbone; without a region, the advertised relay
  drain             SIGTERM to a transceiver with a live call: /readyz 503 and new calls 503
                    `draining` while the call goes on; at --drain-seconds the call is cut,
                    the caller gets error `server_shutting_down`, the cut is logged, exit 0
  transceiver-killed  SIGKILL to a transceiver mid-call: the call is lost by design; the
                    caller gives up within its consent timeout; the relay's flow and the
                    flow-store entry expire; the transceiver restarted on its ports takes a new
                    call at once
  key-rotation      routing keys and API keys rotated by rewriting their files, as a Secret
                    update does: calls through the relay (UDP, and ICE-TCP checks through
                    its TCP port) work at each step with no restart, old API keys stop
                    working, a file that would open the API is refused, an unreadable file
                    keeps the keys and is counted; a process that
                    watches its files still exits at once on SIGTERM
  tcp-hostile       the relay's TCP port (ICE-TCP): the answer's tcptype passive candidate
                    takes a real check; a bad first frame, a forged token, an oversize frame
                    and a slow sender are closed with nothing sent back; a flood of
                    connections from nine sources is bounded by the per-source limit while an
                    aiortc call over UDP through the same relay still hears its tone; each
                    case's relay counter moves
  tcp-two-clusters  an ICE-TCP check whose token names cluster B enters cluster A's TCP port,
                    crosses the backbone and is answered on the same connection

Every process is started on free ports and stopped by PID. Prints one JSON line per
scenario; exit 0 when all pass."""

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from aioice import stun

import ice_tcp
import peers
import tone_echo

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable


class Process:
    """A child process with its log in a file, stopped by PID."""

    def __init__(self, name: str, argv: list, workdir: str):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.process = None

    def start(self) -> "Process":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the process can tell."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """Relays, transceivers and Redis for one scenario; everything stops on exit."""

    def __init__(self, parley: str):
        self.parley = parley
        self.workdir = tempfile.mkdtemp(prefix="parley-relay-")
        self.processes: list = []

    def __enter__(self):
        return self

    def __exit__(self, *_):
        for process in reversed(self.processes):
            process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def spawn(self, name: str, argv: list) -> Process:
        process = Process(name, argv, self.workdir).start()
        self.processes.append(process)
        return process

    def redis(self, port=None, name="redis") -> tuple:
        port = port or peers.free_port()
        process = self.spawn(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no"])
        wait_for(lambda: tcp_open(port), 5, "redis-server did not start")
        return process, f"redis://127.0.0.1:{port}"

    def relay(self, name: str, public_port: int, backbone_port: int, admin_port: int, extra=()) -> Process:
        process = self.spawn(name, [self.parley, "relay", "--public", f"127.0.0.1:{public_port}",
                                    "--internal", f"127.0.0.1:{backbone_port}", "--admin", f"127.0.0.1:{admin_port}",
                                    "--workers", "2", "--no-pin", "--drain-seconds", "0", "--log-level", "warning",
                                    *extra])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{admin_port}/readyz"), 10, f"{name} did not become ready")
        return process

    def transceiver(self, name: str, relay_public_port: int, extra=(), http_port=None, udp_port=None) -> str:
        http_port = http_port or peers.free_port()
        udp_port = udp_port or peers.free_port(peers.socket.SOCK_DGRAM)
        self.spawn(name, [self.parley, "transceiver", "--http", f"127.0.0.1:{http_port}",
                          "--udp", f"127.0.0.1:{udp_port}", "--advertise", f"127.0.0.1:{relay_public_port}",
                          "--relay", "127.0.0.1", "--backend", "echo", "--log-level", "warning", *extra])
        url = f"http://127.0.0.1:{http_port}"
        wait_for(lambda: http_ok(url + "/healthz"), 10, f"{name} did not start")
        return url


def tcp_open(port: int) -> bool:
    try:
        with peers.socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        status, _, _ = peers.http_request(url, "GET", timeout=0.5)
        return status == 200
    except Exception:
        return False


def wait_for(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise peers.PeerError(message)
        time.sleep(0.05)


def metric(url: str, name: str) -> float:
    return peers.metric_sum(peers.read_metrics(url), name)


def labelled(url: str, name: str, label: str, value: str) -> float:
    """One labelled sample of a relay metric (0 when absent)."""
    wanted = f'{label}="{value}"'
    return sum(float(line.rsplit(None, 1)[-1]) for line in peers.read_metrics(url).splitlines()
               if line.startswith(name + "{") and wanted in line)


def udp_ports(count: int) -> list:
    return [peers.free_port(peers.socket.SOCK_DGRAM) for _ in range(count)]


def run_script(*argv) -> dict:
    """Runs one of the other interop scripts; returns its JSON line plus its exit code."""
    completed = subprocess.run([PYTHON, *argv], cwd=HERE, capture_output=True, text=True, timeout=120)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"output": completed.stdout[-500:] + completed.stderr[-500:]}
    result["exit"] = completed.returncode
    return result


# Scenarios -------------------------------------------------------------------------------

def through_relay(parley: str) -> dict:
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        stack.relay("relay", public, backbone, peers.free_port())
        url = stack.transceiver("transceiver", public)
        pinned = peers.pin_ice_to_loopback_if_local(url)
        answer_candidates = asyncio.run(answer_candidate_addresses(url))
        aiortc = run_script("tone_echo.py", "--url", url, "--freq", "1000", "--seconds", "2")
        chromium = run_script("chromium_demo.py", "--url", url + "/")
        reasons = []
        if answer_candidates != [f"127.0.0.1:{public}"]:
            reasons.append(f"answer candidates {answer_candidates}, expected only the relay's 127.0.0.1:{public}")
        if aiortc["exit"]:
            reasons.append(f"aiortc: {aiortc.get('reason')}")
        if chromium["exit"]:
            reasons.append(f"chromium: {chromium.get('reason')}")
        return {"answer_candidates": answer_candidates, "aiortc_pass": aiortc["exit"] == 0,
                "chromium_pass": chromium["exit"] == 0, "pinned": pinned, "reason": "; ".join(reasons) or None}


async def answer_candidate_addresses(url: str) -> list:
    pc = peers.RTCPeerConnection(peers.RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    answer, location = await asyncio.to_thread(peers.post_offer, url, pc.localDescription.sdp)
    await pc.close()
    await asyncio.to_thread(peers.delete_call, location)
    addresses = []
    for line in answer.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            addresses.append(f"{fields[4]}:{fields[5]}")
    return sorted(set(addresses))


def two_transceivers(parley: str) -> dict:
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        stack.relay("relay", public, backbone, peers.free_port())
        first = stack.transceiver("transceiver-1", public)
        second = stack.transceiver("transceiver-2", public)
        # Ten calls on each, at once, with distinct tones: each hears only its own.
        runs = [subprocess.Popen([PYTHON, "concurrent_echo.py", "--url", url, "--calls", "10",
                                  "--base", str(base), "--step", "60", "--seconds", "2"],
                                 cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for url, base in ((first, 400.0), (second, 1000.0))]
        outputs = [run.communicate(timeout=120) for run in runs]
        results = []
        for run, (stdout, _) in zip(runs, outputs):
            lines = [line for line in stdout.splitlines() if line.startswith("{")]
            result = json.loads(lines[-1]) if lines else {}
            result["exit"] = run.returncode
            results.append(result)
        created = [metric(first, "parley_sessions_created_total"), metric(second, "parley_sessions_created_total")]
        reasons = []
        for index, result in enumerate(results):
            if result["exit"] or result.get("passed") != 10:
                reasons.append(f"transceiver {index + 1}: {result.get('failures') or result}")
        if created != [10.0, 10.0]:
            reasons.append(f"sessions created per transceiver {created}, expected 10 each")
        return {"calls_passed": [r.get("passed") for r in results], "sessions_created": created,
                "min_isolation_db": [r.get("min_isolation_db") for r in results], "reason": "; ".join(reasons) or None}


async def call_through_restart(url: str, restart) -> dict:
    """A call with continuous voice; `restart()` runs 2 s in; returns the largest gap in the
    echo's arrivals from the restart on, and whether audio still arrives at the end."""
    call = peers.AgentCall(url, script=[("voice", 30.0)])
    try:
        await call.connect()
        await asyncio.sleep(2.0)
        restarted_at = time.monotonic()
        await asyncio.to_thread(restart)
        await asyncio.sleep(9.0)
        end = time.monotonic()
        arrivals = [p.arrival for p in call.recorder.packets if p.arrival >= restarted_at - 0.1]
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        return {"gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
                "audio_at_end": any(p.arrival > end - 1.0 for p in call.recorder.packets),
                "restart_took_ms": round((time.monotonic() - restarted_at - 9.0) * 1000, 1)}
    finally:
        await call.close()


def restart(parley: str) -> dict:
    measured = {}
    for store in ("redis", "memory"):
        with Stack(parley) as stack:
            public, backbone = udp_ports(2)
            admin = peers.free_port()
            extra = []
            if store == "redis":
                _, redis_url = stack.redis()
                extra = ["--redis", redis_url]
            relay = stack.relay("relay", public, backbone, admin, extra)
            url = stack.transceiver("transceiver", public)
            peers.pin_ice_to_loopback_if_local(url)

            def kill_and_restart():
                relay.kill()
                stack.relay("relay-restarted", public, backbone, admin, extra)

            measured[store] = asyncio.run(call_through_restart(url, kill_and_restart))
    reasons = []
    for store, result in measured.items():
        if not result["audio_at_end"]:
            reasons.append(f"the call did not survive the restart with the {store} flow store")
    with_redis, without = measured["redis"]["gap_ms"], measured["memory"]["gap_ms"]
    if with_redis is None or without is None or not with_redis < without / 2:
        reasons.append(f"gap with Redis {with_redis} ms is not clearly shorter than without {without} ms")
    return {"gap_with_redis_ms": with_redis, "gap_without_redis_ms": without, "detail": measured,
            "reason": "; ".join(reasons) or None}


def redis_down(parley: str) -> dict:
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        admin = peers.free_port()
        redis, redis_url = stack.redis()
        stack.relay("relay", public, backbone, admin, ["--redis", redis_url])
        url = stack.transceiver("transceiver", public)
        peers.pin_ice_to_loopback_if_local(url)
        relay_metrics = f"http://127.0.0.1:{admin}"

        async def scenario():
            call = peers.AgentCall(url, script=[("voice", 30.0)])
            try:
                await call.connect()
                await asyncio.sleep(1.5)
                stopped_at = time.monotonic()
                await asyncio.to_thread(redis.stop)
                fresh = await tone_echo.run(url, 900.0, 2.0, 20.0, False)
                await asyncio.sleep(1.0)
                arrivals = [p.arrival for p in call.recorder.packets if p.arrival >= stopped_at]
                gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
                return {"audio_after_stop_s": round(arrivals[-1] - stopped_at, 2) if arrivals else 0,
                        "largest_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
                        "new_call_pass": fresh["pass"]}
            finally:
                await call.close()

        result = asyncio.run(scenario())
        result["store_failures"] = metric(relay_metrics, "parley_relay_flow_store_outages_total")
        reasons = []
        if result["audio_after_stop_s"] < 3.0 or (result["largest_gap_ms"] or 1e9) > 200:
            reasons.append(f"audio did not carry on after Redis stopped: {result}")
        if not result["new_call_pass"]:
            reasons.append("a new call failed while Redis was down")
        if result["store_failures"] < 1:
            reasons.append("the flow-store outage was not counted")
        result["reason"] = "; ".join(reasons) or None
        return result


def redis_restart(parley: str) -> dict:
    """Redis killed mid-call and started again empty, as a crashed pod without persistence
    comes back: the call goes on; the relay reconnects and records the live flow again; a
    relay killed after that restores the call from the new Redis."""
    idle = 2.0  # flows are recorded again every idle timeout while active
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        admin = peers.free_port()
        redis, redis_url = stack.redis()
        redis_port = urllib.parse.urlparse(redis_url).port
        extra = ["--redis", redis_url, "--flow-idle-timeout", str(idle)]
        relay = stack.relay("relay", public, backbone, admin, extra)
        url = stack.transceiver("transceiver", public)
        peers.pin_ice_to_loopback_if_local(url)
        relay_metrics = f"http://127.0.0.1:{admin}"

        async def scenario():
            call = peers.AgentCall(url, script=[("voice", 60.0)])
            try:
                await call.connect()
                await asyncio.sleep(1.0)
                killed = time.monotonic()
                await asyncio.to_thread(redis.kill)
                await asyncio.sleep(1.0)
                store_up_while_down = metric(relay_metrics, "parley_relay_flow_store_up")
                await asyncio.to_thread(stack.redis, redis_port, "redis-restarted")
                deadline = time.monotonic() + 3 * idle + 5
                entries = []
                while time.monotonic() < deadline and not entries:
                    await asyncio.sleep(0.25)
                    entries = await asyncio.to_thread(redis_flow_keys, redis_url)
                recorded_again_s = round(time.monotonic() - killed, 2) if entries else None
                store_up_after = metric(relay_metrics, "parley_relay_flow_store_up")
                relay_killed = time.monotonic()

                def kill_and_restart_relay():
                    relay.kill()
                    stack.relay("relay-restarted", public, backbone, admin, extra)

                await asyncio.to_thread(kill_and_restart_relay)
                await asyncio.sleep(3.0)
                end = time.monotonic()
                arrivals = [p.arrival for p in call.recorder.packets if p.arrival >= killed]
                gaps = [(a, b - a) for a, b in zip(arrivals, arrivals[1:])]
                gap_while_redis_down = max((gap for at, gap in gaps if at + gap < relay_killed), default=None)
                gap_through_relay_restart = max((gap for at, gap in gaps if at >= relay_killed - 0.1), default=None)
                return {"store_up_while_down": store_up_while_down, "store_up_after_restart": store_up_after,
                        "flow_recorded_again_after_s": recorded_again_s,
                        "largest_gap_while_redis_down_ms": gap_while_redis_down and round(gap_while_redis_down * 1000, 1),
                        "relay_restart_gap_ms": gap_through_relay_restart and round(gap_through_relay_restart * 1000, 1),
                        "audio_at_end": any(p.arrival > end - 1.0 for p in call.recorder.packets)}
            finally:
                await call.close()

        result = asyncio.run(scenario())
        # A hit: the restarted relay found the live flow in the new Redis. (The flow it
        # restored may already exist when a consent check reached the relay first.)
        result["store_lookup_hits"] = series_value(relay_metrics, "parley_relay_flow_store_requests_total",
                                                   'result="hit"')
    reasons = []
    if result["store_up_while_down"] != 0 or result["store_up_after_restart"] != 1:
        reasons.append(f"parley_relay_flow_store_up was {result['store_up_while_down']} with Redis down and "
                       f"{result['store_up_after_restart']} after its restart (expected 0, then 1)")
    if result["flow_recorded_again_after_s"] is None:
        reasons.append("the live flow was not recorded again in the restarted Redis")
    if (result["largest_gap_while_redis_down_ms"] or 1e9) > 200:
        reasons.append(f"audio stalled {result['largest_gap_while_redis_down_ms']} ms while Redis was down")
    if result["store_lookup_hits"] < 1:
        reasons.append("the relay restarted after Redis did not find the live flow in it")
    if not result["audio_at_end"] or (result["relay_restart_gap_ms"] or 1e9) > 1000:
        reasons.append(f"the call did not come back within 1 s of the relay's restart: {result}")
    return result | {"reason": "; ".join(reasons) or None}


def hostile(parley: str) -> dict:
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        admin = peers.free_port()
        stack.relay("relay", public, backbone, admin)
        url = stack.transceiver("transceiver", public)
        relay_metrics = f"http://127.0.0.1:{admin}"
        before = metric(relay_metrics, "parley_relay_packets_dropped_total")
        garbage = run_script("udp_garbage.py", "--udp", f"127.0.0.1:{public}", "--url", url, "--no-metrics")
        after = metric(relay_metrics, "parley_relay_packets_dropped_total")
        reasons = []
        if garbage["exit"]:
            reasons.append(f"udp_garbage: {garbage.get('reason')}")
        if after <= before:
            reasons.append(f"relay drop counter did not move ({before} -> {after})")
        return {"bytes_back": garbage.get("bytes_back"), "relay_dropped_before": before,
                "relay_dropped_after": after, "reason": "; ".join(reasons) or None}


def two_clusters(parley: str) -> dict:
    with Stack(parley) as stack:
        public_a, backbone_a, public_b, backbone_b = udp_ports(4)
        stack.relay("relay-a", public_a, backbone_a, peers.free_port(),
                    ["--cluster", "1", "--peer-cluster", f"2=127.0.0.1:{backbone_b}"])
        stack.relay("relay-b", public_b, backbone_b, peers.free_port(),
                    ["--cluster", "2", "--peer-cluster", f"1=127.0.0.1:{backbone_a}"])
        # The transceiver is in cluster B but tells clients to use relay A.
        url = stack.transceiver("transceiver-b", public_a, ["--cluster", "2"])
        result = run_script("tone_echo.py", "--url", url, "--freq", "800", "--seconds", "2")
        return {"pass": result["exit"] == 0, "dominant_hz": result.get("dominant_hz"),
                "reason": None if result["exit"] == 0 else result.get("reason")}


def two_regions(parley: str) -> dict:
    """Regions a (cluster 1) and b (cluster 2), each a relay, a transceiver and a Redis; the
    relays' backbones reach each other through the impairment proxy, 20 ms each way."""
    impair = os.path.join(HERE, "..", "..", "Benchmarks", "impair")
    subprocess.run([os.path.join(impair, "build.sh")], check=True)
    with Stack(parley) as stack:
        public_a, backbone_a, public_b, backbone_b, a_to_b, b_to_a = udp_ports(6)
        stack.spawn("impair", [os.path.join(impair, "impair"), "--delay", "20",
                               "--udp", f"127.0.0.1:{a_to_b}=127.0.0.1:{backbone_b}",
                               "--udp", f"127.0.0.1:{b_to_a}=127.0.0.1:{backbone_a}"])
        _, redis_a = stack.redis()
        _, redis_b = stack.redis()
        admin_a = peers.free_port()
        stack.relay("relay-a", public_a, backbone_a, admin_a,
                    ["--cluster", "1", "--peer-cluster", f"2=127.0.0.1:{a_to_b}", "--redis", redis_a])
        stack.relay("relay-b", public_b, backbone_b, peers.free_port(),
                    ["--cluster", "2", "--peer-cluster", f"1=127.0.0.1:{b_to_a}", "--redis", redis_b])
        # The documented mapping: a caller of region a enters at relay a, of region b at relay
        # b. (A secondary relay of the other region would be listed second in production; here
        # aiortc, which nominates the first pair whose check succeeds, would take the closer
        # secondary and skip the backbone this scenario is about. chromium_failover.py covers
        # a secondary.)
        steering = ["--region-ingress", f"a=127.0.0.1:{public_a}", "--region-ingress", f"b=127.0.0.1:{public_b}"]
        url_a = stack.transceiver("transceiver-a", public_a, ["--cluster", "1", *steering])
        url_b = stack.transceiver("transceiver-b", public_b, ["--cluster", "2", *steering])
        caller_a = ["--header", "Parley-Client-Region: a"]
        calls = {
            "caller a, transceiver a": (run_script("tone_echo.py", "--url", url_a, "--freq", "600", "--seconds", "1", *caller_a),
                                        [f"127.0.0.1:{public_a}"]),
            "caller a, transceiver b (backbone)": (
                run_script("tone_echo.py", "--url", url_b, "--freq", "700", "--seconds", "1", *caller_a),
                [f"127.0.0.1:{public_a}"]),
            "no region, transceiver b": (run_script("tone_echo.py", "--url", url_b, "--freq", "800", "--seconds", "1"),
                                         [f"127.0.0.1:{public_b}"]),
        }
        reasons = []
        for name, (result, expected) in calls.items():
            if result["exit"]:
                reasons.append(f"{name}: {result.get('reason')}")
            if result.get("answer_candidates") != expected:
                reasons.append(f"{name}: answer candidates {result.get('answer_candidates')}, expected {expected}")
        time.sleep(0.3)
        relay_a = f"http://127.0.0.1:{admin_a}"
        crossed = {direction: labelled(relay_a, "parley_relay_packets_forwarded_total", "direction", direction)
                   for direction in ("client_to_peer_relay", "peer_relay_to_client")}
        # A second of echoed audio is 50 packets each way.
        if min(crossed.values()) < 50:
            reasons.append(f"relay a did not carry the cross-region call over the backbone both ways: {crossed}")
        steered = {result: series_value(url_b, "parley_region_steering_total", f'result="{result}"')
                   for result in ("steered", "no_region")}
        if steered != {"steered": 1, "no_region": 1}:
            reasons.append(f"transceiver b's parley_region_steering_total: {steered}")
        return {"first_audio_ms": {name: result.get("first_audio_ms") for name, (result, _) in calls.items()},
                "relay_a_backbone_packets": crossed, "steering": steered, "reason": "; ".join(reasons) or None}


def drain(parley: str) -> dict:
    """SIGTERM to a transceiver with a live call: it reports not ready and refuses new calls
    while the call goes on; at the drain deadline the call is cut, the caller told why, the
    cut logged, and the process exits 0."""
    drain_seconds = 3
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        stack.relay("relay", public, backbone, peers.free_port())
        url = stack.transceiver("transceiver", public, ["--drain-seconds", str(drain_seconds)])
        transceiver = stack.processes[-1]
        peers.pin_ice_to_loopback_if_local(url)

        async def scenario() -> dict:
            call = peers.AgentCall(url, script=[("voice", 30.0)])
            try:
                await call.connect()
                await asyncio.sleep(1.0)
                signalled = time.monotonic()
                transceiver.process.terminate()
                await asyncio.sleep(0.5)
                ready, _, _ = await asyncio.to_thread(peers.http_request, url + "/readyz", "GET")
                code, _, body = await asyncio.to_thread(
                    peers.http_request, url + peers.CALLS_PATH, "POST", (await offer_sdp()).encode(), "application/sdp")
                exited = await asyncio.to_thread(transceiver.process.wait, drain_seconds + 5)
                ended = time.monotonic()
                arrivals = [packet.arrival - signalled for packet in call.recorder.packets if packet.arrival >= signalled]
                told = [event.get("error", {}).get("code") for _, event in call.events.of_type("error")]
                return {"readyz_while_draining": ready, "new_call_while_draining": code,
                        "refusal_code": json.loads(body or b"{}").get("error", {}).get("code"),
                        "audio_until_s": round(max(arrivals), 2) if arrivals else None,
                        "exit_code": exited, "exit_after_s": round(ended - signalled, 2), "caller_told": told}
            finally:
                await call.close()

        result = asyncio.run(scenario())
        log = transceiver.tail(50)
    reasons = []
    if result["readyz_while_draining"] != 503:
        reasons.append(f"/readyz answered {result['readyz_while_draining']} while draining, not 503")
    if (result["new_call_while_draining"], result["refusal_code"]) != (503, "draining"):
        reasons.append(f"a new call while draining got {result['new_call_while_draining']} {result['refusal_code']}")
    if result["audio_until_s"] is None or not drain_seconds - 1 <= result["audio_until_s"] <= drain_seconds + 1.5:
        reasons.append(f"audio reached the caller until {result['audio_until_s']} s after SIGTERM, "
                       f"expected about the drain deadline ({drain_seconds} s)")
    if result["exit_code"] != 0:
        reasons.append(f"the transceiver exited {result['exit_code']}")
    if "server_shutting_down" not in result["caller_told"]:
        reasons.append(f"the caller was not told why the call ended (errors {result['caller_told']})")
    if "calls cut at the drain deadline" not in log or "sessions=1" not in log:
        reasons.append("no log line counting the call cut at the drain deadline")
    return result | {"reason": "; ".join(reasons) or None}


def redis_flow_keys(redis_url: str) -> list:
    """The flow-store entries in a Redis (`parley:flow:<client>` keys)."""
    port = urllib.parse.urlparse(redis_url).port
    listed = subprocess.run(["redis-cli", "-p", str(port), "--scan", "--pattern", "parley:flow:*"],
                            capture_output=True, text=True, timeout=10)
    return listed.stdout.split()


def transceiver_killed(parley: str) -> dict:
    """SIGKILL to a transceiver with a live call: the call is lost (its DTLS and SRTP keys
    died with the process); the caller's ICE agent gives up within its consent timeout
    (RFC 7675 §5.1: 30 s); the relay's flow and the flow-store entry expire once the caller
    stops; a transceiver restarted on the same ports takes a new call at once."""
    idle = 4.0  # the relay's flow idle timeout; flow-store entries live twice as long
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        admin = peers.free_port()
        _, redis_url = stack.redis()
        stack.relay("relay", public, backbone, admin, ["--redis", redis_url, "--flow-idle-timeout", str(idle)])
        relay_metrics = f"http://127.0.0.1:{admin}"
        http_port, udp_port = peers.free_port(), peers.free_port(peers.socket.SOCK_DGRAM)
        url = stack.transceiver("transceiver", public, http_port=http_port, udp_port=udp_port)
        transceiver = stack.processes[-1]
        peers.pin_ice_to_loopback_if_local(url)

        async def scenario() -> dict:
            call = peers.AgentCall(url, script=[("voice", 120.0)])
            try:
                await call.connect()
                await asyncio.sleep(1.0)
                entries_live = await asyncio.to_thread(redis_flow_keys, redis_url)
                killed = time.monotonic()
                transceiver.kill()
                stack.transceiver("transceiver-restarted", public, http_port=http_port, udp_port=udp_port)
                serving = time.monotonic()
                fresh = await tone_echo.run(url, 1300.0, 2.0, 20.0, False)
                while call.ended_at is None and time.monotonic() - killed < 45:
                    await asyncio.sleep(0.25)
                caller_gave_up = time.monotonic()
                stale_drops = {reason: labelled(url, "parley_packets_dropped_total", "reason", reason)
                               for reason in ("unknown_address", "unknown_ufrag")}
                last_audio = max((p.arrival for p in call.recorder.packets), default=killed)
                # The caller is silent now; its flow goes idle, then its store entry lapses.
                flows_left = entries_left = None
                expiry_deadline = time.monotonic() + 3 * idle + 5
                while time.monotonic() < expiry_deadline:
                    await asyncio.sleep(0.5)
                    entries_left = await asyncio.to_thread(redis_flow_keys, redis_url)
                    flows_left = metric(relay_metrics, "parley_relay_flows")
                    if flows_left == 0 and not entries_left:
                        break
                return {"store_entries_live": len(entries_live),
                        "audio_after_kill_ms": round((last_audio - killed) * 1000, 1),
                        "restart_serving_s": round(serving - killed, 2), "new_call_pass": fresh["pass"],
                        "caller_gave_up_s": round(caller_gave_up - killed, 1) if call.ended_at else None,
                        "flows_expired_s": round(time.monotonic() - caller_gave_up, 1), "restarted_drops": stale_drops,
                        "relay_flows_left": flows_left, "store_entries_left": len(entries_left or []),
                        "relay_flows_expired": metric(relay_metrics, "parley_relay_flows_expired_total")}
            finally:
                await call.close()

        result = asyncio.run(scenario())
    reasons = []
    if result["store_entries_live"] < 1:
        reasons.append("the live call had no flow-store entry to expire")
    if result["audio_after_kill_ms"] > 100:
        reasons.append(f"audio reached the caller {result['audio_after_kill_ms']} ms after the kill")
    if not result["new_call_pass"]:
        reasons.append("the restarted transceiver did not take a new call at once")
    if result["caller_gave_up_s"] is None or result["caller_gave_up_s"] > 40:
        reasons.append(f"the caller did not give up within its consent timeout (after {result['caller_gave_up_s']} s)")
    if not result["restarted_drops"]["unknown_ufrag"]:
        reasons.append(f"the caller's consent checks were not dropped and counted by the restarted transceiver: "
                       f"{result['restarted_drops']}")
    if result["relay_flows_left"] != 0 or result["store_entries_left"]:
        reasons.append(f"{result['relay_flows_left']} relay flows and {result['store_entries_left']} "
                       "flow-store entries left after the caller stopped")
    return result | {"reason": "; ".join(reasons) or None}


def series_value(url: str, name: str, label: str) -> float:
    """The value of metric `name` on the series carrying `label` (e.g. 'result="applied"')."""
    total = 0.0
    for line in peers.read_metrics(url).splitlines():
        if line.startswith(name + "{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def write_secret(path: str, text: str) -> None:
    """Replaces the file in one rename, as the kubelet swaps a Secret volume's contents."""
    with open(path + ".new", "w") as file:
        file.write(text)
    os.replace(path + ".new", path)


def key_rotation(parley: str) -> dict:
    old, new = "0:" + base64.b64encode(os.urandom(32)).decode(), "1:" + base64.b64encode(os.urandom(32)).decode()
    with Stack(parley) as stack:
        keys, api_keys = os.path.join(stack.workdir, "routing-keys"), os.path.join(stack.workdir, "api-keys")
        write_secret(keys, old + "\n")
        write_secret(api_keys, "sk-one\n")
        reload = ["--keys", keys, "--secret-reload-seconds", "0.2"]
        public, backbone = udp_ports(2)
        tcp_port = peers.free_port()
        admin = f"http://127.0.0.1:{peers.free_port()}"
        stack.relay("relay", public, backbone, int(admin.rsplit(":", 1)[1]),
                    reload + ["--public-tcp", f"127.0.0.1:{tcp_port}"])
        url = stack.transceiver("transceiver", public, reload + ["--advertise-tcp", f"127.0.0.1:{tcp_port}"])
        keyed = stack.transceiver("keyed", public, reload + ["--api-keys", api_keys])
        reasons = []

        def call(step: str) -> None:
            """A UDP call through the relay, and an ICE-TCP check through its TCP port."""
            result = run_script("tone_echo.py", "--url", url, "--freq", "700", "--seconds", "1")
            if result["exit"]:
                reasons.append(f"call {step}: {result.get('reason')}")
            signalled = asyncio.run(ice_tcp.signal(url))
            try:
                ice_tcp.check(signalled, ("127.0.0.1", tcp_port))
            except (peers.PeerError, OSError) as error:
                reasons.append(f"ICE-TCP check {step}: {error}")
            peers.delete_call(signalled.location)

        def reloaded(count: int, what: str) -> None:
            wait_for(lambda: series_value(admin, "parley_relay_key_reloads_total", 'result="applied"') >= count
                     and series_value(url, "parley_secret_reloads_total", 'secret="routing_keys",result="applied"') >= count,
                     5, f"routing keys not reloaded ({what})")

        def status(key: str) -> int:
            pc_offer = asyncio.run(offer_sdp())
            code, headers, _ = peers.http_request(keyed + peers.CALLS_PATH, "POST", pc_offer.encode(), "application/sdp",
                                                  headers={"Authorization": f"Bearer {key}"})
            if code == 201:
                peers.delete_call(urllib.parse.urljoin(keyed + peers.CALLS_PATH, headers["Location"]))
            return code

        call("before rotation")
        write_secret(keys, f"{old}\n{new}\nsigning=1\n")   # step one: the new key added, and signing
        reloaded(1, "new key added")
        call("with both keys, the new one signing")
        write_secret(keys, new + "\n")                      # step two: the old key retired
        reloaded(2, "old key retired")
        call("with the new key alone")

        # The file gone for a moment (a Secret volume being swapped, a bad mount): the keys in
        # force stay, and both processes count the failed reads.
        os.rename(keys, keys + ".away")
        wait_for(lambda: series_value(admin, "parley_relay_key_reloads_total", 'result="unreadable"') >= 1
                 and series_value(url, "parley_secret_reloads_total", 'secret="routing_keys",result="unreadable"') >= 1,
                 5, "an unreadable routing-key file was not counted")
        call("with the key file unreadable")
        os.rename(keys + ".away", keys)

        api = {"sk-one before": status("sk-one")}
        write_secret(api_keys, "sk-two\n")
        wait_for(lambda: series_value(keyed, "parley_secret_reloads_total", 'secret="api_keys",result="applied"') >= 1,
                 5, "API keys not reloaded")
        api.update({"sk-one after": status("sk-one"), "sk-two after": status("sk-two")})
        write_secret(api_keys, "# emptied by mistake\n")
        wait_for(lambda: series_value(keyed, "parley_secret_reloads_total", 'secret="api_keys",result="rejected"') >= 1,
                 5, "an emptied API key file was not refused")
        api["sk-two after emptied file"] = status("sk-two")
        if api != {"sk-one before": 201, "sk-one after": 401, "sk-two after": 201, "sk-two after emptied file": 201}:
            reasons.append(f"API key statuses {api}")

        # Watching a file must not hold up a shutdown: with a minute between reads, SIGTERM
        # still ends both processes within their drain (none here) and a second or two.
        quiet = ["--keys", keys, "--secret-reload-seconds", "60"]
        quiet_relay = stack.relay("quiet-relay", *udp_ports(2), peers.free_port(), quiet)
        stack.transceiver("quiet-transceiver", public, quiet)
        quiet_transceiver = stack.processes[-1]
        time.sleep(0.5)  # both watchers are in their wait
        exits = {}
        for process in (quiet_relay, quiet_transceiver):
            started = time.monotonic()
            process.process.terminate()
            try:
                process.process.wait(10)
                exits[process.name] = round(time.monotonic() - started, 2)
            except subprocess.TimeoutExpired:
                exits[process.name] = None
            if exits[process.name] is None or exits[process.name] > 3:
                reasons.append(f"{process.name} took {exits[process.name]} s to exit on SIGTERM (at most 3)")
        return {"api_key_statuses": api, "exit_seconds_on_sigterm": exits, "reason": "; ".join(reasons) or None}


async def offer_sdp() -> str:
    pc = peers.RTCPeerConnection(peers.RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp
def tcp_hostile(parley: str) -> dict:
    with Stack(parley) as stack:
        public, backbone = udp_ports(2)
        tcp_port, admin = peers.free_port(), peers.free_port()
        per_source = 20
        stack.relay("relay", public, backbone, admin,
                    ["--public-tcp", f"127.0.0.1:{tcp_port}", "--max-tcp-connections-per-source", str(per_source),
                     "--tcp-first-frame-timeout", "2"])
        url = stack.transceiver("transceiver", public, ["--advertise-tcp", f"127.0.0.1:{tcp_port}"])
        metrics = f"http://127.0.0.1:{admin}"
        reasons = []
        call = asyncio.run(ice_tcp.signal(url))
        candidates = ice_tcp.tcp_candidates(call.answer)
        if candidates != [("127.0.0.1", tcp_port)]:
            reasons.append(f"answer's TCP candidates {candidates}, expected the relay's 127.0.0.1:{tcp_port}")
        address = ("127.0.0.1", tcp_port)
        good = ice_tcp.check(call, address)
        peers.delete_call(call.location)

        # A forged token: the answer's ufrag with its last character changed (MAC or spelling wrong).
        ufrag = ice_tcp.answer_field(call.answer, "ice-ufrag")
        forged = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        forged.attributes["USERNAME"] = ufrag[:-1] + ("A" if ufrag[-1] != "A" else "B") + ":x"
        forged.add_fingerprint()
        request, _, _ = ice_tcp.binding_request(call)
        cases = {
            "not_binding_request": ice_tcp.silently_closed(address, ice_tcp.frame(os.urandom(120))),
            "bad_token": ice_tcp.silently_closed(address, ice_tcp.frame(bytes(forged))),
            "oversize_frame": ice_tcp.silently_closed(address, b"\xff\xff" + bytes(200)),
            # 40 of the request's bytes, one every 100 ms: never a whole frame.
            "first_frame_timeout": ice_tcp.silently_closed(address, ice_tcp.frame(request)[:40], trickle=0.1, timeout=8),
        }
        for reason, outcome in cases.items():
            if not outcome["closed"] or outcome["bytes_back"]:
                reasons.append(f"{reason}: {outcome}")

        # The flood, while a UDP call runs through the same relay.
        stop = threading.Event()
        flood = {"cycles": 0, "held": 0}

        def churn(source: str) -> None:
            while not stop.is_set():
                try:
                    ice_tcp.silently_closed(address, ice_tcp.frame(os.urandom(64)), timeout=2, source=source)
                    flood["cycles"] += 1
                except OSError:
                    pass

        held = []

        def hold() -> None:
            for _ in range(per_source * 2):
                sock = peers.socket.socket(peers.socket.AF_INET, peers.socket.SOCK_STREAM)
                sock.bind(("127.0.0.10", 0))
                sock.connect(address)
                held.append(sock)
            flood["held"] = len(held)

        threads = [threading.Thread(target=churn, args=(f"127.0.0.{index}",)) for index in range(2, 10)]
        threads.append(threading.Thread(target=hold))
        for thread in threads:
            thread.start()
        udp_call = run_script("tone_echo.py", "--url", url, "--freq", "700", "--seconds", "4")
        stop.set()
        for thread in threads:
            thread.join(10)
        time.sleep(0.5)  # held connections past the limit are closed by now; counters published
        held_open = 0
        for sock in held:
            sock.setblocking(False)
            try:
                held_open += 0 if sock.recv(1) == b"" else 1
            except BlockingIOError:
                held_open += 1
            except OSError:
                pass
            sock.close()
        if udp_call["exit"]:
            reasons.append(f"UDP call during the TCP flood: {udp_call.get('reason')}")
        counters = {reason: labelled(metrics, "parley_relay_tcp_connections_closed_total", "reason", reason)
                    for reason in cases}
        counters["source_limit"] = labelled(metrics, "parley_relay_tcp_connections_refused_total", "reason", "source_limit")
        counters["admitted"] = metric(metrics, "parley_relay_tcp_connections_admitted_total")
        for reason in cases:
            if counters[reason] < 1:
                reasons.append(f"parley_relay_tcp_connections_closed_total{{reason={reason}}} did not move")
        if counters["not_binding_request"] < flood["cycles"]:
            reasons.append(f"{flood['cycles']} garbage connections, only {counters['not_binding_request']} counted")
        if counters["source_limit"] < per_source or held_open > per_source:
            reasons.append(f"{flood['held']} connections from one source: {held_open} stayed open, "
                           f"{counters['source_limit']} refused (limit {per_source})")
        return {"ice_tcp_check": good, "hostile": cases, "flood_cycles": flood["cycles"],
                "held_from_one_source": flood["held"], "held_still_open": held_open,
                "udp_call_during_flood": {key: udp_call.get(key) for key in ("pass", "dominant_hz", "received_rms_dbfs")},
                "relay_counters": counters, "reason": "; ".join(reasons) or None}


def tcp_two_clusters(parley: str) -> dict:
    with Stack(parley) as stack:
        public_a, backbone_a, public_b, backbone_b = udp_ports(4)
        tcp_a, admin_a = peers.free_port(), peers.free_port()
        stack.relay("relay-a", public_a, backbone_a, admin_a,
                    ["--cluster", "1", "--peer-cluster", f"2=127.0.0.1:{backbone_b}", "--public-tcp", f"127.0.0.1:{tcp_a}"])
        stack.relay("relay-b", public_b, backbone_b, peers.free_port(),
                    ["--cluster", "2", "--peer-cluster", f"1=127.0.0.1:{backbone_a}"])
        # The transceiver is in cluster B but tells clients to use relay A's TCP port.
        url = stack.transceiver("transceiver-b", public_a, ["--cluster", "2", "--advertise-tcp", f"127.0.0.1:{tcp_a}"])
        call = asyncio.run(ice_tcp.signal(url))
        reasons = []
        try:
            result = ice_tcp.check(call, ("127.0.0.1", tcp_a))
        except (peers.PeerError, OSError) as error:
            result = None
            reasons.append(f"ICE-TCP check through relay A to cluster B: {error}")
        peers.delete_call(call.location)
        time.sleep(0.3)  # the TCP worker publishes its counters every 100 ms
        metrics = f"http://127.0.0.1:{admin_a}"
        crossed = {direction: labelled(metrics, "parley_relay_tcp_frames_forwarded_total", "direction", direction)
                   for direction in ("client_to_peer_relay", "peer_relay_to_client")}
        if not all(crossed.values()):
            reasons.append(f"relay A's TCP worker did not use the backbone both ways: {crossed}")
        return {"ice_tcp_check": result, "relay_a_tcp_forwarded": crossed, "reason": "; ".join(reasons) or None}


SCENARIOS = {
    "through-relay": through_relay,
    "two-transceivers": two_transceivers,
    "restart": restart,
    "redis-down": redis_down,
    "redis-restart": redis_restart,
    "hostile": hostile,
    "two-clusters": two_clusters,
    "two-regions": two_regions,
    "drain": drain,
    "transceiver-killed": transceiver_killed,
    "key-rotation": key_rotation,
    "tcp-hostile": tcp_hostile,
    "tcp-two-clusters": tcp_two_clusters,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", required=True, help="the parley binary")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    args = parser.parse_args()
    failures = 0
    for name in args.scenario or list(SCENARIOS):
        started = time.monotonic()
        try:
            result = SCENARIOS[name](args.parley)
        except Exception as error:  # a scenario that cannot run is a failure, with its reason
            result = {"reason": f"{type(error).__name__}: {error}"}
        result = {"test": "relay", "scenario": name, "pass": result.get("reason") is None,
                  "seconds": round(time.monotonic() - started, 1), **result}
        failures += 0 if result["pass"] else 1
        peers.print_json(result)
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
