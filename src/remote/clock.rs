//! The time the breaker and the miss memory go by: the system's clocks, or a test's.
//!
//! Network deadlines always use real time (a socket does not wait on a test clock); cooldowns
//! and TTLs read a [`Clock`] so that tests step through them without sleeping.

use std::fmt;
use std::time::{Instant, SystemTime};

/// A source of time for the remote tier's cooldowns and TTLs.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time, for cooldowns and TTLs inside this process.
    fn now(&self) -> Instant;
    /// Wall-clock time, for the failure memory other processes read (monotonic instants mean
    /// nothing to another process). May jump backwards; readers handle that.
    fn wall(&self) -> SystemTime;
}

/// The system's clocks: [`Instant::now`] and [`SystemTime::now`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to, for unit tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct ManualClock {
    start: Instant,
    start_wall: SystemTime,
    elapsed: parking_lot::Mutex<std::time::Duration>,
    /// Added to the wall clock only: a clock set backwards or forwards by an administrator.
    wall_skew: parking_lot::Mutex<i128>,
}

#[cfg(test)]
impl ManualClock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            start_wall: SystemTime::now(),
            elapsed: parking_lot::Mutex::new(std::time::Duration::ZERO),
            wall_skew: parking_lot::Mutex::new(0),
        }
    }

    /// Moves both clocks forward.
    pub(crate) fn advance(&self, by: std::time::Duration) {
        *self.elapsed.lock() += by;
    }

    /// Sets the wall clock `by_ms` milliseconds off (negative: backwards).
    pub(crate) fn skew_wall(&self, by_ms: i128) {
        *self.wall_skew.lock() += by_ms;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock()
    }

    fn wall(&self) -> SystemTime {
        let base = self.start_wall + *self.elapsed.lock();
        let skew = *self.wall_skew.lock();
        let magnitude = std::time::Duration::from_millis(skew.unsigned_abs() as u64);
        if skew >= 0 {
            base + magnitude
        } else {
            base - magnitude
        }
    }
}
