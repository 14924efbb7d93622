//! What the layer keeps per device, found by the dispatch key of the device or of any of its
//! queues and command buffers: the next link's commands and the layer's per-device state.

use std::collections::HashSet;
use std::sync::Arc;

use ash::vk;
use once_cell::sync::OnceCell;

use super::cache::DeviceCache;
use super::feedback::{CreationStats, FeedbackSupport};
use super::registry::Registry;
use super::saver::Saver;
use crate::recipe::RecipeRecorder;
use crate::vulkan::dispatch::resolve;

/// The next link's device commands the intercepts call down to. (Not the adapter's
/// [`crate::vulkan::dispatch::DeviceFns`]: those are the cache commands the adapter calls, and
/// the adapter resolves them itself; these are the commands this layer intercepts, which must
/// never resolve to the layer's own.)
#[derive(Clone, Copy)]
pub(super) struct NextDeviceFns {
    pub destroy_device: vk::PFN_vkDestroyDevice,
    pub create_graphics_pipelines: vk::PFN_vkCreateGraphicsPipelines,
    pub create_compute_pipelines: vk::PFN_vkCreateComputePipelines,
    /// Present only when the device has `VK_KHR_ray_tracing_pipeline` enabled.
    pub create_ray_tracing_pipelines: Option<vk::PFN_vkCreateRayTracingPipelinesKHR>,
    pub create_pipeline_cache: vk::PFN_vkCreatePipelineCache,
    pub destroy_pipeline_cache: vk::PFN_vkDestroyPipelineCache,
    pub merge_pipeline_caches: vk::PFN_vkMergePipelineCaches,
    /// The object creations recording intercepts (`PCSTORE_RECORD`, intercept/record.rs).
    pub create_shader_module: vk::PFN_vkCreateShaderModule,
    pub create_sampler: vk::PFN_vkCreateSampler,
    pub create_descriptor_set_layout: vk::PFN_vkCreateDescriptorSetLayout,
    pub create_pipeline_layout: vk::PFN_vkCreatePipelineLayout,
    pub create_render_pass: vk::PFN_vkCreateRenderPass,
    /// Present from Vulkan 1.2 or with `VK_KHR_create_renderpass2`.
    pub create_render_pass2: Option<vk::PFN_vkCreateRenderPass2>,
}

impl NextDeviceFns {
    /// Resolves the commands through the device link's `vkGetDeviceProcAddr`; `None` when a
    /// core command is missing.
    ///
    /// # Safety
    /// `next_get_device_proc_addr` must be the device link's resolver and `device` a live
    /// device created through it.
    pub unsafe fn load(
        next_get_device_proc_addr: vk::PFN_vkGetDeviceProcAddr,
        device: vk::Device,
    ) -> Option<Self> {
        let gdpa = next_get_device_proc_addr;
        // SAFETY: (every `resolve`) the link's resolver with its live device (caller); each PFN
        // type is that of its name.
        unsafe {
            Some(Self {
                destroy_device: resolve(gdpa, device, c"vkDestroyDevice")?,
                create_graphics_pipelines: resolve(gdpa, device, c"vkCreateGraphicsPipelines")?,
                create_compute_pipelines: resolve(gdpa, device, c"vkCreateComputePipelines")?,
                create_ray_tracing_pipelines: resolve(
                    gdpa,
                    device,
                    c"vkCreateRayTracingPipelinesKHR",
                ),
                create_pipeline_cache: resolve(gdpa, device, c"vkCreatePipelineCache")?,
                destroy_pipeline_cache: resolve(gdpa, device, c"vkDestroyPipelineCache")?,
                merge_pipeline_caches: resolve(gdpa, device, c"vkMergePipelineCaches")?,
                create_shader_module: resolve(gdpa, device, c"vkCreateShaderModule")?,
                create_sampler: resolve(gdpa, device, c"vkCreateSampler")?,
                create_descriptor_set_layout: resolve(
                    gdpa,
                    device,
                    c"vkCreateDescriptorSetLayout",
                )?,
                create_pipeline_layout: resolve(gdpa, device, c"vkCreatePipelineLayout")?,
                create_render_pass: resolve(gdpa, device, c"vkCreateRenderPass")?,
                create_render_pass2: resolve(gdpa, device, c"vkCreateRenderPass2")
                    .or_else(|| resolve(gdpa, device, c"vkCreateRenderPass2KHR")),
            })
        }
    }
}

/// One device created through the layer.
pub(super) struct DeviceData {
    /// The next layer's `vkGetDeviceProcAddr`.
    pub next_get_device_proc_addr: vk::PFN_vkGetDeviceProcAddr,
    /// The next layer's commands.
    pub fns: NextDeviceFns,
    /// The layer-owned cache substituted for `VK_NULL_HANDLE`; set once right after the device
    /// is registered (the adapter resolves device commands through the registry), unset if it
    /// could not be made.
    pub cache: OnceCell<Arc<DeviceCache>>,
    /// The background saver of `cache`, taken at `vkDestroyDevice`.
    pub saver: parking_lot::Mutex<Option<Saver>>,
    /// Recipes of what the device creates (`PCSTORE_RECORD`, record.rs).
    pub recorder: Option<RecipeRecorder>,
    /// The physical device's name, for the log.
    pub name: String,
    /// Whether pipeline creations report feedback on this device.
    pub feedback: FeedbackSupport,
    /// What they reported, added up (logged at `vkDestroyDevice`).
    pub creation: CreationStats,
    /// The application's caches the layer seeded (created without initial data), whose
    /// contents it collects when they are destroyed.
    pub seeded_caches: parking_lot::Mutex<HashSet<vk::PipelineCache>>,
}

/// Devices by dispatch key.
pub(super) static DEVICES: Registry<DeviceData> = Registry::new();
