#!/usr/bin/env python3
"""ICE-TCP against UDP, measured with headless Chromium through `parley relay`: call set-up
and first audio, and what packet loss does to audio delay over TCP (head-of-line blocking).

Runs in a network namespace of its own (needs root; only a loopback interface), so fixed
ports and nftables rules touch nothing else. Per path, a fresh `parley relay` (one UDP and one
TCP worker, UDP and TCP public ports) and `parley transceiver --backend echo` (which serves the
demo page and echoes the caller's audio). Chromium loads the demo page and clicks Connect;
the page records each stage in ms from the click. TCP is forced the way a network that blocks
UDP forces it: an nftables rule drops every UDP datagram to the advertised UDP port, so
Chromium's UDP checks fail and its ICE-TCP pair to the relay's TCP port wins. Every call's
selected candidate pair must have the transport its case expects, or the call counts as failed.

Paths:
  loopback   the answer's candidates are the relay's own ports
  rtt-50ms   Benchmarks/impair (25 ms each way) in front of the signaling port and of both
             relay ports; the answer advertises the proxy's UDP and TCP addresses

Set-up (per path and transport): --calls calls after one warm-up call, one after another;
medians of signaling (answer received), ICE connected, DTLS connected, first audio (the remote
track's first packet) and the oai-events data channel open.

Loss (per path and transport): one call of --loss-seconds; nftables drops --loss-percent of
the datagrams or TCP segments in each direction on the client's leg (to and from the
advertised media port). From Chromium's getStats between 5 s after first audio and the end:
mean jitter-buffer delay per emitted sample (the delay the receiver adds to ride out late or
lost packets; a TCP stall shows up here), the jitter buffer's target delay, the share of
samples concealed (audio the receiver had to invent), and the selected pair's STUN RTT
(median and max over 1 s samples, carried on the same path as the media).

The kernel here has no netem, so the 50 ms of the rtt-50ms path is added by the userspace proxy;
the TCP connection whose segments nftables drops is the client's loopback connection to the
proxy, whose own round trip is microseconds. Linux recovers a lost segment on it (RACK after the
next segment's SACK, else the 200 ms minimum RTO) without the path's 50 ms, so on a real 50 ms
path each stall would last about one round trip longer than measured here.

A benchmark, not a test: prints a Markdown report (or JSON with --json). Exit 1 when a call
failed."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Interop"))

import chromium_demo  # noqa: E402  (found through the path above)
import peers  # noqa: E402

NFT_TABLE = "parley_bench"
STAGES = {"signaling": "signalingMs", "ice": "iceMs", "dtls": "dtlsMs", "first_audio": "firstAudioMs",
          "data_channel": "eventsMs"}
# Fixed addresses: the namespace is the benchmark's own.
RELAY_UDP, RELAY_TCP, RELAY_INTERNAL, RELAY_ADMIN = 3478, 3443, 3479, 9090
TRANSCEIVER_HTTP, TRANSCEIVER_UDP = 8080, 4000
PROXY_HTTP, PROXY_UDP, PROXY_TCP = 18080, 13478, 13443
STATS_SCRIPT = """
window.benchStats = null;
const pc = call && call.pc;
if (!pc) return false;
pc.getStats().then((report) => {
  const out = { at: performance.now() };
  report.forEach((stat) => {
    if (stat.type === "inbound-rtp" && stat.kind === "audio") out.inbound = {
      jitterBufferDelay: stat.jitterBufferDelay, jitterBufferTargetDelay: stat.jitterBufferTargetDelay,
      jitterBufferEmittedCount: stat.jitterBufferEmittedCount, concealedSamples: stat.concealedSamples,
      totalSamplesReceived: stat.totalSamplesReceived, packetsReceived: stat.packetsReceived,
      packetsLost: stat.packetsLost };
    if (stat.type === "transport" && stat.selectedCandidatePairId) out.pairId = stat.selectedCandidatePairId;
  });
  const pair = out.pairId && report.get(out.pairId);
  out.rtt = pair ? pair.currentRoundTripTime : null;
  window.benchStats = out;
});
return true;
"""


def nft(*arguments: str) -> None:
    subprocess.run(["nft", *arguments], check=True, capture_output=True, text=True)


def nft_rules(rules: list) -> None:
    """Replaces the benchmark's table with `rules` in its output chain (every packet on lo
    passes there once)."""
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)
    if not rules:
        return
    nft("add", "table", "inet", NFT_TABLE)
    nft("add", "chain", "inet", NFT_TABLE, "output", "{ type filter hook output priority 0; policy accept; }")
    for rule in rules:
        nft("add", "rule", "inet", NFT_TABLE, "output", *rule.split())


def nft_loss_drops() -> int:
    """Packets the loss rules (those with `numgen`) dropped so far."""
    listing = subprocess.run(["nft", "-j", "list", "table", "inet", NFT_TABLE], capture_output=True, text=True)
    if listing.returncode:
        return 0
    dropped = 0
    for item in json.loads(listing.stdout).get("nftables", []):
        expressions = item.get("rule", {}).get("expr", [])
        if any("numgen" in json.dumps(expression) for expression in expressions):
            dropped += sum(int(expression["counter"]["packets"]) for expression in expressions if "counter" in expression)
    return dropped


class Stack:
    """Relay, transceiver and, for the rtt-50ms path, the impairment proxy; stopped by PID."""

    def __init__(self, parley: str, path: str, scratch: str):
        self.path, self.processes = path, []
        proxied = path == "rtt-50ms"
        udp = PROXY_UDP if proxied else RELAY_UDP
        tcp = PROXY_TCP if proxied else RELAY_TCP
        self.media_ports = (udp, tcp)
        self.page = f"http://127.0.0.1:{PROXY_HTTP if proxied else TRANSCEIVER_HTTP}/"
        self.spawn(scratch, "relay", [parley, "relay", "--public", f"127.0.0.1:{RELAY_UDP}",
                                      "--public-tcp", f"127.0.0.1:{RELAY_TCP}", "--internal", f"127.0.0.1:{RELAY_INTERNAL}",
                                      "--admin", f"127.0.0.1:{RELAY_ADMIN}", "--workers", "1", "--tcp-workers", "1",
                                      "--no-pin", "--drain-seconds", "0", "--log-level", "warning"])
        self.wait(f"http://127.0.0.1:{RELAY_ADMIN}/readyz")
        self.spawn(scratch, "transceiver", [parley, "transceiver", "--http", f"127.0.0.1:{TRANSCEIVER_HTTP}",
                                            "--udp", f"127.0.0.1:{TRANSCEIVER_UDP}", "--advertise", f"127.0.0.1:{udp}",
                                            "--advertise-tcp", f"127.0.0.1:{tcp}", "--relay", "127.0.0.1",
                                            "--backend", "echo", "--log-level", "warning"])
        self.wait(f"http://127.0.0.1:{TRANSCEIVER_HTTP}/healthz")
        if proxied:
            impair = os.path.join(HERE, "impair", "impair")
            self.spawn(scratch, "impair", [impair, "--delay", "25",
                                           "--tcp", f"127.0.0.1:{PROXY_HTTP}=127.0.0.1:{TRANSCEIVER_HTTP}",
                                           "--udp", f"127.0.0.1:{PROXY_UDP}=127.0.0.1:{RELAY_UDP}",
                                           "--tcp", f"127.0.0.1:{PROXY_TCP}=127.0.0.1:{RELAY_TCP}"])
            self.wait(self.page + "healthz")

    def spawn(self, scratch: str, name: str, argv: list) -> None:
        with open(os.path.join(scratch, f"{self.path}-{name}.log"), "wb") as log:
            self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def wait(self, url: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                return
            except OSError:
                if time.monotonic() > deadline or any(process.poll() is not None for process in self.processes):
                    raise RuntimeError(f"{url} did not come up")
                time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def connect(driver, page: str, timeout: float) -> dict:
    """Loads the page, clicks Connect and waits until every stage is reached (or failure)."""
    driver.open(page)
    driver.click("#connect")
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = driver.script("return window.parleyStatus") or {}
        timings = status.get("timings") or {}
        if status.get("error") or status.get("state") == "failed":
            break
        if all(timings.get(key) is not None for key in STAGES.values()) and status.get("transport"):
            break
        time.sleep(0.02)
    return status


def hang_up(driver, status: dict) -> None:
    if status.get("state") in ("connecting", "connected"):
        driver.click("#connect")


def call_error(status: dict, transport: str) -> str:
    timings = status.get("timings") or {}
    missing = [stage for stage, key in STAGES.items() if timings.get(key) is None]
    if status.get("error"):
        return f"page reported: {status['error']}"
    if missing:
        return f"not reached: {', '.join(missing)} (ICE {status.get('iceState')}, DTLS {status.get('dtlsState')})"
    if status.get("transport") != transport:
        return f"selected pair is {status.get('transport')!r}, expected {transport}"
    return ""


def setup_calls(driver, stack: Stack, transport: str, count: int, timeout: float) -> dict:
    calls, failures = [], []
    for index in range(count + 1):
        status = connect(driver, stack.page, timeout)
        error = call_error(status, transport)
        hang_up(driver, status)
        if index == 0:
            continue  # warm-up
        if error:
            failures.append(error)
        else:
            calls.append({stage: status["timings"][key] for stage, key in STAGES.items()})
        time.sleep(0.3)
    medians = {stage: statistics.median(call[stage] for call in calls) if calls else None for stage in STAGES}
    return {"calls": len(calls), "failures": failures, "median_ms": medians}


def read_stats(driver) -> dict:
    if not driver.script(STATS_SCRIPT):
        return {}
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        stats = driver.script("return window.benchStats")
        if stats:
            return stats
        time.sleep(0.02)
    return {}


def loss_call(driver, stack: Stack, transport: str, seconds: float, timeout: float) -> dict:
    status = connect(driver, stack.page, timeout)
    error = call_error(status, transport)
    if error:
        hang_up(driver, status)
        return {"error": error}
    time.sleep(5)
    first, rtts = read_stats(driver), []
    end = time.monotonic() + seconds - 5
    while time.monotonic() < end:
        time.sleep(1)
        stats = read_stats(driver)
        if stats.get("rtt") is not None:
            rtts.append(stats["rtt"] * 1000)
    last = read_stats(driver)
    status = driver.script("return window.parleyStatus") or {}
    hang_up(driver, status)
    if not first.get("inbound") or not last.get("inbound") or status.get("transport") != transport:
        return {"error": f"no inbound audio statistics (transport {status.get('transport')})"}
    delta = {key: last["inbound"][key] - first["inbound"][key] for key in first["inbound"]}
    emitted = delta["jitterBufferEmittedCount"] or 1
    return {
        "seconds_measured": round((last["at"] - first["at"]) / 1000, 1),
        "packets_received": delta["packetsReceived"], "packets_lost": delta["packetsLost"],
        "jitter_buffer_delay_ms": round(delta["jitterBufferDelay"] / emitted * 1000, 1),
        "jitter_buffer_target_ms": round(delta["jitterBufferTargetDelay"] / emitted * 1000, 1),
        "concealed_percent": round(100 * delta["concealedSamples"] / max(delta["totalSamplesReceived"], 1), 2),
        "rtt_median_ms": round(statistics.median(rtts), 1) if rtts else None,
        "rtt_max_ms": round(max(rtts), 1) if rtts else None,
    }


def loss_rules(stack: Stack, transport: str, percent: int) -> list:
    udp, tcp = stack.media_ports
    port = udp if transport == "udp" else tcp
    rules = [f"{transport} dport {port} numgen random mod 100 < {percent} counter drop",
             f"{transport} sport {port} numgen random mod 100 < {percent} counter drop"]
    if transport == "tcp":
        rules.insert(0, f"udp dport {udp} counter drop")
    return rules


def inside(args) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    report = {"benchmark": "ice_tcp", "calls_per_case": args.calls, "loss_percent": args.loss_percent,
              "loss_seconds": args.loss_seconds, "setup": {}, "loss": {}}
    with tempfile.TemporaryDirectory(prefix="parley-ice-tcp-bench-") as scratch:
        wav = os.path.join(scratch, "tone.wav")
        chromium_demo.write_tone_wav(wav, 440.0)
        with chromium_demo.chromium_session(args.chromedriver, args.chromium, scratch,
                                            [f"--use-file-for-fake-audio-capture={wav}"]) as driver:
            for path in ("loopback", "rtt-50ms"):
                stack = Stack(args.parley, path, scratch)
                try:
                    for transport in ("udp", "tcp"):
                        nft_rules([] if transport == "udp" else [f"udp dport {stack.media_ports[0]} counter drop"])
                        report["setup"][f"{path} {transport}"] = setup_calls(driver, stack, transport, args.calls, args.timeout)
                    for transport in ("udp", "tcp"):
                        nft_rules(loss_rules(stack, transport, args.loss_percent))
                        result = loss_call(driver, stack, transport, args.loss_seconds, args.timeout)
                        report["loss"][f"{path} {transport}"] = result | {"dropped_by_nftables": nft_loss_drops()}
                finally:
                    nft_rules([])
                    stack.stop()
    failed = any(case["failures"] for case in report["setup"].values()) or \
        any("error" in case for case in report["loss"].values())
    print(json.dumps(report) if args.json else markdown(report))
    return 1 if failed else 0


def markdown(report: dict) -> str:
    def cell(value):
        return "–" if value is None else f"{value:.0f}"

    lines = ["| path, transport | calls | signaling | ICE | DTLS | first audio | data channel |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for case, result in report["setup"].items():
        medians = result["median_ms"]
        lines.append(f"| {case} | {result['calls']} | " + " | ".join(cell(medians[stage]) for stage in STAGES) + " |")
        lines += [f"|   failed: {failure} | | | | | | |" for failure in result["failures"]]
    lines += ["", f"{report['loss_percent']} % loss each way, one call of {report['loss_seconds']} s per case:", "",
              "| path, transport | dropped (both ways) | packets received / lost | jitter-buffer delay ms | target ms "
              "| concealed % | STUN RTT median / max ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for case, result in report["loss"].items():
        if "error" in result:
            lines.append(f"| {case} | failed: {result['error']} | | | | | |")
            continue
        lines.append(f"| {case} | {result['dropped_by_nftables']} | {result['packets_received']} / {result['packets_lost']} | "
                     f"{result['jitter_buffer_delay_ms']} | {result['jitter_buffer_target_ms']} | "
                     f"{result['concealed_percent']} | {result['rtt_median_ms']} / {result['rtt_max_ms']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parley", default=os.path.join(HERE, "..", ".build", "release", "parley"))
    parser.add_argument("--calls", type=int, default=10, help="set-up calls per case, after one warm-up call")
    parser.add_argument("--loss-percent", type=int, default=2)
    parser.add_argument("--loss-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds for a call to reach every stage")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.parley = os.path.abspath(args.parley)
    if args.inside:
        return inside(args)
    build = subprocess.run([os.path.join(HERE, "impair", "build.sh")], capture_output=True, text=True)
    if build.returncode:
        print(build.stderr, file=sys.stderr)
        return 1
    return peers.rerun_in_own_namespace(__file__, "parley-ice-tcp-bench")


if __name__ == "__main__":
    sys.exit(main())
