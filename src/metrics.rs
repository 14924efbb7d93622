//! Counters and latency figures, recorded without locks.
//!
//! Hot-path cost is the point here: a memory hit must cost tens of nanoseconds, so
//! - counters are striped per thread and summed on snapshot: a thread that owns a stripe alone
//!   (see `thread_slot.rs`) updates it with plain loads and stores, no atomic
//!   read-modify-write and no cache line shared with another thread; threads beyond that share
//!   one overflow stripe with atomic adds (the loom model at the end of this file checks that no
//!   count is lost, also when a thread inherits a finished thread's stripe);
//! - `get` latency is sampled (one call in [`GET_SAMPLE_PERIOD`] per thread is timed), because
//!   reading the clock twice costs about as much as a memory hit; tiers whose lookups cost far
//!   more (disk, network) time every one; puts and flushes are all timed.
//!
//! Counters saturate at `u64::MAX` instead of wrapping.

use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, Ordering};
use crate::thread_slot;

/// A snapshot of one store's counters and latency figures.
///
/// `lookups == hits + misses` always holds in a snapshot. For a layered store the figures count
/// logical operations on the whole stack (a miss in memory followed by a disk hit is one lookup,
/// one hit); each layer's own figures stay available from that layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineCacheMetrics {
    /// `get`/`get_arc` calls.
    pub lookups: u64,
    /// Lookups that returned a blob.
    pub hits: u64,
    /// Lookups that returned nothing.
    pub misses: u64,
    /// Puts accepted.
    pub puts: u64,
    /// Puts refused (too large, read-only, queue full, I/O error).
    pub rejected_puts: u64,
    /// Entries removed to stay within budget.
    pub evictions: u64,
    /// Bytes of the entries counted in `evictions`.
    pub evicted_bytes: u64,
    /// `flush` calls.
    pub flushes: u64,
    /// `flush` calls that failed.
    pub flush_errors: u64,
    /// Bytes of blobs held now.
    pub cached_bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// Blob bytes returned by hits.
    pub bytes_read: u64,
    /// Blob bytes accepted by puts.
    pub bytes_written: u64,
    /// Stored blobs found corrupt (hash mismatch, torn record, bad envelope) and dropped.
    pub corrupt_dropped: u64,
    /// Latency of `get`/`get_arc` (sampled).
    pub get_latency: LatencySummary,
    /// Latency of `put`/`try_put`, as seen by the caller.
    pub put_latency: LatencySummary,
    /// Latency of `flush`.
    pub flush_latency: LatencySummary,
}

impl PipelineCacheMetrics {
    /// Hits per million lookups, 0 when there were no lookups.
    pub fn hit_rate_ppm(&self) -> u32 {
        self.try_hit_rate_ppm().unwrap_or(0)
    }

    /// Hits per million lookups, or why there is no such figure.
    pub fn try_hit_rate_ppm(&self) -> Result<u32, HitRateError> {
        if self.lookups == 0 {
            return Err(HitRateError::NoLookups);
        }
        if self.hits > self.lookups {
            return Err(HitRateError::Inconsistent {
                hits: self.hits,
                lookups: self.lookups,
            });
        }
        let ppm = u128::from(self.hits) * 1_000_000 / u128::from(self.lookups);
        Ok(ppm as u32)
    }
}

/// Why [`PipelineCacheMetrics::try_hit_rate_ppm`] has no figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitRateError {
    /// No lookups yet.
    NoLookups,
    /// More hits than lookups: a hand-built or merged snapshot that does not add up.
    Inconsistent {
        /// Hits in the snapshot.
        hits: u64,
        /// Lookups in the snapshot.
        lookups: u64,
    },
}

impl std::fmt::Display for HitRateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoLookups => f.write_str("no lookups yet"),
            Self::Inconsistent { hits, lookups } => {
                write!(f, "{hits} hits exceed {lookups} lookups")
            }
        }
    }
}

impl std::error::Error for HitRateError {}

/// Percentiles of one operation's latency, in nanoseconds.
///
/// Percentiles are bucket upper bounds (at most 12.5 % above the true value, never above
/// `max_ns`); `max_ns` is exact. All zero when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Operations timed.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Slowest.
    pub max_ns: u64,
}

