/*
 * Exercises every function of pcstore.h from C, misuse included, and several threads at once.
 *
 * Built twice by scripts/test-c.sh: linked against libpcstore (calls `pcs_x` directly), and
 * with -DPCS_TEST_DLOPEN, where the same calls go through the table of
 * bindings/c/pcstore_loader.h (argv[1] is the library's path). Exits non-zero on any failure.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PCS_TEST_DLOPEN
#include "pcstore_loader.h"
static const pcs_api *api;
#define PCS(name) (api->name)
#else
#include "pcstore.h"
#define PCS(name) (pcs_##name)
#endif

#include "check.h"

static pcs_fingerprint key_of(const char *text) {
  pcs_fingerprint key;
  PCS(fingerprint_of)(text, strlen(text), &key);
  return key;
}

static void to_hex(const pcs_fingerprint *key, char out[65]) {
  int i;
  for (i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", key->bytes[i]);
}

/* The last error, for checks on its text. */
static const char *last_error(void) {
  static char message[512];
  PCS(last_error)(message, sizeof message);
  return message;
}

static void test_versions_and_strings(void) {
  char expected[64];
  static const int32_t codes[] = {0, 1, -1, -2, -3, -4, -5, -6, -7, -8, -9, -100};
  static const char *const names[] = {
      "PCS_OK", "PCS_MISS", "PCS_ERR_NULL_ARGUMENT", "PCS_ERR_INVALID_ARGUMENT",
      "PCS_ERR_BUFFER_TOO_SMALL", "PCS_ERR_TOO_LARGE", "PCS_ERR_IO", "PCS_ERR_CORRUPT",
      "PCS_ERR_UNSUPPORTED", "PCS_ERR_VULKAN", "PCS_ERR_ABI_MISMATCH", "PCS_ERR_PANIC"};
  size_t i;

  CHECK(PCS(abi_version)() == PCS_ABI_VERSION);
  snprintf(expected, sizeof expected, "%d.%d.%d", PCS_VERSION_MAJOR, PCS_VERSION_MINOR,
           PCS_VERSION_PATCH);
  CHECK(strcmp(PCS(version)(), expected) == 0);

  /* The header's enumerators have the contract's fixed values. */
  CHECK(PCS_OK == 0 && PCS_MISS == 1 && PCS_ERR_NULL_ARGUMENT == -1);
  CHECK(PCS_ERR_INVALID_ARGUMENT == -2 && PCS_ERR_BUFFER_TOO_SMALL == -3);
  CHECK(PCS_ERR_TOO_LARGE == -4 && PCS_ERR_IO == -5 && PCS_ERR_CORRUPT == -6);
  CHECK(PCS_ERR_UNSUPPORTED == -7 && PCS_ERR_VULKAN == -8 && PCS_ERR_ABI_MISMATCH == -9);
  CHECK(PCS_ERR_PANIC == -100);
  CHECK(sizeof(pcs_result) == 4);

  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *text = PCS(result_str)(codes[i]);
    CHECK(text != NULL && strncmp(text, names[i], strlen(names[i])) == 0 &&
          text[strlen(names[i])] == ':');
  }
  CHECK(strcmp(PCS(result_str)(12345), "unknown pcs_result") == 0);
  CHECK(strcmp(PCS(result_str)(INT32_MIN), "unknown pcs_result") == 0);
}

