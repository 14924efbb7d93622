//! A lock whose readers write nothing shared.
//!
//! A plain read-write lock costs every reader two atomic read-modify-writes on the lock's own
//! cache line, and with two threads reading random shards that line is usually in the other
//! core's cache: the lock, not the lookup, dominates a memory hit. Here a reader announces
//! itself in a slot only its own thread writes (see [`crate::thread_slot`]), checks that no
//! writer is active, reads, and clears its slot. A writer takes the inner lock, raises its flag,
//! and waits until no slot announces a reader of this lock before it mutates.
//!
//! Why it is sound (Dekker's pattern): the reader does `slot := me; fence; if writer { fall
//! back }`, the writer does `writer := true; fence; wait while any slot == me`, both fences
//! `SeqCst`. Such fences are totally ordered: if the writer's comes first, the reader's flag load
//! sees the flag and the reader falls back to the inner lock, which the writer holds; if the
//! reader's comes first, the writer's scan sees the announcement (or its clearing) and waits for
//! the reader to finish. A thread that claims a new slot index raises the scan's high-water mark
//! before its first announcement, and a writer reads the mark after its fence, so a scan that
//! stops below the index had the earlier fence and the reader falls back. Acquire/release pairs
//! carry the data itself: a writer that sees a slot cleared sees that reader's reads done, a
//! reader that sees the flag cleared sees the last writer's changes.
//!
//! The loom models at the end of this file check this argument (`scripts/test.sh`, "loom
//! models"). It is written with fences rather than `SeqCst` stores and loads, which C++20 makes
//! equally sound, because loom treats `SeqCst` accesses as acquire/release and so reports the
//! interleaving they forbid as a race, while it models `SeqCst` fences exactly. On x86-64 either
//! form costs the reader one locked instruction on a line its core owns (`xchg` on the slot, or
//! `lock or` on the stack).
//!
//! Writes are rarer and dearer: a writer reads one cache line per thread slot ever claimed.
//! Puts follow pipeline compilations that take milliseconds, so that is the right trade.

use std::ops::{Deref, DerefMut};

use crate::sync::cell::{MutPtr, UnsafeCell};
use crate::sync::{
    fence, model_failed, spin_loop, yield_now, AtomicBool, AtomicUsize, Ordering, RwLock,
    RwLockWriteGuard,
};
use crate::thread_slot;

/// Which lock each thread slot is reading now (its address), 0 for none.
#[cfg(not(loom))]
static READING: [PaddedSlot; thread_slot::SLOTS] =
    [const { PaddedSlot(AtomicUsize::new(0)) }; thread_slot::SLOTS];

// loom's atomics have no `const fn new`; its `lazy_static` also gives each explored execution
// fresh slots.
#[cfg(loom)]
loom::lazy_static! {
    static ref READING: [PaddedSlot; thread_slot::SLOTS] =
        std::array::from_fn(|_| PaddedSlot(AtomicUsize::new(0)));
}

#[repr(align(128))]
struct PaddedSlot(AtomicUsize);

/// A read-write lock with announcement-slot readers.
#[derive(Default)]
pub(crate) struct ReadMostlyLock<T> {
    /// Taken shared by readers that find a writer active, exclusive by writers.
    lock: RwLock<()>,
    data: UnsafeCell<T>,
    writer_active: AtomicBool,
    /// Set only by the loom model that shows the models can fail: `write` then skips its wait
    /// for readers.
    #[cfg(loom)]
    skips_reader_wait: bool,
}

// SAFETY: `data` is shared across threads as a `RwLock<T>`'s data is: readers get `&T` (so `T`
// must be `Sync`), a writer `&mut T` (so `T` must be `Send`), never at once (module comment).
unsafe impl<T: Send + Sync> Sync for ReadMostlyLock<T> {}

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
            slot.store(self.address(), Ordering::Relaxed);
            let announced = ClearOnDrop(slot);
            fence(Ordering::SeqCst);
            // Acquire: seeing the flag cleared by a writer's guard means seeing its writes.
            if !self.writer_active.load(Ordering::Acquire) {
                let data = self.data.get();
                // SAFETY: no writer mutates `data` while our slot names this lock: a writer
                // sets `writer_active` and then waits for every slot naming this lock to clear
                // before it touches the data, and we saw the flag clear after announcing
                // (module comment). `data`, declared after `announced`, is dropped before it:
                // the access ends before the slot clears.
                return read(unsafe { data.deref() });
            }
            drop(announced);
        }
        let _shared = self.lock.read();
        let data = self.data.get();
        // SAFETY: writers hold `lock` exclusively for as long as they access `data`.
        read(unsafe { data.deref() })
    }

    /// Exclusive access; waits for readers of this lock to leave.
    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        let exclusive = self.lock.write();
        self.writer_active.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let me = self.address();
        #[cfg(loom)]
        let scan_end = if self.skips_reader_wait {
            0
        } else {
            thread_slot::high_water()
        };
        #[cfg(not(loom))]
        let scan_end = thread_slot::high_water();
        for slot in &READING[..scan_end] {
            let mut spins = 0u32;
            // Acquire: seeing the slot cleared means the reader's reads are done.
            while slot.0.load(Ordering::Acquire) == me {
                spins += 1;
                if spins < 64 {
                    spin_loop();
                } else {
                    // The reader was descheduled mid-lookup; let it run.
                    yield_now();
                }
            }
        }
        WriteGuard {
            data: self.data.get_mut(),
            _active: WriterActive(&self.writer_active),
            _exclusive: exclusive,
        }
    }
}

