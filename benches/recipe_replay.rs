//! Recipe recording cost and recipe sizes, without a driver: `cargo bench --bench
//! recipe_replay`.
//!
//! The varied scene of tests/recipe_support (compute with specialization and push constants,
//! render passes of both APIs with several subpasses, dynamic rendering, vertex bindings,
//! immutable samplers...) recorded with made-up handles through `RecipeRecorder` into a memory
//! store, as the layer records (unless `PCSTORE_RECORD=0`):
//! - first recording of each pipeline (capture, serialize, hash, put), median over pipelines;
//! - recording a pipeline already recorded (what every later creation of it costs), median of
//!   the per-pipeline minimum over repeated chunks (preemption on a shared machine inflates
//!   means, not minima);
//! - bytes of recipe per pipeline (the pipeline and everything it refers to) and the
//!   deduplication ratio: those bytes summed over pipelines, over the bytes actually stored.
//!
//! Not measured here (see BENCHMARKS.md): replay throughput with 1 and 2 workers against the
//! application's own creation, which needs a driver and a scene of many pipelines.

#[path = "../tests/recipe_support/mod.rs"]
mod recipe_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::recipe::{AnyRecipe, ApplicationRecord, Recipe, RecipeKey, RecipeRecorder};
use pcstore::recipe::{CacheTarget, DeviceRecipe, NamespaceScheme};
use pcstore::vulkan::ash::vk;
use pcstore::{InMemoryPipelineCache, PipelineCacheStore, PipelineFingerprint};
use recipe_support::{create_scene, Creator, SceneOptions};

/// Repeated recordings per timed chunk, and chunks per pipeline.
const CHUNK: u32 = 200;
const CHUNKS: usize = 50;

struct Timed<'a> {
    recorder: &'a RecipeRecorder,
    next_handle: u64,
    first: Vec<Duration>,
    again: Vec<Duration>,
}

impl Timed<'_> {
    fn handle<H: vk::Handle>(&mut self) -> H {
        self.next_handle += 1;
        H::from_raw(0x1000 + self.next_handle)
    }

    /// Times the first recording of a pipeline, then the best chunk of recording it again.
    fn time(&mut self, mut record: impl FnMut() -> RecipeKey) {
        let started = Instant::now();
        let key = record();
        self.first.push(started.elapsed());
        let mut best = Duration::MAX;
        for _ in 0..CHUNKS {
            let started = Instant::now();
            for _ in 0..CHUNK {
                assert_eq!(record(), key, "recording again gives the same key");
            }
            best = best.min(started.elapsed() / CHUNK);
        }
        self.again.push(best);
    }
}

impl Creator for Timed<'_> {
    recipe_support::objects_recorded_with_made_up_handles!();
    fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]) {
        let recorder = self.recorder;
        for info in infos {
            // SAFETY: as above.
            self.time(|| unsafe { recorder.compute_pipeline(info) }.expect("recorded"));
        }
    }
    fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]) {
        let recorder = self.recorder;
        for info in infos {
            // SAFETY: as above.
            self.time(|| unsafe { recorder.graphics_pipeline(info) }.expect("recorded"));
        }
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// The bytes of `key`'s recipe and of everything it refers to, each once.
fn closure_bytes(store: &dyn PipelineCacheStore, key: RecipeKey) -> BTreeMap<RecipeKey, usize> {
    let mut found = BTreeMap::new();
    let mut pending = vec![key];
    while let Some(key) = pending.pop() {
        if found.contains_key(&key) {
            continue;
        }
        let bytes = store.get(&key.fingerprint()).expect("recorded recipe");
        pending.extend(AnyRecipe::from_bytes(&bytes).expect("parses").references());
        found.insert(key, bytes.len());
    }
    found
}

fn main() {
    let store: Arc<dyn PipelineCacheStore> = Arc::new(InMemoryPipelineCache::new());
    let device = DeviceRecipe {
        api_version: vk::API_VERSION_1_3,
        extensions: Vec::new(),
        features: Vec::new(),
        unrecognized: Vec::new(),
    };
    let cache = CacheTarget {
        key: PipelineFingerprint::of(b"bench"),
        namespace: b"bench".to_vec(),
        scheme: NamespaceScheme::Exact,
    };
    let recorder = RecipeRecorder::new(Arc::clone(&store), b"bench".to_vec(), cache, &device);
    let mut timed = Timed {
        recorder: &recorder,
        next_handle: 0,
        first: Vec::new(),
        again: Vec::new(),
    };
    create_scene(&mut timed, &SceneOptions::everything());
    let pipelines = timed.first.len();
    let first = median(timed.first);
    let again = median(timed.again);
    recorder.flush();

    let application = store
        .get(&recorder.application_key().fingerprint())
        .expect("application record");
    let record = ApplicationRecord::from_bytes(&application).expect("parses");
    let keys: BTreeSet<RecipeKey> = record.pipelines.values().flatten().copied().collect();
    let mut stored = BTreeMap::new();
    let mut per_pipeline = Vec::new();
    for key in &keys {
        let closure = closure_bytes(store.as_ref(), *key);
        per_pipeline.push(closure.values().sum::<usize>());
        stored.extend(closure);
    }
    let stored_bytes: usize = stored.values().sum();
    let naive_bytes: usize = per_pipeline.iter().sum();
    per_pipeline.sort_unstable();
    println!(
        "recipe recording (no driver), {pipelines} pipeline creations, {} distinct pipelines",
        keys.len()
    );
    println!(
        "  first recording per pipeline (median): {:.2} µs",
        first.as_secs_f64() * 1e6
    );
    println!(
        "  recording an already recorded pipeline (median of per-pipeline best): {:.2} µs",
        again.as_secs_f64() * 1e6
    );
    println!(
        "  recipe bytes per pipeline with its references: median {} B, min {} B, max {} B",
        per_pipeline[per_pipeline.len() / 2],
        per_pipeline[0],
        per_pipeline[per_pipeline.len() - 1]
    );
    println!(
        "  deduplication: {naive_bytes} B if each pipeline stored its own, {stored_bytes} B stored \
         ({} recipes): {:.2}x",
        stored.len(),
        naive_bytes as f64 / stored_bytes as f64
    );
}
