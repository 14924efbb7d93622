//! The in-memory index: for each key, the newest record known in any segment.
//!
//! Reads record recency in the entry itself (an atomic, written only when it changes), so a
//! hit costs no lock beyond the index's read lock and no disk write; `flush` later collects the
//! entries read since they were last persisted and writes them as one touch record.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::format::IndexEntry;
use super::segment::Segment;
use crate::fingerprint::{FingerprintHasher, PipelineFingerprint};

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

/// Keys to locations, with the totals metrics need.
#[derive(Debug, Default)]
pub struct Index {
    map: HashMap<PipelineFingerprint, Location, BuildHasherDefault<FingerprintHasher>>,
    payload_bytes: u64,
    max_stamp: u64,
}

impl Index {
    /// The newest location of `key`.
    pub fn get(&self, key: &PipelineFingerprint) -> Option<&Location> {
        self.map.get(key)
    }

    /// Makes room for `additional` more keys without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The largest stamp applied: this process's clock must stay above it, so its puts win
    /// even if the wall clock went backwards since those records were written.
    pub fn max_stamp(&self) -> u64 {
        self.max_stamp
    }

    /// Payload bytes of all entries.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// Applies a put found on disk (or just written) in `segment`: it replaces the current
    /// location if its stamp is newer.
    pub fn apply_put(&mut self, segment: &Arc<Segment>, entry: &IndexEntry) {
        self.max_stamp = self.max_stamp.max(entry.stamp);
        let location = Location {
            segment: Arc::clone(segment),
            offset: entry.offset,
            payload_len: entry.payload_len,
            stamp: entry.stamp,
            access: AtomicU64::new(entry.access),
            persisted_access: AtomicU64::new(entry.access),
        };
        match self.map.get_mut(&entry.key) {
            // Ties go to the record applied last (this process's own puts, applied last when
            // rebuilding); stamps only tie when the clock saturates.
            Some(current) if current.stamp > entry.stamp => {
                current.access.fetch_max(entry.access, Ordering::Relaxed);
            }
            Some(current) => {
                let access = current.access.load(Ordering::Relaxed).max(entry.access);
                location.access.store(access, Ordering::Relaxed);
                self.payload_bytes = self.payload_bytes - current.payload_len + entry.payload_len;
                *current = location;
            }
            None => {
                self.payload_bytes += entry.payload_len;
                self.map.insert(entry.key, location);
            }
        }
    }

    /// Applies a recorded access: raises the key's access time (already on disk, so persisted).
    pub fn apply_touch(&self, key: &PipelineFingerprint, access: u64) {
        if let Some(location) = self.map.get(key) {
            location.access.fetch_max(access, Ordering::Relaxed);
            location
                .persisted_access
                .fetch_max(access, Ordering::Relaxed);
        }
    }

    /// Removes `key` if it still points at `segment` and `offset` (a record found corrupt).
    pub fn remove_if_at(&mut self, key: &PipelineFingerprint, segment: &Arc<Segment>, offset: u64) {
        if let Some(location) = self.map.get(key) {
            if Arc::ptr_eq(&location.segment, segment) && location.offset == offset {
                self.payload_bytes -= location.payload_len;
                self.map.remove(key);
            }
        }
    }

    /// Every (key, location).
    pub fn iter(&self) -> impl Iterator<Item = (&PipelineFingerprint, &Location)> {
        self.map.iter()
    }

    /// Keys read since their access time was last persisted, with that access time; marks
    /// them persisted.
    pub fn take_unpersisted_touches(&self) -> Vec<(PipelineFingerprint, u64)> {
        let mut touches = Vec::new();
        for (key, location) in &self.map {
            let access = location.access.load(Ordering::Relaxed);
            if access > location.persisted_access.load(Ordering::Relaxed) {
                location.persisted_access.store(access, Ordering::Relaxed);
                touches.push((*key, access));
            }
        }
        touches
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::fingerprint::engine_keys::{assert_spread, LAYOUTS};

    #[test]
    fn keys_engines_make_spread_over_the_table() {
        let index = Index::default();
        for (layout, key) in LAYOUTS {
            let hashes: Vec<u64> = (0..1 << 14)
                .map(|n| index.map.hasher().hash_one(key(n)))
                .collect();
            assert_spread(layout, &hashes, 0, 8);
            assert_spread(layout, &hashes, 57, 7);
        }
    }
}
