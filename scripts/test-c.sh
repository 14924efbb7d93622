#!/usr/bin/env bash
# C ABI tests: builds libpcstore (debug) and checks, from the outside, what a C/C++ engine sees:
# the committed header is current and compiles as C99 and C++17 with -Wall -Wextra -Werror
# -pedantic; the shared library has SONAME libpcstore.so.0 and exports only pcs_*; the C test
# (tests/c/test_abi.c) passes linked dynamically, statically and through the dlopen loader,
# under AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind; the C++ wrapper test
# passes the same way; an install tree works with pkg-config and CMake find_package; the disk
# tests run across two processes once the library exports pcs_store_open_disk; the bundle test
# opens the committed fixtures and damaged copies of them; the Vulkan C test
# runs on lavapipe and SwiftShader with the validation layer (see its section).
# Needs: gcc, g++, valgrind, cmake, pkg-config, the Vulkan packages (scripts/install-deps.sh).
# About 4 minutes (half of it the Vulkan test under valgrind).
#
# Why both sanitizers and valgrind: the Rust code is not compiled with ASan (that needs a
# nightly compiler), so ASan sees the C side's accesses plus every malloc/free (leaks, double
# frees, a C caller reading a released blob), while valgrind also checks the Rust side's reads
# and writes.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/c-tests
rm -rf "$out"
mkdir -p "$out/log" "$out/lib"

passed=0
failed=0
# step NAME COMMAND...: runs one check, logs its output, counts it.
step() {
  local name=$1
  shift
  if "$@" >"$out/log/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name (log: $out/log/$name.log)"
    tail -n 40 "$out/log/$name.log" | sed 's/^/     /'
  fi
}

echo "== building libpcstore (debug)"
# The native libraries a static link needs, as rustc reports them; packaging must list the same.
native_libs=$(cargo rustc --lib --quiet --crate-type staticlib -- --print native-static-libs 2>&1 |
  sed -n 's/.*native-static-libs: //p')
cargo build --lib --quiet || { echo "0 passed, 1 failed (cargo build)"; exit 1; }
so=$root/target/debug/libpcstore.so
static=$root/target/debug/libpcstore.a
# The dynamic linker looks for the SONAME; tests find it through an rpath to this directory.
ln -sf "$so" "$out/lib/libpcstore.so.0"
ln -sf "$so" "$out/lib/libpcstore.so"
strict_c="-std=c99 -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L -g"
strict_cxx="-std=c++17 -Wall -Wextra -Werror -pedantic -g"
inc="-I$root/include -I$root/bindings/c -I$root/bindings/cpp"
link_so="-L$out/lib -lpcstore -Wl,-rpath,$out/lib -lpthread"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
valgrind="valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible"

