/*
 * The Vulkan C ABI (pcstore_vulkan.h) from a C engine's point of view, on a real driver with
 * VK_LAYER_KHRONOS_validation enabled and every validation error counted as a failure.
 *
 * usage: test_vulkan MODE DRIVER SPV STATE [LIBPCSTORE]
 *   MODE    save    pipelines created with a cache from the store, saved, the stored envelope
 *                   checked against the device; misuse
 *           load    a FRESH process loads what `save` stored (must HIT with exactly those bytes
 *                   reaching the driver, under the key it derives itself), checks the cache's
 *                   header against the device, creates pipelines with it
 *   save and load share a disk store (pcs_store_open_disk on STATE, flushed by save; a second
 *                   pipeline set is saved after the caller released its store handle and made
 *                   durable through pcs_vk_context_flush, whose failure is reported too)
 *           corrupt a FRESH process finds the entries `save` stored damaged on disk (a byte of each
 *                   driver blob flipped in STATE's files): PCS_VK_LOAD_CORRUPT with
 *                   PCS_VK_REJECT_STORE_CORRUPT, the driver given nothing, again or a miss
 *           reject  every rejection path gives an empty cache and the right reason, and the
 *                   driver never sees a byte of it; a driver failing with the data gets an empty
 *                   cache next; a changed namespace or driver identity misses; a context's
 *                   first save writes the label of its application (pcs_vk_context_set_application)
 *           threads several threads load, create pipelines, save and merge at once
 *   DRIVER  lavapipe | swiftshader (the test fails unless the device found is that driver;
 *           scripts/test-c.sh points VK_DRIVER_FILES at it)
 *   SPV     tests/shaders/fill.comp.spv
 *   STATE   the disk store's directory
 *   LIBPCSTORE  with -DPCS_TEST_DLOPEN: the library, reached only through pcs_get_api's table
 *
 * Proof that rejected bytes never reach the driver: pcstore is handed a wrapped
 * vkGetInstanceProcAddr whose vkGetDeviceProcAddr hands out a wrapped vkCreatePipelineCache that
 * records every call's initialDataSize and pInitialData. The same wrapper can play a driver
 * update (driverVersion + 1 in the properties pcstore reads).
 *
 * Every validation error fails the test; at start-up one deliberate error proves the messenger
 * counts. Exits non-zero on any failed check, validation error, or missing driver/layer.
 */
#include <dirent.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PCS_TEST_DLOPEN
#include "pcstore_loader.h"
#endif
#include "pcstore_vulkan.h"

#ifdef PCS_TEST_DLOPEN
static const pcs_api *api;
static const pcs_vk_api *vk_api;
#define PCS(name) (api->name)
#define PCSVK(name) (vk_api->name)
#else
#define PCS(name) (pcs_##name)
#define PCSVK(name) (pcs_vk_##name)
#endif

/* ---- the C layout of the Vulkan structs, checked against the real <vulkan/vulkan.h> and the
 * offsets src/ffi/vulkan.rs asserts for the Rust side (LP64). */
#define LAYOUT(name, cond) typedef char layout_##name[(cond) ? 1 : -1]
LAYOUT(instance_is_a_pointer, sizeof(VkInstance) == sizeof(void *));
LAYOUT(device_is_a_pointer, sizeof(VkDevice) == sizeof(void *));
LAYOUT(cache_is_64_bit, sizeof(VkPipelineCache) == 8);
LAYOUT(vkresult_is_32_bit, sizeof(VkResult) == 4);
#if UINTPTR_MAX == 0xffffffffffffffffu
LAYOUT(info_instance, offsetof(pcs_vk_device_info, instance) == 8);
LAYOUT(info_physical_device, offsetof(pcs_vk_device_info, physical_device) == 16);
LAYOUT(info_device, offsetof(pcs_vk_device_info, device) == 24);
LAYOUT(info_gipa, offsetof(pcs_vk_device_info, get_instance_proc_addr) == 32);
LAYOUT(info_api_version, offsetof(pcs_vk_device_info, api_version) == 40);
LAYOUT(info_namespace, offsetof(pcs_vk_device_info, engine_namespace) == 48);
LAYOUT(info_namespace_len, offsetof(pcs_vk_device_info, engine_namespace_len) == 56);
LAYOUT(info_max_blob, offsetof(pcs_vk_device_info, max_blob_bytes) == 64);
LAYOUT(info_size, sizeof(pcs_vk_device_info) == 72);
LAYOUT(load_outcome, offsetof(pcs_vk_load_info, outcome) == 8);
LAYOUT(load_rejection, offsetof(pcs_vk_load_info, rejection) == 12);
LAYOUT(load_driver_result, offsetof(pcs_vk_load_info, driver_result) == 16);
LAYOUT(load_stored, offsetof(pcs_vk_load_info, stored_bytes) == 24);
LAYOUT(load_initial, offsetof(pcs_vk_load_info, initial_data_bytes) == 32);
LAYOUT(load_elapsed, offsetof(pcs_vk_load_info, elapsed_ns) == 40);
LAYOUT(load_size, sizeof(pcs_vk_load_info) == 48);
LAYOUT(save_outcome, offsetof(pcs_vk_save_info, outcome) == 8);
LAYOUT(save_driver, offsetof(pcs_vk_save_info, driver_bytes) == 16);
LAYOUT(save_size, sizeof(pcs_vk_save_info) == 40);
LAYOUT(metrics_saves, offsetof(pcs_vk_metrics, saves) == 56);
LAYOUT(metrics_refusals, offsetof(pcs_vk_metrics, driver_refusals) == 96);
LAYOUT(metrics_load_latency, offsetof(pcs_vk_metrics, load_latency) == 120);
LAYOUT(metrics_size, sizeof(pcs_vk_metrics) == 184);
/* Version 2 appends adapter-log's four functions, then the recipe functions, then the label
 * function. */
LAYOUT(api_load_outcome_str, offsetof(pcs_vk_api, load_outcome_str) == 64);
LAYOUT(api_recipe_recorder_create, offsetof(pcs_vk_api, recipe_recorder_create) == 96);
LAYOUT(api_context_set_application, offsetof(pcs_vk_api, context_set_application) == 200);
LAYOUT(api_size, sizeof(pcs_vk_api) == 208);
LAYOUT(envelope_len, PCS_VK_ENVELOPE_HEADER_LEN == 128);
LAYOUT(recorder_api_version, offsetof(pcs_vk_recipe_recorder_info, api_version) == 16);
LAYOUT(recorder_cache_key, offsetof(pcs_vk_recipe_recorder_info, cache_key) == 20);
LAYOUT(recorder_namespace, offsetof(pcs_vk_recipe_recorder_info, engine_namespace) == 56);
LAYOUT(recorder_identity_len, offsetof(pcs_vk_recipe_recorder_info, identity_len) == 80);
LAYOUT(recorder_size, sizeof(pcs_vk_recipe_recorder_info) == 88);
LAYOUT(replay_summary_size, sizeof(pcs_vk_replay_summary) == 72);
#endif

#include "check.h"

#define CHECK_VK(call)                                                                      \
  do {                                                                                      \
    VkResult vr_ = (call);                                                                  \
    if (vr_ != VK_SUCCESS) {                                                                \
      fprintf(stderr, "%s:%d: %s returned VkResult %d\n", __FILE__, __LINE__, #call, (int)vr_); \
      failures++;                                                                           \
    }                                                                                       \
  } while (0)

/* Stops the test: nothing after this point could be meaningful. */
static void fatal(const char *what) {
  fprintf(stderr, "FATAL: %s\n", what);
  exit(1);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- validation: every error message is a failure */
static int validation_errors;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  (void)types;
  (void)user;
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    pthread_mutex_lock(&lock);
    validation_errors++;
    pthread_mutex_unlock(&lock);
    fprintf(stderr, "VALIDATION ERROR: %s\n", data->pMessage);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    fprintf(stderr, "validation warning: %s\n", data->pMessage);
  }
  return VK_FALSE;
}

