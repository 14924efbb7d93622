//! [`DiskCache`]: puts, gets and flushes over the segment files.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

use super::dir::{Access, StoreDir};
use super::format::{self, IndexEntry, RecordHeader, RecordKind, RECORD_HEADER_LEN};
use super::index::Index;
use super::segment::{self, Segment};
use super::view::Listing;
use super::{DiskCacheError, DiskCacheOptions};
use crate::diagnostics::Throttle;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{
    Counter, LatencyHistogram, LatencySummary, MetricsRecorder, Op, PipelineCacheMetrics,
};
use crate::platform;
use crate::store::{Lookup, PipelineCacheStore, PutError};

/// A multi-process, crash-safe, size-bounded store of blobs in one directory.
///
/// Thread-safe (`Send + Sync`); any number of processes may open the same directory. `put`
/// appends without syncing (one `pwritev`; errors are returned by `try_put` and counted);
/// `flush` makes every put accepted before it durable; `get` returns exactly the bytes put,
/// verified against their BLAKE3, or `None`. Entries flushed by another process become visible
/// to `get` here: a miss re-checks the directory (a `stat`, plus a scan of whatever other
/// writers appended).
///
/// Over budget, a background thread compacts (see [`DiskCacheOptions::max_bytes`]); while the
/// directory stays above the budget plus an eighth, puts are refused with
/// [`PutError::Dropped`]. Dropping the handle writes this session's recency and finishes its
/// segment, without syncing: only `flush` makes things durable.
///
/// A handle may be used on both sides of `fork()` (without exec): the child process opens the
/// store anew on its first call and is then one more writer with a segment of its own; what it
/// inherited is never touched (the parent still appends to its segment and holds its locks
/// through descriptors the child shares). Forking such a child again while another of its
/// threads is inside a call on this handle is not supported.
pub struct DiskCache {
    inner: Arc<Inner>,
    /// [`platform::fork_generation`] when `inner` was opened.
    generation: u64,
    /// In a process forked since: the store opened anew there, with the generation it was
    /// opened in.
    forked: Mutex<Option<(u64, Arc<Inner>)>>,
}

/// The state a handle works on in this process.
enum Current<'a> {
    /// The one it was opened with.
    Opened(&'a Arc<Inner>),
    /// The one opened anew after a fork.
    Forked(Arc<Inner>),
}

impl std::ops::Deref for Current<'_> {
    type Target = Arc<Inner>;

    fn deref(&self) -> &Arc<Inner> {
        match self {
            Current::Opened(inner) => inner,
            Current::Forked(inner) => inner,
        }
    }
}

/// What `flush` has and has not made durable, and what the store holds on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurabilityReport {
    /// Puts accepted and not yet covered by a successful flush.
    pub unflushed_puts: u64,
    /// Payload bytes of those puts.
    pub unflushed_bytes: u64,
    /// Flushes that succeeded.
    pub flushes_ok: u64,
    /// Flushes that failed.
    pub flushes_failed: u64,
    /// Puts a failed flush could not make durable. They are not retried: a later successful
    /// flush covers only puts accepted after the failure.
    pub lost_puts: u64,
    /// I/O errors met anywhere (puts, flushes, compactions, scans).
    pub io_errors: u64,
    /// The most recent I/O error, as text.
    pub last_error: Option<String>,
    /// Bytes of segment and index files known on disk.
    pub disk_bytes: u64,
    /// Segment files known.
    pub segments: u64,
    /// Compactions completed by this process.
    pub compactions: u64,
    /// How long those compactions took.
    pub compaction_latency: LatencySummary,
}

/// Sizes derived from the options.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub max_bytes: u64,
    pub max_entry_bytes: u64,
    /// Compaction evicts down to this.
    pub low_water: u64,
    /// Puts are refused while this process sees the directory above this (compaction behind).
    pub hard_limit: u64,
    /// A writer starts a new segment past this size.
    pub segment_target: u64,
    /// A writer re-checks the directory's total after appending this much.
    pub check_interval: u64,
}

impl Limits {
    fn new(options: &DiskCacheOptions) -> Self {
        let max_bytes = options.max_bytes.max(1);
        Self {
            max_bytes,
            max_entry_bytes: options.max_entry_bytes.min(max_bytes / 4),
            low_water: max_bytes / 2,
            hard_limit: max_bytes.saturating_add(max_bytes / 8),
            segment_target: (max_bytes / 16).clamp(64 << 10, 64 << 20),
            check_interval: (max_bytes / 64).clamp(16 << 10, 16 << 20),
        }
    }
}