/// One memory-tier `get` in this many is timed, per thread. Timing costs two clock reads and
/// two atomic updates of a histogram every thread shares; at 1 in 16 that was a fifth of a
/// memory hit with two threads. 1 in 128 still gives hundreds of samples per 100 000 lookups.
pub const GET_SAMPLE_PERIOD: u32 = 128;

/// The counters a store records. `lookups` is not one: it is `hits + misses`, so a snapshot
/// never shows more hits than lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// See [`PipelineCacheMetrics::hits`].
    Hits,
    /// See [`PipelineCacheMetrics::misses`].
    Misses,
    /// See [`PipelineCacheMetrics::puts`].
    Puts,
    /// See [`PipelineCacheMetrics::rejected_puts`].
    RejectedPuts,
    /// See [`PipelineCacheMetrics::evictions`].
    Evictions,
    /// See [`PipelineCacheMetrics::evicted_bytes`].
    EvictedBytes,
    /// See [`PipelineCacheMetrics::flushes`].
    Flushes,
    /// See [`PipelineCacheMetrics::flush_errors`].
    FlushErrors,
    /// See [`PipelineCacheMetrics::bytes_read`].
    BytesRead,
    /// See [`PipelineCacheMetrics::bytes_written`].
    BytesWritten,
    /// See [`PipelineCacheMetrics::corrupt_dropped`].
    CorruptDropped,
}

const COUNTERS: usize = Counter::CorruptDropped as usize + 1;
/// One stripe per thread slot, plus the shared overflow stripe.
const STRIPES: usize = thread_slot::SLOTS + 1;
const OVERFLOW_STRIPE: usize = thread_slot::SLOTS;

/// One thread group's counters, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Stripe([AtomicU64; COUNTERS]);

/// A lookup in progress (see [`MetricsRecorder::start_get`]).
#[derive(Clone, Copy, Debug)]
pub struct LookupProbe {
    stripe: usize,
    exclusive: bool,
    started: Option<Instant>,
}

impl LookupProbe {
    /// This thread's own slot index, if it has one (see `thread_slot.rs`).
    #[inline]
    pub(crate) fn thread_slot(&self) -> Option<usize> {
        self.exclusive.then_some(self.stripe)
    }
}

/// Which operation a latency belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `get`/`get_arc`.
    Get,
    /// `put`/`try_put`.
    Put,
    /// `flush`.
    Flush,
}

/// The live, lock-free recorder behind a store's [`PipelineCacheMetrics`].
pub struct MetricsRecorder {
    stripes: Box<[Stripe]>,
    get: LatencyHistogram,
    put: LatencyHistogram,
    flush: LatencyHistogram,
}

