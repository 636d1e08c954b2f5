#!/usr/bin/env bash
# libopus alone on one call's frames (opus_cost.c): the floor a full-voice call's CPU is
# compared against. Builds the program, runs it pinned to core 0 at Parley's encoder
# complexity, three times, and writes the runs as JSON lines.
#
#   Benchmarks/opus-cost/run.sh OUT_DIR [SESSIONS] [COMPLEXITY]   writes OUT_DIR/opus-cost.jsonl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
sessions=${2:-100}
complexity=${3:-5}
gcc -O2 -Wall -o "$out/opus_cost" "$here/opus_cost.c" -lopus -lm
: > "$out/opus-cost.jsonl"
for _ in 1 2 3; do
    taskset -c 0 "$out/opus_cost" "$sessions" 50000 "$complexity" >> "$out/opus-cost.jsonl"
done
cat "$out/opus-cost.jsonl"
