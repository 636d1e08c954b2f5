#!/usr/bin/env python3
"""Soak under impairment: many voice-agent calls for a long time through the relay and a lossy,
jittery path, calls hanging up and redialling throughout; then every table must empty.

    loadgen --HTTP--------------------------------> transceiver --backend agent (signaling)
    loadgen --UDP--> impair (loss, jitter, reorder) --> relay --> transceiver (media)

Starts, on free loopback ports: `parley relay` (1 worker), `parley transceiver --backend agent`
advertising the proxy's UDP address (so media goes client -> proxy -> relay -> transceiver),
`Benchmarks/impair` in front of the relay's public port, and `parley loadgen` with --calls
calls at once for --minutes: each call talks in turns (`--turns 1:3`: a second of tone, three
of silence in which the built-in agent speaks the turn back), opens oai-events and counts
response.done, and hangs up after a lifetime drawn from --lifetime (by DELETE, by RTCP BYE
alone, or vanishing so consent expires; HangUpStyle) while its place dials a new call.

Every --interval seconds it samples the relay's and the transceiver's resident memory
(/proc/PID/status VmRSS), open file descriptors (/proc/PID/fd) and CPU time, and their tables
from /metrics: parley_sessions, parley_shard_table_entries{table} (the session table's indexes
and the deadline heap), parley_call_placement_entries, parley_relay_flows. After the calls
end it waits for the consent and flow-idle expiries, until every table is empty (or
--settle-limit passes). The resident-memory and fd slopes are least-squares fits over the
samples after warm-up (the ramp plus the longest lifetime: by then every place has redialled
at least once); the report gives them per minute.

Writes NAME.json and NAME.md into --out (default Benchmarks/results/soak). With --check it
also judges the run and exits 1 on a failure: no call failed, every call that took a turn
heard the agent answer, oai-events opened on every connected call, all three ways of hanging
up happened, every table back to zero, the open fds of both servers back to their baseline
(within --fd-tolerance), both servers alive. Slopes are reported, never judged: they depend
on the machine and its other load.

All processes are stopped by PID, whatever happens.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
from free_ports import free_ports  # noqa: E402

TABLES = ("sessions", "ufrags", "paths", "clients", "deadlines")
HANG_UPS = ("delete", "bye", "vanish")


def parse_metrics(text):
    """{(name, frozenset(labels)): value} from the Prometheus text format."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, labels = head, frozenset()
        if "{" in head:
            name, rest = head.split("{", 1)
            pairs = [pair.split("=", 1) for pair in rest.rstrip("}").split(",") if "=" in pair]
            labels = frozenset((key, raw.strip('"')) for key, raw in pairs)
        try:
            values[(name, labels)] = float(value)
        except ValueError:
            pass
    return values


def metric(values, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (key, have), value in values.items() if key == name and wanted <= have)


def metric_by_label(values, name, label):
    totals = {}
    for (key, labels), value in values.items():
        if key != name:
            continue
        for label_name, label_value in labels:
            if label_name == label:
                totals[label_value] = totals.get(label_value, 0) + value
    return totals


def read_metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


