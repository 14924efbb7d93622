//! The store contract every tier implements.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::fingerprint::PipelineFingerprint;
use crate::metrics::PipelineCacheMetrics;

/// A key-value store of pipeline-cache blobs.
///
/// Contract shared by every implementation:
/// - thread-safe: every method may be called from any thread at any time;
/// - `get`/`get_arc` return exactly the bytes that were put under that key, or `None`, never
///   other bytes (tiers that can see corruption verify it, drop a damaged entry, count it in
///   [`PipelineCacheMetrics::corrupt_dropped`] and answer a miss; [`Self::lookup`] tells the two
///   kinds of miss apart);
/// - `put` never blocks on slow I/O for long (no fsync per put, no network wait); it may drop a
///   put it cannot take (too large, full queue, I/O error), which `try_put` reports and
///   [`PipelineCacheMetrics::rejected_puts`] counts;
/// - `flush` is the durability point: when it returns `Ok`, every put accepted before the call
///   has reached the tier's durable medium (for tiers that have one).
pub trait PipelineCacheStore: Send + Sync {
    /// Looks a blob up and returns a copy of it.
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>>;

    /// Stores a blob, dropping it silently if the store cannot take it (see `try_put`).
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>);

    /// Looks a blob up without copying where the tier holds it in memory. The hot path.
    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        self.get(fp).map(Arc::new)
    }

    /// Looks a blob up as `get_arc` does, and says whether a miss found nothing or found a
    /// damaged entry (dropped, as `get_arc` drops it). The default answers from `get_arc`: tiers
    /// that cannot see corruption (memory) never report it.
    ///
    /// Tiers that verify what they read (disk, bundle, remote) and stacks of tiers override
    /// this, so that the Vulkan adapter can report a damaged entry as corrupt rather than as a
    /// plain miss. `Corrupt` is about this lookup: the damaged entry is dropped from what the tier
    /// serves, but a later lookup may find it again until the tier removes it (a bundle never
    /// does; the disk tier may until compaction removes the record, after re-reading its
    /// directory; the remote tier once its miss memory expires), and a new put replaces it.
    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        self.get_arc(fp).map_or(Lookup::Miss, Lookup::Hit)
    }

    /// Every intact copy of `fp` this store holds: one per tier that has one, fastest first.
    /// A store of one tier answers what `get_arc` answers (the default).
    ///
    /// For entries kept under a fixed key whose copies are meant to be united, not chosen
    /// between: the recipe catalog and application records are grow-only lists, and a copy in
    /// a faster tier (this machine's recordings) must not hide a newer one in a slower tier (a
    /// game patch's bundle). A blob is read with `get_arc`: the first copy is the copy.
    /// Stacks override this; slow tiers are asked within the bound their lookups have, so a
    /// call may block that long: for reads off the frame path.
    fn get_every_copy(&self, fp: &PipelineFingerprint) -> Vec<Arc<Vec<u8>>> {
        self.get_arc(fp).into_iter().collect()
    }

    /// Stores a blob and says whether the store accepted it.
    ///
    /// `Ok` means accepted: visible to `get` from now on (within this process) and made durable
    /// by the next successful `flush`. It does not mean durable yet.
    ///
    /// # Errors
    /// The [`PutError`] saying why the store did not take the blob: too large for it, a
    /// read-only store, dropped for now (a full queue, a disabled store) or a failed write. The
    /// default implementation forwards to `put` and never errs.
    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.put(fp, artifact);
        Ok(())
    }

    /// Like `try_put`, for a blob that is already shared: memory tiers keep the `Arc` itself,
    /// so a blob written through several layers is held in memory once.
    ///
    /// # Errors
    /// As `try_put`.
    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        self.try_put(fp, Arc::unwrap_or_clone(artifact))
    }

    /// Makes every put accepted before this call durable.
    ///
    /// # Errors
    /// The I/O error that kept some accepted put from becoming durable (or, for a remote tier,
    /// from being uploaded within its flush deadline). The default implementation, for tiers
    /// with nothing durable, never errs.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// A snapshot of this store's counters and latency figures.
    fn metrics(&self) -> PipelineCacheMetrics {
        PipelineCacheMetrics::default()
    }
}

/// What [`PipelineCacheStore::lookup`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The bytes put under the key, verified where the tier can.
    Hit(Arc<Vec<u8>>),
    /// Nothing stored under the key.
    Miss,
    /// An entry was stored under the key but failed the tier's verification (a checksum, a
    /// length, an envelope): it was dropped and counted, and is never returned.
    Corrupt,
}

impl Lookup {
    /// The blob on a hit; `None` on a miss of either kind (what `get_arc` returns).
    pub fn hit(self) -> Option<Arc<Vec<u8>>> {
        match self {
            Self::Hit(blob) => Some(blob),
            Self::Miss | Self::Corrupt => None,
        }
    }
}

/// Why a store did not accept a put.
#[derive(Debug)]
#[non_exhaustive]
pub enum PutError {
    /// The blob is larger than this store ever holds.
    TooLarge {
        /// The blob's size in bytes.
        len: u64,
        /// The largest blob this store accepts.
        max: u64,
    },
    /// The store was opened read-only.
    ReadOnly,
    /// The store could not take it now (a full upload queue, a disabled store); nothing broke.
    Dropped(&'static str),
    /// Writing failed.
    Io(io::Error),
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "blob of {len} bytes is larger than the store's limit of {max} bytes"
                )
            }
            Self::ReadOnly => f.write_str("the store is read-only"),
            Self::Dropped(why) => write!(f, "put dropped: {why}"),
            Self::Io(err) => write!(f, "I/O error: {err}"),
        }
    }
}

impl std::error::Error for PutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for PutError {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

impl<S: PipelineCacheStore + ?Sized> PipelineCacheStore for Arc<S> {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        (**self).get(fp)
    }
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        (**self).put(fp, artifact);
    }
    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        (**self).get_arc(fp)
    }
    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        (**self).lookup(fp)
    }
    fn get_every_copy(&self, fp: &PipelineFingerprint) -> Vec<Arc<Vec<u8>>> {
        (**self).get_every_copy(fp)
    }
    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        (**self).try_put(fp, artifact)
    }
    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        (**self).try_put_arc(fp, artifact)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn metrics(&self) -> PipelineCacheMetrics {
        (**self).metrics()
    }
}
