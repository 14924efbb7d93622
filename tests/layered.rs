//! Behaviour of the layered tier: promotion, write policies, accounting, flush errors.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pcstore::{
    InMemoryPipelineCache, LayeredOptions, LayeredPipelineCache, PipelineCacheMetrics,
    PipelineCacheStore, PipelineFingerprint, PutError, WritePolicy,
};

fn key(n: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(&n.to_le_bytes())
}

/// A slow tier that fails on demand, standing in for a full disk.
#[derive(Default)]
struct FailingStore {
    inner: InMemoryPipelineCache,
    fail_puts: bool,
    fail_flush: bool,
    flushes: AtomicU64,
}

impl PipelineCacheStore for FailingStore {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.inner.get(fp)
    }
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put(fp, artifact);
    }
    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        if self.fail_puts {
            return Err(PutError::Io(io::Error::other("disk full")));
        }
        self.inner.try_put(fp, artifact)
    }
    fn flush(&self) -> io::Result<()> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        if self.fail_flush {
            Err(io::Error::other("flush failed"))
        } else {
            Ok(())
        }
    }
    fn metrics(&self) -> PipelineCacheMetrics {
        self.inner.metrics()
    }
}

fn two_memories() -> (Arc<InMemoryPipelineCache>, Arc<InMemoryPipelineCache>) {
    (
        Arc::new(InMemoryPipelineCache::new()),
        Arc::new(InMemoryPipelineCache::new()),
    )
}

#[test]
fn a_slow_hit_is_promoted_sharing_the_arc_and_counted_once() {
    let (fast, slow) = two_memories();
    slow.put(key(1), vec![7; 100]);
    let layered = LayeredPipelineCache::new(vec![fast.clone(), slow.clone()]);

    let found = layered.get_arc(&key(1)).expect("hit in the slow layer");
    assert_eq!(*found, vec![7; 100]);
    let promoted = fast.get_arc(&key(1)).expect("promoted into the fast layer");
    assert!(
        Arc::ptr_eq(&found, &promoted),
        "promotion into memory must not copy"
    );

    assert!(layered.get_arc(&key(1)).is_some());
    assert!(layered.get_arc(&key(2)).is_none());

    let metrics = layered.metrics();
    assert_eq!((metrics.lookups, metrics.hits, metrics.misses), (3, 2, 1));
    assert_eq!(metrics.hit_rate_ppm(), 666_666);
    assert_eq!(metrics.bytes_read, 200);
    let report = layered.promotion_report();
    assert_eq!(report.hits_by_layer, vec![1, 1]);
    assert_eq!(report.promoted_into, vec![1, 0]);
    assert_eq!(report.failed_promotions, 0);

    let per_layer = layered.layer_metrics();
    assert_eq!((per_layer[0].hits, per_layer[0].misses), (2, 2));
    assert_eq!((per_layer[1].hits, per_layer[1].misses), (1, 1));
}

#[test]
fn promotion_can_be_switched_off() {
    let (fast, slow) = two_memories();
    slow.put(key(1), vec![1]);
    let layered = LayeredPipelineCache::with_options(
        vec![fast.clone(), slow.clone()],
        LayeredOptions {
            promote: false,
            ..Default::default()
        },
    );
    assert!(layered.get_arc(&key(1)).is_some());
    assert!(fast.get_arc(&key(1)).is_none());
}

#[test]
fn puts_follow_the_write_policy() {
    for (policy, expect_fast, expect_slow) in [
        (WritePolicy::All, true, true),
        (WritePolicy::FastestOnly, true, false),
        (WritePolicy::Layers(vec![1]), false, true),
        (WritePolicy::Layers(vec![5]), false, false),
    ] {
        let (fast, slow) = two_memories();
        let layered = LayeredPipelineCache::with_options(
            vec![fast.clone(), slow.clone()],
            LayeredOptions {
                write: policy.clone(),
                ..Default::default()
            },
        );
        let result = layered.try_put(key(3), vec![3; 10]);
        assert_eq!(result.is_ok(), expect_fast || expect_slow, "{policy:?}");
        assert_eq!(fast.get_arc(&key(3)).is_some(), expect_fast, "{policy:?}");
        assert_eq!(slow.get_arc(&key(3)).is_some(), expect_slow, "{policy:?}");
    }
}

