#!/usr/bin/env bash
# Makes the two CPU Vulkan drivers the tests run on available, and prints where their ICD files are.
#
#  - Mesa lavapipe comes from `mesa-vulkan-drivers` (installed by scripts/install-deps.sh).
#  - SwiftShader ships inside Debian's `chromium-common`; installing Chromium is not needed:
#    the .deb is downloaded and unpacked into a cache folder, and a copy of its ICD json is
#    rewritten to point at the unpacked library by absolute path (the shipped json names the
#    library relative to its own folder on some builds and by absolute /usr/lib path on others).
#
# Output (stdout, for `eval`): PCSTORE_TEST_LAVAPIPE_ICD=... and PCSTORE_TEST_SWIFTSHADER_ICD=...
# Cache folder: $PCSTORE_SWIFTSHADER_DIR, default target/swiftshader (reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."

lavapipe_icd=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
if [ ! -f "$lavapipe_icd" ]; then
  echo "lavapipe ICD missing at $lavapipe_icd (install mesa-vulkan-drivers)" >&2
  exit 1
fi

cache_dir="${PCSTORE_SWIFTSHADER_DIR:-$PWD/target/swiftshader}"
icd_out="$cache_dir/pcstore_swiftshader_icd.json"
library="$cache_dir/root/usr/lib/chromium/libvk_swiftshader.so"
if [ ! -f "$icd_out" ] || [ ! -f "$library" ]; then
  mkdir -p "$cache_dir/download"
  rm -rf "$cache_dir/root"
  # Package lists may be missing on a fresh machine: update once and retry.
  (cd "$cache_dir/download" && rm -f chromium-common_*.deb &&
    { apt-get download -qq chromium-common >&2 2>/dev/null ||
      { apt-get update -qq >&2 && apt-get download -qq chromium-common >&2; }; })
  deb=$(ls "$cache_dir"/download/chromium-common_*.deb | head -n 1)
  dpkg -x "$deb" "$cache_dir/root"
  rm -f "$deb"
  if [ ! -f "$library" ]; then
    echo "chromium-common no longer ships $library" >&2
    exit 1
  fi
  shipped="$cache_dir/root/usr/lib/chromium/vk_swiftshader_icd.json"
  # Keep the shipped file's api_version; replace only the library path.
  sed -E "s#\"library_path\"[[:space:]]*:[[:space:]]*\"[^\"]*\"#\"library_path\": \"$library\"#" \
    "$shipped" >"$icd_out.tmp"
  grep -q "\"library_path\": \"$library\"" "$icd_out.tmp" || {
    echo "could not rewrite library_path in $shipped" >&2
    exit 1
  }
  mv "$icd_out.tmp" "$icd_out"
fi

echo "PCSTORE_TEST_LAVAPIPE_ICD=$lavapipe_icd"
echo "PCSTORE_TEST_SWIFTSHADER_ICD=$icd_out"
