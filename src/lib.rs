//! pcstore: a store for Vulkan pipeline-cache blobs that engines can trust.
//!
//! The core (this crate's root modules) knows nothing of C or Vulkan:
//! - [`fingerprint`]: 32-byte BLAKE3 keys, scoped to a device and driver;
//! - [`store`]: the [`PipelineCacheStore`] contract every tier implements;
//! - [`metrics`]: lock-free counters and latency histograms;
//! - [`memory`]: the hot in-memory tier; [`layered`]: tiers stacked fastest first;
//! - [`disk`]: the multi-process, crash-safe, bounded on-disk tier;
//! - `remote` (feature `remote`): a studio-wide shared tier over HTTP.
//!
//! [`vulkan`] (feature `vulkan`, default) turns stored blobs into validated `VkPipelineCache`s.
//!
//! [`ffi`] is the C ABI (`libpcstore`, `include/pcstore.h`) on top of the core.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod disk;
pub mod ffi;
pub mod fingerprint;
pub mod layered;
pub mod memory;
pub mod metrics;
mod platform;
#[cfg(feature = "remote")]
pub mod remote;
pub mod store;
mod sync;
mod thread_slot;
#[cfg(feature = "vulkan")]
pub mod vulkan;

pub use disk::{DiskCache, DiskCacheError, DiskCacheOptions, DurabilityReport};
pub use fingerprint::{
    DeviceIdentity, FingerprintBuilder, ParseFingerprintError, PipelineFingerprint,
    ScopedKeyDeriver,
};
pub use layered::{LayeredOptions, LayeredPipelineCache, PromotionReport, WritePolicy};
pub use memory::{EvictionReason, EvictionReport, InMemoryPipelineCache};
pub use metrics::{LatencySummary, PipelineCacheMetrics};
pub use store::{PipelineCacheStore, PutError};
