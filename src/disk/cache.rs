//! [`DiskCache`]: the public handle of the disk tier, and what it does across `fork()`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::error::DiskCacheError;
use super::options::DiskCacheOptions;
use super::report::DurabilityReport;
use super::store::Store;
use super::writer::into_put_error;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::PipelineCacheMetrics;
use crate::platform;
use crate::store::{Lookup, PipelineCacheStore, PutError};

/// A multi-process, crash-safe, size-bounded store of blobs in one directory.
///
/// Thread-safe (`Send + Sync`); any number of processes may open the same directory. `put`
/// appends without syncing (one `pwritev`; errors are returned by `try_put` and counted);
/// `flush` makes every put accepted before it durable; `get` returns exactly the bytes put,
/// verified against their BLAKE3, or `None`. Values are stored zstd-compressed when that saves
/// at least a tenth (format version 2, FORMAT.md); the budget, `metrics().cached_bytes` and the
/// durability report count bytes as stored. Entries flushed by another process become visible
/// to `get` here: a miss re-checks the directory (a `stat`, plus a scan of whatever other
/// writers appended).
///
/// Over budget, a background thread compacts (see [`DiskCacheOptions::max_bytes`]); while the
/// directory stays above the budget plus an eighth, puts are refused with
/// [`PutError::Dropped`]. Dropping the handle writes this session's recency and finishes its
/// segment, without syncing: only `flush` makes things durable.
///
/// A handle may be used on both sides of `fork()` (without exec): the child process opens the
/// store anew on its first call and is then one more writer with a segment of its own; what it
/// inherited is never touched (the parent still appends to its segment and holds its locks
/// through descriptors the child shares). Forking such a child again while another of its
/// threads is inside a call on this handle is not supported.
pub struct DiskCache {
    store: Arc<Store>,
    /// [`platform::fork_generation`] when `store` was opened.
    generation: u64,
    /// In a process forked since: the store opened anew there, with the generation it was
    /// opened in.
    forked: Mutex<Option<(u64, Arc<Store>)>>,
}

/// The state a handle works on in this process.
pub(super) enum Current<'a> {
    /// The one it was opened with.
    Opened(&'a Arc<Store>),
    /// The one opened anew after a fork.
    Forked(Arc<Store>),
}

impl std::ops::Deref for Current<'_> {
    type Target = Arc<Store>;

    fn deref(&self) -> &Arc<Store> {
        match self {
            Current::Opened(store) => store,
            Current::Forked(store) => store,
        }
    }
}

impl DiskCache {
    /// Opens (creating it, mode 0700, if needed) the store in `root` with default options.
    ///
    /// # Errors
    /// As [`DiskCache::with_options`].
    pub fn new(root: impl AsRef<Path>) -> Result<Self, DiskCacheError> {
        Self::with_options(root, DiskCacheOptions::default())
    }

    /// Opens the store in `root`.
    ///
    /// Uses only a directory of this user's that nobody else may write in, reached through no
    /// other user's symlink, and that is a pcstore store: it has the marker `pcstore.tag`, or is
    /// new, empty, or holds nothing but pcstore's own file names (a store of an earlier
    /// release); a writable open then adds the marker. FORMAT.md has the rules.
    ///
    /// Repairs what crashes leave, touching only its own files: removes stale temp files,
    /// truncates torn tails of segments whose writer is gone, deletes segments whose header is
    /// damaged. Segments of other format versions and other users' files are left alone.
    /// Damaged contents never make opening fail.
    ///
    /// # Errors
    /// [`DiskCacheError::DirectoryRefused`] if the directory is not one pcstore may use (nothing
    /// in it is touched); [`DiskCacheError::Io`] if it cannot be created, opened or listed.
    pub fn with_options(
        root: impl AsRef<Path>,
        options: DiskCacheOptions,
    ) -> Result<Self, DiskCacheError> {
        let store = Store::open(root.as_ref().to_path_buf(), options)?;
        Ok(Self {
            store,
            generation: platform::fork_generation(),
            forked: Mutex::new(None),
        })
    }

