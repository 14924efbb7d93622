/*
 * Bundle stores through the C ABI. scripts/test-c.sh runs
 *   test_bundle FIXTURES SCRATCH
 * with FIXTURES = tests/bundle_fixtures (the committed signed.pcsb and unsigned.pcsb, checked
 * against the writer by tests/bundle_fixtures.rs) and SCRATCH a fresh directory for damaged
 * copies. Checks: every entry byte for byte, signed with the right key, refused with another
 * key or unsigned when a key is required, truncated and damaged copies, puts refused, a
 * layered stack over memory, misuse, the pcs_api table entry, and the default store with
 * PCSTORE_BUNDLES (and PCSTORE_BUNDLE_KEY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcstore.h"

#include "check.h"

/* Public keys of the test secrets [0x5a; 32] (which signed signed.pcsb) and [0x11; 32]. */
static const char STUDIO_KEY[] = "0d7550754e0800a5d237eef5826035766b9b3e5a15868a940ab289958788e3b0";
static const char OTHER_KEY[] = "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737";

#define ENTRIES 4

static void parse_hex(const char *hex, uint8_t out[32]) {
  int i;
  for (i = 0; i < 32; i++) {
    unsigned byte;
    sscanf(hex + 2 * i, "%2x", &byte);
    out[i] = (uint8_t)byte;
  }
}

/* Entry i of the fixtures: key BLAKE3("bundle fixture key i"), payload
 * "bundle fixture payload i" repeated i times. Returns the payload length. */
static size_t fixture_entry(int i, pcs_fingerprint *key, char *payload) {
  char text[64];
  size_t len = 0;
  int n;
  snprintf(text, sizeof text, "bundle fixture key %d", i);
  pcs_fingerprint_of(text, strlen(text), key);
  snprintf(text, sizeof text, "bundle fixture payload %d", i);
  for (n = 0; n < i; n++) {
    memcpy(payload + len, text, strlen(text));
    len += strlen(text);
  }
  return len;
}

static pcs_bundle_options options(const char *key_hex) {
  pcs_bundle_options opts;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  if (key_hex != NULL) {
    opts.has_public_key = 1;
    parse_hex(key_hex, opts.public_key);
  }
  return opts;
}

