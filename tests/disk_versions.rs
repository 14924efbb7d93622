//! Files of other format versions (issue 10, finding 3). Every game ships its own libpcstore and
//! they share the per-user directory: after a format bump an old and a new build open the same
//! store. A segment or index of another version is never deleted, truncated or rewritten (only
//! the version that wrote it, or a newer one that understands it, may compact it), and its bytes
//! do not count against this version's budget (it cannot reclaim them).

mod disk_support;

use std::path::Path;

use disk_support::{age, key, payload, snapshot, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PutError};

const BUDGET: u64 = 256 << 10;

fn options() -> DiskCacheOptions {
    DiskCacheOptions {
        max_bytes: BUDGET,
        ..DiskCacheOptions::default()
    }
}

/// A file of format `version` under `magic`: the 12 bytes every version of the family starts
/// with, then `len` bytes that this build cannot make sense of.
fn other_version_file(magic: &[u8; 8], version: u32, len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

/// Writes the files of versions 3 and 99 (versions this build does not read: it reads 1 and 2)
/// into `dir` (aged past every grace period) and
/// returns their names and contents.
fn plant_other_versions(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        // A version-3 segment bigger than this store's whole budget, and its index.
        (
            "seg-1000000000000001-00000002.log",
            other_version_file(b"PCSTSEG\0", 3, 3 * BUDGET as usize, 1),
        ),
        (
            "seg-1000000000000001-00000002.idx",
            other_version_file(b"PCSTIDX\0", 3, 500, 2),
        ),
        // Version 3 may use a header shorter than versions 1 and 2's 32 bytes.
        (
            "seg-1000000000000002-00000002.log",
            other_version_file(b"PCSTSEG\0", 3, 4, 3),
        ),
        // Version 99, with an index.
        (
            "seg-1000000000000003-00000063.log",
            other_version_file(b"PCSTSEG\0", 99, 4096, 4),
        ),
        (
            "seg-1000000000000003-00000063.idx",
            other_version_file(b"PCSTIDX\0", 99, 72, 5),
        ),
        // A version-3 index whose segment is gone: still not this build's to delete.
        (
            "seg-1000000000000004-00000002.idx",
            other_version_file(b"PCSTIDX\0", 3, 144, 6),
        ),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).expect("write");
            age(&path);
            (name.to_owned(), bytes)
        })
        .collect()
}

#[test]
fn other_versions_survive_opens_and_compactions_and_v1_keeps_working() {
    let dir = ScratchDir::new("versions");
    {
        let cache = DiskCache::with_options(dir.path(), options()).expect("open");
        for k in 0..20u64 {
            cache.try_put(key(k), payload(k, 1, 2000)).expect("put");
        }
        cache.flush().expect("flush");
    }
    let planted = plant_other_versions(dir.path());
    let planted_bytes: u64 = planted.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    assert!(
        planted_bytes > BUDGET + BUDGET / 8,
        "more than the whole budget"
    );

    for round in 0..4u64 {
        let cache = DiskCache::with_options(dir.path(), options()).expect("open");
        // Version 1's own entries are all there (nothing evicted them yet) or were evicted by
        // this version's own budget; never wrong bytes.
        for k in 0..20u64 {
            if let Some(bytes) = cache.get(&key(k)) {
                assert!(bytes == payload(k, 1, 2000), "round {round}: key {k}");
            }
        }
        if round == 0 {
            for k in 0..20u64 {
                assert!(
                    cache.get(&key(k)).is_some(),
                    "key {k} readable next to other versions' data"
                );
            }
        }
        // Other versions' bytes do not count (they are 3x the budget): puts are accepted.
        let report = cache.durability_report();
        assert!(report.disk_bytes < BUDGET, "{} counted", report.disk_bytes);
        let mut last_accepted = None;
        for k in 0..60u64 {
            let k = 1000 + round * 100 + k;
            match cache.try_put(key(k), payload(k, round, 3000)) {
                Ok(()) => last_accepted = Some(k),
                // Writing faster than the background compaction: refused for now, allowed.
                Err(PutError::Dropped(_)) => {}
                Err(err) => panic!("put: {err}"),
            }
        }
        let last = last_accepted.expect("puts accepted next to other versions' data");
        cache.flush().expect("flush");
        cache.compact().expect("compact");
        assert_eq!(
            cache.get(&key(last)),
            Some(payload(last, round, 3000)),
            "round {round}"
        );
        let after = 5000 + round;
        cache
            .try_put(key(after), payload(after, round, 3000))
            .expect("after a compaction, room again: other versions never fill the budget");
        // Compactions ran (each deletes the version-1 segments it copied from).
        assert!(cache.durability_report().compactions > 0, "round {round}");
        assert_eq!(
            cache.metrics().corrupt_dropped,
            0,
            "nothing counted as damage"
        );
        drop(cache);
        let now = snapshot(dir.path());
        for (name, bytes) in &planted {
            assert!(
                now.get(name) == Some(bytes),
                "round {round}: {name} was deleted or changed"
            );
        }
    }
    // A read-only opener and a reader of the version-1 entries agree.
    let reader = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            read_only: true,
            ..options()
        },
    )
    .expect("read-only open");
    assert_eq!(reader.get(&key(5003)), Some(payload(5003, 3, 3000)));
}

#[test]
fn a_damaged_segment_of_this_version_is_still_removed() {
    let dir = ScratchDir::new("v1-damaged");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        cache.try_put(key(1), payload(1, 1, 100)).expect("put");
        cache.flush().expect("flush");
    }
    // Version 1's header with a failing check, a file too short to name any version, and one
    // without the family's magic: all damage under pcstore's own names.
    let mut v1_bad_check = b"PCSTSEG\0".to_vec();
    v1_bad_check.extend_from_slice(&1u32.to_le_bytes());
    v1_bad_check.extend_from_slice(&[0xEE; 200]);
    // The same for version 2, this build's own.
    let mut v2_bad_check = v1_bad_check.clone();
    v2_bad_check[8] = 2;
    let damaged = [
        ("seg-2000000000000001-00000001.log", v1_bad_check),
        (
            "seg-2000000000000002-00000001.log",
            b"PCSTSEG\0\x02".to_vec(),
        ),
        ("seg-2000000000000003-00000001.log", vec![0u8; 4096]),
        ("seg-2000000000000004-00000001.log", v2_bad_check),
    ];
    for (name, bytes) in &damaged {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    let cache = DiskCache::new(dir.path()).expect("open");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 100)));
    for (name, _) in &damaged {
        assert!(!dir.path().join(name).exists(), "{name} removed");
    }
    assert_eq!(cache.metrics().corrupt_dropped, 4);
}