/* ---- the interposer pcstore is handed instead of the loader's vkGetInstanceProcAddr */
#define RECORDED_CALLS 64
#define RECORDED_HEAD 256
typedef struct create_call {
  size_t initial_data_size;
  int has_pointer;
  unsigned char head[RECORDED_HEAD]; /* the first bytes the driver was given */
} create_call;
static create_call calls[RECORDED_CALLS];
static int call_count;            /* all calls since the last take_calls() */
static int calls_with_data;       /* of which with initialDataSize > 0 */
static int fake_driver_update;    /* when set, the properties pcstore reads say driverVersion+1 */
static int refuse_initial_data;   /* when set, a create with data fails before the driver */
static PFN_vkGetDeviceProcAddr real_get_device_proc_addr;
static PFN_vkCreatePipelineCache real_create_pipeline_cache;
static PFN_vkGetPhysicalDeviceProperties real_get_properties;
static PFN_vkGetPhysicalDeviceProperties2 real_get_properties2;

static VKAPI_ATTR VkResult VKAPI_CALL hooked_create_pipeline_cache(
    VkDevice device, const VkPipelineCacheCreateInfo *info, const VkAllocationCallbacks *allocator,
    VkPipelineCache *cache) {
  pthread_mutex_lock(&lock);
  if (call_count < RECORDED_CALLS) {
    create_call *call = &calls[call_count];
    size_t head = info->initialDataSize < RECORDED_HEAD ? info->initialDataSize : RECORDED_HEAD;
    call->initial_data_size = info->initialDataSize;
    call->has_pointer = info->pInitialData != NULL;
    memset(call->head, 0, sizeof call->head);
    if (info->pInitialData != NULL) memcpy(call->head, info->pInitialData, head);
  }
  call_count++;
  if (info->initialDataSize > 0 || info->pInitialData != NULL) calls_with_data++;
  pthread_mutex_unlock(&lock);
  if (refuse_initial_data && info->initialDataSize > 0) return VK_ERROR_INITIALIZATION_FAILED;
  return real_create_pipeline_cache(device, info, allocator, cache);
}

static VKAPI_ATTR void VKAPI_CALL hooked_get_properties(VkPhysicalDevice physical,
                                                       VkPhysicalDeviceProperties *properties) {
  real_get_properties(physical, properties);
  if (fake_driver_update) properties->driverVersion += 1;
}

static VKAPI_ATTR void VKAPI_CALL hooked_get_properties2(VkPhysicalDevice physical,
                                                        VkPhysicalDeviceProperties2 *properties) {
  real_get_properties2(physical, properties);
  if (fake_driver_update) properties->properties.driverVersion += 1;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL hooked_get_device_proc_addr(VkDevice device,
                                                                            const char *name) {
  if (strcmp(name, "vkCreatePipelineCache") == 0) {
    real_create_pipeline_cache =
        (PFN_vkCreatePipelineCache)real_get_device_proc_addr(device, name);
    return (PFN_vkVoidFunction)hooked_create_pipeline_cache;
  }
  return real_get_device_proc_addr(device, name);
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL hooked_get_instance_proc_addr(VkInstance instance,
                                                                              const char *name) {
  if (strcmp(name, "vkGetDeviceProcAddr") == 0) {
    real_get_device_proc_addr = (PFN_vkGetDeviceProcAddr)vkGetInstanceProcAddr(instance, name);
    return (PFN_vkVoidFunction)hooked_get_device_proc_addr;
  }
  if (strcmp(name, "vkCreatePipelineCache") == 0) {
    return NULL; /* pcstore must take device functions from vkGetDeviceProcAddr */
  }
  if (strcmp(name, "vkGetPhysicalDeviceProperties") == 0) {
    real_get_properties = (PFN_vkGetPhysicalDeviceProperties)vkGetInstanceProcAddr(instance, name);
    return (PFN_vkVoidFunction)hooked_get_properties;
  }
  if (strcmp(name, "vkGetPhysicalDeviceProperties2") == 0) {
    real_get_properties2 =
        (PFN_vkGetPhysicalDeviceProperties2)vkGetInstanceProcAddr(instance, name);
    return (PFN_vkVoidFunction)hooked_get_properties2;
  }
  return vkGetInstanceProcAddr(instance, name);
}

/* The calls recorded so far; resets the record. */
static int take_calls(int *with_data) {
  int count;
  pthread_mutex_lock(&lock);
  count = call_count;
  if (with_data != NULL) *with_data = calls_with_data;
  call_count = 0;
  calls_with_data = 0;
  pthread_mutex_unlock(&lock);
  return count;
}

/* ---- one instance, device and compute-pipeline setup */
static VkInstance instance;
static VkPhysicalDevice physical_device;
static VkPhysicalDeviceProperties properties;
static VkDevice device;
static VkDebugUtilsMessengerEXT messenger;
static VkShaderModule shader;
static VkPipelineLayout pipeline_layout;
#define API_VERSION VK_API_VERSION_1_2

static void *read_file(const char *path, size_t *len) {
  FILE *file = fopen(path, "rb");
  long size;
  void *data;
  if (file == NULL) return NULL;
  if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0 || fseek(file, 0, SEEK_SET) != 0) {
    fclose(file);
    return NULL;
  }
  data = malloc(size > 0 ? (size_t)size : 1);
  if (data != NULL && fread(data, 1, (size_t)size, file) != (size_t)size) {
    free(data);
    data = NULL;
  }
  fclose(file);
  *len = (size_t)size;
  return data;
}

static void vulkan_up(const char *driver, const char *spv_path) {
  static const char *const layers[] = {"VK_LAYER_KHRONOS_validation"};
  static const char *const extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  VkApplicationInfo app;
  VkInstanceCreateInfo instance_info;
  VkDebugUtilsMessengerCreateInfoEXT messenger_info;
  PFN_vkCreateDebugUtilsMessengerEXT create_messenger;
  uint32_t count = 1, families = 0, family, found = 0;
  VkQueueFamilyProperties family_properties[16];
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info;
  VkDeviceCreateInfo device_info;
  VkShaderModuleCreateInfo module_info;
  VkPipelineLayoutCreateInfo layout_info;
  size_t spv_len = 0;
  void *spv;
  uint32_t expected_vendor = strcmp(driver, "lavapipe") == 0      ? 0x10005u
                             : strcmp(driver, "swiftshader") == 0 ? 0x1ae0u
                                                                  : 0;

  if (expected_vendor == 0) fatal("DRIVER must be lavapipe or swiftshader");
  memset(&messenger_info, 0, sizeof messenger_info);
  messenger_info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
  messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                   VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_validation_message;

  memset(&app, 0, sizeof app);
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "pcstore test_vulkan";
  app.apiVersion = API_VERSION;
  memset(&instance_info, 0, sizeof instance_info);
  instance_info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  instance_info.pNext = &messenger_info; /* also covers instance creation and destruction */
  instance_info.pApplicationInfo = &app;
  instance_info.enabledLayerCount = 1;
  instance_info.ppEnabledLayerNames = layers;
  instance_info.enabledExtensionCount = 1;
  instance_info.ppEnabledExtensionNames = extensions;
  if (vkCreateInstance(&instance_info, NULL, &instance) != VK_SUCCESS) {
    fatal("vkCreateInstance with VK_LAYER_KHRONOS_validation failed (layer or loader missing?)");
  }
  create_messenger = (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
      instance, "vkCreateDebugUtilsMessengerEXT");
  if (create_messenger == NULL ||
      create_messenger(instance, &messenger_info, NULL, &messenger) != VK_SUCCESS) {
    fatal("no debug-utils messenger");
  }
  if (vkEnumeratePhysicalDevices(instance, &count, &physical_device) < 0 || count == 0) {
    fatal("no Vulkan device: is VK_DRIVER_FILES set to an installed driver?");
  }
  vkGetPhysicalDeviceProperties(physical_device, &properties);
  printf("device: %s (vendor 0x%x, device 0x%x, driver %u)\n", properties.deviceName,
         properties.vendorID, properties.deviceID, properties.driverVersion);
  if (properties.vendorID != expected_vendor) fatal("the device found is not the driver asked for");
  if (properties.apiVersion < API_VERSION) fatal("the driver does not support Vulkan 1.2");

  vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &families, NULL);
  if (families > 16) families = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &families, family_properties);
  for (family = 0; family < families; family++) {
    if (family_properties[family].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      found = 1;
      break;
    }
  }
  if (!found) fatal("no compute queue");
  memset(&queue_info, 0, sizeof queue_info);
  queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  queue_info.queueFamilyIndex = family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  memset(&device_info, 0, sizeof device_info);
  device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  if (vkCreateDevice(physical_device, &device_info, NULL, &device) != VK_SUCCESS) {
    fatal("vkCreateDevice failed");
  }

  /* The messenger really counts: a call the layer must refuse (initialDataSize 16 with a NULL
   * pointer; the layer reports it and skips the driver) raises the count, then it is reset. */
  {
    VkPipelineCacheCreateInfo bad;
    VkPipelineCache never = VK_NULL_HANDLE;
    memset(&bad, 0, sizeof bad);
    bad.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
    bad.initialDataSize = 16;
    fprintf(stderr, "(one deliberate validation error follows)\n");
    if (vkCreatePipelineCache(device, &bad, NULL, &never) == VK_SUCCESS) {
      vkDestroyPipelineCache(device, never, NULL);
    }
    if (validation_errors == 0) fatal("the validation layer reported nothing for a bad call");
    validation_errors = 0;
  }

  spv = read_file(spv_path, &spv_len);
  if (spv == NULL || spv_len == 0 || spv_len % 4 != 0) fatal("cannot read the SPIR-V file");
  memset(&module_info, 0, sizeof module_info);
  module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  module_info.codeSize = spv_len;
  module_info.pCode = (const uint32_t *)spv;
  CHECK_VK(vkCreateShaderModule(device, &module_info, NULL, &shader));
  free(spv);
  memset(&layout_info, 0, sizeof layout_info);
  layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  CHECK_VK(vkCreatePipelineLayout(device, &layout_info, NULL, &pipeline_layout));
}

