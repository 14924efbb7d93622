//! The hot tier: blobs held in memory as shared `Arc`s, within global entry and byte budgets.
//!
//! Layout: up to 64 shards, each a `read_mostly::ReadMostlyLock` over an `s3fifo::S3Fifo`
//! (hash table plus eviction queues). A key's shard and its place in the shard's table both come
//! from [`PipelineFingerprint::hash_u64`], computed once per operation, which mixes all 32
//! bytes: keys need not be uniform (a C engine may zero-pad its own 64-bit hash into one). The
//! shard takes bits 32.. of it, which the table does not use (it indexes by the low bits and
//! tags by the top seven), so the keys of one shard still spread over its whole table. The
//! mixing costs a hit about 2.5 ns (BENCHMARKS.md). A hit writes no
//! cache line another thread writes except the blob's reference count: it announces itself in
//! its own thread's slot, looks up, sets the entry's access mark (until it is saturated) and
//! clones the `Arc`. No lock word, no queue movement, no copy.
//!
//! Budgets are global: the counts are shared atomics and a put that takes the store over budget
//! evicts from its own shard first (S3-FIFO order), then from the others. Small caches get fewer
//! shards so that each shard holds enough entries for the policy to work (a shard of two entries
//! cannot tell a scan from a working set).

pub(crate) mod read_mostly;
mod s3fifo;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, PipelineCacheMetrics};
use crate::store::{PipelineCacheStore, PutError};

use read_mostly::ReadMostlyLock;
use s3fifo::S3Fifo;

/// Most shards a cache has; small caches have fewer (see [`shard_count`]).
const MAX_SHARDS: usize = 64;
/// Where the shard index starts in a key's `hash_u64`: clear of the low bits a shard's table
/// indexes by (fewer than 32 unless a shard holds billions of entries) and of its top seven.
const SHARD_BITS_AT: u32 = 32;
/// Eviction events kept for [`InMemoryPipelineCache::eviction_reports`].
const REPORTS_KEPT: usize = 256;

/// Default entry budget of [`InMemoryPipelineCache::new`].
pub const DEFAULT_MAX_ENTRIES: usize = 65_536;
/// Default byte budget of [`InMemoryPipelineCache::new`]: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Why an entry left the memory tier (or never entered it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionReason {
    /// Evicted to stay within the entry budget.
    EntryLimit,
    /// Evicted to stay within the byte budget.
    ByteLimit,
    /// Refused at `put`: larger than the whole byte budget.
    RejectedPut,
}

/// One eviction event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionReport {
    /// The key that left.
    pub fingerprint: PipelineFingerprint,
    /// Its blob's size.
    pub bytes: u64,
    /// Why.
    pub reason: EvictionReason,
}

/// An in-memory store with global budgets and S3-FIFO eviction.
///
/// Thread-safe; `get_arc` returns the stored `Arc` itself, so the bytes stay valid for as long as
/// the caller holds it, whatever the cache evicts meanwhile. Budgets count blob bytes (not the
/// map's own overhead, about 100 bytes per entry).
pub struct InMemoryPipelineCache {
    shards: Box<[Shard]>,
    max_entries: u64,
    max_bytes: u64,
    entries: AtomicU64,
    bytes: AtomicU64,
    metrics: MetricsRecorder,
    reports: Mutex<VecDeque<EvictionReport>>,
}

#[repr(align(128))]
#[derive(Default)]
struct Shard {
    state: ReadMostlyLock<S3Fifo>,
}

