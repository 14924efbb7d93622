//! Behaviour of one or two `DiskCache` handles in one process: round trips, reopen, limits,
//! read-only mode, visibility between handles, eviction by recency, cleanup and permissions.

mod disk_support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use disk_support::{decode_payload, dir_bytes, key, payload, store_bytes, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PutError};

fn options(max_bytes: u64) -> DiskCacheOptions {
    DiskCacheOptions {
        max_bytes,
        ..DiskCacheOptions::default()
    }
}

#[test]
fn puts_read_back_exactly_and_survive_reopen() {
    let dir = ScratchDir::new("roundtrip");
    let root = dir.path().join("cache");
    {
        let cache = DiskCache::new(&root).expect("open");
        assert_eq!(cache.root(), root);
        for k in 0..200u64 {
            cache
                .try_put(key(k), payload(k, 1, 16 + (k as usize * 97) % 5000))
                .expect("put");
        }
        cache
            .try_put(key(7), payload(7, 2, 300))
            .expect("overwrite");
        cache
            .try_put_arc(key(1000), Arc::new(Vec::new()))
            .expect("empty blob");
        for k in 0..200u64 {
            let v = if k == 7 { 2 } else { 1 };
            let got = cache.get_arc(&key(k)).expect("hit");
            assert_eq!(decode_payload(&got), Some((k, v)), "key {k}");
        }
        assert_eq!(cache.get(&key(1000)), Some(Vec::new()));
        assert_eq!(cache.get(&key(5000)), None);
        let metrics = cache.metrics();
        assert_eq!(metrics.entries, 201);
        assert!(metrics.cached_bytes > 0);
        assert_eq!(metrics.puts, 202);
        cache.flush().expect("flush");
        let report = cache.durability_report();
        assert_eq!(report.unflushed_puts, 0);
        assert_eq!(report.flushes_ok, 1);
        assert!(report.disk_bytes > metrics.cached_bytes);
    }
    let cache = DiskCache::new(&root).expect("reopen");
    for k in 0..200u64 {
        let v = if k == 7 { 2 } else { 1 };
        let got = cache.get(&key(k)).expect("hit after reopen");
        assert_eq!(decode_payload(&got), Some((k, v)), "key {k}");
    }
    assert_eq!(cache.get(&key(1000)), Some(Vec::new()));
    assert_eq!(cache.metrics().entries, 201);
}

#[test]
fn oversized_puts_are_refused_before_writing() {
    let dir = ScratchDir::new("toolarge");
    let cache = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            max_entry_bytes: 1000,
            ..DiskCacheOptions::default()
        },
    )
    .expect("open");
    let before = dir_bytes(dir.path());
    match cache.try_put(key(1), vec![0; 1001]) {
        Err(PutError::TooLarge {
            len: 1001,
            max: 1000,
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    cache.put(key(2), vec![0; 5000]);
    assert_eq!(dir_bytes(dir.path()), before, "nothing written");
    assert_eq!(cache.metrics().rejected_puts, 2);
    cache.try_put(key(3), vec![1; 1000]).expect("at the limit");
    assert_eq!(cache.get(&key(3)), Some(vec![1; 1000]));
}

#[test]
fn read_only_stores_read_and_refuse_writes() {
    let dir = ScratchDir::new("readonly");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        cache.try_put(key(1), payload(1, 1, 100)).expect("put");
        cache.flush().expect("flush");
    }
    let listing = |path: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing(dir.path());
    let cache = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            read_only: true,
            ..DiskCacheOptions::default()
        },
    )
    .expect("open read-only");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 100)));
    assert!(matches!(
        cache.try_put(key(2), vec![1]),
        Err(PutError::ReadOnly)
    ));
    assert!(cache.flush().is_ok());
    assert!(cache.compact().is_err());
    drop(cache);
    assert_eq!(
        listing(dir.path()),
        before,
        "read-only open changed nothing"
    );
    let missing = DiskCache::with_options(
        dir.path().join("absent"),
        DiskCacheOptions {
            read_only: true,
            ..DiskCacheOptions::default()
        },
    );
    assert!(missing.is_err());
}