static void vulkan_down(void) {
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
      (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
          instance, "vkDestroyDebugUtilsMessengerEXT");
  vkDestroyPipelineLayout(device, pipeline_layout, NULL);
  vkDestroyShaderModule(device, shader, NULL);
  vkDestroyDevice(device, NULL);
  destroy_messenger(instance, messenger, NULL);
  vkDestroyInstance(instance, NULL);
}

/* Creates (and destroys) `count` compute pipelines with `cache`, one per specialization. */
static void create_pipelines(VkPipelineCache cache, uint32_t first_seed, uint32_t count) {
  uint32_t i;
  for (i = 0; i < count; i++) {
    uint32_t seed = first_seed + i;
    VkSpecializationMapEntry entry = {0, 0, sizeof seed};
    VkSpecializationInfo specialization = {1, &entry, sizeof seed, &seed};
    VkComputePipelineCreateInfo info;
    VkPipeline pipeline = VK_NULL_HANDLE;
    memset(&info, 0, sizeof info);
    info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    info.stage.module = shader;
    info.stage.pName = "main";
    info.stage.pSpecializationInfo = &specialization;
    info.layout = pipeline_layout;
    CHECK_VK(vkCreateComputePipelines(device, cache, 1, &info, NULL, &pipeline));
    vkDestroyPipeline(device, pipeline, NULL);
  }
}

/* ---- pcstore helpers */
static pcs_store *open_store(void) {
  pcs_store *store = NULL;
  CHECK_RESULT(PCS(store_open_memory)(NULL, &store), PCS_OK);
  if (store == NULL) fatal("no store");
  return store;
}

static pcs_vk_device_info device_info_for(const char *namespace_text, uint64_t max_blob_bytes) {
  pcs_vk_device_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  info.instance = instance;
  info.physical_device = physical_device;
  info.device = device;
  info.get_instance_proc_addr = hooked_get_instance_proc_addr;
  info.api_version = API_VERSION;
  info.engine_namespace = (const uint8_t *)namespace_text;
  info.engine_namespace_len = strlen(namespace_text);
  info.max_blob_bytes = max_blob_bytes;
  return info;
}

static pcs_vk_context *open_context(pcs_store *store, const char *namespace_text,
                                    uint64_t max_blob_bytes) {
  pcs_vk_device_info info = device_info_for(namespace_text, max_blob_bytes);
  pcs_vk_context *ctx = NULL;
  CHECK_RESULT(PCSVK(context_create)(store, &info, &ctx), PCS_OK);
  if (ctx == NULL) fatal("no context");
  return ctx;
}

static pcs_fingerprint key_of(const char *text) {
  pcs_fingerprint key;
  PCS(fingerprint_of)(text, strlen(text), &key);
  return key;
}

/* Loads `key`; checks the outcome, the rejection and what the driver was given. Returns the
 * cache (the caller destroys it). */
static VkPipelineCache load_expecting(pcs_vk_context *ctx, const pcs_fingerprint *key,
                                      int32_t outcome, int32_t rejection, const char *what) {
  pcs_vk_load_info info;
  VkPipelineCache cache = VK_NULL_HANDLE;
  int with_data = 0, count;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  take_calls(NULL);
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, key, NULL, &cache, &info), PCS_OK);
  count = take_calls(&with_data);
  if (info.outcome != outcome || info.rejection != rejection) {
    fprintf(stderr, "%s: outcome %d rejection %d, expected %d %d\n", what, (int)info.outcome,
            (int)info.rejection, (int)outcome, (int)rejection);
    failures++;
  }
  CHECK(cache != VK_NULL_HANDLE);
  CHECK(info.struct_size == sizeof info);
  CHECK(info.driver_result == VK_SUCCESS);
  CHECK(count == 1); /* one vkCreatePipelineCache per load, through the engine's loader */
  if (outcome == PCS_VK_LOAD_HIT) {
    CHECK(with_data == 1 && calls[0].has_pointer);
    CHECK(calls[0].initial_data_size == info.initial_data_bytes);
    CHECK(info.initial_data_bytes >= 32);
  } else {
    /* The proof: an empty cache, created with no data and a NULL pointer. */
    if (with_data != 0 || calls[0].initial_data_size != 0 || calls[0].has_pointer) {
      fprintf(stderr, "%s: rejected bytes reached the driver (%zu bytes)\n", what,
              calls[0].initial_data_size);
      failures++;
    }
    CHECK(info.initial_data_bytes == 0);
  }
  return cache;
}

static pcs_vk_save_info save(pcs_vk_context *ctx, const pcs_fingerprint *key,
                             VkPipelineCache cache) {
  pcs_vk_save_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  CHECK_RESULT(PCSVK(save_pipeline_cache)(ctx, key, cache, &info), PCS_OK);
  CHECK(info.struct_size == sizeof info);
  return info;
}

/* The stored entry's bytes under the context's key for `key` (malloc'd; NULL on a miss). */
static unsigned char *stored_entry(pcs_store *store, pcs_vk_context *ctx,
                                   const pcs_fingerprint *key, size_t *len) {
  pcs_fingerprint stored_key;
  pcs_blob *blob = NULL;
  unsigned char *copy;
  CHECK_RESULT(PCSVK(stored_key)(ctx, key, &stored_key), PCS_OK);
  if (PCS(get_blob)(store, &stored_key, &blob) != PCS_OK) return NULL;
  *len = PCS(blob_size)(blob);
  copy = (unsigned char *)malloc(*len);
  if (copy == NULL) fatal("out of memory");
  memcpy(copy, PCS(blob_data)(blob), *len);
  PCS(blob_release)(blob);
  return copy;
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}
static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

/* pcstore's envelope (src/vulkan/envelope.rs): magic, version, header length, payload length,
 * BLAKE3 of the payload, scoped key, vendor/device/driverVersion/driverID, UUID, pointer size;
 * PCS_VK_ENVELOPE_HEADER_LEN (128) bytes, then the driver's blob. */
#define ENVELOPE PCS_VK_ENVELOPE_HEADER_LEN

