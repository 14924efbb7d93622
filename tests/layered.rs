//! Behaviour of the layered tier: promotion, write policies, accounting, flush errors.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pcstore::{
    BackgroundLayers, InMemoryPipelineCache, LayeredOptions, LayeredPipelineCache,
    PipelineCacheMetrics, PipelineCacheStore, PipelineFingerprint, PutError, WritePolicy,
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

/// A slow layer whose lookups and flushes block until the test opens its gate: a remote
/// tier on a server that does not answer, without any timing.
#[derive(Default)]
struct GatedStore {
    inner: InMemoryPipelineCache,
    open: parking_lot::Mutex<bool>,
    opened: parking_lot::Condvar,
    gets: AtomicU64,
    flushes: AtomicU64,
    fail_flush: bool,
}

impl GatedStore {
    fn pass_when_open(&self) {
        let mut open = self.open.lock();
        while !*open {
            self.opened.wait(&mut open);
        }
    }

    fn open_gate(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

impl PipelineCacheStore for GatedStore {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.pass_when_open();
        self.inner.get(fp)
    }
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        self.inner.put(fp, artifact);
    }
    fn flush(&self) -> io::Result<()> {
        self.pass_when_open();
        self.flushes.fetch_add(1, Ordering::SeqCst);
        if self.fail_flush {
            Err(io::Error::other("server unreachable"))
        } else {
            Ok(())
        }
    }
}

/// Polls `condition` (bounded, so a bug fails the test instead of hanging it).
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn with_background(
    fast: Arc<InMemoryPipelineCache>,
    slow: Arc<GatedStore>,
    lookup_wait_ms: u64,
) -> LayeredPipelineCache {
    LayeredPipelineCache::with_options(
        vec![fast, slow],
        LayeredOptions {
            background: Some(BackgroundLayers {
                lookup_wait: std::time::Duration::from_millis(lookup_wait_ms),
                ..BackgroundLayers::starting_at(1)
            }),
            ..Default::default()
        },
    )
}

#[test]
fn a_background_layer_never_holds_a_lookup_and_a_late_hit_lands_in_the_faster_layers() {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(GatedStore::default());
    slow.inner.put(key(1), vec![1; 64]);
    let layered = with_background(fast.clone(), slow.clone(), 20);

    let started = std::time::Instant::now();
    assert_eq!(
        layered.get_arc(&key(1)),
        None,
        "the slow layer has not answered"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(20));
    assert_eq!(
        slow.gets.load(Ordering::SeqCst),
        1,
        "asked in the background"
    );
    let report = layered.promotion_report();
    assert_eq!(report.background_waits_ended, 1);
    assert_eq!(report.late_hits, 0);

    slow.open_gate();
    wait_for("the late hit to be promoted", || {
        fast.get_arc(&key(1)).is_some()
    });
    wait_for("the late hit to be counted", || {
        layered.promotion_report().late_hits == 1
    });
    assert_eq!(layered.get_arc(&key(1)).as_deref(), Some(&vec![1; 64]));
    assert_eq!(
        slow.gets.load(Ordering::SeqCst),
        1,
        "served by the fast layer"
    );
    let report = layered.promotion_report();
    assert_eq!(report.hits_by_layer, vec![1, 0]);
    assert_eq!(report.promoted_into, vec![1, 0]);
    let metrics = layered.metrics();
    assert_eq!((metrics.lookups, metrics.hits, metrics.misses), (2, 1, 1));
}

#[test]
fn an_answer_within_the_wait_is_returned_and_shared_by_concurrent_lookups() {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(GatedStore::default());
    slow.inner.put(key(2), vec![2; 10]);
    // A wait far longer than the test: every caller gets the answer once the gate opens.
    let layered = with_background(fast.clone(), slow.clone(), 60_000);
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| layered.get_arc(&key(2))))
            .collect();
        wait_for("the background lookup to start", || {
            slow.gets.load(Ordering::SeqCst) == 1
        });
        slow.open_gate();
        for caller in callers {
            assert_eq!(caller.join().unwrap().as_deref(), Some(&vec![2; 10]));
        }
    });
    // Callers that were waiting when the gate opened share the one lookup. A caller whose thread
    // started late can miss memory just before the promotion and reach the queue just after the
    // answer was taken off it: it asks again (seen once under load). That costs a request, not a
    // wrong answer, so the bound is "fewer lookups than callers", not exactly one.
    let lookups = slow.gets.load(Ordering::SeqCst);
    assert!(
        (1..4).contains(&lookups),
        "{lookups} lookups for four callers: nothing was shared"
    );
    assert!(fast.get_arc(&key(2)).is_some(), "promoted");
    let report = layered.promotion_report();
    assert_eq!(report.hits_by_layer[0] + report.hits_by_layer[1], 4);
    assert_eq!(report.late_hits, 0);
    assert_eq!(report.background_waits_ended, 0);
    assert_eq!(layered.get_arc(&key(3)), None, "a miss in every layer");
}

