//! Tiers stacked fastest first: memory over disk over remote.
//!
//! A lookup asks each layer in order; a hit in a slower layer is promoted into the faster ones
//! its [`PromotePolicy`] names, every faster one by default (the same `Arc`: a memory layer
//! keeps it without copying). A put writes through to the layers its [`WritePolicy`] names, so
//! new results reach the durable tiers, not just memory.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, Op, PipelineCacheMetrics};
use crate::store::{PipelineCacheStore, PutError};

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
    /// Which faster layers a hit is copied into, when `promote` is on.
    pub promote_into: PromotePolicy,
}

impl Default for LayeredOptions {
    fn default() -> Self {
        Self {
            write: WritePolicy::All,
            promote: true,
            promote_into: PromotePolicy::AllFaster,
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
}

/// A stack of stores, fastest first, that behaves as one store.
///
/// Thread-safe if its layers are (the trait requires it). Its own metrics count each logical
/// lookup once: a memory miss followed by a disk hit is one lookup and one hit; each layer's
/// own figures stay available through [`LayeredPipelineCache::layer_metrics`].
pub struct LayeredPipelineCache {
    layers: Vec<Arc<dyn PipelineCacheStore>>,
    writes_to: Vec<bool>,
    promote: bool,
    /// Per layer, the faster layers its hits are copied into, fastest first.
    promote_to: Vec<Vec<usize>>,
    metrics: MetricsRecorder,
    /// Hits per layer, except layer 0 (derived, so a fast-path hit touches no shared counter).
    slow_hits: Vec<AtomicU64>,
    promoted_into: Vec<AtomicU64>,
    failed_promotions: AtomicU64,
}

impl LayeredPipelineCache {
    /// Layers fastest first, writing through to all of them and promoting hits.
    pub fn new(layers: Vec<Arc<dyn PipelineCacheStore>>) -> Self {
        Self::with_options(layers, LayeredOptions::default())
    }

    /// Layers fastest first with the given policies. Indexes in [`WritePolicy::Layers`] beyond
    /// the last layer, and in [`PromotePolicy::PerLayer`] not faster than their layer, are
    /// ignored.
    pub fn with_options(layers: Vec<Arc<dyn PipelineCacheStore>>, options: LayeredOptions) -> Self {
        let count = layers.len();
        let writes_to = (0..count)
            .map(|index| match &options.write {
                WritePolicy::All => true,
                WritePolicy::FastestOnly => index == 0,
                WritePolicy::Layers(chosen) => chosen.contains(&index),
            })
            .collect();
        let promote_to = (0..count)
            .map(|index| match &options.promote_into {
                PromotePolicy::PerLayer(per_layer) if index < per_layer.len() => (0..index)
                    .filter(|t| per_layer[index].contains(t))
                    .collect(),
                _ => (0..index).collect(),
            })
            .collect();
        Self {
            layers,
            writes_to,
            promote: options.promote,
            promote_to,
            metrics: MetricsRecorder::new(),
            slow_hits: (0..count).map(|_| AtomicU64::new(0)).collect(),
            promoted_into: (0..count).map(|_| AtomicU64::new(0)).collect(),
            failed_promotions: AtomicU64::new(0),
        }
    }

    /// The layers, fastest first.
    pub fn layers(&self) -> &[Arc<dyn PipelineCacheStore>] {
        &self.layers
    }

    /// Each layer's own metrics, fastest first.
    pub fn layer_metrics(&self) -> Vec<PipelineCacheMetrics> {
        self.layers.iter().map(|layer| layer.metrics()).collect()
    }

    /// Where hits came from and what promotion did.
    pub fn promotion_report(&self) -> PromotionReport {
        let mut hits_by_layer: Vec<u64> = self
            .slow_hits
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect();
        if let Some(first) = hits_by_layer.first_mut() {
            let slower: u64 = self.slow_hits[1..]
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .fold(0, u64::saturating_add);
            *first = self.metrics.value(Counter::Hits).saturating_sub(slower);
        }
        PromotionReport {
            hits_by_layer,
            promoted_into: self
                .promoted_into
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .collect(),
            failed_promotions: self.failed_promotions.load(Ordering::Relaxed),
        }
    }

    fn promote(&self, fp: &PipelineFingerprint, blob: &Arc<Vec<u8>>, found_in: usize) {
        for &index in &self.promote_to[found_in] {
            match self.layers[index].try_put_arc(*fp, Arc::clone(blob)) {
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

impl std::fmt::Debug for LayeredPipelineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredPipelineCache")
            .field("layers", &self.layers.len())
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
        let probe = self.metrics.start_get();
        let mut found = None;
        for (index, layer) in self.layers.iter().enumerate() {
            if let Some(blob) = layer.get_arc(fp) {
                if index > 0 {
                    self.slow_hits[index].fetch_add(1, Ordering::Relaxed);
                    if self.promote {
                        self.promote(fp, &blob, index);
                    }
                }
                found = Some(blob);
                break;
            }
        }
        self.metrics
            .record_lookup(probe, found.as_ref().map(|blob| blob.len()));
        found
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

    /// Flushes every layer, fastest first, and returns the first error after trying them all.
    fn flush(&self) -> io::Result<()> {
        let started = Instant::now();
        let mut first_error = None;
        for layer in &self.layers {
            if let Err(err) = layer.flush() {
                first_error.get_or_insert(err);
            }
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
