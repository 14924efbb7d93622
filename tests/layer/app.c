/* An unmodified Vulkan application for the layer tests: it knows nothing of pcstore.
 *
 * Linked with -lvulkan. Creates an instance (with the Khronos validation layer and an
 * error-counting messenger when APP_VALIDATION=1; only the messenger with APP_VALIDATION=2,
 * for validation enabled through VK_INSTANCE_LAYERS), one device, then compute pipelines from
 * the SPIR-V file given as argv[1]:
 *   - APP_THREADS threads x APP_PIPELINES pipelines each, with VK_NULL_HANDLE as the cache;
 *   - the first pipeline again, with creation feedback (reports an application cache hit when a
 *     cache really was used: the layer's, since the application passes none);
 *   - the first pipeline through a fresh cache of the application's own (a miss unless that
 *     cache was swapped for one holding it), whose data size it prints.
 * APP_SHARED_CACHE=1 makes those pipelines (and the repeat below) use one cache the application
 * creates at start instead of VK_NULL_HANDLE, so every cache it uses is its own.
 * APP_ROBUST=1 enables the robustBufferAccess feature (every implementation has it), another
 * device configuration of the same application.
 * APP_REPEAT creates each thread's pipelines that many times over (default 1); APP_FEEDBACK=1
 * chains the application's own creation feedback on the threads' pipelines too and prints how
 * many of them report a cache hit (worker_hits) and how many report valid feedback
 * (worker_feedback_valid). Every creation checks that its create info and the structures it
 * chains are unchanged by the call (create_infos_changed: the layer may only read them).
 * APP_HOLD_MS keeps the device alive that long before destroying it (for kill tests).
 * Prints key=value lines (create_device_us and destroy_device_us: how long vkCreateDevice and
 * vkDestroyDevice took, in microseconds); exits non-zero on any Vulkan failure or validation
 * error. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vulkan/vulkan.h>

static unsigned validation_errors;
static pthread_mutex_t errors_lock = PTHREAD_MUTEX_INITIALIZER;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                  VkDebugUtilsMessageTypeFlagsEXT types,
                                                  const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                  void *user) {
    (void)types;
    (void)user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        pthread_mutex_lock(&errors_lock);
        validation_errors++;
        pthread_mutex_unlock(&errors_lock);
        fprintf(stderr, "VALIDATION ERROR: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

#define CHECK(call)                                                              \
    do {                                                                         \
        VkResult result_ = (call);                                               \
        if (result_ != VK_SUCCESS) {                                             \
            fprintf(stderr, "%s failed: %d (line %d)\n", #call, result_, __LINE__); \
            exit(2);                                                             \
        }                                                                        \
    } while (0)

static long long now_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000;
}

static int env_int(const char *name, int fallback) {
    const char *value = getenv(name);
    return value && *value ? atoi(value) : fallback;
}

static VkDevice device;
static VkShaderModule module;
static VkPipelineLayout layout;
/* The cache the threads' pipelines and the repeat use: VK_NULL_HANDLE unless APP_SHARED_CACHE=1. */
static VkPipelineCache shared_cache = VK_NULL_HANDLE;

static unsigned create_infos_changed;

static VkResult create_pipeline(VkPipelineCache cache, uint32_t seed, VkPipeline *pipeline,
                                VkPipelineCreationFeedback *feedback) {
    VkSpecializationMapEntry entry = {0, 0, sizeof(uint32_t)};
    VkSpecializationInfo specialization = {1, &entry, sizeof(seed), &seed};
    VkPipelineCreationFeedback stage_feedback;
    VkPipelineCreationFeedbackCreateInfo feedback_info = {
        VK_STRUCTURE_TYPE_PIPELINE_CREATION_FEEDBACK_CREATE_INFO, NULL, feedback, 1,
        &stage_feedback};
    VkComputePipelineCreateInfo info = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    info.pNext = feedback ? &feedback_info : NULL;
    info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    info.stage.module = module;
    info.stage.pName = "main";
    info.stage.pSpecializationInfo = &specialization;
    info.layout = layout;
    /* Byte copies (padding included), compared byte for byte after the call. */
    VkComputePipelineCreateInfo info_before;
    VkPipelineCreationFeedbackCreateInfo feedback_info_before;
    memcpy(&info_before, &info, sizeof info);
    memcpy(&feedback_info_before, &feedback_info, sizeof feedback_info);
    VkResult result = vkCreateComputePipelines(device, cache, 1, &info, NULL, pipeline);
    if (memcmp(&info, &info_before, sizeof info) != 0 ||
        memcmp(&feedback_info, &feedback_info_before, sizeof feedback_info) != 0) {
        pthread_mutex_lock(&errors_lock);
        create_infos_changed++;
        pthread_mutex_unlock(&errors_lock);
    }
    return result;
}