# ---- header and library shape
step header_is_generated scripts/gen-header.sh --check
header_compiles() {
  printf '#include "pcstore.h"\n#include "pcstore_loader.h"\nint main(void) { return PCS_OK; }\n' >"$out/h.c"
  printf '#include "pcstore.hpp"\n#include "pcstore_loader.h"\nint main() { return PCS_OK; }\n' >"$out/h.cpp"
  gcc $strict_c $inc -c "$out/h.c" -o "$out/h.o" &&
    g++ $strict_cxx $inc -c "$out/h.cpp" -o "$out/hpp.o" &&
    g++ $strict_cxx $inc -x c++ -c "$out/h.c" -o "$out/hc.o" # the C header alone, as C++
}
step header_compiles_c99_and_cxx17 header_compiles
header_is_prefixed() {
  # Every macro, type (function-pointer types included) and function the header declares is
  # pcs_/PCS_-prefixed, and it needs no Vulkan header.
  ! grep -i 'vulkan/\|#include <vk' include/pcstore.h &&
    ! grep -E '^#define ' include/pcstore.h | grep -vE '^#define (PCS_|PCSTORE_H)' &&
    ! grep -E '^typedef ' include/pcstore.h |
      grep -vE '(pcs_[a-z_]+;|struct pcs_[a-z_]+ \{|^typedef [a-z0-9_]+ \(\*pcs_[a-z_]+\)\(.*\);)$' &&
    ! grep -E '^[a-z].*\(' include/pcstore.h |
      grep -vE '^(const )?[a-z0-9_]+ \*?pcs_[a-z_]+\(|^typedef [a-z0-9_]+ \(\*pcs_[a-z_]+\)\('
}
step header_names_are_prefixed header_is_prefixed
step soname_is_libpcstore_so_0 sh -c "readelf -d '$so' | grep -q 'SONAME.*\[libpcstore.so.0\]'"
exports_only_pcs() {
  # pcs_* plus the Vulkan layer's one entry point (feature `layer`, on by default). Never
  # vkGetInstanceProcAddr/vkGetDeviceProcAddr: an app also linked with -lvulkan would bind them.
  local symbols
  symbols=$(nm -D --defined-only "$so" | awk '{print $3}')
  echo "$symbols"
  [ "$(echo "$symbols" | grep -c '^pcs_')" -ge 20 ] &&
    echo "$symbols" | grep -qx vkNegotiateLoaderLayerInterfaceVersion &&
    ! echo "$symbols" | grep -v -e '^pcs_' -e '^vkNegotiateLoaderLayerInterfaceVersion$'
}
step exports_only_pcs_and_the_layer_entry exports_only_pcs
native_libs_are_documented() {
  # pcstore.pc, the CMake config and the README name what rustc says a static link needs.
  local cmake_list
  cmake_list=$(echo "$native_libs" | sed 's/-l//g; s/ /;/g; s/;c$//')
  echo "rustc: $native_libs"
  [ -n "$native_libs" ] &&
    grep -qF "Libs.private: $native_libs" packaging/pcstore.pc.in &&
    grep -qF "INTERFACE_LINK_LIBRARIES \"$cmake_list\"" packaging/pcstoreConfig.cmake &&
    grep -qF -- "$native_libs" README.md
}
step native_static_libs_are_documented native_libs_are_documented
api_table_is_complete() {
  # pcs_api has one entry per exported function except pcs_get_api itself and the Vulkan
  # functions (pcs_vk_*, reached through its get_vk_api entry).
  local exported entries
  exported=$(nm -D --defined-only "$so" | grep ' pcs_' | grep -vc ' pcs_vk_')
  entries=$(awk '/^typedef struct pcs_api \{/,/^\} pcs_api;/' include/pcstore.h | grep -c '(\*')
  echo "exported $exported, pcs_api entries $entries"
  [ "$entries" -eq $((exported - 1)) ]
}
step api_table_has_every_function api_table_is_complete

# ---- the C test, four ways
step c_build_linked gcc $strict_c $inc tests/c/test_abi.c -o "$out/abi" $link_so
step c_links_by_soname sh -c "readelf -d '$out/abi' | grep -q 'NEEDED.*\[libpcstore.so.0\]'"
step c_run_linked "$out/abi"
step c_build_static gcc $strict_c $inc tests/c/test_abi.c -o "$out/abi_static" "$static" $native_libs
step c_static_has_no_libpcstore_dependency sh -c "! readelf -d '$out/abi_static' | grep -q libpcstore"
step c_run_static "$out/abi_static"
step c_build_dlopen gcc $strict_c $inc -DPCS_TEST_DLOPEN tests/c/test_abi.c -o "$out/abi_dlopen" -ldl -lpthread
step c_run_dlopen "$out/abi_dlopen" "$so"
step c_build_asan_ubsan gcc $strict_c $inc $sanitize tests/c/test_abi.c -o "$out/abi_asan" $link_so
# Proof the sanitizers are really in the binary, not silently dropped.
step c_asan_ubsan_linked sh -c "nm '$out/abi_asan' | grep -q __asan_init && nm '$out/abi_asan' | grep -q __ubsan_handle"
step c_run_asan_ubsan "$out/abi_asan"
step c_build_asan_dlopen gcc $strict_c $inc $sanitize -DPCS_TEST_DLOPEN tests/c/test_abi.c -o "$out/abi_asan_dlopen" -ldl -lpthread
step c_run_asan_ubsan_dlopen "$out/abi_asan_dlopen" "$so"
step c_run_valgrind $valgrind "$out/abi"
step c_run_valgrind_dlopen $valgrind "$out/abi_dlopen" "$so"

