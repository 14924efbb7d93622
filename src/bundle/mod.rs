//! Bundles: read-only, single-file stores a game ships with its prebuilt pipeline caches.
//!
//! A build farm compiles a game's pipelines once per GPU and driver, exports the results
//! ([`export_disk_cache`], or a [`BundleWriter`] fed directly) into one file, optionally signed
//! with the studio's Ed25519 key, and the game ships it. At run time a [`BundleStore`] sits
//! under the writable disk tier in a [`crate::LayeredPipelineCache`]: the first launch on a
//! matching driver is warm, and hits are promoted into memory but not copied to disk (see
//! [`crate::PromotePolicy`]).
//!
//! Shape (FORMAT.md has the byte layout): a header, the payloads back to back, an index sorted
//! by key (key, kind, offset, length, BLAKE3 per entry), and an optional signature block. The
//! header holds the index's BLAKE3 and is what the signature signs, so opening checks
//! everything but the payloads by reading two small regions, and each payload is checked
//! against its BLAKE3 when it is read.

mod error;
mod export;
mod format;
mod store;
mod writer;

pub use error::BundleError;
pub use export::{export_disk_cache, ExportReport};
pub use format::{BundleEntry, KIND_BLOB};
pub use store::{BundleInfo, BundleOptions, BundleStore};
pub use writer::{BundleSigningKey, BundleWriter};
