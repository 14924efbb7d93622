//! The Vulkan commands the layer intercepts, one file per command family. Each command is a
//! thin `extern "system"` shell that catches panics (nothing may unwind into the loader) around
//! a body that calls down the chain; each family answers for its own names.
//!
//! - instance.rs: `vkCreateInstance`, `vkDestroyInstance`;
//! - device.rs: `vkCreateDevice`, `vkDestroyDevice` (the layer cache and its saver);
//! - pipeline.rs: the pipeline-creation commands (the layer cache substituted for
//!   `VK_NULL_HANDLE`);
//! - cache.rs: `vkCreatePipelineCache`, `vkDestroyPipelineCache` (the application's empty
//!   caches seeded, and collected when destroyed);
//! - record.rs: the object creations recorded as recipes (unless `PCSTORE_RECORD=0`).

use std::ffi::CStr;

use ash::vk;

use super::device::DeviceData;

mod cache;
mod device;
mod instance;
mod pipeline;
mod record;

/// This layer's implementation of a command, by name (except the two resolvers, which
/// entry.rs answers for): instance-level commands answer for any (even null) instance;
/// device-level ones are listed too so layers above that resolve device commands through
/// `vkGetInstanceProcAddr` still reach them. `device` is the device being resolved for, if any.
pub(super) fn intercepted(name: &CStr, device: Option<&DeviceData>) -> vk::PFN_vkVoidFunction {
    instance::command(name)
        .or_else(|| device::command(name))
        .or_else(|| pipeline::command(name, device))
        .or_else(|| cache::command(name))
        .or_else(|| record::command(name, device))
}
