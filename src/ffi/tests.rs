//! Boundary behaviour that C programs cannot provoke: panics inside a store, every `PutError`
//! mapping, and the extensible-struct rules.

use std::ffi::CStr;
use std::io;
use std::ptr;
use std::sync::Arc;

use super::handles::{
    check_extensible_out, read_extensible, version_1_size, write_extensible, ArcHandle, Extensible,
};
use super::*;
use crate::fingerprint::PipelineFingerprint;
use crate::store::{PipelineCacheStore, PutError};

/// A store whose every operation fails in a chosen way.
struct FailingStore {
    put: fn() -> PutError,
}

impl PipelineCacheStore for FailingStore {
    fn get(&self, _: &PipelineFingerprint) -> Option<Vec<u8>> {
        panic!("get exploded");
    }
    fn put(&self, _: PipelineFingerprint, _: Vec<u8>) {}
    fn try_put(&self, _: PipelineFingerprint, _: Vec<u8>) -> Result<(), PutError> {
        Err((self.put)())
    }
    fn flush(&self) -> io::Result<()> {
        Err(io::Error::other("disk on fire"))
    }
}

fn handle(store: impl PipelineCacheStore + 'static) -> *mut pcs_store {
    let store: Arc<dyn PipelineCacheStore> = Arc::new(store);
    pcs_store::into_handle(Arc::new(store)).cast_mut()
}

fn last_error() -> String {
    // SAFETY: a NULL buffer is allowed; the second call gets a buffer of the reported size.
    unsafe {
        let len = pcs_last_error(ptr::null_mut(), 0);
        let mut buf = vec![0u8; len + 1];
        assert_eq!(pcs_last_error(buf.as_mut_ptr().cast(), buf.len()), len);
        CStr::from_bytes_with_nul(&buf)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }
}

