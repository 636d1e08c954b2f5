#!/usr/bin/env bash
# Writes the seeds Parley's own encoders make (Fuzz/Sources/ParleyFuzz/Seeds.swift) into
# Fuzz/Corpus/<target>/gen-*, replacing the old ones. Captured seeds (no gen- prefix) stay.
# Usage: scripts/fuzz-seeds.sh   (after scripts/fuzz.sh has built .build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=.build-fuzz/debug/parley-fuzz
read -r -a targets <<<"$(PARLEY_FUZZ_LIST=1 "$binary")"
for target in "${targets[@]}"; do
    mkdir -p Fuzz/Corpus/"$target"
    rm -f Fuzz/Corpus/"$target"/gen-*
    # Swift keeps enum payload pointers with tag bits LeakSanitizer cannot follow: no leak check.
    ASAN_OPTIONS=detect_leaks=0 PARLEY_FUZZ_TARGET=$target PARLEY_FUZZ_WRITE_SEEDS=Fuzz/Corpus/$target "$binary" >/dev/null
    echo "$target: $(ls Fuzz/Corpus/"$target" | wc -l) seeds"
done