/// The segment this process appends to.
pub(super) struct ActiveSegment {
    pub segment: Arc<Segment>,
    pub end: u64,
    /// Writeback has been started up to here.
    pub writeback_started: u64,
    pub entries: Vec<IndexEntry>,
}

/// A segment this process finished appending to and has not flushed since.
pub(super) struct FinishedSegment {
    pub segment: Arc<Segment>,
    /// This process holds a shared lock on it (what its exclusive one became) until a flush has
    /// synced it: no compaction can claim it meanwhile, so a flush that finds it gone knows its
    /// records were lost, not copied. False once this process's own compaction took it, or if
    /// the lock could not be kept.
    pub pinned: bool,
}

/// Writer-side state, under one mutex: appends are serialised within a process.
#[derive(Default)]
pub(super) struct WriterState {
    pub active: Option<ActiveSegment>,
    /// Segments finished since the last flush, whose data still needs an `fdatasync`.
    pub finished: Vec<FinishedSegment>,
    /// A file was created since the last flush: the directory needs an `fsync`.
    pub dir_dirty: bool,
    pub unflushed_puts: u64,
    pub unflushed_bytes: u64,
    pub appended_since_check: u64,
}

/// How this process sees one segment file.
pub(super) struct SegmentView {
    pub segment: Arc<Segment>,
    /// Records up to here are indexed.
    pub scanned_to: u64,
    /// File size last seen.
    pub size: u64,
    /// Index file size (0 if none).
    pub index_bytes: u64,
    /// Nobody appends to it any more.
    pub immutable: bool,
    /// This process's active segment (indexed as it is written).
    pub own: bool,
}

/// Everything readers look at, under one read-write lock.
#[derive(Default)]
pub(super) struct State {
    pub index: Index,
    pub segments: HashMap<String, SegmentView>,
    /// Keys with a record in another process's live segment, as of the last rebuild. Compaction
    /// never evicts the newest version of these: the older one would come back.
    pub live_keys: HashSet<PipelineFingerprint>,
}

impl State {
    pub fn disk_bytes(&self) -> u64 {
        self.segments
            .values()
            .map(|view| view.size + view.index_bytes)
            .sum()
    }
}

#[derive(Default)]
pub(super) struct Stats {
    pub flushes_ok: u64,
    pub flushes_failed: u64,
    pub lost_puts: u64,
    pub io_errors: u64,
    pub last_error: Option<String>,
    pub compactions: u64,
}

pub(super) struct Inner {
    pub root: PathBuf,
    /// The opened store directory; replaced only when `root` stops leading to it (deleted and
    /// re-created underneath), see `Inner::current_dir`.
    pub dir: RwLock<Arc<StoreDir>>,
    pub options: DiskCacheOptions,
    pub limits: Limits,
    pub metrics: MetricsRecorder,
    pub state: RwLock<State>,
    pub writer: Mutex<WriterState>,
    /// Serialises flushes: a flush must not return while an earlier one still syncs segments it
    /// took off the list (puts in them were accepted before the later call too).
    pub flushing: Mutex<()>,
    /// Serialises directory refreshes; holds what the last listing saw.
    pub refresh: Mutex<Option<Listing>>,
    pub stats: Mutex<Stats>,
    pub clock: AtomicU64,
    pub maintenance_running: AtomicBool,
    pub compaction_latency: LatencyHistogram,
}

impl DiskCache {
    /// Opens (creating it, mode 0700, if needed) the store in `root` with default options.
    ///
    /// # Errors
    /// As [`DiskCache::with_options`].
    pub fn new(root: impl AsRef<Path>) -> Result<Self, DiskCacheError> {
        Self::with_options(root, DiskCacheOptions::default())
    }

