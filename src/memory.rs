//! The hot tier: blobs held in memory as shared `Arc`s, within global entry and byte budgets.
//!
//! Layout: up to 64 shards, each a read-write lock over a hash map and the eviction queues; a
//! key's shard comes from its last byte, its hash inside the shard from its first eight bytes (keys
//! are BLAKE3 outputs, so no rehashing). A hit takes only the shard's read lock, sets an atomic
//! access mark and clones the `Arc`: no write lock, no queue movement, no copy.
//!
//! Eviction is S3-FIFO (Yang et al., SOSP 2023) per shard: new keys enter a small FIFO; a key
//! still unread when it leaves the small FIFO is evicted and remembered in a ghost list, a key
//! that was read moves to the main FIFO; the main FIFO gives read keys another lap (up to three).
//! Keys that return while in the ghost list go straight to main. This keeps one-off scans
//! (a level load touching every pipeline once) from flushing the working set, the weakness of
//! plain LRU, and every step is O(1). Budgets are global: the counts are shared atomics and a
//! put that takes the store over budget evicts from its own shard first, then from the others.
//! Small caches get fewer shards so that each shard holds enough entries for the policy to
//! work (a shard of two entries cannot tell a scan from a working set).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, Op, PipelineCacheMetrics};
use crate::store::{PipelineCacheStore, PutError};

/// Most shards a cache has; small caches have fewer (see [`shard_count`]).
const MAX_SHARDS: usize = 64;
/// Reads remembered per entry; each lets it survive one more pass through the main FIFO.
const MAX_FREQUENCY: u8 = 3;
/// The small FIFO's share of a shard's bytes, in percent (the S3-FIFO paper's 10 %).
const SMALL_PERCENT: u64 = 10;
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
    state: RwLock<ShardState>,
}

type KeyMap<V> = HashMap<PipelineFingerprint, V, BuildHasherDefault<PrefixHasher>>;
type GhostSet = HashSet<u64, BuildHasherDefault<PrefixHasher>>;

#[derive(Default)]
struct ShardState {
    map: KeyMap<Entry>,
    small: VecDeque<PipelineFingerprint>,
    main: VecDeque<PipelineFingerprint>,
    /// Keys evicted from `small` without a read, by their first eight bytes, oldest first.
    ghost: VecDeque<u64>,
    ghost_set: GhostSet,
    small_bytes: u64,
    bytes: u64,
}

struct Entry {
    blob: Arc<Vec<u8>>,
    /// Reads since the entry last moved, capped at [`MAX_FREQUENCY`]; written under a read lock.
    frequency: AtomicU8,
    in_main: bool,
}

/// Uses the fingerprint's first eight bytes as the hash: they are already uniform.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*byte) << (8 * i);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

