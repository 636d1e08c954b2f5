#!/usr/bin/env python3
"""Sums up one Benchmarks/run-all.sh run as one markdown table on stdout: every figure next
to its same-run baseline, the ratio and whether the goal is met; then the micro-benchmark,
call set-up and relay tables those parts wrote, as they wrote them.
Usage: summarize.py OUT_DIR"""

import argparse
import json
import os


def load(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def load_lines(path):
    try:
        with open(path) as file:
            return [json.loads(line) for line in file if line.strip()]
    except (OSError, ValueError):
        return []


def mean_cpu_per_session(steps, matches):
    """Mean server CPU per call (% of a core) over the steps `matches` accepts."""
    values = [step["cpuPercentPerSession"] for step in steps if matches(step) and step.get("cpuPercentPerSession")]
    return sum(values) / len(values) if values else None


def number(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(value, baseline):
    if value is None or baseline in (None, 0):
        return None
    return value / baseline


class Table:
    def __init__(self):
        self.rows = []

    def add(self, figure, parley, baseline, baseline_name, value_ratio, goal="", met=None, lower_bound=False):
        verdict = "" if met is None else ("yes" if met else "**no**")
        shown = "n/a" if value_ratio is None else ("≥ " if lower_bound else "") + number(value_ratio, 2) + "×"
        self.rows.append(f"| {figure} | {parley} | {baseline} ({baseline_name}) | {shown} | {goal} | {verdict} |")

    def markdown(self):
        return "\n".join(["| Figure | Parley | Baseline (same run) | Ratio | Goal | Met |",
                          "| --- | ---: | ---: | ---: | --- | --- |"] + self.rows)


def capacity_text(result):
    """The search's answer as text and number; a search the load generator ended is a lower
    bound (the server passed every step the loadgen could drive)."""
    if not result:
        return "n/a", None
    calls = result["capacity"]
    text = f"{calls:,}"
    if result.get("loadgenBound"):
        text = f"≥ {calls:,} (load generator's core full)"
    elif result.get("reachedMax"):
        text = f"≥ {calls:,} (search maximum)"
    failure = result.get("firstFailure") or {}
    if failure.get("why") and not result.get("loadgenBound"):
        text += f"; {failure['sessions']:,} failed: {failure['why']}"
    return text, calls


def capacity_rows(out, table):
    packet = load(os.path.join(out, "capacity-parley-packet-echo.json"))
    pion = load(os.path.join(out, "capacity-pion.json"))
    echo = load(os.path.join(out, "capacity-parley-echo.json"))
    packet_text, packet_calls = capacity_text(packet)
    pion_text, pion_calls = capacity_text(pion)
    echo_text, echo_calls = capacity_text(echo)
    if packet or pion:
        measured = ratio(packet_calls, pion_calls)
        pion_bounded = bool((pion or {}).get("loadgenBound") or (pion or {}).get("reachedMax"))
        parley_bounded = bool((packet or {}).get("loadgenBound") or (packet or {}).get("reachedMax"))
        # Parley's figure is a lower bound when its search was cut short, so the ratio is too;
        # a cut-short Pion search leaves the ratio undecided.
        if pion_bounded or measured is None:
            met = None
        elif measured >= 2:
            met = True
        else:
            met = None if parley_bounded else False
        table.add("Transport-only calls one core sustains (loss < 0.1%, 20 ms pacing held)", packet_text, pion_text,
                  "Pion echo", measured, "≥ 2×", met, lower_bound=parley_bounded and not pion_bounded)

        def at_capacity(result):
            """Calls per core if the cost per call stayed what it was at the highest passing
            step, and the share of the core that step used."""
            best = (result or {}).get("atCapacity") or {}
            cores = best.get("serverCores")
            return (best["sessions"] / cores, cores) if cores else (None, None)
        ours, our_cores = at_capacity(packet)
        theirs, their_cores = at_capacity(pion)
        if ours and theirs:
            table.add(f"Transport-only calls per core, projected from the server's CPU at its highest passing step "
                      f"({our_cores:.0%} / {their_cores:.0%} of the core busy)", number(ours), number(theirs),
                      "Pion echo", ratio(ours, theirs))
    if echo:
        table.add("Full-voice calls one core sustains (Opus decode + encode at 24 kHz)", echo_text,
                  packet_text.split(" (")[0].split(";")[0], "Parley transport only", ratio(echo_calls, packet_calls))


def cost_rows(out, table):
    """Server CPU per call at the same load, Parley and Pion alternating: calls per core
    projected as 100 / (% of a core per call)."""
    steps = load_lines(os.path.join(out, "cost.jsonl"))
    if not steps:
        return

    ours = mean_cpu_per_session(steps, lambda step: step.get("server") == "parley-packet-echo")
    theirs = mean_cpu_per_session(steps, lambda step: step.get("server") == "pion")
    sessions = steps[0].get("sessions")
    failed = [f"{step['server']}: {step['why']}" for step in steps if not step.get("passed")]
    note = f" (failed steps: {'; '.join(failed)})" if failed else ""
    table.add(f"Server CPU per transport-only call at {sessions} calls, % of a core, mean of "
              f"{sum(1 for step in steps if step.get('server') == 'pion')} steps each{note}", number(ours, 3),
              number(theirs, 3), "Pion echo", ratio(ours, theirs))
    table.add("Transport-only calls per core, projected from CPU per call", number(100 / ours if ours else None),
              number(100 / theirs if theirs else None), "Pion echo",
              ratio(theirs, ours) if ours and theirs else None, "≥ 2×",
              None if ours is None or theirs is None else theirs / ours >= 2)
    nss = (load(os.path.join(out, "cost-nss.json")) or {}).get("cpuPercentPerSession")
    if nss:
        table.add(f"Server CPU per transport-only call at {sessions} calls, % of a core", number(ours, 3), number(nss, 3),
                  "Parley on Debian's NSS libsrtp2", ratio(ours, nss))


def memory_rows(out, table):
    memory = load(os.path.join(out, "memory-parley-packet-echo.json"))
    pion_memory = load(os.path.join(out, "memory-pion.json"))
    if not (memory or pion_memory):
        return
    ours = (memory or {}).get("kibPerSession")
    theirs = (pion_memory or {}).get("kibPerSession")
    sessions = (memory or pion_memory).get("sessions")
    connected = f"{(memory or {}).get('callsConnected', 'n/a')} / {(pion_memory or {}).get('callsConnected', 'n/a')}"
    value = ratio(ours, theirs)
    table.add(f"Resident KiB per idle call at {sessions:,} calls (connected: {connected})", number(ours, 1),
              number(theirs, 1), "Pion echo", value, "≤ 0.5×", None if value is None else value <= 0.5)
    nss = (load(os.path.join(out, "memory-nss.json")) or {}).get("kibPerSession")
    if nss:
        table.add(f"Resident KiB per idle call at {sessions:,} calls", number(ours, 1), number(nss, 1),
                  "Parley on Debian's NSS libsrtp2", ratio(ours, nss))


def complexity_rows(out, table):
    complexity = load_lines(os.path.join(out, "complexity.jsonl"))
    if not complexity:
        return

    def at_level(level):
        return lambda step: step.get("env", {}).get("PARLEY_OPUS_COMPLEXITY") == level
    five = mean_cpu_per_session(complexity, at_level("5"))
    ten = mean_cpu_per_session(complexity, at_level("10"))
    sessions = complexity[0].get("sessions")
    table.add(f"Server CPU % of a core per echo call, Opus complexity 5, {sessions} calls", number(five, 3),
              number(ten, 3), "complexity 10", ratio(five, ten))


def shard_rows(out, table):
    """Full-voice capacity with two shards on two cores against one shard on one core."""
    one, two = load(os.path.join(out, "shards-1.json")), load(os.path.join(out, "shards-2.json"))
    if not one or not two:
        return
    (two_text, two_calls), (one_text, one_calls) = capacity_text(two), capacity_text(one)
    scale = ratio(two_calls, one_calls)
    table.add("Full-voice (echo) calls sustained, 2 shards on 2 cores", two_text, one_text,
              "1 shard on 1 core", scale, "≥ 1.7×", None if scale is None else scale >= 1.7,
              lower_bound=bool(two.get("loadgenBound")))


def voice_floor_rows(out, table):
    """Full-voice CPU per call against libopus doing the same decode + encode alone."""
    runs = load_lines(os.path.join(out, "voice-cost.jsonl"))
    floor_runs = load_lines(os.path.join(out, "opus-cost", "opus-cost.jsonl"))
    ours = mean_cpu_per_session(runs, lambda step: step.get("passed"))
    floor = [run["cpuPercentPerCall"] for run in floor_runs if run.get("cpuPercentPerCall")]
    if ours is None or not floor:
        return
    floor_mean = sum(floor) / len(floor)
    overhead = ratio(ours, floor_mean)
    table.add(f"Server CPU % of a core per full-voice call, {runs[0].get('sessions')} echo calls",
              number(ours, 3), number(floor_mean, 3), "libopus decode + encode alone", overhead,
              "≤ 1.25×", None if overhead is None else overhead <= 1.25)


def setup_rows(out, table):
    """Chromium against both servers (median ms from Connect), and the set-up through the
    relay at 50 ms RTT against its round-trip floor."""
    for stage, name in [("dtls", "DTLS connected"), ("first_audio", "first audio")]:
        medians = {}
        for server in ("parley", "pion"):
            report = load(os.path.join(out, "setup", f"setup-{server}-chromium.json"))
            medians[server] = ((report or {}).get("stages", {}).get(stage) or {}).get("median_ms")
        if medians["parley"] is not None or medians["pion"] is not None:
            table.add(f"Chromium on loopback, {name}, median ms", number(medians["parley"], 1),
                      number(medians["pion"], 1), "Pion echo", ratio(medians["parley"], medians["pion"]))
    slow = load(os.path.join(out, "setup-rtt", "rtt-50ms.json"))
    if not slow:
        return
    round_trip, floors = 50.0, {"signaling": 2, "ice": 3, "dtls": 4, "firstAudio": 5}
    for stage, trips in floors.items():
        median = ((slow.get("setupMilliseconds") or {}).get(stage) or {}).get("p50")
        if median is None:
            continue
        floor = trips * round_trip
        table.add(f"Set-up through the relay at 50 ms RTT, {stage}, median ms", number(median, 1),
                  f"{floor:.0f}", f"floor, {trips} round trips", ratio(median, floor), "≤ floor + 5 ms",
                  median - floor <= 5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    args = parser.parse_args()
    out = args.out
    table = Table()
    capacity_rows(out, table)
    cost_rows(out, table)
    memory_rows(out, table)
    complexity_rows(out, table)
    shard_rows(out, table)
    voice_floor_rows(out, table)
    setup_rows(out, table)

    lines = ["# Parley benchmarks", ""]
    timings = [line.split("\t") for line in open(os.path.join(out, "timings.tsv")).read().split("\n") if line] \
        if os.path.exists(os.path.join(out, "timings.tsv")) else []
    if timings:
        measured = sum(int(seconds) for part, seconds in timings if part != "builds")
        parts = ", ".join(f"{part} {int(seconds) // 60}:{int(seconds) % 60:02d}" for part, seconds in timings)
        lines += [f"Measurement took {measured // 60} min {measured % 60} s after the builds ({parts}). "
                  "Servers pinned to core 0, load generator to core 1; every step in */steps.jsonl.", ""]
    lines.append(table.markdown())
    for title, name in [("Micro-benchmarks", "micro.md"), ("libsrtp2 crypto backend", "srtp-backend/srtp-backend.md"), ("Call set-up, Parley against Pion", "setup/setup.md"),
                        ("Call set-up against the round-trip floor", "setup-rtt/setup-rtt.md"),
                        ("Relay against the C forwarder", "relay/relay.md")]:
        path = os.path.join(out, name)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as file:
                text = file.read().strip()
            # Nested reports keep their own headings one level down; terminal colour codes
            # and the benchmark runner's notices are left out.
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.split("\n")
                             if "\x1b[" not in line and not line.startswith("Note: "))
            lines += ["", f"## {title}", "", text]
        else:
            lines += ["", f"## {title}", "", "Not run (see run-all's log)."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
