//! Per-handle records found by dispatch key: generic over the record, so it knows nothing of
//! what the layer keeps per instance or device.
//!
//! A dispatchable handle's first pointer-sized word is the loader's dispatch-table pointer,
//! shared by an instance and its physical devices, and by a device and its queues and command
//! buffers. Entries are removed on destroy because the loader reuses addresses. The maps' locks
//! are held only to find a record, never while calling down the chain. They are read-mostly
//! locks (`memory::read_mostly`): a lookup on every pipeline creation writes nothing another
//! thread reads, where a read-write lock and an `Arc` clone cost four atomic read-modify-writes
//! on lines every creating thread shares. The entry inserted last is also kept where a lookup
//! reads it without even announcing itself (`last_entry`): an application's one device.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use ash::vk::Handle;
use once_cell::sync::Lazy;

use super::last_entry::LastEntry;
use crate::memory::read_mostly::ReadMostlyLock;
use crate::thread_slot;

/// The loader's dispatch-table pointer of a dispatchable handle.
pub(super) type DispatchKey = usize;

/// Reads the dispatch key of `handle`.
///
/// # Safety
/// `handle` must be a live dispatchable handle created through the loader (non-null).
pub(super) unsafe fn dispatch_key(handle: impl Handle) -> DispatchKey {
    let first_word = handle.as_raw() as usize as *const usize;
    // SAFETY: a live dispatchable handle points at an object whose first word is the loader's
    // dispatch pointer (caller's guarantee).
    unsafe { first_word.read() }
}

/// Hashes a dispatch key (a heap address) with one multiply: the map is on every pipeline
/// creation's path, and SipHash's DoS resistance buys nothing for loader-chosen addresses.
#[derive(Default)]
struct DispatchKeyHasher(u64);

impl Hasher for DispatchKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, key: usize) {
        // Fibonacci hashing; the high bits (which hashbrown uses) mix every address bit.
        self.0 = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type DispatchMap<T> = HashMap<DispatchKey, Arc<T>, BuildHasherDefault<DispatchKeyHasher>>;

/// A map from dispatch key to shared records. Thread-safe; usable as a `static`.
pub(super) struct Registry<T> {
    entries: Lazy<Entries<T>>,
}

struct Entries<T> {
    map: ReadMostlyLock<DispatchMap<T>>,
    /// The entry inserted last, changed only under `map`'s write lock.
    last: LastEntry<T>,
}

impl<T> Registry<T> {
    /// An empty registry.
    pub const fn new() -> Self {
        Self {
            entries: Lazy::new(|| Entries {
                map: ReadMostlyLock::default(),
                last: LastEntry::default(),
            }),
        }
    }

    /// Records `record` under `key`, replacing a stale entry of a reused address.
    pub fn insert(&self, key: DispatchKey, record: Arc<T>) {
        let mut map = self.entries.map.write();
        self.entries.last.set(key, Arc::as_ptr(&record));
        let stale = map.insert(key, record);
        // A stale record is dropped after the write lock: its `Drop` may be long.
        drop(map);
        drop(stale);
    }

    /// The record under `key`, if any.
    pub fn get(&self, key: DispatchKey) -> Option<Arc<T>> {
        self.entries
            .map
            .read(thread_slot::current(), |map| map.get(&key).cloned())
    }

    /// Removes and returns the record under `key`.
    pub fn remove(&self, key: DispatchKey) -> Option<Arc<T>> {
        let mut map = self.entries.map.write();
        self.entries.last.clear(key);
        map.remove(&key)
    }

    /// The record of the live dispatchable `handle`; `None` for a null handle or one the layer
    /// never recorded.
    ///
    /// # Safety
    /// `handle` must be null or a live dispatchable handle created through the loader.
    pub unsafe fn of(&self, handle: impl Handle + Copy) -> Option<Arc<T>> {
        if handle.is_null() {
            return None;
        }
        // SAFETY: non-null, so live (caller).
        self.get(unsafe { dispatch_key(handle) })
    }

    /// The record of the live dispatchable `handle`, borrowed without a reference count for the
    /// application's call on it: the pipeline-creation path, where an `Arc` clone and drop are
    /// two atomic read-modify-writes on a line every creating thread shares.
    ///
    /// # Safety
    /// `handle` must be null or a live dispatchable handle created through the loader, and the
    /// reference must not be used after the application's call on `handle` returns. The record
    /// stays alive that long: only `remove`, called by the handle's `vkDestroy*`, drops the
    /// registry's `Arc`, and Vulkan forbids destroying a handle while another call on it runs.
    /// `thread_slot` is this thread's ([`thread_slot::current`]; the caller has it already).
    pub unsafe fn during_call(
        &self,
        handle: impl Handle + Copy,
        thread_slot: Option<usize>,
    ) -> Option<&T> {
        if handle.is_null() {
            return None;
        }
        // SAFETY: non-null, so live (caller).
        let key = unsafe { dispatch_key(handle) };
        let record = match self.entries.last.get(key) {
            Some(record) => record,
            None => self
                .entries
                .map
                .read(thread_slot, |map| map.get(&key).map(Arc::as_ptr))?,
        };
        // SAFETY: the registry's `Arc` keeps the record alive for the application's call
        // (this function's contract; for the last entry, see `last_entry`).
        Some(unsafe { &*record })
    }
}

#[cfg(test)]
mod tests {
    use ash::vk;

    use super::*;

    /// A dispatchable handle whose first word is `key`, as the loader's are.
    fn handle(word: &usize) -> vk::Device {
        vk::Device::from_raw(std::ptr::from_ref(word) as u64)
    }

    fn during_call(registry: &Registry<&'static str>, word: &usize) -> Option<&'static str> {
        // SAFETY: the handle points at its dispatch key; the record is used at once.
        unsafe { registry.during_call(handle(word), thread_slot::current()) }.copied()
    }

    #[test]
    fn lookups_find_the_last_entry_and_the_others_and_nothing_removed() {
        let registry = Registry::new();
        let (first, second) = (Box::new(0x1000usize), Box::new(0x2000usize));
        registry.insert(*first, Arc::new("first"));
        registry.insert(*second, Arc::new("second"));
        assert_eq!(
            during_call(&registry, &second),
            Some("second"),
            "the last entry"
        );
        assert_eq!(
            during_call(&registry, &first),
            Some("first"),
            "from the map"
        );

        assert_eq!(registry.remove(*second).as_deref(), Some(&"second"));
        assert_eq!(
            during_call(&registry, &second),
            None,
            "removed: not the last entry"
        );
        assert_eq!(during_call(&registry, &first), Some("first"));

        // The loader reuses a destroyed device's address: the new record, never the old one.
        registry.insert(*second, Arc::new("reused"));
        assert_eq!(during_call(&registry, &second), Some("reused"));
        registry.insert(*second, Arc::new("replaced stale"));
        assert_eq!(during_call(&registry, &second), Some("replaced stale"));
        assert_eq!(registry.remove(*first).as_deref(), Some(&"first"));
        assert_eq!(during_call(&registry, &first), None);
        assert_eq!(during_call(&registry, &second), Some("replaced stale"));
        assert_eq!(
            // SAFETY: null.
            unsafe { registry.during_call(vk::Device::null(), None) },
            None
        );
    }
}
