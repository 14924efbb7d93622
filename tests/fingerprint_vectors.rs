//! Fixed key vectors. Every user's stored cache is keyed by these derivations: if one of these
//! tests fails, a change has silently invalidated (or worse, re-pointed) every existing entry.

use std::collections::HashSet;

use pcstore::{DeviceIdentity, PipelineFingerprint};

fn lavapipe_identity() -> DeviceIdentity {
    DeviceIdentity {
        vendor_id: 0x10005,
        device_id: 0,
        driver_version: 1,
        driver_id: 13,
        pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
        pointer_size: 8,
        driver_info: b"llvmpipe\0Mesa 22.3.6".to_vec(),
        namespace: b"engine".to_vec(),
    }
}

#[test]
fn of_is_plain_blake3() {
    // The published BLAKE3 test value for "abc" and for the empty input.
    assert_eq!(
        PipelineFingerprint::of(b"abc").to_hex(),
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
    assert_eq!(
        PipelineFingerprint::of(b"").to_hex(),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
}

#[test]
fn builder_vectors_are_stable_and_length_prefixed() {
    let ab_c = PipelineFingerprint::builder()
        .with(b"ab")
        .with(b"c")
        .finish();
    let a_bc = PipelineFingerprint::builder()
        .with(b"a")
        .with(b"bc")
        .finish();
    assert_eq!(
        ab_c.to_hex(),
        "634d0e3e702aba180f3999887df01861a00c383a7b520ea851bbff3d1243ea44"
    );
    assert_eq!(
        a_bc.to_hex(),
        "56d577e023968e029aae52b13737c1eff3ffdb83f3911bbccde0dbc02ac39a0b"
    );
    assert_ne!(ab_c, PipelineFingerprint::of(b"abc"));
}

#[test]
fn scoped_vector_is_stable() {
    let key = PipelineFingerprint::of(b"abc").scoped(&lavapipe_identity());
    assert_eq!(
        key.to_hex(),
        "09041b90c121b2210ef5caac1c7f5c74cc76403375d07d12d3daf61537dc4e41"
    );
}

#[test]
fn every_identity_field_changes_the_scoped_key() {
    let base = lavapipe_identity();
    let engine_key = PipelineFingerprint::of(b"pipeline 7");
    let variants: Vec<DeviceIdentity> = vec![
        base.clone(),
        DeviceIdentity {
            vendor_id: 0x1ae0,
            ..base.clone()
        },
        DeviceIdentity {
            device_id: 0xc0de,
            ..base.clone()
        },
        DeviceIdentity {
            driver_version: 2,
            ..base.clone()
        },
        DeviceIdentity {
            driver_id: 14,
            ..base.clone()
        },
        DeviceIdentity {
            pipeline_cache_uuid: [0; 16],
            ..base.clone()
        },
        DeviceIdentity {
            pointer_size: 4,
            ..base.clone()
        },
        DeviceIdentity {
            driver_info: b"llvmpipe\0Mesa 22.3.7".to_vec(),
            ..base.clone()
        },
        DeviceIdentity {
            namespace: b"engine-debug".to_vec(),
            ..base.clone()
        },
        // Moving bytes between the two strings must not collide (length prefixes).
        DeviceIdentity {
            driver_info: b"llvmpipe\0Mesa 22.3.6e".to_vec(),
            namespace: b"ngine".to_vec(),
            ..base.clone()
        },
    ];
    let keys: HashSet<PipelineFingerprint> =
        variants.iter().map(|id| engine_key.scoped(id)).collect();
    assert_eq!(keys.len(), variants.len());
    assert!(!keys.contains(&engine_key));
}

#[test]
fn hex_round_trips_and_rejects_bad_input() {
    let key = PipelineFingerprint::of(b"round trip");
    let hex = key.to_string();
    assert_eq!(hex.len(), 64);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(hex.parse::<PipelineFingerprint>(), Ok(key));
    assert_eq!(PipelineFingerprint::from_hex(&hex.to_uppercase()), Ok(key));
    assert_eq!(format!("{key:?}"), format!("PipelineFingerprint({hex})"));
    assert_eq!(
        PipelineFingerprint::from_hex(&hex[..63]),
        Err(pcstore::ParseFingerprintError::Length(63))
    );
    let mut bad = hex.clone().into_bytes();
    bad[10] = b'g';
    assert_eq!(
        PipelineFingerprint::from_hex(std::str::from_utf8(&bad).unwrap()),
        Err(pcstore::ParseFingerprintError::Digit(10))
    );
    assert!(PipelineFingerprint::from_hex("é").is_err());
}
