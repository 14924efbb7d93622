/*
 * pcstore_loader.h: load libpcstore at run time with dlopen, header-only, C99 and C++17.
 *
 *     pcs_loader loader;
 *     char why[256];
 *     if (pcs_loader_open(&loader, NULL, why, sizeof why) != PCS_OK) { puts(why); ... }
 *     loader.api->put(store, &key, data, len);   // every function of pcstore.h, minus "pcs_"
 *     pcs_loader_close(&loader);
 *
 * The Vulkan functions (pcstore_vulkan.h) come from the same table:
 *     const pcs_vk_api *vk;
 *     loader.api->get_vk_api(PCS_ABI_VERSION, &vk);   // then vk->load_pipeline_cache(...)
 *
 * It resolves the one symbol `pcs_get_api`, asks for the PCS_ABI_VERSION of the pcstore.h it
 * was compiled with, and refuses a library that is older. Link with -ldl on glibc < 2.34.
 * Thread-safety: open and close are not (call them once, at start-up and shutdown); the table
 * they give is immutable and may be used from any thread while the library stays loaded.
 */
#ifndef PCSTORE_LOADER_H
#define PCSTORE_LOADER_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "pcstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The library's default file name: its SONAME, found on the dynamic linker's search path. */
#define PCS_LOADER_DEFAULT_PATH "libpcstore.so.0"

/** A loaded library. Zero it or pass it to pcs_loader_open; owned by the caller. */
typedef struct pcs_loader {
  /** The dlopen handle; NULL when not loaded. */
  void *library;
  /** The function table; NULL when not loaded. Valid until pcs_loader_close. */
  const pcs_api *api;
} pcs_loader;

/*
 * Loads `path` (NULL: PCS_LOADER_DEFAULT_PATH) and fills `*loader`. On failure `*loader` is
 * zeroed, the library is not left loaded, and when `why` is not NULL a NUL-terminated reason
 * of at most `why_len` bytes is written there. Returns PCS_OK; PCS_ERR_NULL_ARGUMENT (`loader`
 * NULL); PCS_ERR_IO (dlopen failed); PCS_ERR_UNSUPPORTED (no pcs_get_api: not libpcstore);
 * PCS_ERR_ABI_MISMATCH (the library is older than this header).
 */
static inline pcs_result pcs_loader_open(pcs_loader *loader, const char *path, char *why,
                                         size_t why_len) {
  typedef pcs_result (*get_api_fn)(uint32_t, const pcs_api **);
  void *library;
  void *symbol;
  get_api_fn get_api;
  const pcs_api *api = NULL;
  pcs_result result;

  if (why != NULL && why_len > 0) why[0] = '\0';
  if (loader == NULL) return PCS_ERR_NULL_ARGUMENT;
  loader->library = NULL;
  loader->api = NULL;

  library = dlopen(path != NULL ? path : PCS_LOADER_DEFAULT_PATH, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    if (why != NULL && why_len > 0) snprintf(why, why_len, "dlopen: %s", dlerror());
    return PCS_ERR_IO;
  }
  symbol = dlsym(library, "pcs_get_api");
  if (symbol == NULL) {
    if (why != NULL && why_len > 0) snprintf(why, why_len, "not libpcstore: no pcs_get_api");
    dlclose(library);
    return PCS_ERR_UNSUPPORTED;
  }
  /* ISO C has no object-to-function pointer cast; POSIX guarantees this copy works. */
  memcpy(&get_api, &symbol, sizeof get_api);

  result = get_api(PCS_ABI_VERSION, &api);
  if (result == PCS_OK && api->struct_size < sizeof(pcs_api)) {
    result = PCS_ERR_ABI_MISMATCH; /* a library that lies about its version */
  }
  if (result != PCS_OK) {
    if (why != NULL && why_len > 0) {
      snprintf(why, why_len, "pcs_get_api(%u) failed (%d): the library is older than this header",
               (unsigned)PCS_ABI_VERSION, (int)result);
    }
    dlclose(library);
    return result;
  }
  loader->library = library;
  loader->api = api;
  return PCS_OK;
}

/* Unloads the library; `loader` NULL or not loaded is a no-op. Every pcs_store and pcs_blob
 * from it must be released first: their code lives in the library. */
static inline void pcs_loader_close(pcs_loader *loader) {
  if (loader == NULL || loader->library == NULL) return;
  dlclose(loader->library);
  loader->library = NULL;
  loader->api = NULL;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PCSTORE_LOADER_H */