/* Checks a stored entry against the device: envelope identity and the blob's Vulkan header. */
static void check_entry_identity(const unsigned char *entry, size_t len,
                                 const pcs_fingerprint *stored_key) {
  const unsigned char *payload = entry + ENVELOPE;
  pcs_fingerprint hash;
  CHECK(len >= ENVELOPE + 32);
  if (len < ENVELOPE + 32) return;
  CHECK(memcmp(entry, "pcsVKpc", 8) == 0);
  CHECK(le64(entry + 16) == len - ENVELOPE);
  PCS(fingerprint_of)(payload, len - ENVELOPE, &hash); /* plain BLAKE3 */
  CHECK(memcmp(entry + 24, hash.bytes, 32) == 0);
  CHECK(memcmp(entry + 56, stored_key->bytes, 32) == 0);
  CHECK(le32(entry + 88) == properties.vendorID);
  CHECK(le32(entry + 92) == properties.deviceID);
  CHECK(le32(entry + 96) == properties.driverVersion);
  CHECK(memcmp(entry + 104, properties.pipelineCacheUUID, VK_UUID_SIZE) == 0);
  CHECK(entry[120] == sizeof(void *));
  /* VkPipelineCacheHeaderVersionOne of the driver's blob */
  CHECK(le32(payload) >= 32);
  CHECK(le32(payload + 4) == VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
  CHECK(le32(payload + 8) == properties.vendorID);
  CHECK(le32(payload + 12) == properties.deviceID);
  CHECK(memcmp(payload + 16, properties.pipelineCacheUUID, VK_UUID_SIZE) == 0);
}

/* A cache's own data (vkGetPipelineCacheData), header checked against the device. */
static void check_cache_header(VkPipelineCache cache) {
  unsigned char data[4096];
  size_t size = 0;
  CHECK_VK(vkGetPipelineCacheData(device, cache, &size, NULL));
  CHECK(size >= 32 && size <= sizeof data);
  if (size < 32 || size > sizeof data) return;
  CHECK_VK(vkGetPipelineCacheData(device, cache, &size, data));
  CHECK(le32(data + 4) == VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
  CHECK(le32(data + 8) == properties.vendorID && le32(data + 12) == properties.deviceID);
  CHECK(memcmp(data + 16, properties.pipelineCacheUUID, VK_UUID_SIZE) == 0);
}

/* Loads, creates pipelines, saves: the pipeline-creation hook an engine would write. Returns
 * the stored entry (malloc'd). */
static unsigned char *establish(pcs_store *store, pcs_vk_context *ctx, const pcs_fingerprint *key,
                                size_t *len) {
  VkPipelineCache cache = load_expecting(ctx, key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE, "first");
  pcs_vk_save_info saved;
  pcs_fingerprint stored_key;
  unsigned char *entry;
  create_pipelines(cache, 1, 8);
  saved = save(ctx, key, cache);
  CHECK(saved.outcome == PCS_VK_SAVE_STORED);
  CHECK(saved.driver_bytes >= 32 && saved.stored_bytes == saved.driver_bytes + ENVELOPE);
  /* Nothing changed since: no second write. */
  CHECK(save(ctx, key, cache).outcome == PCS_VK_SAVE_UNCHANGED);
  vkDestroyPipelineCache(device, cache, NULL);
  entry = stored_entry(store, ctx, key, len);
  CHECK(entry != NULL);
  if (entry == NULL) fatal("nothing stored");
  CHECK(*len == saved.stored_bytes);
  CHECK_RESULT(PCSVK(stored_key)(ctx, key, &stored_key), PCS_OK);
  check_entry_identity(entry, *len, &stored_key);
  return entry;
}

/* Every outcome and rejection has a static description starting with its name; anything else
 * a fixed "unknown" one. */
static void check_string(const char *got, const char *prefix) {
  if (got == NULL || strncmp(got, prefix, strlen(prefix)) != 0) {
    fprintf(stderr, "description \"%s\" does not start with \"%s\"\n", got ? got : "(NULL)",
            prefix);
    failures++;
  }
}

static void test_strings(void) {
  static const char *const loads[] = {"PCS_VK_LOAD_HIT: ", "PCS_VK_LOAD_MISS: ",
                                      "PCS_VK_LOAD_CORRUPT: ", "PCS_VK_LOAD_DEVICE_MISMATCH: ",
                                      "PCS_VK_LOAD_DRIVER_REFUSED: ", "PCS_VK_LOAD_TOO_LARGE: "};
  static const char *const saves[] = {"PCS_VK_SAVE_STORED: ", "PCS_VK_SAVE_UNCHANGED: ",
                                      "PCS_VK_SAVE_DRIVER_BLOB_INVALID: ", "PCS_VK_SAVE_TOO_LARGE: ",
                                      "PCS_VK_SAVE_STORE_REJECTED: "};
  int32_t i;
  for (i = 0; i <= PCS_VK_LOAD_TOO_LARGE; i++) check_string(PCSVK(load_outcome_str)(i), loads[i]);
  for (i = 0; i <= PCS_VK_SAVE_STORE_REJECTED; i++) check_string(PCSVK(save_outcome_str)(i), saves[i]);
  for (i = 0; i <= PCS_VK_REJECT_STORE_CORRUPT; i++) {
    check_string(PCSVK(rejection_str)(i), "PCS_VK_REJECT_");
  }
  check_string(PCSVK(rejection_str)(PCS_VK_REJECT_HEADER_UUID), "PCS_VK_REJECT_HEADER_UUID: ");
  check_string(PCSVK(rejection_str)(PCS_VK_REJECT_STORE_CORRUPT), "PCS_VK_REJECT_STORE_CORRUPT: ");
  CHECK(strcmp(PCSVK(load_outcome_str)(PCS_VK_LOAD_TOO_LARGE + 1), "unknown pcs_vk_load_outcome") == 0);
  CHECK(strcmp(PCSVK(load_outcome_str)(-1), "unknown pcs_vk_load_outcome") == 0);
  CHECK(strcmp(PCSVK(rejection_str)(PCS_VK_REJECT_STORE_CORRUPT + 1), "unknown pcs_vk_rejection") == 0);
  CHECK(strcmp(PCSVK(save_outcome_str)(INT32_MIN), "unknown pcs_vk_save_outcome") == 0);
}

/* ---- mode save: the first process */
static void test_misuse(pcs_store *store, pcs_vk_context *ctx) {
  pcs_vk_device_info info = device_info_for("", 0);
  pcs_vk_context *untouched = (pcs_vk_context *)&failures;
  pcs_fingerprint key = key_of("misuse");
  VkPipelineCache cache = VK_NULL_HANDLE, other = VK_NULL_HANDLE, pair[2];
  pcs_vk_load_info load_info;
  pcs_vk_metrics metrics;
  const pcs_vk_api *table = NULL, *direct = NULL;
  struct {
    pcs_vk_load_info info;
    uint64_t newer_field; /* a caller built against a newer header */
  } bigger;

  CHECK_RESULT(PCSVK(context_create)(NULL, &info, &untouched), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(context_create)(store, NULL, &untouched), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(context_create)(store, &info, NULL), PCS_ERR_NULL_ARGUMENT);
  info.get_instance_proc_addr = NULL;
  CHECK_RESULT(PCSVK(context_create)(store, &info, &untouched), PCS_ERR_NULL_ARGUMENT);
  info = device_info_for("", 0);
  info.device = VK_NULL_HANDLE;
  CHECK_RESULT(PCSVK(context_create)(store, &info, &untouched), PCS_ERR_NULL_ARGUMENT);
  info = device_info_for("", 0);
  info.struct_size = 8;
  CHECK_RESULT(PCSVK(context_create)(store, &info, &untouched), PCS_ERR_INVALID_ARGUMENT);
  info = device_info_for("", 0);
  info.engine_namespace = NULL;
  info.engine_namespace_len = 4;
  CHECK_RESULT(PCSVK(context_create)(store, &info, &untouched), PCS_ERR_NULL_ARGUMENT);
  CHECK(untouched == (pcs_vk_context *)&failures);
  PCSVK(context_release)(NULL);

  /* A refused info struct is refused before any cache is created (none leaks). */
  take_calls(NULL);
  memset(&load_info, 0, sizeof load_info);
  load_info.struct_size = 4;
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, &cache, &load_info),
               PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, NULL, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(load_pipeline_cache)(NULL, &key, NULL, &cache, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, NULL, NULL, &cache, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK(take_calls(NULL) == 0 && cache == VK_NULL_HANDLE);

  /* A newer caller's longer struct is filled up to what this library knows. */
  memset(&bigger, 0, sizeof bigger);
  bigger.info.struct_size = sizeof bigger;
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, &cache, &bigger.info), PCS_OK);
  CHECK(bigger.info.struct_size == sizeof(pcs_vk_load_info)); /* Rust's size == C's */
  CHECK(bigger.info.outcome == PCS_VK_LOAD_MISS && bigger.newer_field == 0);
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, &other, NULL), PCS_OK);

  CHECK_RESULT(PCSVK(save_pipeline_cache)(ctx, &key, VK_NULL_HANDLE, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(save_pipeline_cache)(ctx, NULL, cache, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(save_pipeline_cache)(ctx, &key, cache, NULL), PCS_OK);

  pair[0] = other;
  pair[1] = cache;
  CHECK_RESULT(PCSVK(merge_pipeline_caches)(ctx, cache, 0, NULL), PCS_OK);
  CHECK_RESULT(PCSVK(merge_pipeline_caches)(ctx, cache, 1, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(merge_pipeline_caches)(ctx, cache, 2, pair), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCSVK(merge_pipeline_caches)(ctx, VK_NULL_HANDLE, 1, pair), PCS_ERR_NULL_ARGUMENT);
  create_pipelines(other, 100, 2);
  CHECK_RESULT(PCSVK(merge_pipeline_caches)(ctx, cache, 1, pair), PCS_OK);
  vkDestroyPipelineCache(device, other, NULL);
  vkDestroyPipelineCache(device, cache, NULL);

  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = 8;
  CHECK_RESULT(PCSVK(context_metrics)(ctx, &metrics), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCSVK(context_metrics)(ctx, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(stored_key)(ctx, NULL, &key), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(context_flush)(NULL), PCS_ERR_NULL_ARGUMENT);
  test_strings();

  /* The table: through pcs_api and directly, the same static table. */
  CHECK_RESULT(PCS(get_vk_api)(0, &table), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCS(get_vk_api)(PCS_ABI_VERSION + 1, &table), PCS_ERR_ABI_MISMATCH);
  CHECK_RESULT(PCS(get_vk_api)(PCS_ABI_VERSION, NULL), PCS_ERR_NULL_ARGUMENT);
  CHECK(table == NULL);
  CHECK_RESULT(PCS(get_vk_api)(PCS_ABI_VERSION, &table), PCS_OK);
  CHECK(table != NULL && table->struct_size == sizeof(pcs_vk_api));
#ifndef PCS_TEST_DLOPEN
  CHECK_RESULT(pcs_get_vk_api(PCS_ABI_VERSION, &direct), PCS_OK);
  CHECK(direct == table && table->load_pipeline_cache == pcs_vk_load_pipeline_cache);
#else
  direct = vk_api;
  CHECK(direct == table);
#endif
}

/* The store `save` and `load` share. */
static pcs_store *open_persistent_store(const char *state_path) {
  pcs_store *store = NULL;
  CHECK_RESULT(PCS(store_open_disk)(state_path, NULL, &store), PCS_OK);
  if (store == NULL) fatal("no disk store");
  return store;
}

/* A context's flush reaches its disk store: with the store's directory moved away after a save,
 * the flush fails and says so (a flush that did nothing would return PCS_OK). */
static void test_failing_context_flush(const char *state_path) {
  char dir[4096], moved[4096];
  pcs_store *store;
  pcs_vk_context *ctx;
  pcs_fingerprint key = key_of("flush failure");
  VkPipelineCache cache;
  snprintf(dir, sizeof dir, "%s-flush", state_path);
  snprintf(moved, sizeof moved, "%s-flush-moved", state_path);
  store = open_persistent_store(dir);
  ctx = open_context(store, "test_vulkan", 0);
  PCS(store_release)(store);
  cache = load_expecting(ctx, &key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE, "flush failure");
  create_pipelines(cache, 50, 1);
  CHECK(save(ctx, &key, cache).outcome == PCS_VK_SAVE_STORED);
  vkDestroyPipelineCache(device, cache, NULL);
  CHECK(rename(dir, moved) == 0);
  CHECK_RESULT(PCSVK(context_flush)(ctx), PCS_ERR_IO);
  {
    char why[512];
    PCS(last_error)(why, sizeof why);
    CHECK(strncmp(why, "pcs_vk_context_flush: ", 22) == 0);
  }
  PCSVK(context_release)(ctx);
}

static int mode_save(const char *state_path) {
  pcs_store *store = open_persistent_store(state_path);
  pcs_vk_context *ctx = open_context(store, "test_vulkan", 0);
  pcs_fingerprint key = key_of("engine pipeline set A");
  size_t len = 0;
  unsigned char *entry;
  pcs_vk_metrics metrics;

  entry = establish(store, ctx, &key, &len);
  /* A hit in this process too, with exactly the stored payload given to the driver. */
  {
    VkPipelineCache cache =
        load_expecting(ctx, &key, PCS_VK_LOAD_HIT, PCS_VK_REJECT_NONE, "same-process hit");
    CHECK(calls[0].initial_data_size == len - ENVELOPE);
    CHECK(memcmp(calls[0].head, entry + ENVELOPE,
                 len - ENVELOPE < RECORDED_HEAD ? len - ENVELOPE : RECORDED_HEAD) == 0);
    vkDestroyPipelineCache(device, cache, NULL);
  }
  test_misuse(store, ctx);

  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCSVK(context_metrics)(ctx, &metrics), PCS_OK);
  CHECK(metrics.struct_size == sizeof metrics);
  CHECK(metrics.loads[PCS_VK_LOAD_HIT] == 1);
  CHECK(metrics.saves[PCS_VK_SAVE_STORED] >= 1 && metrics.saves[PCS_VK_SAVE_UNCHANGED] >= 1);
  CHECK(metrics.bytes_to_driver == len - ENVELOPE);
  CHECK(metrics.load_latency.samples >= 2);

  CHECK_RESULT(PCS(flush)(store), PCS_OK); /* the durability point */
  free(entry);
  /* The context holds its own reference to the store: still a hit after the caller's is gone,
   * and saves made now are made durable through the context (`load` finds this one). */
  PCS(store_release)(store);
  {
    VkPipelineCache cache =
        load_expecting(ctx, &key, PCS_VK_LOAD_HIT, PCS_VK_REJECT_NONE, "after store release");
    pcs_fingerprint late_key = key_of("engine pipeline set F");
    vkDestroyPipelineCache(device, cache, NULL);
    cache = load_expecting(ctx, &late_key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE, "set F");
    create_pipelines(cache, 40, 2);
    CHECK(save(ctx, &late_key, cache).outcome == PCS_VK_SAVE_STORED);
    vkDestroyPipelineCache(device, cache, NULL);
    CHECK_RESULT(PCSVK(context_flush)(ctx), PCS_OK);
  }
  PCSVK(context_release)(ctx);
  test_failing_context_flush(state_path);
  return 0;
}

/* Loads set F, which `save` stored after releasing its store handle, expecting `outcome`. */
static void load_set_f(pcs_vk_context *ctx, int32_t outcome, int32_t rejection, const char *what) {
  pcs_fingerprint key = key_of("engine pipeline set F");
  VkPipelineCache cache = load_expecting(ctx, &key, outcome, rejection, what);
  vkDestroyPipelineCache(device, cache, NULL);
}

/* ---- mode load: a fresh process with new handles */
static int mode_load(const char *state_path) {
  pcs_store *store = open_persistent_store(state_path);
  pcs_vk_context *ctx = open_context(store, "test_vulkan", 0);
  pcs_fingerprint key = key_of("engine pipeline set A"), stored_key;
  size_t len = 0;
  unsigned char *entry;
  VkPipelineCache cache;
  pcs_vk_save_info saved;

  CHECK_RESULT(PCSVK(stored_key)(ctx, &key, &stored_key), PCS_OK);
  /* Found under the key this process derived itself from the same device and namespace. */
  entry = stored_entry(store, ctx, &key, &len);
  if (entry == NULL) fatal("nothing stored by the save process");
  check_entry_identity(entry, len, &stored_key);

  cache = load_expecting(ctx, &key, PCS_VK_LOAD_HIT, PCS_VK_REJECT_NONE, "fresh-process hit");
  CHECK(calls[0].initial_data_size == len - ENVELOPE);
  CHECK(memcmp(calls[0].head, entry + ENVELOPE,
               len - ENVELOPE < RECORDED_HEAD ? len - ENVELOPE : RECORDED_HEAD) == 0);
  check_cache_header(cache);
  create_pipelines(cache, 1, 8);
  saved = save(ctx, &key, cache);
  /* lavapipe's blob is unchanged; SwiftShader appends the initial data it was given. */
  CHECK(saved.outcome == PCS_VK_SAVE_UNCHANGED || saved.outcome == PCS_VK_SAVE_STORED);
  vkDestroyPipelineCache(device, cache, NULL);
  free(entry);
  /* Saved after `save` released its store handle, flushed through its context. */
  load_set_f(ctx, PCS_VK_LOAD_HIT, PCS_VK_REJECT_NONE, "set F, fresh process");
  PCSVK(context_release)(ctx);
  PCS(store_release)(store);
  return 0;
}

/* ---- mode corrupt: entries damaged on disk are reported as such */

/* Flips one byte inside the driver blob of every adapter entry in the files of `dir` (found by
 * the envelope's magic) and the last byte of every compressed record's payload (FORMAT.md,
 * "Record": SwiftShader's blob grows by what it was given, so a re-saved entry compresses and
 * its envelope is not in the file as is); returns how many. The disk tier's own checks (the
 * frame's decoding, the value's BLAKE3) then fail. */
static int damage_entries(const char *dir) {
  static const char magic[8] = "pcsVKpc"; /* with its NUL */
  static const char record_magic[4] = "PCR1";
  const size_t record_header = 104;
  DIR *listing = opendir(dir);
  struct dirent *entry;
  int damaged = 0;
  if (listing == NULL) fatal("cannot list the state directory");
  while ((entry = readdir(listing)) != NULL) {
    char path[4096];
    size_t len = 0, i;
    unsigned char *bytes;
    FILE *file;
    int changed = 0;
    if (entry->d_name[0] == '.') continue; /* "." and "..": pcstore's names never start so */
    snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
    bytes = (unsigned char *)read_file(path, &len);
    if (bytes == NULL) fatal("cannot read a file of the store");
    for (i = 0; i + ENVELOPE + 32 <= len; i++) {
      if (memcmp(bytes + i, magic, sizeof magic) == 0) {
        bytes[i + ENVELOPE + 20] ^= 0x5a; /* inside the driver's cache header */
        changed++;
      }
    }
    for (i = 0; i + record_header <= len; i++) {
      /* A put (kind 1) whose payload is compressed (encoding 1) and lies within the file. */
      if (memcmp(bytes + i, record_magic, sizeof record_magic) == 0 && bytes[i + 4] == 1 &&
          bytes[i + 5] == 1 && le64(bytes + i + 8) > 0 &&
          le64(bytes + i + 8) <= len - i - record_header) {
        bytes[i + record_header + le64(bytes + i + 8) - 1] ^= 0x5a;
        changed++;
      }
    }
    if (changed > 0) {
      file = fopen(path, "r+b");
      if (file == NULL || fwrite(bytes, 1, len, file) != len) fatal("cannot damage a file");
      fclose(file);
      damaged += changed;
    }
    free(bytes);
  }
  closedir(listing);
  return damaged;
}

static int mode_corrupt(const char *state_path) {
  int damaged = damage_entries(state_path); /* before the store is opened: as on a later launch */
  pcs_store *store = open_persistent_store(state_path);
  pcs_vk_context *ctx = open_context(store, "test_vulkan", 0);
  pcs_fingerprint key = key_of("engine pipeline set A");
  pcs_vk_load_info info;
  pcs_cache_metrics metrics;
  VkPipelineCache cache;

  CHECK(damaged >= 2); /* sets A and F at least */
  cache = load_expecting(ctx, &key, PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_STORE_CORRUPT, "damaged");
  vkDestroyPipelineCache(device, cache, NULL);
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCS(metrics)(store, &metrics), PCS_OK);
  CHECK(metrics.corrupt_dropped == 1);
  /* What an engine logs. */
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, &cache, &info), PCS_OK);
  vkDestroyPipelineCache(device, cache, NULL);
  /* Dropped by the store: a miss, or damaged again until the store removes the record. */
  CHECK((info.outcome == PCS_VK_LOAD_MISS && info.rejection == PCS_VK_REJECT_NONE) ||
        (info.outcome == PCS_VK_LOAD_CORRUPT && info.rejection == PCS_VK_REJECT_STORE_CORRUPT));
  CHECK(info.initial_data_bytes == 0);
  printf("then: %s; %s\n", PCSVK(load_outcome_str)(info.outcome),
         PCSVK(rejection_str)(info.rejection));
  load_set_f(ctx, PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_STORE_CORRUPT, "damaged set F");
  PCSVK(context_release)(ctx);
  PCS(store_release)(store);
  return 0;
}

