#!/usr/bin/env bash
# Installs the system packages the tests need (Debian 12), non-interactively, only if missing.
# Needs root (CI runs as root); a developer without root can install the same list by hand.
set -euo pipefail

packages=(
  # Compilers, nm/readelf and libc headers: the C/C++ ABI tests (scripts/test-c.sh), the layer's
  # C test application, libFuzzer (built by cargo-fuzz).
  gcc
  g++
  libc6-dev
  binutils
  # C ABI: valgrind runs, pkg-config and CMake find_package builds of the examples.
  valgrind
  pkg-config
  cmake
  # Remote tier: two loopback WebDAV servers (nginx; Apache httpd with mod_dav, whose
  # apache2-bin package installs no service) and the curl baseline of its benchmark.
  nginx
  apache2-bin
  curl
  # Vulkan adapter and layer: the loader (and its headers for the C tests, vk_layer.h for the
  # layer's layout check), Mesa lavapipe, the Khronos validation layer. SwiftShader comes from
  # scripts/vulkan-drivers.sh.
  libvulkan1
  libvulkan-dev
  mesa-vulkan-drivers
  vulkan-validationlayers
  # The layer with real applications that keep their own pipeline cache: vkcube and vkcubepp
  # (vulkan-tools), windowed, under a virtual X server (xvfb).
  vulkan-tools
  xvfb
  # Disk tier: the ENOSPC/EROFS tests mount a tmpfs; the coarse-timestamp test makes an ext2
  # image (mkfs.ext2) and loop-mounts it; the other-user tests create a user (useradd) whose
  # processes hold a lock (flock).
  mount
  e2fsprogs
  passwd
  util-linux
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
