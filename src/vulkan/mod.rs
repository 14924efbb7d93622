//! The Vulkan adapter: `VkPipelineCache`s seeded from the store, validated before any driver
//! sees a byte (feature `vulkan`).
//!
//! - [`VulkanContext`] (context.rs): one per `VkDevice`; load, save, merge;
//! - identity.rs: the device identity every stored key is scoped to;
//! - envelope.rs: pcstore's wrapper around stored blobs (magic, length, BLAKE3, identity);
//! - label.rs: [`Label`] records naming a device identity and application in words,
//!   [`VulkanContext::record_label`], and the label a context writes by itself at its first
//!   save ([`VulkanContext::set_label_application`]);
//! - history.rs: [`History`] records of an application's last runs (driver-reported hits), and
//!   [`VulkanContext::record_run`];
//! - record_fields.rs: the key, head (device fields) and texts labels and histories share;
//! - stale.rs: [`StaleIdentities`], the disk tier's hook naming the entries of identities whose
//!   labels say they were last seen longer ago than the stale period, to evict first;
//! - header.rs: the `VkPipelineCacheHeaderVersionOne` check;
//! - dispatch.rs: the few entry points resolved through the engine's `vkGetInstanceProcAddr`,
//!   and the one typed resolve-and-cast (the layer, `crate::layer`, resolves through it too);
//! - outcome.rs / metrics.rs: what loads and saves did, per call and counted.
//!
//! The library never links or loads libvulkan. The adapter imports only the core; its users
//! are engines, the C ABI (`crate::ffi`) and the layer (`crate::layer`).

mod context;
pub(crate) mod dispatch;
mod envelope;
mod error;
mod header;
mod history;
mod identity;
mod label;
mod metrics;
mod outcome;
mod record_fields;
mod stale;

pub use ash;
pub use context::{DeviceInfo, VulkanContext, VulkanOptions};
pub use envelope::{
    envelope_device, open_envelope, seal_envelope, EnvelopeDevice, EnvelopeError,
    ENVELOPE_HEADER_LEN,
};
pub use error::VulkanError;
pub use header::{
    check_cache_header, write_cache_header, CacheHeaderExpectation, HeaderError, HEADER_V1_LEN,
};
pub use history::{History, Run, HISTORY_NAMESPACE, MAX_HISTORY_TEXT, MAX_RUNS};
pub use identity::device_identity_from_properties;
pub use label::{
    application_label, Label, LABEL_NAMESPACE, LABEL_REFRESH_NS, MAX_LABEL_TEXT,
    OWN_LABEL_REFRESH_NS,
};
pub use metrics::VulkanMetrics;
pub use outcome::{LoadInfo, LoadOutcome, Rejection, SaveInfo, SaveOutcome};
pub use stale::StaleIdentities;
