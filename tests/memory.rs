//! Behaviour of the in-memory tier: contents, budgets, eviction policy, concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use pcstore::{
    EvictionReason, InMemoryPipelineCache, PipelineCacheStore, PipelineFingerprint, PutError,
};
use proptest::prelude::*;

fn key(n: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(&n.to_le_bytes())
}

/// A blob whose bytes depend on the key and a version, so a wrong or stale answer is visible.
fn blob(n: u64, version: u64, len: usize) -> Vec<u8> {
    let seed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ version;
    (0..len)
        .map(|i| (seed.rotate_left(i as u32 % 64) as u8) ^ i as u8)
        .collect()
}

#[test]
fn returns_what_was_put_and_shares_the_arc() {
    let cache = InMemoryPipelineCache::new();
    assert!(cache.get(&key(1)).is_none());
    cache.put(key(1), blob(1, 0, 100));
    assert_eq!(cache.get(&key(1)), Some(blob(1, 0, 100)));
    let first = cache.get_arc(&key(1)).unwrap();
    let second = cache.get_arc(&key(1)).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "get_arc must hand out the stored Arc, not a copy"
    );

    cache.put(key(1), blob(1, 1, 40));
    assert_eq!(cache.get(&key(1)), Some(blob(1, 1, 40)));
    assert_eq!(
        *first,
        blob(1, 0, 100),
        "an Arc handed out earlier keeps its bytes"
    );
    assert_eq!((cache.len(), cache.cached_bytes()), (1, 40));

    let metrics = cache.metrics();
    assert_eq!((metrics.lookups, metrics.hits, metrics.misses), (5, 4, 1));
    assert_eq!((metrics.puts, metrics.bytes_written), (2, 140));
    assert_eq!(metrics.bytes_read, 100 * 3 + 40);
    assert_eq!((metrics.entries, metrics.cached_bytes), (1, 40));
    assert_eq!(metrics.hit_rate_ppm(), 800_000);
    assert_eq!(metrics.put_latency.samples, 2);
}

#[test]
fn a_blob_larger_than_the_budget_is_rejected_and_reported() {
    let cache = InMemoryPipelineCache::with_limits(10, 1000);
    cache.put(key(1), blob(1, 0, 10));
    let err = cache.try_put(key(2), blob(2, 0, 1001)).unwrap_err();
    assert!(
        matches!(
            err,
            PutError::TooLarge {
                len: 1001,
                max: 1000
            }
        ),
        "{err}"
    );
    assert!(cache.get(&key(2)).is_none());
    assert_eq!(
        cache.get(&key(1)),
        Some(blob(1, 0, 10)),
        "a rejected put evicts nothing"
    );
    let reports = cache.eviction_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].reason, EvictionReason::RejectedPut);
    assert_eq!(reports[0].fingerprint, key(2));
    assert_eq!(cache.metrics().rejected_puts, 1);
    assert!(
        cache.try_put(key(3), blob(3, 0, 1000)).is_ok(),
        "exactly the budget fits"
    );
    assert_eq!(cache.cached_bytes(), 1000);
}

#[test]
fn unread_entries_leave_before_read_ones() {
    // One shard (4 entries): a, b, c, d enter the small FIFO; a is read; e arrives.
    let cache = InMemoryPipelineCache::with_limits(4, u64::MAX);
    for n in 0..4 {
        cache.put(key(n), blob(n, 0, 8));
    }
    assert!(cache.get_arc(&key(0)).is_some());
    cache.put(key(4), blob(4, 0, 8));
    let reports = cache.eviction_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].fingerprint,
        key(1),
        "the oldest unread entry goes first"
    );
    assert_eq!(reports[0].reason, EvictionReason::EntryLimit);
    for n in [0, 2, 3, 4] {
        assert!(
            cache.get_arc(&key(n)).is_some(),
            "key {n} should have stayed"
        );
    }
    let metrics = cache.metrics();
    assert_eq!((metrics.evictions, metrics.evicted_bytes), (1, 8));
}

#[test]
fn byte_budget_evicts_with_its_reason() {
    let cache = InMemoryPipelineCache::with_limits(1000, 100);
    for n in 0..10 {
        cache.put(key(n), blob(n, 0, 30));
        assert!(cache.cached_bytes() <= 100);
    }
    let reports = cache.eviction_reports();
    assert_eq!(reports.len(), 7);
    assert!(reports
        .iter()
        .all(|r| r.reason == EvictionReason::ByteLimit && r.bytes == 30));
    assert!(cache.get_arc(&key(9)).is_some(), "the newest put stays");
}

/// How many of 200 hot entries survive a one-off scan five times the cache, with keys from `key`.
fn hot_entries_surviving_a_scan(key: impl Fn(u64) -> PipelineFingerprint) -> usize {
    let cache = InMemoryPipelineCache::with_limits(1000, u64::MAX);
    let hot: Vec<u64> = (0..200).collect();
    for &n in &hot {
        cache.put(key(n), blob(n, 0, 64));
    }
    for _ in 0..3 {
        for &n in &hot {
            assert!(cache.get_arc(&key(n)).is_some());
        }
    }
    // A level load touches 5000 new pipelines once: five times the cache.
    for n in 10_000..15_000 {
        cache.put(key(n), blob(n, 0, 64));
        if n % 10 == 0 {
            // The game keeps using its working set meanwhile.
            for &h in hot.iter().step_by(7) {
                cache.get_arc(&key(h));
            }
        }
    }
    assert!(cache.len() <= 1000);
    hot.iter()
        .filter(|&&n| cache.get_arc(&key(n)).is_some())
        .count()
}

