#!/usr/bin/env bash
# Runs every pcstore test on a fresh Debian 12 machine: installs what it needs, checks format and
# lints, then runs the Rust, C and multi-process tests. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== format and lints"
cargo fmt --check
cargo clippy --all-targets --all-features -- -D warnings

echo "== Rust tests"
cargo test --all-features

# ---- C ABI (issue 4): header freshness and compile checks, exported symbols, the C and C++
# tests linked / static / via dlopen, under ASan+UBSan and valgrind, pkg-config and CMake.
echo "== C ABI tests"
bash scripts/test-c.sh
