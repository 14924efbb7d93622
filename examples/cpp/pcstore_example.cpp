// The pcstore C++17 wrapper in one page: RAII handles, results instead of exceptions.
// Build (after scripts/install.sh PREFIX):
//   cmake -S . -B build -DCMAKE_PREFIX_PATH=PREFIX && cmake --build build
// or: c++ -std=c++17 pcstore_example.cpp $(pkg-config --cflags --libs pcstore)
#include <cstdio>
#include <string>

#include "pcstore.hpp"

int main() {
  auto opened = pcstore::store::open_memory(/*max_entries=*/0, /*max_bytes=*/64 << 20);
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message().c_str());
    return 1;
  }
  pcstore::store store = *opened;

  pcstore::hasher hasher;
  hasher.part("engine-v1", 9).part("pipeline 42", 11);
  const pcstore::fingerprint key = hasher.finish();

  const std::string compiled = "pretend this came from vkGetPipelineCacheData";
  if (auto put = store.put(key, compiled.data(), compiled.size()); !put.ok()) {
    std::fprintf(stderr, "put: %s\n", put.message().c_str());
    return 1;
  }
  auto found = store.get(key);
  if (!found) {
    std::fprintf(stderr, "get: %s\n", found.error().message().c_str());
    return 1;
  }
  if (!*found) {
    std::puts("miss");
    return 1;
  }
  std::printf("hit: %zu bytes: %s\n", found->size(), std::string(found->begin(), found->end()).c_str());
  if (auto metrics = store.snapshot()) {
    std::printf("lookups %llu, hits %llu\n", static_cast<unsigned long long>(metrics->lookups),
                static_cast<unsigned long long>(metrics->hits));
  }
  return 0;
}