# ---- the C++ wrapper
step cpp_build g++ $strict_cxx $inc tests/cpp/test_wrapper.cpp -o "$out/cpp" $link_so
step cpp_run "$out/cpp"
step cpp_build_no_exceptions g++ $strict_cxx -fno-exceptions $inc tests/cpp/test_wrapper.cpp -o "$out/cpp_noexcept" $link_so
step cpp_run_no_exceptions "$out/cpp_noexcept"
step cpp_build_asan_ubsan g++ $strict_cxx $sanitize $inc tests/cpp/test_wrapper.cpp -o "$out/cpp_asan" $link_so
step cpp_run_asan_ubsan "$out/cpp_asan"
step cpp_run_valgrind $valgrind "$out/cpp"

# ---- packaging: an install tree, used through pkg-config and CMake
prefix=$out/prefix
step install scripts/install.sh "$prefix" --debug
# The installed tool runs and finds the store PCSTORE_DIR names.
installed_tool() {
  local store=$out/tool-store
  rm -rf "$store" && mkdir -m 0700 "$store" &&
    PCSTORE_DIR=$store "$prefix/bin/pcstore" info --json | grep -q '"entries": 0'
}
step installed_tool_runs installed_tool
pkg_config_example() {
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  [ "$(pkg-config --modversion pcstore)" = "$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" ] &&
    gcc $strict_c examples/c/pcstore_example.c -o "$out/example_pc" $(pkg-config --cflags --libs pcstore) \
      -Wl,-rpath,"$prefix/lib" &&
    "$out/example_pc" | grep -q '^hit: ' &&
    gcc $strict_c examples/c/pcstore_example.c -o "$out/example_pc_static" \
      $(pkg-config --cflags pcstore) "$prefix/lib/libpcstore.a" $(pkg-config --static --libs-only-l pcstore | sed 's/-lpcstore//') &&
    "$out/example_pc_static" | grep -q '^hit: '
}
step pkg_config_builds_and_runs_example pkg_config_example
cmake_example() {
  local kind
  for kind in c cpp; do
    cmake -S "examples/$kind" -B "$out/cmake-$kind" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_RPATH="$prefix/lib" &&
      cmake --build "$out/cmake-$kind" &&
      "$out/cmake-$kind/pcstore_example" | grep -q '^hit: ' || return 1
  done
}
step cmake_find_package_builds_and_runs_examples cmake_example

# ---- the disk store across two processes, and the remote store without a server
step disk_build gcc $strict_c $inc tests/c/test_disk.c -o "$out/disk" $link_so
step disk_build_asan_ubsan gcc $strict_c $inc $sanitize tests/c/test_disk.c -o "$out/disk_asan" $link_so
# default_reports_once COMMAND DIR: the default-store mode, whose unusable disk stores must be
# reported on stderr exactly once per process (one "pcstore: ..." line), however often it opens.
default_reports_once() {
  local run=$1 dir=$2 errors=$2.default-stderr status=0
  $run default "$dir" 2>"$errors" || status=$?
  cat "$errors" >&2
  [ "$status" = 0 ] || return 1
  [ "$(grep -c '^pcstore: ' "$errors")" = 1 ] ||
    { echo "default: expected exactly one 'pcstore:' line on stderr" >&2; return 1; }
}
# log_stays_off_stderr COMMAND DIR: the log mode, whose messages go to its callback: no
# "pcstore:" line on stderr while a callback listened, one after it was removed.
log_stays_off_stderr() {
  local run=$1 dir=$2 errors=$2.log-stderr status=0
  $run log "$dir" 2>"$errors" || status=$?
  cat "$errors" >&2
  [ "$status" = 0 ] || return 1
  [ "$(grep -c '^pcstore: ' "$errors")" = 1 ] &&
    [ "$(sed -n '/^log: callback removed$/,$p' "$errors" | grep -c '^pcstore: ')" = 1 ] ||
    { echo "log: expected one 'pcstore:' line, after the callback was removed" >&2; return 1; }
}
# disk_two_processes COMMAND: each mode is a separate process on one directory.
disk_two_processes() {
  local run=$1 dir=$out/disk-store
  rm -rf "$dir"
  $run write "$dir" && $run read "$dir" && $run misuse "$dir" &&
    default_reports_once "$run" "$dir" && $run remote "$dir" && log_stays_off_stderr "$run" "$dir"
}
step disk_persists_across_processes disk_two_processes "$out/disk"
step disk_persists_across_processes_asan_ubsan disk_two_processes "$out/disk_asan"
# The disk tier's maintenance thread may still run at exit, holding the index through interior
# pointers that valgrind calls "possibly lost"; definite and indirect leaks still fail.
step disk_persists_across_processes_valgrind disk_two_processes \
  "${valgrind/definite,indirect,possible/definite,indirect} $out/disk"

