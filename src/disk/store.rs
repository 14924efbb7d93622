//! One process's open store ([`Store`]): lookups, puts and flushes over its view and its writer,
//! and the maintenance thread that writes finished segments' indexes, picks up other processes'
//! changes and compacts when the directory is over budget.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::clock::wall_clock_ns;
use super::compaction::{self, Compactor};
use super::context::StoreContext;
use super::dir::{Access, StoreDir, StoreRoot};
use super::error::DiskCacheError;
use super::format::{RecordHeader, RecordKind, RECORD_HEADER_LEN};
use super::options::{DiskCacheOptions, MAX_FINISHED_SEGMENTS};
use super::report::DurabilityReport;
use super::segment;
use super::view::{Refreshed, View};
use super::writer::Writer;
use crate::compression;
use crate::diagnostics::Throttle;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, Op, PipelineCacheMetrics};
use crate::platform;
use crate::store::PutError;

/// One process's open store (see the module documentation).
pub struct Store {
    cx: Arc<StoreContext>,
    view: View,
    writer: Writer,
    maintenance_running: AtomicBool,
}

impl Store {
    /// Opens the store in `root` (see `DiskCache::with_options`).
    ///
    /// # Errors
    /// The directory is refused, or cannot be created, opened or listed.
    pub fn open(root: PathBuf, options: DiskCacheOptions) -> Result<Arc<Self>, DiskCacheError> {
        let access = if options.read_only {
            Access::ReadOnly
        } else {
            Access::Write
        };
        let (dir, marker_error) = StoreDir::open(&root, access)?;
        let root = StoreRoot::new(root, dir, options.read_only);
        let cx = Arc::new(StoreContext::new(root, options));
        if let Some(err) = marker_error {
            cx.record_error(&err);
        }
        let store = Arc::new(Self {
            view: View::new(Arc::clone(&cx)),
            writer: Writer::new(Arc::clone(&cx)),
            cx,
            maintenance_running: AtomicBool::new(false),
        });
        store.view.open(&store.writer)?;
        log::debug!(
            target: "pcstore::disk",
            "{}: opened{}, {} entries",
            store.path().display(),
            if store.cx.read_only() { " read-only" } else { "" },
            store.view.totals().1
        );
        if !store.cx.read_only() && (store.over_budget() || store.crowded()) {
            store.start_maintenance();
        }
        Ok(store)
    }

    /// The store directory's path, as given.
    pub fn path(&self) -> &Path {
        self.cx.path()
    }

    pub fn options(&self) -> &DiskCacheOptions {
        self.cx.options()
    }

    fn over_budget(&self) -> bool {
        self.view.disk_bytes() > self.cx.limits().max_bytes
    }

    fn crowded(&self) -> bool {
        self.view.finished_count() > MAX_FINISHED_SEGMENTS
    }

    /// Reads and verifies the newest known record of `key`; `touch`: count it as a use for
    /// eviction. Sets `damaged` when a record was found and dropped because it failed
    /// verification (what [`crate::store::Lookup::Corrupt`] reports).
    pub fn read(
        &self,
        key: &PipelineFingerprint,
        touch: bool,
        damaged: &mut bool,
    ) -> Option<Vec<u8>> {
        // Recency only: wall-clock time is enough.
        let found = self.view.lookup(key, touch.then(wall_clock_ns))?;
        if found.payload_len > self.cx.limits().max_entry_bytes {
            // Larger than anything this store accepts (written by a store with a larger limit,
            // or crafted): not worth the memory, and never an allocation sized by a file's claim.
            return None;
        }
        let mut head = [0u8; RECORD_HEADER_LEN];
        let mut body = segment::payload_buffer(found.payload_len)?;
        let verified = match platform::read_two_exact_at(
            &found.segment.file,
            &mut head,
            &mut body,
            found.offset,
        ) {
            Ok(()) => RecordHeader::decode_unchecked(&head, found.segment.version)
                .filter(|header| {
                    header.kind == RecordKind::Put
                        && header.key == *key
                        && header.payload_len == found.payload_len
                })
                .and_then(|header| {
                    // A compressed value may not claim more than the largest entry either.
                    let value = compression::decode(
                        header.encoding,
                        body,
                        self.cx.limits().max_entry_bytes,
                    )?;
                    (blake3::hash(&value).as_bytes() == &header.payload_hash).then_some(value)
                }),
            Err(err) => {
                self.cx.record_error(&err);
                None
            }
        };
        if verified.is_some() {
            return verified;
        }
        *damaged = true;
        log::warn!(
            target: "pcstore::disk",
            "{}: dropped a damaged entry ({key}) in segment {}",
            self.path().display(),
            found.segment.name
        );
        self.cx.metrics().inc(Counter::CorruptDropped);
        self.view.drop_corrupt(key, &found.segment, found.offset);
        None
    }