#[test]
fn another_handle_sees_flushed_entries_on_miss() {
    let dir = ScratchDir::new("visibility");
    let writer = DiskCache::new(dir.path()).expect("open writer");
    let reader = DiskCache::new(dir.path()).expect("open reader");
    assert_eq!(reader.get(&key(1)), None);
    writer.try_put(key(1), payload(1, 1, 4096)).expect("put");
    writer.flush().expect("flush");
    assert_eq!(reader.get(&key(1)), Some(payload(1, 1, 4096)));
    // A newer version written by the other handle wins once it is seen.
    writer.try_put(key(2), payload(2, 1, 10)).expect("put");
    writer.flush().expect("flush");
    assert_eq!(reader.get(&key(2)), Some(payload(2, 1, 10)));
    reader
        .try_put(key(3), payload(3, 1, 10))
        .expect("put by reader");
    reader.flush().expect("flush");
    assert_eq!(writer.get(&key(3)), Some(payload(3, 1, 10)));
}

#[test]
fn size_stays_bounded_and_recently_used_entries_survive() {
    let dir = ScratchDir::new("bounded");
    let max_bytes = 2 << 20;
    let cache = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
    // A hot set, read throughout, must survive eviction of colder entries.
    let hot: Vec<u64> = (0..8).collect();
    for &k in &hot {
        cache.try_put(key(k), payload(k, 1, 8192)).expect("put hot");
    }
    // The slack `DiskCacheOptions::max_bytes` documents for one writing process: an eighth of
    // the budget; its segment (budget / 16), one check interval (budget / 64) and one entry;
    // and while a compaction runs, the copies of one segment (budget / 16, one entry and their
    // index of 72 bytes per entry).
    let entry = 8192 + 104;
    let segment_index = 72 + 72 * (max_bytes / 16 / entry + 1);
    let slack = max_bytes / 8
        + (max_bytes / 16 + max_bytes / 64 + entry)
        + (max_bytes / 16 + entry + segment_index);
    let mut last_accepted = None;
    for k in 100..1600u64 {
        match cache.try_put(key(k), payload(k, 1, 8192)) {
            Ok(()) => last_accepted = Some(k),
            // The writer outran the background compaction: refused, not stored over budget.
            Err(PutError::Dropped(_)) => {}
            Err(err) => panic!("put: {err}"),
        }
        let on_disk = store_bytes(dir.path());
        assert!(on_disk <= max_bytes + slack, "{on_disk} bytes on disk");
        if k % 10 == 0 {
            for &h in &hot {
                assert_eq!(
                    cache.get(&key(h)).map(|b| decode_payload(&b)),
                    Some(Some((h, 1)))
                );
            }
        }
    }
    cache.flush().expect("flush");
    cache.compact().expect("compact");
    let on_disk = store_bytes(dir.path());
    assert!(
        on_disk <= max_bytes,
        "{on_disk} bytes on disk > {max_bytes}"
    );
    let metrics = cache.metrics();
    assert!(metrics.evictions > 0);
    assert!(metrics.evicted_bytes >= metrics.evictions * 8192);
    assert!(metrics.cached_bytes <= max_bytes);
    let report = cache.durability_report();
    assert!(report.compactions > 0);
    assert!(report.compaction_latency.samples > 0);
    assert!(report.disk_bytes <= max_bytes);
    for &h in &hot {
        assert!(cache.get(&key(h)) == Some(payload(h, 1, 8192)), "hot {h}");
    }
    // The most recent puts survive too; the oldest cold ones went first.
    let last = last_accepted.expect("puts accepted");
    assert!(cache.get(&key(last)) == Some(payload(last, 1, 8192)));
    assert_eq!(cache.get(&key(100)), None);
    drop(cache);
    let reopened = DiskCache::with_options(dir.path(), options(max_bytes)).expect("reopen");
    for &h in &hot {
        assert!(
            reopened.get(&key(h)) == Some(payload(h, 1, 8192)),
            "hot {h}"
        );
    }
}

#[test]
fn recency_recorded_by_another_handle_guides_eviction() {
    recency_case(true);
}

#[test]
fn recency_read_before_closing_without_flush_is_kept() {
    recency_case(false);
}

