//! [`BundleWriter`]: entries in, one bundle file out, optionally signed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey};

use super::format::{self, BundleEntry, Header, ENTRY_LEN, HEADER_LEN, KIND_BLOB};
use super::store::BundleInfo;
use super::BundleError;
use crate::codec::Writer;
use crate::compression;
use crate::fingerprint::PipelineFingerprint;
use crate::platform;

/// A studio's Ed25519 private key, which signs bundles.
///
/// Keep it on the build farm; ship only [`BundleSigningKey::public_key`] with the game. Its
/// bytes are wiped from memory when it is dropped, and `Debug` never shows them.
pub struct BundleSigningKey(SigningKey);

impl BundleSigningKey {
    /// The key whose 32-byte secret (the Ed25519 seed, RFC 8032) is `secret`.
    #[must_use]
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The public key clients configure to accept this key's bundles
    /// ([`super::BundleOptions::public_key`]).
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for BundleSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleSigningKey")
            .field("public_key", &PipelineFingerprint(self.public_key()))
            .finish_non_exhaustive()
    }
}

/// Writes one bundle file.
///
/// Payloads are streamed to a temporary file next to the target as they are added (only their
/// index entries, 88 bytes each, stay in memory); [`BundleWriter::finish`] appends the index
/// sorted by key (and the signature), syncs the file and renames it over the target, then
/// syncs the directory. Readers of an older bundle at the same path keep reading it; nobody
/// ever sees a partial bundle. Dropping an unfinished writer removes its temporary file (a
/// process killed meanwhile leaves it, as `.NAME.tmp-PID-N` beside the target).
pub struct BundleWriter {
    target: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    end: u64,
    entries: Vec<BundleEntry>,
    keys: HashSet<PipelineFingerprint>,
}

impl BundleWriter {
    /// Starts a bundle that [`BundleWriter::finish`] will place at `path`.
    ///
    /// # Errors
    /// [`BundleError::Io`] when the temporary file cannot be created in `path`'s directory.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, BundleError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let target = path.as_ref().to_path_buf();
        let name = target.file_name().ok_or_else(|| {
            BundleError::io(
                "name bundle",
                &target,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
            )
        })?;
        let temp = target.with_file_name(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            platform::process_id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = platform::create_new_shared_file(&temp)
            .map_err(|err| BundleError::io("create bundle", &temp, err))?;
        let mut writer = Self {
            target,
            temp,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            end: 0,
            entries: Vec::new(),
            keys: HashSet::new(),
        };
        // The header is written last, when the index hash is known.
        writer.append(&[0; HEADER_LEN], "write header")?;
        Ok(writer)
    }

    /// Entries added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the blob `payload` under `key`.
    ///
    /// # Errors
    /// [`BundleError::DuplicateKey`] when `key` was added before (nothing is written; the
    /// writer stays usable), or [`BundleError::Io`] when writing fails.
    pub fn add(&mut self, key: PipelineFingerprint, payload: &[u8]) -> Result<(), BundleError> {
        if !self.keys.insert(key) {
            return Err(BundleError::DuplicateKey(key));
        }
        let offset = self.end;
        // Compressed when that saves a tenth, as the disk tier stores it.
        let (encoding, stored) = compression::encode(payload);
        self.append(&stored, "write payload")?;
        self.entries.push(BundleEntry {
            key,
            kind: KIND_BLOB,
            encoding,
            offset,
            len: stored.len() as u64,
            hash: *blake3::hash(payload).as_bytes(),
        });
        Ok(())
    }

    /// Finishes an unsigned bundle.
    ///
    /// # Errors
    /// [`BundleError::Io`] when writing, syncing or renaming fails (the target is then
    /// unchanged and the temporary file removed).
    pub fn finish(self) -> Result<BundleInfo, BundleError> {
        self.finish_with(None)
    }

    /// Finishes a bundle signed with `key`.
    ///
    /// # Errors
    /// As [`BundleWriter::finish`].
    pub fn finish_signed(self, key: &BundleSigningKey) -> Result<BundleInfo, BundleError> {
        self.finish_with(Some(key))
    }

    fn finish_with(mut self, key: Option<&BundleSigningKey>) -> Result<BundleInfo, BundleError> {
        self.entries.sort_unstable_by_key(|entry| entry.key);
        let mut index = Writer::with_capacity(self.entries.len() * ENTRY_LEN);
        for entry in &self.entries {
            format::encode_entry(&mut index, entry);
        }
        let index = index.finish();
        let index_offset = self.end;
        let signature_len = if key.is_some() {
            format::SIGNATURE_BLOCK_LEN
        } else {
            0
        };
        let header = Header {
            version: format::VERSION,
            signed: key.is_some(),
            entry_count: self.entries.len() as u64,
            index_offset,
            file_len: index_offset + index.len() as u64 + signature_len as u64,
            index_hash: *blake3::hash(&index).as_bytes(),
        };
        let header_bytes = header.encode();
        self.append(&index, "write index")?;
        if let Some(key) = key {
            let signature = key.0.sign(&Header::signed_message(&header_bytes));
            let block = format::encode_signature_block(&key.public_key(), &signature.to_bytes());
            self.append(&block, "write signature")?;
        }
        let mut out = self
            .out
            .take()
            .expect("append succeeded, so the file is open");
        let written = (|| {
            out.seek(SeekFrom::Start(0))?;
            out.write_all(&header_bytes)?;
            out.flush()?;
            platform::sync_data(out.get_ref())
        })();
        drop(out);
        written.map_err(|err| BundleError::io("write bundle", &self.temp, err))?;
        std::fs::rename(&self.temp, &self.target)
            .map_err(|err| BundleError::io("rename bundle into place", &self.target, err))?;
        let dir = match self.target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        platform::sync_dir(dir).map_err(|err| BundleError::io("sync directory", dir, err))?;
        Ok(BundleInfo {
            entries: header.entry_count,
            payload_bytes: index_offset - HEADER_LEN as u64,
            file_len: header.file_len,
            signer: key.map(BundleSigningKey::public_key),
        })
    }

    /// Appends at the end. After a failed write the file's end is unknown, so the writer
    /// refuses everything from then on.
    fn append(&mut self, bytes: &[u8], op: &'static str) -> Result<(), BundleError> {
        let result = match self.out.as_mut() {
            Some(out) => out.write_all(bytes),
            None => Err(std::io::Error::other(
                "an earlier write to this bundle failed",
            )),
        };
        if let Err(err) = result {
            self.out = None;
            return Err(BundleError::io(op, &self.temp, err));
        }
        self.end += bytes.len() as u64;
        Ok(())
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        // Unfinished, or finishing failed before the rename: the temporary file is garbage.
        // After a successful rename the name is gone and this removes nothing.
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("target", &self.target)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}
