#!/usr/bin/env bash
# Every Parley benchmark in one run, each figure next to a baseline measured in the same run,
# summed up in one markdown table: OUT_DIR/summary.md (also printed).
#
#   Benchmarks/run-all.sh OUT_DIR
#
# 1. Transceiver capacity on one core (server on core 0, loadgen on core 1): the most calls
#    with loss under 0.1% and 20 ms pacing held (Benchmarks/capacity.py search), for
#    `--backend packet-echo` (transport only) against the Pion echo peer, and for
#    `--backend echo` (Opus decode + encode, full voice path).
# 2. Resident memory per idle call at 1,000 calls, Parley against Pion.
# 3. Opus encoder complexity 5 (Parley's setting) against 10, server CPU per call at a fixed
#    number of echo calls (PARLEY_OPUS_COMPLEXITY).
# 4. Micro-benchmarks (Benchmarks/Micro, package-benchmark), when that package resolves.
# 5. Benchmarks/run_setup_bench.sh and Benchmarks/relay/run.sh when present.
#
# Needs a release build (swift build -c release --product parley; or PARLEY=path), Go with
# Debian's Pion for Benchmarks/pion-echo, root (taskset, nice -20 and the session's autogroup
# weight so a shared machine's other jobs take little of the two cores), python3.
# Environment: PARLEY, STEADY (seconds per capacity step, default 10), IDLE_SESSIONS (1000),
# SKIP (space-separated parts to leave out: capacity memory complexity micro setup relay).
# About 11 minutes on a 2-core machine with the micro package already built.
set -uo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
# A session of its own: capacity.py raises the session's autogroup weight, which should
# not outlive this run.
if [[ "${PARLEY_RUN_ALL_SESSION:-}" != 1 ]]; then
    PARLEY_RUN_ALL_SESSION=1 exec setsid --wait "$0" "$@"
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
parley=${PARLEY:-$root/.build/release/parley}
steady=${STEADY:-10}
idle_sessions=${IDLE_SESSIONS:-1000}
skip=" ${SKIP:-} "
started=$(date +%s)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

[[ -x "$parley" ]] || { echo "run-all: no parley binary at $parley (swift build -c release --product parley)" >&2; exit 1; }
"$root/Benchmarks/pion-echo/build.sh" "$out/pion-echo" >/dev/null || exit 1
capacity=("$root/Benchmarks/capacity.py" --parley "$parley" --pion "$out/pion-echo")

log() { echo "run-all [$(( $(date +%s) - started )) s]: $*" >&2; }
wants() { [[ "$skip" != *" $1 "* ]]; }

if wants capacity; then
    for server in parley-packet-echo pion parley-echo; do
        log "capacity search: $server"
        python3 "${capacity[@]}" search --server "$server" --start 100 --ramp 100 --steady "$steady" \
            --precision 0.15 --out "$out/capacity-$server" > "$out/capacity-$server.json"
    done
fi

if wants memory; then
    for server in parley-packet-echo pion; do
        log "memory: $idle_sessions idle calls, $server"
        python3 "${capacity[@]}" idle --server "$server" --sessions "$idle_sessions" --ramp 100 --steady 5 \
            --out "$out/memory-$server" > "$out/memory-$server.json"
    done
fi

if wants complexity; then
    # Well under the echo capacity, so both settings are measured unsaturated.
    sessions=$(python3 -c "import json,sys
try: print(max(20, json.load(open(sys.argv[1]))['capacity'] // 2))
except (OSError, ValueError, KeyError): print(100)" "$out/capacity-parley-echo.json")
    for complexity in 5 10 5 10; do
        log "complexity $complexity: $sessions echo calls"
        python3 "${capacity[@]}" fixed --server parley-echo --sessions "$sessions" --ramp 100 --steady "$steady" \
            --env "PARLEY_OPUS_COMPLEXITY=$complexity" --out "$out/complexity" >> "$out/complexity.jsonl"
    done
fi

if wants micro; then
    log "micro-benchmarks"
    if swift package --package-path "$root/Benchmarks/Micro" --allow-writing-to-package-directory \
        benchmark --format markdown --no-progress > "$out/micro.md" 2> "$out/micro.err"; then
        :
    else
        log "micro-benchmarks did not run (see $out/micro.err)"
    fi
fi

if wants setup && [[ -x "$root/Benchmarks/run_setup_bench.sh" ]]; then
    log "call set-up time"
    "$root/Benchmarks/run_setup_bench.sh" "$parley" "$out/setup" > "$out/setup.log" 2>&1 || log "setup benchmark failed (see $out/setup.log)"
fi

if wants relay && [[ -x "$root/Benchmarks/relay/run.sh" ]]; then
    log "relay against the C forwarder"
    PARLEY="$parley" "$root/Benchmarks/relay/run.sh" "$out/relay" > "$out/relay.log" 2>&1 || log "relay benchmark failed (see $out/relay.log)"
fi

log "done; summary:"
python3 "$root/Benchmarks/summarize.py" "$out" --elapsed "$(( $(date +%s) - started ))" | tee "$out/summary.md"
