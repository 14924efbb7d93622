/*
 * The disk store through the C ABI, across processes. scripts/test-c.sh runs, in order, one
 * process per mode on one fresh directory DIR:
 *   write DIR    puts three blobs (one of 1 MiB), flushes, exits;
 *   read DIR     a second process finds exactly those bytes; a read-only open refuses puts;
 *   misuse DIR   NULL / empty / non-UTF-8 paths, bad options, a file as directory, limits;
 *   default DIR  pcs_store_open_default with PCSTORE_DIR, PCSTORE_MAX_SIZE, PCSTORE_DISABLE,
 *                PCSTORE_REMOTE_URL, PCSTORE_REMOTE_READ_ONLY: the grammar shared with the
 *                layer, bad values refused, an unusable disk leaving a memory store;
 *   remote DIR   pcs_store_open_remote misuse, and a server that is down: misses, queued puts,
 *                a flush that reports the failed upload, read-only refusals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcstore.h"

#include "check.h"

#define BIG (1u << 20)

static pcs_fingerprint key_of(const char *text) {
  pcs_fingerprint key;
  pcs_fingerprint_of(text, strlen(text), &key);
  return key;
}

static void fill_big(unsigned char *bytes) {
  size_t i;
  for (i = 0; i < BIG; i++) bytes[i] = (unsigned char)(i * 2654435761u >> 13);
}

static pcs_disk_options options(uint64_t max_bytes, uint64_t max_entry_bytes, uint32_t read_only) {
  pcs_disk_options opts;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.max_bytes = max_bytes;
  opts.max_entry_bytes = max_entry_bytes;
  opts.read_only = read_only;
  return opts;
}

static void write_mode(const char *dir) {
  pcs_store *store = NULL;
  pcs_disk_options opts = options(64u << 20, 0, 0);
  unsigned char *big = (unsigned char *)malloc(BIG);
  pcs_fingerprint small = key_of("small"), empty = key_of("empty"), large = key_of("large");
  fill_big(big);
  CHECK_RESULT(pcs_store_open_disk(dir, &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &small, "durable bytes", 13), PCS_OK);
  CHECK_RESULT(pcs_put(store, &empty, NULL, 0), PCS_OK);
  CHECK_RESULT(pcs_put(store, &large, big, BIG), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
  free(big);
}

static void read_mode(const char *dir) {
  pcs_store *store = NULL, *read_only = NULL;
  pcs_disk_options ro = options(0, 0, 1);
  unsigned char *big = (unsigned char *)malloc(BIG);
  char buf[32];
  size_t len = sizeof buf;
  pcs_blob *blob = NULL;
  pcs_fingerprint small = key_of("small"), empty = key_of("empty"), large = key_of("large");
  pcs_cache_metrics metrics;
  fill_big(big);

  CHECK_RESULT(pcs_store_open_disk(dir, NULL, &store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &small, buf, &len), PCS_OK);
  CHECK(len == 13 && memcmp(buf, "durable bytes", 13) == 0);
  CHECK_RESULT(pcs_get(store, &empty, NULL, &len), PCS_OK);
  CHECK(len == 0);
  CHECK_RESULT(pcs_get_blob(store, &large, &blob), PCS_OK);
  CHECK(pcs_blob_size(blob) == BIG && memcmp(pcs_blob_data(blob), big, BIG) == 0);
  pcs_blob_release(blob);
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(pcs_metrics(store, &metrics), PCS_OK);
  CHECK(metrics.hits == 3 && metrics.misses == 0 && metrics.entries == 3);
  pcs_store_release(store);

  CHECK_RESULT(pcs_store_open_disk(dir, &ro, &read_only), PCS_OK);
  CHECK_RESULT(pcs_get(read_only, &small, NULL, &len), PCS_OK);
  CHECK_RESULT(pcs_put(read_only, &small, "x", 1), PCS_ERR_UNSUPPORTED);
  pcs_store_release(read_only);
  free(big);
}

static void misuse_mode(const char *dir) {
  pcs_store *store = NULL, *untouched = (pcs_store *)&failures;
  pcs_disk_options opts = options(0, 0, 2);
  char file_path[4096];
  FILE *file;
  char seventeen[17] = {0};
  pcs_fingerprint key = key_of("limit");

  CHECK_RESULT(pcs_store_open_disk(NULL, NULL, &untouched), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_disk(dir, NULL, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_disk("", NULL, &untouched), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_store_open_disk("/tmp/\xff\xfe", NULL, &untouched), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_store_open_disk(dir, &opts, &untouched), PCS_ERR_INVALID_ARGUMENT);
  opts = options(0, 0, 0);
  opts.struct_size = 8;
  CHECK_RESULT(pcs_store_open_disk(dir, &opts, &untouched), PCS_ERR_INVALID_ARGUMENT);
  snprintf(file_path, sizeof file_path, "%s/not-a-directory", dir);
  file = fopen(file_path, "w");
  CHECK(file != NULL);
  if (file != NULL) fclose(file);
  CHECK_RESULT(pcs_store_open_disk(file_path, NULL, &untouched), PCS_ERR_IO);
  CHECK(untouched == (pcs_store *)&failures);

  opts = options(0, 16, 0);
  snprintf(file_path, sizeof file_path, "%s/limits", dir);
  CHECK_RESULT(pcs_store_open_disk(file_path, &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &key, seventeen, sizeof seventeen), PCS_ERR_TOO_LARGE);
  CHECK_RESULT(pcs_put(store, &key, seventeen, 16), PCS_OK);
  pcs_store_release(store);
}

/* Checks that the last error names `text` (a variable and its value). */
static void check_last_error_names(const char *text) {
  char why[512];
  pcs_last_error(why, sizeof why);
  if (strstr(why, text) == NULL) {
    fprintf(stderr, "last error \"%s\" does not name %s\n", why, text);
    failures++;
  }
}

