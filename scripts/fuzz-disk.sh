#!/usr/bin/env bash
# Fuzzes opening a disk store from arbitrary file bytes (fuzz/fuzz_targets/open_store.rs) for a
# bounded time. Usage: scripts/fuzz-disk.sh [SECONDS] (default 60).
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer); only stable Rust is installed, so
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. Installs cargo-fuzz if missing (~1 min).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus/open_store
mkdir -p "$corpus"
# Each input is written to a scratch directory: keep that in memory, not on the disk.
export TMPDIR="${TMPDIR:-/dev/shm}"
cd fuzz
cargo fuzz build open_store
# -malloc_limit_mb: no allocation may be sized by what a file claims (entries are at most 64 MiB).
cargo fuzz run open_store "../$corpus" seeds/open_store -- -max_total_time="$seconds" -timeout=10 \
  -malloc_limit_mb=128
