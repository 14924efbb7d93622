#!/usr/bin/env bash
# Regenerates include/pcstore.h and include/pcstore_vulkan.h from src/ffi/ with cbindgen 0.29.4
# (the one on PATH, else a copy installed under target/tools, ~1 min the first time). `--check`
# writes nothing and fails when a committed header is out of date.
#
# A script instead of build.rs: generating in build.rs would run cbindgen (and compile it as a
# build-dependency) on every build of every user, and a header that changes as a side effect of
# `cargo build` cannot be reviewed or diffed in CI. Here it changes only when someone runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: another cbindgen version may format the header differently and fail the check.
CBINDGEN_VERSION=0.29.4
cbindgen=cbindgen
if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
  # A private copy under target/, so a developer's own cbindgen is left alone.
  cbindgen=target/tools/bin/cbindgen
  if [ ! -x "$cbindgen" ] || [ "$("$cbindgen" --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
    cargo install cbindgen --locked --version "$CBINDGEN_VERSION" --root target/tools >&2
  fi
fi

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
# Only src/ffi/ is parsed (as if it were a crate root): the core is not part of the ABI.
# pcstore.h: src/ffi/ without its Vulkan module; pcstore_vulkan.h: that module alone, so the main
# header never needs <vulkan/vulkan.h>.
"$cbindgen" --quiet --config cbindgen.toml --output "$fresh/pcstore.h" src/ffi/mod.rs
"$cbindgen" --quiet --config cbindgen-vulkan.toml --output "$fresh/pcstore_vulkan.h" src/ffi/vulkan.rs

status=0
for header in pcstore.h pcstore_vulkan.h; do
  if [ "${1:-}" = "--check" ]; then
    if ! diff -u "include/$header" "$fresh/$header"; then
      echo "include/$header is out of date: run scripts/gen-header.sh and commit it" >&2
      status=1
    else
      echo "include/$header is up to date"
    fi
  else
    cp "$fresh/$header" "include/$header"
    echo "wrote include/$header"
  fi
done
exit $status
