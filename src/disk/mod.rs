//! The disk tier: a multi-process, crash-safe, bounded store of blobs in one directory.
//!
//! Shape (FORMAT.md has the byte layout):
//! - every writing process appends to its own segment file (`seg-*.log`), created exclusively and
//!   held under an exclusive `flock` while it is appended to, so writers never contend and a
//!   crashed writer's segment is simply found unlocked and treated as finished;
//! - each record carries its key, length, BLAKE3 of the payload, a version stamp and an access
//!   time, behind a checked header; a read verifies all of it or reports a miss;
//! - a finished segment gets an index file (`seg-*.idx`, written off the putting thread) so
//!   opening reads compact indexes, not records, and stays pinned (its writer's lock turned
//!   shared) until its writer's next flush has synced it: no compaction deletes records a flush
//!   is about to vouch for;
//! - `put` appends (no fsync); `flush` is `fdatasync` of the segments written since the last
//!   flush plus a directory `fsync` for new files;
//! - when the directory exceeds its budget, one process at a time (under `compact.lock`) copies
//!   the most recently used entries of the finished segments into new segments, down to half
//!   the budget, deleting each old segment once what it kept is synced; readers elsewhere keep
//!   their open descriptors and re-list the directory when they see files vanish;
//! - it touches only what it owns (`dir.rs`, `names.rs`): a directory of this user's that nobody
//!   else may write in, marked as a store, and in it only the names it generates, only this
//!   user's files, only files of its own format version;
//! - no put or lookup waits for work that grows with the store: rebuilding the index, planning
//!   and copying a compaction, writing a finished segment's index and starting writeback all
//!   run holding no lock a put or a lookup takes for longer than one entry (`view.rs`,
//!   `writer.rs`, `index.rs`).
//!
//! Files, each depending only on those above it (no file imports one below it):
//! - `error.rs`, `names.rs`, `format.rs`, `stale.rs`, `options.rs`, `clock.rs`, `listing.rs`:
//!   errors, file names, byte layouts, the hook naming stale entries, tuning, time, when to
//!   re-list the directory;
//! - `report.rs`: the durability report and its counters;
//! - `dir.rs`: the store directory, opened and checked (ownership, marker);
//! - `context.rs`: what all parts of one open store share (directory, options, clock, metrics,
//!   report);
//! - `segment.rs`: one segment file (create, open, scan, its index file);
//! - `entries.rs`: a segment's index entries kept in memory while it is written;
//! - `index.rs`: the in-memory index, sharded;
//! - `load.rs`: listing the directory, loading one segment, removing leftovers;
//! - `view.rs` (`View`): what this process knows (index, segments), refreshed and
//!   rebuilt;
//! - `writer.rs` (`Writer`): appends, rotation, flushes and pins;
//! - `compaction.rs` (`Compactor`): eviction and compaction;
//! - `store.rs` (`Store`): one process's open store, and its maintenance thread;
//! - `cache.rs` ([`DiskCache`]): the public handle, and what it does across `fork()`;
//! - `inspect.rs`: for tools, every entry with its metadata, a check of every entry, and
//!   removal of chosen entries through a compaction.

mod cache;
mod clock;
mod compaction;
mod context;
mod dir;
mod entries;
mod error;
mod format;
mod index;
mod inspect;
mod listing;
mod load;
mod names;
mod options;
mod report;
mod segment;
mod stale;
mod store;
#[cfg(test)]
mod test_hooks;
#[cfg(test)]
mod tests;
mod view;
mod writer;

pub use crate::config::user_cache_dir;
pub use cache::DiskCache;
pub use error::{DiskCacheError, Refusal};
/// The disk format version this build writes (FORMAT.md), for tools that report it.
pub use format::FORMAT_VERSION;
pub use inspect::{DiskEntry, RemovalReport, VerifyReport, MAX_ENTRY_HEAD};
pub use options::DiskCacheOptions;
pub use report::DurabilityReport;
pub use stale::{EntryHead, StaleEntries, StaleHook, DEFAULT_STALE_AFTER, MAX_STALE_HEAD};
