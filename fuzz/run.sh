#!/usr/bin/env bash
# Builds the cargo-fuzz targets of phoenix-proto with the nightly toolchain
# and runs each one for SECONDS seconds (default 30), starting from the
# committed seeds in fuzz/seeds/<target>/ (copied into fuzz/corpus/<target>/,
# which is git-ignored and grows with the inputs libFuzzer finds).
#
# Usage: fuzz/run.sh [SECONDS]
# Exits non-zero when a target crashes (the input is left in fuzz/artifacts/).
set -euo pipefail

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS]   (a positive whole number of seconds per target; default 30)" >&2
    exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz_dir")"
targets=(decode_text decode_binary state_machine)

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; install Rust with rustup: https://rustup.rs" >&2
    exit 3
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: the nightly toolchain is missing (cargo-fuzz needs it); install it with:" >&2
    echo "    rustup toolchain install nightly" >&2
    exit 3
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "error: cargo-fuzz is missing; install it with:" >&2
    echo "    cargo install cargo-fuzz" >&2
    exit 3
fi

cd "$root"
echo "==> building fuzz targets: ${targets[*]}"
for target in "${targets[@]}"; do
    cargo +nightly fuzz build "$target"
done

status=0
for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    mkdir -p "$corpus"
    # libFuzzer writes new inputs into the first corpus directory, so run on
    # a copy of the seeds, never on fuzz/seeds itself.
    cp -n "$fuzz_dir/seeds/$target/"* "$corpus/" 2>/dev/null || true
    echo "==> fuzzing $target for ${seconds}s (corpus: fuzz/corpus/$target)"
    if ! cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$seconds"; then
        echo "error: fuzz target $target failed; the crashing input is in fuzz/artifacts/$target/" >&2
        status=1
    fi
done

if [ "$status" -eq 0 ]; then
    echo "==> all fuzz targets ran ${seconds}s each without a crash"
fi
exit "$status"
