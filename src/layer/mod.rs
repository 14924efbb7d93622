//! `VK_LAYER_PCSTORE_pipeline_cache`: a Vulkan layer that gives unmodified applications
//! pcstore's validated, bounded, multi-process-safe pipeline cache (feature `layer`).
//!
//! A front end over the core and the Vulkan adapter, like [`crate::ffi`] (the two never import
//! each other). The same `libpcstore.so` serves as the layer: the loader `dlopen`s it from a
//! manifest (bindings/vulkan-layer/) and calls the only Vulkan symbol it exports,
//! [`vkNegotiateLoaderLayerInterfaceVersion`]. At `vkCreateDevice` the layer creates one
//! `VkPipelineCache` through the adapter ([`crate::vulkan::VulkanContext`]), keyed by the device
//! identity and the application, and substitutes it wherever the application passes
//! `VK_NULL_HANDLE`; the application's own empty caches are seeded from it and collected when
//! destroyed (intercept/cache.rs). A background thread saves it while it grows;
//! `vkDestroyDevice` saves it once more before calling down.
//!
//! Files, each importing only those below it:
//! - entry.rs: negotiation and the layer's two resolvers;
//! - intercept/: the intercepted commands, one file per command family;
//! - chain.rs: resolvers for the chain below the layer (what the layer's cache is driven through);
//! - record.rs: recording recipes (on unless `PCSTORE_RECORD=0`) for `pcstore replay`;
//! - device.rs: the device record (the next link's commands, the cache, the saver, the
//!   creation statistics, the recorder);
//! - feedback.rs: driver-verified hits (creation feedback chained, read and added up);
//! - history.rs: each run's hits appended to the application's history record at
//!   `vkDestroyDevice`;
//! - configuration.rs: the enabled extensions and features, digested into the cache's key;
//! - saver.rs: the background saver; cache.rs: the layer cache and the shared store;
//! - instance.rs: the instance record; registry.rs: records by dispatch key, generic, with
//!   last_entry.rs the one inserted last, read without a fence;
//! - config.rs: the settings (read by [`crate::config`]) and the log; abi.rs: the `vk_layer.h`
//!   structs and the no-unwind guard.

pub mod abi;
mod cache;
mod chain;
mod config;
mod configuration;
mod device;
mod entry;
mod feedback;
mod history;
mod instance;
mod intercept;
mod last_entry;
mod record;
mod registry;
mod saver;

#[cfg(test)]
pub(crate) use config::store_plan;
pub use configuration::digest as device_configuration_digest;
pub use entry::vkNegotiateLoaderLayerInterfaceVersion;
