#!/usr/bin/env bash
# Builds libpcstore and installs it under PREFIX:
#   PREFIX/bin/pcstore, the command-line tool (cli/)
#   PREFIX/lib/libpcstore.so.<version> (+ libpcstore.so.0, libpcstore.so links), libpcstore.a
#   PREFIX/include/pcstore.h, pcstore_vulkan.h, pcstore_loader.h, pcstore.hpp
#   PREFIX/lib/pkgconfig/pcstore.pc, PREFIX/lib/cmake/pcstore/pcstoreConfig*.cmake
#   PREFIX/share/vulkan/{explicit,implicit}_layer.d/VK_LAYER_PCSTORE_pipeline_cache.json, the
#   Vulkan layer manifests, naming the installed library by absolute path
# Usage: scripts/install.sh PREFIX [--debug]   (release build unless --debug)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${1:?usage: scripts/install.sh PREFIX [--debug]}
profile=release
[ "${2:-}" = "--debug" ] && profile=debug

if [ "$profile" = release ]; then cargo build --lib --release; else cargo build --lib; fi
if [ "$profile" = release ]; then cargo build -p pcstore-cli --release; else cargo build -p pcstore-cli; fi
version=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
built=target/$profile

mkdir -p "$prefix/bin" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/pcstore" "$prefix/include"
install -m 0755 "$built/pcstore" "$prefix/bin/pcstore"
install -m 0755 "$built/libpcstore.so" "$prefix/lib/libpcstore.so.$version"
ln -sf "libpcstore.so.$version" "$prefix/lib/libpcstore.so.0"
ln -sf "libpcstore.so.0" "$prefix/lib/libpcstore.so"
install -m 0644 "$built/libpcstore.a" "$prefix/lib/libpcstore.a"
install -m 0644 include/pcstore.h include/pcstore_vulkan.h bindings/c/pcstore_loader.h bindings/cpp/pcstore.hpp "$prefix/include/"
sed "s/@VERSION@/$version/" packaging/pcstore.pc.in >"$prefix/lib/pkgconfig/pcstore.pc"
install -m 0644 packaging/pcstoreConfig.cmake "$prefix/lib/cmake/pcstore/"
sed "s/@VERSION@/$version/" packaging/pcstoreConfigVersion.cmake.in \
  >"$prefix/lib/cmake/pcstore/pcstoreConfigVersion.cmake"
for kind in explicit implicit; do
  manifest=bindings/vulkan-layer/VK_LAYER_PCSTORE_pipeline_cache.json
  [ "$kind" = implicit ] && manifest=bindings/vulkan-layer/VK_LAYER_PCSTORE_pipeline_cache_implicit.json
  mkdir -p "$prefix/share/vulkan/${kind}_layer.d"
  sed "s#\"libpcstore.so\"#\"$(cd "$prefix/lib" && pwd)/libpcstore.so.0\"#" "$manifest" \
    >"$prefix/share/vulkan/${kind}_layer.d/VK_LAYER_PCSTORE_pipeline_cache.json"
done
echo "installed pcstore $version ($profile) into $prefix"
