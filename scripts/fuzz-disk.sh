#!/usr/bin/env bash
# Fuzzes opening a disk store from arbitrary file bytes (fuzz/fuzz_targets/open_store.rs) for a
# bounded time; or another target of fuzz/fuzz_targets/ (open_bundle: a bundle file).
# Usage: scripts/fuzz-disk.sh [SECONDS] [TARGET] (default 60 s, open_store).
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer); only stable Rust is installed, so
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. Installs cargo-fuzz if missing (~1 min).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
target="${2:-open_store}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus/$target
mkdir -p "$corpus"
# Each input is written to a scratch directory: keep that in memory, not on the disk.
export TMPDIR="${TMPDIR:-/dev/shm}"
cd fuzz
cargo fuzz build "$target"
# -malloc_limit_mb: no allocation may be sized by what a file claims (entries are at most 64 MiB).
cargo fuzz run "$target" "../$corpus" "seeds/$target" -- -max_total_time="$seconds" -timeout=10 \
  -malloc_limit_mb=128
