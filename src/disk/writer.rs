//! This process's writer ([`Writer`]): appends, segment rotation, flushes, and the pins that
//! keep finished segments in place until they are synced.
//!
//! Appends are serialised within the process by one mutex over the writer's state. It is held
//! for one `pwritev` and the bookkeeping around it, never for work that grows with the store:
//! - a finished segment's index file is written later, off the putting thread (by the
//!   maintenance thread, or a compaction, or at close), from its entries kept in memory until
//!   then ([`EntryLog`]);
//! - writeback of appended data (`sync_file_range` every MiB, so the next flush finds little to
//!   write) is started on a thread of its own: landing on a compaction's `fdatasync`, that call
//!   blocks for tens of milliseconds.
//!
//! Pins: finishing a segment turns its exclusive lock into a shared one, and the writer keeps it
//! until a flush has synced the segment (or counted its puts lost). No compaction can take a
//! pinned segment, so a flush that finds one of its segments gone knows its records were lost,
//! not copied. A segment's entries are kept until its index is written; an index written for a
//! segment a compaction took meanwhile is removed again.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::context::StoreContext;
use super::entries::{Entries, EntryLog};
use super::error::DiskCacheError;
use super::format::{self, Encoding, IndexEntry, RecordHeader, RecordKind};
use super::segment::{self, Segment};
use super::view::{OwnActive, OwnFinished, OwnSegmentSource, OwnSegments, View};
use crate::fingerprint::PipelineFingerprint;
use crate::platform;
use crate::store::PutError;

/// Appended bytes after which writeback is started ahead of the next flush.
const WRITEBACK_CHUNK: u64 = 1 << 20;

/// This process's writer (see the module documentation).
pub struct Writer {
    cx: Arc<StoreContext>,
    state: Mutex<WriterState>,
    /// Serialises flushes: a flush must not return while an earlier one still syncs segments it
    /// took off the list (puts in them were accepted before the later call too).
    flushing: Mutex<()>,
    /// Serialises index writes (two threads would write the same index through one temp name).
    indexing: Mutex<()>,
    writeback: Writeback,
}

#[derive(Default)]
struct WriterState {
    active: Option<Active>,
    /// Segments finished and not yet both flushed and indexed.
    finished: Vec<Finished>,
    /// A file was created since the last flush: the directory needs an `fsync`.
    dir_dirty: bool,
    unflushed_puts: u64,
    unflushed_bytes: u64,
    appended_since_check: u64,
}

/// The segment this process appends to.
struct Active {
    segment: Arc<Segment>,
    end: u64,
    /// Writeback has been started up to here.
    writeback_started: u64,
    entries: EntryLog,
}

/// A segment this process finished appending to.
struct Finished {
    segment: Arc<Segment>,
    end: u64,
    /// This process holds a shared lock on it (what its exclusive one became). False once this
    /// process's own compaction took it, or if the lock could not be kept.
    pinned: bool,
    /// A flush has synced it, or counted its puts lost.
    flushed: bool,
    index: IndexFile,
}

/// A finished segment's index file.
enum IndexFile {
    /// Not written yet: the entries to write.
    Pending(Entries),
    /// Written, this long (0 if it could not be).
    Written(u64),
}

impl Writer {
    pub fn new(cx: Arc<StoreContext>) -> Self {
        Self {
            cx,
            state: Mutex::default(),
            flushing: Mutex::new(()),
            indexing: Mutex::new(()),
            writeback: Writeback::default(),
        }
    }