    /// Opens the store in `root`.
    ///
    /// Uses only a directory of this user's that nobody else may write in, reached through no
    /// other user's symlink, and that is a pcstore store: it has the marker `pcstore.tag`, or is
    /// new, empty, or holds nothing but pcstore's own file names (a store of an earlier
    /// release); a writable open then adds the marker. FORMAT.md has the rules.
    ///
    /// Repairs what crashes leave, touching only its own files: removes stale temp files,
    /// truncates torn tails of segments whose writer is gone, deletes segments whose header is
    /// damaged. Segments of other format versions and other users' files are left alone.
    /// Damaged contents never make opening fail.
    ///
    /// # Errors
    /// [`DiskCacheError::DirectoryRefused`] if the directory is not one pcstore may use (nothing
    /// in it is touched); [`DiskCacheError::Io`] if it cannot be created, opened or listed.
    pub fn with_options(
        root: impl AsRef<Path>,
        options: DiskCacheOptions,
    ) -> Result<Self, DiskCacheError> {
        let root = root.as_ref().to_path_buf();
        let access = if options.read_only {
            Access::ReadOnly
        } else {
            Access::Write
        };
        let (dir, marker_error) = StoreDir::open(&root, access)?;
        let inner = Arc::new(Inner {
            dir: RwLock::new(Arc::new(dir)),
            limits: Limits::new(&options),
            root,
            options,
            metrics: MetricsRecorder::new(),
            state: RwLock::new(State::default()),
            writer: Mutex::new(WriterState::default()),
            flushing: Mutex::new(()),
            refresh: Mutex::new(None),
            stats: Mutex::new(Stats::default()),
            clock: AtomicU64::new(0),
            maintenance_running: AtomicBool::new(false),
            compaction_latency: LatencyHistogram::new(),
        });
        if let Some(err) = marker_error {
            inner.record_error(&err);
        }
        inner.open()?;
        log::debug!(
            target: "pcstore::disk",
            "{}: opened{}, {} entries",
            inner.root.display(),
            if inner.options.read_only { " read-only" } else { "" },
            inner.state.read().index.len()
        );
        Ok(Self {
            inner,
            generation: platform::fork_generation(),
            forked: Mutex::new(None),
        })
    }

