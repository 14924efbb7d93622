//! The circuit breaker that keeps a dead or overloaded server from costing the game time.
//!
//! One failure that says "the server is not answering" (connection error, timeout, 5xx) opens
//! the breaker: no request is made for a cooldown. Then exactly one caller is let through as a
//! probe; if it succeeds the breaker closes, if it fails the cooldown doubles, up to a cap.
//! A single failure is enough because each one may have cost the caller a whole timeout.
//!
//! With a [`BreakerFile`] the state outlives the process: an opening is written there and a
//! new process starts with the breaker open for what is left of the cooldown, so a dead server
//! costs one process a timeout rather than every process that starts after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::breaker_file::BreakerFile;
use super::clock::Clock;

/// What a request told us about the server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// The server answered (any status that is not a 5xx, or a well-formed body).
    Answered,
    /// The server did not answer usefully: connection error, timeout, 5xx.
    Failed,
}

/// A change of the breaker's state, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerChange {
    /// Requests stop for `cooldown` (from closed, or again after a failed probe).
    Opened {
        /// How long no request is made.
        cooldown: Duration,
    },
    /// The server answered: requests resume.
    Closed,
}

#[derive(Debug)]
enum State {
    Closed,
    Open {
        until: Instant,
        cooldown: Duration,
    },
    /// One probe is in flight; everyone else still waits.
    Probing {
        cooldown: Duration,
    },
}

/// A thread-safe circuit breaker with exponential cooldown.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    state: Mutex<State>,
    initial_cooldown: Duration,
    max_cooldown: Duration,
    clock: Arc<dyn Clock>,
    shared: Option<BreakerFile>,
}

impl CircuitBreaker {
    /// A breaker that starts closed, or open if `shared` remembers a recent failure.
    pub(crate) fn new(
        initial_cooldown: Duration,
        max_cooldown: Duration,
        clock: Arc<dyn Clock>,
        shared: Option<BreakerFile>,
    ) -> Self {
        let max_cooldown = max_cooldown.max(initial_cooldown);
        let state = match shared
            .as_ref()
            .and_then(|file| file.read(clock.wall(), max_cooldown))
        {
            Some(remembered) => State::Open {
                until: clock.now() + remembered.open_for,
                cooldown: remembered.cooldown.max(initial_cooldown),
            },
            None => State::Closed,
        };
        Self {
            state: Mutex::new(state),
            initial_cooldown,
            max_cooldown,
            clock,
            shared,
        }
    }

