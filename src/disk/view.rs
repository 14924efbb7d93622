//! What this process knows of the store directory ([`View`]), and how that is kept up to date.
//!
//! A view holds the index (every key's newest record), what is known of each segment (its size,
//! how far it is indexed, whether it is finished, whether this process appends to it) and the
//! keys other live writers hold. Two ways to bring it up to date:
//! - [`View::refresh`] adds what is new: segments that appeared, records other live writers
//!   appended. It costs one `stat` when nothing changed; when segments vanished (another process
//!   compacted) it asks its caller for a rebuild instead.
//! - [`View::rebuild`] reads every segment (through its index file when it has a valid one) into
//!   a new index and swaps it in: at open, around compactions, and when segments vanished.
//!
//! Neither makes another thread wait for work proportional to the store. A rebuild reads the
//! directory holding no lock a put or a lookup takes: this process's own segments come from the
//! writer as a snapshot ([`OwnSegmentSource`]), and every change made while the rebuild runs
//! (appends, rotations, records found corrupt) also goes to a journal, which the rebuild replays
//! on the new index before swapping it in. The swap exchanges two pointers; access times read
//! meanwhile are carried over after it, and the old index is freed outside every lock.
//!
//! Locks, always taken in this order: `listing` (one refresh or rebuild at a time), the writer's
//! state (see `writer.rs`), `index` (read: every single-entry change and lookup; write: only the
//! swap), an index shard, `segments`. None is held while reading a file.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::clock::wall_clock_ns;
use super::context::StoreContext;
use super::entries::Entries;
use super::error::DiskCacheError;
use super::format::{IndexEntry, RecordKind};
use super::index::{Found, Index};
use super::listing::Listing;
use super::load::{self, Loaded};
use super::segment::{self, Segment};
use crate::fingerprint::PipelineFingerprint;
use crate::platform;

/// What this process knows of the directory (see the module documentation).
pub struct View {
    cx: Arc<StoreContext>,
    /// The index, replaced whole by a rebuild. Lookups and single-entry changes hold the read
    /// lock only while they touch one entry (so a swap never loses a change: see `journal`);
    /// walks over every entry take a clone of the `Arc` and hold no lock of this.
    index: RwLock<Arc<Index>>,
    segments: Mutex<Segments>,
    /// Keys with a record in another process's live segment, as of the last rebuild. Compaction
    /// never evicts the newest version of these: the older one would come back.
    live_keys: Mutex<Arc<HashSet<PipelineFingerprint>>>,
    /// Serialises refreshes and rebuilds; holds what the last listing saw.
    listing: Mutex<Option<Listing>>,
}

#[derive(Default)]
struct Segments {
    views: HashMap<String, SegmentView>,
    /// While a rebuild runs: every change made to the index or to this process's segments since
    /// it took its snapshot, to be replayed on the new index.
    journal: Option<Vec<Change>>,
}

/// How this process sees one segment file.
struct SegmentView {
    segment: Arc<Segment>,
    /// Records up to here are indexed.
    scanned_to: u64,
    /// File size last seen.
    size: u64,
    /// Index file size (0 if none).
    index_bytes: u64,
    /// Nobody appends to it any more.
    immutable: bool,
    /// This process's active segment (indexed as it is written).
    own: bool,
}

impl SegmentView {
    fn own(segment: &Arc<Segment>, size: u64) -> Self {
        Self {
            segment: Arc::clone(segment),
            scanned_to: size,
            size,
            index_bytes: 0,
            immutable: false,
            own: true,
        }
    }

    fn loaded(loaded: &Loaded) -> Self {
        Self {
            segment: Arc::clone(&loaded.segment),
            scanned_to: loaded.scanned_to,
            size: loaded.size,
            index_bytes: loaded.index_bytes,
            immutable: loaded.immutable,
            own: false,
        }
    }
}

/// One change journaled while a rebuild runs.
enum Change {
    /// This process started appending to `segment`.
    Started { segment: Arc<Segment>, size: u64 },
    /// This process appended records (puts and touches) to `segment`, which now ends at `end`.
    Appended {
        segment: Arc<Segment>,
        entries: Vec<IndexEntry>,
        end: u64,
    },
    /// This process finished the segment `name`.
    Finished { name: String },
    /// The index of segment `name` was written.
    Indexed { name: String, index_bytes: u64 },
    /// A lookup found the record of `key` at `offset` in `segment` corrupt.
    Dropped {
        key: PipelineFingerprint,
        segment: String,
        offset: u64,
    },
}