#[test]
fn lookups_beyond_the_background_queue_are_misses_at_once() {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(GatedStore::default());
    let layered = with_background(fast, slow.clone(), 1);
    assert_eq!(layered.get_arc(&key(0)), None);
    wait_for("the first lookup to block", || {
        slow.gets.load(Ordering::SeqCst) == 1
    });
    for n in 1..=300 {
        assert_eq!(layered.get_arc(&key(n)), None);
    }
    let report = layered.promotion_report();
    assert_eq!(report.background_lookups_dropped, 300 - 256, "256 may wait");
    slow.open_gate();
    wait_for("the queue to drain", || {
        slow.gets.load(Ordering::SeqCst) == 257
    });
}

#[test]
fn flush_reports_foreground_layers_and_never_waits_long_for_background_ones() {
    let disk = Arc::new(FailingStore {
        fail_flush: true,
        ..Default::default()
    });
    let slow = Arc::new(GatedStore {
        fail_flush: true,
        ..Default::default()
    });
    let layered = LayeredPipelineCache::with_options(
        vec![
            Arc::new(InMemoryPipelineCache::new()) as Arc<dyn PipelineCacheStore>,
            disk.clone(),
            slow.clone(),
        ],
        LayeredOptions {
            background: Some(BackgroundLayers::starting_at(2)),
            ..Default::default()
        },
    );
    layered.put(key(5), vec![5; 8]);
    assert_eq!(
        slow.inner.get(&key(5)),
        Some(vec![5; 8]),
        "puts still reach it"
    );
    let error = layered.flush().unwrap_err();
    assert_eq!(
        error.to_string(),
        "flush failed",
        "the foreground error is reported"
    );
    assert_eq!(disk.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(
        slow.flushes.load(Ordering::SeqCst),
        0,
        "returned while it hangs"
    );

    slow.open_gate();
    wait_for("the background flush", || {
        slow.flushes.load(Ordering::SeqCst) == 1
    });
    let healthy = LayeredPipelineCache::with_options(
        vec![
            Arc::new(InMemoryPipelineCache::new()) as Arc<dyn PipelineCacheStore>,
            slow.clone(),
        ],
        LayeredOptions {
            background: Some(BackgroundLayers {
                flush_wait: std::time::Duration::from_secs(60),
                ..BackgroundLayers::starting_at(1)
            }),
            ..Default::default()
        },
    );
    assert!(
        healthy.flush().is_ok(),
        "a background layer's failure is not the flush's result"
    );
    assert_eq!(
        slow.flushes.load(Ordering::SeqCst),
        2,
        "waited for within flush_wait"
    );
}

#[test]
fn dropping_the_stack_never_waits_for_a_hanging_background_lookup() {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(GatedStore::default());
    let layered = with_background(fast, slow.clone(), 1);
    assert_eq!(layered.get_arc(&key(1)), None);
    wait_for("the lookup to block", || {
        slow.gets.load(Ordering::SeqCst) == 1
    });
    drop(layered);
    // Reaching this line with the gate still closed is the point.
    slow.open_gate();
}

/// A fast layer and a gated slow one, each with its own copy under `fp`.
fn both_holding(
    fp: PipelineFingerprint,
    fast_copy: Vec<u8>,
    slow_copy: Vec<u8>,
) -> (Arc<InMemoryPipelineCache>, Arc<GatedStore>) {
    let fast = Arc::new(InMemoryPipelineCache::new());
    let slow = Arc::new(GatedStore::default());
    fast.put(fp, fast_copy);
    slow.inner.put(fp, slow_copy);
    (fast, slow)
}

#[test]
fn every_copy_comes_from_every_layer_and_nothing_is_promoted() {
    let (fast, slow) = both_holding(key(3), vec![3; 8], vec![33; 8]);
    slow.open_gate();
    // A wait far longer than the test: the open gate answers at once.
    let layered = with_background(fast.clone(), slow.clone(), 60_000);
    let copies: Vec<Vec<u8>> = layered
        .get_every_copy(&key(3))
        .iter()
        .map(|copy| copy.to_vec())
        .collect();
    assert_eq!(copies, vec![vec![3; 8], vec![33; 8]], "fastest first");
    assert_eq!(
        fast.get_arc(&key(3)).as_deref(),
        Some(&vec![3; 8]),
        "the fast layer keeps its own copy"
    );
    assert_eq!(layered.promotion_report().promoted_into, vec![0, 0]);
}

#[test]
fn every_copy_waits_for_a_background_layer_no_longer_than_a_lookup() {
    let (fast, slow) = both_holding(key(4), vec![4; 8], vec![44; 8]);
    let layered = with_background(fast.clone(), slow.clone(), 20);
    // The gate stays shut: without the bound this call never returns and the test hangs.
    let copies = layered.get_every_copy(&key(4));
    assert_eq!(copies.len(), 1, "only the fast layer answered in time");
    assert_eq!(copies[0].as_slice(), &[4; 8]);
    wait_for("the slow layer to be asked", || {
        slow.gets.load(Ordering::SeqCst) == 1
    });
    slow.open_gate();
    // The late answer is dropped, never promoted over the fast layer's copy.
    assert_eq!(fast.get_arc(&key(4)).as_deref(), Some(&vec![4; 8]));
    assert_eq!(layered.promotion_report().promoted_into, vec![0, 0]);
}
