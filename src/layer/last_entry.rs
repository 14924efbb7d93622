//! The entry a registry inserted last, readable without writing anything: the lookup on
//! every pipeline creation of an application with one device.
//!
//! A sequence lock: the writer (one at a time: the registry's write lock) makes the sequence
//! odd, changes the key and the record pointer, and makes it even again; a reader reads the
//! sequence, the pair, and the sequence again, and takes the pair only when both sequences are
//! equal and even (no write overlapped its reads) and the key is the one it looks for. Every
//! load is a plain load on x86-64. The registry's own read path announces the reader and
//! costs a `SeqCst` fence (`memory::read_mostly`): in a profile of cached creations through the
//! layer, 40 % of the layer's own samples, ~4 ns of a ~0.9 µs driver cache hit; through this
//! entry, 5 % (BENCHMARKS.md, "The last device, read without a fence").
//!
//! Why a pair read this way names a live record: the registry publishes the record before the
//! handle it belongs to reaches the application (the `vkCreate*` call has not returned yet),
//! so a reader on that handle reads this write or a later one; a later write either names
//! another key (the reader falls back to the map) or clears this key, which only the handle's
//! `vkDestroy*` does, and Vulkan forbids that while another call on the handle runs.
//!
//! The loom models at the end of this file check that a reader never takes a key with
//! another key's record, and sees the record's contents written before it was published.

use crate::sync::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The last inserted key and its record, or nothing (key 0, null record).
pub(super) struct LastEntry<T> {
    /// Even while the pair is stable, odd while the writer changes it.
    sequence: AtomicU64,
    key: AtomicUsize,
    record: AtomicPtr<T>,
    /// Set only by the loom model that shows the models can fail: `get` then takes the pair
    /// without reading the sequence again.
    #[cfg(loom)]
    skips_sequence_check: bool,
}

impl<T> Default for LastEntry<T> {
    fn default() -> Self {
        Self {
            sequence: AtomicU64::new(0),
            key: AtomicUsize::new(0),
            record: AtomicPtr::new(std::ptr::null_mut()),
            #[cfg(loom)]
            skips_sequence_check: false,
        }
    }
}

impl<T> LastEntry<T> {
    /// Makes `(key, record)` the last entry. Writers must not run concurrently (the caller
    /// holds its registry's write lock).
    pub fn set(&self, key: usize, record: *const T) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the pair's new values: a reader that sees one of
        // them sees the sequence changed when it reads it again.
        fence(Ordering::Release);
        self.key.store(key, Ordering::Relaxed);
        self.record.store(record.cast_mut(), Ordering::Relaxed);
        // Publishes the pair, and the record's contents written before this call.
        self.sequence
            .store(sequence.wrapping_add(2), Ordering::Release);
    }

    /// Forgets the last entry if its key is `key` (the record is being removed). Writers only,
    /// as for [`LastEntry::set`].
    pub fn clear(&self, key: usize) {
        if self.key.load(Ordering::Relaxed) == key {
            self.set(0, std::ptr::null());
        }
    }

    /// The record of `key` if it is the last entry. The pointer is valid as long as the
    /// registry holds the record (see the module).
    #[inline]
    pub fn get(&self, key: usize) -> Option<*const T> {
        let before = self.sequence.load(Ordering::Acquire);
        if before % 2 != 0 {
            return None;
        }
        let found = self.key.load(Ordering::Relaxed);
        let record = self.record.load(Ordering::Relaxed);
        // Orders the pair's loads before the second sequence load: a pair that a write
        // overlapped makes that load see the write's sequence.
        fence(Ordering::Acquire);
        #[cfg(loom)]
        if self.skips_sequence_check {
            return (found == key && !record.is_null()).then_some(record.cast_const());
        }
        let after = self.sequence.load(Ordering::Relaxed);
        (before == after && found == key && !record.is_null()).then_some(record.cast_const())
    }
}

/// Models run by loom (`--cfg loom`, see `crate::sync`): every interleaving and every value
/// each atomic load may return, within a preemption bound.
#[cfg(all(test, loom))]
mod loom_models {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// A record whose contents (its own key) the writer fills in just before publishing it,
    /// without an atomic: loom reports a read of them not ordered after that write as a race.
    #[derive(Default)]
    struct Record(UnsafeCell<usize>);

    impl Record {
        fn fill(&self, key: usize) {
            self.0.with_mut(|value| {
                // SAFETY: not published yet, so not read.
                unsafe { *value = key }
            });
        }
    }

    /// Looks `key` up; a record found must be `key`'s.
    fn check(last: &LastEntry<Record>, key: usize) -> bool {
        let Some(record) = last.get(key) else {
            return false;
        };
        // SAFETY: the model's records outlive every thread.
        let stored = unsafe { &*record }.0.with(|value| {
            // SAFETY: read-only once published.
            unsafe { *value }
        });
        assert_eq!(stored, key, "key {key} read with key {stored}'s record");
        true
    }

    /// A writer fills and sets two entries one after another, then clears the second, while a
    /// reader looks up both.
    fn reader_against_writer(last: LastEntry<Record>, filled_before: bool) {
        let records = Arc::new([Record::default(), Record::default()]);
        if filled_before {
            records[0].fill(1);
            records[1].fill(2);
        }
        let last = Arc::new(last);
        let writer = {
            let (records, last) = (Arc::clone(&records), Arc::clone(&last));
            thread::spawn(move || {
                for (key, record) in [1, 2].into_iter().zip(records.iter()) {
                    if !filled_before {
                        record.fill(key);
                    }
                    last.set(key, record);
                }
                last.clear(2);
            })
        };
        check(&last, 1);
        check(&last, 2);
        writer.join().unwrap();
        assert!(!check(&last, 2), "cleared");
        assert!(!check(&last, 1), "replaced");
    }

    #[test]
    fn loom_a_reader_takes_only_a_whole_published_entry() {
        crate::sync::model(4, || reader_against_writer(LastEntry::default(), false));
    }

    /// The same model without the second sequence check: the model must find a key read with
    /// another key's record, or it proves nothing.
    #[test]
    #[should_panic(expected = "read with key")]
    fn loom_finds_the_torn_pair_without_the_sequence_check() {
        crate::sync::model(4, || {
            reader_against_writer(
                LastEntry {
                    skips_sequence_check: true,
                    ..LastEntry::default()
                },
                true,
            )
        });
    }
}
