//! Loading the directory into the index: at open, after compactions, and when a miss suggests
//! another process wrote something.
//!
//! Two ways in: [`Inner::rebuild`] reads every segment (through its index file when it has a
//! valid one) into a fresh index, used at open and whenever segments vanished (compacted away);
//! [`Inner::refresh_if_changed`] only adds what is new: segments that appeared and records other
//! writers appended, and costs one `stat` when nothing changed.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::format::{IndexEntry, RecordKind, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, INDEX_MAGIC};
use super::index::Index;
use super::names::{self, Owned};
use super::segment::{self, OpenError, Segment};
use super::store::{wall_clock_ns, Inner, SegmentView, State, MAX_FINISHED_SEGMENTS};
use super::DiskCacheError;
use crate::metrics::Counter;
use crate::platform;

/// Temp files younger than this may still be being set up by their creator (between creation
/// and locking), so they are left alone.
const TEMP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the last directory listing saw, so that a miss lists the directory again only when it
/// may have missed something.
///
/// A directory's mtime moves whenever a name is added or removed, but only to the file system's
/// current timestamp, which is coarse: a 4 ms tick on ext2 (and on ext4 before Linux 6.13),
/// whole seconds on some. A segment renamed in just after a listing, within the same tick,
/// leaves the mtime as the listing saw it; trusting that mtime would hide the segment until
/// something else changes the directory. So, as git does with "racily clean" files, an mtime is
/// trusted only if it was already older than a generous bound on that granularity when the
/// listing began; until a listing is, misses list again (at most once a millisecond). And no
/// listing is trusted for longer than a second, for file systems whose timestamps or attribute
/// caches lag (NFS) and for clocks that jump.
#[derive(Clone, Copy, Debug)]
pub(super) struct Listing {
    /// The directory's mtime (ns since the epoch), read just before listing it.
    mtime: i128,
    /// `mtime` was old enough that any later change must move it.
    settled: bool,
    /// When the listing began.
    at: Instant,
}

/// How far a directory's sub-second mtime may trail the change that set it: Linux file systems
/// stamp with a clock that ticks at least every 10 ms (HZ=100), exFAT keeps 10 ms.
const FINE_MTIME_SLACK_NS: i128 = 100_000_000;
/// The same for mtimes in whole seconds (the file system may keep only those; FAT keeps 2 s).
const WHOLE_SECOND_MTIME_SLACK_NS: i128 = 2_000_000_000;
/// A listing not yet trusted is repeated at most this often.
const UNSETTLED_RELIST: Duration = Duration::from_millis(1);
/// No listing is trusted for longer than this.
const RELIST_PERIOD: Duration = Duration::from_secs(1);

impl Listing {
    /// A listing that began at wall-clock time `began_ns` (ns since the epoch) and monotonic
    /// time `at`, right after the directory's mtime was read as `mtime`.
    pub fn began(mtime: i128, began_ns: u64, at: Instant) -> Self {
        let slack = if mtime % 1_000_000_000 == 0 {
            WHOLE_SECOND_MTIME_SLACK_NS
        } else {
            FINE_MTIME_SLACK_NS
        };
        Self {
            mtime,
            settled: mtime + slack <= i128::from(began_ns),
            at,
        }
    }

    /// Whether a miss at `now` that reads the directory's mtime as `mtime` must list it again.
    pub fn stale(&self, mtime: i128, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.at);
        mtime != self.mtime || age >= RELIST_PERIOD || (!self.settled && age >= UNSETTLED_RELIST)
    }
}

/// One segment as read from disk.
struct Loaded {
    view: SegmentView,
    entries: Vec<IndexEntry>,
}

impl Inner {
    /// First load at open: cleans up after crashes and reads everything.
    pub(super) fn open(self: &Arc<Self>) -> Result<(), DiskCacheError> {
        let mut repair_lock = None;
        if !self.options.read_only {
            self.remove_stale_temps();
            if let Ok(file) = self.dir().open_lock() {
                if platform::lock_exclusive_within(&file, std::time::Duration::from_millis(20))
                    .unwrap_or(false)
                {
                    repair_lock = Some(file);
                }
            }
        }
        let rebuilt = self.rebuild(repair_lock.is_some());
        if let Some(lock) = &repair_lock {
            // Explicitly, not by closing: a forked child may share the descriptor.
            let _ = platform::unlock(lock);
        }
        rebuilt?;
        let over = self.state.read().disk_bytes() > self.limits.max_bytes;
        if !self.options.read_only && (over || self.immutable_segments() > MAX_FINISHED_SEGMENTS) {
            self.start_maintenance();
        }
        Ok(())
    }