#[test]
#[cfg_attr(miri, ignore)] // 5000 puts: minutes under Miri, on paths the other tests take too
fn a_one_off_scan_does_not_flush_the_working_set() {
    let survivors = hot_entries_surviving_a_scan(key);
    // Plain LRU or FIFO would keep none of them: the scan is 5x the cache.
    assert!(
        survivors >= 180,
        "only {survivors} of 200 hot entries survived the scan"
    );
}

/// A 64-bit hash of `n` as an engine's own hash function might give it (splitmix64).
fn engine_hash(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Keys as a C engine fills `pcs_fingerprint` from its own 64-bit hash: zero-padded after it
/// (bytes 8..32 zero) or before it (bytes 0..24 zero).
fn engine_key_padded_after(n: u64) -> PipelineFingerprint {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&engine_hash(n).to_le_bytes());
    PipelineFingerprint(bytes)
}

fn engine_key_padded_before(n: u64) -> PipelineFingerprint {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&engine_hash(n).to_le_bytes());
    PipelineFingerprint(bytes)
}

#[test]
#[cfg_attr(miri, ignore)] // 2 x 5000 puts: minutes under Miri, on paths the other tests take too
fn the_working_set_survives_a_scan_with_zero_padded_engine_keys() {
    for (layout, key) in [
        (
            "hash then zeros",
            engine_key_padded_after as fn(u64) -> PipelineFingerprint,
        ),
        ("zeros then hash", engine_key_padded_before),
    ] {
        let survivors = hot_entries_surviving_a_scan(key);
        assert!(
            survivors >= 180,
            "{layout}: only {survivors} of 200 hot entries survived the scan"
        );
    }
}

#[test]
fn concurrent_get_and_put_keep_contents_and_budgets() {
    let cache = Arc::new(InMemoryPipelineCache::with_limits(300, 64 * 1024));
    // Miri interprets every instruction: fewer threads, operations and keys still let it check
    // every access the concurrent paths make.
    let (threads, operations, keys) = if cfg!(miri) {
        (3, 100, 100)
    } else {
        (8, 20_000u64, 1000)
    };
    std::thread::scope(|scope| {
        for t in 0..threads {
            let cache = Arc::clone(&cache);
            scope.spawn(move || {
                let mut state = 0x1234_5678u64 ^ t;
                for _ in 0..operations {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let n = state % keys;
                    let len = 16 + (n as usize * 37) % 500;
                    if state % 4 == 0 {
                        cache.put(key(n), blob(n, 0, len));
                    } else if let Some(found) = cache.get_arc(&key(n)) {
                        assert_eq!(*found, blob(n, 0, len), "wrong bytes for key {n}");
                    }
                }
            });
        }
    });
    assert!(cache.len() <= 300, "{} entries", cache.len());
    assert!(cache.cached_bytes() <= 64 * 1024);
    let metrics = cache.metrics();
    assert_eq!(
        metrics.lookups + metrics.puts + metrics.rejected_puts,
        threads * operations
    );
    // The gauges agree with what the cache really holds.
    let (mut entries, mut bytes) = (0u64, 0u64);
    for n in 0..keys {
        if let Some(found) = cache.get_arc(&key(n)) {
            entries += 1;
            bytes += found.len() as u64;
        }
    }
    assert_eq!((entries, bytes), (cache.len() as u64, cache.cached_bytes()));
}

#[derive(Debug, Clone)]
enum Operation {
    Put { key: u8, len: usize },
    Get { key: u8 },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (any::<u8>(), 0usize..400).prop_map(|(key, len)| Operation::Put { key, len }),
        any::<u8>().prop_map(|key| Operation::Get { key }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a model of the last value put per key: the cache answers either nothing or
    /// exactly that value, never exceeds either budget, and its gauges match its contents.
    #[test]
    #[cfg_attr(miri, ignore)] // minutes per few cases under Miri; the tests above take its paths
    fn never_wrong_never_over_budget(
        max_entries in 1usize..40,
        max_bytes in 1u64..4000,
        operations in proptest::collection::vec(operation(), 1..300),
    ) {
        let cache = InMemoryPipelineCache::with_limits(max_entries, max_bytes);
        let mut last: HashMap<u8, Vec<u8>> = HashMap::new();
        for (version, op) in operations.into_iter().enumerate() {
            match op {
                Operation::Put { key: k, len } => {
                    let value = blob(u64::from(k), version as u64, len);
                    match cache.try_put(key(u64::from(k)), value.clone()) {
                        Ok(()) => {
                            prop_assert!(len as u64 <= max_bytes);
                            prop_assert_eq!(cache.get(&key(u64::from(k))), Some(value.clone()));
                            last.insert(k, value);
                        }
                        Err(PutError::TooLarge { .. }) => prop_assert!(len as u64 > max_bytes),
                        Err(other) => prop_assert!(false, "unexpected {}", other),
                    }
                }
                Operation::Get { key: k } => {
                    if let Some(found) = cache.get(&key(u64::from(k))) {
                        prop_assert_eq!(Some(&found), last.get(&k));
                    }
                }
            }
            prop_assert!(cache.len() <= max_entries);
            prop_assert!(cache.cached_bytes() <= max_bytes);
        }
        let mut bytes = 0u64;
        let mut entries = 0usize;
        for k in 0..=255u8 {
            if let Some(found) = cache.get_arc(&key(u64::from(k))) {
                prop_assert_eq!(Some(found.as_ref()), last.get(&k));
                bytes += found.len() as u64;
                entries += 1;
            }
        }
        prop_assert_eq!((entries, bytes), (cache.len(), cache.cached_bytes()));
    }
}
