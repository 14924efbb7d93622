//! Version-1 stores keep working under this build (issue 14, "Compression"): a store written by
//! the last version-1 release (`tests/disk_v1_fixture`, its README says how) is read as it is,
//! and its segments are rewritten as version 2, compressed where that pays, when compacted.
//!
//! The other direction, a version-1 build sharing a directory with version-2 segments, runs
//! that build in `tests/disk_v1_build.rs`; here we check what the version-1 rule for files of
//! another version relies on (it reads their first 12 bytes only): every file this build writes
//! declares version 2 there.

mod disk_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use disk_support::ScratchDir;
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PipelineFingerprint};

const ENTRIES: u64 = 9;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/disk_v1_fixture")
}

fn key(i: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(format!("v1 fixture {i}").as_bytes())
}

fn value(i: u64) -> Vec<u8> {
    std::fs::read(fixture().join(format!("values/{i:02}"))).expect("fixture value")
}

/// Copies the fixture store into `dir` with the modes a store requires (git keeps neither).
fn install_fixture(dir: &Path) {
    for entry in std::fs::read_dir(fixture().join("store")).expect("fixture store") {
        let entry = entry.expect("entry");
        let target = dir.join(entry.file_name());
        std::fs::copy(entry.path(), &target).expect("copy");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// (name, declared version) of every segment and index in `dir`.
fn versions(dir: &Path) -> Vec<(String, u32)> {
    let mut found: Vec<(String, u32)> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            if !name.starts_with("seg-") {
                return None;
            }
            let bytes = std::fs::read(dir.join(&name)).ok()?;
            let magic: &[u8] = if name.ends_with(".log") {
                b"PCSTSEG\0"
            } else {
                b"PCSTIDX\0"
            };
            assert_eq!(&bytes[..8], magic, "{name}");
            Some((
                name,
                u32::from_le_bytes(bytes[8..12].try_into().expect("4")),
            ))
        })
        .collect();
    found.sort();
    found
}

fn segment_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().expect("stat").len())
        .sum()
}

#[test]
fn a_version_1_store_is_read_as_it_is() {
    let dir = ScratchDir::new("v1-read");
    install_fixture(dir.path());
    let before = versions(dir.path());
    assert_eq!(before.len(), 2, "one segment and its index");
    assert!(
        before.iter().all(|(_, version)| *version == 1),
        "{before:?}"
    );

    let cache = DiskCache::new(dir.path()).expect("open a version-1 store");
    for i in 0..ENTRIES {
        assert!(cache.get(&key(i)) == Some(value(i)), "entry {i}");
    }
    assert_eq!(cache.metrics().corrupt_dropped, 0);
    // New puts go to a version-2 segment beside the version-1 one, which is left as it is.
    let spirv = value(0);
    cache.try_put(key(100), spirv.clone()).expect("put");
    cache.flush().expect("flush");
    assert!(cache.get(&key(100)) == Some(spirv));
    drop(cache);
    let after = versions(dir.path());
    for old in &before {
        assert!(after.contains(old), "{old:?} kept: {after:?}");
    }
    assert!(
        after
            .iter()
            .any(|(name, version)| name.ends_with(".log") && *version == 2),
        "{after:?}"
    );
    let read_only = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            read_only: true,
            ..DiskCacheOptions::default()
        },
    )
    .expect("read-only open");
    for i in 0..ENTRIES {
        assert!(read_only.get(&key(i)) == Some(value(i)), "entry {i}");
    }
}

#[test]
fn compaction_rewrites_version_1_segments_as_version_2_compressed() {
    let dir = ScratchDir::new("v1-compact");
    install_fixture(dir.path());
    let v1_bytes = segment_bytes(dir.path());
    let cache = DiskCache::new(dir.path()).expect("open");
    cache.compact().expect("compact");
    let after = versions(dir.path());
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|(_, version)| *version == 2),
        "only version 2 left: {after:?}"
    );
    for i in 0..ENTRIES {
        assert!(cache.get(&key(i)) == Some(value(i)), "entry {i}");
    }
    assert_eq!(cache.metrics().corrupt_dropped, 0);
    // The SPIR-V, recipe and text values compress; the random ones stay as they were.
    let v2_bytes = segment_bytes(dir.path());
    let compressible: u64 = (0..7).map(|i| value(i).len() as u64).sum();
    assert!(
        v2_bytes + compressible / 4 < v1_bytes,
        "{v1_bytes} bytes as version 1, {v2_bytes} as version 2"
    );
    drop(cache);
    // And what a fresh process reads from the rewritten store is the same.
    let reopened = DiskCache::new(dir.path()).expect("reopen");
    for i in 0..ENTRIES {
        assert!(reopened.get(&key(i)) == Some(value(i)), "entry {i}");
    }
}

/// What a version-1 build looks at of a file (its first 12 bytes) says version 2 for every
/// segment and index this build writes, puts and compactions alike.
#[test]
fn every_file_this_build_writes_declares_version_2() {
    let dir = ScratchDir::new("v2-prefix");
    let cache = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            max_bytes: 1 << 20,
            ..DiskCacheOptions::default()
        },
    )
    .expect("open");
    for i in 0..200u64 {
        cache.try_put(key(i), value(i % ENTRIES)).expect("put");
    }
    cache.flush().expect("flush");
    cache.compact().expect("compact");
    for i in 200..400u64 {
        cache.try_put(key(i), value(i % ENTRIES)).expect("put");
    }
    drop(cache);
    let written = versions(dir.path());
    assert!(written.iter().any(|(name, _)| name.ends_with(".idx")));
    assert!(
        written.iter().all(|(_, version)| *version == 2),
        "{written:?}"
    );
}
