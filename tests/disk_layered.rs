//! The disk tier under the memory tier, as an engine stacks them: puts reach disk, flush makes
//! them durable, and a fresh process-like stack finds them on disk and promotes them.

mod disk_support;

use std::sync::Arc;

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, InMemoryPipelineCache, LayeredPipelineCache, PipelineCacheStore};

fn stack(dir: &std::path::Path) -> (LayeredPipelineCache, Arc<DiskCache>) {
    let memory = Arc::new(InMemoryPipelineCache::with_limits(1024, 16 << 20));
    let disk = Arc::new(DiskCache::new(dir).expect("open disk tier"));
    let layers: Vec<Arc<dyn PipelineCacheStore>> = vec![memory, disk.clone()];
    (LayeredPipelineCache::new(layers), disk)
}

#[test]
fn a_fresh_stack_reads_what_the_last_one_flushed() {
    let dir = ScratchDir::new("layered");
    {
        let (store, disk) = stack(dir.path());
        for k in 0..50u64 {
            store.put(key(k), payload(k, 1, 3000));
        }
        store.flush().expect("flush all layers");
        assert_eq!(disk.metrics().entries, 50);
        assert_eq!(disk.durability_report().unflushed_puts, 0);
    }
    let (store, disk) = stack(dir.path());
    for k in 0..50u64 {
        let blob = store.get_arc(&key(k)).expect("disk hit");
        assert!(*blob == payload(k, 1, 3000), "key {k}");
    }
    let disk_hits = disk.metrics().hits;
    assert_eq!(disk_hits, 50);
    // Promoted: the second round is served from memory, the disk sees no more lookups.
    for k in 0..50u64 {
        assert!(store.get_arc(&key(k)).is_some());
    }
    assert_eq!(disk.metrics().lookups, 50);
}