    /// The state this process works on: the one the handle was opened with, or, in a process
    /// forked since, the store opened anew there (on its first call). A forked process never
    /// touches what it inherited: the other process appends to its segment and holds its locks
    /// through descriptors shared with this one (appending, unlocking or probing through them
    /// would overwrite its records or drop its locks), and its other threads may have held this
    /// handle's mutexes at the instant of the fork (they would never be released here).
    fn current(&self) -> Result<Current<'_>, DiskCacheError> {
        let generation = platform::fork_generation();
        if generation == self.generation {
            return Ok(Current::Opened(&self.inner));
        }
        let mut forked = self.forked.lock();
        if let Some((opened_in, inner)) = &*forked {
            if *opened_in == generation {
                return Ok(Current::Forked(Arc::clone(inner)));
            }
        }
        let reopened = Self::with_options(&self.inner.root, self.inner.options.clone())?;
        let inner = Arc::clone(&reopened.inner);
        drop(reopened); // unused: closing it writes nothing
        *forked = Some((generation, Arc::clone(&inner)));
        Ok(Current::Forked(inner))
    }

    /// Like [`Self::current`], but `None` in a forked process that has not used the store.
    fn current_if_used(&self) -> Option<Current<'_>> {
        let generation = platform::fork_generation();
        if generation == self.generation {
            return Some(Current::Opened(&self.inner));
        }
        match &*self.forked.lock() {
            Some((opened_in, inner)) if *opened_in == generation => {
                Some(Current::Forked(Arc::clone(inner)))
            }
            _ => None,
        }
    }

    /// Opens the per-user store: `$PCSTORE_DIR`, else `$XDG_CACHE_HOME/pcstore`, else
    /// `$HOME/.cache/pcstore` (an empty variable counts as unset).
    pub fn in_user_cache() -> Result<Self, DiskCacheError> {
        Self::new(crate::config::user_cache_dir().ok_or(DiskCacheError::NoCacheDirectory)?)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// What is durable and what is not, and what the store holds on disk. (In a forked process
    /// that could not open the store anew: only that error.)
    pub fn durability_report(&self) -> DurabilityReport {
        match self.current() {
            Ok(inner) => inner.durability_report(),
            Err(err) => DurabilityReport {
                io_errors: 1,
                last_error: Some(err.to_string()),
                ..DurabilityReport::default()
            },
        }
    }

    /// Compacts now on this thread (waiting up to 10 s for another process's compaction to
    /// finish, else returning `Ok` without doing anything): evicts least recently used entries
    /// down to half the budget if the store is over it, and reclaims the space of superseded and
    /// evicted records in finished segments either way. What it keeps is synced. Segments
    /// another process finished but has not flushed yet are left for a later compaction. Errors:
    /// [`DiskCacheError::ReadOnly`], or the I/O error that stopped it (nothing is lost: old
    /// segments are deleted only after their survivors are synced).
    pub fn compact(&self) -> Result<(), DiskCacheError> {
        self.current()?.compact(true)
    }

    /// The keys of every entry the store holds, in no particular order (for tools that list or
    /// export it), after picking up what other processes flushed since the last look.
    pub fn keys(&self) -> Vec<PipelineFingerprint> {
        // In a forked child the store is opened anew there (see `current`); if that fails, the
        // child sees nothing rather than touching what it inherited.
        let Ok(inner) = self.current() else {
            return Vec::new();
        };
        inner.refresh_if_changed(false);
        let keys = inner
            .state
            .read()
            .index
            .iter()
            .map(|(key, _)| *key)
            .collect();
        keys
    }

    /// Reads `key` as `get` does (verified; a corrupt record is dropped and counted) but as an
    /// inspection, not a use: its recency is left alone, so a tool reading every entry does not
    /// make them all look hot to eviction, and no lookup is counted.
    pub fn peek(&self, key: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.current().ok()?.read(key, false, &mut false)
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub(super) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("root", &self.inner.root)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// A timestamp (ns since the epoch), strictly increasing within this process: version stamps
    /// and access times.
    pub fn tick(&self) -> u64 {
        let now = wall_clock_ns();
        let previous = self
            .clock
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last.saturating_add(1)))
            })
            .unwrap_or(0);
        now.max(previous.saturating_add(1))
    }

    pub fn record_error(&self, err: &dyn std::fmt::Display) {
        log::warn!(target: "pcstore::disk", "{}: {err}", self.root.display());
        let mut stats = self.stats.lock();
        stats.io_errors += 1;
        stats.last_error = Some(err.to_string());
    }

    fn durability_report(&self) -> DurabilityReport {
        let (unflushed_puts, unflushed_bytes) = {
            let writer = self.writer.lock();
            (writer.unflushed_puts, writer.unflushed_bytes)
        };
        let (disk_bytes, segments) = {
            let state = self.state.read();
            (state.disk_bytes(), state.segments.len() as u64)
        };
        let stats = self.stats.lock();
        DurabilityReport {
            unflushed_puts,
            unflushed_bytes,
            flushes_ok: stats.flushes_ok,
            flushes_failed: stats.flushes_failed,
            lost_puts: stats.lost_puts,
            io_errors: stats.io_errors,
            last_error: stats.last_error.clone(),
            disk_bytes,
            segments,
            compactions: stats.compactions,
            compaction_latency: self.compaction_latency.summary(),
        }
    }

    /// Reads and verifies the newest known record of `key`; `touch`: count it as a use for
    /// eviction. Sets `damaged` when a record was found and dropped because it failed
    /// verification (what [`Lookup::Corrupt`] reports).
    fn read(&self, key: &PipelineFingerprint, touch: bool, damaged: &mut bool) -> Option<Vec<u8>> {
        let (segment, offset, len) = {
            let state = self.state.read();
            let location = state.index.get(key)?;
            // Recency only: wall-clock time is enough, and a plain store (when it moves
            // forward) keeps a hit free of read-modify-write on shared lines.
            let now = wall_clock_ns();
            if touch && now > location.access.load(Ordering::Relaxed) {
                location.access.store(now, Ordering::Relaxed);
            }
            (
                Arc::clone(&location.segment),
                location.offset,
                location.payload_len,
            )
        };
        if len > self.limits.max_entry_bytes {
            // Larger than anything this store accepts (written by a store with a larger limit, or
            // crafted): not worth the memory, and never an allocation sized by a file's claim.
            return None;
        }
        let mut head = [0u8; RECORD_HEADER_LEN];
        let mut body = segment::payload_buffer(len)?;
        let verified =
            match platform::read_two_exact_at(&segment.file, &mut head, &mut body, offset) {
                Ok(()) => RecordHeader::decode_unchecked(&head).is_some_and(|header| {
                    header.kind == RecordKind::Put
                        && header.key == *key
                        && header.payload_len == len
                        && blake3::hash(&body).as_bytes() == &header.payload_hash
                }),
                Err(err) => {
                    self.record_error(&err);
                    false
                }
            };
        if verified {
            return Some(body);
        }
        *damaged = true;
        log::warn!(
            target: "pcstore::disk",
            "{}: dropped a damaged entry ({key}) in segment {}",
            self.root.display(),
            segment.name
        );
        self.metrics.inc(Counter::CorruptDropped);
        self.state.write().index.remove_if_at(key, &segment, offset);
        None
    }

    /// A counted lookup; `damaged` as in [`Self::read`] (a newer record another process
    /// flushed still wins).
    fn get(self: &Arc<Self>, key: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        // Every disk lookup is timed: next to a pread and a hash pass the clock costs little.
        let probe = self.metrics.start_get_timed();
        let mut found = self.read(key, true, damaged);
        if found.is_none() && self.refresh_if_changed(true) {
            found = self.read(key, true, damaged);
        }
        self.metrics
            .record_lookup(probe, found.as_ref().map(Vec::len));
        found
    }

    fn put(self: &Arc<Self>, key: PipelineFingerprint, bytes: &[u8]) -> Result<(), PutError> {
        let start = Instant::now();
        let result = self.append(key, bytes);
        match &result {
            Ok(()) => self.metrics.put_accepted(bytes.len()),
            Err(_) => self.metrics.inc(Counter::RejectedPuts),
        }
        self.metrics.record_latency(Op::Put, start.elapsed());
        result
    }

    fn append(self: &Arc<Self>, key: PipelineFingerprint, bytes: &[u8]) -> Result<(), PutError> {
        if self.options.read_only {
            return Err(PutError::ReadOnly);
        }
        let len = bytes.len() as u64;
        if len > self.limits.max_entry_bytes {
            return Err(PutError::TooLarge {
                len,
                max: self.limits.max_entry_bytes,
            });
        }
        let record_len = RECORD_HEADER_LEN as u64 + len;
        if self.state.read().disk_bytes() + record_len > self.limits.hard_limit {
            // Compaction has fallen behind the writers: dropping a cache entry costs a
            // recompile later; growing past the budget would break the promise to the user.
            static OVER_BUDGET: Throttle = Throttle::new();
            if let Some(unreported) = OVER_BUDGET.permit() {
                log::warn!(
                    target: "pcstore::disk",
                    "{}: puts dropped until compaction brings the store under its budget \
                     ({unreported} more since the last report)",
                    self.root.display()
                );
            }
            self.start_maintenance();
            return Err(PutError::Dropped("over budget until compaction catches up"));
        }
        let payload_hash = *blake3::hash(bytes).as_bytes();
        let mut writer = self.writer.lock();
        if let Err(err) = self.ensure_active(&mut writer) {
            self.record_error(&err);
            return Err(into_put_error(err));
        }
        let stamp = self.tick();
        let header = RecordHeader {
            kind: RecordKind::Put,
            payload_len: len,
            key,
            payload_hash,
            stamp,
            access: stamp,
        };
        let active = writer.active.as_mut().expect("ensure_active made one");
        let offset = active.end;
        if let Err(err) =
            platform::write_two_all_at(&active.segment.file, &header.encode(), bytes, offset)
        {
            // Cut the partial record off; if even that fails, stop appending to this file.
            if active.segment.file.set_len(offset).is_err() {
                self.finish_active(&mut writer);
            }
            self.record_error(&err);
            return Err(PutError::Io(err));
        }
        active.end += record_len;
        if active.end - active.writeback_started >= WRITEBACK_CHUNK {
            // Let the disk start on it now: the next flush then waits for less.
            let _ = platform::start_writeback(
                &active.segment.file,
                active.writeback_started,
                active.end - active.writeback_started,
            );
            active.writeback_started = active.end;
        }
        let entry = IndexEntry {
            kind: RecordKind::Put,
            key,
            offset,
            payload_len: len,
            stamp,
            access: stamp,
        };
        active.entries.push(entry);
        let segment = Arc::clone(&active.segment);
        writer.unflushed_puts += 1;
        writer.unflushed_bytes += len;
        writer.appended_since_check += record_len;
        let over_budget = {
            let mut state = self.state.write();
            state.index.apply_put(&segment, &entry);
            if let Some(view) = state.segments.get_mut(&segment.name) {
                view.size += record_len;
                view.scanned_to = view.size;
            }
            state.disk_bytes() > self.limits.max_bytes
        };
        let check_due = writer.appended_since_check >= self.limits.check_interval;
        if over_budget || check_due {
            writer.appended_since_check = 0;
            drop(writer);
            self.start_maintenance();
        }
        Ok(())
    }

    /// Makes sure there is an active segment with room, starting a new one if needed.
    fn ensure_active(&self, writer: &mut WriterState) -> Result<(), DiskCacheError> {
        if let Some(active) = &writer.active {
            if active.end < self.limits.segment_target {
                return Ok(());
            }
            self.finish_active(writer);
        }
        let dir = self.dir_for_writing()?;
        let segment = segment::create(&dir, self.tick())
            .map_err(|err| DiskCacheError::io("create segment", &self.root, err))?;
        let segment = Arc::new(segment);
        let end = format::SEGMENT_HEADER_LEN as u64;
        self.state.write().segments.insert(
            segment.name.clone(),
            SegmentView {
                segment: Arc::clone(&segment),
                scanned_to: end,
                size: end,
                index_bytes: 0,
                immutable: false,
                own: true,
            },
        );
        writer.active = Some(ActiveSegment {
            segment,
            end,
            writeback_started: 0,
            entries: Vec::new(),
        });
        writer.dir_dirty = true;
        Ok(())
    }

    /// Stops appending to the active segment: writes its index, turns its exclusive lock into
    /// a shared one (a pin: finished, but not to be deleted before the next flush syncs it), and
    /// leaves its data to be synced by that flush.
    pub fn finish_active(&self, writer: &mut WriterState) {
        let Some(active) = writer.active.take() else {
            return;
        };
        let index_bytes = match segment::write_index(&active.segment, active.end, &active.entries) {
            Ok(()) => {
                (format::INDEX_HEADER_LEN + format::INDEX_ENTRY_LEN * active.entries.len()) as u64
            }
            Err(err) => {
                self.record_error(&err);
                0
            }
        };
        // Nobody holds it exclusively any more: readers see it finished. Linux converts a flock
        // in place, so no compaction can claim it in between; elsewhere that may fail, and the
        // segment is then simply not pinned.
        let pinned = platform::try_lock_shared(&active.segment.file).unwrap_or(false);
        if !pinned {
            let _ = platform::unlock(&active.segment.file);
        }
        if let Some(view) = self.state.write().segments.get_mut(&active.segment.name) {
            view.own = false;
            view.immutable = true;
            view.index_bytes = index_bytes;
        }
        writer.finished.push(FinishedSegment {
            segment: active.segment,
            pinned,
        });
        writer.dir_dirty = true;
    }

    /// Forgets `segment` as finished-and-unflushed (synced, or counted lost), dropping its pin.
    fn release_finished(writer: &mut WriterState, segment: &Arc<Segment>) {
        writer.finished.retain(|finished| {
            let same = Arc::ptr_eq(&finished.segment, segment);
            if same && finished.pinned {
                let _ = platform::unlock(&finished.segment.file);
            }
            !same
        });
    }

    fn flush(&self) -> Result<(), DiskCacheError> {
        if self.options.read_only {
            return Ok(());
        }
        let _one_at_a_time = self.flushing.lock();
        let touches = self.state.read().index.take_unpersisted_touches();
        let mut writer = self.writer.lock();
        if !touches.is_empty() {
            if let Err(err) = self.append_touches(&mut writer, &touches) {
                // Recency is advisory: losing a batch costs eviction accuracy, not data.
                self.record_error(&err);
            }
        }
        let active = writer
            .active
            .as_ref()
            .map(|active| Arc::clone(&active.segment));
        // They stay listed (and pinned) while they are synced: see `still_in_place`.
        let finished: Vec<Arc<Segment>> = writer
            .finished
            .iter()
            .map(|finished| Arc::clone(&finished.segment))
            .collect();
        let dir_dirty = std::mem::take(&mut writer.dir_dirty);
        let covered = (
            std::mem::take(&mut writer.unflushed_puts),
            std::mem::take(&mut writer.unflushed_bytes),
        );
        drop(writer);

        let result = self.sync(active.as_deref(), &finished, dir_dirty);
        let mut stats = self.stats.lock();
        match &result {
            Ok(()) => stats.flushes_ok += 1,
            Err(err) => {
                stats.flushes_failed += 1;
                stats.lost_puts += covered.0;
                stats.io_errors += 1;
                stats.last_error = Some(err.to_string());
            }
        }
        drop(stats);
        let mut writer = self.writer.lock();
        // Synced, or counted lost: either way no pin is needed any more.
        for segment in &finished {
            Self::release_finished(&mut writer, segment);
        }
        if result.is_err() {
            // Never append to a file whose durability is in doubt: later puts go to a new
            // segment, so the next flush can succeed honestly.
            let same = match (&writer.active, &active) {
                (Some(current), Some(flushed)) => Arc::ptr_eq(&current.segment, flushed),
                _ => false,
            };
            if same {
                self.finish_active(&mut writer);
                Self::release_finished(&mut writer, active.as_ref().expect("same"));
            }
        }
        result
    }

    fn sync(
        &self,
        active: Option<&Segment>,
        finished: &[Arc<Segment>],
        dir_dirty: bool,
    ) -> Result<(), DiskCacheError> {
        for segment in finished {
            platform::sync_data(&segment.file)
                .map_err(|err| DiskCacheError::io("sync segment", &segment.path, err))?;
            if !self.still_in_place(segment) {
                return Err(DiskCacheError::DirectoryChanged {
                    path: segment.path.clone(),
                });
            }
        }
        if let Some(segment) = active {
            platform::sync_data(&segment.file)
                .map_err(|err| DiskCacheError::io("sync segment", &segment.path, err))?;
            if !self.still_in_place(segment) {
                return Err(DiskCacheError::DirectoryChanged {
                    path: segment.path.clone(),
                });
            }
        }
        if dir_dirty {
            platform::sync_dir(&self.root)
                .map_err(|err| DiskCacheError::io("sync directory", &self.root, err))?;
        }
        Ok(())
    }

    /// Whether what was written to `segment` is reachable by its name: the file is still there,
    /// or a compaction took it (copying what it kept) from the same directory. A compaction can
    /// take it only once this process neither appends to it nor pins it, so a segment gone
    /// while held was removed by something else (the directory deleted or replaced, a user):
    /// that fails this, as does a directory deleted or replaced underneath.
    fn still_in_place(&self, segment: &Segment) -> bool {
        let ours = platform::file_identity(&segment.file).ok();
        if ours.is_some() && platform::path_identity(&segment.path).ok() == ours {
            return true;
        }
        let writer = self.writer.lock();
        let appending = writer
            .active
            .as_ref()
            .is_some_and(|active| std::ptr::eq(&*active.segment, segment));
        let pinned = writer
            .finished
            .iter()
            .any(|finished| finished.pinned && std::ptr::eq(&*finished.segment, segment));
        drop(writer);
        !appending
            && !pinned
            && segment.dir_identity.is_some()
            && platform::path_identity(&self.root).ok() == segment.dir_identity
    }

    /// Appends the access times read since the last flush, in touch records of at most
    /// [`format::MAX_TOUCH_PAIRS`] pairs (what readers accept).
    fn append_touches(
        &self,
        writer: &mut WriterState,
        touches: &[(PipelineFingerprint, u64)],
    ) -> Result<(), DiskCacheError> {
        for batch in touches.chunks(format::MAX_TOUCH_PAIRS) {
            self.append_touch_record(writer, batch)?;
        }
        Ok(())
    }

    fn append_touch_record(
        &self,
        writer: &mut WriterState,
        touches: &[(PipelineFingerprint, u64)],
    ) -> Result<(), DiskCacheError> {
        self.ensure_active(writer)?;
        let payload = format::encode_touches(touches);
        let header = RecordHeader {
            kind: RecordKind::Touch,
            payload_len: payload.len() as u64,
            key: PipelineFingerprint::default(),
            payload_hash: *blake3::hash(&payload).as_bytes(),
            stamp: self.tick(),
            access: 0,
        };
        let active = writer.active.as_mut().expect("ensure_active made one");
        let offset = active.end;
        platform::write_two_all_at(&active.segment.file, &header.encode(), &payload, offset)
            .map_err(|err| {
                let _ = active.segment.file.set_len(offset);
                DiskCacheError::io("append touches", &active.segment.path, err)
            })?;
        active.end += header.record_len();
        active
            .entries
            .extend(touches.iter().map(|&(key, access)| IndexEntry {
                kind: RecordKind::Touch,
                key,
                offset: 0,
                payload_len: 0,
                stamp: 0,
                access,
            }));
        let name = active.segment.name.clone();
        let end = active.end;
        if let Some(view) = self.state.write().segments.get_mut(&name) {
            view.size = end;
            view.scanned_to = end;
        }
        Ok(())
    }

    fn snapshot(&self) -> PipelineCacheMetrics {
        let (bytes, entries) = {
            let state = self.state.read();
            (state.index.payload_bytes(), state.index.len() as u64)
        };
        self.metrics.snapshot(bytes, entries)
    }

    /// Runs a refresh and, if over budget, a compaction on a background thread, unless one is
    /// already running in this process.
    pub fn start_maintenance(self: &Arc<Self>) {
        if self.maintenance_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("pcstore-disk-compaction".into())
            .spawn(move || {
                inner.refresh_if_changed(false);
                let over = inner.state.read().disk_bytes() > inner.limits.max_bytes;
                let crowded = inner.immutable_segments() > MAX_FINISHED_SEGMENTS;
                if over || crowded {
                    if let Err(err) = inner.compact(false) {
                        inner.record_error(&err);
                    }
                }
                inner.maintenance_running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.maintenance_running.store(false, Ordering::Release);
        }
    }

    pub fn immutable_segments(&self) -> usize {
        self.state
            .read()
            .segments
            .values()
            .filter(|view| view.immutable)
            .count()
    }
}