def udp_drops(pid):
    """Datagrams the kernel dropped at the process's UDP sockets so far (the last column of
    /proc/net/udp: receive buffer full), summed over its sockets."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    drops = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as file:
                for line in list(file)[1:]:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] in inodes:
                        drops += int(fields[-1])
        except OSError:
            pass
    return drops


def process_sample(pid):
    """Resident KiB, open fds, CPU seconds and UDP receive drops of a process from /proc; None
    once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return {"rss_kib": rss, "fds": fds, "cpu_s": cpu, "udp_drops": udp_drops(pid)}
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute; None with fewer than 3."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def kernel_udp_counters():
    """The machine's UDP counters (/proc/net/snmp): receive-buffer overflows show as RcvbufErrors."""
    try:
        with open("/proc/net/snmp") as file:
            rows = [line.split() for line in file if line.startswith("Udp:")]
        return dict(zip(rows[0][1:], (int(value) for value in rows[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}


def load_average():
    try:
        with open("/proc/loadavg") as file:
            return [float(value) for value in file.read().split()[:3]]
    except OSError:
        return None


class Stack:
    """The processes of one run, each stopped by PID."""

    def __init__(self, out, name):
        self.out, self.name, self.processes = out, name, {}

    def start(self, role, command, stdout=None):
        """Starts `command` with its output in NAME-ROLE.log (stdout in the file `stdout` when given)."""
        log = open(os.path.join(self.out, f"{self.name}-{role}.log"), "wb")
        output = open(stdout, "wb") if stdout else log
        process = subprocess.Popen(command, stdout=output, stderr=log if stdout else subprocess.STDOUT)
        if stdout:
            output.close()
        self.processes[role] = (process, log)
        return process

    def pid(self, role):
        return self.processes[role][0].pid

    def alive(self, role):
        return self.processes[role][0].poll() is None

    def stop(self):
        for role, (process, log) in reversed(list(self.processes.items())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            log.close()
        self.processes = {}


def wait_http(url, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up within {seconds} s")


def tables_of(transceiver, relay):
    """The tables that follow live calls, from both servers' metrics."""
    tables = {f"transceiver {name}": metric(transceiver, "parley_shard_table_entries", table=name) for name in TABLES}
    tables["transceiver parley_sessions"] = metric(transceiver, "parley_sessions")
    tables["transceiver placement"] = metric(transceiver, "parley_call_placement_entries")
    tables["relay flows"] = metric(relay, "parley_relay_flows")
    return tables


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", default=os.path.join(ROOT, ".build/release/parley"), help="the parley binary")
    parser.add_argument("--calls", type=int, default=200, help="calls at once")
    parser.add_argument("--minutes", type=float, default=10, help="length of the steady phase")
    parser.add_argument("--ramp", type=float, default=10, help="new calls per second while ramping up")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--turns", default="1:3", help="loadgen --turns SPEECH:PAUSE")
    parser.add_argument("--lifetime", default="30-90", help="loadgen --call-lifetime MIN-MAX, seconds")
    parser.add_argument("--loss", type=float, default=2, help="impair --loss, percent each way")
    parser.add_argument("--jitter", type=float, default=30, help="impair --jitter, ms")
    parser.add_argument("--reorder", type=float, default=1, help="impair --reorder, percent")
    parser.add_argument("--delay", type=float, default=40, help="impair --delay, ms each way")
    parser.add_argument("--flow-idle-timeout", type=float, default=30, help="the relay's")
    parser.add_argument("--interval", type=float, default=5, help="seconds between samples")
    parser.add_argument("--settle-limit", type=float, default=90, help="seconds to wait for the tables after the calls")
    parser.add_argument("--fd-tolerance", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="loadgen event loops")
    parser.add_argument("--out", default=os.path.join(ROOT, "Benchmarks/results/soak"))
    parser.add_argument("--name", help="file name stem (default soak-CALLSx MINUTES)")
    parser.add_argument("--check", action="store_true", help="judge the run; exit 1 on a failure")
    args = parser.parse_args()
    parley = os.path.abspath(args.parley)
    if not os.access(parley, os.X_OK):
        sys.exit(f"no {parley}: swift build -c release --product parley")
    subprocess.run([os.path.join(ROOT, "Benchmarks/impair/build.sh")], check=True)
    os.makedirs(args.out, exist_ok=True)
    name = args.name or f"soak-{args.calls}x{args.minutes:g}min"
    lifetime_max = float(args.lifetime.split("-")[-1])
    steady_seconds = args.minutes * 60
    warm_up = args.calls / args.ramp + lifetime_max

    public, internal, admin, http, proxy = free_ports(5)
    relay_url, transceiver_url = f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{http}"
    stack = Stack(args.out, name)
    samples, stop_sampling = [], threading.Event()
    started = time.monotonic()
    report = {
        "name": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"system": f"{platform.system()} {platform.release()}", "cpus": os.cpu_count(),
                    "load_average_before": load_average()},
        "binary": parley,
        "settings": {"calls": args.calls, "minutes": args.minutes, "ramp_per_second": args.ramp, "shards": args.shards,
                     "turns": args.turns, "lifetime_seconds": args.lifetime, "loss_percent": args.loss,
                     "jitter_ms": args.jitter, "reorder_percent": args.reorder, "delay_ms": args.delay,
                     "flow_idle_timeout_s": args.flow_idle_timeout, "warm_up_s": warm_up},
    }

    def sample(phase):
        point = {"t": round(time.monotonic() - started, 1), "phase": phase}
        for role in ("relay", "transceiver", "impair", "loadgen"):
            if role in stack.processes:
                point[role] = process_sample(stack.pid(role))
        try:
            point["tables"] = tables_of(read_metrics(transceiver_url), read_metrics(relay_url))
        except OSError as error:
            point["tables_error"] = str(error)
        samples.append(point)
        return point

    phase = ["idle"]

    def sampler():
        while not stop_sampling.wait(args.interval):
            sample(phase[0])

    loadgen_report, failures = {}, []
    try:
        relay = stack.start("relay", [
            parley, "relay", "--public", f"127.0.0.1:{public}", "--internal", f"127.0.0.1:{internal}",
            "--admin", f"127.0.0.1:{admin}", "--workers", "1", "--no-pin",
            "--flow-idle-timeout", str(args.flow_idle_timeout), "--log-level", "warning"])
        wait_http(relay_url + "/readyz", relay)
        transceiver = stack.start("transceiver", [
            parley, "transceiver", "--http", f"127.0.0.1:{http}", "--udp", "127.0.0.1:0", "--shards", str(args.shards),
            "--advertise", f"127.0.0.1:{proxy}", "--relay", "127.0.0.1", "--backend", "agent",
            "--max-sessions", "100000", "--log-level", "warning"])
        wait_http(transceiver_url + "/healthz", transceiver)
        stack.start("impair", [
            os.path.join(ROOT, "Benchmarks/impair/impair"), "--udp", f"127.0.0.1:{proxy}=127.0.0.1:{public}",
            "--delay", str(args.delay), "--jitter", str(args.jitter), "--loss", str(args.loss),
            "--reorder", str(args.reorder), "--idle", "60"])
        time.sleep(0.3)
        baseline = sample("baseline")
        udp_before = kernel_udp_counters()
        sampling = threading.Thread(target=sampler, daemon=True)
        sampling.start()
        phase[0] = "calls"
        loadgen_json = os.path.join(args.out, f"{name}-loadgen.json")
        loadgen = stack.start("loadgen", [
            parley, "loadgen", "--url", transceiver_url + "/v1/realtime/calls", "--sessions", str(args.calls),
            "--ramp", str(args.ramp), "--duration", str(steady_seconds), "--turns", args.turns, "--events",
            "--call-lifetime", args.lifetime, "--server-pid", str(stack.pid("transceiver")),
            "--threads", str(args.threads), "--setup-timeout", "15", "--json"], stdout=loadgen_json)
        loadgen.wait(timeout=steady_seconds + args.calls / args.ramp + 300)
        try:
            with open(loadgen_json) as file:
                loadgen_report = json.load(file)
        except (OSError, ValueError):
            loadgen_report = {}
        ended_at = time.monotonic() - started

        phase[0] = "after"
        deadline = time.monotonic() + args.settle_limit
        emptied_after = None
        while time.monotonic() < deadline:
            point = sample("after")
            if point.get("tables") and not any(point["tables"].values()):
                emptied_after = round(time.monotonic() - started - ended_at, 1)
                break
            time.sleep(1)
        time.sleep(1)
        final = sample("final")
        final_metrics = read_metrics(transceiver_url)
        relay_metrics = read_metrics(relay_url)
        udp_after = kernel_udp_counters()
        alive = {role: stack.alive(role) for role in ("relay", "transceiver", "impair")}
    finally:
        stop_sampling.set()
        stack.stop()

    # ---------------------------------------------------------------- the numbers
    def series(role, key, since):
        return [(point["t"], point[role][key]) for point in samples
                if point["phase"] == "calls" and point["t"] >= since and point.get(role)]

    steady_from = warm_up + (baseline["t"] if baseline else 0)
    servers = {}
    for role in ("relay", "transceiver"):
        rss, fds = series(role, "rss_kib", steady_from), series(role, "fds", steady_from)
        calls_samples = [point for point in samples if point["phase"] == "calls" and point.get(role)]
        cpu = None
        if len(calls_samples) >= 2:
            first, last = calls_samples[0], calls_samples[-1]
            cpu = (last[role]["cpu_s"] - first[role]["cpu_s"]) / max(1e-9, last["t"] - first["t"])
        servers[role] = {
            "baseline": baseline.get(role), "at_warm_up": rss and {"rss_kib": rss[0][1], "fds": fds[0][1]},
            "end_of_calls": calls_samples and calls_samples[-1][role], "final": final.get(role),
            "rss_slope_kib_per_min": slope_per_minute(rss), "fd_slope_per_min": slope_per_minute(fds),
            "rss_max_kib": max((value for _, value in series(role, "rss_kib", 0)), default=None),
            "fds_max": max((value for _, value in series(role, "fds", 0)), default=None),
            "cpu_cores_during_calls": cpu, "samples_after_warm_up": len(rss)}
    impair_log = ""
    try:
        with open(os.path.join(args.out, f"{name}-impair.log")) as log:
            impair_log = log.read().strip()
    except OSError:
        pass
    conversation = loadgen_report.get("conversation") or {}
    redial = loadgen_report.get("redial") or {}
    failure_reasons = {}
    for failure in loadgen_report.get("failures") or []:
        reason = failure["reason"]
        key = "overloaded" if '"overloaded"' in reason else reason.split(":")[0][:80]
        failure_reasons[key] = failure_reasons.get(key, 0) + 1
    report.update({
        "machine": dict(report["machine"], load_average_after=load_average()),
        "calls_ended_at_s": round(ended_at, 1),
        "calls": {"at_once": args.calls, "started": loadgen_report.get("callsStarted"),
                  "connected": loadgen_report.get("callsConnected"), "failed": loadgen_report.get("callsFailed"),
                  "failure_reasons": failure_reasons, "hang_ups": redial.get("hangUps"),
                  "setup_ms": loadgen_report.get("setupMilliseconds"), "drops": loadgen_report.get("drops"),
                  "loadgen_cpu_cores": loadgen_report.get("loadgenCPUCores"),
                  "loss": {key: (loadgen_report.get("packets") or {}).get(key) for key in ("upstreamLoss", "downstreamLoss")}},
        "conversation": conversation,
        "servers": servers,
        "tables": {"baseline": baseline.get("tables"), "end_of_calls": next(
            (point.get("tables") for point in reversed(samples) if point["phase"] == "calls"), None),
            "final": final.get("tables"), "emptied_s_after_calls": emptied_after},
        "sessions_ended": metric_by_label(final_metrics, "parley_sessions_ended_total", "reason"),
        "signaling_rejected": metric_by_label(final_metrics, "parley_signaling_rejected_total", "code"),
        "transceiver_drops": metric_by_label(final_metrics, "parley_packets_dropped_total", "reason"),
        "audio_repaired": metric_by_label(final_metrics, "parley_audio_frames_repaired_total", "method"),
        "relay_drops": metric_by_label(relay_metrics, "parley_relay_packets_dropped_total", "reason"),
        "udp_receive_drops": {role: max((point[role].get("udp_drops", 0) for point in samples if point.get(role)), default=None)
                              for role in ("relay", "transceiver", "impair", "loadgen")},
        "kernel_udp_during_run": {key: udp_after[key] - udp_before.get(key, 0) for key in udp_after
                                  if key in ("InDatagrams", "InErrors", "RcvbufErrors", "SndbufErrors")},
        "impair": impair_log.splitlines()[-6:],
        "alive": alive,
        "samples": samples,
    })

    if args.check:
        if not loadgen_report:
            failures.append("the loadgen printed no report")
        if loadgen_report.get("callsFailed"):
            failures.append(f"{loadgen_report['callsFailed']} calls failed: {failure_reasons}")
        if not conversation.get("turnsTaken"):
            failures.append("no turn was taken")
        if conversation.get("callsUnanswered"):
            failures.append(f"{conversation['callsUnanswered']} calls took turns and heard no answer")
        if conversation.get("eventChannelsOpened") != loadgen_report.get("callsConnected"):
            failures.append(f"oai-events opened on {conversation.get('eventChannelsOpened')} of "
                            f"{loadgen_report.get('callsConnected')} connected calls")
        missing = [style for style in HANG_UPS if not (redial.get("hangUps") or {}).get(style)]
        if missing:
            failures.append(f"no call hung up by {missing}")
        left = {table: value for table, value in (final.get("tables") or {"metrics unreadable": 1}).items() if value}
        if left:
            failures.append(f"tables not empty {args.settle_limit:g} s after the calls: {left}")
        for role in ("relay", "transceiver"):
            before, after = (baseline.get(role) or {}).get("fds"), (final.get(role) or {}).get("fds")
            if before is None or after is None or abs(after - before) > args.fd_tolerance:
                failures.append(f"{role} open fds {before} before the calls, {after} after")
        dead = [role for role, up in alive.items() if not up]
        if dead:
            failures.append(f"exited during the run: {dead}")
        report["check"] = {"pass": not failures, "failures": failures}

    with open(os.path.join(args.out, f"{name}.json"), "w") as file:
        json.dump(report, file, indent=1)
    markdown = render(report)
    with open(os.path.join(args.out, f"{name}.md"), "w") as file:
        file.write(markdown)
    print(markdown)
    if args.check:
        print(json.dumps(report["check"]))
        return 0 if not failures else 1
    return 0


def render(report):
    """The markdown summary of one run."""
    settings, calls, conversation = report["settings"], report["calls"], report["conversation"]
    servers, tables = report["servers"], report["tables"]

    def mib(kib):
        return "–" if kib is None else f"{kib / 1024:.1f}"

    def per_minute(value, scale=1.0, digits=2):
        return "–" if value is None else f"{value * scale:+.{digits}f}"

    def percent(fraction):
        return "–" if fraction is None else f"{100 * fraction:.2f} %"

    def rate(part, whole):
        return "–" if not whole else f"{part} of {whole} ({100 * part / whole:.1f} %)"

    def milliseconds(distribution):
        return " / ".join("–" if distribution.get(key) is None else f"{distribution[key]:.0f}" for key in ("p50", "p95", "max"))

    latency = conversation.get("answerLatencyMilliseconds") or {}
    setup = (calls.get("setup_ms") or {}).get("dtls") or {}
    loss = calls.get("loss") or {}
    lines = [
        f"# {report['name']}",
        "",
        f"{report['date']}, {report['machine']['system']}, {report['machine']['cpus']} CPUs shared with other work "
        f"(load average {report['machine']['load_average_before']} before, {report['machine']['load_average_after']} after). "
        f"`{os.path.relpath(report['binary'], ROOT)}`, transceiver `--shards {settings['shards']} --backend agent`, "
        f"relay 1 worker, impair {settings['delay_ms']:g} ms each way ±{settings['jitter_ms']:g} ms jitter, "
        f"{settings['loss_percent']:g} % loss each way, {settings['reorder_percent']:g} % reordered.",
        "",
        f"{settings['calls']} calls at once for {settings['minutes']:g} min (ramp {settings['ramp_per_second']:g}/s), "
        f"turns {settings['turns']} s (speech:pause), each call hanging up after {settings['lifetime_seconds']} s "
        f"and redialling; warm-up {settings['warm_up_s']:g} s.",
        "",
        "| | |",
        "|---|---|",
        f"| calls made / connected / failed | {calls.get('started')} / {calls.get('connected')} / {calls.get('failed')} "
        f"{calls.get('failure_reasons') or ''} |",
        f"| hung up during the run | {calls.get('hang_ups')} |",
        f"| turns answered by the agent | {rate(conversation.get('turnsAnswered', 0), conversation.get('turnsTaken', 0))}; "
        f"calls with no answer {conversation.get('callsUnanswered')}; response.done {conversation.get('responsesDone')} |",
        f"| answer latency p50 / p95 / max (ms; the agent's 500 ms end-of-turn silence included) | {milliseconds(latency)} |",
        f"| set-up to DTLS p50 / p95 / max (ms) | {milliseconds(setup)} |",
        f"| audio loss up (server's RTCP) / down (sequence numbers) | {percent(loss.get('upstreamLoss'))} / "
        f"{percent(loss.get('downstreamLoss'))} |",
    ]
    for role in ("transceiver", "relay"):
        server = servers[role]
        warm = server.get("at_warm_up") or {}
        end = server.get("end_of_calls") or {}
        final = server.get("final") or {}
        base = server.get("baseline") or {}
        lines += [
            f"| {role} RSS MiB: idle / warm-up / end of calls / after | {mib(base.get('rss_kib'))} / {mib(warm.get('rss_kib'))} / "
            f"{mib(end.get('rss_kib'))} / {mib(final.get('rss_kib'))} |",
            f"| {role} RSS slope after warm-up | {per_minute(server.get('rss_slope_kib_per_min'), 1 / 1024, 3)} MiB/min "
            f"({server.get('samples_after_warm_up')} samples) |",
            f"| {role} open fds: idle / warm-up / end of calls / after; slope | {base.get('fds')} / {warm.get('fds')} / "
            f"{end.get('fds')} / {final.get('fds')}; {per_minute(server.get('fd_slope_per_min'))} fds/min |",
            f"| {role} CPU during the calls | {per_minute(server.get('cpu_cores_during_calls'), 100, 0)} % of a core |",
        ]
    lines += [
        f"| load generator CPU (steady) | {per_minute(calls.get('loadgen_cpu_cores'), 100, 0)} % of a core |",
        f"| tables at the end of the calls | {tables.get('end_of_calls')} |",
        f"| tables after | {tables.get('final')} (empty {tables.get('emptied_s_after_calls')} s after the calls) |",
        f"| sessions ended, by reason | {report.get('sessions_ended')} |",
        f"| signaling refused | {report.get('signaling_rejected') or 'none'} |",
        f"| transceiver drops / frames repaired | {report.get('transceiver_drops')} / {report.get('audio_repaired')} |",
        f"| relay drops | {report.get('relay_drops')} |",
        f"| UDP datagrams the kernel dropped at each process's sockets (receive buffer full) | {report.get('udp_receive_drops')} |",
        f"| kernel UDP counters over the run (whole machine) | {report.get('kernel_udp_during_run')} |",
        "",
        "impair: " + " / ".join(report.get("impair") or []),
    ]
    if "check" in report:
        lines += ["", "check: " + ("pass" if report["check"]["pass"] else "FAIL: " + "; ".join(report["check"]["failures"]))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
