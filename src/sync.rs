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
/// one side sees the other, as with two `SeqCst` fences (and a reader that used a real fence is
/// covered all the more).
///
/// Registering with the kernel takes ~8 ms in a process with several threads (a game's, at its
/// first `vkCreateInstance`), so it runs on a thread of its own; until it is done everyone uses
/// `SeqCst` fences. The switch is made inside the writers' section ([`Writing`]), which each
/// writer holds from its flag's store to the end of its scan: a writer that saw the old mode
/// finishes before any reader can see the new one, and a reader that sees the new mode
/// (Acquire) sees the flag of every writer that finished before it.
pub(crate) mod asymmetric {
    #[cfg(not(any(loom, miri)))]
    use std::sync::atomic::{compiler_fence, AtomicU8};
    #[cfg(not(any(loom, miri)))]
    use std::sync::{Mutex, MutexGuard, Once};

    use super::{fence, Ordering};

    #[cfg(not(any(loom, miri)))]
    const FENCES: u8 = 0;
    #[cfg(not(any(loom, miri)))]
    const ASYMMETRIC: u8 = 1;

    /// `ASYMMETRIC` once registered; changed only inside [`WRITERS`].
    #[cfg(not(any(loom, miri)))]
    static MODE: AtomicU8 = AtomicU8::new(FENCES);

    /// The writers' section (see the module).
    #[cfg(not(any(loom, miri)))]
    static WRITERS: Mutex<()> = Mutex::new(());

    /// Starts the registration (once per process) on a thread of its own: call it where a lock
    /// that uses these fences is made.
    pub(crate) fn prepare() {
        #[cfg(not(any(loom, miri)))]
        {
            static STARTED: Once = Once::new();
            STARTED.call_once(|| {
                // No thread, no registration: the fences stay.
                let _ = std::thread::Builder::new()
                    .name("pcstore-membarrier".into())
                    .spawn(|| {
                        if crate::platform::register_process_barrier() {
                            let _writers = writers();
                            MODE.store(ASYMMETRIC, Ordering::Release);
                        }
                    });
            });
        }
    }

    #[cfg(not(any(loom, miri)))]
    fn writers() -> MutexGuard<'static, ()> {
        // Nothing panics while holding it; a poisoned lock guards `()` all the same.
        WRITERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the fences are asymmetric now (registered, and never refused since).
    #[cfg(test)]
    pub(crate) fn active() -> bool {
        #[cfg(not(any(loom, miri)))]
        return MODE.load(Ordering::Acquire) == ASYMMETRIC;
        #[cfg(any(loom, miri))]
        false
    }

    /// The frequent side's fence.
    #[inline]
    pub(crate) fn light() {
        #[cfg(not(any(loom, miri)))]
        if MODE.load(Ordering::Acquire) == ASYMMETRIC {
            compiler_fence(Ordering::SeqCst);
            return;
        }
        fence(Ordering::SeqCst);
    }

    /// A writer's section: taken before its flag is stored, held until its scan of the readers
    /// ends.
    pub(crate) struct Writing {
        #[cfg(not(any(loom, miri)))]
        _writers: MutexGuard<'static, ()>,
    }

    impl Writing {
        pub(crate) fn enter() -> Self {
            Self {
                #[cfg(not(any(loom, miri)))]
                _writers: writers(),
            }
        }

        /// The rare side's fence, after the flag's store.
        pub(crate) fn heavy(&self) {
            #[cfg(not(any(loom, miri)))]
            if MODE.load(Ordering::Relaxed) == ASYMMETRIC {
                if crate::platform::process_barrier() {
                    return;
                }
                // The kernel refuses a barrier it registered this process for (its contract
                // rules that out: registration survives fork and is reset with everything else
                // at exec). Readers from now on fence themselves; those already past their
                // compiler fence had their announcement in a store buffer, which drains in
                // nanoseconds.
                MODE.store(FENCES, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            fence(Ordering::SeqCst);
        }
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