fn recency_case(reader_flushes: bool) {
    let dir = ScratchDir::new("recency");
    let max_bytes = 1 << 20;
    let put_range = |range: std::ops::Range<u64>| {
        let cache = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
        for k in range {
            cache.try_put(key(k), payload(k, 1, 8000)).expect("put");
        }
        cache.flush().expect("flush");
    };
    put_range(0..40);
    put_range(40..100);
    {
        // A reader touches the oldest entries; its flush (or closing) records that in one batch.
        let reader = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
        for k in 0..5u64 {
            assert!(reader.get(&key(k)).is_some());
        }
        if reader_flushes {
            reader.flush().expect("flush");
        }
    }
    let cache = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
    for k in 100..130u64 {
        cache.try_put(key(k), payload(k, 1, 8000)).expect("put");
    }
    cache.compact().expect("compact");
    assert!(cache.metrics().evictions > 0);
    for k in 0..5u64 {
        assert!(
            cache.get(&key(k)) == Some(payload(k, 1, 8000)),
            "touched {k} kept"
        );
    }
    assert!(cache.get(&key(5)).is_none(), "untouched old entry evicted");
    assert!(cache.get(&key(129)).is_some(), "newest entry kept");
}

#[test]
fn compaction_reclaims_superseded_records() {
    let dir = ScratchDir::new("superseded");
    let cache = DiskCache::new(dir.path()).expect("open");
    for v in 0..20u64 {
        for k in 0..20u64 {
            cache.try_put(key(k), payload(k, v, 4000)).expect("put");
        }
    }
    cache.flush().expect("flush");
    let before = dir_bytes(dir.path());
    cache.compact().expect("compact");
    let after = dir_bytes(dir.path());
    assert!(
        after * 10 < before,
        "{after} not much smaller than {before}"
    );
    for k in 0..20u64 {
        assert_eq!(cache.get(&key(k)), Some(payload(k, 19, 4000)));
    }
    assert_eq!(cache.metrics().evictions, 0);
}

#[test]
fn files_are_private_and_symlinks_are_not_followed() {
    let dir = ScratchDir::new("perms");
    let root = dir.path().join("a/b");
    let cache = DiskCache::new(&root).expect("open");
    cache.try_put(key(1), vec![1; 10]).expect("put");
    cache.flush().expect("flush");
    let mode = |path: &std::path::Path| {
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&root), 0o700);
    for entry in std::fs::read_dir(&root).expect("list") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(cache);
    // A segment name that is a symlink (to a valid segment elsewhere) is not opened through.
    let segment = std::fs::read_dir(&root)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a segment");
    let elsewhere = dir.path().join("elsewhere.log");
    std::fs::rename(&segment, &elsewhere).expect("move");
    let _ = std::fs::remove_file(segment.with_extension("idx"));
    std::os::unix::fs::symlink(&elsewhere, &segment).expect("symlink");
    let cache = DiskCache::new(&root).expect("open");
    assert_eq!(cache.get(&key(1)), None);
    drop(cache);
    // A FIFO under a segment name is refused without blocking the opener.
    std::fs::remove_file(&segment).expect("rm symlink");
    let status = std::process::Command::new("mkfifo")
        .arg(&segment)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let cache = DiskCache::new(&root).expect("open with a FIFO inside");
    assert_eq!(cache.get(&key(1)), None);
}

#[test]
fn damaged_segments_and_stale_leftovers_are_removed_other_versions_kept() {
    let dir = ScratchDir::new("cleanup");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        cache.try_put(key(1), vec![7; 100]).expect("put");
        cache.flush().expect("flush");
    }
    let mut future = b"PCSTSEG\0".to_vec();
    future.extend_from_slice(&99u32.to_le_bytes());
    future.resize(4096, 0xAB);
    let future_path = dir.path().join("seg-ffffffffffffffff-00000001.log");
    std::fs::write(&future_path, &future).expect("write");
    let garbage_path = dir.path().join("seg-0000000000000001-00000001.log");
    std::fs::write(&garbage_path, b"not a segment").expect("write");
    let temp = dir.path().join("tmp-0000000000000001-00000001");
    std::fs::write(&temp, vec![0; 1000]).expect("write");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let orphan = dir.path().join("seg-0000000000000002-00000001.idx");
    std::fs::write(&orphan, vec![0; 100]).expect("write");
    for path in [&temp, &orphan] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open leftover")
            .set_modified(old)
            .expect("age leftover");
    }
    let cache = DiskCache::new(dir.path()).expect("open");
    assert_eq!(cache.get(&key(1)), Some(vec![7; 100]));
    assert!(!orphan.exists(), "index without a segment removed");
    assert!(
        std::fs::read(&future_path).expect("another version's segment is left alone") == future
    );
    assert!(!garbage_path.exists(), "garbage removed");
    assert!(!temp.exists(), "stale temp removed");
    assert_eq!(cache.metrics().corrupt_dropped, 1);
}