struct ClearOnDrop<'a>(&'a AtomicUsize);

impl Drop for ClearOnDrop<'_> {
    #[inline]
    fn drop(&mut self) {
        if model_failed() {
            return;
        }
        self.0.store(0, Ordering::Release);
    }
}

/// Exclusive access to a [`ReadMostlyLock`]'s data; readers fall back to waiting until dropped.
///
/// Fields drop in order: the data access ends, then the flag clears, then the lock is released.
pub(crate) struct WriteGuard<'a, T> {
    data: MutPtr<T>,
    _active: WriterActive<'a>,
    _exclusive: RwLockWriteGuard<'a, ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only access to the data (see `ReadMostlyLock::write`), and
        // only shared references leave it while it is borrowed shared; they borrow the guard,
        // so they end before the access does.
        self.data.with(|data| unsafe { &*data })
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` rules out any other reference from this guard.
        self.data.with(|data| unsafe { &mut *data })
    }
}

/// Clears a lock's `writer_active` when its [`WriteGuard`] drops.
struct WriterActive<'a>(&'a AtomicBool);

impl Drop for WriterActive<'_> {
    fn drop(&mut self) {
        // Release: a fast reader that sees the flag clear also sees every write made under the
        // guard. The inner lock is released right after.
        if model_failed() {
            return;
        }
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer fills an array with one round number at a time; a reader seeing two numbers
    /// saw a write in progress. (With the writer's wait removed this fails within milliseconds.)
    #[test]
    fn readers_never_see_a_write_in_progress() {
        // Miri interprets every instruction; a few short rounds give its race detector enough.
        let (rounds, min_reads, len) = if cfg!(miri) {
            (20, 10, 64)
        } else {
            (20_000, 1000, 512)
        };
        let lock = ReadMostlyLock::<Vec<u64>>::default();
        *lock.write() = vec![0; len];
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut reads = 0u64;
                    while !done.load(Ordering::Relaxed) || reads < min_reads {
                        lock.read(thread_slot::current(), |values| {
                            let first = values[0];
                            assert!(values.iter().all(|v| *v == first), "torn read");
                        });
                        reads += 1;
                    }
                });
            }
            for round in 1..=rounds {
                let mut values = lock.write();
                for value in values.iter_mut() {
                    *value = round;
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        assert!(lock.read(thread_slot::current(), |values| values
            .iter()
            .all(|v| *v == rounds)));
    }
}

/// Models of the argument in the module comment, run by loom (`--cfg loom`, see `crate::sync`):
/// every interleaving and every value each atomic load may return, within a preemption bound.
/// Beyond the assertions, loom checks every access to the lock's data: a read not ordered
/// before or after a write is reported as a race.
#[cfg(all(test, loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// Two fields the writer changes together: a reader seeing them differ saw a write in
    /// progress.
    type Pair = ReadMostlyLock<[u64; 2]>;

    fn check_pair(lock: &Pair, thread_slot: Option<usize>) -> u64 {
        lock.read(thread_slot, |pair| {
            assert_eq!(pair[0], pair[1], "read a write in progress");
            pair[0]
        })
    }

    fn write_pair(lock: &Pair, value: u64) {
        let mut pair = lock.write();
        pair[0] = value;
        pair[1] = value;
    }

    /// (a) A reader whose slot is known to writers, against a writer writing twice. (The
    /// reader is not the model's main thread: loom drops the main thread's slot claim after the
    /// slot table.)
    fn reader_against_writer(lock: Pair) {
        let lock = Arc::new(lock);
        let reader = thread::spawn(move || {
            let thread_slot = thread_slot::current();
            assert_eq!(thread_slot, Some(0));
            let writer = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    write_pair(&lock, 1);
                    write_pair(&lock, 2);
                })
            };
            let first = check_pair(&lock, thread_slot);
            let second = check_pair(&lock, thread_slot);
            assert!(first <= second, "read {second} after {first}");
            writer.join().unwrap();
            assert_eq!(check_pair(&lock, thread_slot), 2);
        });
        reader.join().unwrap();
    }

    #[test]
    fn loom_reader_never_sees_a_write_in_progress() {
        crate::sync::model(8, || reader_against_writer(Pair::default()));
    }

    /// The same model on a lock whose writer does not wait for announced readers: the model
    /// must find the race, or it proves nothing.
    #[test]
    #[should_panic(expected = "Causality violation")]
    fn loom_finds_the_race_when_the_writer_does_not_wait() {
        crate::sync::model(8, || {
            reader_against_writer(Pair {
                skips_reader_wait: true,
                ..Pair::default()
            })
        });
    }

    /// (b) A reader that claims a new slot index while the writer scans: either the scan covers
    /// the index or the reader sees the writer's flag.
    #[test]
    fn loom_a_reader_claiming_a_new_slot_during_a_scan_is_waited_for_or_waits() {
        crate::sync::model(8, || {
            let lock = Arc::new(Pair::default());
            let reader = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    let thread_slot = thread_slot::current();
                    assert!(thread_slot.is_some());
                    check_pair(&lock, thread_slot)
                })
            };
            write_pair(&lock, 1);
            assert!(reader.join().unwrap() <= 1);
        });
    }
}
