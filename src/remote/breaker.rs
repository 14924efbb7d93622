//! The circuit breaker that keeps a dead or overloaded server from costing the game time.
//!
//! One failure that says "the server is not answering" (connection error, timeout, 5xx) opens
//! the breaker: no request is made for a cooldown. Then exactly one caller is let through as a
//! probe; if it succeeds the breaker closes, if it fails the cooldown doubles, up to a cap.
//! A single failure is enough because each one may have cost the caller a whole timeout.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What a request told us about the server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// The server answered (any status that is not a 5xx, or a well-formed body).
    Answered,
    /// The server did not answer usefully: connection error, timeout, 5xx.
    Failed,
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
}

impl CircuitBreaker {
    pub(crate) fn new(initial_cooldown: Duration, max_cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed),
            initial_cooldown,
            max_cooldown: max_cooldown.max(initial_cooldown),
        }
    }

    /// Whether a request may be made now. A caller that gets `true` must call [`Self::record`].
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.state.lock();
        match *state {
            State::Closed => true,
            State::Open { until, cooldown } if Instant::now() >= until => {
                *state = State::Probing { cooldown };
                true
            }
            State::Open { .. } | State::Probing { .. } => false,
        }
    }

    /// Reports the outcome of an allowed request. Returns `true` if this opened the breaker
    /// (from closed, or again after a failed probe).
    pub(crate) fn record(&self, health: Health) -> bool {
        let mut state = self.state.lock();
        match (health, &*state) {
            (Health::Answered, _) => {
                *state = State::Closed;
                false
            }
            (Health::Failed, State::Closed) => {
                *state = State::Open {
                    until: Instant::now() + self.initial_cooldown,
                    cooldown: self.initial_cooldown,
                };
                true
            }
            (Health::Failed, State::Probing { cooldown }) => {
                let cooldown = cooldown.saturating_mul(2).min(self.max_cooldown);
                *state = State::Open {
                    until: Instant::now() + cooldown,
                    cooldown,
                };
                true
            }
            // A request allowed before the breaker opened failed too: already open, keep it.
            (Health::Failed, State::Open { .. }) => false,
        }
    }

    /// Whether requests are being held back now.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.state.lock(), State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_probes_once_and_backs_off() {
        let breaker = CircuitBreaker::new(Duration::from_millis(30), Duration::from_millis(100));
        assert!(breaker.allow());
        assert!(!breaker.record(Health::Answered));
        assert!(breaker.allow());
        assert!(breaker.record(Health::Failed));
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "open: no request during the cooldown");

        std::thread::sleep(Duration::from_millis(40));
        assert!(
            breaker.allow(),
            "the first caller after the cooldown probes"
        );
        assert!(!breaker.allow(), "only one probe at a time");
        assert!(breaker.record(Health::Failed), "a failed probe reopens");

        // The cooldown doubled to 60 ms: still closed to requests at 40 ms.
        std::thread::sleep(Duration::from_millis(40));
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.allow());
        assert!(!breaker.record(Health::Answered), "a good probe closes");
        assert!(!breaker.is_open());
        assert!(breaker.allow());
    }

    #[test]
    fn cooldown_is_capped() {
        let breaker = CircuitBreaker::new(Duration::from_millis(10), Duration::from_millis(15));
        assert!(breaker.allow());
        breaker.record(Health::Failed);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            assert!(breaker.allow(), "cooldown stays at the 15 ms cap");
            breaker.record(Health::Failed);
        }
    }
}