impl InMemoryPipelineCache {
    /// A cache with the default budgets ([`DEFAULT_MAX_ENTRIES`], [`DEFAULT_MAX_BYTES`]).
    #[must_use]
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }

    /// A cache holding at most `max_entries` blobs and `max_bytes` blob bytes in total.
    /// A blob larger than `max_bytes` is rejected at `put`. Zero budgets make a cache that
    /// holds nothing.
    #[must_use]
    pub fn with_limits(max_entries: usize, max_bytes: u64) -> Self {
        Self {
            shards: (0..shard_count(max_entries, max_bytes))
                .map(|_| Shard::default())
                .collect(),
            max_entries: max_entries as u64,
            max_bytes,
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            metrics: MetricsRecorder::new(),
            reports: Mutex::new(VecDeque::new()),
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed) as usize
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blob bytes held now.
    pub fn cached_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The entry budget.
    pub fn max_entries(&self) -> usize {
        self.max_entries as usize
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The most recent eviction events (up to 256), oldest first.
    pub fn eviction_reports(&self) -> Vec<EvictionReport> {
        self.reports.lock().iter().copied().collect()
    }

    /// The shard of a key whose `hash_u64` is `hash`.
    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        (hash >> SHARD_BITS_AT) as usize & (self.shards.len() - 1)
    }

    fn over_budget(&self) -> Option<EvictionReason> {
        if self.entries.load(Ordering::Relaxed) > self.max_entries {
            Some(EvictionReason::EntryLimit)
        } else if self.bytes.load(Ordering::Relaxed) > self.max_bytes {
            Some(EvictionReason::ByteLimit)
        } else {
            None
        }
    }

    fn insert(&self, fp: PipelineFingerprint, blob: Arc<Vec<u8>>) -> Result<(), PutError> {
        let len = blob.len() as u64;
        if len > self.max_bytes || self.max_entries == 0 {
            self.record_eviction(fp, len, EvictionReason::RejectedPut);
            return Err(PutError::TooLarge {
                len,
                max: if self.max_entries == 0 {
                    0
                } else {
                    self.max_bytes
                },
            });
        }
        let hash = fp.hash_u64();
        let home = self.shard_index(hash);
        {
            let mut state = self.shards[home].state.write();
            match state.insert(fp, hash, blob) {
                Some(old) => {
                    self.bytes.fetch_add(len, Ordering::Relaxed);
                    self.bytes.fetch_sub(old, Ordering::Relaxed);
                }
                None => {
                    self.entries.fetch_add(1, Ordering::Relaxed);
                    self.bytes.fetch_add(len, Ordering::Relaxed);
                }
            }
            // A put never evicts its own blob: a get right after it must find it.
            self.evict_from(&mut state, Some(&fp));
        }
        self.evict_from_others(home);
        Ok(())
    }

    /// The home shard ran dry before the global budget was met: take from the others.
    fn evict_from_others(&self, home: usize) {
        let count = self.shards.len();
        for offset in 1..count {
            if self.over_budget().is_none() {
                break;
            }
            let mut state = self.shards[(home + offset) % count].state.write();
            self.evict_from(&mut state, None);
        }
    }

    /// Evicts from one shard, sparing `protect`, until the global budgets hold or the shard
    /// has nothing else to give.
    fn evict_from(&self, state: &mut S3Fifo, protect: Option<&PipelineFingerprint>) {
        while let Some(reason) = self.over_budget() {
            let Some((fp, blob)) = state.evict_one(protect) else {
                return;
            };
            let len = blob.len() as u64;
            self.entries.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(len, Ordering::Relaxed);
            self.metrics.inc(Counter::Evictions);
            self.metrics.add(Counter::EvictedBytes, len);
            self.record_eviction(fp, len, reason);
        }
    }

    fn record_eviction(
        &self,
        fingerprint: PipelineFingerprint,
        bytes: u64,
        reason: EvictionReason,
    ) {
        let mut reports = self.reports.lock();
        if reports.len() == REPORTS_KEPT {
            reports.pop_front();
        }
        reports.push_back(EvictionReport {
            fingerprint,
            bytes,
            reason,
        });
    }
}

/// A power of two: about one shard per 32 entries and per 256 KiB of budget, at most 64.
fn shard_count(max_entries: usize, max_bytes: u64) -> usize {
    let by_entries = max_entries / 32;
    let by_bytes = usize::try_from(max_bytes >> 18).unwrap_or(usize::MAX);
    by_entries
        .min(by_bytes)
        .clamp(1, MAX_SHARDS)
        .next_power_of_two()
        .min(MAX_SHARDS)
}

impl Default for InMemoryPipelineCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InMemoryPipelineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryPipelineCache")
            .field("entries", &self.len())
            .field("cached_bytes", &self.cached_bytes())
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl PipelineCacheStore for InMemoryPipelineCache {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.get_arc(fp).map(|blob| blob.as_ref().clone())
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put(fp, artifact);
    }

    #[inline]
    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        let probe = self.metrics.start_get();
        // Hashed once, before announcing the read: the shard and the table use the same value.
        let hash = fp.hash_u64();
        let found = self.shards[self.shard_index(hash)]
            .state
            .read(probe.thread_slot(), |state| state.get(fp, hash));
        self.metrics
            .record_lookup(probe, found.as_ref().map(|blob| blob.len()));
        found
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.try_put_arc(fp, Arc::new(artifact))
    }

    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        let started = Instant::now();
        let len = artifact.len();
        let result = self.insert(fp, artifact);
        self.metrics.record_put(started, len, result.is_ok());
        result
    }

    fn flush(&self) -> std::io::Result<()> {
        // Nothing to make durable; counted so layered figures add up.
        self.metrics.inc(Counter::Flushes);
        Ok(())
    }

    fn metrics(&self) -> PipelineCacheMetrics {
        self.metrics
            .snapshot(self.cached_bytes(), self.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::engine_keys::{assert_spread, LAYOUTS};

    #[test]
    fn keys_engines_make_spread_over_every_shard_and_each_shards_table() {
        let cache = InMemoryPipelineCache::new();
        let shards = cache.shards.len();
        assert_eq!(shards, MAX_SHARDS);
        for (layout, key) in LAYOUTS {
            let by_shard: Vec<u64> = (0..256 * shards as u64)
                .map(|n| cache.shard_index(key(n).hash_u64()) as u64)
                .collect();
            assert_spread(layout, &by_shard, 0, shards.trailing_zeros());
            // The keys one shard holds must still spread over its table (indexed by the low
            // bits of the same hash, tagged by the top seven): the shard index may not take
            // those bits.
            let in_first_shard: Vec<u64> = (0..1 << 20)
                .map(|n| key(n).hash_u64())
                .filter(|&hash| cache.shard_index(hash) == 0)
                .collect();
            assert_spread(layout, &in_first_shard, 0, 8);
            assert_spread(layout, &in_first_shard, 57, 7);
        }
    }
}