/// The segments this process writes, as a rebuild takes them from the writer: they are indexed
/// from memory (or their index file), never probed through the writer's descriptors (which
/// hold its locks).
#[derive(Default)]
pub struct OwnSegments {
    /// The segment it appends to.
    pub active: Option<OwnActive>,
    /// Segments it finished and still holds (pinned, or whose index is not written yet).
    pub finished: Vec<OwnFinished>,
}

/// This process's active segment, as of a snapshot.
pub struct OwnActive {
    pub segment: Arc<Segment>,
    pub end: u64,
    pub entries: Entries,
}

/// A segment this process finished, as of a snapshot.
pub struct OwnFinished {
    pub segment: Arc<Segment>,
    pub end: u64,
    /// Its entries while its index file is not written yet.
    pub entries: Option<Entries>,
    pub index_bytes: u64,
}

/// Where a rebuild gets this process's own segments (the writer).
pub trait OwnSegmentSource {
    /// A snapshot of the own segments, taken while no append can happen; `begin` must run
    /// before appends resume (it starts the journal, so no change falls between the two).
    fn own_segments(&self, begin: &mut dyn FnMut()) -> OwnSegments;
}

/// What a refresh found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing new was indexed.
    Unchanged,
    /// New records were indexed.
    Changed,
    /// Segments vanished (another process compacted): the caller should rebuild.
    Rebuild,
}

/// A segment as compaction sees it (a copy).
pub struct SegmentInfo {
    pub segment: Arc<Segment>,
    pub size: u64,
    pub index_bytes: u64,
    pub immutable: bool,
}

/// Everything known, frozen for planning a compaction (see [`View::frozen`]).
pub struct Known {
    pub segments: Vec<SegmentInfo>,
    pub index: Arc<Index>,
    pub live_keys: Arc<HashSet<PipelineFingerprint>>,
}

/// A fresh index and segment views, not yet swapped in.
struct Rebuilt {
    index: Index,
    views: HashMap<String, SegmentView>,
    live_keys: HashSet<PipelineFingerprint>,
}

/// A journal this short is replayed under the swap's locks; a longer one first outside them.
const JOURNAL_TAIL: usize = 32;

impl View {
    pub fn new(cx: Arc<StoreContext>) -> Self {
        Self {
            cx,
            index: RwLock::new(Arc::new(Index::default())),
            segments: Mutex::default(),
            live_keys: Mutex::default(),
            listing: Mutex::new(None),
        }
    }

