//! Keys: `pcs_fingerprint`, the one-shot hash, the incremental hasher, the device-scoped key.

use std::ffi::c_void;

use super::handles::{
    arg_bytes, arg_out, arg_ref, read_extensible, version_1_size, BoxHandle, Extensible,
};
use super::result::{pcs_result, FfiError, FfiResult};
use crate::fingerprint::{DeviceIdentity, FingerprintBuilder, PipelineFingerprint};

/// A 32-byte key naming one stored blob. Plain data: copy it freely. `pcs_fingerprint_of` and
/// the hasher make BLAKE3 keys, but any 32 bytes work (e.g. an engine's own 64-bit hash, the
/// rest zero): the store mixes all of them before sharding and hashing.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_fingerprint {
    /// The key's bytes.
    pub bytes: [u8; 32],
}

impl From<pcs_fingerprint> for PipelineFingerprint {
    fn from(key: pcs_fingerprint) -> Self {
        PipelineFingerprint(key.bytes)
    }
}

impl From<PipelineFingerprint> for pcs_fingerprint {
    fn from(key: PipelineFingerprint) -> Self {
        pcs_fingerprint { bytes: key.0 }
    }
}

/// Borrows a required key argument in place (no copy: a copied key reassembled on the stack
/// cost the hit path ~15 ns of store-forwarding stalls).
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` when `key` is NULL.
///
/// # Safety
/// `key` is NULL or valid for reads of a `pcs_fingerprint`, not written during `'a`.
pub(crate) unsafe fn arg_key<'a>(
    key: *const pcs_fingerprint,
) -> Result<&'a PipelineFingerprint, FfiError> {
    // SAFETY: both types are 32 bytes with alignment 1 (`pcs_fingerprint` is `repr(C)` over
    // `[u8; 32]`, `PipelineFingerprint` `repr(transparent)` over it); the pointer is NULL or
    // valid (contract).
    unsafe { arg_ref(key.cast::<PipelineFingerprint>(), "key") }
}

/// Writes the plain BLAKE3 hash of `len` bytes at `data` to `*out` (the same value as `b3sum`).
///
/// `data` may be NULL when `len` is 0. On misuse (`out` NULL, or `data` NULL with `len > 0`)
/// nothing is written and `pcs_last_error` says why. Thread-safe; no allocation.
///
/// # Safety
/// `data` is valid for reads of `len` bytes (unless `len` is 0); `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_fingerprint_of(
    data: *const c_void,
    len: usize,
    out: *mut pcs_fingerprint,
) {
    super::ffi_boundary!("pcs_fingerprint_of", || -> Result<(), FfiError> {
        let out = arg_out(out, "out")?;
        // SAFETY: the caller vouches for `len` readable bytes.
        let bytes = unsafe { arg_bytes(data, len, "data") }?;
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(PipelineFingerprint::of(bytes).into()) };
        Ok(())
    });
}

/// An incremental key builder over several parts (engine key, shader bytes, state...).
///
/// Each part is length-prefixed, so `("ab","c")` and `("a","bc")` give different keys, and a
/// hasher's key never equals `pcs_fingerprint_of` of any byte string. Owned by the caller
/// (free with `pcs_hasher_free`); not thread-safe: use one from one thread at a time.
#[allow(non_camel_case_types)]
pub struct pcs_hasher {
    _opaque: [u8; 0],
}

impl BoxHandle for pcs_hasher {
    type Rust = FingerprintBuilder;
}