#[test]
fn a_deleted_directory_fails_one_flush_then_recovers() {
    let dir = ScratchDir::new("deleted");
    let root = dir.path().join("cache");
    let cache = DiskCache::new(&root).expect("open");
    cache.try_put(key(1), vec![1; 100]).expect("put");
    cache.flush().expect("flush");
    std::fs::remove_dir_all(&root).expect("delete underneath");
    cache
        .try_put(key(2), vec![2; 100])
        .expect("put into the orphaned segment");
    let err = cache.flush().expect_err("flush cannot claim durability");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    // Entries already open stay readable where the OS allows.
    assert_eq!(cache.get(&key(1)), Some(vec![1; 100]));
    let report = cache.durability_report();
    assert_eq!(report.flushes_failed, 1);
    assert_eq!(report.lost_puts, 1);
    // Later puts go to a fresh segment in a recreated directory, and flush honestly again.
    cache
        .try_put(key(3), vec![3; 100])
        .expect("put after recovery");
    cache.flush().expect("flush after recovery");
    drop(cache);
    let reopened = DiskCache::new(&root).expect("reopen");
    assert_eq!(reopened.get(&key(3)), Some(vec![3; 100]));
    assert_eq!(
        pcstore::PipelineCacheStore::metrics(&reopened).flush_errors,
        0
    );
}

/// Keys as a C engine fills them from its own 64-bit hash `n`, zero-padded after or before it.
fn engine_key(n: u64, padded_after: bool) -> pcstore::PipelineFingerprint {
    let hash = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ n;
    let mut bytes = [0u8; 32];
    let at = if padded_after { 0 } else { 24 };
    bytes[at..at + 8].copy_from_slice(&hash.to_le_bytes());
    pcstore::PipelineFingerprint(bytes)
}

#[test]
fn zero_padded_engine_keys_round_trip_and_survive_reopen() {
    let dir = ScratchDir::new("engine-keys");
    let root = dir.path().join("cache");
    let keys: Vec<_> = (1..=3000u64)
        .flat_map(|n| [engine_key(n, true), engine_key(n, false)])
        .collect();
    {
        let cache = DiskCache::new(&root).expect("open");
        for (n, key) in keys.iter().enumerate() {
            cache.try_put(*key, payload(n as u64, 1, 24)).expect("put");
        }
        cache.flush().expect("flush");
    }
    let cache = DiskCache::new(&root).expect("reopen");
    assert_eq!(cache.metrics().entries, keys.len() as u64);
    for (n, key) in keys.iter().enumerate() {
        let got = cache.get(key).expect("hit after reopen");
        assert_eq!(decode_payload(&got), Some((n as u64, 1)), "key {n}");
    }
}

#[test]
fn user_cache_dir_follows_the_environment() {
    // One test owns these variables (tests in this binary run in threads).
    let dir = ScratchDir::new("env");
    let set = |name: &str, value: &str| std::env::set_var(name, value);
    set(
        "PCSTORE_DIR",
        dir.path().join("explicit").to_str().expect("utf-8"),
    );
    set(
        "XDG_CACHE_HOME",
        dir.path().join("xdg").to_str().expect("utf-8"),
    );
    set("HOME", dir.path().join("home").to_str().expect("utf-8"));
    assert_eq!(
        DiskCache::in_user_cache().expect("open").root(),
        dir.path().join("explicit")
    );
    set("PCSTORE_DIR", "");
    assert_eq!(
        DiskCache::in_user_cache().expect("open").root(),
        dir.path().join("xdg/pcstore")
    );
    std::env::remove_var("XDG_CACHE_HOME");
    assert_eq!(
        DiskCache::in_user_cache().expect("open").root(),
        dir.path().join("home/.cache/pcstore")
    );
    set("HOME", "");
    assert!(DiskCache::in_user_cache().is_err());
}

