//! The bundle tier: what a writer writes a store serves byte for byte; signatures decide who is
//! trusted; every damaged bundle is refused at open with a reason (or, for a payload, is a
//! counted miss), never a panic and never wrong bytes.

mod bundle_support;

use std::os::unix::fs::FileExt;
use std::path::Path;

use bundle_support::{
    entries, key, payload, signing_key, write_bundle, RawBundle, ScratchDir, ENTRY_LEN, HEADER_LEN,
};
use pcstore::bundle::{BundleError, BundleOptions, BundleStore, BundleWriter};
use pcstore::{Lookup, PipelineCacheStore, PipelineFingerprint, PutError};
use proptest::prelude::*;

fn with_key(public_key: [u8; 32]) -> BundleOptions {
    BundleOptions {
        public_key: Some(public_key),
        ..Default::default()
    }
}

fn open_err(path: &Path, options: BundleOptions) -> BundleError {
    BundleStore::open_with_options(path, options).expect_err("the bundle must be refused")
}

#[test]
fn a_written_bundle_serves_every_entry_byte_for_byte() {
    let dir = ScratchDir::new("serve");
    let path = dir.path().join("game.pcsb");
    let all = entries(200);
    let info = write_bundle(&path, &all, None);
    let payload_bytes: u64 = all.iter().map(|(_, p)| p.len() as u64).sum();
    assert_eq!((info.entries, info.payload_bytes), (200, payload_bytes));
    assert_eq!(info.signer, None);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), info.file_len);

    let store = BundleStore::open(&path).expect("open");
    assert_eq!(store.info(), &info);
    for (key, payload) in &all {
        assert_eq!(store.get(key).as_deref(), Some(&payload[..]));
        assert_eq!(store.get_arc(key).as_deref(), Some(payload));
    }
    assert_eq!(store.get(&key(1_000)), None);
    let keys: Vec<PipelineFingerprint> = store.entries().iter().map(|e| e.key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "entries are listed in key order");
    let metrics = store.metrics();
    assert_eq!((metrics.hits, metrics.misses), (400, 1));
    assert_eq!(metrics.bytes_read, 2 * payload_bytes);
    assert_eq!(
        (metrics.entries, metrics.cached_bytes),
        (200, payload_bytes)
    );
    assert_eq!(metrics.get_latency.samples, 401, "every lookup is timed");
    // Nothing is left behind but the bundle.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn an_empty_bundle_opens_and_misses() {
    let dir = ScratchDir::new("empty");
    let path = dir.path().join("empty.pcsb");
    let info = write_bundle(&path, &[], None);
    assert_eq!(info.file_len, HEADER_LEN as u64);
    let store = BundleStore::open(&path).expect("open");
    assert_eq!(store.get(&key(0)), None);
    assert_eq!(store.metrics().entries, 0);
}

#[test]
fn puts_are_refused_and_flush_has_nothing_to_do() {
    let dir = ScratchDir::new("read-only");
    let path = dir.path().join("b.pcsb");
    write_bundle(&path, &entries(3), None);
    let store = BundleStore::open(&path).expect("open");
    assert!(matches!(
        store.try_put(key(9), vec![1]),
        Err(PutError::ReadOnly)
    ));
    assert!(matches!(
        store.try_put_arc(key(9), std::sync::Arc::new(vec![1])),
        Err(PutError::ReadOnly)
    ));
    store.put(key(9), vec![1]);
    assert_eq!(store.get(&key(9)), None);
    store.flush().expect("flush");
    let metrics = store.metrics();
    assert_eq!((metrics.puts, metrics.rejected_puts), (0, 3));
    assert_eq!((metrics.flushes, metrics.flush_errors), (1, 0));
}