/* ---- labels: a context names its device and application at its first save */

/* Puts into `store` so far. */
static uint64_t puts_of(pcs_store *store) {
  pcs_cache_metrics metrics;
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCS(metrics)(store, &metrics), PCS_OK);
  return metrics.puts;
}

/* A new context on `store` named `application` (NULL: not named, so the executable's name)
 * saves pipeline set `set`, then another set; returns the puts of its first save, which are the
 * blob's and, when the label of that application is not stored yet, the label's. */
static uint64_t first_save_puts(pcs_store *store, const char *application, const char *set) {
  pcs_vk_context *ctx = open_context(store, "test_vulkan labels", 0);
  pcs_fingerprint key = key_of(set), other_key;
  char other_set[64];
  VkPipelineCache cache = load_expecting(ctx, &key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE, set);
  uint64_t before, first;
  if (application != NULL) {
    CHECK_RESULT(PCSVK(context_set_application)(ctx, application, strlen(application)), PCS_OK);
  }
  create_pipelines(cache, 60, 1);
  before = puts_of(store);
  CHECK(save(ctx, &key, cache).outcome == PCS_VK_SAVE_STORED);
  first = puts_of(store) - before;
  vkDestroyPipelineCache(device, cache, NULL);
  /* Once per context: its next save puts the blob alone. */
  snprintf(other_set, sizeof other_set, "%s, again", set);
  other_key = key_of(other_set);
  cache = load_expecting(ctx, &other_key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE, other_set);
  before = puts_of(store);
  CHECK(save(ctx, &other_key, cache).outcome == PCS_VK_SAVE_STORED);
  CHECK(puts_of(store) - before == 1);
  vkDestroyPipelineCache(device, cache, NULL);
  PCSVK(context_release)(ctx);
  return first;
}