/// Creates an empty hasher in `*out`. Free it with `pcs_hasher_free`.
///
/// Returns `PCS_OK`, or `PCS_ERR_NULL_ARGUMENT` when `out` is NULL.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_hasher_new(out: *mut *mut pcs_hasher) -> pcs_result {
    super::ffi_boundary!("pcs_hasher_new", || -> FfiResult {
        let out = arg_out(out, "out")?;
        let hasher = pcs_hasher::into_handle(Box::new(FingerprintBuilder::new()));
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(hasher) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Feeds one part of `len` bytes at `data` (`data` may be NULL when `len` is 0; an empty part
/// still counts as a part).
///
/// Returns `PCS_OK`, or `PCS_ERR_NULL_ARGUMENT` (`hasher` NULL, or `data` NULL with `len > 0`);
/// on error the hasher is unchanged.
///
/// # Safety
/// `hasher` came from `pcs_hasher_new` and is not freed or used by another thread meanwhile;
/// `data` is valid for reads of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_hasher_part(
    hasher: *mut pcs_hasher,
    data: *const c_void,
    len: usize,
) -> pcs_result {
    super::ffi_boundary!("pcs_hasher_part", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (hasher, bytes) = unsafe {
            (
                pcs_hasher::arg_mut(hasher, "hasher")?,
                arg_bytes(data, len, "data")?,
            )
        };
        hasher.part(bytes);
        Ok(pcs_result::PCS_OK)
    })
}

/// Writes the key of all parts fed so far to `*out`. The hasher stays usable (more parts may
/// follow) and still has to be freed.
///
/// Returns `PCS_OK`, or `PCS_ERR_NULL_ARGUMENT` when `hasher` or `out` is NULL.
///
/// # Safety
/// `hasher` came from `pcs_hasher_new` and is not freed meanwhile; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_hasher_finish(
    hasher: *const pcs_hasher,
    out: *mut pcs_fingerprint,
) -> pcs_result {
    super::ffi_boundary!("pcs_hasher_finish", || -> FfiResult {
        // SAFETY: forwarded contract.
        let hasher = unsafe { pcs_hasher::arg(hasher, "hasher") }?;
        let out = arg_out(out, "out")?;
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(hasher.finish().into()) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Frees a hasher. NULL is a no-op.
///
/// # Safety
/// `hasher` is NULL or came from `pcs_hasher_new` and is never used again.
#[no_mangle]
pub unsafe extern "C" fn pcs_hasher_free(hasher: *mut pcs_hasher) {
    super::ffi_boundary!("pcs_hasher_free", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_hasher::free(hasher) }
    });
}

/// What a pipeline-cache blob is valid for: one driver build on one device, plus an
/// engine-chosen namespace. Extensible: set `struct_size = sizeof(pcs_device_identity)`, zero
/// the struct first (`= {0}` / `{}`), then fill what you know; fields you cannot fill stay zero
/// and still take part in the key.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_device_identity {
    /// `sizeof(pcs_device_identity)` as the caller was compiled.
    pub struct_size: usize,
    /// `VkPhysicalDeviceProperties::vendorID`.
    pub vendor_id: u32,
    /// `VkPhysicalDeviceProperties::deviceID`.
    pub device_id: u32,
    /// `VkPhysicalDeviceProperties::driverVersion`.
    pub driver_version: u32,
    /// `VkPhysicalDeviceVulkan12Properties::driverID`, 0 when unknown.
    pub driver_id: u32,
    /// `VkPhysicalDeviceProperties::pipelineCacheUUID`.
    pub pipeline_cache_uuid: [u8; 16],
    /// `sizeof(void *)` of the process that creates the blobs (some drivers keep one UUID for
    /// 32- and 64-bit builds). Taken as given: 0 is a distinct value, not "this process".
    pub pointer_size: u8,
    /// `driverName`, a NUL, then `driverInfo` from `VkPhysicalDeviceVulkan12Properties`; may be
    /// NULL when `driver_info_len` is 0. Only read during the call.
    pub driver_info: *const u8,
    /// Bytes at `driver_info`.
    pub driver_info_len: usize,
    /// Engine-chosen namespace (engine name, build flavour, content version); may be NULL when
    /// `engine_namespace_len` is 0. Only read during the call.
    pub engine_namespace: *const u8,
    /// Bytes at `engine_namespace`.
    pub engine_namespace_len: usize,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers, byte arrays and raw pointers.
unsafe impl Extensible for pcs_device_identity {
    const MIN_SIZE: usize = version_1_size!(pcs_device_identity, engine_namespace_len, lp64 = 80);
}

/// Derives the key actually stored for engine key `*key` on the device `*identity` into
/// `*out` (`out` may equal `key`). Any change of vendor, device, driver version, UUID, driver
/// info, pointer size or namespace gives an unrelated key, so a driver update makes old entries
/// miss instead of feeding a stale blob to the new driver.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` when a pointer is NULL (or a byte field is NULL
/// with a non-zero length); `PCS_ERR_INVALID_ARGUMENT` for a bad `struct_size`;
/// `PCS_ERR_ABI_MISMATCH` when fields unknown to this library are set. Thread-safe.
///
/// # Safety
/// `key` and `identity` are valid for reads (`identity` for its `struct_size` bytes, and its
/// byte fields for their lengths); `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_fingerprint_scoped(
    key: *const pcs_fingerprint,
    identity: *const pcs_device_identity,
    out: *mut pcs_fingerprint,
) -> pcs_result {
    super::ffi_boundary!("pcs_fingerprint_scoped", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (key, given) = unsafe { (arg_key(key)?, read_extensible(identity, "identity")?) };
        let out = arg_out(out, "out")?;
        // SAFETY: the caller vouches for the byte fields' lengths.
        let (driver_info, namespace) = unsafe {
            (
                arg_bytes(
                    given.driver_info.cast(),
                    given.driver_info_len,
                    "identity->driver_info",
                )?,
                arg_bytes(
                    given.engine_namespace.cast(),
                    given.engine_namespace_len,
                    "identity->engine_namespace",
                )?,
            )
        };
        let identity = DeviceIdentity {
            vendor_id: given.vendor_id,
            device_id: given.device_id,
            driver_version: given.driver_version,
            driver_id: given.driver_id,
            pipeline_cache_uuid: given.pipeline_cache_uuid,
            pointer_size: given.pointer_size,
            driver_info: driver_info.to_vec(),
            namespace: namespace.to_vec(),
        };
        // SAFETY: `out` is non-NULL and valid for a write; `key` was already copied.
        unsafe { out.write(key.scoped(&identity).into()) };
        Ok(pcs_result::PCS_OK)
    })
}
