//! Eviction and compaction: keeping the directory within its budget ([`Compactor`]).
//!
//! One process at a time (an exclusive `flock` on `compact.lock`, tried briefly, so a crashed
//! compactor never blocks anyone) copies the newest version of the most recently used entries in
//! finished segments into new segments, down to the low-water mark when over budget, syncs
//! them, and only then deletes the finished segments it read. Segments other live writers still
//! append to, or still pin (finished, not yet flushed), are left alone (their bytes count
//! against the budget). A segment is deleted only while locked exclusively through a descriptor
//! of the compactor's own (so nobody appends to it or pins it), and only if it is still the
//! length the plan read. A crash at any point leaves either the old segments, or the old and the
//! new (duplicates, resolved by stamp), never neither.
//!
//! Copies are written victim by victim, into output segments of at most `max_bytes / 16` (at
//! least 64 KiB) each, and each victim is deleted as soon as its survivors are synced: while a
//! compaction runs, the directory holds at most one segment's worth of duplicates.
//!
//! The plan is made from a copy of what the view knows; no lock a put or a lookup takes is held
//! while candidates are ranked or records copied.

use std::collections::HashSet;
use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::StoreContext;
use super::dir::StoreDir;
use super::error::DiskCacheError;
use super::format::{
    Encoding, IndexEntry, RecordHeader, RecordKind, FORMAT_VERSION, INDEX_ENTRY_LEN,
    INDEX_HEADER_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use super::names::LOCK_FILE;
use super::options::MAX_FINISHED_SEGMENTS;
use super::segment::{self, Segment};
use super::stale::{EntryHead, MAX_STALE_HEAD};
use super::view::View;
use super::writer::Writer;
use crate::compression;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::Counter;
use crate::platform;

/// An entry chosen to survive, and where to copy it from.
struct Survivor {
    key: PipelineFingerprint,
    segment: Arc<Segment>,
    offset: u64,
    payload_len: u64,
    stamp: u64,
    access: u64,
}

/// What a compaction will do.
struct Plan {
    /// Finished segments to copy from and then delete, with the length planned from.
    victims: Vec<(Arc<Segment>, u64)>,
    survivors: Vec<Survivor>,
    evicted: u64,
    evicted_bytes: u64,
}

/// A compaction of one open store: its view, to plan from and rebuild, and its writer, whose
/// active segment and pins it takes over first.
pub struct Compactor<'a> {
    cx: &'a StoreContext,
    view: &'a View,
    writer: &'a Writer,
}

impl<'a> Compactor<'a> {
    pub fn new(cx: &'a StoreContext, view: &'a View, writer: &'a Writer) -> Self {
        Self { cx, view, writer }
    }

    /// Compacts if over budget, crowded with finished segments, or `force`d. Waits up to 10 s
    /// for another process's compaction when `force`d, 10 ms otherwise (then does nothing).
    ///
    /// # Errors
    /// [`DiskCacheError::ReadOnly`], the lock file is another user's or cannot be opened, or
    /// the I/O error that stopped the compaction (nothing is lost).
    pub fn run(&self, force: bool) -> Result<(), DiskCacheError> {
        self.run_dropping(force, &HashSet::new())
    }

    /// As [`Self::run`], and the records named in `drop` (key and version stamp) are not
    /// copied: a compaction that also removes chosen entries (`DiskCache::remove`). A named
    /// record is kept all the same where dropping it would bring back an older version of its
    /// key that a live or pinned segment holds, and records in segments another process still
    /// appends to or pins are not touched at all: the caller checks what remains.
    ///
    /// # Errors
    /// As [`Self::run`].
    pub fn run_dropping(
        &self,
        force: bool,
        drop: &HashSet<(PipelineFingerprint, u64)>,
    ) -> Result<(), DiskCacheError> {
        if self.cx.read_only() {
            return Err(DiskCacheError::ReadOnly);
        }
        let lock = self.cx.root().dir().open_lock()?;
        let wait = if force {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(10)
        };
        if !platform::lock_exclusive_within(&lock, wait)
            .map_err(|err| DiskCacheError::io("lock", self.cx.path().join(LOCK_FILE), err))?
        {
            return Ok(()); // another process is compacting right now
        }
        let result = self.compact_locked(force, drop);
        if let Ok(true) = result {
            // For tools (`pcstore info`); a store that cannot record it compacted all the same.
            let now = super::clock::wall_clock_ns().to_le_bytes();
            let _ = platform::write_all_at(&lock, &now, 0);
        }
        // Explicitly, not by closing: a forked child may share this descriptor, and closing ours
        // alone would leave the lock held for the child's lifetime.
        let _ = platform::unlock(&lock);
        result.map(|_| ())
    }