static void test_fingerprints(void) {
  pcs_fingerprint key, before, other;
  char hex[65];
  pcs_hasher *hasher = NULL, *hasher2 = NULL;

  /* Plain BLAKE3 vectors. */
  PCS(fingerprint_of)(NULL, 0, &key);
  to_hex(&key, hex);
  CHECK(strcmp(hex, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262") == 0);
  key = key_of("abc");
  to_hex(&key, hex);
  CHECK(strcmp(hex, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85") == 0);

  /* Misuse writes nothing and leaves a message. */
  memset(&before, 0xAB, sizeof before);
  key = before;
  PCS(fingerprint_of)(NULL, 5, &key);
  CHECK(memcmp(&key, &before, sizeof key) == 0);
  CHECK(strstr(last_error(), "pcs_fingerprint_of: `data` is NULL") != NULL);
  PCS(fingerprint_of)("abc", 3, NULL);
  CHECK(strstr(last_error(), "`out` is NULL") != NULL);

  /* Hasher: parts are length-prefixed, finish does not consume. */
  CHECK_RESULT(PCS(hasher_new)(&hasher), PCS_OK);
  CHECK_RESULT(PCS(hasher_new)(&hasher2), PCS_OK);
  CHECK_RESULT(PCS(hasher_part)(hasher, "ab", 2), PCS_OK);
  CHECK_RESULT(PCS(hasher_part)(hasher, "c", 1), PCS_OK);
  CHECK_RESULT(PCS(hasher_part)(hasher2, "a", 1), PCS_OK);
  CHECK_RESULT(PCS(hasher_part)(hasher2, "bc", 2), PCS_OK);
  CHECK_RESULT(PCS(hasher_finish)(hasher, &key), PCS_OK);
  CHECK_RESULT(PCS(hasher_finish)(hasher2, &other), PCS_OK);
  CHECK(memcmp(&key, &other, sizeof key) != 0);
  before = key_of("abc");
  CHECK(memcmp(&key, &before, sizeof key) != 0);
  CHECK_RESULT(PCS(hasher_finish)(hasher, &other), PCS_OK);
  CHECK(memcmp(&key, &other, sizeof key) == 0);
  CHECK_RESULT(PCS(hasher_part)(hasher, NULL, 0), PCS_OK); /* an empty part still counts */
  CHECK_RESULT(PCS(hasher_finish)(hasher, &other), PCS_OK);
  CHECK(memcmp(&key, &other, sizeof key) != 0);

  CHECK_RESULT(PCS(hasher_new)(NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(hasher_part)(NULL, "a", 1), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(hasher_part)(hasher, NULL, 1), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(hasher_finish)(NULL, &key), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(hasher_finish)(hasher, NULL), PCS_ERR_NULL_ARGUMENT);
  PCS(hasher_free)(hasher);
  PCS(hasher_free)(hasher2);
  PCS(hasher_free)(NULL);
}

static void test_scoped_keys(void) {
  static const uint8_t info[] = "llvmpipe\0Mesa 22.3.6";
  pcs_device_identity identity;
  pcs_fingerprint engine = key_of("pipeline 1"), a, b, before;
  struct {
    pcs_device_identity known;
    uint64_t future_field;
  } newer;

  memset(&identity, 0, sizeof identity);
  identity.struct_size = sizeof identity;
  identity.vendor_id = 0x10005;
  identity.driver_version = 1;
  identity.pointer_size = (uint8_t)sizeof(void *);
  identity.driver_info = info;
  identity.driver_info_len = sizeof info - 1;
  identity.engine_namespace = (const uint8_t *)"engine";
  identity.engine_namespace_len = 6;

  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &a), PCS_OK);
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &b), PCS_OK);
  CHECK(memcmp(&a, &b, sizeof a) == 0);
  CHECK(memcmp(&a, &engine, sizeof a) != 0);
  identity.driver_version = 2; /* a driver update gives an unrelated key */
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &b), PCS_OK);
  CHECK(memcmp(&a, &b, sizeof a) != 0);
  identity.driver_version = 1;
  b = engine; /* out may alias key */
  CHECK_RESULT(PCS(fingerprint_scoped)(&b, &identity, &b), PCS_OK);
  CHECK(memcmp(&a, &b, sizeof a) == 0);

  memset(&before, 0x5A, sizeof before);
  b = before;
  CHECK_RESULT(PCS(fingerprint_scoped)(NULL, &identity, &b), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, NULL, &b), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, NULL), PCS_ERR_NULL_ARGUMENT);
  identity.driver_info = NULL;
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &b), PCS_ERR_NULL_ARGUMENT);
  CHECK(strstr(last_error(), "identity->driver_info") != NULL);
  identity.driver_info = info;
  identity.struct_size = 8;
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &b), PCS_ERR_INVALID_ARGUMENT);
  identity.struct_size = (size_t)1 << 40;
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &identity, &b), PCS_ERR_INVALID_ARGUMENT);
  identity.struct_size = sizeof identity;
  CHECK(memcmp(&b, &before, sizeof b) == 0);

  /* A newer caller's longer struct works while its unknown fields are zero. */
  memset(&newer, 0, sizeof newer);
  newer.known = identity;
  newer.known.struct_size = sizeof newer;
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &newer.known, &b), PCS_OK);
  CHECK(memcmp(&a, &b, sizeof a) == 0);
  newer.future_field = 1;
  CHECK_RESULT(PCS(fingerprint_scoped)(&engine, &newer.known, &b), PCS_ERR_ABI_MISMATCH);
}

