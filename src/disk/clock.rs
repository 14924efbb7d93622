//! Time: the wall clock in nanoseconds, and a process-wide clock of version stamps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Version stamps and access times: nanoseconds since the epoch, strictly increasing within
/// this process, and above every stamp it has seen on disk (so its puts win even if the wall
/// clock went backwards since those records were written).
#[derive(Default)]
pub struct Clock(AtomicU64);

impl Clock {
    /// The next stamp.
    pub fn tick(&self) -> u64 {
        let now = wall_clock_ns();
        let previous = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last.saturating_add(1)))
            })
            .unwrap_or(0);
        now.max(previous.saturating_add(1))
    }

    /// Keeps later ticks above `stamp` (the largest stamp of records indexed).
    pub fn observe(&self, stamp: u64) {
        self.0.fetch_max(stamp, Ordering::Relaxed);
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it); in tests, less what the
/// calling thread turned its clock back by.
pub fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
        .saturating_sub(set_back_ns())
}

#[cfg(test)]
fn set_back_ns() -> u64 {
    super::test_hooks::clock_set_back_ns()
}

#[cfg(not(test))]
const fn set_back_ns() -> u64 {
    0
}
