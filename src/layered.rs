//! Tiers stacked fastest first: memory over disk over remote.
//!
//! A lookup asks each layer in order (`lookup`, so a layer that found a damaged entry is told
//! from one that found nothing); a hit in a slower layer is promoted into the faster ones
//! its [`PromotePolicy`] names, every faster one by default (the same `Arc`: a memory layer
//! keeps it without copying). A put writes through to the layers its [`WritePolicy`] names, so
//! new results reach the durable tiers, not just memory.
//!
//! Slow layers (a remote cache) can be marked [`BackgroundLayers`]: a lookup that reaches them
//! is made by a background thread and waited for a bounded time; an answer that comes later is
//! still promoted into the faster layers, for the next lookup or the next process. `flush`
//! makes the foreground layers durable and gives the background ones a bounded wait.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, Op, PipelineCacheMetrics};
use crate::store::{Lookup, PipelineCacheStore, PutError};

/// Which layers a put goes to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WritePolicy {
    /// Every layer (the default): a put reaches disk and remote, not just memory.
    #[default]
    All,
    /// Only the fastest layer; slower layers fill only from their own writers.
    FastestOnly,
    /// Only the layers at these indexes (0 = fastest); e.g. skip a shared remote that only a
    /// build farm should write.
    Layers(Vec<usize>),
}

/// Which faster layers a hit in a slower layer is copied into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PromotePolicy {
    /// Every faster layer (the default).
    #[default]
    AllFaster,
    /// Per layer a hit comes from (index 0 = fastest), the layers it is copied into; only
    /// layers faster than the one that hit count, and a layer without an entry here copies
    /// into every faster layer.
    ///
    /// Memory over disk over a bundle is `PerLayer(vec![vec![], vec![0], vec![0]])`: a bundle
    /// hit goes into memory only, since the bundle already is on local disk and a copy would
    /// only spend the disk budget. With a remote layer below the bundle, `vec![0, 1]` as its
    /// entry copies remote hits into memory and disk but not into the read-only bundle.
    PerLayer(Vec<Vec<usize>>),
}

/// How a [`LayeredPipelineCache`] reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayeredOptions {
    /// Which layers a put goes to.
    pub write: WritePolicy,
    /// Copy a hit in a slower layer into faster ones (default true).
    pub promote: bool,
    /// Layers that no caller waits on for long (default `None`: every layer is asked on the
    /// caller's thread).
    pub background: Option<BackgroundLayers>,
    /// Which faster layers a hit is copied into, when `promote` is on.
    pub promote_into: PromotePolicy,
}

impl Default for LayeredOptions {
    fn default() -> Self {
        Self {
            write: WritePolicy::All,
            promote: true,
            background: None,
            promote_into: PromotePolicy::AllFaster,
        }
    }
}

/// The slowest layers of a stack, from index `from` on, asked by a background thread so that
/// no caller waits on them longer than a small bound: a network tier that answers in about a
/// millisecond when healthy and in a timeout when not.
///
/// - A lookup that misses every foreground layer is handed to the background thread and
///   waited for at most `lookup_wait`; after that it is a miss. The lookup goes on, and a hit
///   that comes late is promoted into the faster layers (when promotion is on), so the next
///   lookup, or the next process through the disk tier, finds it there. Concurrent lookups of
///   one key share one background lookup; beyond 256 waiting, lookups are misses at once.
/// - `flush` flushes the foreground layers (their errors are its result: they are the
///   durability point) and waits at most `flush_wait` for the background layers' own flush,
///   whose outcome it does not report (see each layer's metrics, e.g. the remote tier's
///   `flush_errors`). To wait for a background layer, flush it directly.
/// - Puts are unchanged: they go to every layer the [`WritePolicy`] names (a remote tier only
///   queues them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundLayers {
    /// Index of the first background layer (2 for memory, disk, remote).
    pub from: usize,
    /// Longest wait of a lookup for the background layers. Default 20 ms: a healthy studio
    /// cache answers in about 1 ms, and a Vulkan call must not wait on a network for longer.
    pub lookup_wait: Duration,
    /// Longest wait of `flush` for the background layers' own flush. Default 15 ms: enough for
    /// small uploads to a healthy server to finish before a process exits.
    pub flush_wait: Duration,
}

