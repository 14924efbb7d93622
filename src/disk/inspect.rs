//! Inspection and chosen removals for tools (`pcstore info`, `ls`, `verify`, `prune`, `clear`):
//! every entry with its metadata ([`DiskEntry`]), a check of every entry ([`VerifyReport`]),
//! and removal of chosen entries through a compaction ([`RemovalReport`]).
//!
//! Removal never deletes a record in place: it is a compaction that does not copy the chosen
//! records, so it follows compaction's rules for a store other processes use (one compaction at
//! a time under `compact.lock`, a segment deleted only once it is claimed: nobody appends to it
//! or pins it, and it is the length planned from). Records in segments another process still
//! appends to or has not flushed stay where they are; the report says how many.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::cache::DiskCache;
use super::error::DiskCacheError;
use super::format::{Encoding, RecordHeader, RecordKind, RECORD_HEADER_LEN};
use super::segment::Segment;
use crate::fingerprint::PipelineFingerprint;
use crate::platform;

/// Most payload bytes [`DiskCache::entry_head`] reads: enough for any header a tool classifies
/// entries by (the Vulkan envelope is 128 bytes).
pub const MAX_ENTRY_HEAD: usize = 4096;

/// One entry of a disk store as a tool sees it: the newest record of its key.
#[derive(Clone, Debug)]
pub struct DiskEntry {
    /// The key.
    pub key: PipelineFingerprint,
    /// The record's version stamp (ns since the epoch when it was written, kept increasing per
    /// process): with the key, names this record and no later put of the same key.
    pub version: u64,
    /// Payload bytes as stored (compressed or not): what the entry costs of the budget.
    pub len: u64,
    /// Last use known to this process (ns since the epoch): the record's own access time, or a
    /// later one recorded by a reader.
    pub last_used_ns: u64,
    /// The segment file holding it.
    pub segment_name: String,
    /// Whether another process may still append to that segment or has not flushed it (a
    /// removal leaves such records alone).
    pub in_use: bool,
    segment: Arc<Segment>,
    offset: u64,
}

/// What [`DiskCache::verify`] found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Entries read and checked.
    pub checked: u64,
    /// Payload bytes of the entries found intact.
    pub intact_bytes: u64,
    /// Entries whose record failed its check (header, key, length or BLAKE3), or could not be
    /// read.
    pub corrupt: Vec<DiskEntry>,
}

/// What [`DiskCache::remove`] did.
#[derive(Clone, Debug, Default)]
pub struct RemovalReport {
    /// Chosen entries gone from the store.
    pub removed: u64,
    /// Their payload bytes.
    pub removed_bytes: u64,
    /// Chosen entries still there: in a segment another process appends to or has not
    /// flushed, superseding an older version such a segment holds, or another process's
    /// compaction held the lock for longer than 10 s. A later removal gets them.
    pub remaining: Vec<DiskEntry>,
}

impl DiskCache {
    /// Every entry, with its metadata, after picking up what other processes flushed since the
    /// last look; in no particular order. Reads no record.
    pub fn entries(&self) -> Vec<DiskEntry> {
        let Ok(store) = self.current() else {
            return Vec::new();
        };
        store.refreshed_view().frozen(|known| {
            let in_use: HashSet<&str> = known
                .segments
                .iter()
                .filter(|info| !info.immutable)
                .map(|info| info.segment.name.as_str())
                .collect();
            let mut entries = Vec::with_capacity(known.index.len());
            known.index.for_each(|key, location| {
                entries.push(DiskEntry {
                    key: *key,
                    version: location.stamp,
                    len: location.payload_len,
                    last_used_ns: location.access.load(Ordering::Relaxed),
                    segment_name: location.segment.name.clone(),
                    in_use: in_use.contains(location.segment.name.as_str()),
                    segment: Arc::clone(&location.segment),
                    offset: location.offset,
                });
            });
            entries
        })
    }

    /// When the last compaction of this store completed, by any process (ns since the epoch);
    /// `None` if none is recorded. Reads `compact.lock`, never creates it.
    pub fn last_compaction_ns(&self) -> Option<u64> {
        self.current().ok()?.last_compaction_ns()
    }

