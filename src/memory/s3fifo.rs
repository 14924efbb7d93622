//! One shard's contents and its S3-FIFO eviction queues (Yang et al., SOSP 2023).
//!
//! New keys enter a small FIFO; a key still unread when it leaves the small FIFO is evicted and
//! remembered in a ghost list, a key that was read moves to the main FIFO carrying its remaining
//! reads; the main FIFO gives a read key another lap per read (up to [`MAX_FREQUENCY`]). Keys
//! that come back while in the ghost list go straight to main. Every step is O(1) amortised.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::fingerprint::{FingerprintHasher, PipelineFingerprint};

/// Reads remembered per entry; each lets it survive one more pass through the main FIFO.
const MAX_FREQUENCY: u8 = 3;
/// The small FIFO's share of a shard's bytes, in percent (the paper's 10 %).
const SMALL_PERCENT: u64 = 10;

/// Ghosts are remembered by their `hash_u64` alone (8 bytes each; a collision only sends one
/// new key to the main FIFO early).
type GhostSet = HashSet<u64, BuildHasherDefault<FingerprintHasher>>;

/// A shard: the map from key to blob plus the queues that order eviction.
///
/// Operations take the key's [`PipelineFingerprint::hash_u64`] from the caller, which computes
/// it once and also picks the shard with it: a lookup hashes before it announces itself to
/// writers, never again inside the shard.
#[derive(Default)]
pub(super) struct S3Fifo {
    map: HashTable<Entry>,
    small: VecDeque<PipelineFingerprint>,
    main: VecDeque<PipelineFingerprint>,
    /// Keys evicted from `small` without a read, by their `hash_u64`, oldest first.
    ghost: VecDeque<u64>,
    ghost_set: GhostSet,
    small_bytes: u64,
    bytes: u64,
}

struct Entry {
    key: PipelineFingerprint,
    blob: Arc<Vec<u8>>,
    /// Reads since the entry last moved, capped at [`MAX_FREQUENCY`]; written by readers that
    /// hold only shared access.
    frequency: AtomicU8,
    in_main: bool,
}

impl S3Fifo {
    /// The blob under `fp` (whose `hash_u64` is `hash`), marking it read. Needs only shared
    /// access.
    #[inline]
    pub(super) fn get(&self, fp: &PipelineFingerprint, hash: u64) -> Option<Arc<Vec<u8>>> {
        self.map.find(hash, |entry| entry.key == *fp).map(|entry| {
            let frequency = entry.frequency.load(Ordering::Relaxed);
            if frequency < MAX_FREQUENCY {
                // A plain store, not an RMW: a lost increment between racing readers is
                // harmless, and a hot entry stops writing its line once it is at the cap.
                entry.frequency.store(frequency + 1, Ordering::Relaxed);
            }
            Arc::clone(&entry.blob)
        })
    }

    /// Stores `blob` under `fp` (whose `hash_u64` is `hash`); returns the size of the blob it
    /// replaced, if any. A replaced blob keeps the key's place in the queues.
    pub(super) fn insert(
        &mut self,
        fp: PipelineFingerprint,
        hash: u64,
        blob: Arc<Vec<u8>>,
    ) -> Option<u64> {
        let len = blob.len() as u64;
        if let Some(entry) = self.map.find_mut(hash, |entry| entry.key == fp) {
            let old = entry.blob.len() as u64;
            if !entry.in_main {
                self.small_bytes = self.small_bytes - old + len;
            }
            entry.blob = blob;
            self.bytes = self.bytes - old + len;
            return Some(old);
        }
        let returning = self.ghost_set.remove(&hash);
        self.map.insert_unique(
            hash,
            Entry {
                key: fp,
                blob,
                frequency: AtomicU8::new(0),
                in_main: returning,
            },
            |entry| entry.key.hash_u64(),
        );
        if returning {
            self.main.push_back(fp);
        } else {
            self.small.push_back(fp);
            self.small_bytes += len;
        }
        self.bytes += len;
        None
    }

    /// Removes one entry other than `protect`; `None` when there is no other.
    pub(super) fn evict_one(
        &mut self,
        protect: Option<&PipelineFingerprint>,
    ) -> Option<(PipelineFingerprint, Arc<Vec<u8>>)> {
        let protected_in_main = protect
            .and_then(|fp| self.map.find(fp.hash_u64(), |entry| entry.key == *fp))
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
            let hash = fp.hash_u64();
            let Ok(mut found) = self.map.find_entry(hash, |entry| entry.key == fp) else {
                continue; // unreachable: every queued key is in the map
            };
            let entry = found.get_mut();
            let frequency = *entry.frequency.get_mut();
            let len = entry.blob.len() as u64;
            if from_small {
                self.small_bytes -= len;
                if frequency > 0 {
                    *entry.frequency.get_mut() = frequency - 1;
                    entry.in_main = true;
                    self.main.push_back(fp);
                    continue;
                }
            } else if frequency > 0 {
                *entry.frequency.get_mut() = frequency - 1;
                self.main.push_back(fp);
                continue;
            }
            let blob = found.remove().0.blob;
            if from_small {
                self.remember_ghost(hash);
            }
            self.bytes -= len;
            return Some((fp, blob));
        }
    }

    /// The ghost list is as long as the shard has entries (at least 16): it covers about one
    /// cache's worth of recent one-hit evictions, as in the paper.
    fn remember_ghost(&mut self, hash: u64) {
        let capacity = self.map.len().max(16);
        while self.ghost.len() >= capacity {
            if let Some(old) = self.ghost.pop_front() {
                self.ghost_set.remove(&old);
            }
        }
        if self.ghost_set.insert(hash) {
            self.ghost.push_back(hash);
        }
    }
}
