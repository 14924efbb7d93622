//! `VK_LAYER_PCSTORE_pipeline_cache`: a Vulkan layer that gives unmodified applications
//! pcstore's validated, bounded, multi-process-safe pipeline cache (feature `layer`).
//!
//! The same `libpcstore.so` serves as the layer: the loader `dlopen`s it from a manifest
//! (bindings/vulkan-layer/) and calls the only Vulkan symbol it exports,
//! [`vkNegotiateLoaderLayerInterfaceVersion`]. At `vkCreateDevice` the layer creates one
//! `VkPipelineCache` through the adapter ([`crate::vulkan::VulkanContext`]), keyed by the device
//! identity and the application, and substitutes it wherever the application passes
//! `VK_NULL_HANDLE`; the application's own caches pass through untouched. A background thread
//! saves it while it grows; `vkDestroyDevice` saves it once more before calling down.
//!
//! - abi.rs: the `vk_layer.h` structs; entry.rs: negotiation and the two resolvers;
//! - dispatch.rs: per-instance and per-device data by dispatch key;
//! - intercept.rs: the intercepted commands; cache.rs: the layer cache and the shared store;
//! - saver.rs: the background saver; config.rs: the environment variables.

pub mod abi;
mod cache;
mod config;
mod dispatch;
mod entry;
mod intercept;
mod saver;

#[cfg(test)]
pub(crate) use config::store_plan;
pub use entry::vkNegotiateLoaderLayerInterfaceVersion;