    /// Whether a request may be made now. A caller that gets `true` must call [`Self::record`].
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.state.lock();
        match *state {
            State::Closed => true,
            State::Open { until, cooldown } if self.clock.now() >= until => {
                *state = State::Probing { cooldown };
                true
            }
            State::Open { .. } | State::Probing { .. } => false,
        }
    }

    /// Reports the outcome of an allowed request. Returns the change it caused, if any: opened
    /// (from closed, or again after a failed probe) or closed.
    pub(crate) fn record(&self, health: Health) -> Option<BreakerChange> {
        let mut state = self.state.lock();
        let opened_for = match (health, &*state) {
            (Health::Answered, State::Closed) => return None,
            (Health::Answered, _) => {
                *state = State::Closed;
                drop(state);
                if let Some(file) = &self.shared {
                    file.clear();
                }
                return Some(BreakerChange::Closed);
            }
            (Health::Failed, State::Closed) => self.initial_cooldown,
            (Health::Failed, State::Probing { cooldown }) => {
                cooldown.saturating_mul(2).min(self.max_cooldown)
            }
            // A request allowed before the breaker opened failed too: already open, keep it.
            (Health::Failed, State::Open { .. }) => return None,
        };
        *state = State::Open {
            until: self.clock.now() + opened_for,
            cooldown: opened_for,
        };
        drop(state);
        if let Some(file) = &self.shared {
            file.record_open(self.clock.wall(), opened_for);
        }
        Some(BreakerChange::Opened {
            cooldown: opened_for,
        })
    }

    /// Whether requests are being held back now.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.state.lock(), State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;

    fn opened(ms: u64) -> Option<BreakerChange> {
        Some(BreakerChange::Opened {
            cooldown: Duration::from_millis(ms),
        })
    }

    fn breaker(initial_ms: u64, max_ms: u64) -> (CircuitBreaker, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let breaker = CircuitBreaker::new(
            Duration::from_millis(initial_ms),
            Duration::from_millis(max_ms),
            Arc::clone(&clock) as Arc<dyn Clock>,
            None,
        );
        (breaker, clock)
    }

    #[test]
    fn opens_on_failure_probes_once_and_backs_off() {
        let (breaker, clock) = breaker(30_000, 100_000);
        assert!(breaker.allow());
        assert_eq!(breaker.record(Health::Answered), None);
        assert!(breaker.allow());
        assert_eq!(breaker.record(Health::Failed), opened(30_000));
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "open: no request during the cooldown");
        clock.advance(Duration::from_millis(29_999));
        assert!(!breaker.allow(), "still cooling down 1 ms before the end");

        clock.advance(Duration::from_millis(1));
        assert!(
            breaker.allow(),
            "the first caller after the cooldown probes"
        );
        assert!(!breaker.allow(), "only one probe at a time");
        assert_eq!(
            breaker.record(Health::Failed),
            opened(60_000),
            "a failed probe reopens for twice as long"
        );

        // The cooldown doubled to 60 s.
        clock.advance(Duration::from_millis(59_999));
        assert!(!breaker.allow());
        clock.advance(Duration::from_millis(1));
        assert!(breaker.allow());
        assert_eq!(
            breaker.record(Health::Answered),
            Some(BreakerChange::Closed),
            "a good probe closes"
        );
        assert!(!breaker.is_open());
        assert!(breaker.allow());
        assert_eq!(
            breaker.record(Health::Failed),
            opened(30_000),
            "after closing, the next failure opens it again"
        );
        clock.advance(Duration::from_millis(29_999));
        assert!(!breaker.allow(), "and the cooldown started over at 30 s");
    }

    #[test]
    fn cooldown_is_capped() {
        let (breaker, clock) = breaker(10_000, 15_000);
        assert!(breaker.allow());
        breaker.record(Health::Failed);
        clock.advance(Duration::from_millis(10_000));
        for _ in 0..3 {
            assert!(breaker.allow());
            breaker.record(Health::Failed);
            clock.advance(Duration::from_millis(14_999));
            assert!(!breaker.allow(), "cooldown stays at the 15 s cap");
            clock.advance(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_failure_outlives_the_process_through_the_shared_file() {
        let dir = std::env::temp_dir().join(format!("pcstore-breaker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let clock = Arc::new(ManualClock::new());
        let open = |clock: &Arc<ManualClock>| {
            CircuitBreaker::new(
                Duration::from_secs(30),
                Duration::from_secs(600),
                Arc::clone(clock) as Arc<dyn Clock>,
                Some(BreakerFile::new(&dir, "http://dead")),
            )
        };
        let first = open(&clock);
        assert!(first.allow());
        assert_eq!(first.record(Health::Failed), opened(30_000));

        // A process started 10 s later holds requests back for the remaining 20 s.
        clock.advance(Duration::from_secs(10));
        let second = open(&clock);
        assert!(second.is_open());
        assert!(!second.allow());
        clock.advance(Duration::from_millis(19_999));
        assert!(!second.allow());
        clock.advance(Duration::from_millis(1));
        assert!(second.allow(), "then it probes");
        assert_eq!(
            second.record(Health::Failed),
            opened(60_000),
            "the probe failed: 60 s more"
        );

        clock.advance(Duration::from_secs(59));
        let third = open(&clock);
        assert!(!third.allow(), "the doubled cooldown is shared too");
        clock.advance(Duration::from_secs(1));
        assert!(third.allow());
        assert_eq!(
            third.record(Health::Answered),
            Some(BreakerChange::Closed),
            "the server is back"
        );
        assert!(!open(&clock).is_open(), "and later processes know it");

        // A wall clock set back an hour: the file is not believed (requests are tried).
        assert!(third.allow());
        assert_eq!(third.record(Health::Failed), opened(30_000));
        clock.skew_wall(-3_600_000);
        assert!(!open(&clock).is_open());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
