#!/usr/bin/env python3
"""Transceiver capacity and memory per session, Parley against the Pion echo peer in the
same run. Every step starts a fresh server pinned to one core (taskset -c SERVER_CPU) and
runs `parley loadgen --json --server-pid` pinned to another (taskset -c LOADGEN_CPU).

Servers:
  parley-packet-echo  `parley transceiver --backend packet-echo` (SRTP in and out, transport only)
  parley-echo         `parley transceiver --backend echo` (Opus decode + encode at 24 kHz)
  pion                Benchmarks/pion-echo (RTP echo, transport only; GOMAXPROCS=1)

Parley servers take --shards N and --server-cpus LIST (e.g. 0,1 for two shards on two cores).

Commands (each prints one JSON object on stdout and appends a line per step to --log):
  search  --server S   the most calls that pass: doubling from --start, then bisecting until
                       the bracket is within --precision. A step passes when no call failed,
                       upstream (server's RTCP) and downstream (echo sequence gaps) loss are
                       under --max-loss, the loadgen never had to resync its 20 ms pacing and
                       the p95 of the calls' downstream interarrival jitter (RFC 3550 §6.4.1)
                       is at most --max-jitter-ms. A failing step whose loadgen used
                       --loadgen-bound cores or more ends the search: the server then
                       passed at least the last passing step (reported as loadgenBound).
  fixed   --server S --sessions N   one step; --env NAME=VALUE for the server (repeatable).
  idle    --server S --sessions N   idle calls (--idle): resident memory above the server's
                       idle baseline, per session (--env as for fixed).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(count):
    held = []
    for kind in [socket.SOCK_STREAM, socket.SOCK_DGRAM] * (count // 2):
        sock = socket.socket(socket.AF_INET, kind)
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
    ports = [sock.getsockname()[1] for sock in held]
    for sock in held:
        sock.close()
    return ports


def raise_file_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass


def pinned(args, cpus):
    """taskset to the given cores ("0" or "0,1"), at a nice level above other work on a
    shared machine."""
    return ["nice", "-n", str(args.nice), "taskset", "-c", str(cpus)]


def raise_autogroup_priority(nice):
    """With sched_autogroup, CFS first shares a core between sessions (autogroups), so a
    process's own nice level counts only inside its session: other sessions' compilers would
    still take most of the core. Raising this session's autogroup nice (root only) makes the
    pinned core behave like a dedicated one, which is what the measurement is of."""
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(nice))
    except OSError:
        pass


class Server:
    """One server process on free loopback ports, pinned to a core, stopped by its PID."""

    def __init__(self, args, kind, env_overrides):
        http_port, udp_port = free_ports(2)
        self.url = f"http://127.0.0.1:{http_port}/v1/realtime/calls"
        self.health = f"http://127.0.0.1:{http_port}/healthz"
        env = dict(os.environ)
        env.update(env_overrides)
        pin = pinned(args, args.server_cpus or args.server_cpu)
        if kind == "pion":
            env["GOMAXPROCS"] = "1"
            command = pin + [args.pion, "-http", f"127.0.0.1:{http_port}", "-udp", f"127.0.0.1:{udp_port}"]
        else:
            backend = {"parley-packet-echo": "packet-echo", "parley-echo": "echo"}[kind]
            command = pin + [args.parley, "transceiver", "--http", f"127.0.0.1:{http_port}",
                             "--udp", f"127.0.0.1:{udp_port}", "--backend", backend,
                             "--max-sessions", "100000", "--drain-seconds", "1", "--log-level", "warning"]
            if args.shards:
                command += ["--shards", str(args.shards)]
        self.log = open(os.path.join(args.out, f"server-{kind}.log"), "ab")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} exited with {self.process.returncode} at start")
            try:
                with urllib.request.urlopen(self.health, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{kind} did not answer {self.health}")
            time.sleep(0.1)
        # Let start-up work (certificate, JIT of nothing, first GC) settle before the baseline.
        time.sleep(1)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_step(args, kind, sessions, idle=False, env_overrides=None):
    server = Server(args, kind, env_overrides or {})
    try:
        ramp = args.ramp
        command = pinned(args, args.loadgen_cpu) + [args.parley, "loadgen", "--url", server.url,
                   "--sessions", str(sessions), "--ramp", str(ramp), "--duration", str(args.steady),
                   "--json", "--server-pid", str(server.process.pid), "--bind", "127.0.0.1"]
        if idle:
            command.append("--idle")
        timeout = sessions / ramp + args.steady + 60
        finished = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        try:
            report = json.loads(finished.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"loadgen printed no report (exit {finished.returncode}): "
                               f"{finished.stderr.decode(errors='replace')[-500:]}")
    finally:
        server.stop()
    return report


def summarize(kind, sessions, report, args):
    packets = report.get("packets", {})
    losses = [packets.get(key) for key in ("echoLoss", "upstreamLoss", "downstreamLoss")]
    # Loss is judged by sequence numbers both ways (the server's RTCP receiver reports for
    # upstream, the echo stream's gaps for downstream). echoLoss is reported but not judged:
    # it counts about one packet per call in flight at the counting boundaries, 0.2% of a
    # 10 s call, above the 0.1% bar by construction.
    worst_loss = max([loss for loss in losses[1:] if loss is not None], default=None)
    jitter = (report.get("downstreamJitterMilliseconds") or {}).get("p95")
    server = report.get("server") or {}
    reasons = []
    if report.get("callsFailed", 0) > 0:
        reasons.append(f"{report['callsFailed']} calls failed")
    if worst_loss is None:
        reasons.append("no loss figure")
    elif worst_loss >= args.max_loss:
        reasons.append(f"loss {worst_loss:.4%}")
    if report.get("paceResyncs", 0) > 0:
        reasons.append(f"{report['paceResyncs']} loadgen pacing resyncs")
    if jitter is None or jitter > args.max_jitter_ms:
        reasons.append(f"jitter p95 {jitter} ms")
    loadgen_cores = report.get("loadgenCPUCores")
    # A failure while the loadgen's own core was (nearly) full says more about the loadgen
    # than about the server.
    loadgen_bound = bool(reasons) and loadgen_cores is not None and loadgen_cores >= args.loadgen_bound
    return {
        "server": kind, "sessions": sessions, "passed": not reasons, "why": ", ".join(reasons),
        "loadgenBound": loadgen_bound,
        "callsFailed": report.get("callsFailed"), "worstLoss": worst_loss,
        "echoLoss": losses[0], "upstreamLoss": losses[1], "downstreamLoss": losses[2],
        "jitterP95Ms": jitter, "serverCores": server.get("cpuCores"),
        "cpuPercentPerSession": server.get("cpuPercentPerSession"),
        "loadgenCores": loadgen_cores, "serverRSSKiB": server.get("endRSSKiB"),
    }


def cpu_pressure():
    """The share of the last 10 s that some runnable task waited for a CPU (PSI), a sign of
    other work on a shared machine."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            return float(pressure.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def log_step(args, line):
    line["cpuPressureAvg10"] = cpu_pressure()
    with open(args.log, "a") as log:
        log.write(json.dumps(line) + "\n")
    print(json.dumps(line), file=sys.stderr, flush=True)