impl BackgroundLayers {
    /// Layers from index `from` on, with the default waits.
    #[must_use]
    pub fn starting_at(from: usize) -> Self {
        Self {
            from,
            lookup_wait: Duration::from_millis(20),
            flush_wait: Duration::from_millis(15),
        }
    }
}

/// Where hits came from and what promotion did, per layer (index 0 = fastest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromotionReport {
    /// Lookups answered by each layer.
    pub hits_by_layer: Vec<u64>,
    /// Blobs promoted into each layer.
    pub promoted_into: Vec<u64>,
    /// Promotions a faster layer refused (too large for it, read-only, I/O error).
    pub failed_promotions: u64,
    /// Lookups that stopped waiting for the background layers (and were misses).
    pub background_waits_ended: u64,
    /// Hits in background layers that came after their lookup stopped waiting (promoted all
    /// the same).
    pub late_hits: u64,
    /// Lookups not handed to the background layers because too many were waiting.
    pub background_lookups_dropped: u64,
}

/// A stack of stores, fastest first, that behaves as one store.
///
/// Thread-safe if its layers are (the trait requires it). Its own metrics count each logical
/// lookup once: a memory miss followed by a disk hit is one lookup and one hit; each layer's
/// own figures stay available through [`LayeredPipelineCache::layer_metrics`].
pub struct LayeredPipelineCache {
    layers: Vec<Arc<dyn PipelineCacheStore>>,
    /// Layers before this index are asked on the caller's thread; the rest in the background.
    foreground: usize,
    writes_to: Vec<bool>,
    promote: bool,
    /// Per layer, the faster layers its hits are copied into, fastest first.
    promote_to: Vec<Vec<usize>>,
    metrics: MetricsRecorder,
    tally: Arc<Tally>,
    background: Option<Background>,
}

/// Counters shared with the background thread.
struct Tally {
    /// Hits per layer, except layer 0 (derived, so a fast-path hit touches no shared counter).
    slow_hits: Vec<AtomicU64>,
    promoted_into: Vec<AtomicU64>,
    failed_promotions: AtomicU64,
    waits_ended: AtomicU64,
    late_hits: AtomicU64,
    dropped: AtomicU64,
}

