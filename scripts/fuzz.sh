#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer with AddressSanitizer) of every parser of network or
# backend bytes and of the sans-IO cores that read them (Fuzz/README.md).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   Builds Fuzz/ with -sanitize=fuzzer,address, then runs each TARGET (default: all) for
#   SECONDS (default 60), one after the other. Each target's new inputs go to
#   out/fuzz/<target>/corpus (Fuzz/Corpus/<target> is read as seeds and left alone), its
#   fuzzer output to out/fuzz/<target>/fuzz.log, a crashing input to out/fuzz/<target>/crash-*.
#   Prints one line per target (executions, exec/s, coverage, corpus) and appends it to
#   out/fuzz/summary.tsv; exits 1 when any target crashed, leaked or timed out.
# Replay one input: PARLEY_FUZZ_TARGET=stun .build-fuzz/debug/parley-fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
scratch=.build-fuzz
binary=$scratch/debug/parley-fuzz
out=out/fuzz

mkdir -p "$scratch" "$out"
swift build --package-path Fuzz --scratch-path "$scratch" -c debug -Xswiftc -sanitize=fuzzer,address >"$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "fuzz.sh: the fuzz build failed (log: $out/build.log)" >&2
    exit 1
}

if [ $# -eq 0 ]; then
    read -r -a targets <<<"$(PARLEY_FUZZ_LIST=1 "$binary")"
else
    targets=("$@")
fi

failed=()
for target in "${targets[@]}"; do
    directory=$out/$target
    mkdir -p "$directory/corpus" Fuzz/Corpus/"$target"
    rm -f "$directory"/crash-* "$directory"/leak-* "$directory"/timeout-* "$directory"/oom-*
    status=0
    # Output to a file, not a pipe: piping libFuzzer into tail once hung after it exited.
    # Swift's own backtracer off: libFuzzer reports the trap and keeps the input.
    SWIFT_BACKTRACE=enable=no PARLEY_FUZZ_TARGET=$target "$binary" "$directory/corpus" "Fuzz/Corpus/$target" \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$directory/" >"$directory/fuzz.log" 2>&1 || status=$?
    last=$(grep -E '^#[0-9]+' "$directory/fuzz.log" | tail -1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$directory/fuzz.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$directory/fuzz.log")
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | cut -d' ' -f2 || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | cut -d' ' -f2 || true)
    corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)
    artifacts=$(find "$directory" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' \
        -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | sort | tr '\n' ' ')
    verdict=ok
    if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
        verdict="FAILED (exit $status) ${artifacts:-see $directory/fuzz.log}"
        failed+=("$target")
    fi
    line=$(printf '%s\t%ss\texecs %s\texec/s %s\tcov %s\tft %s\tcorpus %s\t%s' \
        "$target" "$seconds" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$verdict")
    echo "$line"
    printf '%s\t%s\n' "$(date -u +%FT%TZ)" "$line" >>"$out/summary.tsv"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
