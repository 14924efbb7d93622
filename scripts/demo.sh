#!/usr/bin/env bash
# The README's first command: installs what the demo needs (the Vulkan loader, Mesa's CPU
# driver lavapipe and a C compiler, as Debian packages; needs root), then
#  1. runs the Vulkan demo, which launches itself twice so the second launch loads what the
#     first one saved (the adapter an engine calls);
#  2. runs an unmodified application (the layer tests' C application, which knows nothing of
#     pcstore) twice under the layer on SwiftShader, and prints the hit rate the driver reported
#     (creation feedback) from the layer's log and from the history `pcstore info` shows;
#  3. records that application's pipelines through the layer on lavapipe (on by default),
#     replays them with `pcstore replay` for SwiftShader (a "new driver": the driver is chosen by
#     VK_DRIVER_FILES, as the tests do), and shows the application's first launch on SwiftShader
#     loading the cache the replay made (the layer's "load Hit" log line).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release --example vulkan_demo

echo
echo "== The layer under an unmodified application, on SwiftShader =="
eval "$(bash scripts/vulkan-drivers.sh)"
# The tool and the cdylib the layer manifest names, in one build (one set of features, the
# default ones, the layer included).
cargo build --release -p pcstore -p pcstore-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp target/release/libpcstore.so "$work/"
mkdir -p "$work/layers"
sed "s#\"libpcstore.so\"#\"$work/libpcstore.so\"#" \
  bindings/vulkan-layer/VK_LAYER_PCSTORE_pipeline_cache.json >"$work/layers/pcstore.json"
cc -O1 -o "$work/app" tests/layer/app.c -lvulkan -lpthread

for launch in 1 2; do
  # Each launch creates 4 threads x 8 compute pipelines twice over (APP_REPEAT=2), with
  # VK_NULL_HANDLE as the cache: the layer substitutes its own, loaded from the store.
  env VK_DRIVER_FILES="$PCSTORE_TEST_SWIFTSHADER_ICD" VK_ICD_FILENAMES="$PCSTORE_TEST_SWIFTSHADER_ICD" \
    VK_LAYER_PATH="$work/layers" VK_INSTANCE_LAYERS=VK_LAYER_PCSTORE_pipeline_cache \
    PCSTORE_DIR="$work/store" PCSTORE_LOG=1 APP_REPEAT=2 \
    "$work/app" tests/shaders/fill.comp.spv >"$work/out.$launch" 2>"$work/log.$launch"
  echo "launch $launch:"
  grep -E 'pcstore-layer: device .*(: load |creation feedback|history)' "$work/log.$launch" |
    sed 's/^pcstore-layer: /  /'
  rate=$(sed -nE 's/.*history: run ([0-9]+) recorded \(([0-9]+) of ([0-9]+) measured creations.*/\1 \2 \3/p' \
    "$work/log.$launch")
  if [ -z "$rate" ]; then
    echo "the layer recorded no run (no creation feedback?): see $work/log.$launch" >&2
    trap - EXIT
    exit 1
  fi
  read -r run hits total <<<"$rate"
  awk -v run="$run" -v hits="$hits" -v total="$total" 'BEGIN {
    printf "  driver-reported hit rate, run %d: %d of %d measured creations (%.0f %%)\n", run, hits, total, 100 * hits / total }'
done

echo
echo "pcstore info (the history record: the last 32 runs per device and application):"
target/release/pcstore --dir "$work/store" info | sed 's/^/  /'

cat <<'EOF'

What this shows: every pipeline the application created reported, through
VK_EXT_pipeline_creation_feedback, whether the driver served it from the pipeline cache the
layer gave it. The hits above are real driver-reported hits, but within one process:
SwiftShader sets the hit bit when a pipeline is created a second time with the same cache (the
application's second round, and its repeat of the first pipeline); each pipeline's first
creation is a miss, in the first launch and in the second alike.

What it cannot show: a hit across launches. Neither CPU driver here (SwiftShader, lavapipe)
keeps compiled code in the data vkGetPipelineCacheData returns, so what the first launch saved
cannot spare the second one a compilation, and the second launch's first creations are misses
again. The same record on a GPU driver that keeps compiled pipelines in its blobs (NVIDIA,
RADV, ANV) is where "run 2: N of N measured creations from cache" and the creation time against the cold
run show the cache paying off; on such a machine `pcstore info` after two launches says it.
EOF

echo
echo "== A replay makes a new driver's first launch warm =="
# Recorded on lavapipe, into a store of its own (no SwiftShader cache in it yet).
env VK_DRIVER_FILES="$PCSTORE_TEST_LAVAPIPE_ICD" VK_ICD_FILENAMES="$PCSTORE_TEST_LAVAPIPE_ICD" \
  VK_LAYER_PATH="$work/layers" VK_INSTANCE_LAYERS=VK_LAYER_PCSTORE_pipeline_cache \
  PCSTORE_DIR="$work/recorded" PCSTORE_LOG=1 MESA_SHADER_CACHE_DISABLE=true \
  "$work/app" tests/shaders/fill.comp.spv >"$work/out.record" 2>"$work/log.record"
echo "recorded on lavapipe:"
if ! grep -E 'pcstore-layer: recording recipes' "$work/log.record" | sed 's/^pcstore-layer: /  /'; then
  echo "the layer did not record: see $work/log.record" >&2
  trap - EXIT
  exit 1
fi
# The replay: no layer, SwiftShader as the machine's driver.
echo "pcstore replay, for SwiftShader:"
env -u VK_INSTANCE_LAYERS VK_DRIVER_FILES="$PCSTORE_TEST_SWIFTSHADER_ICD" \
  VK_ICD_FILENAMES="$PCSTORE_TEST_SWIFTSHADER_ICD" \
  target/release/pcstore --dir "$work/recorded" replay --workers 1 | sed 's/^/  /'
# The application's first launch on SwiftShader, recording off.
env VK_DRIVER_FILES="$PCSTORE_TEST_SWIFTSHADER_ICD" VK_ICD_FILENAMES="$PCSTORE_TEST_SWIFTSHADER_ICD" \
  VK_LAYER_PATH="$work/layers" VK_INSTANCE_LAYERS=VK_LAYER_PCSTORE_pipeline_cache \
  PCSTORE_DIR="$work/recorded" PCSTORE_LOG=1 PCSTORE_RECORD=0 \
  "$work/app" tests/shaders/fill.comp.spv >"$work/out.first" 2>"$work/log.first"
echo "first launch on SwiftShader:"
if ! grep -E 'pcstore-layer: device .*: load Hit' "$work/log.first" | sed 's/^pcstore-layer: /  /'; then
  echo "the first launch did not load the replayed cache: see $work/log.first" >&2
  trap - EXIT
  exit 1
fi

cat <<'EOF'

What the replay shows: the application never ran on SwiftShader before, yet its first launch
there loaded a cache ("load Hit", with the bytes the replay saved) under exactly the key the
layer looks up, because the replay rebuilt the pipelines recorded on lavapipe on SwiftShader.
What it cannot show here: a faster first launch. CPU drivers keep little in their cache blobs
(SwiftShader and lavapipe save a header and no compiled code across processes), so the warm
launch still compiles every pipeline; on a GPU driver that keeps compiled pipelines in its
blobs, the same replay spares the first launch after a driver update its compilations.
EOF