struct worker {
    pthread_t thread;
    uint32_t first_seed;
    int count;
    int repeat;
    int with_feedback;
    int created;
    int hits;
    int feedback_valid;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (int round = 0; round < w->repeat; round++) {
        for (int i = 0; i < w->count; i++) {
            VkPipeline pipeline = VK_NULL_HANDLE;
            VkPipelineCreationFeedback feedback = {0};
            if (create_pipeline(shared_cache, w->first_seed + (uint32_t)i, &pipeline,
                                w->with_feedback ? &feedback : NULL) == VK_SUCCESS &&
                pipeline != VK_NULL_HANDLE) {
                w->created++;
            }
            if (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_VALID_BIT) w->feedback_valid++;
            if (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT)
                w->hits++;
            vkDestroyPipeline(device, pipeline, NULL);
        }
    }
    return NULL;
}

static uint32_t *read_spirv(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    uint32_t *words = malloc((size_t)length);
    if (!words || fread(words, 1, (size_t)length, file) != (size_t)length) exit(2);
    fclose(file);
    *size = (size_t)length;
    return words;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SHADER.spv\n", argv[0]);
        return 2;
    }
    int validation = env_int("APP_VALIDATION", 0);
    int threads = env_int("APP_THREADS", 4);
    int per_thread = env_int("APP_PIPELINES", 8);
    int hold_ms = env_int("APP_HOLD_MS", 0);
    int repeat = env_int("APP_REPEAT", 1);
    int with_feedback = env_int("APP_FEEDBACK", 0);
    if (repeat < 1 || repeat > 16) repeat = 1;
    if (threads < 1 || threads > 64) threads = 4;

    VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "pcstore-layer-test-app";
    app.applicationVersion = 3;
    app.apiVersion = VK_API_VERSION_1_3;
    VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                                     VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
    messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
    messenger_info.pfnUserCallback = on_message;
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo instance_info = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    instance_info.pApplicationInfo = &app;
    if (validation) {
        instance_info.pNext = &messenger_info;
        /* APP_VALIDATION=2: validation comes from VK_INSTANCE_LAYERS; only listen to it. */
        instance_info.enabledLayerCount = validation == 1 ? 1 : 0;
        instance_info.ppEnabledLayerNames = layers;
        instance_info.enabledExtensionCount = 1;
        instance_info.ppEnabledExtensionNames = extensions;
    }
    VkInstance instance;
    CHECK(vkCreateInstance(&instance_info, NULL, &instance));
    VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
    PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            instance, "vkCreateDebugUtilsMessengerEXT");
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            instance, "vkDestroyDebugUtilsMessengerEXT");
    if (validation) CHECK(create_messenger(instance, &messenger_info, NULL, &messenger));

    uint32_t count = 1;
    VkPhysicalDevice physical_device;
    VkResult enumerated = vkEnumeratePhysicalDevices(instance, &count, &physical_device);
    if ((enumerated != VK_SUCCESS && enumerated != VK_INCOMPLETE) || count == 0) {
        fprintf(stderr, "no physical device\n");
        return 2;
    }
    VkPhysicalDeviceProperties properties;
    vkGetPhysicalDeviceProperties(physical_device, &properties);
    if (VK_API_VERSION_MINOR(properties.apiVersion) < 3) {
        fprintf(stderr, "device is not Vulkan 1.3\n");
        return 2;
    }
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    queue.queueFamilyIndex = 0;
    queue.queueCount = 1;
    queue.pQueuePriorities = &priority;
    VkDeviceCreateInfo device_info = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue;
    VkPhysicalDeviceFeatures features = {0};
    if (env_int("APP_ROBUST", 0)) {
        features.robustBufferAccess = VK_TRUE;
        device_info.pEnabledFeatures = &features;
    }
    long long create_started = now_us();
    CHECK(vkCreateDevice(physical_device, &device_info, NULL, &device));
    long long create_device_us = now_us() - create_started;

    size_t code_size;
    uint32_t *code = read_spirv(argv[1], &code_size);
    VkShaderModuleCreateInfo module_info = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    module_info.codeSize = code_size;
    module_info.pCode = code;
    CHECK(vkCreateShaderModule(device, &module_info, NULL, &module));
    VkPipelineLayoutCreateInfo layout_info = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    CHECK(vkCreatePipelineLayout(device, &layout_info, NULL, &layout));

    VkPipelineCacheCreateInfo shared_info = {VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (env_int("APP_SHARED_CACHE", 0))
        CHECK(vkCreatePipelineCache(device, &shared_info, NULL, &shared_cache));

    struct worker workers[64];
    memset(workers, 0, sizeof workers);
    for (int t = 0; t < threads; t++) {
        workers[t].first_seed = 1 + (uint32_t)(t * per_thread);
        workers[t].count = per_thread;
        workers[t].repeat = repeat;
        workers[t].with_feedback = with_feedback;
        if (pthread_create(&workers[t].thread, NULL, work, &workers[t]) != 0) return 2;
    }
    int created = 0, worker_hits = 0, worker_feedback_valid = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        created += workers[t].created;
        worker_hits += workers[t].hits;
        worker_feedback_valid += workers[t].feedback_valid;
    }

    VkPipelineCreationFeedback feedback = {0};
    VkPipeline again;
    CHECK(create_pipeline(shared_cache, 1, &again, &feedback));
    vkDestroyPipeline(device, again, NULL);
    int feedback_valid = (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_VALID_BIT) != 0;
    int cache_hit =
        (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT) != 0;

    VkPipelineCacheCreateInfo cache_info = {VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    VkPipelineCache own_cache;
    CHECK(vkCreatePipelineCache(device, &cache_info, NULL, &own_cache));
    /* The same pipeline as the NULL-cache ones above, through a fresh cache of our own: a hit
     * here would mean our cache was replaced by one that already holds it. */
    VkPipelineCreationFeedback own_feedback = {0};
    VkPipeline through_own;
    CHECK(create_pipeline(own_cache, 1, &through_own, &own_feedback));
    vkDestroyPipeline(device, through_own, NULL);
    int own_cache_hit =
        (own_feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT) != 0;
    size_t own_bytes = 0;
    CHECK(vkGetPipelineCacheData(device, own_cache, &own_bytes, NULL));
    vkDestroyPipelineCache(device, own_cache, NULL);

    if (hold_ms > 0) {
        printf("holding\n");
        fflush(stdout);
        struct timespec pause = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }

    if (shared_cache) vkDestroyPipelineCache(device, shared_cache, NULL);
    vkDestroyPipelineLayout(device, layout, NULL);
    vkDestroyShaderModule(device, module, NULL);
    long long destroy_started = now_us();
    vkDestroyDevice(device, NULL);
    long long destroy_device_us = now_us() - destroy_started;
    if (messenger) destroy_messenger(instance, messenger, NULL);
    vkDestroyInstance(instance, NULL);
    free(code);

    printf("device=%s\n", properties.deviceName);
    printf("pipelines_created=%d of %d\n", created, threads * per_thread * repeat);
    if (with_feedback) {
        printf("worker_hits=%d\n", worker_hits);
        printf("worker_feedback_valid=%d\n", worker_feedback_valid);
    }
    printf("create_infos_changed=%u\n", create_infos_changed);
    printf("feedback_valid=%d\n", feedback_valid);
    printf("cache_hit=%d\n", cache_hit);
    printf("own_cache_bytes=%zu\n", own_bytes);
    printf("own_cache_hit=%d\n", own_cache_hit);
    printf("validation_errors=%u\n", validation_errors);
    printf("create_device_us=%lld\n", create_device_us);
    printf("destroy_device_us=%lld\n", destroy_device_us);
    return created == threads * per_thread * repeat && validation_errors == 0 &&
                   create_infos_changed == 0
               ? 0
               : 1;
}