#[test]
fn signed_bundles_open_with_the_right_key_and_are_refused_otherwise() {
    let dir = ScratchDir::new("signed");
    let signed = dir.path().join("signed.pcsb");
    let unsigned = dir.path().join("unsigned.pcsb");
    let studio = signing_key(1);
    let other = signing_key(2);
    let all = entries(20);
    let info = write_bundle(&signed, &all, Some(&studio));
    assert_eq!(info.signer, Some(studio.public_key()));
    write_bundle(&unsigned, &all, None);

    let store = BundleStore::open_with_options(&signed, with_key(studio.public_key()))
        .expect("the studio's key opens its bundle");
    assert_eq!(store.info().signer, Some(studio.public_key()));
    assert_eq!(store.get(&all[5].0).as_deref(), Some(&all[5].1[..]));

    match open_err(&signed, with_key(other.public_key())) {
        BundleError::WrongKey { found } => assert_eq!(found, studio.public_key()),
        err => panic!("{err}"),
    }
    assert!(matches!(
        open_err(&unsigned, with_key(studio.public_key())),
        BundleError::Unsigned
    ));
    // Without a key both open; the signed one's signature was still checked.
    let store = BundleStore::open(&signed).expect("open without a key");
    assert_eq!(store.info().signer, Some(studio.public_key()));
    assert_eq!(BundleStore::open(&unsigned).unwrap().info().signer, None);

    let invalid = (0..=255u8)
        .map(|byte| [byte; 32])
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .expect("some byte pattern is not a curve point");
    assert!(matches!(
        open_err(&signed, with_key(invalid)),
        BundleError::InvalidPublicKey
    ));
}

#[test]
fn a_bundle_changed_after_signing_is_refused_with_or_without_a_key() {
    let dir = ScratchDir::new("resigned");
    let path = dir.path().join("b.pcsb");
    let all = entries(6);
    let mut raw = RawBundle::of(&all);
    raw.signer_seed = Some(1);
    raw.fix_layout();
    let original = raw.encode();
    std::fs::write(&path, &original).unwrap();
    BundleStore::open_with_options(&path, with_key(signing_key(1).public_key()))
        .expect("the crafted bundle is valid as made");

    // An attacker swaps one payload for their own, fixing every hash that is not signed (the
    // entry's, the index's, the header check) and keeping the signature block.
    let mut forged = raw.clone();
    let evil = payload(666, all[3].1.len());
    let position = forged
        .entries
        .iter()
        .position(|e| e.key == all[3].0 .0)
        .unwrap();
    let offset = (forged.entries[position].offset as usize) - HEADER_LEN;
    forged.records[offset..offset + evil.len()].copy_from_slice(&evil);
    forged.entries[position].hash = *blake3::hash(&evil).as_bytes();
    let mut bytes = forged.header();
    bytes.extend_from_slice(&forged.records);
    bytes.extend_from_slice(&forged.index());
    bytes.extend_from_slice(&original[original.len() - 96..]);
    std::fs::write(&path, &bytes).unwrap();
    for options in [
        with_key(signing_key(1).public_key()),
        BundleOptions::default(),
    ] {
        assert!(matches!(
            open_err(&path, options),
            BundleError::BadSignature
        ));
    }
    // Re-signed with another key: refused by a client holding the studio's key.
    forged.signer_seed = Some(3);
    std::fs::write(&path, forged.encode()).unwrap();
    assert!(matches!(
        open_err(&path, with_key(signing_key(1).public_key())),
        BundleError::WrongKey { .. }
    ));
    // Signature stripped: refused by that client, accepted as unsigned by one without a key.
    forged.signer_seed = None;
    forged.fix_layout();
    std::fs::write(&path, forged.encode()).unwrap();
    assert!(matches!(
        open_err(&path, with_key(signing_key(1).public_key())),
        BundleError::Unsigned
    ));
}

#[test]
fn a_bundle_truncated_at_any_offset_is_refused() {
    let dir = ScratchDir::new("truncated");
    let path = dir.path().join("b.pcsb");
    let whole = dir.path().join("whole.pcsb");
    write_bundle(&whole, &entries(5), Some(&signing_key(1)));
    let bytes = std::fs::read(&whole).unwrap();
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = open_err(&path, BundleOptions::default());
        let expected = if cut < HEADER_LEN {
            HEADER_LEN as u64
        } else {
            bytes.len() as u64
        };
        assert!(
            matches!(err, BundleError::Truncated { expected: e, actual } if e == expected && actual == cut as u64),
            "cut at {cut}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(
        open_err(&path, BundleOptions::default()),
        BundleError::TrailingBytes { .. }
    ));
}