#[test]
fn evicting_a_newer_version_never_resurrects_an_older_one() {
    let dir = ScratchDir::new("resurrect");
    let max_bytes = 1 << 20;
    // Another "process" (its own handle: its own locks) holds an old version in its live segment.
    let old_writer = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
    old_writer
        .try_put(key(1), payload(1, 1, 5000))
        .expect("old version");
    old_writer.flush().expect("flush");
    let cache = DiskCache::with_options(dir.path(), options(max_bytes)).expect("open");
    cache
        .try_put(key(1), payload(1, 2, 5000))
        .expect("new version");
    // Newer, more recently used entries push the new version of key 1 out of the LRU budget.
    for k in 100..230u64 {
        let _ = cache.try_put(key(k), payload(k, 1, 8000));
    }
    cache.compact().expect("compact");
    assert!(cache.metrics().evictions > 0);
    drop(old_writer);
    drop(cache);
    let reopened = DiskCache::with_options(dir.path(), options(max_bytes)).expect("reopen");
    let got = reopened.get(&key(1)).expect("the new version was kept");
    assert!(got == payload(1, 2, 5000), "an older version came back");
}

/// After another handle compacts (segments vanish), a lookup does not rebuild the index on the
/// caller's thread: what this handle already indexed stays readable at once (it holds the old
/// segments open), and what was written since shows up after the background rebuild.
#[test]
fn a_lookup_after_another_compaction_never_rebuilds_inline() {
    let dir = ScratchDir::new("compacted-elsewhere");
    let compactor = DiskCache::new(dir.path()).expect("open compactor");
    let reader = DiskCache::new(dir.path()).expect("open reader");
    for k in 0..50u64 {
        compactor.try_put(key(k), payload(k, 1, 2048)).expect("put");
    }
    compactor.flush().expect("flush");
    for k in 0..50u64 {
        assert_eq!(reader.get(&key(k)), Some(payload(k, 1, 2048)), "key {k}");
    }
    // Supersede everything so compaction rewrites it all and removes the old segments.
    for k in 0..50u64 {
        compactor.try_put(key(k), payload(k, 2, 2048)).expect("put");
    }
    compactor.flush().expect("flush");
    compactor.compact().expect("compact");
    compactor.try_put(key(99), payload(99, 1, 64)).expect("put");
    compactor.flush().expect("flush");

    // Indexed entries still read back, old or new version, never other bytes.
    for k in 0..50u64 {
        let got = reader.get(&key(k)).expect("still readable");
        assert!(
            matches!(decode_payload(&got), Some((n, 1 | 2)) if n == k),
            "key {k}"
        );
    }
    // The new key arrives once the background rebuild has run (bounded wait).
    let started = std::time::Instant::now();
    let mut found = reader.get(&key(99));
    while found.is_none() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
        found = reader.get(&key(99));
    }
    assert_eq!(found, Some(payload(99, 1, 64)));
    for k in 0..50u64 {
        assert_eq!(
            reader.get(&key(k)),
            Some(payload(k, 2, 2048)),
            "key {k} after rebuild"
        );
    }
}

/// Reads leave segment files' access times alone (issue 10, finding 7): pcstore keeps recency
/// of its own, and under `relatime` a read after a write updates the inode, which needs a
/// journal handle and can wait behind a compaction's `fdatasync` (a `get` stalled 19 ms so).
#[test]
fn reads_leave_segment_access_times_alone() {
    let dir = ScratchDir::new("atime");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        cache.try_put(key(1), payload(1, 1, 4096)).expect("put");
        cache.flush().expect("flush");
    }
    let segment = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .expect("a segment");
    // Older than its modification time: under `relatime`, the next read would update it.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&segment)
        .expect("open segment")
        .set_times(std::fs::FileTimes::new().set_accessed(long_ago))
        .expect("age access time");
    let cache = DiskCache::new(dir.path()).expect("reopen");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 4096)));
    assert_eq!(cache.peek(&key(1)), Some(payload(1, 1, 4096)));
    let accessed = std::fs::metadata(&segment)
        .expect("stat")
        .accessed()
        .expect("access time");
    assert_eq!(
        accessed, long_ago,
        "a read updated the segment's access time"
    );
}
