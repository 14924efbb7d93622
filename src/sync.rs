//! The primitives under the lock-free paths (`thread_slot`, `memory::read_mostly`, `metrics`):
//! std's and parking_lot's in every build, loom's models under `--cfg loom`, so the loom tests
//! (`scripts/test.sh`, "loom models") check the real code, not a copy of its algorithm.
//!
//! Only the names differ between the two builds; without loom every item here is the std or
//! parking_lot item itself or a one-field wrapper whose methods inline away.

/// Only the layer's last-device entry (`layer::last_entry`) holds a pointer.
#[cfg(all(not(loom), feature = "layer"))]
pub(crate) use std::sync::atomic::AtomicPtr;
#[cfg(not(loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    thread::yield_now,
    thread_local,
};

/// Only the layer's last-device entry (`layer::last_entry`) holds a pointer.
#[cfg(all(loom, feature = "layer"))]
pub(crate) use loom::sync::atomic::AtomicPtr;
#[cfg(loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    thread::yield_now,
    thread_local,
};

#[cfg(not(loom))]
pub(crate) use parking_lot::{RwLock, RwLockWriteGuard};

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