impl MetricsRecorder {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            get: LatencyHistogram::new(),
            put: LatencyHistogram::new(),
            flush: LatencyHistogram::new(),
        }
    }

    /// Adds `n` to a counter, saturating.
    #[inline]
    pub fn add(&self, counter: Counter, n: u64) {
        let (stripe, exclusive) = thread_stripe();
        add_to(&self.stripes[stripe].0[counter as usize], n, exclusive);
    }

    /// Adds one to a counter.
    #[inline]
    pub fn inc(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Records a hit that returned `len` bytes.
    #[inline]
    pub fn hit(&self, len: usize) {
        let (stripe, exclusive) = thread_stripe();
        let stripe = &self.stripes[stripe].0;
        add_to(&stripe[Counter::Hits as usize], 1, exclusive);
        add_to(&stripe[Counter::BytesRead as usize], len as u64, exclusive);
    }

    /// Records an accepted put of `len` bytes.
    #[inline]
    pub fn put_accepted(&self, len: usize) {
        let (stripe, exclusive) = thread_stripe();
        let stripe = &self.stripes[stripe].0;
        add_to(&stripe[Counter::Puts as usize], 1, exclusive);
        add_to(
            &stripe[Counter::BytesWritten as usize],
            len as u64,
            exclusive,
        );
    }

    /// Starts a lookup: finds this thread's stripe once (the lookup's other bookkeeping reuses
    /// it) and starts the clock if this is the thread's sampled lookup, one in
    /// [`GET_SAMPLE_PERIOD`] by the count of lookups already in its stripe.
    #[inline]
    pub fn start_get(&self) -> LookupProbe {
        let (stripe, exclusive) = thread_stripe();
        let cells = &self.stripes[stripe].0;
        let done = cells[Counter::Hits as usize]
            .load(Ordering::Relaxed)
            .wrapping_add(cells[Counter::Misses as usize].load(Ordering::Relaxed));
        LookupProbe {
            stripe,
            exclusive,
            started: (done % u64::from(GET_SAMPLE_PERIOD) == 0).then(Instant::now),
        }
    }

    /// Like [`MetricsRecorder::start_get`], but always timed: for tiers whose lookups cost far
    /// more than reading the clock (network, disk).
    pub fn start_get_timed(&self) -> LookupProbe {
        let (stripe, exclusive) = thread_stripe();
        LookupProbe {
            stripe,
            exclusive,
            started: Some(Instant::now()),
        }
    }

    /// Records the outcome of a lookup started with [`MetricsRecorder::start_get`]: a hit of
    /// `Some(len)` bytes or a miss, and its latency if it was timed.
    #[inline]
    pub fn record_lookup(&self, probe: LookupProbe, found_len: Option<usize>) {
        let cells = &self.stripes[probe.stripe].0;
        match found_len {
            Some(len) => {
                add_to(&cells[Counter::Hits as usize], 1, probe.exclusive);
                add_to(
                    &cells[Counter::BytesRead as usize],
                    len as u64,
                    probe.exclusive,
                );
            }
            None => add_to(&cells[Counter::Misses as usize], 1, probe.exclusive),
        }
        if let Some(started) = probe.started {
            self.record_latency(Op::Get, started.elapsed());
        }
    }

    /// Records the outcome of a put of `len` bytes started at `started`.
    pub fn record_put(&self, started: Instant, len: usize, accepted: bool) {
        if accepted {
            self.put_accepted(len);
        } else {
            self.inc(Counter::RejectedPuts);
        }
        self.record_latency(Op::Put, started.elapsed());
    }

    /// Records one latency.
    pub fn record_latency(&self, op: Op, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        match op {
            Op::Get => self.get.record(ns),
            Op::Put => self.put.record(ns),
            Op::Flush => self.flush.record(ns),
        }
    }

    /// The current value of one counter.
    pub fn value(&self, counter: Counter) -> u64 {
        self.stripes.iter().fold(0u64, |sum, stripe| {
            sum.saturating_add(stripe.0[counter as usize].load(Ordering::Relaxed))
        })
    }

    /// A snapshot; the store supplies its gauges (bytes and entries held now).
    pub fn snapshot(&self, cached_bytes: u64, entries: u64) -> PipelineCacheMetrics {
        let hits = self.value(Counter::Hits);
        let misses = self.value(Counter::Misses);
        PipelineCacheMetrics {
            lookups: hits.saturating_add(misses),
            hits,
            misses,
            puts: self.value(Counter::Puts),
            rejected_puts: self.value(Counter::RejectedPuts),
            evictions: self.value(Counter::Evictions),
            evicted_bytes: self.value(Counter::EvictedBytes),
            flushes: self.value(Counter::Flushes),
            flush_errors: self.value(Counter::FlushErrors),
            cached_bytes,
            entries,
            bytes_read: self.value(Counter::BytesRead),
            bytes_written: self.value(Counter::BytesWritten),
            corrupt_dropped: self.value(Counter::CorruptDropped),
            get_latency: self.get.summary(),
            put_latency: self.put.summary(),
            flush_latency: self.flush.summary(),
        }
    }
}

impl Default for MetricsRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot(0, 0).fmt(f)
    }
}

/// This thread's stripe, and whether it owns it alone.
#[inline]
fn thread_stripe() -> (usize, bool) {
    match thread_slot::current() {
        Some(index) => (index, true),
        None => (OVERFLOW_STRIPE, false),
    }
}

/// Adds to a counter cell: a plain load and store where this thread owns the cell alone
/// (other threads only read it, for snapshots), an atomic add otherwise.
#[inline]
fn add_to(cell: &AtomicU64, n: u64, exclusive: bool) {
    if exclusive {
        cell.store(
            cell.load(Ordering::Relaxed).saturating_add(n),
            Ordering::Relaxed,
        );
    } else {
        saturating_add(cell, n);
    }
}

