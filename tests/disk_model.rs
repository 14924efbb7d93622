//! Property test: a `DiskCache` against a model (a `HashMap` of the latest accepted value per
//! key) over random sequences of put, get, flush, compact and reopen.
//!
//! With a budget nothing outgrows, the store must answer exactly like the model. With a small
//! budget, entries may be evicted but a get returns the latest accepted value or nothing (never
//! an older version, never other bytes), the entry just put is always there, and the directory
//! stays within the budget plus one writer's slack.

mod disk_support;

use std::collections::HashMap;

use disk_support::{dir_bytes, key, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PutError};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Put { k: u8, len: u16, fill: u8 },
    Get { k: u8 },
    Flush,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, 0u16..6000, any::<u8>()).prop_map(|(k, len, fill)| Op::Put { k, len, fill }),
        4 => (0u8..24).prop_map(|k| Op::Get { k }),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn value(k: u8, len: u16, fill: u8) -> Vec<u8> {
    (0..len as usize)
        .map(|i| fill ^ k ^ (i as u8).wrapping_mul(31))
        .collect()
}

fn run(ops: &[Op], max_bytes: u64) -> Result<(), TestCaseError> {
    let dir = ScratchDir::new("model");
    let options = DiskCacheOptions {
        max_bytes,
        ..DiskCacheOptions::default()
    };
    let exact = max_bytes >= 1 << 30;
    let slack = max_bytes / 8 + (64 << 10) + (16 << 10) + 6000 + 104;
    let mut cache = Some(DiskCache::with_options(dir.path(), options.clone()).expect("open"));
    let mut model: HashMap<u8, Vec<u8>> = HashMap::new();
    for op in ops {
        let store = cache.as_ref().expect("open");
        match *op {
            Op::Put { k, len, fill } => {
                let bytes = value(k, len, fill);
                match store.try_put(key(u64::from(k)), bytes.clone()) {
                    Ok(()) => {
                        model.insert(k, bytes.clone());
                        prop_assert!(store.get(&key(u64::from(k))) == Some(bytes));
                    }
                    Err(PutError::Dropped(_)) if !exact => {}
                    Err(err) => return Err(TestCaseError::fail(format!("put: {err}"))),
                }
            }
            Op::Get { k } => {
                let got = store.get(&key(u64::from(k)));
                if exact {
                    prop_assert!(got.as_ref() == model.get(&k), "key {}", k);
                } else if let Some(bytes) = got {
                    prop_assert!(
                        Some(&bytes) == model.get(&k),
                        "stale or wrong bytes for {}",
                        k
                    );
                }
            }
            Op::Flush => prop_assert!(store.flush().is_ok()),
            Op::Compact => prop_assert!(store.compact().is_ok()),
            Op::Reopen => {
                drop(cache.take());
                cache = Some(DiskCache::with_options(dir.path(), options.clone()).expect("reopen"));
            }
        }
        let on_disk = dir_bytes(dir.path());
        prop_assert!(on_disk <= max_bytes + slack, "{} bytes on disk", on_disk);
    }
    let store = cache.as_ref().expect("open");
    if exact {
        prop_assert_eq!(store.metrics().entries, model.len() as u64);
        // The disk tier counts bytes as stored: compressed where that saved a tenth.
        let total: u64 = model
            .values()
            .map(|v| pcstore::compression::encode(v).1.len() as u64)
            .sum();
        prop_assert_eq!(store.metrics().cached_bytes, total);
    }
    prop_assert_eq!(store.metrics().corrupt_dropped, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model_when_nothing_is_evicted(ops in proptest::collection::vec(op(), 1..80)) {
        run(&ops, 1 << 30)?;
    }

    #[test]
    fn never_returns_stale_or_wrong_bytes_under_eviction(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops, 96 << 10)?;
    }
}
