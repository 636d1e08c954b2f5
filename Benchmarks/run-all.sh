#!/usr/bin/env bash
# Every Parley benchmark in one run, each figure next to a baseline measured in the same run,
# summed up in one markdown table: OUT_DIR/summary.md (also printed).
#
#   Benchmarks/run-all.sh OUT_DIR
#
# 0. Builds: `parley` in release (unless PARLEY names a binary), the Pion echo peer, the
#    micro-benchmark package; timed apart from the measurements.
# 1. Transceiver capacity on one core (server on core 0, loadgen on core 1): the most calls
#    with loss under 0.1% and 20 ms pacing held (Benchmarks/capacity.py search), for
#    `--backend packet-echo` (transport only) against the Pion echo peer, and for
#    `--backend echo` (Opus decode + encode, full voice path).
# 2. Server CPU per call at the same load (LOAD_SESSIONS calls, default 300, which both
#    transport-only servers carry), alternating Parley and Pion three times: calls per core
#    projected as 100 / (% of a core per call), for when the load generator's core runs out
#    before the server's; then Parley once more on Debian's NSS-based libsrtp2.
# 3. Resident memory per idle call at 1,000 calls, Parley against Pion (and Parley on
#    Debian's NSS-based libsrtp2).
# 4. Opus encoder complexity 5 (Parley's setting) against 10, server CPU per call at a fixed
#    number of echo calls (PARLEY_OPUS_COMPLEXITY).
# 4b. Shards: full-voice (`--backend echo`) capacity of one transceiver with `--shards 1` on
#    core 0 against `--shards 2` on cores 0 and 1 (the load generator stays on core 1 and
#    shares it: pre-encoded audio costs it little).
# 4c. Full-voice CPU per call against libopus alone (Benchmarks/opus-cost: the same decode +
#    encode per 20 ms frame, in C), at half the one-shard echo capacity.
# 5. Micro-benchmarks (Benchmarks/Micro, ordo-one/benchmark): hot paths with malloc counts;
#    Benchmarks/srtp-backend: libsrtp2's OpenSSL build against Debian's NSS build.
# 6. Call set-up: Benchmarks/run_setup_bench.sh (aiortc and Chromium, Parley against Pion)
#    and Benchmarks/setup_rtt.sh (through the relay against the round-trip floor, 50 ms RTT).
# 7. Benchmarks/relay/run.sh: the relay against the plain C forwarder.
#
# Needs Go with Debian's Pion for Benchmarks/pion-echo, the test peers (scripts/install-deps.sh
# --test: Chromium, .venv with aiortc), root (taskset, nice -20, SCHED_FIFO and the session's
# autogroup weight so a shared machine's other jobs take little of the two cores), python3.
# Environment: PARLEY, STEADY (seconds per capacity step, default 10), LOAD_SESSIONS (300),
# IDLE_SESSIONS (1000), SKIP (space-separated parts to leave out: capacity cost memory
# complexity shards voice-floor srtp micro setup relay).
# About 12 minutes of measurement on a 2-core machine, after the builds.
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
parley=${PARLEY:-}
steady=${STEADY:-10}
load_sessions=${LOAD_SESSIONS:-300}
idle_sessions=${IDLE_SESSIONS:-1000}
skip=" ${SKIP:-} "
# Where Debian's own (NSS-based) libsrtp2 lives, for the runs that compare against it.
debian_srtp_dir=/usr/lib/$(gcc -print-multiarch)
started=$(date +%s)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log() { echo "run-all [$(( $(date +%s) - started )) s]: $*" >&2; }
wants() { [[ "$skip" != *" $1 "* ]]; }
# Seconds per part, for the summary: part_done NAME after each part.
part_started=$(date +%s)
: > "$out/timings.tsv"
part_done() {
    local now
    now=$(date +%s)
    printf '%s\t%s\n' "$1" $(( now - part_started )) >> "$out/timings.tsv"
    part_started=$now
}

log "builds"
if [[ -z "$parley" ]]; then
    swift build --package-path "$root" -c release --product parley > "$out/build.log" 2>&1 \
        || { echo "run-all: release build failed (see $out/build.log)" >&2; exit 1; }
    parley=$root/.build/release/parley
fi
[[ -x "$parley" ]] || { echo "run-all: no parley binary at $parley" >&2; exit 1; }
"$root/Benchmarks/pion-echo/build.sh" "$out/pion-echo" >/dev/null || exit 1
if wants micro; then
    swift build --package-path "$root/Benchmarks/Micro" -c release > "$out/micro-build.log" 2>&1 \
        || log "micro-benchmark build failed (see $out/micro-build.log)"
fi
part_done builds
capacity=("$root/Benchmarks/capacity.py" --parley "$parley" --pion "$out/pion-echo")

if wants capacity; then
    for server in parley-packet-echo pion parley-echo; do
        log "capacity search: $server"
        python3 "${capacity[@]}" search --server "$server" --start 100 --ramp 200 --steady "$steady" \
            --precision 0.15 --out "$out/capacity-$server" > "$out/capacity-$server.json"
    done
    part_done capacity