    /// The compaction itself, under `compact.lock`; whether there was anything to compact.
    fn compact_locked(
        &self,
        force: bool,
        drop: &HashSet<(PipelineFingerprint, u64)>,
    ) -> Result<bool, DiskCacheError> {
        let start = Instant::now();
        // Finish our own segment so its records can be compacted too, write its index, and
        // hand over our pins: a flush here then accepts a finished segment gone (copied).
        self.writer.finish(self.view);
        self.writer.write_pending_indexes(self.view);
        self.writer.hand_over_pins();
        self.view.rebuild(true, self.writer)?;
        let held = self.held_elsewhere();
        let Some(plan) = self.plan(force, &held, drop) else {
            return Ok(false);
        };
        self.execute(&plan)?;
        self.view.rebuild(false, self.writer)?;
        let metrics = self.cx.metrics();
        metrics.add(Counter::Evictions, plan.evicted);
        metrics.add(Counter::EvictedBytes, plan.evicted_bytes);
        self.cx.stats().compaction_completed(start.elapsed());
        Ok(true)
    }

    /// Finished segments a writer elsewhere still pins (not yet flushed): they stay, like live
    /// ones, and so do the keys they hold (evicting a newer version of one would bring theirs
    /// back).
    fn held_elsewhere(&self) -> Held {
        let mut held = Held::default();
        for (segment, size) in self.view.finished_segments() {
            if claim(&segment, size).is_some() {
                continue;
            }
            let entries = segment
                .file
                .metadata()
                .ok()
                .and_then(|meta| {
                    segment::read_index(&segment, meta.len())
                        .or_else(|| Some(segment::scan(&segment, 0, meta.len()).ok()?.entries))
                })
                .unwrap_or_default();
            held.keys.extend(
                entries
                    .iter()
                    .filter(|entry| entry.kind == RecordKind::Put)
                    .map(|entry| entry.key),
            );
            held.names.insert(segment.name.clone());
        }
        held
    }

