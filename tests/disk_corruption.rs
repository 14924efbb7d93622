//! Damaged files: truncation at every byte offset of the last records, flipped bits, garbage
//! overwrites, damaged indexes. The store must open, and every get must return the exact bytes
//! put or nothing.

mod disk_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use disk_support::{key, payload, Rng, ScratchDir};
use pcstore::{
    BackgroundLayers, DiskCache, InMemoryPipelineCache, LayeredOptions, LayeredPipelineCache,
    Lookup, PipelineCacheStore,
};

const ENTRIES: u64 = 30;

fn len_of(k: u64) -> usize {
    16 + (k as usize * 37) % 300
}

/// A store with `ENTRIES` entries, flushed and closed; returns its segment and index paths.
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let cache = DiskCache::new(dir).expect("open");
    for k in 0..ENTRIES {
        cache
            .try_put(key(k), payload(k, 1, len_of(k)))
            .expect("put");
    }
    cache.flush().expect("flush");
    drop(cache);
    let segment = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("one segment");
    let index = segment.with_extension("idx");
    assert!(index.exists(), "a closed segment has an index");
    (segment, index)
}

/// Opens the store and checks every key; returns how many were present.
fn check(dir: &Path) -> u64 {
    let cache = DiskCache::new(dir).expect("a damaged store still opens");
    let mut present = 0;
    for k in 0..ENTRIES {
        if let Some(bytes) = cache.get(&key(k)) {
            assert!(bytes == payload(k, 1, len_of(k)), "wrong bytes for key {k}");
            present += 1;
        }
    }
    // The repair done by the first open is stable: a second open answers the same.
    drop(cache);
    let again = DiskCache::new(dir).expect("reopen");
    let present_again = (0..ENTRIES)
        .filter(|&k| again.get(&key(k)).is_some())
        .count() as u64;
    assert_eq!(present_again, present, "answers change after the repair");
    present
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn truncation_at_every_offset_of_the_last_records_loses_only_the_torn_ones() {
    let pristine = ScratchDir::new("trunc-src");
    let (segment, _) = build(pristine.path());
    let full = std::fs::metadata(&segment).expect("stat").len();
    let tail: u64 = (ENTRIES - 3..ENTRIES).map(|k| 104 + len_of(k) as u64).sum();
    let work = ScratchDir::new("trunc");
    let work_dir = work.path().join("store");
    for cut in (full - tail - 1)..=full {
        copy_dir(pristine.path(), &work_dir);
        let target = work_dir.join(segment.file_name().expect("name"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .expect("open segment");
        file.set_len(cut).expect("truncate");
        drop(file);
        let present = check(&work_dir);
        // Every record wholly before the cut is kept.
        let mut end = 32u64;
        let mut whole = 0;
        for k in 0..ENTRIES {
            end += 104 + len_of(k) as u64;
            if end <= cut {
                whole += 1;
            }
        }
        assert_eq!(present, whole, "cut at {cut}");
        // The torn tail was cut off on open.
        assert!(std::fs::metadata(&target).expect("stat").len() <= cut);
    }
}

#[test]
fn flipped_bits_never_yield_wrong_bytes() {
    let pristine = ScratchDir::new("flip-src");
    let (segment, index) = build(pristine.path());
    let work = ScratchDir::new("flip");
    let work_dir = work.path().join("store");
    let mut rng = Rng(7);
    for round in 0..300 {
        copy_dir(pristine.path(), &work_dir);
        let victim = if round % 3 == 0 { &index } else { &segment };
        let target = work_dir.join(victim.file_name().expect("name"));
        let mut bytes = std::fs::read(&target).expect("read");
        for _ in 0..1 + rng.below(4) {
            let bit = rng.below(bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        std::fs::write(&target, &bytes).expect("write");
        check(&work_dir);
    }
}

#[test]
fn garbage_overwrites_never_yield_wrong_bytes() {
    let pristine = ScratchDir::new("garbage-src");
    let (segment, index) = build(pristine.path());
    let work = ScratchDir::new("garbage");
    let work_dir = work.path().join("store");
    let mut rng = Rng(11);
    for round in 0..200 {
        copy_dir(pristine.path(), &work_dir);
        let victim = if round % 4 == 0 { &index } else { &segment };
        let target = work_dir.join(victim.file_name().expect("name"));
        let mut bytes = std::fs::read(&target).expect("read");
        let start = rng.below(bytes.len() as u64) as usize;
        let len = (1 + rng.below(512) as usize).min(bytes.len() - start);
        let fill = rng.below(3);
        for byte in &mut bytes[start..start + len] {
            *byte = match fill {
                0 => 0,
                1 => 0xFF,
                _ => rng.next() as u8,
            };
        }
        std::fs::write(&target, &bytes).expect("write");
        check(&work_dir);
    }
    // Whole files replaced by garbage or emptied.
    for (name_index, content) in [vec![], vec![0u8; 4096], b"PCSTSEG\0garbage".to_vec()]
        .into_iter()
        .enumerate()
    {
        copy_dir(pristine.path(), &work_dir);
        let target = if name_index == 1 { &index } else { &segment };
        std::fs::write(work_dir.join(target.file_name().expect("name")), content).expect("write");
        check(&work_dir);
    }
}

#[test]
fn a_corrupt_payload_is_dropped_and_counted() {
    let dir = ScratchDir::new("payload");
    let (segment, _) = build(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    // Flip one payload byte of the first record (header 32 + record header 104).
    bytes[32 + 104 + 5] ^= 0x40;
    std::fs::write(&segment, &bytes).expect("write");
    let cache = DiskCache::new(dir.path()).expect("open");
    assert_eq!(cache.get(&key(0)), None);
    assert_eq!(cache.metrics().corrupt_dropped, 1);
    assert!(cache.get(&key(1)) == Some(payload(1, 1, len_of(1))));
}

#[test]
fn a_damaged_header_mid_segment_loses_only_its_record() {
    let dir = ScratchDir::new("midheader");
    let (segment, index) = build(dir.path());
    std::fs::remove_file(&index).expect("drop the index: scan the records");
    let mut bytes = std::fs::read(&segment).expect("read");
    let offset_of = |k: u64| 32 + (0..k).map(|j| 104 + len_of(j)).sum::<usize>();
    bytes[offset_of(10) + 20] ^= 0x01; // inside record 10's key: its header check fails
    std::fs::write(&segment, &bytes).expect("write");
    for round in 0..2 {
        let cache = DiskCache::new(dir.path()).expect("open");
        for k in 0..ENTRIES {
            let got = cache.get(&key(k));
            if k == 10 {
                assert_eq!(got, None);
            } else {
                assert!(
                    got == Some(payload(k, 1, len_of(k))),
                    "round {round}: key {k}"
                );
            }
        }
        if round == 0 {
            assert_eq!(cache.metrics().corrupt_dropped, 1);
        }
    }
}

/// Byte offset of record `k`'s payload in the segment `build` writes (header 32 bytes, record
/// headers 104).
fn payload_offset(k: u64) -> usize {
    32 + (0..k).map(|j| 104 + len_of(j)).sum::<usize>() + 104
}

#[test]
fn lookup_tells_a_damaged_entry_from_an_absent_one_alone_and_in_stacks() {
    let pristine = ScratchDir::new("lookup-src");
    let (segment, _) = build(pristine.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[payload_offset(7) + 3] ^= 0x40; // record 7's payload: only its BLAKE3 check fails
    std::fs::write(&segment, &bytes).expect("write");
    let work = ScratchDir::new("lookup");
    let damaged = |name: &str| {
        let dir = work.path().join(name);
        copy_dir(pristine.path(), &dir);
        Arc::new(DiskCache::new(&dir).expect("open"))
    };

    let disk = damaged("alone");
    assert_eq!(disk.lookup(&key(7)), Lookup::Corrupt);
    assert_eq!(disk.metrics().corrupt_dropped, 1);
    let again = disk.lookup(&key(7));
    assert!(
        matches!(again, Lookup::Miss | Lookup::Corrupt),
        "never the damaged bytes: {again:?}"
    );
    assert_eq!(disk.lookup(&key(ENTRIES)), Lookup::Miss, "never stored");
    assert_eq!(
        disk.lookup(&key(3)),
        Lookup::Hit(Arc::new(payload(3, 1, len_of(3))))
    );
    let disk = damaged("get");
    assert_eq!(disk.get(&key(7)), None, "get still answers a plain miss");

    // Memory over the damaged disk, the disk asked on the caller's thread or in the background.
    for background in [None, Some(1)] {
        let disk = damaged(&format!("stack-{background:?}"));
        let options = LayeredOptions {
            background: background.map(|from| BackgroundLayers {
                lookup_wait: Duration::from_secs(30), // ends as soon as the disk answers
                ..BackgroundLayers::starting_at(from)
            }),
            ..LayeredOptions::default()
        };
        let stack = LayeredPipelineCache::with_options(
            vec![Arc::new(InMemoryPipelineCache::new()), disk],
            options,
        );
        assert_eq!(stack.lookup(&key(7)), Lookup::Corrupt, "{background:?}");
        assert!(stack.get(&key(7)).is_none(), "{background:?}");
        assert_eq!(stack.metrics().misses, 2, "a corrupt lookup is a miss");
    }

    // Damaged in two layers: corrupt. Damaged above, intact below: the hit below wins.
    let both = LayeredPipelineCache::new(vec![damaged("upper"), damaged("lower")]);
    assert_eq!(both.lookup(&key(7)), Lookup::Corrupt);
    let intact = Arc::new(InMemoryPipelineCache::new());
    intact
        .try_put(key(7), payload(7, 1, len_of(7)))
        .expect("put");
    let healed = LayeredPipelineCache::new(vec![damaged("over-intact"), intact]);
    assert_eq!(
        healed.lookup(&key(7)),
        Lookup::Hit(Arc::new(payload(7, 1, len_of(7))))
    );
    assert_eq!(
        healed.layers()[0].lookup(&key(7)),
        Lookup::Hit(Arc::new(payload(7, 1, len_of(7)))),
        "promoted into the damaged layer, which now holds it intact"
    );
}