static void check_serves_every_entry(pcs_store *store) {
  int i;
  for (i = 0; i < ENTRIES; i++) {
    pcs_fingerprint key;
    char expected[256], buf[256];
    size_t expected_len = fixture_entry(i, &key, expected), len = sizeof buf;
    CHECK_RESULT(pcs_get(store, &key, buf, &len), PCS_OK);
    CHECK(len == expected_len && memcmp(buf, expected, len) == 0);
  }
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *read_file(const char *path, size_t *len) {
  FILE *file = fopen(path, "rb");
  unsigned char *bytes;
  long size;
  if (file == NULL) return NULL;
  fseek(file, 0, SEEK_END);
  size = ftell(file);
  fseek(file, 0, SEEK_SET);
  bytes = (unsigned char *)malloc((size_t)size);
  if (bytes != NULL && fread(bytes, 1, (size_t)size, file) != (size_t)size) {
    free(bytes);
    bytes = NULL;
  }
  fclose(file);
  *len = (size_t)size;
  return bytes;
}

static void write_file(const char *path, const unsigned char *bytes, size_t len) {
  FILE *file = fopen(path, "wb");
  CHECK(file != NULL);
  if (file == NULL) return;
  CHECK(fwrite(bytes, 1, len, file) == len);
  fclose(file);
}

static void signatures(const char *fixtures) {
  char signed_path[4096], unsigned_path[4096];
  pcs_store *store = NULL, *untouched = (pcs_store *)&failures;
  pcs_bundle_options studio = options(STUDIO_KEY), other = options(OTHER_KEY);
  char why[512];
  snprintf(signed_path, sizeof signed_path, "%s/signed.pcsb", fixtures);
  snprintf(unsigned_path, sizeof unsigned_path, "%s/unsigned.pcsb", fixtures);

  CHECK_RESULT(pcs_store_open_bundle(signed_path, &studio, &store), PCS_OK);
  check_serves_every_entry(store);
  pcs_store_release(store);
  CHECK_RESULT(pcs_store_open_bundle(signed_path, NULL, &store), PCS_OK);
  check_serves_every_entry(store);
  pcs_store_release(store);
  CHECK_RESULT(pcs_store_open_bundle(unsigned_path, NULL, &store), PCS_OK);
  check_serves_every_entry(store);
  pcs_store_release(store);

  CHECK_RESULT(pcs_store_open_bundle(signed_path, &other, &untouched), PCS_ERR_CORRUPT);
  pcs_last_error(why, sizeof why);
  CHECK(strstr(why, "signed by another key") != NULL && strstr(why, signed_path) != NULL);
  CHECK_RESULT(pcs_store_open_bundle(unsigned_path, &studio, &untouched), PCS_ERR_CORRUPT);
  pcs_last_error(why, sizeof why);
  CHECK(strstr(why, "unsigned") != NULL);
  CHECK(untouched == (pcs_store *)&failures);
}

static void damage(const char *fixtures, const char *scratch) {
  char source[4096], path[4096], why[512];
  size_t len = 0, cut;
  unsigned char *bytes;
  pcs_store *store = NULL, *untouched = (pcs_store *)&failures;
  pcs_bundle_options studio = options(STUDIO_KEY);
  pcs_fingerprint key;
  char payload[256], buf[256];
  size_t got = sizeof buf;
  pcs_cache_metrics metrics;
  snprintf(source, sizeof source, "%s/signed.pcsb", fixtures);
  snprintf(path, sizeof path, "%s/damaged.pcsb", scratch);
  bytes = read_file(source, &len);
  CHECK(bytes != NULL && len > 200);
  if (bytes == NULL) return;

  /* Truncated anywhere: refused, with the reason. */
  for (cut = 0; cut < len; cut += 7) {
    write_file(path, bytes, cut);
    CHECK_RESULT(pcs_store_open_bundle(path, &studio, &untouched), PCS_ERR_CORRUPT);
  }
  pcs_last_error(why, sizeof why);
  CHECK(strstr(why, "truncated") != NULL);

  /* A changed header byte (the entry count): refused. */
  bytes[24] ^= 1;
  write_file(path, bytes, len);
  CHECK_RESULT(pcs_store_open_bundle(path, &studio, &untouched), PCS_ERR_CORRUPT);
  bytes[24] ^= 1;

  /* A newer format version: refused as unsupported. */
  bytes[8] = 3;
  write_file(path, bytes, len);
  CHECK_RESULT(pcs_store_open_bundle(path, NULL, &untouched), PCS_ERR_UNSUPPORTED);
  bytes[8] = 2;
  CHECK(untouched == (pcs_store *)&failures);

  /* A changed payload byte (the first payload starts right after the 88-byte header): the
   * bundle opens, that entry is a counted miss and never reaches the caller. */
  bytes[88] ^= 0xff;
  write_file(path, bytes, len);
  CHECK_RESULT(pcs_store_open_bundle(path, &studio, &store), PCS_OK);
  {
    int i, misses = 0;
    for (i = 0; i < ENTRIES; i++) {
      size_t expected = fixture_entry(i, &key, payload);
      got = sizeof buf;
      if (pcs_get(store, &key, buf, &got) == PCS_MISS) {
        misses++;
      } else {
        CHECK(got == expected && memcmp(buf, payload, got) == 0);
      }
    }
    CHECK(misses == 1);
  }
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(pcs_metrics(store, &metrics), PCS_OK);
  CHECK(metrics.corrupt_dropped == 1);
  pcs_store_release(store);
  free(bytes);
}

static void read_only_and_layered(const char *fixtures) {
  char path[4096];
  pcs_store *bundle = NULL, *memory = NULL, *stack = NULL, *layers[2];
  pcs_fingerprint key;
  char payload[256], buf[256];
  size_t len, got;
  pcs_cache_metrics metrics;
  snprintf(path, sizeof path, "%s/unsigned.pcsb", fixtures);
  CHECK_RESULT(pcs_store_open_bundle(path, NULL, &bundle), PCS_OK);
  CHECK_RESULT(pcs_store_open_memory(NULL, &memory), PCS_OK);
  len = fixture_entry(3, &key, payload);
  CHECK_RESULT(pcs_put(bundle, &key, "x", 1), PCS_ERR_UNSUPPORTED);
  CHECK_RESULT(pcs_flush(bundle), PCS_OK);

  layers[0] = memory;
  layers[1] = bundle;
  CHECK_RESULT(pcs_store_open_layered(layers, 2, &stack), PCS_OK);
  got = sizeof buf;
  CHECK_RESULT(pcs_get(stack, &key, buf, &got), PCS_OK);
  CHECK(got == len && memcmp(buf, payload, len) == 0);
  got = sizeof buf;
  CHECK_RESULT(pcs_get(memory, &key, buf, &got), PCS_OK); /* promoted into memory */
  CHECK_RESULT(pcs_put(stack, &key, "new", 3), PCS_OK);   /* memory takes it */
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(pcs_metrics(bundle, &metrics), PCS_OK);
  CHECK(metrics.hits == 1 && metrics.entries == ENTRIES && metrics.rejected_puts == 2);
  pcs_store_release(stack);
  pcs_store_release(memory);
  pcs_store_release(bundle);
}

static void misuse(const char *fixtures, const char *scratch) {
  char path[4096];
  pcs_store *untouched = (pcs_store *)&failures;
  pcs_bundle_options opts = options(NULL);
  const pcs_api *api = NULL;
  snprintf(path, sizeof path, "%s/unsigned.pcsb", fixtures);

  CHECK_RESULT(pcs_store_open_bundle(NULL, NULL, &untouched), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_bundle(path, NULL, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_bundle("", NULL, &untouched), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_store_open_bundle("/tmp/\xff\xfe", NULL, &untouched), PCS_ERR_INVALID_ARGUMENT);
  opts.has_public_key = 2;
  CHECK_RESULT(pcs_store_open_bundle(path, &opts, &untouched), PCS_ERR_INVALID_ARGUMENT);
  opts = options(NULL);
  opts.struct_size = 8;
  CHECK_RESULT(pcs_store_open_bundle(path, &opts, &untouched), PCS_ERR_INVALID_ARGUMENT);
  opts = options(NULL);
  opts.has_public_key = 1;
  memset(opts.public_key, 0x02, sizeof opts.public_key); /* not a curve point */
  CHECK_RESULT(pcs_store_open_bundle(path, &opts, &untouched), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_store_open_bundle(scratch, NULL, &untouched), PCS_ERR_IO); /* a directory */
  snprintf(path, sizeof path, "%s/missing.pcsb", scratch);
  CHECK_RESULT(pcs_store_open_bundle(path, NULL, &untouched), PCS_ERR_IO);
  CHECK(untouched == (pcs_store *)&failures);

  CHECK_RESULT(pcs_get_api(PCS_ABI_VERSION, &api), PCS_OK);
  CHECK(api != NULL && api->struct_size >= sizeof(pcs_api) &&
        api->store_open_bundle == pcs_store_open_bundle);
}

/* pcs_store_open_default layers PCSTORE_BUNDLES under its disk tier: every bundle entry is
 * served, a hit is promoted into memory but not copied to disk; a bundle signed by another key
 * than PCSTORE_BUNDLE_KEY is left out, and the store still works. */
static void default_store_with_bundles(const char *fixtures, const char *scratch) {
  char bundle[4096], dir[4096], buf[256];
  pcs_store *store = NULL, *disk = NULL;
  pcs_fingerprint key;
  size_t got;
  snprintf(bundle, sizeof bundle, "%s/signed.pcsb", fixtures);
  snprintf(dir, sizeof dir, "%s/default-store", scratch);
  setenv("PCSTORE_DIR", dir, 1);
  setenv("PCSTORE_BUNDLES", bundle, 1);
  setenv("PCSTORE_BUNDLE_KEY", STUDIO_KEY, 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  if (store == NULL) return;
  check_serves_every_entry(store);
  check_serves_every_entry(store); /* from memory now */
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);

  CHECK_RESULT(pcs_store_open_disk(dir, NULL, &disk), PCS_OK);
  fixture_entry(1, &key, buf);
  got = sizeof buf;
  CHECK_RESULT(pcs_get(disk, &key, buf, &got), PCS_MISS); /* not copied to disk */
  pcs_store_release(disk);

  setenv("PCSTORE_BUNDLE_KEY", OTHER_KEY, 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  got = sizeof buf;
  CHECK_RESULT(pcs_get(store, &key, buf, &got), PCS_MISS); /* refused, left out */
  CHECK_RESULT(pcs_put(store, &key, "local", 5), PCS_OK);
  got = sizeof buf;
  CHECK_RESULT(pcs_get(store, &key, buf, &got), PCS_OK);
  CHECK(got == 5 && memcmp(buf, "local", 5) == 0);
  pcs_store_release(store);

  /* A key that is not one: refused like every unusable variable, naming it. */
  setenv("PCSTORE_BUNDLE_KEY", "not hex", 1);
  store = (pcs_store *)&failures;
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == (pcs_store *)&failures);
  unsetenv("PCSTORE_BUNDLE_KEY");
  unsetenv("PCSTORE_BUNDLES");
  unsetenv("PCSTORE_DIR");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIXTURES_DIR SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  signatures(argv[1]);
  damage(argv[1], argv[2]);
  read_only_and_layered(argv[1]);
  misuse(argv[1], argv[2]);
  default_store_with_bundles(argv[1], argv[2]);
  if (failures != 0) {
    fprintf(stderr, "bundle: %d check(s) failed\n", failures);
    return 1;
  }
  printf("bundle: all checks passed\n");
  return 0;
}