# ---- bundles: the committed fixtures (tests/bundle_fixtures, pinned by tests/bundle_fixtures.rs),
# truncated and damaged copies in a scratch directory, signatures, misuse, a layered stack
step bundle_build gcc $strict_c $inc tests/c/test_bundle.c -o "$out/bundle" $link_so
step bundle_build_asan_ubsan gcc $strict_c $inc $sanitize tests/c/test_bundle.c -o "$out/bundle_asan" $link_so
# bundle_run COMMAND...: one run on the fixtures with a fresh scratch directory.
bundle_run() {
  local scratch=$out/bundle-scratch
  rm -rf "$scratch" && mkdir -p "$scratch" && "$@" "$root/tests/bundle_fixtures" "$scratch"
}
step bundle_run bundle_run "$out/bundle"
step bundle_run_asan_ubsan bundle_run "$out/bundle_asan"
step bundle_run_valgrind bundle_run $valgrind "$out/bundle"

# ---- the Vulkan C ABI (include/pcstore_vulkan.h, tests/c/test_vulkan.c) on both CPU drivers
# Each driver runs five processes: save, load (a FRESH process loading what save stored in a disk
# store and flushed), corrupt (a FRESH process finding those entries damaged on disk), reject,
# threads; with VK_LAYER_KHRONOS_validation on, any validation error fails. Needs
# libvulkan-dev, vulkan-validationlayers, mesa-vulkan-drivers (install-deps.sh) and SwiftShader
# (scripts/vulkan-drivers.sh, run here when test.sh has not exported the ICD paths). A missing
# driver or layer FAILS. Linked, under ASan+UBSan, through the dlopen loader, and under valgrind.
vulkan_header_compiles() {
  # pcstore_vulkan.h alone, and after pcstore.h and the loader, as C99 and as C++17.
  printf '#include "pcstore_vulkan.h"\nint main(void) { return PCS_OK + PCS_VK_LOAD_HIT; }\n' >"$out/vk_h.c"
  printf '#include "pcstore_loader.h"\n#include "pcstore_vulkan.h"\nint main(void) { return (int)sizeof(pcs_vk_api); }\n' >"$out/vk_h2.c"
  gcc $strict_c $inc -c "$out/vk_h.c" -o "$out/vk_h.o" &&
    gcc $strict_c $inc -c "$out/vk_h2.c" -o "$out/vk_h2.o" &&
    g++ $strict_cxx $inc -x c++ -c "$out/vk_h.c" -o "$out/vk_hc.o" &&
    g++ $strict_cxx $inc -x c++ -c "$out/vk_h2.c" -o "$out/vk_hc2.o"
}
step vulkan_header_compiles_c99_and_cxx17 vulkan_header_compiles
vulkan_header_is_prefixed() {
  # Everything it declares (function-pointer types too) is pcs_vk_/PCS_VK_-prefixed (or
  # pcs_get_vk_api), and only it names Vulkan types: pcstore.h's declarations (comments aside)
  # have none.
  ! grep -E '^typedef ' include/pcstore_vulkan.h |
    grep -vE '(pcs_vk_[a-z0-9_]+;|struct pcs_vk_[a-z0-9_]+ \{|\(\*pcs_vk_[a-z0-9_]+\)\(.*\);)$' &&
    ! grep -E '^[a-z].*\(' include/pcstore_vulkan.h | grep -v '^typedef ' |
    grep -vE '^(const )?[a-z0-9_]+ \*?pcs_(vk_[a-z0-9_]+|get_vk_api)\(' &&
    ! grep -E '^  PCS_' include/pcstore_vulkan.h | grep -v '^  PCS_VK_' &&
    ! grep -vE '^ *(\*|/\*)' include/pcstore.h | grep -E '\bVk[A-Z]|PFN_vk'
}
step vulkan_header_names_are_prefixed vulkan_header_is_prefixed
vk_api_table_is_complete() {
  # pcs_vk_api has one entry per exported pcs_vk_ function.
  local exported entries
  exported=$(nm -D --defined-only "$so" | grep -c ' pcs_vk_')
  entries=$(awk '/^typedef struct pcs_vk_api \{/,/^\} pcs_vk_api;/' include/pcstore_vulkan.h | grep -c '(\*')
  echo "exported $exported, pcs_vk_api entries $entries"
  [ "$exported" -gt 0 ] && [ "$entries" -eq "$exported" ]
}
step vk_api_table_has_every_function vk_api_table_is_complete

