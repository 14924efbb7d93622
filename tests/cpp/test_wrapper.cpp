// Exercises bindings/cpp/pcstore.hpp against the real library: RAII reference counting,
// results and statuses, blob views, layered stores, metrics, the hasher, several threads.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pcstore.hpp"

static int failures = 0;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                    \
    }                                                                                \
  } while (0)

static pcstore::fingerprint key(const std::string &name) {
  return pcstore::fingerprint_of(name.data(), name.size());
}

static void test_store_and_blobs() {
  auto opened = pcstore::store::open_memory();
  CHECK(opened.ok());
  pcstore::store store = *opened;  // a copy: two references now
  const std::string bytes = "pipeline cache";
  CHECK(store.put(key("a"), bytes.data(), bytes.size()).ok());

  auto hit = store.get(key("a"));
  CHECK(hit.ok() && *hit);
  pcstore::blob view = std::move(*hit);
  CHECK(!*hit);  // moved from
  CHECK(std::string(view.begin(), view.end()) == bytes);
  pcstore::blob copy = view;  // retains
  view = pcstore::blob();     // releases one reference
  CHECK(copy.size() == bytes.size() && std::memcmp(copy.data(), bytes.data(), bytes.size()) == 0);

  auto miss = store.get(key("missing"));
  CHECK(miss.ok() && !*miss);

  opened = pcstore::store();  // drop the first reference; `store` keeps it open
  CHECK(store.get(key("a")).ok());
  CHECK(store.flush().ok());

  auto snapshot = store.snapshot();
  CHECK(snapshot.ok() && snapshot->puts == 1 && snapshot->hits == 2 && snapshot->misses == 1);
}

static void test_errors() {
  auto tiny = pcstore::store::open_memory(0, 4);
  CHECK(tiny.ok());
  pcstore::status refused = tiny->put(key("big"), "12345", 5);
  CHECK(!refused.ok() && refused.code() == PCS_ERR_TOO_LARGE);
  CHECK(refused.message().find("pcs_put") != std::string::npos);
  CHECK(std::string(refused.code_str()).rfind("PCS_ERR_TOO_LARGE", 0) == 0);

  auto empty = pcstore::store::open_layered({});
  CHECK(!empty.ok() && empty.error().code() == PCS_ERR_INVALID_ARGUMENT);
#ifdef PCSTORE_HPP_EXCEPTIONS
  bool thrown = false;
  try {
    (void)empty.value();
  } catch (const pcstore::error &e) {
    thrown = e.code() == PCS_ERR_INVALID_ARGUMENT;
  }
  CHECK(thrown);
#endif
  pcstore::store null_store;
  CHECK(null_store.put(key("x"), "x", 1).code() == PCS_ERR_NULL_ARGUMENT);
}

static void test_layered_and_hasher() {
  auto fast = pcstore::store::open_memory();
  auto slow = pcstore::store::open_memory();
  auto stack = pcstore::store::open_layered({*fast, *slow});
  CHECK(stack.ok());
  CHECK(stack->put(key("through"), "t", 1).ok());
  CHECK(slow->get(key("through")).ok() && *slow->get(key("through")));

  pcstore::hasher split_ab, split_a;
  split_ab.part("ab", 2).part("c", 1);
  split_a.part("a", 1).part("bc", 2);
  pcstore::fingerprint x = split_ab.finish(), y = split_a.finish();
  CHECK(std::memcmp(x.bytes, y.bytes, 32) != 0);
  pcstore::hasher moved = std::move(split_ab);
  pcstore::fingerprint z = moved.finish();
  CHECK(std::memcmp(x.bytes, z.bytes, 32) == 0);
}

static void test_threads() {
  auto store = *pcstore::store::open_memory();
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([store, t, &bad] {  // each thread holds its own reference
      for (int round = 0; round < 1000; ++round) {
        std::string name = "k" + std::to_string((round + t) % 32);
        if (!store.put(key(name), name.data(), name.size()).ok()) ++bad;
        auto got = store.get(key(name));
        if (!got || !*got || std::string(got->begin(), got->end()) != name) ++bad;
      }
    });
  }
  for (auto &thread : threads) thread.join();
  CHECK(bad == 0);
}

int main() {
  test_store_and_blobs();
  test_errors();
  test_layered_and_hasher();
  test_threads();
  if (failures != 0) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
