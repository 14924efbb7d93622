//! The committed bundles in `tests/bundle_fixtures/` (read by the C test, `tests/c/
//! test_bundle.c`, and the fuzzer's seeds) are what the writer makes today, and today's reader
//! opens them: a format change that would strand shipped bundles fails here.
//!
//! After an intended format change (with a new format version), keep the old ones under a
//! versioned name (as `v1-*.pcsb`, written by the version-1 writer, are kept: games ship them,
//! and they must keep opening) and rewrite the current ones with
//! `PCSTORE_WRITE_BUNDLE_FIXTURES=1 cargo test --test bundle_fixtures`.

use std::path::{Path, PathBuf};

use pcstore::bundle::{BundleOptions, BundleSigningKey, BundleStore, BundleWriter};
use pcstore::{PipelineCacheStore, PipelineFingerprint};

/// The studio key the signed fixture is signed with (test only: its secret is public).
const STUDIO_SECRET: [u8; 32] = [0x5a; 32];
/// Its public key, as tests/c/test_bundle.c spells it.
const STUDIO_PUBLIC: &str = "0d7550754e0800a5d237eef5826035766b9b3e5a15868a940ab289958788e3b0";
/// Another valid public key (of the secret `[0x11; 32]`), as tests/c/test_bundle.c spells it.
const OTHER_PUBLIC: &str = "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bundle_fixtures")
}

/// Entry `i`: key BLAKE3("bundle fixture key i"), payload "bundle fixture payload i" i times.
fn fixture_entries() -> Vec<(PipelineFingerprint, Vec<u8>)> {
    (0..4)
        .map(|i| {
            let key = PipelineFingerprint::of(format!("bundle fixture key {i}").as_bytes());
            (
                key,
                format!("bundle fixture payload {i}").repeat(i).into_bytes(),
            )
        })
        .collect()
}

fn write(path: &Path, signer: Option<&BundleSigningKey>) {
    let mut writer = BundleWriter::create(path).expect("create");
    for (key, payload) in fixture_entries() {
        writer.add(key, &payload).expect("add");
    }
    match signer {
        Some(signer) => writer.finish_signed(signer),
        None => writer.finish(),
    }
    .expect("finish");
}

fn hex(bytes: &[u8; 32]) -> String {
    PipelineFingerprint(*bytes).to_hex()
}

#[test]
fn committed_fixtures_are_what_the_writer_makes_and_open() {
    let studio = BundleSigningKey::from_secret_bytes(&STUDIO_SECRET);
    let other = BundleSigningKey::from_secret_bytes(&[0x11; 32]);
    let fresh = std::env::temp_dir().join(format!("pcstore-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&fresh).unwrap();
    let rewrite = std::env::var_os("PCSTORE_WRITE_BUNDLE_FIXTURES").is_some();
    for (name, signer) in [("unsigned.pcsb", None), ("signed.pcsb", Some(&studio))] {
        let made = fresh.join(name);
        write(&made, signer);
        let committed = fixtures().join(name);
        if rewrite {
            std::fs::copy(&made, &committed).unwrap();
        }
        assert!(
            std::fs::read(&made).unwrap() == std::fs::read(&committed).unwrap(),
            "{name} differs from what the writer makes: see this file's header"
        );
    }
    let _ = std::fs::remove_dir_all(&fresh);
    if rewrite {
        println!("studio public key {}", hex(&studio.public_key()));
        println!("other public key {}", hex(&other.public_key()));
    }
    assert_eq!(hex(&studio.public_key()), STUDIO_PUBLIC);
    assert_eq!(hex(&other.public_key()), OTHER_PUBLIC);

    let signed = BundleStore::open_with_options(
        fixtures().join("signed.pcsb"),
        BundleOptions {
            public_key: Some(studio.public_key()),
            ..Default::default()
        },
    )
    .expect("the signed fixture opens with its key");
    let unsigned = BundleStore::open(fixtures().join("unsigned.pcsb")).expect("open");
    for (key, payload) in fixture_entries() {
        assert_eq!(signed.get(&key), Some(payload.clone()));
        assert_eq!(unsigned.get(&key), Some(payload));
    }
    // The longest entry is stored compressed (format version 2).
    let compressed = unsigned
        .entries()
        .iter()
        .filter(|entry| entry.encoding == pcstore::compression::Encoding::Zstd)
        .count();
    assert_eq!(compressed, 1);
}

/// Bundles the version-1 writer made (before compressed payloads) open and read as before.
#[test]
fn version_1_fixtures_still_open() {
    let studio = BundleSigningKey::from_secret_bytes(&STUDIO_SECRET);
    let signed = BundleStore::open_with_options(
        fixtures().join("v1-signed.pcsb"),
        BundleOptions {
            public_key: Some(studio.public_key()),
            ..Default::default()
        },
    )
    .expect("the version-1 signed fixture opens with its key");
    let unsigned = BundleStore::open(fixtures().join("v1-unsigned.pcsb")).expect("open");
    for bundle in [&signed, &unsigned] {
        let bytes = std::fs::read(bundle.path()).expect("read");
        assert_eq!(bytes[8..12], 1u32.to_le_bytes(), "a version-1 file");
        for (key, payload) in fixture_entries() {
            assert_eq!(bundle.get(&key), Some(payload));
        }
    }
}
