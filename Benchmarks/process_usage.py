#!/usr/bin/env python3
"""CPU and memory of one running process over a stretch of wall time, from /proc: user +
system CPU time (/proc/PID/stat utime + stime, all threads) and resident memory
(/proc/PID/status VmRSS), sampled at the start and at the end of --seconds.
Prints one JSON object: cpu_per_second is CPU seconds used per second of wall time
(1.0 = one core busy). Exit 1 when the process is gone or ends before the end.
Other benchmark drivers may import sample() and measure() instead of running this."""

import argparse
import json
import os
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def sample(pid: int) -> tuple:
    """(monotonic time, CPU seconds used so far, VmRSS in KiB) of a live process; raises
    OSError (e.g. FileNotFoundError) when it is gone."""
    now = time.monotonic()
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name, which is in parentheses and may contain spaces;
        # utime and stime are fields 14 and 15 of the line (proc(5)).
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu_seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss_kib = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
                break
    return now, cpu_seconds, rss_kib


def measure(pid: int, seconds: float) -> dict:
    """Samples at the start and after `seconds`; raises OSError when the process is gone."""
    start_time, start_cpu, start_rss = sample(pid)
    time.sleep(seconds)
    end_time, end_cpu, end_rss = sample(pid)
    wall = end_time - start_time
    return {
        "pid": pid,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(end_cpu - start_cpu, 3),
        "cpu_per_second": round((end_cpu - start_cpu) / wall, 4),
        "rss_kib_start": start_rss,
        "rss_kib_end": end_rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pid", type=int, required=True, help="process to measure")
    parser.add_argument("--seconds", type=float, required=True, help="wall time between the two samples")
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    try:
        report = measure(args.pid, args.seconds)
    except OSError as error:
        print(json.dumps({"pid": args.pid, "error": f"cannot read /proc/{args.pid}: {error.strerror}"}), flush=True)
        return 1
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