def step(args, kind, sessions, env_overrides=None):
    try:
        report = run_step(args, kind, sessions, env_overrides=env_overrides)
        line = summarize(kind, sessions, report, args)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        line = {"server": kind, "sessions": sessions, "passed": False, "why": str(error)}
    if env_overrides:
        line["env"] = env_overrides
    log_step(args, line)
    return line


def search(args):
    kind = args.server
    passed, failed = None, None
    steps = []
    sessions = args.start
    # Doubling until a step fails (or --max passes).
    while True:
        result = step(args, kind, sessions)
        steps.append(result)
        if result["passed"]:
            passed = result
            if sessions >= args.max:
                break
            sessions = min(sessions * 2, args.max)
        else:
            failed = result
            break
    # Bisection between the last pass and the first failure, unless the failure was the
    # loadgen's: then the server's capacity is only known to be at least the last pass.
    low = passed["sessions"] if passed else 0
    while failed and not failed.get("loadgenBound") and failed["sessions"] - low > max(1, low * args.precision):
        sessions = (low + failed["sessions"]) // 2
        if sessions <= low:
            break
        result = step(args, kind, sessions)
        steps.append(result)
        if result["passed"]:
            passed, low = result, sessions
        else:
            failed = result
    return {"server": kind, "capacity": passed["sessions"] if passed else 0,
            "loadgenBound": bool(failed and failed.get("loadgenBound")),
            "atCapacity": passed, "firstFailure": failed, "reachedMax": failed is None, "steps": steps}


def idle(args):
    report = run_step(args, args.server, args.sessions, idle=True, env_overrides=args.server_env)
    server = report.get("server") or {}
    result = {"server": args.server, "sessions": args.sessions, "callsConnected": report.get("callsConnected"),
              "callsFailed": report.get("callsFailed"), "baselineRSSKiB": server.get("baselineRSSKiB"),
              "endRSSKiB": server.get("endRSSKiB"), "kibPerSession": server.get("kibPerSession"),
              "serverCores": server.get("cpuCores")}
    log_step(args, result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["search", "fixed", "idle"])
    parser.add_argument("--server", required=True, choices=["parley-packet-echo", "parley-echo", "pion"])
    parser.add_argument("--parley", default=os.path.join(ROOT, ".build/release/parley"))
    parser.add_argument("--pion", default="")
    parser.add_argument("--out", required=True, help="directory for server logs and the step log")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--start", type=int, default=50)
    parser.add_argument("--max", type=int, default=4000)
    parser.add_argument("--precision", type=float, default=0.1, help="stop bisecting when the bracket is this fraction of the pass")
    parser.add_argument("--ramp", type=float, default=50)
    parser.add_argument("--steady", type=float, default=12)
    parser.add_argument("--max-loss", type=float, default=0.001)
    parser.add_argument("--max-jitter-ms", type=float, default=10, help="p95 over calls; half a 20 ms frame")
    parser.add_argument("--loadgen-bound", type=float, default=0.85,
                        help="a failing step whose loadgen used this many cores is the loadgen's limit")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--server-cpus", default="", help="cores for the server, e.g. 0,1 (default --server-cpu)")
    parser.add_argument("--shards", type=int, default=0, help="parley transceiver --shards (default: the transceiver's own)")
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--nice", type=int, default=-20, help="nice level of server and loadgen")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (fixed, idle)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    args.log = os.path.join(args.out, "steps.jsonl")
    args.server_env = dict(item.split("=", 1) for item in args.env)
    if args.server == "pion" and not args.pion:
        parser.error("--pion BINARY is needed for --server pion")
    raise_file_limit()
    raise_autogroup_priority(args.nice)
    if args.command == "search":
        result = search(args)
    elif args.command == "fixed":
        result = step(args, args.server, args.sessions, env_overrides=args.server_env)
    else:
        result = idle(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
