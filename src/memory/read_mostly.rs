//! A lock whose readers write nothing shared.
//!
//! A plain read-write lock costs every reader two atomic read-modify-writes on the lock's own
//! cache line, and with two threads reading random shards that line is usually in the other
//! core's cache: the lock, not the lookup, dominates a memory hit. Here a reader announces
//! itself in a slot only its own thread writes (see [`crate::thread_slot`]), checks that no
//! writer is active, reads, and clears its slot. A writer takes the inner lock, raises its flag,
//! and waits until no slot announces a reader of this lock before it mutates.
//!
//! Why it is sound (Dekker's pattern on sequentially consistent operations): the reader does
//! `slot := me; if writer { fall back }`, the writer does `writer := true; wait while any
//! slot == me`. All four operations are `SeqCst`, so in their single total order either the
//! writer's flag store precedes the reader's flag load (the reader falls back to the inner lock,
//! which the writer holds) or the reader's slot store precedes the writer's slot scan (the
//! writer waits for the reader to finish). A thread that claims a new slot index raises the
//! scan's high-water mark with a `SeqCst` operation before it first announces, so a scan that
//! stops below it is ordered before that reader's flag load and the reader falls back.
//!
//! Writes are rarer and dearer: a writer reads one cache line per thread slot ever claimed.
//! Puts follow pipeline compilations that take milliseconds, so that is the right trade.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::{RwLock, RwLockWriteGuard};

use crate::thread_slot;

/// Which lock each thread slot is reading now (its address), 0 for none.
static READING: [PaddedSlot; thread_slot::SLOTS] =
    [const { PaddedSlot(AtomicUsize::new(0)) }; thread_slot::SLOTS];

#[repr(align(128))]
struct PaddedSlot(AtomicUsize);

/// A read-write lock with announcement-slot readers.
#[derive(Default)]
pub(crate) struct ReadMostlyLock<T> {
    inner: RwLock<T>,
    writer_active: AtomicBool,
}

impl<T> ReadMostlyLock<T> {
    fn address(&self) -> usize {
        std::ptr::from_ref::<Self>(self) as usize
    }

    /// Runs `read` with shared access. `thread_slot` is this thread's own slot
    /// ([`crate::thread_slot::current`], passed in because callers already have it); `read`
    /// must not touch another `ReadMostlyLock`.
    #[inline]
    pub(crate) fn read<R>(&self, thread_slot: Option<usize>, read: impl FnOnce(&T) -> R) -> R {
        if let Some(index) = thread_slot {
            let slot = &READING[index].0;
            slot.store(self.address(), Ordering::SeqCst);
            let announced = ClearOnDrop(slot);
            if !self.writer_active.load(Ordering::SeqCst) {
                // SAFETY: no writer mutates `inner`'s data while our slot names this lock:
                // a writer sets `writer_active` and then waits for every slot naming this lock
                // to clear before it touches the data, and we saw the flag clear after
                // announcing (module comment). `announced` clears the slot only after `read`
                // returns, so the shared borrow ends before any writer proceeds.
                let data = unsafe { &*self.inner.data_ptr() };
                return read(data);
            }
            drop(announced);
        }
        read(&self.inner.read())
    }

    /// Exclusive access; waits for readers of this lock to leave.
    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        let guard = self.inner.write();
        self.writer_active.store(true, Ordering::SeqCst);
        let me = self.address();
        for slot in &READING[..thread_slot::high_water()] {
            let mut spins = 0u32;
            while slot.0.load(Ordering::SeqCst) == me {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    // The reader was descheduled mid-lookup; let it run.
                    std::thread::yield_now();
                }
            }
        }
        WriteGuard {
            guard,
            writer_active: &self.writer_active,
        }
    }
}

struct ClearOnDrop<'a>(&'a AtomicUsize);

impl Drop for ClearOnDrop<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// Exclusive access to a [`ReadMostlyLock`]'s data; readers fall back to waiting until dropped.
pub(crate) struct WriteGuard<'a, T> {
    guard: RwLockWriteGuard<'a, T>,
    writer_active: &'a AtomicBool,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // Release: a fast reader that sees the flag clear also sees every write made here.
        // The inner lock is released right after, when `guard` drops.
        self.writer_active.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer fills an array with one round number at a time; a reader seeing two numbers
    /// saw a write in progress. (With the writer's wait removed this fails within milliseconds.)
    #[test]
    fn readers_never_see_a_write_in_progress() {
        let lock = ReadMostlyLock::<Vec<u64>>::default();
        *lock.write() = vec![0; 512];
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut reads = 0u64;
                    while !done.load(Ordering::Relaxed) || reads < 1000 {
                        lock.read(thread_slot::current(), |values| {
                            let first = values[0];
                            assert!(values.iter().all(|v| *v == first), "torn read");
                        });
                        reads += 1;
                    }
                });
            }
            for round in 1..=20_000u64 {
                let mut values = lock.write();
                for value in values.iter_mut() {
                    *value = round;
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        assert!(lock.read(thread_slot::current(), |values| values
            .iter()
            .all(|v| *v == 20_000)));
    }
}