static void test_label_application(void) {
  pcs_store *store = open_store();
  pcs_vk_context *ctx = open_context(store, "test_vulkan labels", 0);
  /* Misuse is refused. */
  CHECK_RESULT(PCSVK(context_set_application)(NULL, "game", 4), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(context_set_application)(ctx, NULL, 4), PCS_ERR_NULL_ARGUMENT);
  CHECK_RESULT(PCSVK(context_set_application)(ctx, "", 0), PCS_ERR_INVALID_ARGUMENT);
  CHECK_RESULT(PCSVK(context_set_application)(ctx, NULL, 0), PCS_ERR_INVALID_ARGUMENT);
  PCSVK(context_release)(ctx);
  /* The first context's first save stores the label of the executable; a second context's
   * finds it stored (a day not passed) and puts the blob alone; a named application gets its
   * own label once, and so does a second name. */
  CHECK(first_save_puts(store, NULL, "label set 1") == 2);
  CHECK(first_save_puts(store, NULL, "label set 2") == 1);
  CHECK(first_save_puts(store, "c engine", "label set 3") == 2);
  CHECK(first_save_puts(store, "c engine", "label set 4") == 1);
  CHECK(first_save_puts(store, "another engine", "label set 5") == 2);
  PCS(store_release)(store);
}

