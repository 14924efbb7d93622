//! The index entries of a segment this process writes, kept in memory until its index file is
//! written: an append-only list in chunks shared by `Arc`, so a rebuild can take a snapshot of
//! them under the writer's lock in microseconds, whatever their number.

use std::sync::Arc;

use super::format::IndexEntry;

/// Entries per sealed chunk: a snapshot copies at most this many (72 KiB).
const CHUNK: usize = 1024;

/// Entries being appended to (see the module documentation).
#[derive(Default)]
pub struct EntryLog {
    sealed: Vec<Arc<[IndexEntry]>>,
    open: Vec<IndexEntry>,
}

impl EntryLog {
    /// Appends one entry.
    pub fn push(&mut self, entry: IndexEntry) {
        self.open.push(entry);
        if self.open.len() == CHUNK {
            self.sealed.push(Arc::from(std::mem::take(&mut self.open)));
        }
    }

    /// The entries so far, without copying more than the open chunk.
    pub fn snapshot(&self) -> Entries {
        let mut chunks = self.sealed.clone();
        if !self.open.is_empty() {
            chunks.push(Arc::from(self.open.as_slice()));
        }
        Entries { chunks }
    }

    /// All the entries, for good (the segment is finished).
    pub fn seal(self) -> Entries {
        let mut chunks = self.sealed;
        if !self.open.is_empty() {
            chunks.push(Arc::from(self.open));
        }
        Entries { chunks }
    }
}

/// A snapshot of a segment's entries: immutable, cheap to clone.
#[derive(Clone, Default)]
pub struct Entries {
    chunks: Vec<Arc<[IndexEntry]>>,
}

impl Entries {
    /// The entries in the order they were appended.
    pub fn iter(&self) -> impl Iterator<Item = &IndexEntry> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::PipelineFingerprint;

    #[test]
    fn snapshots_hold_what_was_appended_before_them_in_order() {
        let entry = |n: u64| IndexEntry::touch(PipelineFingerprint::of(&n.to_le_bytes()), n);
        let mut log = EntryLog::default();
        let mut snapshots = Vec::new();
        for n in 0..(3 * CHUNK as u64 + 5) {
            if n % 700 == 0 {
                snapshots.push((n, log.snapshot()));
            }
            log.push(entry(n));
        }
        for (taken_at, snapshot) in snapshots {
            assert_eq!(snapshot.len() as u64, taken_at);
            assert!(snapshot.iter().map(|e| e.access).eq(0..taken_at));
        }
        let all = log.seal();
        assert!(all.iter().map(|e| e.access).eq(0..3 * CHUNK as u64 + 5));
    }
}
