//! The core in one screen: a memory tier over a second store, put, reload through the stack,
//! and the metrics an engine would log. `cargo run --release --example store_demo`.

use std::sync::Arc;

use pcstore::{
    InMemoryPipelineCache, LayeredPipelineCache, PipelineCacheStore, PipelineFingerprint,
};

fn main() {
    let hot = Arc::new(InMemoryPipelineCache::with_limits(1024, 64 << 20));
    let backing = Arc::new(InMemoryPipelineCache::new());
    let store = LayeredPipelineCache::new(vec![hot.clone(), backing.clone()]);

    // An engine keys a pipeline by everything that decides its compiled form.
    let keys: Vec<PipelineFingerprint> = (0..100u32)
        .map(|n| {
            PipelineFingerprint::builder()
                .with(b"demo-engine/1")
                .with(&n.to_le_bytes())
                .finish()
        })
        .collect();
    for (n, key) in keys.iter().enumerate() {
        store.put(*key, vec![n as u8; 4096]);
    }
    println!("stored {} blobs of 4 KiB", keys.len());

    // Lose the hot tier (a new level, a memory squeeze): reads come back from the slower layer
    // and are promoted again.
    let fresh_hot = Arc::new(InMemoryPipelineCache::with_limits(1024, 64 << 20));
    let store = LayeredPipelineCache::new(vec![fresh_hot.clone(), backing]);
    let mut verified = 0;
    for _ in 0..3 {
        for (n, key) in keys.iter().enumerate() {
            let blob = store.get_arc(key).expect("every blob was stored");
            assert!(blob.iter().all(|b| *b == n as u8));
            verified += 1;
        }
    }
    println!("read back {verified} blobs, every byte checked");

    let metrics = store.metrics();
    let report = store.promotion_report();
    println!(
        "lookups {} hits {} misses {} hit rate {:.1} %",
        metrics.lookups,
        metrics.hits,
        metrics.misses,
        metrics.hit_rate_ppm() as f64 / 1e4
    );
    println!(
        "hits by layer {:?}, promoted into {:?}",
        report.hits_by_layer, report.promoted_into
    );
    println!(
        "get latency (sampled) p50 {} ns p99 {} ns; hot tier holds {} entries, {} bytes",
        metrics.get_latency.p50_ns,
        metrics.get_latency.p99_ns,
        fresh_hot.len(),
        fresh_hot.cached_bytes()
    );
}
