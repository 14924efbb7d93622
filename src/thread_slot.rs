//! A small per-thread index: each of the first [`SLOTS`] threads alive at once owns one index
//! alone until it exits. Metrics use it to give each thread a counter stripe of its own, and the
//! memory tier to give each reader an announcement slot of its own: both then write only cache
//! lines no other thread writes. Threads beyond that (or in thread teardown) get `None` and take
//! a shared, slower path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many threads can own an index at once.
pub(crate) const SLOTS: usize = 63;

static OWNED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// One more than the highest index ever claimed: scans need look no further.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

struct Claim(Option<usize>);

impl Claim {
    fn take() -> Self {
        let free = OWNED.iter().position(|owned| {
            owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(index) = free {
            // SeqCst: the memory tier's writers read this in the same total order as a
            // reader's announcement (see memory::read_mostly).
            HIGH_WATER.fetch_max(index + 1, Ordering::SeqCst);
        }
        Self(free)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            OWNED[index].store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static CLAIM: Claim = Claim::take();
}

/// This thread's own index, if it has one.
#[inline]
pub(crate) fn current() -> Option<usize> {
    CLAIM.try_with(|claim| claim.0).ok().flatten()
}

/// Every index a thread owns now is below this.
#[inline]
pub(crate) fn high_water() -> usize {
    HIGH_WATER.load(Ordering::SeqCst)
}
