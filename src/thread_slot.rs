//! A small per-thread index: each of the first [`SLOTS`] threads alive at once owns one index
//! alone until it exits. Metrics use it to give each thread a counter stripe of its own, and the
//! memory tier to give each reader an announcement slot of its own: both then write only cache
//! lines no other thread writes. Threads beyond that (or in thread teardown) get `None` and take
//! a shared, slower path.

use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// How many threads can own an index at once. Under loom, few enough that a model's threads
/// run out and take the shared path too.
pub(crate) const SLOTS: usize = if cfg!(loom) { 2 } else { 63 };

#[cfg(not(loom))]
static OWNED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// One more than the highest index ever claimed: scans need look no further.
#[cfg(not(loom))]
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

// loom's atomics have no `const fn new`, and each execution a model explores needs fresh ones:
// loom's `lazy_static` gives both. The flags are leaked, not owned by the static, because loom
// may run a thread's local destructors (a `Claim`'s) after it has dropped the statics.
#[cfg(loom)]
loom::lazy_static! {
    static ref OWNED: &'static [AtomicBool; SLOTS] =
        Box::leak(Box::new(std::array::from_fn(|_| AtomicBool::new(false))));
    static ref HIGH_WATER: AtomicUsize = AtomicUsize::new(0);
}

/// A thread's index and its flag in `OWNED`, cleared when the thread exits.
struct Claim(Option<(usize, &'static AtomicBool)>);

impl Claim {
    fn take() -> Self {
        let free = OWNED.iter().enumerate().find(|(_, owned)| {
            owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if let Some((index, _)) = free {
            // Relaxed: the memory tier orders this before a reader's announcement, and a
            // writer's load after its flag, with `SeqCst` fences (see memory::read_mostly).
            HIGH_WATER.fetch_max(index + 1, Ordering::Relaxed);
        }
        Self(free)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some((_, owned)) = self.0.filter(|_| !crate::sync::model_failed()) {
            // Release: the next owner of this index sees what this thread wrote to the data
            // it indexes (its metrics stripe), as it claims with Acquire.
            owned.store(false, Ordering::Release);
        }
    }
}

crate::sync::thread_local! {
    static CLAIM: Claim = Claim::take();
}

/// This thread's own index, if it has one.
#[inline]
pub(crate) fn current() -> Option<usize> {
    CLAIM
        .try_with(|claim| claim.0.map(|(index, _)| index))
        .ok()
        .flatten()
}

/// Every index a thread owns now is below this.
#[inline]
pub(crate) fn high_water() -> usize {
    HIGH_WATER.load(Ordering::Relaxed)
}