static void default_mode(const char *dir) {
  char path[4096];
  pcs_store *store = NULL;
  size_t len = 0;
  pcs_fingerprint key = key_of("default store"), other = key_of("not persisted");

  snprintf(path, sizeof path, "%s/default", dir);
  setenv("PCSTORE_DIR", path, 1);
  /* Bad values are refused with a message naming the variable and the value. */
  setenv("PCSTORE_MAX_SIZE", "lots", 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == NULL);
  check_last_error_names("PCSTORE_MAX_SIZE=\"lots\"");
  setenv("PCSTORE_MAX_SIZE", "0", 1); /* a budget of 0 would silently store nothing */
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  check_last_error_names("PCSTORE_MAX_SIZE=\"0\"");
  setenv("PCSTORE_MAX_SIZE", "1 G", 1); /* one grammar with the layer: 1 GiB */
  CHECK_RESULT(pcs_store_open_default(NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &key, "kept", 4), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
  setenv("PCSTORE_MAX_SIZE", "64 MiB", 1);

  /* A new default store has an empty memory tier: the hit comes from disk. */
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_OK);
  CHECK(len == 4);
  pcs_store_release(store);

  /* PCSTORE_DISABLE is a boolean: "false" keeps the disk, "1"/"on" leave memory only. */
  setenv("PCSTORE_DISABLE", "false", 1);
  store = NULL;
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_OK);
  pcs_store_release(store);
  setenv("PCSTORE_DISABLE", "1", 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_MISS);
  CHECK_RESULT(pcs_put(store, &other, "gone", 4), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
  setenv("PCSTORE_DISABLE", "ON", 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &other, NULL, &len), PCS_MISS); /* nothing persisted */
  pcs_store_release(store);
  setenv("PCSTORE_DISABLE", "maybe", 1);
  store = NULL;
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == NULL);
  check_last_error_names("PCSTORE_DISABLE=\"maybe\"");
  unsetenv("PCSTORE_DISABLE");

  /* A named remote cache joins as the slowest layer; a bad one is an error, never ignored. */
  setenv("PCSTORE_REMOTE_URL", "ftp://nowhere", 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == NULL);
  check_last_error_names("PCSTORE_REMOTE_URL");
  setenv("PCSTORE_REMOTE_URL", "http://127.0.0.1:1", 1); /* nothing listens on port 1 */
  setenv("PCSTORE_REMOTE_READ_ONLY", "TRUE", 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_OK); /* from disk, the remote is not asked */
  CHECK(len == 4);
  CHECK_RESULT(pcs_put(store, &key, "new", 3), PCS_OK);   /* memory and disk take it */
  /* Read-only: nothing was queued for the dead server, so the flush has nothing to fail on. */
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
  setenv("PCSTORE_REMOTE_READ_ONLY", "sometimes", 1);
  store = NULL;
  CHECK_RESULT(pcs_store_open_default(&store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == NULL);
  check_last_error_names("PCSTORE_REMOTE_READ_ONLY=\"sometimes\"");
  unsetenv("PCSTORE_REMOTE_URL");
  unsetenv("PCSTORE_REMOTE_READ_ONLY");

  /* A disk store that cannot be used leaves a working memory store (and one stderr line for
   * the whole process, which scripts/test-c.sh counts): a game keeps running. */
  snprintf(path, sizeof path, "%s/not-a-directory", dir);
  {
    FILE *blocker = fopen(path, "w");
    CHECK(blocker != NULL);
    if (blocker != NULL) fclose(blocker);
  }
  snprintf(path, sizeof path, "%s/not-a-directory/store", dir);
  setenv("PCSTORE_DIR", path, 1);
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &other, "memory", 6), PCS_OK);
  CHECK_RESULT(pcs_get(store, &other, NULL, &len), PCS_OK);
  CHECK(len == 6);
  pcs_store_release(store);
  unsetenv("PCSTORE_DIR");
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  store = NULL;
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  CHECK(store != NULL);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_MISS);
  pcs_store_release(store);
}