    /// Appends a put under `key` of `payload`, which holds a value whose BLAKE3 is
    /// `value_hash` as `encoding` says (the caller compressed it). Returns whether
    /// maintenance is due: a segment was finished (its index is to be written), the directory
    /// is over budget, or the writer appended a check interval's worth since the last check.
    ///
    /// # Errors
    /// The I/O error of creating a segment or of the write (the partial record is cut off).
    pub fn append_put(
        &self,
        view: &View,
        key: PipelineFingerprint,
        encoding: Encoding,
        payload: &[u8],
        value_hash: [u8; 32],
    ) -> Result<bool, PutError> {
        let mut state = self.state.lock();
        let rotated = match self.ensure_active(&mut state, view) {
            Ok(rotated) => rotated,
            Err(err) => {
                self.cx.record_error(&err);
                return Err(into_put_error(err));
            }
        };
        let stamp = self.cx.clock().tick();
        let header = RecordHeader {
            kind: RecordKind::Put,
            encoding,
            payload_len: payload.len() as u64,
            key,
            payload_hash: value_hash,
            stamp,
            access: stamp,
        };
        let active = state.active.as_mut().expect("ensure_active made one");
        let offset = active.end;
        if let Err(err) =
            platform::write_two_all_at(&active.segment.file, &header.encode(), payload, offset)
        {
            // Cut the partial record off; if even that fails, stop appending to this file.
            if active.segment.file.set_len(offset).is_err() {
                self.finish_active(&mut state, view);
            }
            self.cx.record_error(&err);
            return Err(PutError::Io(err));
        }
        active.end += header.record_len();
        if active.end - active.writeback_started >= WRITEBACK_CHUNK {
            // Let the disk start on it now: the next flush then waits for less.
            self.writeback.start(
                &active.segment,
                active.writeback_started,
                active.end - active.writeback_started,
            );
            active.writeback_started = active.end;
        }
        let entry = IndexEntry::put(&header, offset);
        active.entries.push(entry);
        view.own_appended(&active.segment, &[entry], active.end);
        state.unflushed_puts += 1;
        state.unflushed_bytes += header.payload_len;
        state.appended_since_check += header.record_len();
        let over_budget = view.disk_bytes() > self.cx.limits().max_bytes;
        let check_due = state.appended_since_check >= self.cx.limits().check_interval;
        if over_budget || check_due {
            state.appended_since_check = 0;
        }
        Ok(rotated || over_budget || check_due)
    }

    /// Makes sure there is an active segment with room, finishing the full one and starting a
    /// new one if needed. Returns whether a segment was finished.
    fn ensure_active(&self, state: &mut WriterState, view: &View) -> Result<bool, DiskCacheError> {
        let mut rotated = false;
        if let Some(active) = &state.active {
            if active.end < self.cx.limits().segment_target {
                return Ok(false);
            }
            self.finish_active(state, view);
            rotated = true;
        }
        let dir = self.cx.root().for_writing(self.cx.stats())?;
        let segment = segment::create(&dir, self.cx.clock().tick())
            .map_err(|err| DiskCacheError::io("create segment", self.cx.path(), err))?;
        let segment = Arc::new(segment);
        let end = format::SEGMENT_HEADER_LEN as u64;
        view.own_segment_started(&segment, end);
        state.active = Some(Active {
            segment,
            end,
            writeback_started: 0,
            entries: EntryLog::default(),
        });
        state.dir_dirty = true;
        Ok(rotated)
    }

    /// Stops appending to the active segment: turns its exclusive lock into a shared one (a pin:
    /// finished, but not to be deleted before the next flush syncs it), and leaves its data to
    /// that flush and its index to the next [`Writer::write_pending_indexes`].
    fn finish_active(&self, state: &mut WriterState, view: &View) {
        let Some(active) = state.active.take() else {
            return;
        };
        // Nobody holds it exclusively any more: readers see it finished. Linux converts a flock
        // in place, so no compaction can claim it in between; elsewhere that may fail, and the
        // segment is then simply not pinned.
        let pinned = platform::try_lock_shared(&active.segment.file).unwrap_or(false);
        if !pinned {
            let _ = platform::unlock(&active.segment.file);
        }
        view.own_segment_finished(&active.segment.name);
        state.finished.push(Finished {
            segment: active.segment,
            end: active.end,
            pinned,
            flushed: false,
            index: IndexFile::Pending(active.entries.seal()),
        });
        // Its index file is created soon; like any index, it is a shortcut, never synced for
        // its own sake.
        state.dir_dirty = true;
    }

