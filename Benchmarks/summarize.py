#!/usr/bin/env python3
"""Sums up one Benchmarks/run-all.sh run as one markdown table on stdout: every figure next
to its same-run baseline, the ratio and whether the goal is met; then the micro-benchmark,
call set-up and relay tables those parts wrote, as they wrote them.
Usage: summarize.py OUT_DIR [--elapsed SECONDS]"""

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

    def add(self, figure, parley, baseline, baseline_name, value_ratio, goal="", met=None):
        verdict = "" if met is None else ("yes" if met else "**no**")
        self.rows.append(f"| {figure} | {parley} | {baseline} ({baseline_name}) | "
                         f"{number(value_ratio, 2) + '×' if value_ratio is not None else 'n/a'} | {goal} | {verdict} |")

    def markdown(self):
        return "\n".join(["| Figure | Parley | Baseline (same run) | Ratio | Goal | Met |",
                          "| --- | ---: | ---: | ---: | --- | --- |"] + self.rows)


def capacity_text(result):
    """Calls, with the server's projected calls per core (calls / server CPU cores at the
    highest passing step) when the loadgen's core ran out first."""
    if not result:
        return "n/a", None, None
    calls = result["capacity"]
    best = result.get("atCapacity") or {}
    cores = best.get("serverCores")
    projected = calls / cores if calls and cores else None
    text = f"{calls:,}"
    if result.get("loadgenBound"):
        text = f"≥ {calls:,} (loadgen-bound)"
    return text, calls, projected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--elapsed", type=int)
    args = parser.parse_args()
    out = args.out
    table = Table()

    packet = load(os.path.join(out, "capacity-parley-packet-echo.json"))
    pion = load(os.path.join(out, "capacity-pion.json"))
    echo = load(os.path.join(out, "capacity-parley-echo.json"))
    packet_text, packet_calls, packet_projected = capacity_text(packet)
    pion_text, pion_calls, pion_projected = capacity_text(pion)
    echo_text, echo_calls, echo_projected = capacity_text(echo)
    if packet or pion:
        measured = ratio(packet_calls, pion_calls)
        bounded = (packet or {}).get("loadgenBound") or (pion or {}).get("loadgenBound")
        table.add("Transport-only calls per core (loss < 0.1%, pacing held)", packet_text, pion_text, "Pion echo",
                  measured, "≥ 2×", None if bounded else (measured is not None and measured >= 2))
        projected = ratio(packet_projected, pion_projected)
        table.add("Transport-only calls per core, projected from server CPU per call", number(packet_projected),
                  number(pion_projected), "Pion echo", projected, "≥ 2×", projected is not None and projected >= 2)
    if echo:
        table.add("Full-voice calls per core (Opus decode + encode)", echo_text, packet_text, "Parley transport only",
                  ratio(echo_calls, packet_calls))
        table.add("Full-voice calls per core, projected from server CPU per call", number(echo_projected),
                  number(packet_projected), "Parley transport only", ratio(echo_projected, packet_projected))

    memory = load(os.path.join(out, "memory-parley-packet-echo.json"))
    pion_memory = load(os.path.join(out, "memory-pion.json"))
    if memory or pion_memory:
        ours = (memory or {}).get("kibPerSession")
        theirs = (pion_memory or {}).get("kibPerSession")
        sessions = (memory or pion_memory).get("sessions")
        connected = f"{(memory or {}).get('callsConnected', 'n/a')} / {(pion_memory or {}).get('callsConnected', 'n/a')}"
        value = ratio(ours, theirs)
        table.add(f"Resident KiB per idle call at {sessions:,} calls (connected: {connected})", number(ours, 1),
                  number(theirs, 1), "Pion echo", value, "≤ 0.5×", value is not None and value <= 0.5)

    complexity = load_lines(os.path.join(out, "complexity.jsonl"))
    if complexity:
        def mean(level):
            values = [line.get("cpuPercentPerSession") for line in complexity
                      if line.get("env", {}).get("PARLEY_OPUS_COMPLEXITY") == level and line.get("cpuPercentPerSession")]
            return sum(values) / len(values) if values else None
        five, ten = mean("5"), mean("10")
        sessions = complexity[0].get("sessions")
        table.add(f"Server CPU % of a core per echo call, Opus complexity 5, {sessions} calls", number(five, 3),
                  number(ten, 3), "complexity 10", ratio(five, ten))

    lines = ["# Parley benchmarks", ""]
    if args.elapsed is not None:
        lines.append(f"Run took {args.elapsed // 60} min {args.elapsed % 60} s. Server pinned to core 0, load generator "
                     "to core 1; details of every step in capacity-*/steps.jsonl.")
        lines.append("")
    lines.append(table.markdown())
    for title, name in [("Micro-benchmarks", "micro.md"), ("Call set-up", "setup/setup.md"),
                        ("Relay against the C forwarder", "relay/relay.md")]:
        path = os.path.join(out, name)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as file:
                lines += ["", f"## {title}", "", file.read().strip()]
        else:
            lines += ["", f"## {title}", "", "Not run (see run-all's log)."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
