//! The in-memory index: for each key, the newest record known in any segment.
//!
//! Split into shards, each behind its own read-write lock, so that no operation holds a lock over
//! more than a shard's worth of entries: a put or a lookup locks one shard for one entry, and a
//! walk over every entry (planning a compaction, collecting recency for a flush, carrying access
//! times into a rebuilt index) locks one shard at a time. With `parking_lot`'s fair locks a reader
//! queues behind a waiting writer, so one long hold anywhere would stall every lookup of that
//! shard; with shards a hold is bounded by 1/1024 of the index (and so is the rehash of a shard
//! that grows, which a put pays: 1024 shards keep it near 0.1 ms at a million entries).
//!
//! Reads record recency in the entry itself (an atomic, written only when it changes), so a hit
//! costs no write lock and no disk write; `flush` later collects the entries read since they
//! were last persisted and writes them as touch records.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::format::IndexEntry;
use super::segment::Segment;
use crate::fingerprint::{FingerprintHasher, PipelineFingerprint};

/// Shards of an index; a key's shard is given by bits 32..42 of its hash (the map inside uses
/// the low bits and the top seven).
const SHARDS: usize = 1024;

/// Where the newest known version of one key lives.
#[derive(Debug)]
pub struct Location {
    /// The segment holding the record.
    pub segment: Arc<Segment>,
    /// Offset of the record header.
    pub offset: u64,
    /// Payload bytes.
    pub payload_len: u64,
    /// Version order.
    pub stamp: u64,
    /// Last access (ns since the epoch), updated by hits.
    pub access: AtomicU64,
    /// The access time last written to disk (in a record or touch).
    pub persisted_access: AtomicU64,
}

/// What a lookup found: where to read the record.
pub struct Found {
    pub segment: Arc<Segment>,
    pub offset: u64,
    pub payload_len: u64,
}

type Map = HashMap<PipelineFingerprint, Location, BuildHasherDefault<FingerprintHasher>>;

/// Keys to locations, with the totals metrics need.
#[derive(Debug)]
pub struct Index {
    shards: Box<[RwLock<Map>]>,
    entries: AtomicUsize,
    payload_bytes: AtomicU64,
    max_stamp: AtomicU64,
}

impl Default for Index {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Index {
    /// An empty index with room for about `entries` keys.
    pub fn with_capacity(entries: usize) -> Self {
        let per_shard = entries.div_ceil(SHARDS) + entries.div_ceil(SHARDS) / 8;
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Map::with_capacity_and_hasher(
                        per_shard,
                        BuildHasherDefault::default(),
                    ))
                })
                .collect(),
            entries: AtomicUsize::new(0),
            payload_bytes: AtomicU64::new(0),
            max_stamp: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &PipelineFingerprint) -> &RwLock<Map> {
        &self.shards[shard_of(key)]
    }

    /// Where the newest known record of `key` is. `touch_at`: a use at that time (ns since the
    /// epoch), recorded as the key's access time if later than the one it has.
    pub fn lookup(&self, key: &PipelineFingerprint, touch_at: Option<u64>) -> Option<Found> {
        let shard = self.shard(key).read();
        let location = shard.get(key)?;
        if let Some(now) = touch_at {
            // A plain store (when it moves forward) keeps a hit free of read-modify-write on
            // shared lines; recency needs no more.
            if now > location.access.load(Ordering::Relaxed) {
                location.access.store(now, Ordering::Relaxed);
            }
        }
        Some(Found {
            segment: Arc::clone(&location.segment),
            offset: location.offset,
            payload_len: location.payload_len,
        })
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Payload bytes of all entries.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes.load(Ordering::Relaxed)
    }

    /// The largest stamp applied: this process's clock must stay above it, so its puts win
    /// even if the wall clock went backwards since those records were written.
    pub fn max_stamp(&self) -> u64 {
        self.max_stamp.load(Ordering::Relaxed)
    }

    /// Applies a put found on disk (or just written) in `segment`: it replaces the current
    /// location if its stamp is newer.
    pub fn apply_put(&self, segment: &Arc<Segment>, entry: &IndexEntry) {
        self.max_stamp.fetch_max(entry.stamp, Ordering::Relaxed);
        let change = put_into(&mut self.shard(&entry.key).write(), segment, entry);
        self.record(change); // after the shard's guard, a temporary of the line above, is gone
    }

    /// [`Self::apply_put`] on an index nobody else holds yet (a rebuild): no shard lock taken,
    /// no atomic read-modify-write, a third of an open's time at 100k entries.
    pub fn apply_put_unshared(&mut self, segment: &Arc<Segment>, entry: &IndexEntry) {
        let max_stamp = self.max_stamp.get_mut();
        *max_stamp = (*max_stamp).max(entry.stamp);
        let shard = &mut self.shards[shard_of(&entry.key)];
        let change = put_into(shard.get_mut(), segment, entry);
        match change {
            PutChange::Older => {}
            PutChange::Replaced { added, replaced } => {
                let bytes = self.payload_bytes.get_mut();
                *bytes = (*bytes + added).saturating_sub(replaced.payload_len);
            }
            PutChange::Inserted { added } => {
                *self.entries.get_mut() += 1;
                *self.payload_bytes.get_mut() += added;
            }
        }
    }

    fn record(&self, change: PutChange) {
        match change {
            PutChange::Older => {}
            PutChange::Replaced { added, replaced } => {
                self.payload_bytes.fetch_add(added, Ordering::Relaxed);
                self.payload_bytes
                    .fetch_sub(replaced.payload_len, Ordering::Relaxed);
            }
            PutChange::Inserted { added } => {
                self.entries.fetch_add(1, Ordering::Relaxed);
                self.payload_bytes.fetch_add(added, Ordering::Relaxed);
            }
        }
    }

    /// Applies a recorded access: raises the key's access time (already on disk, so persisted).
    pub fn apply_touch(&self, key: &PipelineFingerprint, access: u64) {
        if let Some(location) = self.shard(key).read().get(key) {
            location.access.fetch_max(access, Ordering::Relaxed);
            location
                .persisted_access
                .fetch_max(access, Ordering::Relaxed);
        }
    }

    /// Removes `key` if it still points at offset `offset` of the segment named `segment` (a
    /// record found corrupt).
    pub fn remove_if_at(&self, key: &PipelineFingerprint, segment: &str, offset: u64) {
        let mut shard = self.shard(key).write();
        let at = shard
            .get(key)
            .is_some_and(|location| location.segment.name == segment && location.offset == offset);
        if at {
            if let Some(removed) = shard.remove(key) {
                drop(shard);
                self.entries.fetch_sub(1, Ordering::Relaxed);
                self.payload_bytes
                    .fetch_sub(removed.payload_len, Ordering::Relaxed);
            }
        }
    }

    /// Calls `visit` with every (key, location), one shard at a time under that shard's read
    /// lock (entries put meanwhile in shards already visited are not seen).
    pub fn for_each(&self, mut visit: impl FnMut(&PipelineFingerprint, &Location)) {
        for shard in &self.shards {
            for (key, location) in shard.read().iter() {
                visit(key, location);
            }
        }
    }

    /// Keys read since their access time was last persisted, with that access time; marks
    /// them persisted.
    pub fn take_unpersisted_touches(&self) -> Vec<(PipelineFingerprint, u64)> {
        let mut touches = Vec::new();
        self.for_each(|key, location| {
            let access = location.access.load(Ordering::Relaxed);
            if access > location.persisted_access.load(Ordering::Relaxed) {
                location.persisted_access.store(access, Ordering::Relaxed);
                touches.push((*key, access));
            }
        });
        touches
    }

    /// Raises the access times of the keys both indexes hold to what `old` knows (reads recorded
    /// there, and what was persisted), shard by shard.
    pub fn carry_access_from(&self, old: &Index) {
        for (new, old) in self.shards.iter().zip(old.shards.iter()) {
            let (new, old) = (new.read(), old.read());
            for (key, location) in new.iter() {
                if let Some(previous) = old.get(key) {
                    location
                        .access
                        .fetch_max(previous.access.load(Ordering::Relaxed), Ordering::Relaxed);
                    location.persisted_access.fetch_max(
                        previous.persisted_access.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                }
            }
        }
    }
}