/// Appended bytes after which writeback is started ahead of the next flush.
const WRITEBACK_CHUNK: u64 = 1 << 20;

/// Finished segments tolerated before a compaction merges them even under budget (each costs a
/// file read at open).
pub(super) const MAX_FINISHED_SEGMENTS: usize = 32;

/// The OS error itself where there is one (so callers see its errno); the report keeps the
/// context.
fn into_put_error(err: DiskCacheError) -> PutError {
    match err {
        DiskCacheError::Io { source, .. } => PutError::Io(source),
        other => PutError::Io(io::Error::from(other)),
    }
}

/// Closing finishes this process's segment at once (index written, lock released, no sync),
/// even while a background compaction still holds the shared state: a segment left locked
/// would look live to everyone and could not be compacted.
impl Drop for DiskCache {
    fn drop(&mut self) {
        let Some(inner) = self.current_if_used() else {
            return; // a forked process that never used the store: nothing of its own to close
        };
        if inner.options.read_only {
            return;
        }
        // Recency read since the last flush is written too (not synced), so eviction in the
        // next session knows what this one used.
        let touches = inner.state.read().index.take_unpersisted_touches();
        let mut writer = inner.writer.lock();
        if !touches.is_empty() {
            if let Err(err) = inner.append_touches(&mut writer, &touches) {
                inner.record_error(&err);
            }
        }
        inner.finish_active(&mut writer);
        // Closing claims no durability: compactions may take these segments now.
        for finished in writer.finished.drain(..) {
            if finished.pinned {
                let _ = platform::unlock(&finished.segment.file);
            }
        }
    }
}

