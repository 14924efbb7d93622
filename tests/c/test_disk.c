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
 *                a flush that reports the failed upload, read-only refusals;
 *   log DIR      pcs_set_log_callback: a real refusal (the default store's unusable disk) and a
 *                real repair (a damaged entry dropped) reach the callback, levels filter, NULL
 *                removes, no credential ever appears, misuse is refused, and a callback is never
 *                called after the call that replaced or removed it returned, while four threads
 *                log; it prints "log: callback removed" on stderr before its one `pcstore:`
 *                line (scripts/test-c.sh checks that nothing reached stderr while a callback
 *                listened).
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
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

/* Points PCSTORE_DIR below the regular file `dir/name`: a disk store that cannot be used. */
static void point_at_unusable_dir(const char *dir, const char *name) {
  char path[4096];
  FILE *blocker;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  blocker = fopen(path, "w");
  CHECK(blocker != NULL);
  if (blocker != NULL) fclose(blocker);
  snprintf(path, sizeof path, "%s/%s/store", dir, name);
  setenv("PCSTORE_DIR", path, 1);
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
  point_at_unusable_dir(dir, "not-a-directory");
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

/* A remote store on a server that is down: lookups miss, puts queue, flush reports the failed
 * upload. */
static void use_dead_remote(const char *url, const char *token, const char *secret) {
  pcs_store *store = NULL;
  pcs_remote_options opts;
  size_t len = 0;
  pcs_fingerprint key = key_of("remote");
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.connect_timeout_ms = 100;
  opts.flush_deadline_ms = 2000;
  opts.bearer_token = token;
  opts.secret = secret;
  CHECK_RESULT(pcs_store_open_remote(url, &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_get(store, &key, NULL, &len), PCS_MISS);
  CHECK_RESULT(pcs_put(store, &key, "blob", 4), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_ERR_IO);
  pcs_store_release(store);
}

static void remote_mode(void) {
  pcs_store *store = NULL;
  pcs_remote_options opts;
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

  use_dead_remote("http://127.0.0.1:1", "token", "studio secret");

  opts.struct_size = sizeof opts;
  opts.read_only = 1;
  CHECK_RESULT(pcs_store_open_remote("http://127.0.0.1:1", &opts, &store), PCS_OK);
  CHECK_RESULT(pcs_put(store, &key, "blob", 4), PCS_ERR_UNSUPPORTED);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
}

/* ---- log mode: messages through pcs_set_log_callback */

#define MAX_MESSAGES 256
typedef struct message {
  int32_t level;
  char target[32];
  char text[512];
} message;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static message messages[MAX_MESSAGES];
static int message_count; /* may exceed MAX_MESSAGES: only the first are kept */
static int wrong_user_data;

/* Called on any thread: everything it touches is under log_lock. */
static void collect(void *user_data, int32_t level, const char *target, const char *text) {
  pthread_mutex_lock(&log_lock);
  if (user_data != (void *)messages) wrong_user_data++;
  if (message_count < MAX_MESSAGES) {
    message *m = &messages[message_count];
    m->level = level;
    snprintf(m->target, sizeof m->target, "%s", target);
    snprintf(m->text, sizeof m->text, "%s", text);
  }
  message_count++;
  pthread_mutex_unlock(&log_lock);
}

static void forget_messages(void) {
  pthread_mutex_lock(&log_lock);
  message_count = 0;
  pthread_mutex_unlock(&log_lock);
}

/* How many kept messages come from `target` at `level` (0: any) and contain `text`. */
static int count_messages(const char *target, int32_t level, const char *text) {
  int i, found = 0;
  pthread_mutex_lock(&log_lock);
  for (i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    if (strcmp(messages[i].target, target) == 0 && (level == 0 || messages[i].level == level) &&
        strstr(messages[i].text, text) != NULL) {
      found++;
    }
  }
  pthread_mutex_unlock(&log_lock);
  return found;
}

/* Flips the first byte of `needle` in every file of `dir` that holds it; returns how many. */
static int damage_files(const char *dir, const char *needle) {
  DIR *listing = opendir(dir);
  struct dirent *entry;
  int damaged = 0;
  size_t needle_len = strlen(needle);
  if (listing == NULL) return 0;
  while ((entry = readdir(listing)) != NULL) {
    char path[4096];
    FILE *file;
    long size;
    unsigned char *bytes;
    size_t i;
    snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
    file = fopen(path, "r+b");
    if (file == NULL) continue; /* "." and "..", which are directories */
    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) <= 0 || fseek(file, 0, SEEK_SET) != 0) {
      fclose(file);
      continue;
    }
    bytes = (unsigned char *)malloc((size_t)size);
    if (bytes != NULL && fread(bytes, 1, (size_t)size, file) == (size_t)size) {
      for (i = 0; i + needle_len <= (size_t)size; i++) {
        if (memcmp(bytes + i, needle, needle_len) == 0) {
          unsigned char flipped = (unsigned char)(bytes[i] ^ 1);
          fseek(file, (long)i, SEEK_SET);
          fwrite(&flipped, 1, 1, file);
          damaged++;
          break;
        }
      }
    }
    free(bytes);
    fclose(file);
  }
  closedir(listing);
  return damaged;
}

/* Stores `payload` under `key` in the disk store at `dir`, damages it on disk, forgets the
 * messages so far, and reads it back in a store opened anew: a miss (and a damaged entry
 * dropped). */
static void damage_and_read(const char *dir, const pcs_fingerprint *key, const char *payload) {
  pcs_store *store = NULL;
  size_t len = 0;
  CHECK_RESULT(pcs_store_open_disk(dir, NULL, &store), PCS_OK);
  CHECK_RESULT(pcs_put(store, key, payload, strlen(payload)), PCS_OK);
  CHECK_RESULT(pcs_flush(store), PCS_OK);
  pcs_store_release(store);
  CHECK(damage_files(dir, payload) == 1);
  forget_messages();
  CHECK_RESULT(pcs_store_open_disk(dir, NULL, &store), PCS_OK);
  CHECK_RESULT(pcs_get(store, key, NULL, &len), PCS_MISS);
  pcs_store_release(store);
}

/* Callbacks that must never run after the pcs_set_log_callback that retired them returned. */
static int retired[2];
static int late_calls;
static int calls[2];

static void watched(int which) {
  int i, late;
  pthread_mutex_lock(&log_lock);
  calls[which]++;
  late = retired[which];
  pthread_mutex_unlock(&log_lock);
  for (i = 0; i < 1000; i++) sched_yield(); /* a long call: a replacement must wait for it */
  pthread_mutex_lock(&log_lock);
  if (late || retired[which]) late_calls++;
  pthread_mutex_unlock(&log_lock);
}
static void watch_a(void *user_data, int32_t level, const char *target, const char *text) {
  (void)user_data;
  (void)level;
  (void)target;
  (void)text;
  watched(0);
}
static void watch_b(void *user_data, int32_t level, const char *target, const char *text) {
  (void)user_data;
  (void)level;
  (void)target;
  (void)text;
  watched(1);
}

static int stop_logging;
static const char *busy_dir;

/* Logs by opening a disk store again and again (a debug message each time). */
static void *keep_logging(void *arg) {
  (void)arg;
  for (;;) {
    pcs_store *store = NULL;
    int stop;
    pthread_mutex_lock(&log_lock);
    stop = stop_logging;
    pthread_mutex_unlock(&log_lock);
    if (stop) return NULL;
    if (pcs_store_open_disk(busy_dir, NULL, &store) == PCS_OK) pcs_store_release(store);
  }
}

static int calls_of(int which) {
  int n;
  pthread_mutex_lock(&log_lock);
  n = calls[which];
  pthread_mutex_unlock(&log_lock);
  return n;
}

static void log_mode(const char *dir) {
  char repair_dir[4096], busy[4096];
  pcs_store *store = NULL;
  pcs_fingerprint damaged_key = key_of("to be damaged");
  pthread_t threads[4];
  int i, round;

  /* Misuse: refused, nothing installed. */
  CHECK_RESULT(pcs_set_log_callback(0, collect, messages), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_set_log_callback(PCS_LOG_DEBUG + 1, collect, messages), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(pcs_set_log_callback(0, NULL, NULL), PCS_OK); /* removing nothing is fine */

  /* A real refusal: the default store's disk cannot be used. To the callback, not stderr. */
  CHECK_RESULT(pcs_set_log_callback(PCS_LOG_WARN, collect, messages), PCS_OK);
  point_at_unusable_dir(dir, "log-blocker");
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  pcs_store_release(store);
  CHECK(count_messages("pcstore::config", PCS_LOG_ERROR, "the disk store cannot be used (") == 1);
  CHECK(count_messages("pcstore::config", PCS_LOG_ERROR, "log-blocker") == 1);

  /* A real repair: an entry damaged on disk is dropped, and said so. */
  snprintf(repair_dir, sizeof repair_dir, "%s/log-repair", dir);
  damage_and_read(repair_dir, &damaged_key, "log-mode payload that will be damaged");
  CHECK(count_messages("pcstore::disk", PCS_LOG_WARN, "dropped a damaged entry") == 1);
  CHECK(count_messages("pcstore::disk", PCS_LOG_DEBUG, "opened") == 0); /* below WARN */

  /* Levels: ERROR hears the unusable disk again but no damaged entry; DEBUG hears the stores
   * opening. */
  CHECK_RESULT(pcs_set_log_callback(PCS_LOG_ERROR, collect, messages), PCS_OK);
  damage_and_read(repair_dir, &damaged_key, "another log-mode payload to damage");
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  pcs_store_release(store);
  CHECK(count_messages("pcstore::disk", 0, "") == 0);
  CHECK(count_messages("pcstore::config", PCS_LOG_ERROR, "the disk store cannot be used") == 1);
  CHECK_RESULT(pcs_set_log_callback(PCS_LOG_DEBUG, collect, messages), PCS_OK);
  CHECK_RESULT(pcs_store_open_disk(repair_dir, NULL, &store), PCS_OK);
  pcs_store_release(store);
  CHECK(count_messages("pcstore::disk", PCS_LOG_DEBUG, ": opened, ") == 1);

  /* Credentials never appear: in the URL, as a bearer token, as the studio secret. */
  forget_messages();
  use_dead_remote("http://ci:hunter2@127.0.0.1:1/cache", "tok-s3cret", "studio sesame");
  CHECK(count_messages("pcstore::remote", PCS_LOG_WARN,
                       "remote cache http://127.0.0.1:1/cache: could not connect") == 1);
  {
    static const char *const secrets[] = {"hunter2", "ci:", "tok-s3cret", "sesame"};
    size_t s;
    pthread_mutex_lock(&log_lock);
    for (i = 0; i < message_count && i < MAX_MESSAGES; i++) {
      for (s = 0; s < sizeof secrets / sizeof secrets[0]; s++) {
        if (strstr(messages[i].text, secrets[s]) != NULL) {
          fprintf(stderr, "a credential in a message: %s\n", messages[i].text);
          failures++;
        }
      }
    }
    pthread_mutex_unlock(&log_lock);
  }

  /* NULL removes: nothing more arrives. */
  CHECK_RESULT(pcs_set_log_callback(PCS_LOG_DEBUG, NULL, messages), PCS_OK);
  forget_messages();
  CHECK_RESULT(pcs_store_open_disk(repair_dir, NULL, &store), PCS_OK);
  pcs_store_release(store);
  CHECK(count_messages("pcstore::disk", 0, "") == 0);

  /* Replaced and removed while four threads log: never called once retired. */
  snprintf(busy, sizeof busy, "%s/log-busy", dir);
  busy_dir = busy;
  for (i = 0; i < 4; i++) {
    if (pthread_create(&threads[i], NULL, keep_logging, NULL) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  for (round = 0; round < 40; round++) {
    int which = round % 2, before = calls_of(which);
    pthread_mutex_lock(&log_lock);
    retired[which] = 0;
    pthread_mutex_unlock(&log_lock);
    CHECK_RESULT(pcs_set_log_callback(PCS_LOG_DEBUG, which ? watch_b : watch_a, NULL), PCS_OK);
    pthread_mutex_lock(&log_lock);
    retired[1 - which] = 1; /* replaced */
    pthread_mutex_unlock(&log_lock);
    while (calls_of(which) < before + 2) sched_yield(); /* it is being called */
    if (round % 8 == 7) {
      CHECK_RESULT(pcs_set_log_callback(0, NULL, NULL), PCS_OK);
      pthread_mutex_lock(&log_lock);
      retired[which] = 1; /* removed */
      pthread_mutex_unlock(&log_lock);
    }
  }
  CHECK_RESULT(pcs_set_log_callback(0, NULL, NULL), PCS_OK);
  pthread_mutex_lock(&log_lock);
  retired[0] = retired[1] = 1;
  stop_logging = 1;
  pthread_mutex_unlock(&log_lock);
  for (i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  CHECK(late_calls == 0);
  CHECK(wrong_user_data == 0);

  /* Nobody listens any more: the warning that must not be missed goes to stderr (once). */
  fprintf(stderr, "log: callback removed\n");
  CHECK_RESULT(pcs_store_open_default(&store), PCS_OK);
  pcs_store_release(store);
  unsetenv("PCSTORE_DIR");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s write|read|misuse|default|remote|log DIR\n", argv[0]);
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
  } else if (strcmp(argv[1], "log") == 0) {
    log_mode(argv[2]);
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
