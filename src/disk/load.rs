//! Reading the directory: listing pcstore's own names, loading one segment (through its index
//! file when it has a valid one, else by scanning its records), and removing what crashes leave.
//! Only names pcstore generates are ever looked at ([`names::classify`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::context::StoreContext;
use super::error::DiskCacheError;
use super::format::{self, IndexEntry, INDEX_MAGIC};
use super::names::{self, Owned};
use super::segment::{self, OpenError, Segment};
use crate::metrics::Counter;
use crate::platform;

/// Temp files younger than this may still be being set up by their creator (between creation
/// and locking), so they are left alone.
const TEMP_GRACE: Duration = Duration::from_secs(2);

/// One segment as read from disk.
pub struct Loaded {
    pub segment: Arc<Segment>,
    /// Its records (touches expanded into one entry per key), in file order.
    pub entries: Vec<IndexEntry>,
    /// Records up to here are indexed.
    pub scanned_to: u64,
    /// File size read (after the lock probe).
    pub size: u64,
    /// Its index file's length (0 if none).
    pub index_bytes: u64,
    /// Nobody appends to it any more.
    pub immutable: bool,
}

/// Segment names (sorted) and leftover names (temp files, indexes whose segment is gone) in the
/// store directory.
///
/// # Errors
/// The directory cannot be listed.
pub fn list(cx: &StoreContext) -> Result<(Vec<String>, Vec<String>), DiskCacheError> {
    let listed = cx
        .root()
        .current(cx.stats())
        .list()
        .map_err(|err| DiskCacheError::io("list directory", cx.path(), err))?;
    let mut segments: Vec<String> = listed
        .iter()
        .filter(|(_, kind)| *kind == Owned::Segment)
        .map(|(name, _)| name.clone())
        .collect();
    segments.sort();
    let leftovers = listed
        .into_iter()
        .filter(|(name, kind)| match kind {
            Owned::Temp => true,
            // An index is a leftover only when its segment is gone.
            Owned::Index => segments
                .binary_search(&names::segment_of_index(name))
                .is_err(),
            Owned::Segment | Owned::Kept => false,
        })
        .map(|(name, _)| name)
        .collect();
    Ok((segments, leftovers))
}

/// Deletes leftovers: temp files whose creator is gone (unlocked and older than a grace
/// period) and indexes of segments that no longer exist (unless of another format version).
/// Another user's files are left alone.
pub fn remove_leftovers(cx: &StoreContext) {
    let Ok((_, leftovers)) = list(cx) else {
        return;
    };
    let dir = cx.root().dir();
    for name in leftovers {
        let Ok(file) = dir.open_owned(&name, false) else {
            continue;
        };
        let old_enough = file
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= TEMP_GRACE);
        let removable = names::classify(&name) != Some(Owned::Index)
            || segment::replaceable(&dir, &name, &INDEX_MAGIC);
        if old_enough && removable && platform::try_lock_exclusive(&file).unwrap_or(false) {
            let _ = dir.remove_owned(&name);
        }
    }
}

/// Reads one segment (`known`: already open here). `None` if it vanished, belongs to another
/// user or another format version (left alone), or is damaged (then deleted, when writable
/// and nobody holds it).
///
/// `repair`: the caller holds the compaction lock, so a torn tail of a dead writer may be cut
/// and a missing index written. `probe`: whether to probe its lock to learn if a writer still
/// appends to it; false for a segment this process finished and still pins (probing through the
/// pinning descriptor would release the pin), which is finished by definition.
pub fn load_segment(
    cx: &StoreContext,
    name: &str,
    known: Option<Arc<Segment>>,
    repair: bool,
    probe: bool,
) -> Option<Loaded> {
    let segment = match known {
        Some(segment) => segment,
        None => match segment::open(&cx.root().dir(), name, false) {
            Ok(segment) => Arc::new(segment),
            Err(OpenError::Damaged) => {
                set_aside(cx, name);
                return None;
            }
            Err(OpenError::OtherVersion) => return None,
            Err(OpenError::Io(err)) => {
                if err.kind() != io::ErrorKind::NotFound {
                    cx.record_error(&err);
                }
                return None;
            }
        },
    };
    let result = (|| -> io::Result<Loaded> {
        // The lock before the size: a segment seen unlocked has had its last record appended,
        // so the size read after it is final. (Read the other way round, a writer could append,
        // flush and close in between: its segment would be indexed, and repaired and compacted,
        // short of the records it had just flushed.)
        let live = probe && platform::is_write_locked(&segment.file)?;
        #[cfg(test)]
        super::test_hooks::pause(super::test_hooks::Pause::BetweenLockAndSize, name);
        let mut size = segment.file.metadata()?.len();
        if !live {
            if let Some(entries) = segment::read_index(&segment, size) {
                return Ok(Loaded {
                    index_bytes: format::index_len(entries.len()),
                    segment,
                    entries,
                    scanned_to: size,
                    size,
                    immutable: true,
                });
            }
        }
        let scan = segment::scan(&segment, 0, size)?;
        cx.metrics().add(Counter::CorruptDropped, scan.corrupt);
        if scan.corrupt > 0 {
            log::warn!(
                target: "pcstore::disk",
                "{}: dropped {} damaged records in segment {name}",
                cx.path().display(),
                scan.corrupt
            );
        }
        let mut index_bytes = 0;
        if !live && repair && !cx.read_only() {
            if scan.valid_end < size {
                // A torn tail left by a writer that died mid-append.
                let file = segment.dir.open_owned(&segment.name, true)?;
                file.set_len(scan.valid_end)?;
                log::info!(
                    target: "pcstore::disk",
                    "{}: cut the torn tail of segment {name} ({} bytes a crashed writer left)",
                    cx.path().display(),
                    size - scan.valid_end
                );
                size = scan.valid_end;
            }
            index_bytes = segment::write_index(&segment, size, &scan.entries)?;
        }
        Ok(Loaded {
            segment,
            entries: scan.entries,
            scanned_to: scan.valid_end,
            size,
            index_bytes,
            immutable: !live,
        })
    })();
    match result {
        Ok(loaded) => Some(loaded),
        Err(err) => {
            if err.kind() != io::ErrorKind::NotFound {
                cx.record_error(&err);
            }
            None
        }
    }
}

/// Removes a damaged segment (and its index), unless a writer holds it or it is not ours.
fn set_aside(cx: &StoreContext, name: &str) {
    if cx.read_only() {
        return;
    }
    let dir = cx.root().dir();
    let Ok(file) = dir.open_owned(name, false) else {
        return;
    };
    if platform::try_lock_exclusive(&file).unwrap_or(false) {
        cx.metrics().inc(Counter::CorruptDropped);
        log::warn!(
            target: "pcstore::disk",
            "{}: removed segment {name}, whose header is damaged",
            cx.path().display()
        );
        let _ = segment::remove_files(&dir, name);
    }
}