impl PipelineCacheStore for DiskCache {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.current().ok()?.get(fp, &mut false)
    }

    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        self.current().ok()?.get(fp, &mut false).map(Arc::new)
    }

    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        let Ok(inner) = self.current() else {
            return Lookup::Miss;
        };
        let mut damaged = false;
        match inner.get(fp, &mut damaged) {
            Some(blob) => Lookup::Hit(Arc::new(blob)),
            None if damaged => Lookup::Corrupt,
            None => Lookup::Miss,
        }
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        if let Ok(inner) = self.current() {
            let _ = inner.put(fp, &artifact);
        }
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.current().map_err(into_put_error)?.put(fp, &artifact)
    }

    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        self.current().map_err(into_put_error)?.put(fp, &artifact)
    }

    fn flush(&self) -> io::Result<()> {
        let inner = self.current()?;
        let start = Instant::now();
        inner.metrics.inc(Counter::Flushes);
        let result = inner.flush();
        if result.is_err() {
            inner.metrics.inc(Counter::FlushErrors);
        }
        inner.metrics.record_latency(Op::Flush, start.elapsed());
        result.map_err(io::Error::from)
    }

    fn metrics(&self) -> PipelineCacheMetrics {
        self.current()
            .map(|inner| inner.snapshot())
            .unwrap_or_default()
    }
}
