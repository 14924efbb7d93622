//! The disk tier: a multi-process, crash-safe, bounded store of blobs in one directory.
//!
//! Shape (FORMAT.md has the byte layout):
//! - every writing process appends to its own segment file (`seg-*.log`), created exclusively and
//!   held under an exclusive `flock` while it is appended to, so writers never contend and a
//!   crashed writer's segment is simply found unlocked and treated as finished;
//! - each record carries its key, length, BLAKE3 of the payload, a version stamp and an access
//!   time, behind a checked header; a read verifies all of it or reports a miss;
//! - a finished segment gets an index file (`seg-*.idx`) so opening reads compact indexes, not
//!   records, and stays pinned (its writer's lock turned shared) until its writer's next flush
//!   has synced it: no compaction deletes records a flush is about to vouch for;
//! - `put` appends (no fsync); `flush` is `fdatasync` of the segments written since the last
//!   flush plus a directory `fsync` for new files;
//! - when the directory exceeds its budget, one process at a time (under `compact.lock`) copies
//!   the most recently used entries of the finished segments into a new segment, down to half
//!   the budget, then deletes the old segments; readers elsewhere keep their open descriptors
//!   and re-list the directory when they see files vanish;
//! - it touches only what it owns (`dir.rs`, `names.rs`): a directory of this user's that nobody
//!   else may write in, marked as a store, and in it only the names it generates, only this
//!   user's files, only files of its own format version.

mod compaction;
mod dir;
mod error;
mod format;
mod index;
mod names;
mod segment;
mod store;
#[cfg(test)]
mod test_hooks;
#[cfg(test)]
mod tests;
mod view;

pub use crate::config::user_cache_dir;
pub use error::{DiskCacheError, Refusal};
pub use store::{DiskCache, DurabilityReport};

/// Tuning of a [`DiskCache`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCacheOptions {
    /// Budget of on-disk bytes (segments and their indexes). Default 1 GiB.
    ///
    /// Exceeding it starts a compaction (on a background thread) that evicts least recently
    /// used entries down to half of it. The directory may exceed it by a small slack: an eighth
    /// of it (beyond that, puts are refused with [`crate::PutError::Dropped`] until compaction
    /// catches up), plus per writing process its current segment (`max_bytes / 16`, between
    /// 64 KiB and 64 MiB), what it appends before re-checking the total (`max_bytes / 64`,
    /// between 16 KiB and 16 MiB) and one entry.
    pub max_bytes: u64,
    /// Largest blob accepted (default 64 MiB); also capped at `max_bytes / 4`, so one entry can
    /// never push the rest out. Larger puts are refused before anything is written.
    ///
    /// Also the largest blob read: a record claiming more (written by a store with a larger
    /// limit, or crafted) is a miss and the next compaction evicts it, so no file can make the
    /// store allocate more than this for one entry.
    pub max_entry_bytes: u64,
    /// Never write: no files are created (not even the marker), locked for writing, repaired or
    /// deleted; puts are refused with [`crate::PutError::ReadOnly`].
    pub read_only: bool,
}

impl Default for DiskCacheOptions {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_entry_bytes: 64 << 20,
            read_only: false,
        }
    }
}
