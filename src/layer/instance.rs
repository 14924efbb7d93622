//! What the layer keeps per instance, found by the dispatch key of the instance or of any of
//! its physical devices.

use ash::vk;

use super::registry::Registry;

/// One instance created through the layer.
pub(super) struct InstanceData {
    /// The handle the next layer returned.
    pub instance: vk::Instance,
    /// The next layer's `vkGetInstanceProcAddr`.
    pub next_get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    /// The next layer's `vkDestroyInstance`.
    pub destroy_instance: vk::PFN_vkDestroyInstance,
    /// `VkApplicationInfo::apiVersion` (0 when none was given).
    pub api_version: u32,
    /// Executable and application names and versions: separates applications in the store.
    pub application: Vec<u8>,
}

/// Instances by dispatch key (physical devices share their instance's key).
pub(super) static INSTANCES: Registry<InstanceData> = Registry::new();
