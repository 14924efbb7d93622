//! pcstore: a store for Vulkan pipeline-cache blobs that engines can trust.
//!
//! The core (this crate's root modules) knows nothing of C or Vulkan:
//! - [`fingerprint`]: 32-byte BLAKE3 keys, scoped to a device and driver;
//! - [`store`]: the [`PipelineCacheStore`] contract every tier implements;
//! - [`metrics`]: lock-free counters and latency histograms;
//! - [`memory`]: the hot in-memory tier; [`layered`]: tiers stacked fastest first;
//! - [`disk`]: the multi-process, crash-safe, bounded on-disk tier;
//! - [`bundle`]: read-only, single-file, optionally signed stores a game ships;
//! - [`compression`]: how the disk tier and bundles store values compressed;
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
// Documentation the project's rules require, kept true by CI's `-D warnings`: when a public
// function errs, what an `unsafe fn` asks of its caller, why each `unsafe` block is sound.
#![warn(
    clippy::missing_errors_doc,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
// `cargo clippy -- -W clippy::pedantic` is clean; these pedantic lints are allowed, each for the
// reason beside it (the rest of the group was fixed, not allowed).
#![allow(
    // Binary formats and Vulkan/C structs cast between fixed widths on purpose; each such cast is
    // bounded by a checked length or a format limit nearby, and `try_from` would only add panics.
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    // `pNext` chain structs are read and written at Vulkan's offsets in memory the caller or an
    // 8-byte-aligned buffer aligns for them, each under its own `SAFETY:` comment.
    clippy::cast_ptr_alignment,
    // Recipe recording and rebuilding walk Vulkan structs field by field; splitting them would
    // scatter one struct's handling over several functions.
    clippy::too_many_lines,
    // Error mappers are used as `map_err(open_error)` (a reference would need a closure), and
    // public constructors keep their published signatures.
    clippy::needless_pass_by_value,
    // `&[u8; 8]` and `&vk::AttachmentReference` read as "borrowed record"; the cost is nil.
    clippy::trivially_copy_pass_by_ref,
    // Prose names (WebDAV, SipHash, DoS) are not code and read worse in backticks.
    clippy::doc_markdown,
    // Paired names say what they pair (`next_gipa`/`next_gdpa`, `dynamic`/`dynamic_state`).
    clippy::similar_names,
    // Struct fields mirror Vulkan's (`driverID`, `driverName`, `driverInfo`).
    clippy::struct_field_names,
    // A local `const` or `enum` beside its only use is clearer than at the top.
    clippy::items_after_statements,
    // Store Debug impls print a summary (counts, limits), not every blob, lock and thread.
    clippy::missing_fields_in_debug,
    // `EINTR => continue` says "retry" where an empty arm says nothing.
    clippy::needless_continue,
    // Hex for error messages and file names: `format!` per byte is the clearest spelling.
    clippy::format_collect,
    clippy::format_push_string,
    // A method kept on the type whose state it manages, even where it needs no `self`.
    clippy::unused_self,
    // `FfiResult` keeps every C ABI helper composable with `?`, even one that cannot fail today.
    clippy::unnecessary_wraps,
    // "Not looked at" vs "looked at, nothing there" is exactly `Option<Option<T>>`.
    clippy::option_option,
    // A two-arm `match` on `Some`/`None` with real work in both arms reads better than `if let`.
    clippy::single_match_else,
    // The recipe wire macros hand over `&self.field` for every optional chained struct.
    clippy::ref_option,
    // Arms with the same body kept apart where each is a different state transition.
    clippy::match_same_arms,
    // `from_raw_parts(ptr, len, len)` adopts a fallible zeroed allocation of exactly `len` bytes.
    clippy::same_length_and_capacity,
    // It flags `expect`s on invariants (fixed-size arrays) that cannot fire; real panics are
    // documented by hand.
    clippy::missing_panics_doc
)]

pub mod bundle;
mod codec;
pub mod compression;
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
mod sync;
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
