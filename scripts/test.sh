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

# == Disk tier (src/disk). Its ENOSPC / read-only-filesystem tests mount a tmpfs, which needs
# root; under CI=true they fail rather than skip when they cannot, so run them so here. Then fuzz
# opening a store from arbitrary file bytes for 30 s (cargo-fuzz on stable via RUSTC_BOOTSTRAP;
# the first run installs cargo-fuzz, about a minute).
echo "== disk tier: file-system failures as CI, fuzzing (30 s)"
CI=true cargo test --test disk_fs_errors
bash scripts/fuzz-disk.sh 30
