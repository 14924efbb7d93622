#!/usr/bin/env bash
# Installs the system packages the tests need (Debian 12), non-interactively, only if missing.
# Needs root (CI runs as root); a developer without root can install the same list by hand.
set -euo pipefail

packages=(
  pkg-config
  # C ABI tests (scripts/test-c.sh): compilers, nm/readelf, valgrind, CMake find_package.
  gcc
  g++
  binutils
  valgrind
  cmake
  # Remote tier tests and benchmark: a loopback WebDAV server and the curl baseline.
  nginx
  curl
  # Vulkan adapter tests (tests/vulkan.rs): the loader, Mesa lavapipe, the Khronos validation
  # layer. SwiftShader comes from scripts/vulkan-drivers.sh.
  libvulkan1
  # The Vulkan C test (tests/c/test_vulkan.c) compiles against <vulkan/vulkan.h>, links -lvulkan.
  libvulkan-dev
  mesa-vulkan-drivers
  vulkan-validationlayers
  # disk tier: the ENOSPC/EROFS tests mount a tmpfs; cargo-fuzz builds libFuzzer (C++)
  mount
  g++
  # Vulkan layer tests (tests/layer.rs): vk_layer.h and libvulkan.so for the C test application
  # (cc ... -lvulkan), nm for the export check.
  libvulkan-dev
  gcc
  libc6-dev
  binutils
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
