//! [`BundleStore`]: a read-only tier over one bundle file.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};

use super::format::{self, BundleEntry, Header, HEADER_LEN};
use super::BundleError;
use crate::compression;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, PipelineCacheMetrics};
use crate::platform;
use crate::store::{Lookup, PipelineCacheStore, PutError};

/// How a [`BundleStore`] opens its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleOptions {
    /// The studio's Ed25519 public key ([`super::BundleSigningKey::public_key`]).
    ///
    /// `Some`: only bundles signed with this key open; unsigned ones are refused
    /// ([`BundleError::Unsigned`]), as are ones signed by another key or whose signature does
    /// not verify.
    ///
    /// `None` (the default): unsigned bundles open, and so do signed ones, but only if their
    /// signature verifies against the key they carry. That proves nothing about who made the
    /// bundle (anyone can sign with their own key) but catches a damaged signature block, and
    /// keeps one rule for every client: a bundle carrying a bad signature never opens.
    pub public_key: Option<[u8; 32]>,
    /// Largest entry served (default 64 MiB, as the disk tier): what one lookup may allocate.
    /// Larger entries are left out (misses), the rest of the bundle still serves.
    pub max_entry_bytes: u64,
}

impl Default for BundleOptions {
    fn default() -> Self {
        Self {
            public_key: None,
            max_entry_bytes: 64 << 20,
        }
    }
}

/// What a bundle holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleInfo {
    /// Entries in the index.
    pub entries: u64,
    /// Bytes of all payloads.
    pub payload_bytes: u64,
    /// Bytes of the file.
    pub file_len: u64,
    /// The public key that signed it, if signed (and verified, for an opened bundle).
    pub signer: Option<[u8; 32]>,
}

/// A read-only store over one bundle file: a game's shipped, prebuilt pipeline caches.
///
/// Opening reads and checks the header, the whole index and the signature (two `pread`s; the
/// payloads are not read), and refuses a bad bundle with a [`BundleError`]. Lookups are a
/// binary search in the in-memory index and one `pread` of the payload, whose BLAKE3 is
/// checked on every read: a file changed or truncated underneath is never trusted, and never
/// faults the process as a memory map would. A payload that fails is a miss, counted in
/// [`PipelineCacheMetrics::corrupt_dropped`] once, and never read again.
///
/// `put`/`try_put` are refused with [`PutError::ReadOnly`]; `flush` has nothing to do.
/// Thread-safe.
pub struct BundleStore {
    path: PathBuf,
    file: File,
    /// Sorted by key.
    entries: Box<[BundleEntry]>,
    /// Per entry: found corrupt, never served again.
    dropped: Box<[AtomicBool]>,
    max_entry_bytes: u64,
    info: BundleInfo,
    served_entries: AtomicU64,
    served_bytes: AtomicU64,
    metrics: MetricsRecorder,
}