    /// Which segments to take and which entries to keep. The candidates are gathered from the
    /// view shard by shard; ranking and choosing them holds no lock.
    fn plan(
        &self,
        force: bool,
        held: &Held,
        drop: &HashSet<(PipelineFingerprint, u64)>,
    ) -> Option<Plan> {
        let limits = self.cx.limits();
        let (over, pinned, victims, mut candidates, live_keys) = self.view.frozen(|known| {
            let total: u64 = known
                .segments
                .iter()
                .map(|info| info.size + info.index_bytes)
                .sum();
            let victims: Vec<(Arc<Segment>, u64)> = known
                .segments
                .iter()
                .filter(|info| info.immutable && !held.names.contains(&info.segment.name))
                .map(|info| (Arc::clone(&info.segment), info.size))
                .collect();
            let over = total > limits.max_bytes;
            if victims.is_empty() || !(force || over || victims.len() > MAX_FINISHED_SEGMENTS) {
                return None;
            }
            let pinned: u64 = known
                .segments
                .iter()
                .filter(|info| !info.immutable || held.names.contains(&info.segment.name))
                .map(|info| info.size + info.index_bytes)
                .sum();
            let victim_names: HashSet<&str> = victims
                .iter()
                .map(|(segment, _)| segment.name.as_str())
                .collect();
            let mut candidates = Vec::new();
            known.index.for_each(|key, location| {
                if victim_names.contains(location.segment.name.as_str()) {
                    candidates.push(Survivor {
                        key: *key,
                        segment: Arc::clone(&location.segment),
                        offset: location.offset,
                        payload_len: location.payload_len,
                        stamp: location.stamp,
                        access: location.access.load(Ordering::Relaxed),
                    });
                }
            });
            Some((
                over,
                pinned,
                victims,
                candidates,
                Arc::clone(&known.live_keys),
            ))
        })?;
        #[cfg(test)]
        super::test_hooks::pause(super::test_hooks::Pause::Planning, "");
        // Entries of a stale identity last (evicted first), only when something must go;
        // otherwise most recently used first, among equals newest first.
        let stale = if over {
            self.stale_keys(&candidates)
        } else {
            HashSet::new()
        };
        candidates.sort_by_key(|c| std::cmp::Reverse((!stale.contains(&c.key), c.access, c.stamp)));
        let mut room = if over {
            limits
                .low_water
                .saturating_sub(pinned + (SEGMENT_HEADER_LEN + INDEX_HEADER_LEN) as u64)
        } else {
            u64::MAX
        };
        let mut plan = Plan {
            victims,
            survivors: Vec::new(),
            evicted: 0,
            evicted_bytes: 0,
        };
        for candidate in candidates {
            let resurrects =
                live_keys.contains(&candidate.key) || held.keys.contains(&candidate.key);
            if !resurrects && drop.contains(&(candidate.key, candidate.stamp)) {
                plan.evicted += 1;
                plan.evicted_bytes += candidate.payload_len;
                continue;
            }
            let cost = RECORD_HEADER_LEN as u64 + candidate.payload_len + INDEX_ENTRY_LEN as u64;
            if candidate.payload_len > limits.max_entry_bytes {
                // Larger than this store accepts (a larger limit wrote it, or a crafted header
                // claims it): reading it to copy would cost memory sized by a file's claim.
                plan.evicted += 1;
                plan.evicted_bytes += candidate.payload_len;
            } else if cost <= room {
                room -= cost;
                plan.survivors.push(candidate);
            } else if resurrects {
                // Evicting this newest version would resurrect the older one a live (or
                // pinned) segment holds: keep it, over the low-water mark if need be (bounded
                // by that writer's segments).
                room = 0;
                plan.survivors.push(candidate);
            } else {
                plan.evicted += 1;
                plan.evicted_bytes += candidate.payload_len;
            }
        }
        Some(plan)
    }

    /// The candidates the store's [`StaleEntries`](super::StaleEntries) hook names (none
    /// without a hook or a period): it is given each candidate's first bytes, read without any
    /// lock a put or a lookup takes.
    fn stale_keys(&self, candidates: &[Survivor]) -> HashSet<PipelineFingerprint> {
        let options = self.cx.options();
        let (Some(hook), Some(stale_after)) = (&options.stale_entries, options.stale_after) else {
            return HashSet::new();
        };
        let head_len = hook.0.head_len().min(MAX_STALE_HEAD);
        let heads: Vec<EntryHead> = candidates
            .iter()
            .filter_map(|candidate| {
                Some(EntryHead {
                    key: candidate.key,
                    last_used_ns: candidate.access,
                    head: self.read_head(candidate, head_len)?,
                })
            })
            .collect();
        hook.0
            .stale_keys(&heads, super::clock::wall_clock_ns(), stale_after)
    }

