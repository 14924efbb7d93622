//! The adapter's own counters: outcomes the store cannot see (device mismatches, driver
//! refusals, unchanged saves). Store-level figures stay in the store's metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::metrics::{LatencyHistogram, LatencySummary};

use super::outcome::{LoadOutcome, SaveOutcome};

/// A snapshot of one [`VulkanContext`](super::VulkanContext)'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VulkanMetrics {
    /// Loads by [`LoadOutcome`], indexed by its value.
    pub loads: [u64; 6],
    /// Saves by [`SaveOutcome`], indexed by its value.
    pub saves: [u64; 5],
    /// `vkCreatePipelineCache` calls that failed with stored data (each retried without).
    pub driver_refusals: u64,
    /// Stored bytes handed to drivers on hits.
    pub bytes_to_driver: u64,
    /// Driver blob bytes written to the store.
    pub bytes_saved: u64,
    /// Latency of whole loads.
    pub load_latency: LatencySummary,
    /// Latency of whole saves.
    pub save_latency: LatencySummary,
}

impl VulkanMetrics {
    /// Loads that ended with `outcome`.
    #[must_use]
    pub fn loads_with(&self, outcome: LoadOutcome) -> u64 {
        self.loads[outcome as usize]
    }

    /// Saves that ended with `outcome`.
    #[must_use]
    pub fn saves_with(&self, outcome: SaveOutcome) -> u64 {
        self.saves[outcome as usize]
    }
}

/// The live recorder. Loads and saves cost a driver call each, so plain shared atomics are
/// cheap enough here (the striped recorder exists for nanosecond store hits).
#[derive(Default)]
pub(crate) struct VulkanMetricsRecorder {
    loads: [AtomicU64; 6],
    saves: [AtomicU64; 5],
    driver_refusals: AtomicU64,
    bytes_to_driver: AtomicU64,
    bytes_saved: AtomicU64,
    load_latency: LatencyHistogram,
    save_latency: LatencyHistogram,
}

impl VulkanMetricsRecorder {
    pub(crate) fn load(&self, outcome: LoadOutcome, bytes_to_driver: u64, elapsed: Duration) {
        self.loads[outcome as usize].fetch_add(1, Ordering::Relaxed);
        self.bytes_to_driver
            .fetch_add(bytes_to_driver, Ordering::Relaxed);
        self.load_latency.record(nanos(elapsed));
    }

    pub(crate) fn driver_refusal(&self) {
        self.driver_refusals.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn save(&self, outcome: SaveOutcome, bytes_saved: u64, elapsed: Duration) {
        self.saves[outcome as usize].fetch_add(1, Ordering::Relaxed);
        self.bytes_saved.fetch_add(bytes_saved, Ordering::Relaxed);
        self.save_latency.record(nanos(elapsed));
    }

    pub(crate) fn snapshot(&self) -> VulkanMetrics {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        VulkanMetrics {
            loads: self.loads.each_ref().map(read),
            saves: self.saves.each_ref().map(read),
            driver_refusals: read(&self.driver_refusals),
            bytes_to_driver: read(&self.bytes_to_driver),
            bytes_saved: read(&self.bytes_saved),
            load_latency: self.load_latency.summary(),
            save_latency: self.save_latency.summary(),
        }
    }
}

pub(crate) fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}
