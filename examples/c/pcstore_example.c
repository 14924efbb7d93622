/*
 * The pcstore C ABI in one page: derive a key, look it up, store on a miss, read zero-copy.
 * Build (after scripts/install.sh PREFIX):
 *   cc pcstore_example.c $(pkg-config --cflags --libs pcstore) -o pcstore_example
 * or with CMake: see CMakeLists.txt next to this file.
 */
#include <stdio.h>
#include <string.h>

#include "pcstore.h"

static int fail(const char *what, pcs_result result) {
  char why[256];
  pcs_last_error(why, sizeof why);
  fprintf(stderr, "%s: %s (%s)\n", what, pcs_result_str(result), why);
  return 1;
}

int main(void) {
  pcs_store *store = NULL;
  pcs_fingerprint key;
  pcs_blob *blob = NULL;
  pcs_cache_metrics metrics;
  const char *shader_and_state = "my engine's pipeline description";
  const char compiled[] = "pretend this came from vkGetPipelineCacheData";
  pcs_result result;

  printf("libpcstore %s, ABI %u (header ABI %u)\n", pcs_version(), pcs_abi_version(),
         (unsigned)PCS_ABI_VERSION);

  result = pcs_store_open_memory(NULL, &store);
  if (result != PCS_OK) return fail("open", result);

  pcs_fingerprint_of(shader_and_state, strlen(shader_and_state), &key);

  result = pcs_get_blob(store, &key, &blob);
  if (result == PCS_MISS) {
    printf("miss: compiling and storing %zu bytes\n", sizeof compiled);
    result = pcs_put(store, &key, compiled, sizeof compiled);
    if (result != PCS_OK) return fail("put", result);
    result = pcs_get_blob(store, &key, &blob);
  }
  if (result != PCS_OK) return fail("get", result);
  printf("hit: %zu bytes: %s\n", pcs_blob_size(blob), (const char *)pcs_blob_data(blob));
  pcs_blob_release(blob);

  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  if (pcs_metrics(store, &metrics) == PCS_OK) {
    printf("lookups %llu, hits %llu, puts %llu\n", (unsigned long long)metrics.lookups,
           (unsigned long long)metrics.hits, (unsigned long long)metrics.puts);
  }
  pcs_store_release(store);
  return 0;
}
