#!/usr/bin/env bash
# Regenerates include/pcstore.h from src/ffi/ with cbindgen (installed into ~/.cargo/bin when
# missing). `--check` writes nothing and fails when the committed header is out of date.
#
# A script instead of build.rs: generating in build.rs would run cbindgen (and compile it as a
# build-dependency) on every build of every user, and a header that changes as a side effect of
# `cargo build` cannot be reviewed or diffed in CI. Here it changes only when someone runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
  cargo install cbindgen --locked --version "$CBINDGEN_VERSION" >&2
fi

fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
# Only src/ffi/ is parsed (as if it were a crate root): the core is not part of the ABI.
cbindgen --quiet --config cbindgen.toml --output "$fresh" src/ffi/mod.rs

if [ "${1:-}" = "--check" ]; then
  if ! diff -u include/pcstore.h "$fresh"; then
    echo "include/pcstore.h is out of date: run scripts/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "include/pcstore.h is up to date"
else
  cp "$fresh" include/pcstore.h
  echo "wrote include/pcstore.h"
fi