#[test]
fn result_values_are_fixed() {
    use pcs_result::*;
    let expected = [
        (PCS_OK, 0),
        (PCS_MISS, 1),
        (PCS_ERR_NULL_ARGUMENT, -1),
        (PCS_ERR_INVALID_ARGUMENT, -2),
        (PCS_ERR_BUFFER_TOO_SMALL, -3),
        (PCS_ERR_TOO_LARGE, -4),
        (PCS_ERR_IO, -5),
        (PCS_ERR_CORRUPT, -6),
        (PCS_ERR_UNSUPPORTED, -7),
        (PCS_ERR_VULKAN, -8),
        (PCS_ERR_ABI_MISMATCH, -9),
        (PCS_ERR_PANIC, -100),
    ];
    for (code, value) in expected {
        assert_eq!(code as i32, value);
        // SAFETY: pcs_result_str never returns NULL and its strings are NUL-terminated.
        let text = unsafe { CStr::from_ptr(pcs_result_str(value)) }
            .to_str()
            .unwrap();
        assert!(text.starts_with(&format!("{code:?}:")), "{text}");
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(pcs_result_str(42)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown pcs_result");
}

#[test]
fn a_panicking_store_returns_pcs_err_panic_and_stays_usable() {
    let store = handle(FailingStore {
        put: || PutError::ReadOnly,
    });
    let key = pcs_fingerprint::default();
    let mut out: *mut pcs_blob = ptr::null_mut();
    // SAFETY: live handle, valid key and out-pointer.
    let result = unsafe { pcs_get_blob(store, &key, &mut out) };
    assert_eq!(result, pcs_result::PCS_ERR_PANIC);
    assert!(out.is_null(), "out written on failure");
    let message = last_error();
    assert!(
        message.starts_with("pcs_get_blob: internal panic: get exploded"),
        "{message}"
    );
    // SAFETY: as above; the handle survived the panic.
    let result = unsafe { pcs_put(store, &key, ptr::null(), 0) };
    assert_eq!(result, pcs_result::PCS_ERR_UNSUPPORTED);
    // SAFETY: we own the only reference.
    unsafe { pcs_store_release(store) };
}

#[test]
fn every_put_error_maps_to_its_code_with_a_message() {
    type Case = (fn() -> PutError, pcs_result, &'static str);
    let cases: [Case; 4] = [
        (
            || PutError::TooLarge { len: 9, max: 4 },
            pcs_result::PCS_ERR_TOO_LARGE,
            "larger",
        ),
        (
            || PutError::ReadOnly,
            pcs_result::PCS_ERR_UNSUPPORTED,
            "read-only",
        ),
        (
            || PutError::Dropped("queue full"),
            pcs_result::PCS_ERR_UNSUPPORTED,
            "queue full",
        ),
        (
            || PutError::Io(io::Error::other("EIO")),
            pcs_result::PCS_ERR_IO,
            "EIO",
        ),
    ];
    for (error, code, text) in cases {
        let store = handle(FailingStore { put: error });
        let key = pcs_fingerprint::default();
        // SAFETY: live handle, valid key, 3 readable bytes.
        let result = unsafe { pcs_put(store, &key, b"abc".as_ptr().cast(), 3) };
        assert_eq!(result, code);
        let message = last_error();
        assert!(
            message.starts_with("pcs_put: ") && message.contains(text),
            "{message}"
        );
        // SAFETY: live handle.
        assert_eq!(unsafe { pcs_flush(store) }, pcs_result::PCS_ERR_IO);
        assert!(last_error().contains("disk on fire"));
        // SAFETY: we own the only reference.
        unsafe { pcs_store_release(store) };
    }
}

#[test]
fn last_error_truncates_like_snprintf() {
    // SAFETY: NULL out is the misuse under test; the buffers are valid for their lengths.
    unsafe {
        assert_eq!(
            pcs_hasher_new(ptr::null_mut()),
            pcs_result::PCS_ERR_NULL_ARGUMENT
        );
        let full = last_error();
        assert_eq!(full, "pcs_hasher_new: `out` is NULL");
        let mut small = [0x7fu8; 8];
        assert_eq!(
            pcs_last_error(small.as_mut_ptr().cast(), small.len()),
            full.len()
        );
        assert_eq!(&small, b"pcs_has\0");
        let mut one = [0x7fu8; 1];
        pcs_last_error(one.as_mut_ptr().cast(), 1);
        assert_eq!(one, [0]);
        // A success leaves the message alone.
        let mut store = ptr::null_mut();
        assert_eq!(
            pcs_store_open_memory(ptr::null(), &mut store),
            pcs_result::PCS_OK
        );
        assert_eq!(last_error(), full);
        pcs_store_release(store);
    }
}

/// `pcs_memory_options` followed by bytes a newer header might add.
#[repr(C)]
struct NewerOptions {
    known: pcs_memory_options,
    unknown: u64,
}

#[test]
fn extensible_structs_accept_zero_tails_and_refuse_unknown_settings() {
    let known = pcs_memory_options {
        struct_size: std::mem::size_of::<NewerOptions>(),
        max_entries: 4,
        max_bytes: 1 << 20,
    };
    let mut store = ptr::null_mut();
    // The library reads `struct_size` bytes: pointers to the whole `NewerOptions` (not to its
    // `known` field, which would let it read only that field's bytes).
    // SAFETY: each pointer is valid for reads of its declared struct_size.
    unsafe {
        let zero_tail = NewerOptions { known, unknown: 0 };
        let result = pcs_store_open_memory(ptr::from_ref(&zero_tail).cast(), &mut store);
        assert_eq!(result, pcs_result::PCS_OK);
        pcs_store_release(store);
        store = ptr::null_mut();

        let set_tail = NewerOptions { known, unknown: 1 };
        let result = pcs_store_open_memory(ptr::from_ref(&set_tail).cast(), &mut store);
        assert_eq!(result, pcs_result::PCS_ERR_ABI_MISMATCH);
        assert!(store.is_null());
        assert!(last_error().contains("does not know"));

        let short = pcs_memory_options {
            struct_size: 8,
            ..known
        };
        let result = pcs_store_open_memory(&short, &mut store);
        assert_eq!(result, pcs_result::PCS_ERR_INVALID_ARGUMENT);
        assert!(store.is_null());
    }
}

/// What `pcs_memory_options` becomes once a field is appended: version 1 plus `appended`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MemoryOptionsV2 {
    struct_size: usize,
    max_entries: usize,
    max_bytes: u64,
    appended: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for MemoryOptionsV2 {
    // Exactly how the real structs declare it.
    const MIN_SIZE: usize = version_1_size!(MemoryOptionsV2, max_bytes, lp64 = 24);
}

/// What `pcs_cache_metrics` becomes once a field is appended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CacheMetricsV2 {
    version_1: pcs_cache_metrics,
    appended: u64,
}

// SAFETY: `#[repr(C)]`, starts with `pcs_cache_metrics` whose first field is `struct_size`;
// only integers.
unsafe impl Extensible for CacheMetricsV2 {
    const MIN_SIZE: usize = version_1_size!(CacheMetricsV2, version_1, lp64 = 216);
}

#[test]
fn a_version_1_caller_still_works_after_a_field_is_appended() {
    assert_eq!(
        MemoryOptionsV2::MIN_SIZE,
        std::mem::size_of::<pcs_memory_options>()
    );
    assert!(std::mem::size_of::<MemoryOptionsV2>() > MemoryOptionsV2::MIN_SIZE);
    // An input struct from a caller compiled against the version-1 header: exactly its size,
    // nothing readable beyond it.
    let old_caller = pcs_memory_options {
        struct_size: std::mem::size_of::<pcs_memory_options>(),
        max_entries: 4,
        max_bytes: 1 << 20,
    };
    // SAFETY: valid for reads of its struct_size (24) bytes, all the library reads.
    let read =
        unsafe { read_extensible(ptr::addr_of!(old_caller).cast::<MemoryOptionsV2>(), "opts") };
    assert_eq!(
        read.map_err(|error| error.message),
        Ok(MemoryOptionsV2 {
            struct_size: 24,
            max_entries: 4,
            max_bytes: 1 << 20,
            appended: 0, // missing fields read as zero: their default
        })
    );

    // An output struct from a version-1 caller: filled up to its size, never past it.
    #[repr(C)]
    struct Guarded {
        caller: pcs_cache_metrics,
        after: u64,
    }
    let mut guarded = Guarded {
        caller: pcs_cache_metrics {
            struct_size: std::mem::size_of::<pcs_cache_metrics>(),
            ..Default::default()
        },
        after: 0xdead,
    };
    let value = CacheMetricsV2 {
        version_1: pcs_cache_metrics {
            struct_size: std::mem::size_of::<CacheMetricsV2>(),
            puts: 7,
            ..Default::default()
        },
        appended: 0xffff_ffff,
    };
    // SAFETY: valid for reads and writes of its struct_size bytes (and the guard after them).
    let written = unsafe {
        write_extensible(
            ptr::addr_of_mut!(guarded.caller).cast::<CacheMetricsV2>(),
            &value,
            "out",
        )
    };
    assert!(written.is_ok(), "{:?}", written.map_err(|e| e.message));
    assert_eq!(guarded.caller.puts, 7);
    assert_eq!(
        guarded.caller.struct_size,
        std::mem::size_of::<pcs_cache_metrics>()
    );
    assert_eq!(guarded.after, 0xdead, "written past the caller's struct");
    // SAFETY: as above; the check only reads `struct_size`.
    let checked = unsafe {
        check_extensible_out(
            ptr::addr_of!(guarded.caller).cast::<CacheMetricsV2>(),
            "out",
        )
    };
    assert!(checked.is_ok());

    // Smaller than version 1 is still garbage.
    let too_short = pcs_memory_options {
        struct_size: 16,
        ..old_caller
    };
    // SAFETY: valid for reads of 24 >= 16 bytes.
    let refused =
        unsafe { read_extensible(ptr::addr_of!(too_short).cast::<MemoryOptionsV2>(), "opts") };
    assert_eq!(
        refused.map_err(|error| error.code).err(),
        Some(pcs_result::PCS_ERR_INVALID_ARGUMENT)
    );
}

#[test]
fn a_newer_callers_longer_struct_needs_a_zero_tail() {
    /// A caller compiled against a header one field newer than `MemoryOptionsV2`.
    #[repr(C)]
    struct V3 {
        v2: MemoryOptionsV2,
        newer: u64,
    }
    let v2 = MemoryOptionsV2 {
        struct_size: std::mem::size_of::<V3>(),
        max_entries: 4,
        max_bytes: 1 << 20,
        appended: 9,
    };
    let zero_tail = V3 { v2, newer: 0 };
    // SAFETY: valid for reads of its struct_size bytes (the whole V3).
    let read = unsafe { read_extensible(ptr::addr_of!(zero_tail).cast::<MemoryOptionsV2>(), "o") };
    assert_eq!(
        read.map(|value| value.appended).map_err(|e| e.message),
        Ok(9)
    );
    let set_tail = V3 { v2, newer: 1 };
    // SAFETY: as above.
    let read = unsafe { read_extensible(ptr::addr_of!(set_tail).cast::<MemoryOptionsV2>(), "o") };
    assert_eq!(
        read.map_err(|error| error.code).err(),
        Some(pcs_result::PCS_ERR_ABI_MISMATCH)
    );
}

#[test]
fn metrics_fill_only_the_callers_struct() {
    let mut store = ptr::null_mut();
    // SAFETY: valid out-pointers and buffers throughout.
    unsafe {
        assert_eq!(
            pcs_store_open_memory(ptr::null(), &mut store),
            pcs_result::PCS_OK
        );
        let key = pcs_fingerprint { bytes: [7; 32] };
        assert_eq!(
            pcs_put(store, &key, b"xyz".as_ptr().cast(), 3),
            pcs_result::PCS_OK
        );
        let mut blob = ptr::null_mut();
        assert_eq!(pcs_get_blob(store, &key, &mut blob), pcs_result::PCS_OK);
        pcs_blob_release(blob);

        /// A newer caller's struct: ours plus one field the library does not know.
        #[repr(C)]
        struct Newer {
            known: pcs_cache_metrics,
            future: u64,
        }
        let mut newer = Newer {
            known: pcs_cache_metrics {
                struct_size: std::mem::size_of::<Newer>(),
                ..Default::default()
            },
            future: 0xdead,
        };
        // A pointer to the whole struct, as a C caller's `&newer.known` is (see above).
        assert_eq!(
            pcs_metrics(store, ptr::from_mut(&mut newer).cast()),
            pcs_result::PCS_OK
        );
        assert_eq!(
            newer.known.struct_size,
            std::mem::size_of::<pcs_cache_metrics>()
        );
        assert_eq!(
            (newer.known.puts, newer.known.hits, newer.known.lookups),
            (1, 1, 1)
        );
        assert_eq!(newer.known.bytes_written, 3);
        assert_eq!(
            newer.future, 0xdead,
            "bytes past the library's struct were written"
        );
        pcs_store_release(store);
    }
}
