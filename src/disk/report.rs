//! What the store reports beyond the metrics: [`DurabilityReport`], and the counters behind it
//! ([`Stats`]: flush outcomes, lost puts, I/O errors, compactions).

use std::fmt::Display;
use std::time::Duration;

use parking_lot::Mutex;

use crate::metrics::{LatencyHistogram, LatencySummary};

/// What `flush` has and has not made durable, and what the store holds on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurabilityReport {
    /// Puts accepted and not yet covered by a successful flush.
    pub unflushed_puts: u64,
    /// Payload bytes of those puts, as written (compressed or not: what the flush has to sync).
    pub unflushed_bytes: u64,
    /// Flushes that succeeded.
    pub flushes_ok: u64,
    /// Flushes that failed.
    pub flushes_failed: u64,
    /// Puts a failed flush could not make durable. They are not retried: a later successful
    /// flush covers only puts accepted after the failure.
    pub lost_puts: u64,
    /// I/O errors met anywhere (puts, flushes, compactions, scans).
    pub io_errors: u64,
    /// The most recent I/O error, as text.
    pub last_error: Option<String>,
    /// Bytes of segment and index files known on disk.
    pub disk_bytes: u64,
    /// Segment files known.
    pub segments: u64,
    /// Compactions completed by this process.
    pub compactions: u64,
    /// How long those compactions took.
    pub compaction_latency: LatencySummary,
}

/// The report's counters: every part of a store records what went wrong here.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<Counts>,
    compaction_latency: LatencyHistogram,
}

#[derive(Default)]
struct Counts {
    flushes_ok: u64,
    flushes_failed: u64,
    lost_puts: u64,
    io_errors: u64,
    last_error: Option<String>,
    compactions: u64,
}

impl Stats {
    /// Counts an I/O error and keeps its text as the last one.
    pub fn record_error(&self, err: &dyn Display) {
        let mut counts = self.counts.lock();
        counts.io_errors += 1;
        counts.last_error = Some(err.to_string());
    }

    /// Counts a flush that succeeded.
    pub fn flush_succeeded(&self) {
        self.counts.lock().flushes_ok += 1;
    }

    /// Counts a flush that failed with `err`, losing `lost_puts` puts.
    pub fn flush_failed(&self, err: &dyn Display, lost_puts: u64) {
        let mut counts = self.counts.lock();
        counts.flushes_failed += 1;
        counts.lost_puts += lost_puts;
        counts.io_errors += 1;
        counts.last_error = Some(err.to_string());
    }

    /// Counts a compaction that completed in `took`.
    pub fn compaction_completed(&self, took: Duration) {
        self.counts.lock().compactions += 1;
        self.compaction_latency
            .record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The report, with what only its caller knows: the unflushed puts and bytes, and the
    /// bytes and segment files on disk.
    pub fn report(
        &self,
        (unflushed_puts, unflushed_bytes): (u64, u64),
        (disk_bytes, segments): (u64, u64),
    ) -> DurabilityReport {
        let counts = self.counts.lock();
        DurabilityReport {
            unflushed_puts,
            unflushed_bytes,
            flushes_ok: counts.flushes_ok,
            flushes_failed: counts.flushes_failed,
            lost_puts: counts.lost_puts,
            io_errors: counts.io_errors,
            last_error: counts.last_error.clone(),
            disk_bytes,
            segments,
            compactions: counts.compactions,
            compaction_latency: self.compaction_latency.summary(),
        }
    }
}
