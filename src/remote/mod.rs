//! The remote tier: a studio-wide cache on an HTTP server that never stalls the game.
//!
//! Speaks the Bazel HTTP remote-cache layout, `GET`/`PUT {base_url}/ac/{64 hex}`, so existing
//! servers work unchanged: bazel-remote (LRU, size caps, S3/GCS/Azure back ends; run it with
//! `--disable_http_ac_validation`), nginx or Apache WebDAV with `PUT` enabled.
//!
//! Files by concept: [`options`](RemoteOptions) (settings, environment), `http` (requests,
//! deadlines, failure kinds), `envelope` (the self-checking wrapper of every stored blob),
//! `breaker` (stop calling a failing server), `breaker_file` (the breaker's state shared with
//! other processes), `clock` (the time cooldowns go by), `miss_memory` (skip repeated misses),
//! `upload` (the bounded queue and its worker), `cache` ([`RemoteCache`] itself), `metrics`.
//!
//! Enabled by the `remote` feature; `https://` needs `remote-tls`.

mod breaker;
mod breaker_file;
mod cache;
mod clock;
mod envelope;
mod error;
mod http;
mod metrics;
mod miss_memory;
mod options;
mod upload;

pub use cache::RemoteCache;
pub use clock::{Clock, SystemClock};
pub use error::{RemoteError, RequestFailure};
pub use metrics::RemoteMetrics;
pub use options::{RemoteAuth, RemoteOptions, ENV_KEY, ENV_READ_ONLY, ENV_TOKEN, ENV_URL};
pub use upload::FlushReport;

/// Bytes the envelope adds in front of every stored blob: a server's size cap must allow
/// `max_blob_bytes + ENVELOPE_OVERHEAD`.
pub const ENVELOPE_OVERHEAD: usize = envelope::HEADER_LEN;