static void remote_mode(void) {
  pcs_store *store = NULL;
  pcs_remote_options opts;
  size_t len = 0;
  pcs_fingerprint key = key_of("remote");

  CHECK_RESULT(pcs_store_open_remote(NULL, NULL, &store), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", NULL, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(pcs_store_open_remote("not a url", NULL, &store), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_store_open_remote("\xff\xfe", NULL, &store), PCS_ERR_INVALID_ARGUMENT);
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.read_only = 2;
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", &opts, &store), PCS_ERR_INVALID_ARGUMENT);
  opts.struct_size = 3;
  opts.read_only = 0;
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", &opts, &store), PCS_ERR_INVALID_ARGUMENT);
  CHECK(store == NULL);

  /* A server that is down: lookups miss, puts queue, flush reports the failed upload. */
  opts.struct_size = sizeof opts;
  opts.connect_timeout_ms = 100;
  opts.flush_deadline_ms = 2000;
  opts.bearer_token = "token";
  opts.secret = "studio secret";
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_MISS);
  CHECK_RESULT(pcs_put(store, &key, "blob", 4), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_ERR_IO);
  pcs_store_release(store);

  opts.read_only = 1;
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &key, "blob", 4), PCS_ERR_UNSUPPORTED);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s write|read|misuse|default|remote DIR\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "write") == 0) {
    write_mode(argv[2]);
  } else if (strcmp(argv[1], "read") == 0) {
    read_mode(argv[2]);
  } else if (strcmp(argv[1], "misuse") == 0) {
    misuse_mode(argv[2]);
  } else if (strcmp(argv[1], "default") == 0) {
    default_mode(argv[2]);
  } else if (strcmp(argv[1], "remote") == 0) {
    remote_mode();
  } else {
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  if (failures != 0) {
    fprintf(stderr, "%s: %d check(s) failed\n", argv[1], failures);
    return 1;
  }
  printf("%s: all checks passed\n", argv[1]);
  return 0;
}
