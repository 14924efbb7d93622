//! Zero-copy blob references handed out by `pcs_get_blob`.

use super::handles::ArcHandle;

/// A read-only reference to one stored blob, shared with the store without copying.
///
/// Immutable and thread-safe: its bytes never change, may be read from any thread, and stay
/// valid until the last reference is released, whatever the store does meanwhile (evict,
/// overwrite, close). References come from `pcs_get_blob` and `pcs_blob_retain`; give each
/// back with `pcs_blob_release`.
#[allow(non_camel_case_types)]
pub struct pcs_blob {
    _opaque: [u8; 0],
}

impl ArcHandle for pcs_blob {
    type Rust = Vec<u8>;
}

/// The blob's first byte (valid for `pcs_blob_size(blob)` bytes until the reference is
/// released). NULL when `blob` is NULL; for an empty blob, a non-NULL pointer that must not be
/// read. Thread-safe; no allocation.
///
/// # Safety
/// `blob` is NULL or a live blob reference.
#[no_mangle]
pub unsafe extern "C" fn pcs_blob_data(blob: *const pcs_blob) -> *const u8 {
    super::ffi_boundary!("pcs_blob_data", || -> *const u8 {
        // SAFETY: forwarded contract.
        unsafe { pcs_blob::borrow(blob) }.map_or(std::ptr::null(), Vec::as_ptr)
    })
}

/// The blob's size in bytes; 0 when `blob` is NULL. Thread-safe.
///
/// # Safety
/// `blob` is NULL or a live blob reference.
#[no_mangle]
pub unsafe extern "C" fn pcs_blob_size(blob: *const pcs_blob) -> usize {
    super::ffi_boundary!("pcs_blob_size", || -> usize {
        // SAFETY: forwarded contract.
        unsafe { pcs_blob::borrow(blob) }.map_or(0, Vec::len)
    })
}

/// Adds one reference to `blob` (the same pointer, released once more). NULL is a no-op.
/// Thread-safe.
///
/// # Safety
/// `blob` is NULL or a live blob reference.
#[no_mangle]
pub unsafe extern "C" fn pcs_blob_retain(blob: *mut pcs_blob) {
    super::ffi_boundary!("pcs_blob_retain", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_blob::retain(blob) }
    });
}

/// Gives back one blob reference; after the last one the bytes are freed. NULL is a no-op.
/// Thread-safe.
///
/// # Safety
/// `blob` is NULL or a reference the caller owns and never uses again.
#[no_mangle]
pub unsafe extern "C" fn pcs_blob_release(blob: *mut pcs_blob) {
    super::ffi_boundary!("pcs_blob_release", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_blob::release(blob) }
    });
}