    /// Segment names and leftover names (temp files, indexes whose segment is gone): only names
    /// pcstore generates ([`names::classify`]); nothing else in the directory is ever touched.
    fn list(&self) -> Result<(Vec<String>, Vec<String>), DiskCacheError> {
        let listed = self
            .current_dir()
            .list()
            .map_err(|err| DiskCacheError::io("list directory", &self.root, err))?;
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
    /// period) and indexes of segments that no longer exist (unless of another format
    /// version). Another user's files are left alone.
    fn remove_stale_temps(&self) {
        let Ok((_, leftovers)) = self.list() else {
            return;
        };
        let dir = self.dir();
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

    /// Reads one segment. `None` if it vanished, belongs to another user or another format
    /// version (left alone), or is damaged (then deleted, when writable and nobody holds it).
    /// `finished_here`: this process finished it and still pins it (its lock must not be probed
    /// through the pinning descriptor: releasing the probe would release the pin).
    fn load_segment(
        &self,
        name: &str,
        known: Option<Arc<Segment>>,
        repair: bool,
        finished_here: bool,
    ) -> Option<Loaded> {
        let segment = match known {
            Some(segment) => segment,
            None => match segment::open(&self.dir(), name, false) {
                Ok(segment) => Arc::new(segment),
                Err(OpenError::Damaged) => {
                    self.set_aside(name);
                    return None;
                }
                Err(OpenError::OtherVersion) => return None,
                Err(OpenError::Io(err)) => {
                    if err.kind() != io::ErrorKind::NotFound {
                        self.record_error(&err);
                    }
                    return None;
                }
            },
        };
        let result = (|| -> io::Result<Loaded> {
            // The lock before the size: a segment seen unlocked has had its last record
            // appended, so the size read after it is final. (Read the other way round, a writer
            // could append, flush and close in between: its segment would be indexed, and
            // repaired and compacted, short of the records it had just flushed.)
            let live = !finished_here && platform::is_write_locked(&segment.file)?;
            #[cfg(test)]
            super::test_hooks::pause(super::test_hooks::Pause::BetweenLockAndSize, name);
            let mut size = segment.file.metadata()?.len();
            if !live {
                if let Some(entries) = segment::read_index(&segment, size) {
                    let index_bytes = (INDEX_HEADER_LEN + INDEX_ENTRY_LEN * entries.len()) as u64;
                    return Ok(Loaded {
                        view: view_of(&segment, size, size, index_bytes, true),
                        entries,
                    });
                }
            }
            let scan = segment::scan(&segment, 0, size)?;
            self.metrics.add(Counter::CorruptDropped, scan.corrupt);
            if scan.corrupt > 0 {
                log::warn!(
                    target: "pcstore::disk",
                    "{}: dropped {} damaged records in segment {name}",
                    self.root.display(),
                    scan.corrupt
                );
            }
            let mut index_bytes = 0;
            if !live && repair && !self.options.read_only {
                if scan.valid_end < size {
                    // A torn tail left by a writer that died mid-append.
                    let file = segment.dir.open_owned(&segment.name, true)?;
                    file.set_len(scan.valid_end)?;
                    log::info!(
                        target: "pcstore::disk",
                        "{}: cut the torn tail of segment {name} ({} bytes a crashed writer left)",
                        self.root.display(),
                        size - scan.valid_end
                    );
                    size = scan.valid_end;
                }
                segment::write_index(&segment, size, &scan.entries)?;
                index_bytes = (INDEX_HEADER_LEN + INDEX_ENTRY_LEN * scan.entries.len()) as u64;
            }
            Ok(Loaded {
                view: view_of(&segment, scan.valid_end, size, index_bytes, !live),
                entries: scan.entries,
            })
        })();
        match result {
            Ok(loaded) => Some(loaded),
            Err(err) => {
                if err.kind() != io::ErrorKind::NotFound {
                    self.record_error(&err);
                }
                None
            }
        }
    }

    /// Removes a damaged segment (and its index), unless a writer holds it or it is not ours.
    fn set_aside(&self, name: &str) {
        if self.options.read_only {
            return;
        }
        let dir = self.dir();
        let Ok(file) = dir.open_owned(name, false) else {
            return;
        };
        if platform::try_lock_exclusive(&file).unwrap_or(false) {
            self.metrics.inc(Counter::CorruptDropped);
            log::warn!(
                target: "pcstore::disk",
                "{}: removed segment {name}, whose header is damaged",
                self.root.display()
            );
            let _ = segment::remove_files(&dir, name);
        }
    }

    /// Reads every segment into a fresh index (keeping access times this process knew).
    /// `repair`: the caller holds the compaction lock, so torn tails of dead writers may be cut
    /// and missing index files written.
    pub(super) fn rebuild(&self, repair: bool) -> Result<(), DiskCacheError> {
        let mut memo = self.refresh.lock();
        // Own appends wait: the new index must include every record this process wrote.
        let writer = self.writer.lock();
        let began = (wall_clock_ns(), Instant::now());
        let mtime = platform::modified_ns(&self.root).ok();
        let (names, _) = self.list()?;
        let known: HashMap<String, Arc<Segment>> = self
            .state
            .read()
            .segments
            .iter()
            .map(|(name, view)| (name.clone(), Arc::clone(&view.segment)))
            .collect();
        let own = writer.active.as_ref();
        let pinned_here: HashSet<&str> = writer
            .finished
            .iter()
            .filter(|finished| finished.pinned)
            .map(|finished| finished.segment.name.as_str())
            .collect();
        let mut state = State::default();
        let mut touches = Vec::new();
        let mut loaded_segments = Vec::with_capacity(names.len());
        for name in &names {
            if own.is_some_and(|active| &active.segment.name == name) {
                continue;
            }
            let finished_here = pinned_here.contains(name.as_str());
            if let Some(loaded) =
                self.load_segment(name, known.get(name).cloned(), repair, finished_here)
            {
                loaded_segments.push(loaded);
            }
        }
        let total: usize = loaded_segments.iter().map(|l| l.entries.len()).sum();
        state.index.reserve(total);
        for loaded in loaded_segments {
            apply_puts(
                &mut state.index,
                &loaded.view.segment,
                &loaded.entries,
                &mut touches,
            );
            if !loaded.view.immutable {
                state.live_keys.extend(
                    loaded
                        .entries
                        .iter()
                        .filter(|entry| entry.kind == RecordKind::Put)
                        .map(|entry| entry.key),
                );
            }
            state
                .segments
                .insert(loaded.view.segment.name.clone(), loaded.view);
        }
        if let Some(active) = own {
            apply_puts(
                &mut state.index,
                &active.segment,
                &active.entries,
                &mut touches,
            );
            state.segments.insert(
                active.segment.name.clone(),
                view_of(&active.segment, active.end, active.end, 0, false),
            );
            state
                .segments
                .get_mut(&active.segment.name)
                .expect("inserted")
                .own = true;
        }
        apply_touches(&mut state.index, &touches);
        let mut current = self.state.write();
        for (key, location) in state.index.iter() {
            if let Some(old) = current.index.get(key) {
                location
                    .access
                    .fetch_max(old.access.load(Ordering::Relaxed), Ordering::Relaxed);
                location.persisted_access.fetch_max(
                    old.persisted_access.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
            }
        }
        self.clock
            .fetch_max(state.index.max_stamp(), Ordering::Relaxed);
        *current = state;
        *memo = mtime.map(|mtime| Listing::began(mtime, began.0, began.1));
        Ok(())
    }

    /// Picks up what other processes wrote since the last look. Returns whether anything new
    /// was indexed. Cheap when nothing changed: one `stat` of the directory plus one `fstat` per
    /// segment another live process is appending to (and a listing of the directory when its
    /// mtime cannot be trusted yet: see [`Listing`]).
    ///
    /// When segments vanished (another process compacted), the index is rebuilt, 10–30 ms at
    /// 100k entries. On a lookup (`on_lookup`) that would stall the caller's thread, so the
    /// rebuild goes to the background maintenance thread instead and this returns false: the
    /// current index stays correct meanwhile (it holds the vanished segments open, and their
    /// records are immutable), it only lacks what was written since.
    pub(super) fn refresh_if_changed(self: &Arc<Self>, on_lookup: bool) -> bool {
        let Some(mut memo) = self.refresh.try_lock() else {
            return false;
        };
        let began = (wall_clock_ns(), Instant::now());
        let Ok(mtime) = platform::modified_ns(&self.root) else {
            return false;
        };
        let mut changed = false;
        if memo.map_or(true, |listing| listing.stale(mtime, began.1)) {
            let Ok((names, _)) = self.list() else {
                return false;
            };
            let (added, removed) = {
                let state = self.state.read();
                let listed: HashSet<&String> = names.iter().collect();
                let added: Vec<String> = names
                    .iter()
                    .filter(|name| !state.segments.contains_key(*name))
                    .cloned()
                    .collect();
                let removed = state
                    .segments
                    .iter()
                    .any(|(name, view)| !view.own && !listed.contains(name));
                (added, removed)
            };
            if removed {
                drop(memo);
                if on_lookup {
                    self.start_maintenance();
                    return false;
                }
                return self.rebuild(false).is_ok();
            }
            let loaded: Vec<Loaded> = added
                .iter()
                .filter_map(|name| self.load_segment(name, None, false, false))
                .collect();
            let mut state = self.state.write();
            let mut touches = Vec::new();
            for loaded in loaded {
                changed |= !loaded.entries.is_empty();
                apply_puts(
                    &mut state.index,
                    &loaded.view.segment,
                    &loaded.entries,
                    &mut touches,
                );
                state
                    .segments
                    .insert(loaded.view.segment.name.clone(), loaded.view);
            }
            apply_touches(&mut state.index, &touches);
            self.clock
                .fetch_max(state.index.max_stamp(), Ordering::Relaxed);
            *memo = Some(Listing::began(mtime, began.0, began.1));
        }
        changed | self.scan_live_tails()
    }

    /// Indexes records other live writers appended since the last look.
    fn scan_live_tails(&self) -> bool {
        let live: Vec<(Arc<Segment>, u64)> = self
            .state
            .read()
            .segments
            .values()
            .filter(|view| !view.immutable && !view.own)
            .map(|view| (Arc::clone(&view.segment), view.scanned_to))
            .collect();
        let mut changed = false;
        for (segment, scanned_to) in live {
            let result = (|| -> io::Result<_> {
                // Probe the lock before the size: a writer that is gone has appended its last.
                let finished = !platform::is_write_locked(&segment.file)?;
                let size = segment.file.metadata()?.len();
                let scan = if size > scanned_to {
                    Some(segment::scan(&segment, scanned_to, size)?)
                } else {
                    None
                };
                Ok((finished, size, scan))
            })();
            let Ok((finished, size, scan)) = result else {
                continue;
            };
            let mut state = self.state.write();
            let mut touches = Vec::new();
            if let Some(scan) = &scan {
                changed |= !scan.entries.is_empty();
                apply_puts(&mut state.index, &segment, &scan.entries, &mut touches);
            }
            apply_touches(&mut state.index, &touches);
            self.clock
                .fetch_max(state.index.max_stamp(), Ordering::Relaxed);
            if let Some(view) = state.segments.get_mut(&segment.name) {
                if let Some(scan) = &scan {
                    view.scanned_to = scan.valid_end;
                }
                view.size = size;
                view.immutable = finished;
            }
        }
        changed
    }
}

fn view_of(
    segment: &Arc<Segment>,
    scanned_to: u64,
    size: u64,
    index_bytes: u64,
    immutable: bool,
) -> SegmentView {
    SegmentView {
        segment: Arc::clone(segment),
        scanned_to,
        size,
        index_bytes,
        immutable,
        own: false,
    }
}

fn apply_puts(
    index: &mut Index,
    segment: &Arc<Segment>,
    entries: &[IndexEntry],
    touches: &mut Vec<IndexEntry>,
) {
    for entry in entries {
        match entry.kind {
            RecordKind::Put => index.apply_put(segment, entry),
            RecordKind::Touch => touches.push(*entry),
        }
    }
}

/// Touches go last: they only raise the access time of keys already indexed.
fn apply_touches(index: &mut Index, touches: &[IndexEntry]) {
    for touch in touches {
        index.apply_touch(&touch.key, touch.access);
    }
}