    /// The state this process works on: the one the handle was opened with, or, in a process
    /// forked since, the store opened anew there (on its first call). A forked process never
    /// touches what it inherited: the other process appends to its segment and holds its locks
    /// through descriptors shared with this one (appending, unlocking or probing through them
    /// would overwrite its records or drop its locks), and its other threads may have held this
    /// handle's mutexes at the instant of the fork (they would never be released here).
    pub(super) fn current(&self) -> Result<Current<'_>, DiskCacheError> {
        let generation = platform::fork_generation();
        if generation == self.generation {
            return Ok(Current::Opened(&self.store));
        }
        let mut forked = self.forked.lock();
        if let Some((opened_in, store)) = &*forked {
            if *opened_in == generation {
                return Ok(Current::Forked(Arc::clone(store)));
            }
        }
        let store = Store::open(
            self.store.path().to_path_buf(),
            self.store.options().clone(),
        )?;
        *forked = Some((generation, Arc::clone(&store)));
        Ok(Current::Forked(store))
    }

    /// Like [`Self::current`], but `None` in a forked process that has not used the store.
    fn current_if_used(&self) -> Option<Current<'_>> {
        let generation = platform::fork_generation();
        if generation == self.generation {
            return Some(Current::Opened(&self.store));
        }
        match &*self.forked.lock() {
            Some((opened_in, store)) if *opened_in == generation => {
                Some(Current::Forked(Arc::clone(store)))
            }
            _ => None,
        }
    }

    /// Opens the per-user store: `$PCSTORE_DIR`, else `$XDG_CACHE_HOME/pcstore`, else
    /// `$HOME/.cache/pcstore` (an empty variable counts as unset).
    ///
    /// # Errors
    /// [`DiskCacheError::NoCacheDirectory`] if none of them is set; else as
    /// [`DiskCache::with_options`].
    pub fn in_user_cache() -> Result<Self, DiskCacheError> {
        Self::new(crate::config::user_cache_dir().ok_or(DiskCacheError::NoCacheDirectory)?)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        self.store.path()
    }

    /// What is durable and what is not, and what the store holds on disk. (In a forked process
    /// that could not open the store anew: only that error.)
    pub fn durability_report(&self) -> DurabilityReport {
        match self.current() {
            Ok(store) => store.durability_report(),
            Err(err) => DurabilityReport {
                io_errors: 1,
                last_error: Some(err.to_string()),
                ..DurabilityReport::default()
            },
        }
    }

    /// Compacts now on this thread (waiting up to 10 s for another process's compaction to
    /// finish, else returning `Ok` without doing anything): evicts least recently used entries
    /// down to half the budget if the store is over it, and reclaims the space of superseded and
    /// evicted records in finished segments either way. What it keeps is synced. Segments
    /// another process finished but has not flushed yet are left for a later compaction.
    ///
    /// # Errors
    /// [`DiskCacheError::ReadOnly`], or the I/O error that stopped it (nothing is lost: old
    /// segments are deleted only after their survivors are synced).
    pub fn compact(&self) -> Result<(), DiskCacheError> {
        self.current()?.compact(true)
    }

    /// The keys of every entry the store holds, in no particular order (for tools that list or
    /// export it), after picking up what other processes flushed since the last look.
    pub fn keys(&self) -> Vec<PipelineFingerprint> {
        // In a forked child the store is opened anew there (see `current`); if that fails, the
        // child sees nothing rather than touching what it inherited.
        let Ok(store) = self.current() else {
            return Vec::new();
        };
        store.keys()
    }

    /// Reads `key` as `get` does (verified; a corrupt record is dropped and counted) but as an
    /// inspection, not a use: its recency is left alone, so a tool reading every entry does not
    /// make them all look hot to eviction, and no lookup is counted.
    pub fn peek(&self, key: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.current().ok()?.read(key, false, &mut false)
    }
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("root", &self.store.path())
            .field("options", self.store.options())
            .finish_non_exhaustive()
    }
}

/// Closing finishes this process's segment at once (index written, lock released, no sync),
/// even while a background compaction still holds the shared state: a segment left locked
/// would look live to everyone and could not be compacted.
impl Drop for DiskCache {
    fn drop(&mut self) {
        let Some(store) = self.current_if_used() else {
            return; // a forked process that never used the store: nothing of its own to close
        };
        store.close();
    }
}

impl PipelineCacheStore for DiskCache {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.current().ok()?.get(fp, &mut false)
    }

    fn get_arc(&self, fp: &PipelineFingerprint) -> Option<Arc<Vec<u8>>> {
        self.current().ok()?.get(fp, &mut false).map(Arc::new)
    }

    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        let Ok(store) = self.current() else {
            return Lookup::Miss;
        };
        let mut damaged = false;
        match store.get(fp, &mut damaged) {
            Some(blob) => Lookup::Hit(Arc::new(blob)),
            None if damaged => Lookup::Corrupt,
            None => Lookup::Miss,
        }
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        if let Ok(store) = self.current() {
            let _ = store.put(fp, &artifact);
        }
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.current().map_err(into_put_error)?.put(fp, &artifact)
    }

    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        self.current().map_err(into_put_error)?.put(fp, &artifact)
    }

    fn flush(&self) -> io::Result<()> {
        self.current()?.flush().map_err(io::Error::from)
    }

    fn metrics(&self) -> PipelineCacheMetrics {
        self.current()
            .map(|store| store.metrics())
            .unwrap_or_default()
    }
}