if [ -z "${PCSTORE_TEST_LAVAPIPE_ICD:-}" ] || [ -z "${PCSTORE_TEST_SWIFTSHADER_ICD:-}" ]; then
  vulkan_drivers=$(bash scripts/vulkan-drivers.sh) && eval "$vulkan_drivers"
fi
vulkan_flags="-lvulkan -lpthread"
spv=$root/tests/shaders/fill.comp.spv
step vulkan_build gcc $strict_c $inc tests/c/test_vulkan.c -o "$out/vulkan" $link_so $vulkan_flags
step vulkan_build_asan_ubsan gcc $strict_c $inc $sanitize tests/c/test_vulkan.c -o "$out/vulkan_asan" $link_so $vulkan_flags
step vulkan_build_dlopen gcc $strict_c $inc -DPCS_TEST_DLOPEN tests/c/test_vulkan.c -o "$out/vulkan_dlopen" -ldl $vulkan_flags
# vulkan_modes DRIVER ICD LIBRARY COMMAND...: the five modes, each a separate process, on one
# driver; LIBRARY (the dlopen build's last argument) may be "".
vulkan_modes() {
  local driver=$1 icd=$2 library=$3 mode
  shift 3
  [ -f "$icd" ] || { echo "no ICD file for $driver: '$icd'"; return 1; }
  local state=$out/vulkan-state-$driver
  rm -rf "$state" "$state"-flush "$state"-flush-moved
  for mode in save load corrupt reject threads; do
    echo "== $driver: $mode"
    # Mesa's and the validation layer's own disk caches stay out of $HOME.
    VK_DRIVER_FILES=$icd MESA_SHADER_CACHE_DISABLE=true XDG_CACHE_HOME=$out/xdg \
      "$@" "$mode" "$driver" "$spv" "$state" ${library:+"$library"} || return 1
  done
}
# vulkan_modes_asan LEAKS DRIVER ICD LIBRARY COMMAND...: the same, leak checking on (1) or off (0).
vulkan_modes_asan() {
  local ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=1/detect_leaks=$1}
  export ASAN_OPTIONS
  shift
  vulkan_modes "$@"
}
for driver in lavapipe swiftshader; do
  if [ "$driver" = lavapipe ]; then icd=${PCSTORE_TEST_LAVAPIPE_ICD:-}; else icd=${PCSTORE_TEST_SWIFTSHADER_ICD:-}; fi
  step "vulkan_${driver}" vulkan_modes "$driver" "$icd" "" "$out/vulkan"
  # Leak checking stays on for SwiftShader. Mesa 22.3's lavapipe leaks one 128-byte block at
  # exit from a module already unloaded (no symbols, so no suppression can name it); pcstore's
  # own allocations are the same on both drivers, so SwiftShader's run covers them.
  if [ "$driver" = lavapipe ]; then leaks=0; else leaks=1; fi
  step "vulkan_${driver}_asan_ubsan" vulkan_modes_asan "$leaks" "$driver" "$icd" "" "$out/vulkan_asan"
  step "vulkan_${driver}_dlopen" vulkan_modes "$driver" "$icd" "$so" "$out/vulkan_dlopen"
  # valgrind also sees pcstore's Rust side (ASan does not). No leak check: both drivers keep
  # allocations at exit. About 50 s per driver.
  step "vulkan_${driver}_valgrind" vulkan_modes "$driver" "$icd" "" valgrind -q --error-exitcode=1 \
    --leak-check=no --suppressions="$root/tests/c/valgrind-vulkan.supp" "$out/vulkan"
done

echo "C ABI tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
