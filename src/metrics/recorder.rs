//! The live recorder behind a store's metrics: per-thread counter stripes and three latency
//! histograms (get, put, flush). The loom model at the end of this file checks that no count is
//! lost, also when a thread inherits a finished thread's stripe.

use std::time::{Duration, Instant};

use super::histogram::{saturating_add, LatencyHistogram};
use super::snapshot::PipelineCacheMetrics;
use crate::sync::{AtomicU64, Ordering};
use crate::thread_slot;

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
    #[must_use]
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

#[cfg(test)]
mod tests {
    use super::*;

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