impl InMemoryPipelineCache {
    /// A cache with the default budgets ([`DEFAULT_MAX_ENTRIES`], [`DEFAULT_MAX_BYTES`]).
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }

    /// A cache holding at most `max_entries` blobs and `max_bytes` blob bytes in total.
    /// A blob larger than `max_bytes` is rejected at `put`. Zero budgets make a cache that
    /// holds nothing.
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

    #[inline]
    fn shard(&self, fp: &PipelineFingerprint) -> &Shard {
        &self.shards[self.shard_index(fp)]
    }

    #[inline]
    fn shard_index(&self, fp: &PipelineFingerprint) -> usize {
        usize::from(fp.0[31]) & (self.shards.len() - 1)
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
        let home = self.shard_index(&fp);
        {
            let mut state = self.shards[home].state.write();
            if let Some(entry) = state.map.get_mut(&fp) {
                let old = entry.blob.len() as u64;
                let in_main = entry.in_main;
                entry.blob = blob;
                state.bytes = state.bytes - old + len;
                if !in_main {
                    state.small_bytes = state.small_bytes - old + len;
                }
                self.bytes.fetch_add(len, Ordering::Relaxed);
                self.bytes.fetch_sub(old, Ordering::Relaxed);
            } else {
                let returning = state.ghost_set.remove(&fp.prefix_u64());
                state.map.insert(
                    fp,
                    Entry {
                        blob,
                        frequency: AtomicU8::new(0),
                        in_main: returning,
                    },
                );
                if returning {
                    state.main.push_back(fp);
                } else {
                    state.small.push_back(fp);
                    state.small_bytes += len;
                }
                state.bytes += len;
                self.entries.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(len, Ordering::Relaxed);
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
    fn evict_from(&self, state: &mut ShardState, protect: Option<&PipelineFingerprint>) {
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

impl ShardState {
    /// Removes one entry other than `protect` by the S3-FIFO rules; `None` when there is none.
    fn evict_one(
        &mut self,
        protect: Option<&PipelineFingerprint>,
    ) -> Option<(PipelineFingerprint, Arc<Vec<u8>>)> {
        let protected_in_main = protect
            .and_then(|fp| self.map.get(fp))
            .map(|entry| entry.in_main);
        loop {
            let small_victims = self
                .small
                .len()
                .saturating_sub(usize::from(protected_in_main == Some(false)));
            let main_victims = self
                .main
                .len()
                .saturating_sub(usize::from(protected_in_main == Some(true)));
            if small_victims == 0 && main_victims == 0 {
                return None;
            }
            let small_over = self.small_bytes * 100 >= self.bytes * SMALL_PERCENT;
            let from_small = small_victims > 0 && (small_over || main_victims == 0);
            let queue = if from_small {
                &mut self.small
            } else {
                &mut self.main
            };
            let fp = queue.pop_front()?;
            if Some(&fp) == protect {
                queue.push_back(fp);
                continue;
            }
            let Some(entry) = self.map.get_mut(&fp) else {
                continue; // unreachable: every queued key is in the map
            };
            let frequency = *entry.frequency.get_mut();
            let len = entry.blob.len() as u64;
            if from_small {
                self.small_bytes -= len;
                if frequency > 0 {
                    // It carries its remaining reads into main: read twice, it survives a lap.
                    *entry.frequency.get_mut() = frequency - 1;
                    entry.in_main = true;
                    self.main.push_back(fp);
                    continue;
                }
                self.remember_ghost(fp.prefix_u64());
            } else if frequency > 0 {
                *entry.frequency.get_mut() = frequency - 1;
                self.main.push_back(fp);
                continue;
            }
            let blob = self.map.remove(&fp).map(|entry| entry.blob)?;
            self.bytes -= len;
            return Some((fp, blob));
        }
    }

    /// The ghost list is as long as the shard has entries (at least 16): it covers about one
    /// cache's worth of recent one-hit evictions, as in the paper.
    fn remember_ghost(&mut self, prefix: u64) {
        let capacity = self.map.len().max(16);
        while self.ghost.len() >= capacity {
            if let Some(old) = self.ghost.pop_front() {
                self.ghost_set.remove(&old);
            }
        }
        if self.ghost_set.insert(prefix) {
            self.ghost.push_back(prefix);
        }
    }
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
        let started = self.metrics.start_get();
        let found = {
            let state = self.shard(fp).state.read();
            state.map.get(fp).map(|entry| {
                let frequency = entry.frequency.load(Ordering::Relaxed);
                if frequency < MAX_FREQUENCY {
                    // A plain store, not an RMW: a lost increment between racing readers is
                    // harmless, and a hot entry stops writing its line once it is at the cap.
                    entry.frequency.store(frequency + 1, Ordering::Relaxed);
                }
                Arc::clone(&entry.blob)
            })
        };
        match &found {
            Some(blob) => self.metrics.hit(blob.len()),
            None => self.metrics.inc(Counter::Misses),
        }
        self.metrics.finish(Op::Get, started);
        found
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.try_put_arc(fp, Arc::new(artifact))
    }

    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        let started = Instant::now();
        let len = artifact.len();
        let result = self.insert(fp, artifact);
        match &result {
            Ok(()) => self.metrics.put_accepted(len),
            Err(_) => self.metrics.inc(Counter::RejectedPuts),
        }
        self.metrics.record_latency(Op::Put, started.elapsed());
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