    /// A lookup: a read, and on a miss a cheap look for what other processes wrote; `damaged`
    /// as in [`Self::read`] (a newer record another process flushed still wins).
    pub fn get(self: &Arc<Self>, key: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        // Every disk lookup is timed: next to a pread and a hash pass the clock costs little.
        let probe = self.cx.metrics().start_get_timed();
        let mut found = self.read(key, true, damaged);
        if found.is_none() && self.refresh(true) {
            found = self.read(key, true, damaged);
        }
        self.cx
            .metrics()
            .record_lookup(probe, found.as_ref().map(Vec::len));
        found
    }

    /// Appends a put (see `DiskCache`'s `try_put`).
    ///
    /// # Errors
    /// Read-only, too large, over budget until compaction catches up, or the I/O error.
    pub fn put(self: &Arc<Self>, key: PipelineFingerprint, bytes: &[u8]) -> Result<(), PutError> {
        let start = Instant::now();
        let result = self.append(key, bytes);
        let metrics = self.cx.metrics();
        match &result {
            Ok(()) => metrics.put_accepted(bytes.len()),
            Err(_) => metrics.inc(Counter::RejectedPuts),
        }
        metrics.record_latency(Op::Put, start.elapsed());
        result
    }

    fn append(self: &Arc<Self>, key: PipelineFingerprint, bytes: &[u8]) -> Result<(), PutError> {
        if self.cx.read_only() {
            return Err(PutError::ReadOnly);
        }
        let limits = self.cx.limits();
        let len = bytes.len() as u64;
        if len > limits.max_entry_bytes {
            return Err(PutError::TooLarge {
                len,
                max: limits.max_entry_bytes,
            });
        }
        // Compressed (when that saves a tenth) before the writer's lock is taken.
        let (encoding, payload) = compression::encode(bytes);
        let stored_len = payload.len() as u64;
        if self.view.disk_bytes() + RECORD_HEADER_LEN as u64 + stored_len > limits.hard_limit {
            // Compaction has fallen behind the writers: dropping a cache entry costs a
            // recompile later; growing past the budget would break the promise to the user.
            static OVER_BUDGET: Throttle = Throttle::new();
            if let Some(unreported) = OVER_BUDGET.permit() {
                log::warn!(
                    target: "pcstore::disk",
                    "{}: puts dropped until compaction brings the store under its \
                     budget{unreported}",
                    self.path().display()
                );
            }
            self.start_maintenance();
            return Err(PutError::Dropped("over budget until compaction catches up"));
        }
        let value_hash = *blake3::hash(bytes).as_bytes();
        match self
            .writer
            .append_put(&self.view, key, encoding, &payload, value_hash)
        {
            Ok(maintenance_due) => {
                if maintenance_due {
                    self.start_maintenance();
                }
                Ok(())
            }
            Err(err) => {
                if self.writer.has_pending_indexes() {
                    self.start_maintenance();
                }
                Err(err)
            }
        }
    }

    /// Makes every put accepted before the call durable (see [`Writer::flush`]); counted and
    /// timed.
    ///
    /// # Errors
    /// As [`Writer::flush`].
    pub fn flush(self: &Arc<Self>) -> Result<(), DiskCacheError> {
        let start = Instant::now();
        let metrics = self.cx.metrics();
        metrics.inc(Counter::Flushes);
        let result = if self.cx.read_only() {
            Ok(())
        } else {
            self.writer.flush(&self.view)
        };
        if result.is_err() {
            metrics.inc(Counter::FlushErrors);
        }
        metrics.record_latency(Op::Flush, start.elapsed());
        result
    }