static pcs_store *open_memory(size_t max_entries, uint64_t max_bytes) {
  pcs_memory_options options;
  pcs_store *store = NULL;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.max_entries = max_entries;
  options.max_bytes = max_bytes;
  CHECK_RESULT(PCS(store_open_memory)(&options, &store), PCS_OK);
  return store;
}

static void test_put_get(void) {
  pcs_store *store = NULL, *untouched = (pcs_store *)&failures;
  pcs_fingerprint key = key_of("put/get"), empty_key = key_of("empty"), missing = key_of("none");
  const char blob[] = "pipeline cache bytes";
  char buf[64];
  size_t len;
  pcs_memory_options options;

  CHECK_RESULT(PCS(store_open_memory)(NULL, NULL), PCS_ERR_NULL_ARGUMENT);
  memset(&options, 0, sizeof options);
  options.struct_size = 3;
  CHECK_RESULT(PCS(store_open_memory)(&options, &untouched), PCS_ERR_INVALID_ARGUMENT);
  CHECK(untouched == (pcs_store *)&failures);
  CHECK(strstr(last_error(), "struct_size") != NULL);
  CHECK_RESULT(PCS(store_open_memory)(NULL, &store), PCS_OK);
  CHECK(store != NULL);

  CHECK_RESULT(PCS(put)(store, &key, blob, sizeof blob), PCS_OK);

  /* Size query. */
  len = 0;
  CHECK_RESULT(PCS(get)(store, &key, NULL, &len), PCS_OK);
  CHECK(len == sizeof blob);
  /* Short buffer: no bytes written, needed size reported. */
  memset(buf, '#', sizeof buf);
  len = 5;
  CHECK_RESULT(PCS(get)(store, &key, buf, &len), PCS_ERR_BUFFER_TOO_SMALL);
  CHECK(len == sizeof blob);
  CHECK(buf[0] == '#' && buf[4] == '#');
  CHECK(strstr(last_error(), "pcs_get:") != NULL);
  /* Exact and larger buffers. */
  len = sizeof blob;
  CHECK_RESULT(PCS(get)(store, &key, buf, &len), PCS_OK);
  CHECK(len == sizeof blob && memcmp(buf, blob, sizeof blob) == 0);
  memset(buf, '#', sizeof buf);
  len = sizeof buf;
  CHECK_RESULT(PCS(get)(store, &key, buf, &len), PCS_OK);
  CHECK(len == sizeof blob && memcmp(buf, blob, sizeof blob) == 0 && buf[sizeof blob] == '#');
  /* Miss: len untouched. */
  len = 77;
  CHECK_RESULT(PCS(get)(store, &missing, buf, &len), PCS_MISS);
  CHECK(len == 77);
  CHECK_RESULT(PCS(get)(store, &missing, NULL, &len), PCS_MISS);

  /* Overwrite replaces. */
  CHECK_RESULT(PCS(put)(store, &key, "v2", 2), PCS_OK);
  len = sizeof buf;
  CHECK_RESULT(PCS(get)(store, &key, buf, &len), PCS_OK);
  CHECK(len == 2 && memcmp(buf, "v2", 2) == 0);

  /* Zero-length blobs are values; NULL data is fine with len 0. */
  CHECK_RESULT(PCS(put)(store, &empty_key, NULL, 0), PCS_OK);
  len = 99;
  CHECK_RESULT(PCS(get)(store, &empty_key, NULL, &len), PCS_OK);
  CHECK(len == 0);
  len = 0;
  CHECK_RESULT(PCS(get)(store, &empty_key, buf, &len), PCS_OK);
  CHECK(len == 0);

  /* NULL misuse. */
  CHECK_RESULT(PCS(put)(NULL, &key, blob, 1), PCS_ERR_NULL_ARGUMENT);
  CHECK(strstr(last_error(), "pcs_put: `store` is NULL") != NULL);
  CHECK_RESULT(PCS(put)(store, NULL, blob, 1), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(put)(store, &missing, NULL, 1), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(get)(store, &missing, NULL, &len), PCS_MISS); /* nothing was stored */
  CHECK_RESULT(PCS(get)(NULL, &key, buf, &len), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(get)(store, NULL, buf, &len), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(get)(store, &key, buf, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(flush)(store), PCS_OK);
  CHECK_RESULT(PCS(flush)(NULL), PCS_ERR_NULL_ARGUMENT);

  /* Retain/release: the handle lives until the last release. */
  PCS(store_retain)(store);
  PCS(store_release)(store);
  CHECK_RESULT(PCS(get)(store, &key, NULL, &len), PCS_OK);
  PCS(store_retain)(NULL);
  PCS(store_release)(NULL);
  PCS(store_release)(store);
}

static void test_blobs(void) {
  pcs_store *store = open_memory(1, 0); /* holds one entry: the second put evicts the first */
  pcs_fingerprint first = key_of("first"), second = key_of("second");
  pcs_blob *blob = NULL, *other = NULL, *untouched = (pcs_blob *)&failures;
  char big[4096];
  memset(big, 'x', sizeof big);

  CHECK_RESULT(PCS(put)(store, &first, big, sizeof big), PCS_OK);
  CHECK_RESULT(PCS(get_blob)(store, &first, &blob), PCS_OK);
  CHECK(PCS(blob_size)(blob) == sizeof big);
  CHECK(memcmp(PCS(blob_data)(blob), big, sizeof big) == 0);

  /* The blob outlives eviction and the store itself. */
  CHECK_RESULT(PCS(put)(store, &second, "2", 1), PCS_OK);
  CHECK_RESULT(PCS(get_blob)(store, &first, &untouched), PCS_MISS);
  CHECK(untouched == (pcs_blob *)&failures);
  PCS(blob_retain)(blob);
  other = blob;
  PCS(store_release)(store);
  CHECK(PCS(blob_size)(blob) == sizeof big && PCS(blob_data)(blob)[4095] == 'x');
  PCS(blob_release)(blob);
  CHECK(PCS(blob_size)(other) == sizeof big); /* one reference left */
  PCS(blob_release)(other);

  /* NULL handling. */
  CHECK(PCS(blob_data)(NULL) == NULL);
  CHECK(PCS(blob_size)(NULL) == 0);
  PCS(blob_retain)(NULL);
  PCS(blob_release)(NULL);
  store = open_memory(0, 0);
  CHECK_RESULT(PCS(get_blob)(NULL, &first, &blob), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(get_blob)(store, NULL, &blob), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(get_blob)(store, &first, NULL), PCS_ERR_NULL_ARGUMENT);

  /* An empty blob: size 0, data non-NULL. */
  CHECK_RESULT(PCS(put)(store, &first, NULL, 0), PCS_OK);
  CHECK_RESULT(PCS(get_blob)(store, &first, &blob), PCS_OK);
  CHECK(PCS(blob_size)(blob) == 0 && PCS(blob_data)(blob) != NULL);
  PCS(blob_release)(blob);
  PCS(store_release)(store);
}

static void test_limits_and_metrics(void) {
  pcs_store *store = open_memory(0, 16);
  pcs_fingerprint key = key_of("limits");
  char seventeen[17] = {0};
  char buf[16];
  size_t len;
  pcs_blob *blob = NULL;
  pcs_cache_metrics metrics, before;

  CHECK_RESULT(PCS(put)(store, &key, seventeen, sizeof seventeen), PCS_ERR_TOO_LARGE);
  CHECK(strstr(last_error(), "17 bytes") != NULL);
  CHECK_RESULT(PCS(get)(store, &key, NULL, &len), PCS_MISS);
  CHECK_RESULT(PCS(put)(store, &key, seventeen, 16), PCS_OK);
  len = sizeof buf;
  CHECK_RESULT(PCS(get)(store, &key, buf, &len), PCS_OK);
  CHECK_RESULT(PCS(get_blob)(store, &key, &blob), PCS_OK);
  PCS(blob_release)(blob);

  memset(&metrics, 0xFF, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCS(metrics)(store, &metrics), PCS_OK);
  CHECK(metrics.struct_size == sizeof metrics);
  CHECK(metrics.lookups == 3 && metrics.hits == 2 && metrics.misses == 1);
  CHECK(metrics.lookups == metrics.hits + metrics.misses);
  CHECK(metrics.puts == 1 && metrics.rejected_puts == 1);
  CHECK(metrics.bytes_written == 16 && metrics.bytes_read == 32);
  CHECK(metrics.entries == 1 && metrics.cached_bytes == 16);
  CHECK(metrics.evictions == 0 && metrics.corrupt_dropped == 0 && metrics.flush_errors == 0);
  CHECK(metrics.put_latency.samples >= 1 && metrics.put_latency.max_ns > 0);

  /* Too small a struct_size: refused, nothing written. */
  memset(&metrics, 0xEE, sizeof metrics);
  metrics.struct_size = 4;
  before = metrics;
  CHECK_RESULT(PCS(metrics)(store, &metrics), PCS_ERR_INVALID_ARGUMENT);
  CHECK(memcmp(&metrics, &before, sizeof metrics) == 0);
  CHECK_RESULT(PCS(metrics)(NULL, &metrics), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(metrics)(store, NULL), PCS_ERR_NULL_ARGUMENT);
  PCS(store_release)(store);
}

static void test_layered(void) {
  pcs_store *fast = open_memory(0, 0), *slow = open_memory(0, 0), *stack = NULL;
  pcs_store *layers[2];
  pcs_store *with_null[2];
  pcs_fingerprint written = key_of("written"), deep = key_of("deep");
  size_t len;

  layers[0] = fast;
  layers[1] = slow;
  CHECK_RESULT(PCS(store_open_layered)(layers, 2, &stack), PCS_OK);
  PCS(store_release)(fast); /* the stack holds its own references */

  CHECK_RESULT(PCS(put)(stack, &written, "abc", 3), PCS_OK);
  len = 0;
  CHECK_RESULT(PCS(get)(slow, &written, NULL, &len), PCS_OK); /* written through */
  CHECK(len == 3);
  CHECK_RESULT(PCS(put)(slow, &deep, "deep", 4), PCS_OK);
  CHECK_RESULT(PCS(get)(stack, &deep, NULL, &len), PCS_OK);
  CHECK(len == 4);
  CHECK_RESULT(PCS(flush)(stack), PCS_OK);

  with_null[0] = slow;
  with_null[1] = NULL;
  CHECK_RESULT(PCS(store_open_layered)(NULL, 1, &stack), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCS(store_open_layered)(layers, 0, &stack), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCS(store_open_layered)(with_null, 2, &stack), PCS_ERR_NULL_ARGUMENT);
  CHECK(strstr(last_error(), "layers[1]") != NULL);
  CHECK_RESULT(PCS(store_open_layered)(with_null, 1, NULL), PCS_ERR_NULL_ARGUMENT);
  PCS(store_release)(slow);
  PCS(store_release)(stack);
}

static void test_last_error_and_api(void) {
  char small[8];
  size_t full;
  const pcs_api *table = NULL, *untouched = (const pcs_api *)&failures;

  CHECK_RESULT(PCS(hasher_new)(NULL), PCS_ERR_NULL_ARGUMENT);
  full = PCS(last_error)(NULL, 0);
  CHECK(full == strlen("pcs_hasher_new: `out` is NULL"));
  memset(small, '#', sizeof small);
  CHECK(PCS(last_error)(small, sizeof small) == full);
  CHECK(memcmp(small, "pcs_has", 8) == 0); /* 7 bytes + NUL */
  CHECK(PCS(last_error)(small, 0) == full);

#ifndef PCS_TEST_DLOPEN
  CHECK_RESULT(pcs_get_api(0, &table), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_get_api(PCS_ABI_VERSION + 1, &untouched), PCS_ERR_ABI_MISMATCH);
  CHECK(untouched == (const pcs_api *)&failures);
  {
    char provides[32];
    snprintf(provides, sizeof provides, "provides %u", (unsigned)PCS_ABI_VERSION);
    CHECK(strstr(last_error(), provides) != NULL);
  }
  CHECK_RESULT(pcs_get_api(1, &table), PCS_OK); /* a caller built against ABI 1 is still served */
  table = NULL;
  CHECK_RESULT(pcs_get_api(PCS_ABI_VERSION, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_get_api(PCS_ABI_VERSION, &table), PCS_OK);
  CHECK(table != NULL && table->struct_size == sizeof(pcs_api));
  CHECK(table->put == pcs_put && table->get_blob == pcs_get_blob && table->metrics == pcs_metrics);
  CHECK(table->abi_version() == PCS_ABI_VERSION);
#else
  (void)untouched;
  table = api;
#endif
  {
    /* Every entry is set. */
    const unsigned char *bytes = (const unsigned char *)table;
    size_t offset, i;
    for (offset = sizeof(size_t); offset + sizeof(void (*)(void)) <= sizeof(pcs_api);
         offset += sizeof(void (*)(void))) {
      int nonzero = 0;
      for (i = 0; i < sizeof(void (*)(void)); i++) nonzero |= bytes[offset + i];
      CHECK(nonzero);
    }
  }
}

/* ---- several threads on one store ---- */

#define THREADS 4
#define ROUNDS 2000
#define KEYS 64

static pcs_store *shared_store;

static void value_of(unsigned key_index, unsigned char out[48]) {
  unsigned i;
  for (i = 0; i < 48; i++) out[i] = (unsigned char)(key_index * 31u + i);
}

static void *hammer(void *arg) {
  unsigned thread = (unsigned)(uintptr_t)arg, round;
  unsigned char expected[48], buf[64];
  int *bad = (int *)calloc(1, sizeof(int));
  for (round = 0; round < ROUNDS; round++) {
    unsigned index = (round * 7u + thread * 13u) % KEYS;
    char name[32];
    pcs_fingerprint key;
    pcs_blob *blob = NULL;
    size_t len = sizeof buf;
    snprintf(name, sizeof name, "thread key %u", index);
    key = key_of(name);
    value_of(index, expected);
    if (PCS(put)(shared_store, &key, expected, sizeof expected) != PCS_OK) (*bad)++;
    if (PCS(get)(shared_store, &key, buf, &len) != PCS_OK || len != 48 ||
        memcmp(buf, expected, 48) != 0)
      (*bad)++;
    if (PCS(get_blob)(shared_store, &key, &blob) != PCS_OK ||
        PCS(blob_size)(blob) != 48 || memcmp(PCS(blob_data)(blob), expected, 48) != 0)
      (*bad)++;
    PCS(blob_release)(blob);
    /* The last error is per thread: provoke a thread-specific failure, then read it back
     * while the other threads keep failing in their own ways. */
    if (round % 64 == 0) {
      const char *expected_message;
      char message[128];
      if (thread % 2 == 0) {
        PCS(hasher_new)(NULL);
        expected_message = "pcs_hasher_new: `out` is NULL";
      } else {
        PCS(get_blob)(NULL, &key, &blob);
        expected_message = "pcs_get_blob: `store` is NULL";
      }
      PCS(last_error)(message, sizeof message);
      if (strcmp(message, expected_message) != 0) (*bad)++;
    }
  }
  return bad;
}

static void test_threads(void) {
  pthread_t threads[THREADS];
  unsigned i;
  pcs_cache_metrics metrics;
  shared_store = open_memory(0, 0);
  for (i = 0; i < THREADS; i++)
    CHECK(pthread_create(&threads[i], NULL, hammer, (void *)(uintptr_t)i) == 0);
  for (i = 0; i < THREADS; i++) {
    void *bad = NULL;
    CHECK(pthread_join(threads[i], &bad) == 0);
    CHECK(bad != NULL && *(int *)bad == 0);
    free(bad);
  }
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCS(metrics)(shared_store, &metrics), PCS_OK);
  CHECK(metrics.puts == THREADS * ROUNDS);
  CHECK(metrics.hits == 2 * THREADS * ROUNDS && metrics.misses == 0);
  CHECK(metrics.entries == KEYS);
  PCS(store_release)(shared_store);
}

int main(int argc, char **argv) {
#ifdef PCS_TEST_DLOPEN
  pcs_loader loader, refused;
  char why[256];
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/libpcstore.so\n", argv[0]);
    return 2;
  }
  CHECK(pcs_loader_open(&refused, "/nonexistent/libpcstore.so", why, sizeof why) == PCS_ERR_IO);
  CHECK(refused.api == NULL && strstr(why, "dlopen") != NULL);
  CHECK(pcs_loader_open(&refused, "libm.so.6", why, sizeof why) == PCS_ERR_UNSUPPORTED);
  CHECK(refused.api == NULL && strstr(why, "no pcs_get_api") != NULL);
  CHECK(pcs_loader_open(NULL, argv[1], NULL, 0) == PCS_ERR_NULL_ARGUMENT);
  if (pcs_loader_open(&loader, argv[1], why, sizeof why) != PCS_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], why);
    return 1;
  }
  api = loader.api;
#else
  (void)argc;
  (void)argv;
#endif
  test_versions_and_strings();
  test_fingerprints();
  test_scoped_keys();
  test_put_get();
  test_blobs();
  test_limits_and_metrics();
  test_layered();
  test_last_error_and_api();
  test_threads();
#ifdef PCS_TEST_DLOPEN
  pcs_loader_close(&loader);
  pcs_loader_close(&loader); /* closing twice is a no-op */
#endif
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
