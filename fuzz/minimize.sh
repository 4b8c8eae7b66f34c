#!/usr/bin/env bash
# Folds what a fuzz campaign found (fuzz/corpus/<target>/, git-ignored) into
# the committed seeds (fuzz/seeds/<target>/), minimised: the hand-written
# seeds (the files not named by a SHA-1) are always kept, and libFuzzer's
# greedy set cover adds the fewest inputs that reach every coverage edge the
# campaign reached (edges, not hit counts: -use_counters=0, which keeps the
# seeds to a few hundred small files).
#
# Usage: fuzz/minimize.sh TARGET...   (after fuzz/run.sh or a longer run)
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$fuzz_dir")"
if [ "$#" -eq 0 ]; then
    echo "usage: $0 TARGET...   (decode_text decode_binary state_machine)" >&2
    exit 2
fi

for target in "$@"; do
    seeds="fuzz/seeds/$target"
    corpus="fuzz/corpus/$target"
    if [ ! -d "$seeds" ]; then
        echo "error: no $seeds: is $target a fuzz target?" >&2
        exit 2
    fi
    mkdir -p "$corpus"
    new="$(mktemp -d)"
    # libFuzzer keeps every file already in the first directory.
    find "$seeds" -maxdepth 1 -type f ! -regex '.*/[0-9a-f]\{40\}' -exec cp {} "$new/" \;
    cargo +nightly fuzz run "$target" "$new" "$seeds" "$corpus" -- \
        -set_cover_merge=1 -use_counters=0 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files' || true
    if [ -z "$(ls -A "$new")" ]; then
        echo "error: the merge for $target left nothing; $seeds is unchanged" >&2
        rm -rf "$new"
        exit 1
    fi
    rm -rf "$seeds"
    mkdir -p "$seeds"
    cp "$new"/* "$seeds/"
    rm -rf "$new"
    echo "$target: $(find "$seeds" -type f | wc -l) seeds, $(cat "$seeds"/* | wc -c) bytes"
done