    /// The first `head_len` bytes of a candidate's value; `None` when its record cannot be
    /// read or its header does not check. A value read whole (it is no longer than `head_len`,
    /// or compressed) is verified against its hash; a longer one's head is not (that would
    /// read all of it), so a damaged head costs at most an early eviction.
    fn read_head(&self, candidate: &Survivor, head_len: usize) -> Option<Vec<u8>> {
        let max_entry_bytes = self.cx.limits().max_entry_bytes;
        if candidate.payload_len > max_entry_bytes {
            return None; // `plan` evicts these; never an allocation sized by a file's claim
        }
        let mut head = [0u8; RECORD_HEADER_LEN];
        let short = (head_len as u64).min(candidate.payload_len);
        let mut body = segment::payload_buffer(short)?;
        platform::read_two_exact_at(
            &candidate.segment.file,
            &mut head,
            &mut body,
            candidate.offset,
        )
        .ok()?;
        let header = RecordHeader::decode(&head, candidate.segment.version)?;
        if header.kind != RecordKind::Put
            || header.key != candidate.key
            || header.payload_len != candidate.payload_len
        {
            return None;
        }
        let mut value = match header.encoding {
            Encoding::Stored if short < candidate.payload_len => return Some(body),
            Encoding::Stored => body,
            _ => {
                let mut whole = segment::payload_buffer(candidate.payload_len)?;
                platform::read_exact_at(
                    &candidate.segment.file,
                    &mut whole,
                    candidate.offset + RECORD_HEADER_LEN as u64,
                )
                .ok()?;
                compression::decompress(&whole, max_entry_bytes)?
            }
        };
        if blake3::hash(&value).as_bytes() != &header.payload_hash {
            return None;
        }
        value.truncate(head_len);
        Some(value)
    }

    /// Copies survivors victim by victim: after each victim's survivors are synced in the
    /// output, that victim is deleted, so the directory never holds more than one victim's worth
    /// of duplicates (not a whole second copy of the store). Outputs are started anew past
    /// `output_target`, so no victim (an earlier compaction's output included) is larger than
    /// that and one entry.
    fn execute(&self, plan: &Plan) -> Result<(), DiskCacheError> {
        let mut output: Option<Output> = None;
        let mut finished_outputs = Vec::new();
        let mut head = [0u8; RECORD_HEADER_LEN];
        for (victim, planned_len) in &plan.victims {
            let survivors = plan
                .survivors
                .iter()
                .filter(|survivor| Arc::ptr_eq(&survivor.segment, victim));
            for survivor in survivors {
                let Some((header, payload)) = self.read_survivor(survivor, &mut head) else {
                    self.cx.metrics().inc(Counter::CorruptDropped);
                    continue;
                };
                if let Some(full) = output.take_if(|out| out.end >= self.cx.limits().output_target)
                {
                    finished_outputs.push(full.finish()?);
                }
                let out = match &mut output {
                    Some(out) => out,
                    None => output.insert(self.start_output()?),
                };
                out.append(header, &payload)?;
            }
            if let Some(out) = &output {
                platform::sync_data(&out.segment.file)
                    .map_err(|err| DiskCacheError::io("sync segment", &out.segment.path, err))?;
            }
            #[cfg(test)]
            super::test_hooks::pause(super::test_hooks::Pause::VictimCopied, &victim.name);
            // Held until it is gone. Not claimable: a writer pins it after all, or it grew
            // (someone appended after the plan read it): it stays, and what was copied from it
            // is a duplicate the next compaction resolves.
            let Some(_claim) = claim(victim, *planned_len) else {
                continue;
            };
            if let Err(err) = victim.remove_files() {
                if err.kind() != std::io::ErrorKind::NotFound {
                    return Err(DiskCacheError::io("remove segment", &victim.path, err));
                }
            }
        }
        if let Some(out) = output {
            finished_outputs.push(out.finish()?);
        }
        platform::sync_dir(self.cx.path())
            .map_err(|err| DiskCacheError::io("sync directory", self.cx.path(), err))?;
        for segment in &finished_outputs {
            let _ = platform::unlock(&segment.file);
        }
        Ok(())
    }

    /// Creates an output segment and makes its name durable before any victim is deleted.
    fn start_output(&self) -> Result<Output, DiskCacheError> {
        let segment = segment::create(&self.cx.root().dir(), self.cx.clock().tick())
            .map_err(|err| DiskCacheError::io("create segment", self.cx.path(), err))?;
        platform::sync_dir(self.cx.path())
            .map_err(|err| DiskCacheError::io("sync directory", self.cx.path(), err))?;
        Ok(Output {
            segment,
            end: SEGMENT_HEADER_LEN as u64,
            entries: Vec::new(),
        })
    }