impl Tally {
    fn new(layers: usize) -> Self {
        Self {
            slow_hits: (0..layers).map(|_| AtomicU64::new(0)).collect(),
            promoted_into: (0..layers).map(|_| AtomicU64::new(0)).collect(),
            failed_promotions: AtomicU64::new(0),
            waits_ended: AtomicU64::new(0),
            late_hits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Copies a hit into the layers at `targets` (faster than the one it was found in).
    fn promote(
        &self,
        layers: &[Arc<dyn PipelineCacheStore>],
        targets: &[usize],
        fp: &PipelineFingerprint,
        blob: &Arc<Vec<u8>>,
    ) {
        for &index in targets {
            match layers[index].try_put_arc(*fp, Arc::clone(blob)) {
                Ok(()) => {
                    self.promoted_into[index].fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.failed_promotions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Lookups waiting for the background thread at most; more are misses at once.
const MAX_BACKGROUND_LOOKUPS: usize = 256;

/// The background layers' thread and what callers share with it.
struct Background {
    lookup_wait: Duration,
    flush_wait: Duration,
    work: Arc<Work>,
}

struct Work {
    state: Mutex<WorkState>,
    /// The thread waits here for work.
    ready: Condvar,
    /// Flush callers wait here.
    flushed: Condvar,
}

#[derive(Default)]
struct WorkState {
    queue: VecDeque<Arc<PendingLookup>>,
    /// Lookups queued or in flight, by key, so that callers asking for one key share one.
    pending: HashMap<PipelineFingerprint, Arc<PendingLookup>>,
    flushes_requested: u64,
    flushes_done: u64,
    running: bool,
    shutdown: bool,
}

/// One background lookup.
struct PendingLookup {
    fp: PipelineFingerprint,
    outcome: Mutex<LookupOutcome>,
    answered: Condvar,
}

struct LookupOutcome {
    /// `Some` once answered.
    answer: Option<Answer>,
    /// Callers still waiting (a hit that finds none is late).
    waiting: usize,
}

/// What a stack's layers (or some of them) found for one key.
#[derive(Clone)]
enum Answer {
    /// The blob and the index of the layer it was found in.
    Hit(Arc<Vec<u8>>, usize),
    /// Nothing.
    Miss,
    /// No layer had it intact, and at least one found a damaged entry (and dropped it).
    Corrupt,
}

impl Answer {
    /// Asks `layers` (starting at index `first`) in order; the first hit wins.
    fn ask(layers: &[Arc<dyn PipelineCacheStore>], first: usize, fp: &PipelineFingerprint) -> Self {
        let mut corrupt = false;
        for (offset, layer) in layers.iter().enumerate() {
            match layer.lookup(fp) {
                Lookup::Hit(blob) => return Self::Hit(blob, first + offset),
                Lookup::Corrupt => corrupt = true,
                Lookup::Miss => {}
            }
        }
        if corrupt {
            Self::Corrupt
        } else {
            Self::Miss
        }
    }
}

impl LayeredPipelineCache {
    /// Layers fastest first, writing through to all of them and promoting hits.
    #[must_use]
    pub fn new(layers: Vec<Arc<dyn PipelineCacheStore>>) -> Self {
        Self::with_options(layers, LayeredOptions::default())
    }

    /// Layers fastest first with the given policies. Indexes in [`WritePolicy::Layers`] beyond
    /// the last layer, in [`PromotePolicy::PerLayer`] not faster than their layer, and a
    /// [`BackgroundLayers::from`] beyond the last layer are ignored.
    #[must_use]
    pub fn with_options(layers: Vec<Arc<dyn PipelineCacheStore>>, options: LayeredOptions) -> Self {
        let count = layers.len();
        let writes_to = (0..count)
            .map(|index| match &options.write {
                WritePolicy::All => true,
                WritePolicy::FastestOnly => index == 0,
                WritePolicy::Layers(chosen) => chosen.contains(&index),
            })
            .collect();
        let background = options
            .background
            .filter(|background| background.from < count);
        let promote_to = (0..count)
            .map(|index| match &options.promote_into {
                PromotePolicy::PerLayer(per_layer) if index < per_layer.len() => (0..index)
                    .filter(|t| per_layer[index].contains(t))
                    .collect(),
                _ => (0..index).collect(),
            })
            .collect();
        Self {
            foreground: background
                .as_ref()
                .map_or(count, |background| background.from),
            background: background.map(|background| Background {
                lookup_wait: background.lookup_wait,
                flush_wait: background.flush_wait,
                work: Arc::new(Work {
                    state: Mutex::new(WorkState::default()),
                    ready: Condvar::new(),
                    flushed: Condvar::new(),
                }),
            }),
            layers,
            writes_to,
            promote: options.promote,
            promote_to,
            metrics: MetricsRecorder::new(),
            tally: Arc::new(Tally::new(count)),
        }
    }

    /// The layers, fastest first.
    pub fn layers(&self) -> &[Arc<dyn PipelineCacheStore>] {
        &self.layers
    }

    /// Each layer's own metrics, fastest first.
    pub fn layer_metrics(&self) -> Vec<PipelineCacheMetrics> {
        self.layers
            .iter()
            .map(PipelineCacheStore::metrics)
            .collect()
    }

    /// Where hits came from and what promotion did.
    pub fn promotion_report(&self) -> PromotionReport {
        let tally = &self.tally;
        let load = |count: &AtomicU64| count.load(Ordering::Relaxed);
        let mut hits_by_layer: Vec<u64> = tally.slow_hits.iter().map(load).collect();
        if let Some(first) = hits_by_layer.first_mut() {
            let slower: u64 = tally.slow_hits[1..]
                .iter()
                .map(load)
                .fold(0, u64::saturating_add);
            *first = self.metrics.value(Counter::Hits).saturating_sub(slower);
        }
        PromotionReport {
            hits_by_layer,
            promoted_into: tally.promoted_into.iter().map(load).collect(),
            failed_promotions: load(&tally.failed_promotions),
            background_waits_ended: load(&tally.waits_ended),
            late_hits: load(&tally.late_hits),
            background_lookups_dropped: load(&tally.dropped),
        }
    }

    /// Asks the background layers for `fp`, waiting at most `lookup_wait` (a miss after that).
    fn background_get(&self, background: &Background, fp: &PipelineFingerprint) -> Answer {
        let lookup = {
            let mut state = background.work.state.lock();
            if let Some(lookup) = state.pending.get(fp) {
                let lookup = Arc::clone(lookup);
                lookup.outcome.lock().waiting += 1;
                lookup
            } else if state.queue.len() >= MAX_BACKGROUND_LOOKUPS || !self.start_thread(&mut state)
            {
                self.tally.dropped.fetch_add(1, Ordering::Relaxed);
                return Answer::Miss;
            } else {
                let lookup = Arc::new(PendingLookup {
                    fp: *fp,
                    outcome: Mutex::new(LookupOutcome {
                        answer: None,
                        waiting: 1,
                    }),
                    answered: Condvar::new(),
                });
                state.queue.push_back(Arc::clone(&lookup));
                state.pending.insert(*fp, Arc::clone(&lookup));
                background.work.ready.notify_one();
                lookup
            }
        };
        let deadline = Instant::now() + background.lookup_wait;
        let mut outcome = lookup.outcome.lock();
        while outcome.answer.is_none() {
            if lookup
                .answered
                .wait_until(&mut outcome, deadline)
                .timed_out()
            {
                break;
            }
        }
        outcome.waiting -= 1;
        let answer = outcome.answer.clone();
        drop(outcome);
        answer.unwrap_or_else(|| {
            self.tally.waits_ended.fetch_add(1, Ordering::Relaxed);
            Answer::Miss
        })
    }

    /// The background layers' copies of `fp`, read on a thread of their own (not the stack's
    /// background thread, which promotes what it finds) and waited for at most `lookup_wait`;
    /// an answer after that is dropped. A thread per call: these reads are rare (a recorder's
    /// start, a replay's), not on a lookup path.
    fn background_copies(
        &self,
        background: &Background,
        fp: &PipelineFingerprint,
    ) -> Vec<Arc<Vec<u8>>> {
        let layers = self.layers[self.foreground..].to_vec();
        let fp = *fp;
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let reader = std::thread::Builder::new()
            .name("pcstore-copies".into())
            .spawn(move || {
                let copies: Vec<Arc<Vec<u8>>> = layers
                    .iter()
                    .flat_map(|layer| layer.get_every_copy(&fp))
                    .collect();
                let _ = answer.send(copies);
            });
        if reader.is_err() {
            return Vec::new();
        }
        answered
            .recv_timeout(background.lookup_wait)
            .unwrap_or_else(|_| {
                self.tally.waits_ended.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            })
    }

    /// Flushes the background layers on their thread, waiting at most `flush_wait`.
    fn background_flush(&self, background: &Background) {
        let work = &background.work;
        let mut state = work.state.lock();
        if !self.start_thread(&mut state) {
            return;
        }
        state.flushes_requested += 1;
        let target = state.flushes_requested;
        work.ready.notify_one();
        let deadline = Instant::now() + background.flush_wait;
        while state.flushes_done < target {
            if work.flushed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
    }

    /// Starts the background thread unless it runs; `false` if it cannot be started.
    fn start_thread(&self, state: &mut WorkState) -> bool {
        if state.running {
            return true;
        }
        let Some(background) = &self.background else {
            return false;
        };
        let worker = Worker {
            work: Arc::clone(&background.work),
            layers: self.layers.clone(),
            from: self.foreground,
            promote: self.promote,
            promote_to: self.promote_to.clone(),
            tally: Arc::clone(&self.tally),
        };
        let spawned = std::thread::Builder::new()
            .name("pcstore-background-layers".into())
            .spawn(move || worker.run());
        state.running = spawned.is_ok();
        state.running
    }
}

/// The background thread: lookups first (someone may be waiting), then flushes.
struct Worker {
    work: Arc<Work>,
    layers: Vec<Arc<dyn PipelineCacheStore>>,
    from: usize,
    promote: bool,
    promote_to: Vec<Vec<usize>>,
    tally: Arc<Tally>,
}

impl Worker {
    fn run(self) {
        let work = &self.work;
        let mut state = work.state.lock();
        loop {
            if state.shutdown {
                return;
            }
            if let Some(lookup) = state.queue.pop_front() {
                drop(state);
                self.look_up(&lookup);
                state = work.state.lock();
                state.pending.remove(&lookup.fp);
            } else if state.flushes_done < state.flushes_requested {
                let target = state.flushes_requested;
                drop(state);
                for layer in &self.layers[self.from..] {
                    // Reported by the layer's own metrics; the caller stopped waiting anyway.
                    let _ = layer.flush();
                }
                state = work.state.lock();
                state.flushes_done = target;
                work.flushed.notify_all();
            } else {
                work.ready.wait(&mut state);
            }
        }
    }

    fn look_up(&self, lookup: &PendingLookup) {
        let found = Answer::ask(&self.layers[self.from..], self.from, &lookup.fp);
        if let Answer::Hit(blob, index) = &found {
            if self.promote {
                self.tally
                    .promote(&self.layers, &self.promote_to[*index], &lookup.fp, blob);
            }
        }
        let mut outcome = lookup.outcome.lock();
        let late = outcome.waiting == 0 && matches!(found, Answer::Hit(..));
        outcome.answer = Some(found);
        drop(outcome);
        lookup.answered.notify_all();
        if late {
            self.tally.late_hits.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for LayeredPipelineCache {
    fn drop(&mut self) {
        // The thread finishes the lookup or flush it is in and exits; nobody waits for it.
        if let Some(background) = &self.background {
            background.work.state.lock().shutdown = true;
            background.work.ready.notify_all();
        }
    }
}

impl std::fmt::Debug for LayeredPipelineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredPipelineCache")
            .field("layers", &self.layers.len())
            .field("foreground", &self.foreground)
            .field("writes_to", &self.writes_to)
            .field("promote", &self.promote)
            .field("promote_to", &self.promote_to)
            .finish()
    }
}

impl PipelineCacheStore for LayeredPipelineCache {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.get_arc(fp).map(|blob| blob.as_ref().clone())
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put(fp, artifact);
    }

    #[inline]
    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        self.lookup(fp).hit()
    }

    /// A hit in any layer wins; otherwise `Corrupt` when any layer (a background one within its
    /// wait included) found a damaged entry, else `Miss`.
    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        let probe = self.metrics.start_get();
        let mut answer = Answer::ask(&self.layers[..self.foreground], 0, fp);
        if let Answer::Hit(blob, index) = &answer {
            if *index > 0 {
                self.tally.slow_hits[*index].fetch_add(1, Ordering::Relaxed);
                if self.promote {
                    self.tally
                        .promote(&self.layers, &self.promote_to[*index], fp, blob);
                }
            }
        } else if let Some(background) = &self.background {
            // Promoted by the background thread before it answered.
            match self.background_get(background, fp) {
                Answer::Hit(blob, index) => {
                    self.tally.slow_hits[index].fetch_add(1, Ordering::Relaxed);
                    answer = Answer::Hit(blob, index);
                }
                Answer::Corrupt => answer = Answer::Corrupt,
                Answer::Miss => {}
            }
        }
        let found = match answer {
            Answer::Hit(blob, _) => Lookup::Hit(blob),
            Answer::Miss => Lookup::Miss,
            Answer::Corrupt => Lookup::Corrupt,
        };
        let hit_len = match &found {
            Lookup::Hit(blob) => Some(blob.len()),
            Lookup::Miss | Lookup::Corrupt => None,
        };
        self.metrics.record_lookup(probe, hit_len);
        found
    }

    /// Every layer's copies, fastest first: the foreground layers' on the calling thread, the
    /// background layers' within the stack's lookup wait. Nothing is promoted (the copies
    /// differ on purpose, and a promoted copy would replace a faster layer's own).
    fn get_every_copy(&self, fp: &PipelineFingerprint) -> Vec<Arc<Vec<u8>>> {
        let mut copies: Vec<Arc<Vec<u8>>> = self.layers[..self.foreground]
            .iter()
            .flat_map(|layer| layer.get_every_copy(fp))
            .collect();
        if let Some(background) = &self.background {
            copies.extend(self.background_copies(background, fp));
        }
        copies
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.try_put_arc(fp, Arc::new(artifact))
    }

    /// Writes to every layer the policy names, even after one fails. The result is an I/O
    /// error if any layer had one (the blob may still be readable from the others, but a flush
    /// will not make it durable there); else `Ok` if any layer accepted it; else the first
    /// layer's refusal.
    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        let started = Instant::now();
        let len = artifact.len();
        let mut accepted = false;
        let mut io_error = None;
        let mut refusal = None;
        for (layer, _) in self.layers.iter().zip(&self.writes_to).filter(|(_, w)| **w) {
            match layer.try_put_arc(fp, Arc::clone(&artifact)) {
                Ok(()) => accepted = true,
                Err(PutError::Io(err)) => {
                    io_error.get_or_insert(err);
                }
                Err(other) => {
                    refusal.get_or_insert(other);
                }
            }
        }
        let result = match (io_error, accepted, refusal) {
            (Some(err), _, _) => Err(PutError::Io(err)),
            (None, true, _) => Ok(()),
            (None, false, Some(refusal)) => Err(refusal),
            (None, false, None) => Err(PutError::Dropped("no layer takes writes")),
        };
        self.metrics.record_put(started, len, result.is_ok());
        result
    }

    /// Flushes every foreground layer, fastest first, and returns the first error after trying
    /// them all; then gives the [`BackgroundLayers`] `flush_wait` to flush, unreported.
    fn flush(&self) -> io::Result<()> {
        let started = Instant::now();
        let mut first_error = None;
        for layer in &self.layers[..self.foreground] {
            if let Err(err) = layer.flush() {
                first_error.get_or_insert(err);
            }
        }
        if let Some(background) = &self.background {
            self.background_flush(background);
        }
        self.metrics.inc(Counter::Flushes);
        self.metrics.record_latency(Op::Flush, started.elapsed());
        match first_error {
            Some(err) => {
                self.metrics.inc(Counter::FlushErrors);
                Err(err)
            }
            None => Ok(()),
        }
    }

    /// Lookups, hits, misses, puts, bytes read and written and latencies are this stack's
    /// logical figures; evictions and corrupt drops are summed over the layers; `cached_bytes`
    /// and `entries` are the largest layer's (layers hold copies of each other, so a sum would
    /// count one blob several times).
    fn metrics(&self) -> PipelineCacheMetrics {
        let layers = self.layer_metrics();
        let largest = layers
            .iter()
            .max_by_key(|m| m.cached_bytes)
            .copied()
            .unwrap_or_default();
        let mut total = self.metrics.snapshot(largest.cached_bytes, largest.entries);
        for layer in &layers {
            total.evictions = total.evictions.saturating_add(layer.evictions);
            total.evicted_bytes = total.evicted_bytes.saturating_add(layer.evicted_bytes);
            total.corrupt_dropped = total.corrupt_dropped.saturating_add(layer.corrupt_dropped);
        }
        total
    }
}
