//! Shared helpers of the bundle tests: building real bundles, and crafting raw ones byte by
//! byte from FORMAT.md (so the tests also pin the format) to make damaged ones a writer never
//! would.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use pcstore::bundle::{BundleInfo, BundleSigningKey, BundleWriter};
use pcstore::PipelineFingerprint;

pub const HEADER_LEN: usize = 88;
pub const ENTRY_LEN: usize = 88;
pub const SIGNATURE_BLOCK_LEN: usize = 96;

/// The key of entry `k`.
pub fn key(k: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(format!("bundle test key {k}").as_bytes())
}

/// The payload of entry `k`: `len` bytes derived from `k` (any length, 0 included).
pub fn payload(k: u64, len: usize) -> Vec<u8> {
    let mut state = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// `count` entries of assorted sizes (one empty).
pub fn entries(count: u64) -> Vec<(PipelineFingerprint, Vec<u8>)> {
    (0..count)
        .map(|k| (key(k), payload(k, (k as usize * 37) % 300)))
        .collect()
}

/// A signing key from a fixed seed.
pub fn signing_key(seed: u8) -> BundleSigningKey {
    BundleSigningKey::from_secret_bytes(&[seed; 32])
}

/// Writes a bundle of `entries` at `path` with the real writer.
pub fn write_bundle(
    path: &Path,
    entries: &[(PipelineFingerprint, Vec<u8>)],
    signer: Option<&BundleSigningKey>,
) -> BundleInfo {
    let mut writer = BundleWriter::create(path).expect("create bundle");
    for (key, payload) in entries {
        writer.add(*key, payload).expect("add");
    }
    match signer {
        Some(signer) => writer.finish_signed(signer),
        None => writer.finish(),
    }
    .expect("finish")
}

/// One index entry as FORMAT.md lays it out.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub key: [u8; 32],
    pub kind: u8,
    /// 0: the payload is the value; 1: zstd-compressed (version 2 only).
    pub encoding: u8,
    pub offset: u64,
    pub len: u64,
    pub hash: [u8; 32],
}

/// A bundle's fields, encoded exactly as FORMAT.md says, whatever their values.
#[derive(Clone, Debug)]
pub struct RawBundle {
    pub version: u32,
    pub entry_count: u64,
    pub index_offset: u64,
    pub file_len: u64,
    pub records: Vec<u8>,
    pub entries: Vec<RawEntry>,
    /// Signs the header with this seed's key (flag set, block appended).
    pub signer_seed: Option<u8>,
}

impl RawBundle {
    /// A consistent bundle (format version 2) of `entries`, payloads in key order, each
    /// compressed as the library's writer decides.
    pub fn of(entries: &[(PipelineFingerprint, Vec<u8>)]) -> Self {
        let mut sorted: Vec<_> = entries.to_vec();
        sorted.sort_by_key(|(key, _)| *key);
        let mut records = Vec::new();
        let mut raw = Vec::new();
        for (key, value) in &sorted {
            let (encoding, payload) = pcstore::compression::encode(value);
            raw.push(RawEntry {
                key: key.0,
                kind: 1,
                encoding: encoding as u8,
                offset: (HEADER_LEN + records.len()) as u64,
                len: payload.len() as u64,
                hash: *blake3::hash(value).as_bytes(),
            });
            records.extend_from_slice(&payload);
        }
        let mut bundle = Self {
            version: 2,
            entry_count: 0,
            index_offset: 0,
            file_len: 0,
            records,
            entries: raw,
            signer_seed: None,
        };
        bundle.fix_layout();
        bundle
    }

    /// Makes the counts and offsets agree with the records and entries.
    pub fn fix_layout(&mut self) {
        self.entry_count = self.entries.len() as u64;
        self.index_offset = (HEADER_LEN + self.records.len()) as u64;
        let signature = if self.signer_seed.is_some() {
            SIGNATURE_BLOCK_LEN
        } else {
            0
        };
        self.file_len =
            self.index_offset + (self.entries.len() * ENTRY_LEN) as u64 + signature as u64;
    }

    pub fn index(&self) -> Vec<u8> {
        let mut index = Vec::new();
        for entry in &self.entries {
            index.extend_from_slice(&entry.key);
            index.push(entry.kind);
            index.push(entry.encoding);
            index.extend_from_slice(&[0; 6]);
            index.extend_from_slice(&entry.offset.to_le_bytes());
            index.extend_from_slice(&entry.len.to_le_bytes());
            index.extend_from_slice(&entry.hash);
        }
        index
    }

    pub fn header(&self) -> Vec<u8> {
        let mut header = b"PCSTBDL\0".to_vec();
        header.extend_from_slice(&self.version.to_le_bytes());
        header.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        header.extend_from_slice(&(ENTRY_LEN as u32).to_le_bytes());
        let flags: u32 = self.signer_seed.is_some().into();
        header.extend_from_slice(&flags.to_le_bytes());
        header.extend_from_slice(&self.entry_count.to_le_bytes());
        header.extend_from_slice(&self.index_offset.to_le_bytes());
        header.extend_from_slice(&self.file_len.to_le_bytes());
        header.extend_from_slice(blake3::hash(&self.index()).as_bytes());
        let check = blake3::hash(&header);
        header.extend_from_slice(&check.as_bytes()[..8]);
        assert_eq!(header.len(), HEADER_LEN);
        header
    }

    pub fn encode(&self) -> Vec<u8> {
        let header = self.header();
        let mut bytes = header.clone();
        bytes.extend_from_slice(&self.records);
        bytes.extend_from_slice(&self.index());
        if let Some(seed) = self.signer_seed {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let message = [&b"pcstore bundle signature v1\0"[..], &header].concat();
            bytes.extend_from_slice(key.verifying_key().as_bytes());
            bytes.extend_from_slice(&key.sign(&message).to_bytes());
        }
        bytes
    }
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pcstore-bundle-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