    /// Finishes the active segment now (a compaction takes this process's records too).
    pub fn finish(&self, view: &View) {
        self.finish_active(&mut self.state.lock(), view);
    }

    /// Whether a finished segment still waits for its index file.
    pub fn has_pending_indexes(&self) -> bool {
        self.state
            .lock()
            .finished
            .iter()
            .any(|finished| matches!(finished.index, IndexFile::Pending(_)))
    }

    /// Writes the index files of finished segments, outside the writer's lock.
    pub fn write_pending_indexes(&self, view: &View) {
        let _one_at_a_time = self.indexing.lock();
        let pending: Vec<(Arc<Segment>, u64, Entries)> = self
            .state
            .lock()
            .finished
            .iter()
            .filter_map(|finished| match &finished.index {
                IndexFile::Pending(entries) => {
                    Some((Arc::clone(&finished.segment), finished.end, entries.clone()))
                }
                IndexFile::Written(_) => None,
            })
            .collect();
        for (segment, end, entries) in pending {
            let index_bytes =
                segment::write_index(&segment, end, entries.iter()).unwrap_or_else(|err| {
                    self.cx.record_error(&err);
                    0
                });
            let index_bytes = if index_bytes > 0 && !segment.in_place() {
                // A compaction took the segment meanwhile (deleting its index, if there was
                // one then): this one would be left without a segment.
                let _ = segment.dir.remove_owned(&segment.index_name());
                0
            } else {
                index_bytes
            };
            view.segment_indexed(&segment.name, index_bytes);
            let mut state = self.state.lock();
            if let Some(finished) = state
                .finished
                .iter_mut()
                .find(|finished| Arc::ptr_eq(&finished.segment, &segment))
            {
                finished.index = IndexFile::Written(index_bytes);
            }
            release_settled(&mut state);
        }
    }

    /// Gives up the pins of finished segments, so this process's own compaction can take them
    /// (a flush then accepts them gone: copied).
    pub fn hand_over_pins(&self) {
        for finished in &mut self.state.lock().finished {
            unpin(finished);
        }
    }

