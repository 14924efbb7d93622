//! A log-linear histogram of nanosecond latencies, updated with atomics only, and the
//! saturating counter add it shares with the recorder.

use crate::sync::{AtomicU64, Ordering};

use super::snapshot::LatencySummary;

/// One `fetch_add`; if that wrapped, pin the counter at `u64::MAX`. Between the wrap and the
/// pin another thread may add a little to the wrapped value; the pin then overwrites it.
#[inline]
pub(super) fn saturating_add(cell: &AtomicU64, n: u64) {
    let old = cell.fetch_add(n, Ordering::Relaxed);
    if old.checked_add(n).is_none() {
        cell.store(u64::MAX, Ordering::Relaxed);
    }
}

/// Sub-buckets per power of two: percentiles are within 1/8 of the true value.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond latencies on atomics.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl LatencyHistogram {
    /// Empty.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn record(&self, ns: u64) {
        saturating_add(&self.buckets[bucket_of(ns)], 1);
        self.max.fetch_max(ns, Ordering::Relaxed);
    }

    /// Sample count, p50, p99 and max.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let samples = counts.iter().fold(0u64, |s, c| s.saturating_add(*c));
        let max_ns = self.max.load(Ordering::Relaxed);
        if samples == 0 {
            return LatencySummary::default();
        }
        let percentile = |per_mille: u64| {
            let rank = (u128::from(samples) * u128::from(per_mille)).div_ceil(1000) as u64;
            let mut seen = 0u64;
            for (index, count) in counts.iter().enumerate() {
                seen = seen.saturating_add(*count);
                if seen >= rank.max(1) {
                    return bucket_upper_bound(index).min(max_ns);
                }
            }
            max_ns
        };
        LatencySummary {
            samples,
            p50_ns: percentile(500),
            p99_ns: percentile(990),
            max_ns,
        }
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let exponent = ns.ilog2(); // >= SUB_BITS
    let shift = exponent - SUB_BITS;
    let sub = ((ns >> shift) as usize) & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

fn bucket_upper_bound(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    let sub = (index % SUB) as u64;
    let lower = (SUB as u64 + sub) << shift;
    lower.saturating_add((1u64 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for ns in (0..5000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40, (1 << 40) - 1]) {
            let index = bucket_of(ns);
            assert!(index < BUCKETS);
            let upper = bucket_upper_bound(index);
            assert!(upper >= ns, "{ns} above bucket bound {upper}");
            assert!(upper - ns <= ns / 8, "{ns}: bucket bound {upper} too loose");
        }
    }

    #[test]
    fn percentiles_follow_the_distribution() {
        let histogram = LatencyHistogram::new();
        for ns in 1..=1000u64 {
            histogram.record(ns * 100);
        }
        let summary = histogram.summary();
        assert_eq!(summary.samples, 1000);
        assert_eq!(summary.max_ns, 100_000);
        assert!(
            (50_000..=50_000 + 50_000 / 8).contains(&summary.p50_ns),
            "{summary:?}"
        );
        assert!((99_000..=100_000).contains(&summary.p99_ns), "{summary:?}");
    }
}