    /// Compacts on this thread (see [`Compactor::run`]).
    ///
    /// # Errors
    /// As [`Compactor::run`].
    pub fn compact(&self, force: bool) -> Result<(), DiskCacheError> {
        Compactor::new(&self.cx, &self.view, &self.writer).run(force)
    }

    /// Compacts on this thread now, not copying the records named in `drop` (see
    /// [`Compactor::run_dropping`]).
    ///
    /// # Errors
    /// As [`Compactor::run`].
    pub fn compact_dropping(
        &self,
        drop: &HashSet<(PipelineFingerprint, u64)>,
    ) -> Result<(), DiskCacheError> {
        Compactor::new(&self.cx, &self.view, &self.writer).run_dropping(true, drop)
    }

    /// When the store's last compaction completed (see [`compaction::last_completed`]).
    pub fn last_compaction_ns(&self) -> Option<u64> {
        compaction::last_completed(&self.cx.root().dir())
    }

    /// The view, after picking up what other processes flushed since the last look (for tools
    /// that walk every entry: `inspect.rs`).
    pub fn refreshed_view(self: &Arc<Self>) -> &View {
        self.refresh(false);
        &self.view
    }

    /// Every key indexed, after picking up what other processes flushed since the last look.
    pub fn keys(self: &Arc<Self>) -> Vec<PipelineFingerprint> {
        self.refresh(false);
        self.view.keys()
    }

    pub fn metrics(&self) -> PipelineCacheMetrics {
        let (bytes, entries) = self.view.totals();
        self.cx.metrics().snapshot(bytes, entries)
    }

    pub fn durability_report(&self) -> DurabilityReport {
        self.cx.stats().report(
            self.writer.unflushed(),
            (self.view.disk_bytes(), self.view.segment_count()),
        )
    }

    /// Closing (see `DiskCache`'s `Drop`): finishes this process's segment at once, even while
    /// the maintenance thread still holds the store.
    pub fn close(&self) {
        if !self.cx.read_only() {
            self.writer.close(&self.view);
        }
    }

    /// Picks up what other processes wrote since the last look; returns whether anything new
    /// was indexed. When segments vanished (another process compacted), the index is rebuilt,
    /// 10–30 ms at 100k entries. On a lookup (`on_lookup`) that would stall the caller's thread,
    /// so the rebuild goes to the background maintenance thread instead and this returns false:
    /// the current index stays correct meanwhile (it holds the vanished segments open, and their
    /// records are immutable), it only lacks what was written since.
    fn refresh(self: &Arc<Self>, on_lookup: bool) -> bool {
        match self.view.refresh() {
            Refreshed::Unchanged => false,
            Refreshed::Changed => true,
            Refreshed::Rebuild if on_lookup => {
                self.start_maintenance();
                false
            }
            Refreshed::Rebuild => self.view.rebuild(false, &self.writer).is_ok(),
        }
    }

    /// Runs maintenance on a background thread, unless it already runs in this process.
    fn start_maintenance(self: &Arc<Self>) {
        if self.maintenance_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("pcstore-disk-compaction".into())
            .spawn(move || store.maintain());
        if spawned.is_err() {
            self.maintenance_running.store(false, Ordering::Release);
        }
    }

    /// The maintenance thread: writes the indexes of segments finished since the last run,
    /// refreshes, and compacts if over budget or crowded.
    fn maintain(self: &Arc<Self>) {
        loop {
            self.writer.write_pending_indexes(&self.view);
            self.refresh(false);
            if self.over_budget() || self.crowded() {
                if let Err(err) = self.compact(false) {
                    self.cx.record_error(&err);
                }
            }
            self.maintenance_running.store(false, Ordering::Release);
            // A segment finished while this ran found it running and left its index to it.
            if !self.writer.has_pending_indexes()
                || self.maintenance_running.swap(true, Ordering::AcqRel)
            {
                return;
            }
        }
    }
}