/// Opens `bytes` (a copy of `original` with the byte at `position` changed) and checks the
/// only outcomes allowed: refused at open, or, when the change is inside a payload, opened
/// with that one entry a counted miss and every other entry intact.
fn check_damaged(
    path: &Path,
    bytes: &[u8],
    original: &[(PipelineFingerprint, Vec<u8>)],
    position: usize,
    options: &BundleOptions,
) {
    std::fs::write(path, bytes).unwrap();
    let Ok(store) = BundleStore::open_with_options(path, options.clone()) else {
        return;
    };
    let records_end = store.info().file_len as usize
        - store.entries().len() * ENTRY_LEN
        - if store.info().signer.is_some() { 96 } else { 0 };
    assert!(
        (HEADER_LEN..records_end).contains(&position),
        "a change at {position}, outside the payloads, was accepted"
    );
    let mut damaged = 0;
    for (key, payload) in original {
        match store.get(key) {
            Some(found) => assert_eq!(&found, payload, "wrong bytes served for {key}"),
            None => damaged += 1,
        }
    }
    assert_eq!(damaged, 1, "exactly the changed payload is missing");
    assert_eq!(store.metrics().corrupt_dropped, 1);
}

#[test]
fn every_flipped_byte_is_refused_at_open_or_a_counted_miss() {
    let dir = ScratchDir::new("flips");
    let path = dir.path().join("b.pcsb");
    let whole = dir.path().join("whole.pcsb");
    let studio = signing_key(1);
    let all: Vec<_> = (0..4u64)
        .map(|k| (key(k), payload(k, 8 + k as usize)))
        .collect();
    for signer in [None, Some(&studio)] {
        write_bundle(&whole, &all, signer);
        let bytes = std::fs::read(&whole).unwrap();
        let options = match signer {
            Some(signer) => with_key(signer.public_key()),
            None => BundleOptions::default(),
        };
        for position in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[position] ^= mask;
                check_damaged(&path, &damaged, &all, position, &options);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_damage_never_serves_wrong_bytes(
        sizes in proptest::collection::vec(0usize..200, 0..12),
        signed in any::<bool>(),
        position_seed in any::<u64>(),
        mask in 1u8..=255,
    ) {
        let dir = ScratchDir::new("prop");
        let path = dir.path().join("b.pcsb");
        let all: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(k, len)| (key(k as u64), payload(k as u64, *len)))
            .collect();
        let studio = signing_key(7);
        write_bundle(&path, &all, signed.then_some(&studio));
        let mut bytes = std::fs::read(&path).unwrap();
        let position = (position_seed % bytes.len() as u64) as usize;
        bytes[position] ^= mask;
        let options = if signed { with_key(studio.public_key()) } else { BundleOptions::default() };
        check_damaged(&path, &bytes, &all, position, &options);
    }
}

#[test]
fn foreign_files_and_newer_versions_are_refused() {
    let dir = ScratchDir::new("foreign");
    let path = dir.path().join("b.pcsb");
    let mut raw = RawBundle::of(&entries(3));
    raw.version = 3;
    std::fs::write(&path, raw.encode()).unwrap();
    assert!(matches!(
        open_err(&path, BundleOptions::default()),
        BundleError::UnsupportedVersion { found: 3 }
    ));
    // Version 1 (before compressed payloads) is read; a compressed entry in it is refused.
    let compressible: Vec<_> = (0..3)
        .map(|k| (key(k), b"a compressible payload ".repeat(20)))
        .collect();
    let mut raw = RawBundle::of(&compressible);
    assert!(raw.entries.iter().all(|entry| entry.encoding == 1));
    raw.version = 1;
    std::fs::write(&path, raw.encode()).unwrap();
    assert!(matches!(
        open_err(&path, BundleOptions::default()),
        BundleError::BadEntry {
            reason: "unknown encoding",
            ..
        }
    ));
    let mut raw = RawBundle::of(&entries(3));
    raw.version = 1;
    std::fs::write(&path, raw.encode()).unwrap();
    let v1 = BundleStore::open(&path).expect("a version-1 bundle opens");
    for (key, value) in entries(3) {
        assert_eq!(v1.get(&key), Some(value));
    }
    std::fs::write(&path, b"\x7fELF and then some more bytes than a header holds, surely enough to be long, longer, longest").unwrap();
    assert!(matches!(
        open_err(&path, BundleOptions::default()),
        BundleError::NotABundle
    ));
    // A disk-tier segment is not a bundle either.
    let disk = dir.path().join("disk");
    {
        let cache = pcstore::DiskCache::new(&disk).unwrap();
        cache.try_put(key(1), vec![1; 100]).unwrap();
        cache.flush().unwrap();
    }
    for entry in std::fs::read_dir(&disk).unwrap() {
        let entry = entry.unwrap().path();
        if entry.extension().is_some_and(|e| e == "log") {
            assert!(matches!(
                open_err(&entry, BundleOptions::default()),
                BundleError::NotABundle
            ));
        }
    }
}