    /// Puts accepted and not yet flushed, and their payload bytes.
    pub fn unflushed(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.unflushed_puts, state.unflushed_bytes)
    }

    /// Makes every put accepted before the call durable: appends the recency read since the
    /// last flush (advisory: a failure there is only counted), then `fdatasync`s the segments
    /// written since the last flush and `fsync`s the directory if a file was created.
    ///
    /// # Errors
    /// The I/O error that stopped it, or [`DiskCacheError::DirectoryChanged`] if a segment it
    /// covers was removed by something other than this process's compaction. Its puts are
    /// counted lost, and later puts go to a new segment.
    pub fn flush(&self, view: &View) -> Result<(), DiskCacheError> {
        let _one_at_a_time = self.flushing.lock();
        let touches = view.take_unpersisted_touches();
        let mut state = self.state.lock();
        if !touches.is_empty() {
            if let Err(err) = self.append_touches(&mut state, view, &touches) {
                // Recency is advisory: losing a batch costs eviction accuracy, not data.
                self.cx.record_error(&err);
            }
        }
        let active = state
            .active
            .as_ref()
            .map(|active| Arc::clone(&active.segment));
        // They stay listed (and pinned) while they are synced: see `still_in_place`.
        let finished: Vec<Arc<Segment>> = state
            .finished
            .iter()
            .filter(|finished| !finished.flushed)
            .map(|finished| Arc::clone(&finished.segment))
            .collect();
        let dir_dirty = std::mem::take(&mut state.dir_dirty);
        let covered_puts = std::mem::take(&mut state.unflushed_puts);
        state.unflushed_bytes = 0;
        drop(state);

        let result = self.sync(active.as_deref(), &finished, dir_dirty);
        match &result {
            Ok(()) => self.cx.stats().flush_succeeded(),
            Err(err) => self.cx.stats().flush_failed(err, covered_puts),
        }
        let mut state = self.state.lock();
        // Synced, or counted lost: either way no pin is needed any more.
        for settled in &mut state.finished {
            if finished
                .iter()
                .any(|segment| Arc::ptr_eq(segment, &settled.segment))
            {
                settled.flushed = true;
                unpin(settled);
            }
        }
        if result.is_err() {
            // Never append to a file whose durability is in doubt: later puts go to a new
            // segment, so the next flush can succeed honestly.
            let same = match (&state.active, &active) {
                (Some(current), Some(flushed)) => Arc::ptr_eq(&current.segment, flushed),
                _ => false,
            };
            if same {
                self.finish_active(&mut state, view);
                if let Some(last) = state.finished.last_mut() {
                    last.flushed = true;
                    unpin(last);
                }
            }
        }
        release_settled(&mut state);
        result
    }

    fn sync(
        &self,
        active: Option<&Segment>,
        finished: &[Arc<Segment>],
        dir_dirty: bool,
    ) -> Result<(), DiskCacheError> {
        for segment in finished.iter().map(|segment| &**segment).chain(active) {
            platform::sync_data(&segment.file)
                .map_err(|err| DiskCacheError::io("sync segment", &segment.path, err))?;
            if !self.still_in_place(segment) {
                return Err(DiskCacheError::DirectoryChanged {
                    path: segment.path.clone(),
                });
            }
        }
        if dir_dirty {
            platform::sync_dir(self.cx.path())
                .map_err(|err| DiskCacheError::io("sync directory", self.cx.path(), err))?;
        }
        Ok(())
    }

    /// Whether what was written to `segment` is reachable by its name: the file is still there,
    /// or a compaction took it (copying what it kept) from the same directory. A compaction can
    /// take it only once this process neither appends to it nor pins it, so a segment gone
    /// while held was removed by something else (the directory deleted or replaced, a user):
    /// that fails this, as does a directory deleted or replaced underneath.
    fn still_in_place(&self, segment: &Segment) -> bool {
        if segment.in_place() {
            return true;
        }
        let state = self.state.lock();
        let appending = state
            .active
            .as_ref()
            .is_some_and(|active| std::ptr::eq(&*active.segment, segment));
        let pinned = state
            .finished
            .iter()
            .any(|finished| finished.pinned && std::ptr::eq(&*finished.segment, segment));
        drop(state);
        !appending
            && !pinned
            && segment.dir_identity.is_some()
            && platform::path_identity(self.cx.path()).ok() == segment.dir_identity
    }

    /// Appends the access times read since the last flush, in touch records of at most
    /// [`format::MAX_TOUCH_PAIRS`] pairs (what readers accept).
    fn append_touches(
        &self,
        state: &mut WriterState,
        view: &View,
        touches: &[(PipelineFingerprint, u64)],
    ) -> Result<(), DiskCacheError> {
        for batch in touches.chunks(format::MAX_TOUCH_PAIRS) {
            self.append_touch_record(state, view, batch)?;
        }
        Ok(())
    }

    fn append_touch_record(
        &self,
        state: &mut WriterState,
        view: &View,
        touches: &[(PipelineFingerprint, u64)],
    ) -> Result<(), DiskCacheError> {
        self.ensure_active(state, view)?;
        let payload = format::encode_touches(touches);
        let header = RecordHeader {
            kind: RecordKind::Touch,
            encoding: Encoding::Stored,
            payload_len: payload.len() as u64,
            key: PipelineFingerprint::default(),
            payload_hash: *blake3::hash(&payload).as_bytes(),
            stamp: self.cx.clock().tick(),
            access: 0,
        };
        let active = state.active.as_mut().expect("ensure_active made one");
        let offset = active.end;
        platform::write_two_all_at(&active.segment.file, &header.encode(), &payload, offset)
            .map_err(|err| {
                let _ = active.segment.file.set_len(offset);
                DiskCacheError::io("append touches", &active.segment.path, err)
            })?;
        active.end += header.record_len();
        let entries: Vec<IndexEntry> = touches
            .iter()
            .map(|&(key, access)| IndexEntry::touch(key, access))
            .collect();
        for entry in &entries {
            active.entries.push(*entry);
        }
        view.own_appended(&active.segment, &entries, active.end);
        Ok(())
    }

    /// Closing: writes the recency read since the last flush (not synced, so the next session
    /// evicts by it), finishes the active segment, writes the pending indexes and drops every
    /// pin (closing claims no durability: compactions may take these segments now).
    pub fn close(&self, view: &View) {
        let touches = view.take_unpersisted_touches();
        {
            let mut state = self.state.lock();
            if !touches.is_empty() {
                if let Err(err) = self.append_touches(&mut state, view, &touches) {
                    self.cx.record_error(&err);
                }
            }
            self.finish_active(&mut state, view);
        }
        self.write_pending_indexes(view);
        for mut finished in self.state.lock().finished.drain(..) {
            unpin(&mut finished);
        }
    }
}