#[test]
fn a_write_through_shares_one_allocation_between_memory_layers() {
    let (fast, slow) = two_memories();
    let layered = LayeredPipelineCache::new(vec![fast.clone(), slow.clone()]);
    layered.put(key(4), vec![4; 1000]);
    let a = fast.get_arc(&key(4)).unwrap();
    let b = slow.get_arc(&key(4)).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let metrics = layered.metrics();
    assert_eq!((metrics.puts, metrics.bytes_written), (1, 1000));
    assert_eq!(
        (metrics.entries, metrics.cached_bytes),
        (1, 1000),
        "a copy is not counted twice"
    );
}

#[test]
fn an_io_error_in_one_layer_is_reported_after_the_others_took_the_blob() {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(FailingStore {
        fail_puts: true,
        ..Default::default()
    });
    let layered = LayeredPipelineCache::new(vec![fast.clone(), slow.clone()]);
    let err = layered.try_put(key(5), vec![5; 10]).unwrap_err();
    assert!(matches!(err, PutError::Io(_)), "{err}");
    assert!(
        fast.get_arc(&key(5)).is_some(),
        "the fast layer still took it"
    );
    assert_eq!(layered.metrics().rejected_puts, 1);
}

#[test]
fn a_refusal_by_one_layer_is_not_an_error_when_another_took_it() {
    let small = Arc::new(InMemoryPipelineCache::with_limits(10, 4));
    let big = Arc::new(InMemoryPipelineCache::new());
    let layered = LayeredPipelineCache::new(vec![small.clone(), big.clone()]);
    assert!(layered.try_put(key(6), vec![6; 100]).is_ok());
    assert!(small.get_arc(&key(6)).is_none());
    assert_eq!(layered.get(&key(6)), Some(vec![6; 100]));
    assert_eq!(
        layered.promotion_report().failed_promotions,
        1,
        "too large to promote"
    );
    let only_small = LayeredPipelineCache::new(vec![small.clone()]);
    assert!(matches!(
        only_small.try_put(key(7), vec![7; 100]),
        Err(PutError::TooLarge { .. })
    ));
}

#[test]
fn flush_tries_every_layer_and_reports_the_first_error() {
    let first = Arc::new(FailingStore {
        fail_flush: true,
        ..Default::default()
    });
    let second = Arc::new(FailingStore::default());
    let third = Arc::new(FailingStore {
        fail_flush: true,
        ..Default::default()
    });
    let layered = LayeredPipelineCache::new(vec![first.clone(), second.clone(), third.clone()]);
    let err = layered.flush().unwrap_err();
    assert_eq!(err.to_string(), "flush failed");
    for layer in [&first, &second, &third] {
        assert_eq!(layer.flushes.load(Ordering::Relaxed), 1);
    }
    let metrics = layered.metrics();
    assert_eq!((metrics.flushes, metrics.flush_errors), (1, 1));
    assert_eq!(metrics.flush_latency.samples, 1);
}

#[test]
fn concurrent_readers_through_the_stack_see_only_true_bytes() {
    let (fast, slow) = (
        Arc::new(InMemoryPipelineCache::with_limits(50, u64::MAX)),
        Arc::new(InMemoryPipelineCache::new()),
    );
    for n in 0..500u64 {
        slow.put(key(n), n.to_le_bytes().repeat(8));
    }
    let layered = Arc::new(LayeredPipelineCache::new(vec![fast.clone(), slow]));
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let layered = Arc::clone(&layered);
            scope.spawn(move || {
                for i in 0..5000u64 {
                    let n = (i * 7 + t * 13) % 600;
                    match layered.get_arc(&key(n)) {
                        Some(found) => assert_eq!(*found, n.to_le_bytes().repeat(8)),
                        None => assert!(n >= 500),
                    }
                }
            });
        }
    });
    let metrics = layered.metrics();
    assert_eq!(metrics.lookups, 20_000);
    assert_eq!(metrics.hits + metrics.misses, 20_000);
    assert!(fast.len() <= 50);
    let report = layered.promotion_report();
    assert_eq!(report.hits_by_layer.iter().sum::<u64>(), metrics.hits);
}