    /// First load at open: cleans up after crashes and reads everything.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn open(&self, own: &dyn OwnSegmentSource) -> Result<(), DiskCacheError> {
        let mut repair_lock = None;
        if !self.cx.read_only() {
            load::remove_leftovers(&self.cx);
            if let Ok(file) = self.cx.root().dir().open_lock() {
                if platform::lock_exclusive_within(&file, Duration::from_millis(20))
                    .unwrap_or(false)
                {
                    repair_lock = Some(file);
                }
            }
        }
        let rebuilt = self.rebuild(repair_lock.is_some(), own);
        if let Some(lock) = &repair_lock {
            // Explicitly, not by closing: a forked child may share the descriptor.
            let _ = platform::unlock(lock);
        }
        rebuilt
    }

    // ---- Lookups and totals

    /// Where the newest known record of `key` is (see [`Index::lookup`]).
    pub fn lookup(&self, key: &PipelineFingerprint, touch_at: Option<u64>) -> Option<Found> {
        self.index.read().lookup(key, touch_at)
    }

    /// Forgets the record of `key` at `offset` in `segment`: a lookup found it corrupt.
    pub fn drop_corrupt(&self, key: &PipelineFingerprint, segment: &Segment, offset: u64) {
        let index = self.index.read();
        index.remove_if_at(key, &segment.name, offset);
        self.journal(|| Change::Dropped {
            key: *key,
            segment: segment.name.clone(),
            offset,
        });
        drop(index);
    }

    /// The current index, for walks over every entry (no lock of the view is held meanwhile).
    fn current_index(&self) -> Arc<Index> {
        Arc::clone(&self.index.read())
    }

    /// Payload bytes and entries indexed.
    pub fn totals(&self) -> (u64, u64) {
        let index = self.current_index();
        (index.payload_bytes(), index.len() as u64)
    }

    /// Every key indexed.
    pub fn keys(&self) -> Vec<PipelineFingerprint> {
        let mut keys = Vec::new();
        self.current_index().for_each(|key, _| keys.push(*key));
        keys
    }

    /// Keys read since their access time was last written, with that time (marked written).
    pub fn take_unpersisted_touches(&self) -> Vec<(PipelineFingerprint, u64)> {
        self.current_index().take_unpersisted_touches()
    }

    /// Bytes of the segment and index files known.
    pub fn disk_bytes(&self) -> u64 {
        self.segments
            .lock()
            .views
            .values()
            .map(|view| view.size + view.index_bytes)
            .sum()
    }

    /// Segment files known.
    pub fn segment_count(&self) -> u64 {
        self.segments.lock().views.len() as u64
    }

    /// Segment files known to be finished.
    pub fn finished_count(&self) -> usize {
        self.segments
            .lock()
            .views
            .values()
            .filter(|view| view.immutable)
            .count()
    }

    /// The finished segments known, with the size last seen.
    pub fn finished_segments(&self) -> Vec<(Arc<Segment>, u64)> {
        self.segments
            .lock()
            .views
            .values()
            .filter(|view| view.immutable)
            .map(|view| (Arc::clone(&view.segment), view.size))
            .collect()
    }

    /// Calls `plan` with everything known, while no refresh or rebuild changes what is known of
    /// other processes' segments (so the sizes and the index agree). This process's puts go on
    /// meanwhile, into its active segment, which is never finished in the copy.
    pub fn frozen<R>(&self, plan: impl FnOnce(&Known) -> R) -> R {
        let _listing = self.listing.lock();
        let segments = self
            .segments
            .lock()
            .views
            .values()
            .map(|view| SegmentInfo {
                segment: Arc::clone(&view.segment),
                size: view.size,
                index_bytes: view.index_bytes,
                immutable: view.immutable,
            })
            .collect();
        let known = Known {
            segments,
            index: self.current_index(),
            live_keys: Arc::clone(&self.live_keys.lock()),
        };
        plan(&known)
    }

    // ---- This process's own segments (called by the writer, under its lock)

    /// Records a change in the journal, if a rebuild runs. Called with the index read lock held,
    /// so that the change is either in the index the rebuild replaces (and journaled) or made
    /// to the new one.
    fn journal(&self, change: impl FnOnce() -> Change) {
        if let Some(journal) = &mut self.segments.lock().journal {
            journal.push(change());
        }
    }

    /// This process started appending to `segment`, now `size` bytes long.
    pub fn own_segment_started(&self, segment: &Arc<Segment>, size: u64) {
        let _index = self.index.read();
        let mut segments = self.segments.lock();
        segments
            .views
            .insert(segment.name.clone(), SegmentView::own(segment, size));
        if let Some(journal) = &mut segments.journal {
            journal.push(Change::Started {
                segment: Arc::clone(segment),
                size,
            });
        }
    }

    /// This process appended the records of `entries` to `segment`, which now ends at `end`.
    /// Puts are indexed at once; touches only raise access times this index already has.
    pub fn own_appended(&self, segment: &Arc<Segment>, entries: &[IndexEntry], end: u64) {
        let index = self.index.read();
        for entry in entries {
            if entry.kind == RecordKind::Put {
                index.apply_put(segment, entry);
            }
        }
        let mut segments = self.segments.lock();
        if let Some(view) = segments.views.get_mut(&segment.name) {
            view.size = end;
            view.scanned_to = end;
        }
        if let Some(journal) = &mut segments.journal {
            journal.push(Change::Appended {
                segment: Arc::clone(segment),
                entries: entries.to_vec(),
                end,
            });
        }
    }

    /// This process finished the segment `name`: others may read it as finished now.
    pub fn own_segment_finished(&self, name: &str) {
        let _index = self.index.read();
        let mut segments = self.segments.lock();
        if let Some(view) = segments.views.get_mut(name) {
            view.own = false;
            view.immutable = true;
        }
        if let Some(journal) = &mut segments.journal {
            journal.push(Change::Finished {
                name: name.to_owned(),
            });
        }
    }

    /// The index of segment `name` was written (`index_bytes` long).
    pub fn segment_indexed(&self, name: &str, index_bytes: u64) {
        let _index = self.index.read();
        let mut segments = self.segments.lock();
        if let Some(view) = segments.views.get_mut(name) {
            view.index_bytes = index_bytes;
        }
        if let Some(journal) = &mut segments.journal {
            journal.push(Change::Indexed {
                name: name.to_owned(),
                index_bytes,
            });
        }
    }

    // ---- Rebuild

    /// Reads every segment into a new index and swaps it in (keeping access times this process
    /// knew). `repair`: the caller holds the compaction lock, so torn tails of dead writers may
    /// be cut and missing index files written.
    ///
    /// # Errors
    /// The directory cannot be listed (the current index stays).
    pub fn rebuild(&self, repair: bool, own: &dyn OwnSegmentSource) -> Result<(), DiskCacheError> {
        let mut listing = self.listing.lock();
        let own = own.own_segments(&mut || self.segments.lock().journal = Some(Vec::new()));
        match self.load_everything(repair, &own) {
            Ok((rebuilt, began)) => {
                drop(own);
                self.install(rebuilt);
                *listing = began;
                Ok(())
            }
            Err(err) => {
                self.segments.lock().journal = None;
                Err(err)
            }
        }
    }

    /// Lists and reads every segment: this process's own from `own` (and what it started since,
    /// from the journal), the others from disk. Holds no lock but `listing`.
    fn load_everything(
        &self,
        repair: bool,
        own: &OwnSegments,
    ) -> Result<(Rebuilt, Option<Listing>), DiskCacheError> {
        let began = (wall_clock_ns(), Instant::now());
        let mtime = platform::modified_ns(self.cx.path()).ok();
        let (names, _) = load::list(&self.cx)?;
        let own_finished: HashMap<&str, &OwnFinished> = own
            .finished
            .iter()
            .map(|finished| (finished.segment.name.as_str(), finished))
            .collect();
        let (own_names, known) = {
            let segments = self.segments.lock();
            let mut own_names: HashSet<String> = own_finished
                .keys()
                .map(|name| (*name).to_owned())
                .chain(own.active.iter().map(|active| active.segment.name.clone()))
                .collect();
            for change in segments.journal.iter().flatten() {
                if let Change::Started { segment, .. } = change {
                    own_names.insert(segment.name.clone());
                }
            }
            // Never this process's own descriptors: probing a lock through one would release it.
            let known: HashMap<String, Arc<Segment>> = segments
                .views
                .iter()
                .filter(|(name, view)| !view.own && !own_names.contains(*name))
                .map(|(name, view)| (name.clone(), Arc::clone(&view.segment)))
                .collect();
            (own_names, known)
        };

        enum Part<'a> {
            Disk(Loaded),
            Memory(&'a OwnFinished, &'a Entries),
        }
        let mut parts = Vec::with_capacity(names.len());
        for name in &names {
            if let Some(finished) = own_finished.get(name.as_str()) {
                match &finished.entries {
                    Some(entries) => parts.push(Part::Memory(finished, entries)),
                    None => parts.extend(
                        load::load_segment(
                            &self.cx,
                            name,
                            Some(Arc::clone(&finished.segment)),
                            repair,
                            false,
                        )
                        .map(Part::Disk),
                    ),
                }
            } else if !own_names.contains(name) {
                parts.extend(
                    load::load_segment(&self.cx, name, known.get(name).cloned(), repair, true)
                        .map(Part::Disk),
                );
            }
        }

        let total = parts
            .iter()
            .map(|part| match part {
                Part::Disk(loaded) => loaded.entries.len(),
                Part::Memory(_, entries) => entries.len(),
            })
            .sum::<usize>()
            + own.active.as_ref().map_or(0, |active| active.entries.len());
        let mut rebuilt = Rebuilt {
            index: Index::with_capacity(total),
            views: HashMap::with_capacity(parts.len() + 1),
            live_keys: HashSet::new(),
        };
        let mut touches = Vec::new();
        for part in parts {
            match part {
                Part::Disk(loaded) => {
                    apply(
                        |entry| rebuilt.index.apply_put_unshared(&loaded.segment, entry),
                        &loaded.entries,
                        &mut touches,
                    );
                    if !loaded.immutable {
                        rebuilt.live_keys.extend(
                            loaded
                                .entries
                                .iter()
                                .filter(|entry| entry.kind == RecordKind::Put)
                                .map(|entry| entry.key),
                        );
                    }
                    rebuilt
                        .views
                        .insert(loaded.segment.name.clone(), SegmentView::loaded(&loaded));
                }
                Part::Memory(finished, entries) => {
                    apply(
                        |entry| rebuilt.index.apply_put_unshared(&finished.segment, entry),
                        entries.iter(),
                        &mut touches,
                    );
                    rebuilt.views.insert(
                        finished.segment.name.clone(),
                        SegmentView {
                            segment: Arc::clone(&finished.segment),
                            scanned_to: finished.end,
                            size: finished.end,
                            index_bytes: finished.index_bytes,
                            immutable: true,
                            own: false,
                        },
                    );
                }
            }
        }
        // This process's own records go last: of two records with the same stamp, its own
        // wins.
        if let Some(active) = &own.active {
            apply(
                |entry| rebuilt.index.apply_put_unshared(&active.segment, entry),
                active.entries.iter(),
                &mut touches,
            );
            rebuilt.views.insert(
                active.segment.name.clone(),
                SegmentView::own(&active.segment, active.end),
            );
        }
        apply_touches(&rebuilt.index, &touches);
        self.cx.clock().observe(rebuilt.index.max_stamp());
        let listing = mtime.map(|mtime| Listing::began(mtime, began.0, began.1));
        Ok((rebuilt, listing))
    }

    /// Swaps a rebuilt index in (see the module documentation).
    fn install(&self, rebuilt: Rebuilt) {
        let Rebuilt {
            index,
            mut views,
            live_keys,
        } = rebuilt;
        // Access times read so far, while both indexes are readable (nothing to carry on the
        // first load, whose walk over every entry would be a fifth of an open's time).
        let current = self.current_index();
        if current.len() > 0 {
            index.carry_access_from(&current);
        }
        // Catch up with the journal outside the swap's locks while it is long.
        loop {
            let batch = {
                let mut segments = self.segments.lock();
                match &mut segments.journal {
                    Some(journal) if journal.len() > JOURNAL_TAIL => std::mem::take(journal),
                    _ => break,
                }
            };
            replay(&index, &mut views, batch);
        }
        let index = Arc::new(index);
        let (old_index, old_views, old_live_keys) = {
            let mut slot = self.index.write();
            let mut segments = self.segments.lock();
            let tail = segments.journal.take().unwrap_or_default();
            replay(&index, &mut views, tail);
            let old_views = std::mem::replace(&mut segments.views, views);
            drop(segments);
            let old_index = std::mem::replace(&mut *slot, Arc::clone(&index));
            drop(slot);
            let old_live_keys = std::mem::replace(&mut *self.live_keys.lock(), Arc::new(live_keys));
            (old_index, old_views, old_live_keys)
        };
        #[cfg(test)]
        super::test_hooks::pause(super::test_hooks::Pause::IndexReplaced, "");
        // Reads recorded on the old index since the first pass.
        index.carry_access_from(&old_index);
        // Freeing an index of a million entries takes milliseconds: outside every lock.
        drop((old_index, old_views, old_live_keys));
    }

    // ---- Refresh

    /// Picks up what other processes wrote since the last look (see the module documentation).
    /// Cheap when nothing changed: one `stat` of the directory plus one `fstat` per segment
    /// another live process is appending to (and a listing of the directory when its mtime
    /// cannot be trusted yet: see [`Listing`]). Never waits for another refresh or a rebuild:
    /// then it does nothing.
    pub fn refresh(&self) -> Refreshed {
        let Some(mut listing) = self.listing.try_lock() else {
            return Refreshed::Unchanged;
        };
        let began = (wall_clock_ns(), Instant::now());
        let Ok(mtime) = platform::modified_ns(self.cx.path()) else {
            return Refreshed::Unchanged;
        };
        let mut changed = false;
        if listing.map_or(true, |listing| listing.stale(mtime, began.1)) {
            let Ok((names, _)) = load::list(&self.cx) else {
                return Refreshed::Unchanged;
            };
            let (added, removed) = {
                let segments = self.segments.lock();
                let listed: HashSet<&String> = names.iter().collect();
                let added: Vec<String> = names
                    .iter()
                    .filter(|name| !segments.views.contains_key(*name))
                    .cloned()
                    .collect();
                let removed = segments
                    .views
                    .iter()
                    .any(|(name, view)| !view.own && !listed.contains(name));
                (added, removed)
            };
            if removed {
                return Refreshed::Rebuild;
            }
            let loaded: Vec<Loaded> = added
                .iter()
                .filter_map(|name| load::load_segment(&self.cx, name, None, false, true))
                .collect();
            if !loaded.is_empty() {
                let index = self.index.read();
                let mut touches = Vec::new();
                for loaded in &loaded {
                    changed |= !loaded.entries.is_empty();
                    apply(
                        |entry| index.apply_put(&loaded.segment, entry),
                        &loaded.entries,
                        &mut touches,
                    );
                }
                apply_touches(&index, &touches);
                self.cx.clock().observe(index.max_stamp());
                drop(index);
                let mut segments = self.segments.lock();
                for loaded in &loaded {
                    // A segment this process has just started is its own, not another's.
                    segments
                        .views
                        .entry(loaded.segment.name.clone())
                        .or_insert_with(|| SegmentView::loaded(loaded));
                }
            }
            *listing = Some(Listing::began(mtime, began.0, began.1));
        }
        if self.scan_live_tails() || changed {
            Refreshed::Changed
        } else {
            Refreshed::Unchanged
        }
    }

    /// Indexes records other live writers appended since the last look.
    fn scan_live_tails(&self) -> bool {
        let live: Vec<(Arc<Segment>, u64)> = self
            .segments
            .lock()
            .views
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
            if let Some(scan) = &scan {
                changed |= !scan.entries.is_empty();
                let index = self.index.read();
                let mut touches = Vec::new();
                apply(
                    |entry| index.apply_put(&segment, entry),
                    &scan.entries,
                    &mut touches,
                );
                apply_touches(&index, &touches);
                self.cx.clock().observe(index.max_stamp());
            }
            if let Some(view) = self.segments.lock().views.get_mut(&segment.name) {
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

/// Applies journaled changes to a rebuilt index and its segment views.
fn replay(index: &Index, views: &mut HashMap<String, SegmentView>, changes: Vec<Change>) {
    let mut touches = Vec::new();
    for change in changes {
        match change {
            Change::Started { segment, size } => {
                views.insert(segment.name.clone(), SegmentView::own(&segment, size));
            }
            Change::Appended {
                segment,
                entries,
                end,
            } => {
                apply(
                    |entry| index.apply_put(&segment, entry),
                    &entries,
                    &mut touches,
                );
                if let Some(view) = views.get_mut(&segment.name) {
                    view.size = end;
                    view.scanned_to = end;
                }
            }
            Change::Finished { name } => {
                if let Some(view) = views.get_mut(&name) {
                    view.own = false;
                    view.immutable = true;
                }
            }
            Change::Indexed { name, index_bytes } => {
                if let Some(view) = views.get_mut(&name) {
                    view.index_bytes = index_bytes;
                }
            }
            Change::Dropped {
                key,
                segment,
                offset,
            } => index.remove_if_at(&key, &segment, offset),
        }
    }
    apply_touches(index, &touches);
}

/// Applies the puts of `entries` (records of `segment`) and sets their touches aside.
fn apply<'a>(
    mut apply_put: impl FnMut(&IndexEntry),
    entries: impl IntoIterator<Item = &'a IndexEntry>,
    touches: &mut Vec<IndexEntry>,
) {
    for entry in entries {
        match entry.kind {
            RecordKind::Put => apply_put(entry),
            RecordKind::Touch => touches.push(*entry),
        }
    }
}

/// Touches go last: they only raise the access time of keys already indexed.
fn apply_touches(index: &Index, touches: &[IndexEntry]) {
    for touch in touches {
        index.apply_touch(&touch.key, touch.access);
    }
}
