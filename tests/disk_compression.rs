//! Compressed records (disk format version 2, issue 14): what a read hands back is checked
//! after decompression, a declared value length is bounded by `max_entry_bytes` before anything
//! is allocated for it, and what does not compress is stored as it is.

mod disk_support;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore};

fn compressible(k: u64) -> Vec<u8> {
    format!("pipeline {k} ").repeat(400).into_bytes()
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    found.sort();
    found
}

/// Offsets of the record headers (by magic) whose key is `k`'s, in `bytes`.
fn record_of(bytes: &[u8], k: u64) -> usize {
    let wanted = key(k).0;
    (0..bytes.len() - 104)
        .find(|&at| &bytes[at..at + 4] == b"PCR1" && bytes[at + 16..at + 48] == wanted)
        .expect("record")
}

#[test]
fn compressible_values_are_stored_compressed_and_random_ones_as_they_are() {
    let dir = ScratchDir::new("compress-sizes");
    let cache = DiskCache::new(dir.path()).expect("open");
    cache.try_put(key(1), compressible(1)).expect("put");
    cache.try_put(key(2), payload(2, 1, 5000)).expect("put");
    cache.flush().expect("flush");
    assert_eq!(cache.get(&key(1)), Some(compressible(1)));
    assert_eq!(cache.get(&key(2)), Some(payload(2, 1, 5000)));
    let [segment] = &segment_paths(dir.path())[..] else {
        panic!("one segment");
    };
    let bytes = std::fs::read(segment).expect("read");
    let first = record_of(&bytes, 1);
    let second = record_of(&bytes, 2);
    let stored_len = |at: usize| u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
    assert_eq!(bytes[first + 5], 1, "compressed");
    assert!(stored_len(first) * 10 < compressible(1).len() as u64);
    assert_eq!(bytes[second + 5], 0, "stored as it is");
    assert_eq!(stored_len(second), 5000);
    // The header's hash is that of the value, not of the stored bytes.
    assert_eq!(
        bytes[first + 48..first + 80],
        *blake3::hash(&compressible(1)).as_bytes()
    );
}

#[test]
fn damaged_or_oversize_compressed_records_are_counted_misses() {
    let dir = ScratchDir::new("compress-damage");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        for k in 0..4 {
            cache.try_put(key(k), compressible(k)).expect("put");
        }
        cache.flush().expect("flush");
    }
    let [segment] = &segment_paths(dir.path())[..] else {
        panic!("one segment");
    };
    let bytes = std::fs::read(segment).expect("read");
    for k in 0..4 {
        assert_eq!(
            bytes[record_of(&bytes, k) + 5],
            1,
            "key {k} stored compressed"
        );
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment)
        .expect("open");
    // Key 0: the value length in front of the frame claims 2^62 bytes.
    let at = record_of(&bytes, 0) + 104;
    file.write_all_at(&(1u64 << 62).to_le_bytes(), at as u64)
        .expect("write");
    // Key 1: a byte in the middle of its frame flipped.
    let at = record_of(&bytes, 1) + 104 + 20;
    file.write_all_at(&[bytes[at] ^ 0x5a], at as u64)
        .expect("write");
    drop(file);

    let cache = DiskCache::new(dir.path()).expect("reopen");
    assert_eq!(cache.get(&key(0)), None);
    assert_eq!(cache.get(&key(1)), None);
    assert_eq!(cache.get(&key(2)), Some(compressible(2)));
    assert_eq!(cache.metrics().corrupt_dropped, 2);
    // Compaction drops them and keeps the others.
    cache.compact().expect("compact");
    assert_eq!(cache.get(&key(3)), Some(compressible(3)));
    drop(cache);

    // A reader whose largest entry is below the values (yet above what is stored) misses them.
    let small = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            max_entry_bytes: compressible(2).len() as u64 - 1,
            read_only: true,
            ..DiskCacheOptions::default()
        },
    )
    .expect("open");
    assert_eq!(small.get(&key(2)), None);
    assert_eq!(small.get(&key(3)), None);
}