    /// The first `max` bytes (at most [`MAX_ENTRY_HEAD`]) of `entry`'s payload, for classifying
    /// it (a Vulkan envelope, a recipe). The record header is checked and must name the entry's
    /// key, but the payload is not verified (that needs all of it: [`DiskCache::peek`]).
    /// `None` when the record cannot be read or its header does not check.
    pub fn entry_head(&self, entry: &DiskEntry, max: usize) -> Option<Vec<u8>> {
        let len = (max.min(MAX_ENTRY_HEAD) as u64).min(entry.len) as usize;
        let mut head = [0u8; RECORD_HEADER_LEN];
        let mut body = vec![0u8; len];
        platform::read_two_exact_at(&entry.segment.file, &mut head, &mut body, entry.offset)
            .ok()?;
        let header = RecordHeader::decode(&head, entry.segment.version)?;
        if header.kind != RecordKind::Put
            || header.key != entry.key
            || header.payload_len != entry.len
        {
            return None;
        }
        if header.encoding == Encoding::Stored {
            return Some(body);
        }
        // A compressed value's first bytes need the whole frame: read it as a lookup would
        // (verified), and keep the head.
        let mut value = self.peek(&entry.key)?;
        value.truncate(max.min(MAX_ENTRY_HEAD));
        Some(value)
    }

    /// Reads and checks every entry as [`DiskCache::peek`] does (without counting a use),
    /// calling `checked` after each with the entry and whether it is intact (for a progress
    /// display). A corrupt entry is no longer served by this handle (as on a `get`); what is on
    /// disk is left as it is ([`DiskCache::remove`] drops it).
    pub fn verify(&self, mut checked: impl FnMut(&DiskEntry, bool)) -> VerifyReport {
        let mut report = VerifyReport::default();
        let Ok(store) = self.current() else {
            return report;
        };
        let entries = self.entries();
        for entry in entries {
            report.checked += 1;
            // A key put again since the listing reads its newer record: that one is checked.
            let intact = store.read(&entry.key, false, &mut false).is_some();
            if intact {
                report.intact_bytes += entry.len;
            }
            checked(&entry, intact);
            if !intact {
                report.corrupt.push(entry);
            }
        }
        report
    }

