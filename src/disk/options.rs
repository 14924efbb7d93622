//! How a store is tuned ([`DiskCacheOptions`]) and the sizes derived from that ([`Limits`]).

use std::time::Duration;

use super::stale::{StaleHook, DEFAULT_STALE_AFTER};

/// Tuning of a [`DiskCache`](super::DiskCache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCacheOptions {
    /// Budget of on-disk bytes (segments and their indexes). Default 1 GiB.
    ///
    /// Exceeding it starts a compaction (on a background thread) that evicts least recently
    /// used entries down to half of it. The directory may exceed it by a small slack: an eighth
    /// of it (beyond that, puts are refused with [`crate::PutError::Dropped`] until compaction
    /// catches up), plus per writing process its current segment (`max_bytes / 16`, between
    /// 64 KiB and 64 MiB), what it appends before re-checking the total (`max_bytes / 64`,
    /// between 16 KiB and 16 MiB) and one entry, plus, while a compaction runs, the copies it
    /// made of one segment it has not deleted yet (at most `max_bytes / 16` but at least
    /// 64 KiB, one entry, and the index of those copies).
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
    /// How long an identity may go unseen and unused before its entries are stale (default 30
    /// days; `PCSTORE_STALE_AFTER` for the default store); `None`: nothing is ever stale. Only
    /// matters with [`Self::stale_entries`].
    pub stale_after: Option<Duration>,
    /// What tells stale entries (see [`super::StaleEntries`]): when a compaction must evict,
    /// the entries it names go before any other, least recently used first among them, then
    /// the others by LRU as without it. `None` (the default): LRU alone. The disk tier cannot
    /// tell identities apart itself (its values are opaque to it); the Vulkan adapter's
    /// `StaleIdentities` can.
    pub stale_entries: Option<StaleHook>,
}

impl Default for DiskCacheOptions {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_entry_bytes: 64 << 20,
            read_only: false,
            stale_after: Some(DEFAULT_STALE_AFTER),
            stale_entries: None,
        }
    }
}

/// Sizes derived from the options.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_entry_bytes: u64,
    /// Compaction evicts down to this.
    pub low_water: u64,
    /// Puts are refused while this process sees the directory above this (compaction behind).
    pub hard_limit: u64,
    /// A writer starts a new segment past this size.
    pub segment_target: u64,
    /// A compaction starts a new output segment past this size. Not capped at 64 MiB like a
    /// writer's segment: a compaction of a full store of any budget then writes at most 19
    /// segments (fewer than [`MAX_FINISHED_SEGMENTS`], which would start another one), and the
    /// copies of one victim it holds before deleting that victim stay within `max_bytes / 16`.
    pub output_target: u64,
    /// A writer re-checks the directory's total after appending this much.
    pub check_interval: u64,
}

/// Finished segments tolerated before a compaction merges them even under budget (each costs a
/// file read at open).
pub const MAX_FINISHED_SEGMENTS: usize = 32;

impl Limits {
    pub fn new(options: &DiskCacheOptions) -> Self {
        let max_bytes = options.max_bytes.max(1);
        Self {
            max_bytes,
            max_entry_bytes: options.max_entry_bytes.min(max_bytes / 4),
            low_water: max_bytes / 2,
            hard_limit: max_bytes.saturating_add(max_bytes / 8),
            segment_target: (max_bytes / 16).clamp(64 << 10, 64 << 20),
            output_target: (max_bytes / 16).max(64 << 10),
            check_interval: (max_bytes / 64).clamp(16 << 10, 16 << 20),
        }
    }
}
