//! When a miss must list the directory again: the rule for trusting a directory's mtime.

use std::time::{Duration, Instant};

/// What the last directory listing saw, so that a miss lists the directory again only when it
/// may have missed something.
///
/// A directory's mtime moves whenever a name is added or removed, but only to the file system's
/// current timestamp, which is coarse: a 4 ms tick on ext2 (and on ext4 before Linux 6.13),
/// whole seconds on some. A segment renamed in just after a listing, within the same tick,
/// leaves the mtime as the listing saw it; trusting that mtime would hide the segment until
/// something else changes the directory. So, as git does with "racily clean" files, an mtime is
/// trusted only if it was already older than a generous bound on that granularity when the
/// listing began; until a listing is, misses list again (at most once a millisecond). And no
/// listing is trusted for longer than a second, for file systems whose timestamps or attribute
/// caches lag (NFS) and for clocks that jump.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    /// The directory's mtime (ns since the epoch), read just before listing it.
    mtime: i128,
    /// `mtime` was old enough that any later change must move it.
    settled: bool,
    /// When the listing began.
    at: Instant,
}

/// How far a directory's sub-second mtime may trail the change that set it: Linux file systems
/// stamp with a clock that ticks at least every 10 ms (HZ=100), exFAT keeps 10 ms.
const FINE_MTIME_SLACK_NS: i128 = 100_000_000;
/// The same for mtimes in whole seconds (the file system may keep only those; FAT keeps 2 s).
const WHOLE_SECOND_MTIME_SLACK_NS: i128 = 2_000_000_000;
/// A listing not yet trusted is repeated at most this often.
const UNSETTLED_RELIST: Duration = Duration::from_millis(1);
/// No listing is trusted for longer than this.
const RELIST_PERIOD: Duration = Duration::from_secs(1);

impl Listing {
    /// A listing that began at wall-clock time `began_ns` (ns since the epoch) and monotonic
    /// time `at`, right after the directory's mtime was read as `mtime`.
    pub fn began(mtime: i128, began_ns: u64, at: Instant) -> Self {
        let slack = if mtime % 1_000_000_000 == 0 {
            WHOLE_SECOND_MTIME_SLACK_NS
        } else {
            FINE_MTIME_SLACK_NS
        };
        Self {
            mtime,
            settled: mtime + slack <= i128::from(began_ns),
            at,
        }
    }

    /// Whether a miss at `now` that reads the directory's mtime as `mtime` must list it again.
    pub fn stale(&self, mtime: i128, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.at);
        mtime != self.mtime || age >= RELIST_PERIOD || (!self.settled && age >= UNSETTLED_RELIST)
    }
}