/* ---- mode reject: every tampered entry is turned away before the driver */
typedef enum tamper { PAYLOAD_HEADER, ENVELOPE_FIELD, RAW } tamper;

/* Copies the good entry, applies `edit` at `offset` (a payload offset for PAYLOAD_HEADER, whose
 * BLAKE3 is then recomputed so only the Vulkan header is wrong), stores it, loads it. */
static void reject_case(pcs_store *store, pcs_vk_context *ctx, const pcs_fingerprint *key,
                        const unsigned char *good, size_t good_len, tamper kind, size_t offset,
                        uint32_t value, size_t new_len, int32_t outcome, int32_t rejection,
                        const char *what) {
  unsigned char *entry = (unsigned char *)calloc(1, good_len + 64);
  pcs_fingerprint stored_key, hash;
  VkPipelineCache cache;
  if (entry == NULL) fatal("out of memory");
  memcpy(entry, good, good_len);
  if (kind == PAYLOAD_HEADER) {
    put32(entry + ENVELOPE + offset, value);
    PCS(fingerprint_of)(entry + ENVELOPE, good_len - ENVELOPE, &hash);
    memcpy(entry + 24, hash.bytes, 32);
  } else if (kind == ENVELOPE_FIELD) {
    put32(entry + offset, value);
  }
  CHECK_RESULT(PCSVK(stored_key)(ctx, key, &stored_key), PCS_OK);
  CHECK_RESULT(PCS(put)(store, &stored_key, entry, new_len), PCS_OK);
  cache = load_expecting(ctx, key, outcome, rejection, what);
  vkDestroyPipelineCache(device, cache, NULL);
  free(entry);
}

static int mode_reject(void) {
  pcs_store *store = open_store();
  pcs_vk_context *ctx = open_context(store, "test_vulkan", 0);
  pcs_vk_context *tiny = open_context(store, "test_vulkan", 16); /* max_blob_bytes 16 */
  pcs_vk_context *other_namespace, *updated_driver;
  pcs_fingerprint key = key_of("engine pipeline set R"), other_key = key_of("another set");
  pcs_fingerprint stored_key, other_stored;
  size_t len = 0, i;
  unsigned char *good = establish(store, ctx, &key, &len);
  unsigned char garbage[300], truncated_payload[ENVELOPE + 20];
  pcs_fingerprint hash;
  VkPipelineCache cache;
  pcs_vk_metrics metrics;
  uint32_t seed = 12345;

  /* The Vulkan header of the blob, BLAKE3 recomputed: only pcstore's header check stands. */
  reject_case(store, ctx, &key, good, len, PAYLOAD_HEADER, 16, 0xdeadbeef, len,
              PCS_VK_LOAD_DEVICE_MISMATCH, PCS_VK_REJECT_HEADER_UUID, "wrong UUID");
  reject_case(store, ctx, &key, good, len, PAYLOAD_HEADER, 8, properties.vendorID + 1, len,
              PCS_VK_LOAD_DEVICE_MISMATCH, PCS_VK_REJECT_HEADER_VENDOR, "wrong vendor");
  reject_case(store, ctx, &key, good, len, PAYLOAD_HEADER, 12, properties.deviceID + 1, len,
              PCS_VK_LOAD_DEVICE_MISMATCH, PCS_VK_REJECT_HEADER_DEVICE, "wrong device");
  reject_case(store, ctx, &key, good, len, PAYLOAD_HEADER, 4, 2, len, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_HEADER_VERSION, "header version 2");
  reject_case(store, ctx, &key, good, len, PAYLOAD_HEADER, 0, 16, len, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_HEADER_SIZE, "header size 16");
  /* pcstore's envelope */
  reject_case(store, ctx, &key, good, len, RAW, 0, 0, len - 1, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_ENVELOPE_LENGTH, "truncated by one byte");
  reject_case(store, ctx, &key, good, len, RAW, 0, 0, 100, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_ENVELOPE_TRUNCATED, "truncated inside the envelope");
  reject_case(store, ctx, &key, good, len, RAW, 0, 0, 0, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_ENVELOPE_TRUNCATED, "zero-length");
  reject_case(store, ctx, &key, good, len, ENVELOPE_FIELD, ENVELOPE + 20, 0x5a5a5a5a, len,
              PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_ENVELOPE_HASH, "payload changed, hash kept");
  reject_case(store, ctx, &key, good, len, ENVELOPE_FIELD, 8, 2, len, PCS_VK_LOAD_CORRUPT,
              PCS_VK_REJECT_ENVELOPE_VERSION, "envelope version 2");
  reject_case(store, ctx, &key, good, len, ENVELOPE_FIELD, 88, properties.vendorID + 1, len,
              PCS_VK_LOAD_DEVICE_MISMATCH, PCS_VK_REJECT_ENVELOPE_IDENTITY,
              "envelope of another vendor");
  /* A payload shorter than a Vulkan header, length and hash consistent. */
  memcpy(truncated_payload, good, ENVELOPE + 20);
  put64(truncated_payload + 16, 20);
  PCS(fingerprint_of)(truncated_payload + ENVELOPE, 20, &hash);
  memcpy(truncated_payload + 24, hash.bytes, 32);
  reject_case(store, ctx, &key, truncated_payload, sizeof truncated_payload, RAW, 0, 0,
              sizeof truncated_payload, PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_HEADER_TRUNCATED,
              "20-byte payload");
  /* Garbage, deterministic. */
  for (i = 0; i < sizeof garbage; i++) {
    seed = seed * 1103515245u + 12345u;
    garbage[i] = (unsigned char)(seed >> 16);
  }
  reject_case(store, ctx, &key, garbage, sizeof garbage, RAW, 0, 0, sizeof garbage,
              PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_ENVELOPE_MAGIC, "garbage");
  /* The good entry under another key's name. */
  CHECK_RESULT(PCSVK(stored_key)(ctx, &other_key, &other_stored), PCS_OK);
  CHECK_RESULT(PCS(put)(store, &other_stored, good, len), PCS_OK);
  cache = load_expecting(ctx, &other_key, PCS_VK_LOAD_CORRUPT, PCS_VK_REJECT_ENVELOPE_KEY,
                         "entry of another key");
  vkDestroyPipelineCache(device, cache, NULL);

  /* The intact entry back: oversized for a context capped at 16 bytes, a hit otherwise. */
  CHECK_RESULT(PCSVK(stored_key)(ctx, &key, &stored_key), PCS_OK);
  CHECK_RESULT(PCS(put)(store, &stored_key, good, len), PCS_OK);
  cache = load_expecting(tiny, &key, PCS_VK_LOAD_TOO_LARGE, PCS_VK_REJECT_TOO_LARGE, "oversized");
  vkDestroyPipelineCache(device, cache, NULL);
  cache = load_expecting(ctx, &key, PCS_VK_LOAD_HIT, PCS_VK_REJECT_NONE, "intact again");
  vkDestroyPipelineCache(device, cache, NULL);

  /* A driver that fails with the (checked) data: retried without, and said so. */
  {
    pcs_vk_load_info info;
    int with_data = 0;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    refuse_initial_data = 1;
    take_calls(NULL);
    CHECK_RESULT(PCSVK(load_pipeline_cache)(ctx, &key, NULL, &cache, &info), PCS_OK);
    refuse_initial_data = 0;
    CHECK(take_calls(&with_data) == 2 && with_data == 1);
    CHECK(calls[0].initial_data_size == len - ENVELOPE && calls[0].has_pointer);
    CHECK(calls[1].initial_data_size == 0 && !calls[1].has_pointer);
    CHECK(info.outcome == PCS_VK_LOAD_DRIVER_REFUSED);
    CHECK(info.rejection == PCS_VK_REJECT_DRIVER_ERROR);
    CHECK(info.driver_result == VK_ERROR_INITIALIZATION_FAILED);
    CHECK(info.initial_data_bytes == 0 && cache != VK_NULL_HANDLE);
    vkDestroyPipelineCache(device, cache, NULL);
  }

  /* Another namespace, or the same device after a driver update: a plain miss. */
  other_namespace = open_context(store, "test_vulkan v2", 0);
  cache = load_expecting(other_namespace, &key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE,
                         "other namespace");
  vkDestroyPipelineCache(device, cache, NULL);
  fake_driver_update = 1;
  updated_driver = open_context(store, "test_vulkan", 0);
  fake_driver_update = 0;
  CHECK_RESULT(PCSVK(stored_key)(updated_driver, &key, &other_stored), PCS_OK);
  CHECK(memcmp(other_stored.bytes, stored_key.bytes, 32) != 0);
  cache = load_expecting(updated_driver, &key, PCS_VK_LOAD_MISS, PCS_VK_REJECT_NONE,
                         "driver update");
  vkDestroyPipelineCache(device, cache, NULL);

  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCSVK(context_metrics)(ctx, &metrics), PCS_OK);
  CHECK(metrics.loads[PCS_VK_LOAD_CORRUPT] == 10);
  CHECK(metrics.loads[PCS_VK_LOAD_DEVICE_MISMATCH] == 4);
  CHECK(metrics.loads[PCS_VK_LOAD_HIT] == 1 && metrics.loads[PCS_VK_LOAD_MISS] == 1);
  CHECK(metrics.loads[PCS_VK_LOAD_DRIVER_REFUSED] == 1 && metrics.driver_refusals == 1);

  free(good);
  PCSVK(context_release)(updated_driver);
  PCSVK(context_release)(other_namespace);
  PCSVK(context_release)(tiny);
  PCSVK(context_release)(ctx);
  PCS(store_release)(store);
  return 0;
}