/// One `fetch_add`; if that wrapped, pin the counter at `u64::MAX`. Between the wrap and the
/// pin another thread may add a little to the wrapped value; the pin then overwrites it.
#[inline]
fn saturating_add(cell: &AtomicU64, n: u64) {
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
    let exponent = 63 - ns.leading_zeros(); // >= SUB_BITS
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

    #[test]
    fn counters_saturate() {
        let recorder = MetricsRecorder::new();
        recorder.add(Counter::BytesRead, u64::MAX - 1);
        recorder.add(Counter::BytesRead, 5);
        assert_eq!(recorder.value(Counter::BytesRead), u64::MAX);
        recorder.add(Counter::BytesRead, 1);
        assert_eq!(recorder.value(Counter::BytesRead), u64::MAX);
    }

    #[test]
    fn counters_sum_over_threads() {
        let recorder = MetricsRecorder::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        recorder.hit(10);
                        recorder.inc(Counter::Misses);
                    }
                });
            }
        });
        let snapshot = recorder.snapshot(7, 3);
        assert_eq!(snapshot.hits, 4000);
        assert_eq!(snapshot.misses, 4000);
        assert_eq!(snapshot.lookups, 8000);
        assert_eq!(snapshot.bytes_read, 40_000);
        assert_eq!((snapshot.cached_bytes, snapshot.entries), (7, 3));
        assert_eq!(snapshot.hit_rate_ppm(), 500_000);
    }

    #[test]
    fn hit_rate_reports_missing_and_inconsistent_figures() {
        let empty = PipelineCacheMetrics::default();
        assert_eq!(empty.hit_rate_ppm(), 0);
        assert_eq!(empty.try_hit_rate_ppm(), Err(HitRateError::NoLookups));
        let odd = PipelineCacheMetrics {
            lookups: 1,
            hits: 2,
            ..Default::default()
        };
        assert!(matches!(
            odd.try_hit_rate_ppm(),
            Err(HitRateError::Inconsistent { .. })
        ));
        let huge = PipelineCacheMetrics {
            lookups: u64::MAX,
            hits: u64::MAX,
            ..Default::default()
        };
        assert_eq!(huge.hit_rate_ppm(), 1_000_000);
    }
}

/// Models of the striped counters, run by loom (`--cfg loom`, see `crate::sync`): every
/// interleaving and every value each atomic load may return, within a preemption bound.
#[cfg(all(test, loom))]
mod loom_models {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// (c) Four threads count one hit each while another takes snapshots. Under loom there are
    /// two thread slots, so each thread owns a stripe (perhaps one a finished thread left, whose
    /// count it must carry on from) or adds atomically to the shared overflow stripe.
    #[test]
    fn loom_counts_are_never_lost_and_snapshots_never_run_ahead() {
        static OVERFLOWED: AtomicUsize = AtomicUsize::new(0);
        static REUSED: AtomicUsize = AtomicUsize::new(0);
        static OVERFLOWED_TOGETHER: AtomicUsize = AtomicUsize::new(0);
        crate::sync::model(2, || {
            let recorder = Arc::new(MetricsRecorder::new());
            let counters: Vec<_> = (0..4)
                .map(|_| {
                    let recorder = Arc::clone(&recorder);
                    thread::spawn(move || {
                        recorder.inc(Counter::Hits);
                        thread_slot::current()
                    })
                })
                .collect();
            let first = recorder.value(Counter::Hits);
            let second = recorder.value(Counter::Hits);
            assert!(first <= second && second <= 4, "{first} then {second}");
            let slots: Vec<_> = counters.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(recorder.value(Counter::Hits), 4, "slots {slots:?}");
            match slots.iter().filter(|slot| slot.is_none()).count() {
                0 => {}
                1 => _ = OVERFLOWED.fetch_add(1, Relaxed),
                _ => _ = OVERFLOWED_TOGETHER.fetch_add(1, Relaxed),
            }
            if slots.iter().flatten().filter(|slot| **slot == 0).count() > 1 {
                REUSED.fetch_add(1, Relaxed);
            }
        });
        // The model reached every case worth checking.
        assert!(
            OVERFLOWED.load(Relaxed) > 0,
            "no execution used the overflow stripe"
        );
        assert!(
            OVERFLOWED_TOGETHER.load(Relaxed) > 0,
            "no execution shared the overflow stripe"
        );
        assert!(REUSED.load(Relaxed) > 0, "no execution reused a stripe");
    }
}