#[test]
fn index_entries_pointing_outside_overlapping_or_leaving_gaps_are_refused() {
    let dir = ScratchDir::new("layout");
    let path = dir.path().join("b.pcsb");
    let all = entries(4);
    let reason = |raw: &RawBundle| {
        std::fs::write(&path, raw.encode()).unwrap();
        match open_err(&path, BundleOptions::default()) {
            BundleError::BadEntry { reason, .. } => reason,
            err => panic!("{err}"),
        }
    };
    let good = RawBundle::of(&all);

    let mut outside = good.clone();
    outside.entries[1].offset = good.file_len + 10;
    assert_eq!(reason(&outside), "payload outside the records");
    let mut into_index = good.clone();
    into_index.entries[3].len += 1;
    assert_eq!(reason(&into_index), "payload outside the records");
    let mut into_header = good.clone();
    into_header.entries[0].offset = 10;
    assert_eq!(reason(&into_header), "payload outside the records");

    let mut overlapping = good.clone();
    overlapping.entries[2].offset = overlapping.entries[1].offset;
    assert_eq!(reason(&overlapping), "payload overlaps another");

    let mut gap = good.clone();
    gap.records.extend_from_slice(b"unindexed");
    gap.fix_layout();
    assert_eq!(
        reason(&gap),
        "bytes after the last payload belong to no entry"
    );

    let mut unsorted = good.clone();
    unsorted.entries.swap(0, 1);
    assert_eq!(reason(&unsorted), "keys out of order or repeated");

    let mut unknown_kind = good.clone();
    unknown_kind.entries[0].kind = 2;
    assert_eq!(reason(&unknown_kind), "unknown kind");
}

#[test]
fn a_trillion_entries_claimed_by_a_1_kib_file_are_refused_before_allocating() {
    let dir = ScratchDir::new("huge");
    let path = dir.path().join("b.pcsb");
    let mut raw = RawBundle::of(&[]);
    raw.entry_count = 1_000_000_000_000;
    raw.file_len = raw.index_offset + raw.entry_count * ENTRY_LEN as u64;
    let mut bytes = raw.header();
    bytes.resize(1024, 0);
    std::fs::write(&path, &bytes).unwrap();
    match open_err(&path, BundleOptions::default()) {
        BundleError::Truncated { expected, actual } => {
            assert_eq!((expected, actual), (raw.file_len, 1024))
        }
        err => panic!("{err}"),
    }
    // A count whose index would overflow the layout is refused by the header itself.
    raw.entry_count = u64::MAX / 2;
    std::fs::write(&path, raw.header()).unwrap();
    assert!(matches!(
        open_err(&path, BundleOptions::default()),
        BundleError::HeaderCorrupt(_)
    ));
}

#[test]
fn a_payload_changed_or_cut_underneath_is_a_miss_counted_once() {
    let dir = ScratchDir::new("underneath");
    let path = dir.path().join("b.pcsb");
    let all = entries(10);
    write_bundle(&path, &all, None);
    let store = BundleStore::open(&path).expect("open");
    let victim = store.entries().iter().find(|e| e.len > 0).copied().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0xAA], victim.offset).unwrap();
    let before = store.metrics();
    assert_eq!(store.lookup(&victim.key), Lookup::Corrupt);
    assert_eq!(store.get(&victim.key), None);
    assert_eq!(store.get(&victim.key), None, "never served later either");
    assert_eq!(
        store.lookup(&victim.key),
        Lookup::Miss,
        "a bundle drops a damaged entry for good: reported once"
    );
    let after = store.metrics();
    assert_eq!(after.corrupt_dropped, 1);
    assert_eq!(after.entries, before.entries - 1);
    assert_eq!(after.cached_bytes, before.cached_bytes - victim.len);

    // Cut short underneath (a pread past the end, not a SIGBUS): every entry beyond is a miss.
    let cut = store.entries()[store.entries().len() / 2].offset;
    file.set_len(cut).unwrap();
    for (entry, (key, payload)) in store.entries().iter().zip({
        let mut sorted = all.clone();
        sorted.sort_by_key(|(k, _)| *k);
        sorted
    }) {
        let found = store.get(&key);
        if entry.offset + entry.len <= cut && entry.key != victim.key {
            assert_eq!(found.as_ref(), Some(&payload));
        } else if entry.len > 0 {
            assert_eq!(found, None);
        }
    }
}

