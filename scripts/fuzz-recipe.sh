#!/usr/bin/env bash
# Fuzzes the recipe parser (fuzz/fuzz_targets/parse_recipe.rs: parse, re-serialize, build) for a
# bounded time, starting from real recipes (fuzz/seeds/parse_recipe). Usage:
# scripts/fuzz-recipe.sh [SECONDS] (default 60).
#
# As scripts/fuzz-disk.sh: cargo-fuzz needs nightly-only compiler flags, so RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them; cargo-fuzz is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus/parse_recipe
mkdir -p "$corpus"
cd fuzz
cargo fuzz build parse_recipe
cargo fuzz run parse_recipe "../$corpus" seeds/parse_recipe -- -max_total_time="$seconds" -timeout=10