    /// Reads and verifies one survivor's record (its value decoded and checked), returning the
    /// header and payload to write in this version: a record of a version-1 segment is
    /// compressed now if that saves a tenth; one of this version is copied as it is (it was
    /// compressed, or found not worth it, when put).
    fn read_survivor(
        &self,
        survivor: &Survivor,
        head: &mut [u8; RECORD_HEADER_LEN],
    ) -> Option<(RecordHeader, Vec<u8>)> {
        let max_entry_bytes = self.cx.limits().max_entry_bytes;
        if survivor.payload_len > max_entry_bytes {
            return None; // `plan` evicts these; never an allocation sized by a file's claim
        }
        let mut body = segment::payload_buffer(survivor.payload_len)?;
        platform::read_two_exact_at(&survivor.segment.file, head, &mut body, survivor.offset)
            .ok()?;
        let mut header = RecordHeader::decode(head, survivor.segment.version)?;
        if header.kind != RecordKind::Put
            || header.key != survivor.key
            || header.payload_len != survivor.payload_len
        {
            return None;
        }
        let payload = if header.encoding == Encoding::Stored {
            if blake3::hash(&body).as_bytes() != &header.payload_hash {
                return None;
            }
            if survivor.segment.version == FORMAT_VERSION {
                body
            } else {
                let (encoding, payload) = compression::encode(&body);
                header.encoding = encoding;
                payload.into_owned()
            }
        } else {
            let value = compression::decompress(&body, max_entry_bytes)?;
            if blake3::hash(&value).as_bytes() != &header.payload_hash {
                return None;
            }
            body
        };
        header.payload_len = payload.len() as u64;
        header.access = header.access.max(survivor.access);
        header.stamp = survivor.stamp;
        Some((header, payload))
    }
}

/// When the last compaction of the store in `dir` completed (ns since the epoch, as its
/// compactor's clock said), from `compact.lock`; `None` if none is recorded (no compaction yet,
/// or a store of an earlier release). Opens the lock file read-only and never creates it.
pub fn last_completed(dir: &StoreDir) -> Option<u64> {
    let file = dir.open_owned(LOCK_FILE, false).ok()?;
    let mut bytes = [0u8; 8];
    (platform::read_at_most(&file, &mut bytes, 0).ok()? == 8).then(|| u64::from_le_bytes(bytes))
}

/// Finished segments another process still pins, and the keys of their puts.
#[derive(Default)]
struct Held {
    names: HashSet<String>,
    keys: HashSet<PipelineFingerprint>,
}

/// Locks `segment` exclusively through a descriptor of its own (so this process's locks on it
/// count as much as anyone's) if it is still the file this process opened, nobody appends to it
/// or pins it, and it is still `len` bytes long. Once this succeeds nobody can pin it any more
/// (writers pin only their own segment, as they finish it), so it may be deleted while the
/// returned file stays open.
fn claim(segment: &Segment, len: u64) -> Option<File> {
    let file = segment.dir.open_owned(&segment.name, false).ok()?;
    let same_file =
        platform::file_identity(&file).ok()? == platform::file_identity(&segment.file).ok()?;
    if !same_file || !platform::try_lock_exclusive(&file).ok()? {
        return None;
    }
    (file.metadata().ok()?.len() == len).then_some(file)
}

/// The segment a compaction writes.
struct Output {
    segment: Segment,
    end: u64,
    entries: Vec<IndexEntry>,
}

impl Output {
    fn append(&mut self, header: RecordHeader, body: &[u8]) -> Result<(), DiskCacheError> {
        platform::write_two_all_at(&self.segment.file, &header.encode(), body, self.end)
            .map_err(|err| DiskCacheError::io("write segment", &self.segment.path, err))?;
        self.entries.push(IndexEntry::put(&header, self.end));
        self.end += header.record_len();
        Ok(())
    }

    /// Syncs the output (some of its survivors' victims may not be deleted yet) and writes its
    /// index; its lock is kept until the compaction ends.
    fn finish(self) -> Result<Segment, DiskCacheError> {
        platform::sync_data(&self.segment.file)
            .map_err(|err| DiskCacheError::io("sync segment", &self.segment.path, err))?;
        segment::write_index(&self.segment, self.end, &self.entries)
            .map_err(|err| DiskCacheError::io("write index", &self.segment.path, err))?;
        Ok(self.segment)
    }
}