#[test]
fn entries_over_the_size_limit_are_misses_and_the_rest_serves() {
    let dir = ScratchDir::new("limit");
    let path = dir.path().join("b.pcsb");
    let all = vec![(key(1), payload(1, 100)), (key(2), payload(2, 101))];
    write_bundle(&path, &all, None);
    let store = BundleStore::open_with_options(
        &path,
        BundleOptions {
            max_entry_bytes: 100,
            ..Default::default()
        },
    )
    .expect("open");
    assert_eq!(store.get(&key(1)), Some(payload(1, 100)));
    assert_eq!(store.get(&key(2)), None);
    let metrics = store.metrics();
    assert_eq!((metrics.entries, metrics.cached_bytes), (1, 100));
    assert_eq!(metrics.corrupt_dropped, 0);
}

#[test]
fn missing_files_fifos_and_directories_are_io_errors_without_blocking() {
    let dir = ScratchDir::new("special");
    let missing = dir.path().join("missing.pcsb");
    match open_err(&missing, BundleOptions::default()) {
        BundleError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        err => panic!("{err}"),
    }
    assert!(matches!(
        open_err(dir.path(), BundleOptions::default()),
        BundleError::Io { .. }
    ));
    let fifo = dir.path().join("fifo.pcsb");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `name` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    assert!(matches!(
        open_err(&fifo, BundleOptions::default()),
        BundleError::Io { .. }
    ));
    // A symlink to a bundle is followed (packages and launchers link shipped files in place).
    let real = dir.path().join("real.pcsb");
    write_bundle(&real, &entries(2), None);
    let link = dir.path().join("link.pcsb");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(BundleStore::open(&link).is_ok());
}

#[test]
fn writers_refuse_duplicates_clean_up_and_replace_bundles_atomically() {
    let dir = ScratchDir::new("writer");
    let path = dir.path().join("b.pcsb");
    {
        let mut writer = BundleWriter::create(&path).unwrap();
        writer.add(key(1), b"one").unwrap();
        assert!(matches!(
            writer.add(key(1), b"again"),
            Err(BundleError::DuplicateKey(k)) if k == key(1)
        ));
        writer.add(key(2), b"two").unwrap();
        assert_eq!(writer.len(), 2);
        // Dropped unfinished: nothing is left behind.
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    write_bundle(&path, &[(key(1), b"old".to_vec())], None);
    let old = BundleStore::open(&path).unwrap();
    write_bundle(&path, &[(key(1), b"new".to_vec())], None);
    assert_eq!(
        old.get(&key(1)).as_deref(),
        Some(&b"old"[..]),
        "an open bundle keeps reading its file"
    );
    let new = BundleStore::open(&path).unwrap();
    assert_eq!(new.get(&key(1)).as_deref(), Some(&b"new"[..]));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let err = BundleWriter::create(dir.path().join("no/such/dir/b.pcsb")).unwrap_err();
    assert!(matches!(err, BundleError::Io { .. }), "{err}");
}

#[test]
fn the_same_entries_make_the_same_bytes() {
    // Reproducible: a farm can compare or deduplicate bundles by their bytes.
    let dir = ScratchDir::new("reproducible");
    let all = entries(30);
    let mut reversed = all.clone();
    reversed.reverse();
    let mut sorted = all.clone();
    sorted.sort_by_key(|(key, _)| *key);
    let a = dir.path().join("a.pcsb");
    let b = dir.path().join("b.pcsb");
    write_bundle(&a, &sorted, Some(&signing_key(4)));
    write_bundle(&b, &sorted, Some(&signing_key(4)));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    // The writer's file is what FORMAT.md describes, byte for byte (payloads in the order they
    // were added; RawBundle lays them out in key order).
    let mut raw = RawBundle::of(&all);
    raw.signer_seed = Some(4);
    raw.fix_layout();
    assert!(
        std::fs::read(&a).unwrap() == raw.encode(),
        "writer and FORMAT.md disagree"
    );
    // Another order of adding changes the payload order, not the validity.
    write_bundle(&b, &reversed, None);
    let store = BundleStore::open(&b).unwrap();
    for (key, payload) in &all {
        assert_eq!(store.get(key).as_ref(), Some(payload));
    }
}

#[test]
fn errors_say_why() {
    let cases = [
        (BundleError::NotABundle, "not a pcstore bundle"),
        (
            BundleError::UnsupportedVersion { found: 9 },
            "format version 9",
        ),
        (
            BundleError::Truncated {
                expected: 10,
                actual: 5,
            },
            "truncated: 5 bytes",
        ),
        (BundleError::Unsigned, "unsigned"),
        (BundleError::WrongKey { found: [0xab; 32] }, "abababab"),
        (BundleError::BadSignature, "signature does not verify"),
        (BundleError::IndexCorrupt, "corrupt index"),
    ];
    for (err, text) in cases {
        assert!(err.to_string().contains(text), "{err}");
        let io = std::io::Error::from(err);
        assert!(io.to_string().contains(text), "{io}");
    }
}

#[test]
fn threads_share_one_store_and_a_damaged_payload_is_counted_once() {
    let dir = ScratchDir::new("threads");
    let path = dir.path().join("b.pcsb");
    let all = entries(64);
    write_bundle(&path, &all, None);
    let store = BundleStore::open(&path).expect("open");
    let victim = *store.entries().iter().find(|e| e.len > 0).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&[0x55], victim.offset)
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    for (key, payload) in &all {
                        match store.get(key) {
                            Some(found) => assert_eq!(&found, payload),
                            None => assert_eq!(*key, victim.key),
                        }
                    }
                }
            });
        }
    });
    let metrics = store.metrics();
    assert_eq!(metrics.corrupt_dropped, 1);
    assert_eq!(metrics.lookups, 4 * 5 * 64);
    assert_eq!(metrics.misses, 4 * 5);
}

