//! Stale entries first: the hook through which a layer above tells compaction which entries
//! belong to an identity not seen for a while (a driver updated away), to evict before any
//! other when compaction must evict.
//!
//! Why a hook over entry heads, and not labels the disk tier reads itself: which identity an
//! entry belongs to is written inside its value (a Vulkan envelope, a label record), and its key
//! is a hash that cannot be traced back to an identity. The disk tier keeps its values opaque
//! (it knows no format above its own), so it hands the first bytes of each candidate to the
//! [`StaleEntries`] a layer above gave it (`crate::vulkan::StaleIdentities` reads labels and
//! envelopes) and gets back a set of keys. Only a compaction that must evict asks, so a store
//! under its budget never reads a head for it; and nothing else about LRU changes: among stale
//! entries, and among the others, the least recently used still go first.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::fingerprint::PipelineFingerprint;

/// Default of [`DiskCacheOptions::stale_after`](super::DiskCacheOptions::stale_after): 30 days,
/// long enough for a game not played for a few weeks, short enough that the blobs of a driver
/// updated away stop crowding out the current one's.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30 * 86_400);

/// Most first bytes of a value a compaction reads for [`StaleEntries`]: a bound on what one
/// candidate costs to classify, above a label record (866 bytes at most) and a Vulkan
/// envelope's header (128).
pub const MAX_STALE_HEAD: usize = 4096;

/// Tells a compaction which entries are stale (see the module documentation).
pub trait StaleEntries: Send + Sync {
    /// How many first bytes of each value [`Self::stale_keys`] needs; the disk tier reads at
    /// most [`MAX_STALE_HEAD`]. A value this long or shorter is read
    /// whole, and then verified against its hash.
    fn head_len(&self) -> usize;

    /// Among `heads` (each entry's key, last use and first [`Self::head_len`] bytes of its
    /// value; entries whose record cannot be read are left out), the keys of entries to evict
    /// before any other: those of an identity not seen for `stale_after` before `now_ns` (ns
    /// since the epoch). The bytes are untrusted: anything not understood must be left out,
    /// never made stale.
    fn stale_keys(
        &self,
        heads: &[EntryHead],
        now_ns: u64,
        stale_after: Duration,
    ) -> HashSet<PipelineFingerprint>;
}

/// What [`StaleEntries::stale_keys`] is told of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryHead {
    /// The key.
    pub key: PipelineFingerprint,
    /// Its last use known to the compacting process (ns since the epoch): a use says its
    /// identity was seen.
    pub last_used_ns: u64,
    /// The first bytes of its value.
    pub head: Vec<u8>,
}

/// A [`StaleEntries`] in [`DiskCacheOptions`](super::DiskCacheOptions): options stay comparable,
/// two hooks being equal when they are the same object.
#[derive(Clone)]
pub struct StaleHook(pub Arc<dyn StaleEntries>);

impl PartialEq for StaleHook {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StaleHook {}

impl fmt::Debug for StaleHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaleHook")
    }
}
