//! The primitives under the lock-free paths (`thread_slot`, `memory::read_mostly`, `metrics`):
//! std's and parking_lot's in every build, loom's models under `--cfg loom`, so the loom tests
//! (`scripts/test.sh`, "loom models") check the real code, not a copy of its algorithm.
//!
//! Only the names differ between the two builds; without loom every item here is the std or
//! parking_lot item itself or a one-field wrapper whose methods inline away.

#[cfg(not(loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    thread::yield_now,
    thread_local,
};

#[cfg(loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    thread::yield_now,
    thread_local,
};

#[cfg(not(loom))]
pub(crate) use parking_lot::{RwLock, RwLockWriteGuard};

/// The two fences of a Dekker pattern whose one side runs far more often than the other (the
/// layer's registry: a lookup on every pipeline creation, a write per device created or
/// destroyed). Where the kernel has a barrier on every running thread of the process (Linux
/// `membarrier`, private expedited), the frequent side's fence is only a compiler fence and
/// the rare side pays that barrier instead (what folly's asymmetric barriers and liburcu's
/// membarrier flavour do): measured on these VMs, 7-9 ns saved per lookup, 12-17 µs added per
/// write. Without it, and under loom and Miri, both are `SeqCst` fences.
///
/// Why it is sound: the barrier puts, in every thread of the process running at that moment,
/// a point where its memory accesses are in program order (a thread not running passes one at
/// its context switch). If a reader's point comes before its announcement, the writer's flag,
/// stored before the barrier, is visible to the reader's later flag load; if it comes after the
/// announcement, the announcement is visible to the writer's scan after the barrier. Either way
/// one side sees the other, as with two `SeqCst` fences.
pub(crate) mod asymmetric {
    #[cfg(not(any(loom, miri)))]
    use std::sync::atomic::{compiler_fence, AtomicU8};

    use super::{fence, Ordering};

    #[cfg(not(any(loom, miri)))]
    const UNDECIDED: u8 = 0;
    #[cfg(not(any(loom, miri)))]
    const SYMMETRIC: u8 = 1;
    #[cfg(not(any(loom, miri)))]
    const ASYMMETRIC: u8 = 2;

    /// Which fences this process uses: decided once (first use) and then fixed, so every
    /// reader and writer pair agrees.
    #[cfg(not(any(loom, miri)))]
    static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);

    #[cfg(not(any(loom, miri)))]
    #[cold]
    fn decide() -> u8 {
        let found = if crate::platform::register_process_barrier() {
            ASYMMETRIC
        } else {
            SYMMETRIC
        };
        match MODE.compare_exchange(UNDECIDED, found, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => found,
            Err(decided) => decided,
        }
    }

    #[cfg(not(any(loom, miri)))]
    #[inline]
    fn mode() -> u8 {
        match MODE.load(Ordering::Relaxed) {
            UNDECIDED => decide(),
            decided => decided,
        }
    }

    /// Decides the mode now (registering with the kernel takes a moment): call it where a
    /// lock that uses these fences is made, not on the first lookup.
    pub(crate) fn prepare() {
        #[cfg(not(any(loom, miri)))]
        mode();
    }

    /// The frequent side's fence.
    #[inline]
    pub(crate) fn light() {
        #[cfg(not(any(loom, miri)))]
        if mode() == ASYMMETRIC {
            compiler_fence(Ordering::SeqCst);
            return;
        }
        fence(Ordering::SeqCst);
    }

    /// The rare side's fence.
    pub(crate) fn heavy() {
        #[cfg(not(any(loom, miri)))]
        if mode() == ASYMMETRIC {
            if crate::platform::process_barrier() {
                return;
            }
            // The kernel refuses a barrier it registered this process for (its contract rules
            // that out: registration survives fork and is reset with everything else at
            // exec). Readers from now on fence themselves; those already past their compiler
            // fence had their announcement in a store buffer, which drains in nanoseconds.
            MODE.store(SYMMETRIC, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        fence(Ordering::SeqCst);
    }
}

/// Whether a loom model has failed and is unwinding: loom's state is gone then, so a `Drop`
/// that stores to an atomic must skip it (the model reports the first failure, not an abort).
/// Always false without loom.
#[inline(always)]
pub(crate) fn model_failed() -> bool {
    cfg!(loom) && std::thread::panicking()
}

/// loom's `RwLock` with parking_lot's signatures (no poisoning: a panic under the lock aborts
/// the model anyway).
#[cfg(loom)]
#[derive(Default)]
pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

#[cfg(loom)]
pub(crate) type RwLockWriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

#[cfg(loom)]
impl<T> RwLock<T> {
    pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.0.read().expect("loom RwLock poisoned")
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().expect("loom RwLock poisoned")
    }
}

/// Data shared across threads without a lock word, whose every access loom checks for races.
///
/// loom's `UnsafeCell` API (`get`/`get_mut` return pointers whose life is the access) over
/// std's `UnsafeCell`.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use loom::cell::{MutPtr, UnsafeCell};

    /// See the module.
    #[cfg(not(loom))]
    #[derive(Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        /// Starts a shared access, which lasts as long as the returned pointer.
        #[inline]
        pub(crate) fn get(&self) -> ConstPtr<T> {
            ConstPtr(self.0.get())
        }

        /// Starts an exclusive access, which lasts as long as the returned pointer.
        #[inline]
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    /// A shared access to an [`UnsafeCell`]'s value.
    #[cfg(not(loom))]
    pub(crate) struct ConstPtr<T>(*const T);

    #[cfg(not(loom))]
    impl<T> ConstPtr<T> {
        /// The value.
        ///
        /// # Safety
        /// The cell outlives this pointer, and no exclusive access to it overlaps this one.
        #[inline]
        pub(crate) unsafe fn deref(&self) -> &T {
            // SAFETY: the pointer comes from the cell, which the caller keeps alive and keeps
            // from concurrent exclusive access.
            unsafe { &*self.0 }
        }
    }

    /// An exclusive access to an [`UnsafeCell`]'s value.
    #[cfg(not(loom))]
    pub(crate) struct MutPtr<T>(*mut T);

    #[cfg(not(loom))]
    impl<T> MutPtr<T> {
        /// Runs `f` with the raw pointer. References made from it must not outlive this
        /// `MutPtr` (the access).
        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0)
        }
    }
}

/// Runs a loom model: every interleaving of its threads with up to `preemption_bound`
/// preemptions (`LOOM_MAX_PREEMPTIONS` overrides it), chosen per model so that it takes
/// seconds. Prints how many executions it explored.
#[cfg(all(test, loom))]
pub(crate) fn model(preemption_bound: usize, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(preemption_bound);
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&executions);
    builder.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    println!("loom: {} executions", executions.load(Relaxed));
}