/// Compressed payloads (format version 2) are checked like stored ones, after decompression:
/// a flipped byte is a counted miss, and a declared value length beyond `max_entry_bytes` is
/// refused before anything is allocated for it, even when the stored bytes are within it.
#[test]
fn compressed_payloads_are_checked_and_bounded() {
    let dir = ScratchDir::new("compressed");
    let path = dir.path().join("c.pcsb");
    let values: Vec<_> = (0..4)
        .map(|k| (key(k), format!("pipeline {k} ").repeat(200).into_bytes()))
        .collect();
    write_bundle(&path, &values, None);
    let store = BundleStore::open(&path).unwrap();
    let located: Vec<_> = store.entries().to_vec();
    assert!(located
        .iter()
        .all(|entry| entry.encoding == pcstore::compression::Encoding::Zstd));
    for (key, value) in &values {
        assert_eq!(store.get(key).as_ref(), Some(value));
    }
    let value_len = values[0].1.len() as u64;
    let stored_len = located.iter().map(|entry| entry.len).max().unwrap();
    assert!(stored_len * 5 < value_len, "{stored_len} of {value_len}");
    drop(store);

    // A reader whose largest entry is below the values, above what is stored.
    let small = BundleStore::open_with_options(
        &path,
        BundleOptions {
            max_entry_bytes: value_len - 1,
            ..Default::default()
        },
    )
    .unwrap();
    for (key, _) in &values {
        assert_eq!(small.get(key), None);
    }

    let bytes = std::fs::read(&path).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // Entry 0: the declared value length made huge. Entry 1: a byte of its frame flipped.
    let first = &located[0];
    file.write_all_at(&u64::MAX.to_le_bytes(), first.offset)
        .unwrap();
    let second = &located[1];
    let at = second.offset + second.len / 2;
    file.write_all_at(&[bytes[at as usize] ^ 0x5a], at).unwrap();
    drop(file);
    let damaged = BundleStore::open(&path).unwrap();
    let mut misses = 0;
    for (key, value) in &values {
        match damaged.get(key) {
            Some(got) => assert_eq!(&got, value),
            None => misses += 1,
        }
    }
    assert_eq!(misses, 2);
    assert_eq!(damaged.metrics().corrupt_dropped, 2);
}