impl BundleStore {
    /// Opens the bundle at `path` with the default options (signatures optional).
    ///
    /// # Errors
    /// As [`BundleStore::open_with_options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BundleError> {
        Self::open_with_options(path, BundleOptions::default())
    }

    /// Opens the bundle at `path`, checking everything but the payloads.
    ///
    /// Allocation is bounded by the file's real size: the header's counts must add up to it
    /// before the index is read.
    ///
    /// # Errors
    /// [`BundleError::InvalidPublicKey`] for a bad `options.public_key`; [`BundleError::Io`]
    /// when the file cannot be opened or read (or is not a regular file); otherwise the
    /// reason the bundle is refused: [`BundleError::NotABundle`],
    /// [`BundleError::UnsupportedVersion`], [`BundleError::Truncated`],
    /// [`BundleError::TrailingBytes`], [`BundleError::HeaderCorrupt`],
    /// [`BundleError::IndexCorrupt`], [`BundleError::BadEntry`], [`BundleError::Unsigned`],
    /// [`BundleError::WrongKey`] or [`BundleError::BadSignature`].
    pub fn open_with_options(
        path: impl AsRef<Path>,
        options: BundleOptions,
    ) -> Result<Self, BundleError> {
        let path = path.as_ref();
        let expected_key = options
            .public_key
            .map(|key| VerifyingKey::from_bytes(&key).map_err(|_| BundleError::InvalidPublicKey))
            .transpose()?;
        let file = platform::open_regular_file(path)
            .map_err(|err| BundleError::io("open bundle", path, err))?;
        let actual = file
            .metadata()
            .map_err(|err| BundleError::io("stat bundle", path, err))?
            .len();
        let mut head = [0u8; HEADER_LEN];
        let head_len = HEADER_LEN.min(actual as usize);
        read_at(&file, &mut head[..head_len], 0, path, "read header")?;
        let header = Header::decode(&head[..head_len])?;
        if actual < header.file_len {
            return Err(BundleError::Truncated {
                expected: header.file_len,
                actual,
            });
        }
        if actual > header.file_len {
            return Err(BundleError::TrailingBytes {
                expected: header.file_len,
                actual,
            });
        }
        // Index and signature block, in one read; no bigger than the file (checked above).
        let tail_len = usize::try_from(header.file_len - header.index_offset)
            .map_err(|_| BundleError::HeaderCorrupt("index larger than the address space"))?;
        let mut tail = vec![0u8; tail_len];
        read_at(&file, &mut tail, header.index_offset, path, "read index")?;
        let (index, signature_block) = tail.split_at(header.index_len() as usize);
        let signer = check_signature(&head, &header, signature_block, expected_key)?;
        if blake3::hash(index).as_bytes() != &header.index_hash {
            return Err(BundleError::IndexCorrupt);
        }
        let records = HEADER_LEN as u64..header.index_offset;
        let entries =
            format::decode_index(index, header.version, header.entry_count, records.clone())?;
        format::check_tiling(&entries, records)?;
        drop(tail);

        let served = entries
            .iter()
            .filter(|entry| entry.len <= options.max_entry_bytes);
        let served_entries = served.clone().count() as u64;
        let served_bytes = served.map(|entry| entry.len).sum();
        let info = BundleInfo {
            entries: header.entry_count,
            payload_bytes: header.index_offset - HEADER_LEN as u64,
            file_len: header.file_len,
            signer,
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            dropped: entries.iter().map(|_| AtomicBool::new(false)).collect(),
            entries: entries.into_boxed_slice(),
            max_entry_bytes: options.max_entry_bytes,
            info,
            served_entries: AtomicU64::new(served_entries),
            served_bytes: AtomicU64::new(served_bytes),
            metrics: MetricsRecorder::new(),
        })
    }

    /// The bundle's path as opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the bundle holds and who signed it.
    pub fn info(&self) -> &BundleInfo {
        &self.info
    }

    /// A lookup as `get` counts it; `damaged` as in [`Self::read`].
    fn counted_read(&self, fp: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        // Every lookup is timed, as the disk tier's: next to a pread and a hash pass the clock
        // costs little.
        let probe = self.metrics.start_get_timed();
        let found = self.read(fp, damaged);
        self.metrics
            .record_lookup(probe, found.as_ref().map(Vec::len));
        found
    }

    /// Every index entry, sorted by key (for tools: listing, verifying, exporting).
    pub fn entries(&self) -> &[BundleEntry] {
        &self.entries
    }

    /// Reads and verifies the payload of `key`, without counting a lookup. Sets `damaged` when
    /// this read found the entry damaged (and dropped it for good).
    fn read(&self, key: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        let position = self
            .entries
            .binary_search_by(|entry| entry.key.cmp(key))
            .ok()?;
        let entry = &self.entries[position];
        if entry.len > self.max_entry_bytes || self.dropped[position].load(Ordering::Relaxed) {
            return None;
        }
        // Bounded by max_entry_bytes and, at open, by the file's size.
        let mut payload = vec![0u8; usize::try_from(entry.len).ok()?];
        let value = platform::read_exact_at(&self.file, &mut payload, entry.offset)
            .ok()
            // A compressed value may not claim more than the largest entry either.
            .and_then(|()| compression::decode(entry.encoding, payload, self.max_entry_bytes))
            .filter(|value| blake3::hash(value).as_bytes() == &entry.hash);
        if value.is_some() {
            return value;
        }
        // Changed or cut underneath (or unreadable): the bytes are never trusted again.
        if !self.dropped[position].swap(true, Ordering::Relaxed) {
            *damaged = true;
            log::warn!(
                target: "pcstore::bundle",
                "{}: entry {key} is damaged (changed or cut since it was opened); never served",
                self.path.display()
            );
            self.metrics.inc(Counter::CorruptDropped);
            self.served_entries.fetch_sub(1, Ordering::Relaxed);
            self.served_bytes.fetch_sub(entry.len, Ordering::Relaxed);
        }
        None
    }
}

/// Reads exactly `buf.len()` bytes at `offset`.
fn read_at(
    file: &File,
    buf: &mut [u8],
    offset: u64,
    path: &Path,
    op: &'static str,
) -> Result<(), BundleError> {
    platform::read_exact_at(file, buf, offset).map_err(|err| BundleError::io(op, path, err))
}

/// Applies the signature policy of [`BundleOptions::public_key`]; returns the verified signer.
fn check_signature(
    head: &[u8; HEADER_LEN],
    header: &Header,
    block: &[u8],
    expected: Option<VerifyingKey>,
) -> Result<Option<[u8; 32]>, BundleError> {
    if !header.signed {
        return match expected {
            Some(_) => Err(BundleError::Unsigned),
            None => Ok(None),
        };
    }
    let (carried, signature) =
        format::decode_signature_block(block).ok_or(BundleError::BadSignature)?;
    let key = match expected {
        Some(expected) if expected.to_bytes() != carried => {
            return Err(BundleError::WrongKey { found: carried });
        }
        Some(expected) => expected,
        None => VerifyingKey::from_bytes(&carried).map_err(|_| BundleError::BadSignature)?,
    };
    key.verify_strict(
        &Header::signed_message(head),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| BundleError::BadSignature)?;
    Ok(Some(carried))
}

impl std::fmt::Debug for BundleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleStore")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PipelineCacheStore for BundleStore {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.counted_read(fp, &mut false)
    }

    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        self.get(fp).map(Arc::new)
    }

    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        let mut damaged = false;
        match self.counted_read(fp, &mut damaged) {
            Some(blob) => Lookup::Hit(Arc::new(blob)),
            None if damaged => Lookup::Corrupt,
            None => Lookup::Miss,
        }
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put(fp, artifact);
    }

    fn try_put(&self, _fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.metrics
            .record_put(Instant::now(), artifact.len(), false);
        Err(PutError::ReadOnly)
    }

    fn try_put_arc(
        &self,
        _fp: PipelineFingerprint,
        artifact: Arc<Vec<u8>>,
    ) -> Result<(), PutError> {
        self.metrics
            .record_put(Instant::now(), artifact.len(), false);
        Err(PutError::ReadOnly)
    }

    fn flush(&self) -> io::Result<()> {
        // Nothing to make durable: the bundle never changes. Counted so layered figures add up.
        self.metrics.inc(Counter::Flushes);
        Ok(())
    }

    fn metrics(&self) -> PipelineCacheMetrics {
        self.metrics.snapshot(
            self.served_bytes.load(Ordering::Relaxed),
            self.served_entries.load(Ordering::Relaxed),
        )
    }
}
