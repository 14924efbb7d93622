//! pcstore: a store for Vulkan pipeline-cache blobs that engines can trust.
//!
//! The core (this crate's root modules) knows nothing of C or Vulkan:
//! - [`fingerprint`]: 32-byte BLAKE3 keys, scoped to a device and driver;
//! - [`store`]: the [`PipelineCacheStore`] contract every tier implements;
//! - [`metrics`]: lock-free counters and latency histograms;
//! - [`memory`]: the hot in-memory tier; [`layered`]: tiers stacked fastest first;
//! - [`disk`]: the multi-process, crash-safe, bounded on-disk tier;
//! - [`bundle`]: read-only, single-file, optionally signed stores a game ships;
//! - `remote` (feature `remote`): a studio-wide shared tier over HTTP;
//! - [`config`]: every `PCSTORE_*` environment variable, parsed once, and the default store;
//! - diagnostics: every message is a [`log`] record with a `pcstore::…` target (a Rust host's
//!   logger receives them; a C host's callback through `pcs_set_log_callback`).
//!
//! [`vulkan`] (feature `vulkan`, default) turns stored blobs into validated `VkPipelineCache`s;
//! [`recipe`] (same feature) describes the objects a pipeline is built from, driver-independently,
//! so it can be recreated on another driver.
//!
//! Two front ends sit on top, one way down (`layer` and `ffi` → `vulkan` → core; both read their
//! environment through [`config`]; neither imports the other):
//! - [`ffi`]: the C ABI (`libpcstore`, `include/pcstore.h`);
//! - `layer` (feature `layer`, default): the Vulkan layer `VK_LAYER_PCSTORE_pipeline_cache` for
//!   unmodified applications, in the same library.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod bundle;
mod codec;
pub mod config;
mod diagnostics;
pub mod disk;
pub mod ffi;
pub mod fingerprint;
#[cfg(feature = "layer")]
pub mod layer;
pub mod layered;
pub mod memory;
pub mod metrics;
mod platform;
#[cfg(feature = "vulkan")]
pub mod recipe;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(test)]
mod scratch;
pub mod store;
mod thread_slot;
#[cfg(feature = "vulkan")]
pub mod vulkan;

#[cfg(all(test, feature = "layer"))]
mod front_ends_agree;
#[cfg(test)]
mod module_graph;

pub use bundle::{BundleError, BundleOptions, BundleStore, BundleWriter};
pub use disk::{DiskCache, DiskCacheError, DiskCacheOptions, DurabilityReport, Refusal};
pub use fingerprint::{
    DeviceIdentity, FingerprintBuilder, ParseFingerprintError, PipelineFingerprint,
    ScopedKeyDeriver,
};
pub use layered::{
    BackgroundLayers, LayeredOptions, LayeredPipelineCache, PromotePolicy, PromotionReport,
    WritePolicy,
};
pub use memory::{EvictionReason, EvictionReport, InMemoryPipelineCache};
pub use metrics::{LatencySummary, PipelineCacheMetrics};
pub use store::{Lookup, PipelineCacheStore, PutError};
