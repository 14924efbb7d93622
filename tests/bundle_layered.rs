//! A bundle under memory and disk, as a game ships it: a bundle hit is promoted into memory
//! and not copied to disk (the bundle already is on local disk; a copy would spend the disk
//! budget on nothing).

mod bundle_support;

use std::sync::Arc;

use bundle_support::{entries, write_bundle, ScratchDir};
use pcstore::bundle::BundleStore;
use pcstore::{
    DiskCache, InMemoryPipelineCache, LayeredOptions, LayeredPipelineCache, PipelineCacheStore,
    PromotePolicy, WritePolicy,
};

struct Stack {
    store: LayeredPipelineCache,
    memory: Arc<InMemoryPipelineCache>,
    disk: Arc<DiskCache>,
    bundle: Arc<BundleStore>,
}

fn stack(dir: &std::path::Path, options: LayeredOptions) -> Stack {
    let memory = Arc::new(InMemoryPipelineCache::with_limits(1024, 16 << 20));
    let disk = Arc::new(DiskCache::new(dir.join("disk")).expect("disk"));
    let bundle = Arc::new(BundleStore::open(dir.join("game.pcsb")).expect("bundle"));
    let layers: Vec<Arc<dyn PipelineCacheStore>> =
        vec![memory.clone(), disk.clone(), bundle.clone()];
    Stack {
        store: LayeredPipelineCache::with_options(layers, options),
        memory,
        disk,
        bundle,
    }
}

/// Memory, disk, bundle: bundle hits go into memory only; puts go to memory and disk.
fn shipped() -> LayeredOptions {
    LayeredOptions {
        write: WritePolicy::Layers(vec![0, 1]),
        promote: true,
        promote_into: PromotePolicy::PerLayer(vec![vec![], vec![0], vec![0]]),
        ..LayeredOptions::default()
    }
}

#[test]
fn a_bundle_hit_is_promoted_into_memory_and_not_copied_to_disk() {
    let dir = ScratchDir::new("layered");
    let all = entries(40);
    write_bundle(&dir.path().join("game.pcsb"), &all, None);
    let Stack {
        store,
        memory,
        disk,
        bundle,
    } = stack(dir.path(), shipped());

    for (key, payload) in &all {
        assert_eq!(store.get_arc(key).as_deref(), Some(payload));
    }
    assert_eq!(memory.metrics().entries, 40, "promoted into memory");
    assert!(disk.keys().is_empty(), "nothing copied to disk");
    assert_eq!(disk.metrics().puts, 0);
    let report = store.promotion_report();
    assert_eq!(report.hits_by_layer, vec![0, 0, 40]);
    assert_eq!(report.promoted_into, vec![40, 0, 0]);
    assert_eq!(report.failed_promotions, 0);
    assert_eq!(
        bundle.metrics().rejected_puts,
        0,
        "no promotion tried the bundle"
    );

    // Served from memory now: the bundle sees no more lookups.
    for (key, _) in &all {
        assert!(store.get_arc(key).is_some());
    }
    assert_eq!(bundle.metrics().lookups, 40);

    // New results still reach disk, and the bundle is never asked to take them.
    let fresh = bundle_support::key(1_000);
    store.try_put(fresh, vec![5; 64]).expect("put");
    store.flush().expect("flush");
    assert_eq!(disk.keys(), vec![fresh]);
    assert_eq!(bundle.metrics().rejected_puts, 0);
    drop(store);
    drop(disk);

    // A fresh process finds the bundle entries in the bundle, never on disk.
    let again = stack(dir.path(), shipped());
    assert_eq!(again.disk.keys(), vec![fresh]);
    assert_eq!(again.store.get_arc(&all[0].0).as_deref(), Some(&all[0].1));
    assert_eq!(again.store.promotion_report().hits_by_layer, vec![0, 0, 1]);
}

#[test]
fn by_default_a_bundle_hit_would_be_copied_into_every_faster_layer() {
    // The contrast that makes the policy necessary: the default fills the disk budget with
    // copies of what the bundle already holds.
    let dir = ScratchDir::new("layered-default");
    let all = entries(5);
    write_bundle(&dir.path().join("game.pcsb"), &all, None);
    let stack = stack(dir.path(), LayeredOptions::default());
    for (key, _) in &all {
        assert!(stack.store.get_arc(key).is_some());
    }
    assert_eq!(stack.disk.keys().len(), 5);
    assert_eq!(stack.store.promotion_report().promoted_into, vec![5, 5, 0]);
    assert_eq!(stack.memory.metrics().entries, 5);
    assert_eq!(stack.bundle.metrics().hits, 5);
}

#[test]
fn per_layer_promotion_targets_ignore_layers_that_are_not_faster() {
    let layers: Vec<Arc<InMemoryPipelineCache>> = (0..4)
        .map(|_| Arc::new(InMemoryPipelineCache::new()))
        .collect();
    let key = bundle_support::key(1);
    layers[3].put(key, vec![3]);
    layers[2].put(bundle_support::key(2), vec![2]);
    let store = LayeredPipelineCache::with_options(
        layers
            .iter()
            .map(|layer| layer.clone() as Arc<dyn PipelineCacheStore>)
            .collect(),
        LayeredOptions {
            // Layer 3 promotes into layer 1 only (3 and 7 are not faster, so ignored); layer
            // 2's empty list promotes nowhere.
            promote_into: PromotePolicy::PerLayer(vec![vec![], vec![0], vec![], vec![1, 3, 7]]),
            ..Default::default()
        },
    );
    assert!(store.get_arc(&key).is_some());
    let held: Vec<bool> = layers.iter().map(|l| l.get_arc(&key).is_some()).collect();
    assert_eq!(held, vec![false, true, false, true]);
    assert!(store.get_arc(&bundle_support::key(2)).is_some());
    let held: Vec<bool> = layers
        .iter()
        .map(|l| l.get_arc(&bundle_support::key(2)).is_some())
        .collect();
    assert_eq!(
        held,
        vec![false, false, true, false],
        "an empty list promotes nowhere"
    );

    // Layers beyond the list promote into every faster layer.
    let short = LayeredPipelineCache::with_options(
        layers
            .iter()
            .map(|layer| layer.clone() as Arc<dyn PipelineCacheStore>)
            .collect(),
        LayeredOptions {
            promote_into: PromotePolicy::PerLayer(vec![]),
            ..Default::default()
        },
    );
    let other = bundle_support::key(3);
    layers[3].put(other, vec![9]);
    assert!(short.get_arc(&other).is_some());
    assert!(layers.iter().all(|l| l.get_arc(&other).is_some()));
}