    /// Removes the chosen entries (each the record listed by [`DiskCache::entries`]: a key put
    /// again since keeps its newer record), other processes using the store meanwhile: a
    /// compaction run now on this thread that does not copy them (see the module
    /// documentation). Evicts nothing else, unless the store is over this handle's budget
    /// (open it with a budget above the store's size to rule that out); also drops records
    /// this handle found corrupt, and reclaims superseded records' space.
    ///
    /// # Errors
    /// [`DiskCacheError::ReadOnly`], or the I/O error that stopped the compaction (nothing
    /// that was not chosen is lost).
    pub fn remove(&self, chosen: &[DiskEntry]) -> Result<RemovalReport, DiskCacheError> {
        let store = self.current()?;
        let drop: HashSet<(PipelineFingerprint, u64)> = chosen
            .iter()
            .map(|entry| (entry.key, entry.version))
            .collect();
        store.compact_dropping(&drop)?;
        let still_there: HashSet<(PipelineFingerprint, u64)> = self
            .entries()
            .into_iter()
            .map(|entry| (entry.key, entry.version))
            .filter(|named| drop.contains(named))
            .collect();
        let mut report = RemovalReport::default();
        for entry in chosen {
            if still_there.contains(&(entry.key, entry.version)) {
                report.remaining.push(entry.clone());
            } else {
                report.removed += 1;
                report.removed_bytes += entry.len;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicU32;

    use super::*;
    use crate::store::PipelineCacheStore;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "pcstore-inspect-{tag}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            Self(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key(k: u64) -> PipelineFingerprint {
        PipelineFingerprint::of(&k.to_le_bytes())
    }

    fn blob(k: u64) -> Vec<u8> {
        (0..1000 + k as usize)
            .map(|at| (k as usize + at) as u8)
            .collect()
    }

    /// Writes keys `keys` from a handle of their own (another writer), flushed and closed.
    fn write(dir: &Scratch, keys: std::ops::Range<u64>) {
        let writer = DiskCache::new(&dir.0).unwrap();
        for k in keys {
            writer.put(key(k), blob(k));
        }
        writer.flush().unwrap();
    }

    fn find(entries: &[DiskEntry], k: u64) -> &DiskEntry {
        entries.iter().find(|entry| entry.key == key(k)).unwrap()
    }

    #[test]
    fn entries_carry_their_metadata_and_their_head_reads_without_the_payload_check() {
        let dir = Scratch::new("entries");
        write(&dir, 0..3);
        let tool = DiskCache::new(&dir.0).unwrap();
        let entries = tool.entries();
        assert_eq!(entries.len(), 3);
        for k in 0..3 {
            let entry = find(&entries, k);
            // The blobs count up byte by byte: stored compressed, the head read through the
            // decompressed value.
            assert!(entry.len < blob(k).len() as u64, "stored compressed");
            assert!(entry.version > 0 && entry.last_used_ns > 0);
            assert!(!entry.in_use, "its writer closed the segment");
            assert!(entry.segment_name.starts_with("seg-"));
            assert_eq!(tool.entry_head(entry, 16).unwrap(), blob(k)[..16]);
            assert_eq!(tool.entry_head(entry, 1 << 20).unwrap(), blob(k));
        }
    }

    #[test]
    fn the_head_of_a_value_stored_as_it_is_is_read_from_the_record() {
        let dir = Scratch::new("stored-head");
        let random: Vec<u8> = {
            let mut bytes = vec![0u8; 4096];
            blake3::Hasher::new().finalize_xof().fill(&mut bytes);
            bytes
        };
        DiskCache::new(&dir.0).unwrap().put(key(9), random.clone());
        let tool = DiskCache::new(&dir.0).unwrap();
        let entries = tool.entries();
        let entry = find(&entries, 9);
        assert_eq!(
            entry.len,
            random.len() as u64,
            "incompressible: stored as it is"
        );
        assert_eq!(tool.entry_head(entry, 16).unwrap(), random[..16]);
    }

    #[test]
    fn verify_finds_a_flipped_byte_and_remove_drops_that_entry_and_nothing_else() {
        let dir = Scratch::new("verify");
        write(&dir, 0..5);
        let tool = DiskCache::new(&dir.0).unwrap();
        let victim = find(&tool.entries(), 2).clone();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.0.join(&victim.segment_name))
            .unwrap();
        let at = victim.offset + RECORD_HEADER_LEN as u64 + 100;
        file.write_all_at(&[blob(2)[100] ^ 0x40], at).unwrap();

        let mut seen = Vec::new();
        let report = tool.verify(|entry, intact| seen.push((entry.key, intact)));
        assert_eq!(report.checked, 5);
        assert_eq!(seen.len(), 5);
        assert_eq!(
            report.corrupt.iter().map(|e| e.key).collect::<Vec<_>>(),
            [key(2)]
        );
        let removal = tool.remove(&report.corrupt).unwrap();
        assert_eq!((removal.removed, removal.remaining.len()), (1, 0));

        let reader = DiskCache::new(&dir.0).unwrap();
        assert_eq!(reader.entries().len(), 4);
        assert_eq!(reader.get(&key(2)), None);
        for k in [0, 1, 3, 4] {
            assert_eq!(reader.get(&key(k)), Some(blob(k)), "key {k}");
        }
    }

    #[test]
    fn remove_leaves_what_another_writer_still_appends_to_until_it_is_finished() {
        let dir = Scratch::new("live");
        write(&dir, 0..3);
        let live = DiskCache::new(&dir.0).unwrap();
        live.put(key(3), blob(3));
        live.flush().unwrap();
        let tool = DiskCache::new(&dir.0).unwrap();
        let entries = tool.entries();
        assert_eq!(entries.len(), 4);
        assert!(find(&entries, 3).in_use && !find(&entries, 0).in_use);

        let report = tool.remove(&entries).unwrap();
        assert_eq!(report.removed, 3);
        assert_eq!(
            report.remaining.iter().map(|e| e.key).collect::<Vec<_>>(),
            [key(3)]
        );
        assert_eq!(
            live.get(&key(3)),
            Some(blob(3)),
            "the writer's record is intact"
        );
        drop(live);
        let report = tool.remove(&report.remaining).unwrap();
        assert_eq!((report.removed, report.remaining.len()), (1, 0));
        assert!(DiskCache::new(&dir.0).unwrap().entries().is_empty());
    }

    #[test]
    fn the_last_compaction_is_recorded_for_every_process_to_read() {
        let dir = Scratch::new("last-compaction");
        write(&dir, 0..3);
        let writer = DiskCache::new(&dir.0).unwrap();
        assert_eq!(writer.last_compaction_ns(), None, "nothing compacted yet");
        let before = crate::disk::clock::wall_clock_ns();
        writer.compact().unwrap();
        let after = crate::disk::clock::wall_clock_ns();
        let read_only = DiskCache::with_options(
            &dir.0,
            crate::disk::DiskCacheOptions {
                read_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        let recorded = read_only.last_compaction_ns().expect("recorded");
        assert!((before..=after).contains(&recorded));
        assert_eq!(writer.last_compaction_ns(), Some(recorded));
    }

    #[test]
    fn a_key_put_again_after_the_listing_keeps_its_newer_record() {
        let dir = Scratch::new("again");
        write(&dir, 0..2);
        let tool = DiskCache::new(&dir.0).unwrap();
        let listed = tool.entries();
        let writer = DiskCache::new(&dir.0).unwrap();
        writer.put(key(0), b"newer".to_vec());
        writer.flush().unwrap();
        drop(writer);

        let report = tool.remove(&listed).unwrap();
        assert_eq!(report.removed, 2, "both listed records are gone");
        let reader = DiskCache::new(&dir.0).unwrap();
        assert_eq!(reader.get(&key(0)), Some(b"newer".to_vec()));
        assert_eq!(reader.get(&key(1)), None);
    }
}