/// Which shard holds `key`.
fn shard_of(key: &PipelineFingerprint) -> usize {
    (key.hash_u64() >> 32) as usize % SHARDS
}

/// What applying a put did to a shard (its totals are the caller's to update).
enum PutChange {
    /// The shard holds a newer record; only its access time was raised.
    Older,
    /// `replaced` is handed back so that it is dropped (perhaps closing its segment's last
    /// descriptor) after the shard's lock is released.
    Replaced {
        added: u64,
        replaced: Location,
    },
    Inserted {
        added: u64,
    },
}

/// Applies a put to one shard's map: the newer stamp wins. Ties go to the record applied last
/// (this process's own puts, applied last when rebuilding); stamps only tie when the clock
/// saturates.
fn put_into(map: &mut Map, segment: &Arc<Segment>, entry: &IndexEntry) -> PutChange {
    let location = Location {
        segment: Arc::clone(segment),
        offset: entry.offset,
        payload_len: entry.payload_len,
        stamp: entry.stamp,
        access: AtomicU64::new(entry.access),
        persisted_access: AtomicU64::new(entry.access),
    };
    match map.get_mut(&entry.key) {
        Some(current) if current.stamp > entry.stamp => {
            current.access.fetch_max(entry.access, Ordering::Relaxed);
            PutChange::Older
        }
        Some(current) => {
            let access = current.access.load(Ordering::Relaxed).max(entry.access);
            location.access.store(access, Ordering::Relaxed);
            PutChange::Replaced {
                added: entry.payload_len,
                replaced: std::mem::replace(current, location),
            }
        }
        None => {
            map.insert(entry.key, location);
            PutChange::Inserted {
                added: entry.payload_len,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::fingerprint::engine_keys::{assert_spread, LAYOUTS};

    #[test]
    fn keys_engines_make_spread_over_shards_and_tables() {
        let hasher = BuildHasherDefault::<FingerprintHasher>::default();
        for (layout, key) in LAYOUTS {
            let hashes: Vec<u64> = (0..1 << 16).map(|n| hasher.hash_one(key(n))).collect();
            assert_spread(layout, &hashes, 0, 8);
            assert_spread(layout, &hashes, 57, 7);
            assert_spread(layout, &hashes, 32, SHARDS.trailing_zeros());
            assert!(hashes
                .iter()
                .zip((0..1 << 16).map(|n| key(n).hash_u64()))
                .all(|(table, shard)| *table == shard));
        }
    }
}
