//! Figures only the remote tier has: failures by kind, the breaker, the upload queue, wire bytes.
//!
//! These are touched once per network request (microseconds to milliseconds apart), so plain
//! relaxed atomics are enough; the hot-path figures live in the shared
//! [`MetricsRecorder`](crate::metrics::MetricsRecorder).

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::RequestFailure;
use crate::metrics::{LatencyHistogram, LatencySummary};

/// A snapshot of the remote tier's own figures (the standard ones come from `metrics()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteMetrics {
    /// Requests that could not connect.
    pub connect_errors: u64,
    /// Requests that timed out after connecting (no answer, or a body too slow for its size).
    pub timeouts: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// 4xx answers other than a GET's 404 (bad credentials, too large for the server).
    pub rejected: u64,
    /// Broken exchanges (malformed response, body cut short, connection reset).
    pub protocol_errors: u64,
    /// Times the circuit breaker opened (including reopening after a failed probe).
    pub breaker_openings: u64,
    /// Lookups and uploads not attempted because the breaker was open.
    pub breaker_skips: u64,
    /// Whether the breaker is holding requests back now.
    pub breaker_open: bool,
    /// Lookups answered "miss" from the memory of recent misses, without a request.
    pub remembered_misses: u64,
    /// Puts refused because the upload queue was full.
    pub queue_drops: u64,
    /// Uploads waiting now.
    pub queued: u64,
    /// Uploads the server accepted.
    pub uploads: u64,
    /// Uploads that failed (any kind, including skipped while the breaker was open).
    pub upload_failures: u64,
    /// Response body bytes received (envelopes, including ones then dropped).
    pub bytes_downloaded: u64,
    /// Request body bytes sent by successful uploads (envelopes).
    pub bytes_uploaded: u64,
    /// Latency of each upload request in the worker.
    pub upload_latency: LatencySummary,
}

/// The live counters behind [`RemoteMetrics`]. Thread-safe.
#[derive(Default)]
pub(crate) struct RemoteCounters {
    connect_errors: AtomicU64,
    timeouts: AtomicU64,
    server_errors: AtomicU64,
    rejected: AtomicU64,
    protocol_errors: AtomicU64,
    pub(crate) breaker_openings: AtomicU64,
    pub(crate) breaker_skips: AtomicU64,
    pub(crate) remembered_misses: AtomicU64,
    pub(crate) queue_drops: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) upload_failures: AtomicU64,
    pub(crate) bytes_downloaded: AtomicU64,
    pub(crate) bytes_uploaded: AtomicU64,
    pub(crate) upload_latency: LatencyHistogram,
}

/// Adds to a cold-path counter.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl RemoteCounters {
    /// Counts one failed request by its kind.
    pub(crate) fn failure(&self, failure: RequestFailure) {
        let counter = match failure {
            RequestFailure::Connect => &self.connect_errors,
            RequestFailure::Timeout => &self.timeouts,
            RequestFailure::ServerError => &self.server_errors,
            RequestFailure::Rejected => &self.rejected,
            RequestFailure::Protocol => &self.protocol_errors,
            RequestFailure::BreakerOpen => &self.breaker_skips,
        };
        bump(counter, 1);
    }

    pub(crate) fn snapshot(&self, breaker_open: bool, queued: u64) -> RemoteMetrics {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RemoteMetrics {
            connect_errors: load(&self.connect_errors),
            timeouts: load(&self.timeouts),
            server_errors: load(&self.server_errors),
            rejected: load(&self.rejected),
            protocol_errors: load(&self.protocol_errors),
            breaker_openings: load(&self.breaker_openings),
            breaker_skips: load(&self.breaker_skips),
            breaker_open,
            remembered_misses: load(&self.remembered_misses),
            queue_drops: load(&self.queue_drops),
            queued,
            uploads: load(&self.uploads),
            upload_failures: load(&self.upload_failures),
            bytes_downloaded: load(&self.bytes_downloaded),
            bytes_uploaded: load(&self.bytes_uploaded),
            upload_latency: self.upload_latency.summary(),
        }
    }
}