fi

if wants cost; then
    : > "$out/cost.jsonl"
    for server in parley-packet-echo pion parley-packet-echo pion parley-packet-echo pion; do
        log "cost at the same load: $load_sessions calls, $server"
        python3 "${capacity[@]}" fixed --server "$server" --sessions "$load_sessions" --ramp 200 --steady "$steady" \
            --out "$out/cost" >> "$out/cost.jsonl"
    done
    # The same transceiver on Debian's own libsrtp2 (NSS crypto), for what the OpenSSL build buys.
    if [[ -e "$debian_srtp_dir/libsrtp2.so.1" ]]; then
        log "cost at the same load: $load_sessions calls, parley-packet-echo on Debian's NSS libsrtp2"
        python3 "${capacity[@]}" fixed --server parley-packet-echo --sessions "$load_sessions" --ramp 200 \
            --steady "$steady" --env "LD_LIBRARY_PATH=$debian_srtp_dir" \
            --out "$out/cost" > "$out/cost-nss.json"
    fi
    part_done cost
fi

if wants memory; then
    for server in parley-packet-echo pion; do
        log "memory: $idle_sessions idle calls, $server"
        python3 "${capacity[@]}" idle --server "$server" --sessions "$idle_sessions" --ramp 100 --steady 5 \
            --out "$out/memory-$server" > "$out/memory-$server.json"
    done
    if [[ -e "$debian_srtp_dir/libsrtp2.so.1" ]]; then
        log "memory: $idle_sessions idle calls, parley-packet-echo on Debian's NSS libsrtp2"
        python3 "${capacity[@]}" idle --server parley-packet-echo --sessions "$idle_sessions" --ramp 100 --steady 5 \
            --env "LD_LIBRARY_PATH=$debian_srtp_dir" --out "$out/memory-nss" > "$out/memory-nss.json"
    fi
    part_done memory
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
    part_done complexity
fi

if wants shards; then
    for shards in 1 2; do
        cpus=0; [[ $shards == 2 ]] && cpus=0,1
        log "capacity search: parley-echo, $shards shard(s) on cores $cpus"
        python3 "${capacity[@]}" search --server parley-echo --shards "$shards" --server-cpus "$cpus" --start 50 \
            --ramp 100 --steady "$steady" --precision 0.1 --out "$out/shards-$shards" > "$out/shards-$shards.json"
    done
    part_done shards
fi

if wants voice-floor; then
    sessions=$(python3 -c "import json,sys
try: print(max(20, json.load(open(sys.argv[1]))['capacity'] // 2))
except (OSError, ValueError, KeyError): print(50)" "$out/shards-1.json")
    log "libopus alone on $sessions calls' frames"
    "$root/Benchmarks/opus-cost/run.sh" "$out/opus-cost" "$sessions" 5 > "$out/opus-cost.log" 2>&1 \
        || log "libopus cost benchmark failed (see $out/opus-cost.log)"
    : > "$out/voice-cost.jsonl"
    for _ in 1 2; do
        log "full-voice CPU per call: $sessions echo calls, one shard"
        python3 "${capacity[@]}" fixed --server parley-echo --shards 1 --sessions "$sessions" --ramp 100 \
            --steady "$steady" --out "$out/voice-cost" >> "$out/voice-cost.jsonl"
    done
    part_done voice-floor
fi

if wants srtp; then
    log "libsrtp2 crypto backends"
    "$root/Benchmarks/srtp-backend/run.sh" "$out/srtp-backend" > "$out/srtp-backend.log" 2>&1 \
        || log "SRTP backend benchmark failed (see $out/srtp-backend.log)"
    part_done srtp
fi

if wants micro; then
    log "micro-benchmarks"
    if swift package --package-path "$root/Benchmarks/Micro" --allow-writing-to-package-directory \
        benchmark --format markdown --no-progress > "$out/micro.md" 2> "$out/micro.err"; then
        :
    else
        log "micro-benchmarks did not run (see $out/micro.err)"
    fi
    part_done micro
fi

if wants setup; then
    log "call set-up time, Parley against Pion"
    "$root/Benchmarks/run_setup_bench.sh" "$parley" "$out/setup" > "$out/setup.log" 2>&1 || log "setup benchmark failed (see $out/setup.log)"
    log "call set-up time against the round-trip floor, through the relay"
    PARLEY="$parley" "$root/Benchmarks/setup_rtt.sh" "$out/setup-rtt" > "$out/setup-rtt.log" 2>&1 \
        || log "set-up RTT benchmark failed (see $out/setup-rtt.log)"
    part_done setup
fi

if wants relay; then
    log "relay against the C forwarder"
    PARLEY="$parley" "$root/Benchmarks/relay/run.sh" "$out/relay" > "$out/relay.log" 2>&1 || log "relay benchmark failed (see $out/relay.log)"
    part_done relay
fi

log "done; summary:"
python3 "$root/Benchmarks/summarize.py" "$out" | tee "$out/summary.md"