impl OwnSegmentSource for Writer {
    fn own_segments(&self, begin: &mut dyn FnMut()) -> OwnSegments {
        let state = self.state.lock();
        let own = OwnSegments {
            active: state.active.as_ref().map(|active| OwnActive {
                segment: Arc::clone(&active.segment),
                end: active.end,
                entries: active.entries.snapshot(),
            }),
            finished: state
                .finished
                .iter()
                .map(|finished| OwnFinished {
                    segment: Arc::clone(&finished.segment),
                    end: finished.end,
                    entries: match &finished.index {
                        IndexFile::Pending(entries) => Some(entries.clone()),
                        IndexFile::Written(_) => None,
                    },
                    index_bytes: match finished.index {
                        IndexFile::Pending(_) => 0,
                        IndexFile::Written(bytes) => bytes,
                    },
                })
                .collect(),
        };
        begin();
        own
    }
}

/// Gives up the pin on a finished segment, if it has one.
fn unpin(finished: &mut Finished) {
    if std::mem::take(&mut finished.pinned) {
        let _ = platform::unlock(&finished.segment.file);
    }
}

/// Forgets finished segments that are both flushed (so unpinned) and indexed.
fn release_settled(state: &mut WriterState) {
    state
        .finished
        .retain(|finished| !(finished.flushed && matches!(finished.index, IndexFile::Written(_))));
}

/// The OS error itself where there is one (so callers see its errno); the report keeps the
/// context.
pub fn into_put_error(err: DiskCacheError) -> PutError {
    match err {
        DiskCacheError::Io { source, .. } => PutError::Io(source),
        other => PutError::Io(std::io::Error::from(other)),
    }
}

/// Starts writeback (see [`platform::start_writeback`]) on a thread of its own, started with
/// the first request and ended when the writer is dropped. If that thread cannot be started,
/// writeback is left to the next flush's `fdatasync`.
#[derive(Default)]
struct Writeback {
    requests: OnceLock<Option<mpsc::Sender<WritebackRange>>>,
}

/// Bytes of a segment to start writing back: (segment, offset, length).
type WritebackRange = (Arc<Segment>, u64, u64);

impl Writeback {
    fn start(&self, segment: &Arc<Segment>, offset: u64, len: u64) {
        let requests = self.requests.get_or_init(|| {
            let (sender, receiver) = mpsc::channel::<WritebackRange>();
            std::thread::Builder::new()
                .name("pcstore-disk-writeback".into())
                .spawn(move || {
                    for (segment, offset, len) in receiver {
                        #[cfg(test)]
                        super::test_hooks::pause(
                            super::test_hooks::Pause::StartingWriteback,
                            &segment.name,
                        );
                        // Errors surface at the next flush's fdatasync.
                        let _ = platform::start_writeback(&segment.file, offset, len);
                    }
                })
                .ok()
                .map(|_| sender)
        });
        if let Some(requests) = requests {
            let _ = requests.send((Arc::clone(segment), offset, len));
        }
    }
}
