#!/usr/bin/env bash
# The README's first command: installs what the demo needs (the Vulkan loader and Mesa's CPU
# driver lavapipe, as Debian packages; needs root), then runs the Vulkan demo, which launches
# itself twice so the second launch loads what the first one saved.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release --example vulkan_demo