/* ---- mode threads: loads, pipeline creation, saves and merges from several threads */
#define THREADS 4
#define ROUNDS 6
typedef struct worker {
  pcs_vk_context *ctx;
  int index;
  int hits;
  int bad;
} worker;

/* Saves `cache` under `key`; false unless the save ran and stored or found it unchanged. */
static int saved_ok(pcs_vk_context *ctx, const pcs_fingerprint *key, VkPipelineCache cache) {
  pcs_vk_save_info saved;
  memset(&saved, 0, sizeof saved);
  saved.struct_size = sizeof saved;
  return PCSVK(save_pipeline_cache)(ctx, key, cache, &saved) == PCS_OK &&
         (saved.outcome == PCS_VK_SAVE_STORED || saved.outcome == PCS_VK_SAVE_UNCHANGED);
}

static void *work(void *arg) {
  worker *self = (worker *)arg;
  int round;
  for (round = 0; round < ROUNDS; round++) {
    /* Odd rounds use a key every thread uses in that round; even rounds the thread's own. */
    char name[64];
    pcs_fingerprint key;
    pcs_vk_load_info info;
    VkPipelineCache cache = VK_NULL_HANDLE, reloaded = VK_NULL_HANDLE;
    if (round % 2) {
      snprintf(name, sizeof name, "shared %d", round);
    } else {
      snprintf(name, sizeof name, "thread %d key %d", self->index, round);
    }
    key = key_of(name);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (PCSVK(load_pipeline_cache)(self->ctx, &key, NULL, &cache, &info) != PCS_OK) {
      self->bad++;
      continue;
    }
    if (info.outcome == PCS_VK_LOAD_HIT) {
      self->hits++;
    } else if (info.outcome != PCS_VK_LOAD_MISS) {
      self->bad++;
    }
    create_pipelines(cache, (uint32_t)(round * 10 + self->index), 2);
    if (!saved_ok(self->ctx, &key, cache)) self->bad++;
    /* Whoever saved last, the entry is valid: this load must hit. */
    info.struct_size = sizeof info;
    if (PCSVK(load_pipeline_cache)(self->ctx, &key, NULL, &reloaded, &info) != PCS_OK) {
      self->bad++;
      vkDestroyPipelineCache(device, cache, NULL);
      continue;
    }
    if (info.outcome == PCS_VK_LOAD_HIT) {
      self->hits++;
    } else {
      self->bad++;
    }
    create_pipelines(reloaded, (uint32_t)(round * 10 + self->index + 100), 1);
    if (PCSVK(merge_pipeline_caches)(self->ctx, cache, 1, &reloaded) != PCS_OK) self->bad++;
    if (!saved_ok(self->ctx, &key, cache)) self->bad++;
    vkDestroyPipelineCache(device, reloaded, NULL);
    vkDestroyPipelineCache(device, cache, NULL);
  }
  return NULL;
}

static int mode_threads(void) {
  pcs_store *store = open_store();
  pcs_vk_context *ctx = open_context(store, "test_vulkan threads", 0);
  pthread_t threads[THREADS];
  worker workers[THREADS];
  pcs_vk_metrics metrics;
  int i, total_bad = 0, total_hits = 0, with_data = 0;
  uint64_t loads = 0;

  take_calls(NULL);
  for (i = 0; i < THREADS; i++) {
    workers[i].ctx = ctx;
    workers[i].index = i;
    workers[i].hits = 0;
    workers[i].bad = 0;
    if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) fatal("pthread_create");
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(threads[i], NULL);
    total_bad += workers[i].bad;
    total_hits += workers[i].hits;
  }
  CHECK(total_bad == 0);
  CHECK(take_calls(&with_data) == THREADS * ROUNDS * 2);
  memset(&metrics, 0, sizeof metrics);
  metrics.struct_size = sizeof metrics;
  CHECK_RESULT(PCSVK(context_metrics)(ctx, &metrics), PCS_OK);
  for (i = 0; i < 6; i++) loads += metrics.loads[i];
  CHECK(loads == THREADS * ROUNDS * 2);
  CHECK(metrics.loads[PCS_VK_LOAD_CORRUPT] == 0 && metrics.loads[PCS_VK_LOAD_DEVICE_MISMATCH] == 0);
  /* Every hit, and only hits, gave the driver data. */
  CHECK((uint64_t)with_data == metrics.loads[PCS_VK_LOAD_HIT]);
  CHECK((uint64_t)total_hits == metrics.loads[PCS_VK_LOAD_HIT]);
  CHECK(metrics.loads[PCS_VK_LOAD_HIT] >= THREADS * ROUNDS); /* every reload hit */
  printf("threads: %d loads, %llu hits, %llu stored saves\n", THREADS * ROUNDS * 2,
         (unsigned long long)metrics.loads[PCS_VK_LOAD_HIT],
         (unsigned long long)metrics.saves[PCS_VK_SAVE_STORED]);
  PCSVK(context_release)(ctx);
  PCS(store_release)(store);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode, *driver, *spv, *state;
#ifdef PCS_TEST_DLOPEN
  pcs_loader loader;
  char why[256];
  if (argc < 6) {
    fprintf(stderr, "usage: %s MODE DRIVER SPV STATE LIBPCSTORE\n", argv[0]);
    return 2;
  }
  if (pcs_loader_open(&loader, argv[5], why, sizeof why) != PCS_OK) fatal(why);
  api = loader.api;
  if (api->get_vk_api(PCS_ABI_VERSION, &vk_api) != PCS_OK) fatal("no pcs_vk_api");
#else
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODE DRIVER SPV STATE\n", argv[0]);
    return 2;
  }
#endif
  mode = argv[1];
  driver = argv[2];
  spv = argv[3];
  state = argv[4];
  vulkan_up(driver, spv);
  if (strcmp(mode, "save") == 0) {
    mode_save(state);
  } else if (strcmp(mode, "load") == 0) {
    mode_load(state);
  } else if (strcmp(mode, "corrupt") == 0) {
    mode_corrupt(state);
  } else if (strcmp(mode, "reject") == 0) {
    mode_reject();
    test_label_application();
  } else if (strcmp(mode, "threads") == 0) {
    mode_threads();
  } else {
    fatal("MODE must be save, load, corrupt, reject or threads");
  }
  vulkan_down();
#ifdef PCS_TEST_DLOPEN
  pcs_loader_close(&loader);
#endif
  if (validation_errors != 0) {
    fprintf(stderr, "%d validation error(s)\n", validation_errors);
    failures++;
  }
  if (failures != 0) {
    fprintf(stderr, "%s on %s: %d check(s) failed\n", mode, driver, failures);
    return 1;
  }
  printf("%s on %s: ok\n", mode, driver);
  return 0;
}
