//! `pcs_get_api`: every public function in one static table, so a `dlopen` user needs a
//! single `dlsym`.

use std::ffi::{c_char, c_void};

use super::blob::{pcs_blob, pcs_blob_data, pcs_blob_release, pcs_blob_retain, pcs_blob_size};
use super::bundle::{pcs_bundle_options, pcs_store_open_bundle};
use super::disk::{pcs_disk_options, pcs_store_open_default, pcs_store_open_disk};
use super::fingerprint::{
    pcs_device_identity, pcs_fingerprint, pcs_fingerprint_of, pcs_fingerprint_scoped, pcs_hasher,
    pcs_hasher_finish, pcs_hasher_free, pcs_hasher_new, pcs_hasher_part,
};
use super::handles::arg_out;
use super::logging::{pcs_log_callback, pcs_set_log_callback};
use super::metrics::{pcs_cache_metrics, pcs_metrics};
use super::remote::{pcs_remote_options, pcs_store_open_remote};
use super::result::{pcs_last_error, pcs_result, pcs_result_str, FfiResult};
use super::store::{
    pcs_flush, pcs_get, pcs_get_blob, pcs_memory_options, pcs_put, pcs_store,
    pcs_store_open_layered, pcs_store_open_memory, pcs_store_release, pcs_store_retain,
};
use super::version::{check_requested_abi, pcs_abi_version, pcs_version};
use super::vulkan::{pcs_get_vk_api, pcs_vk_api};

/// Every public function of the ABI, one pointer each, same names without the `pcs_` prefix.
///
/// Append-only: entries are never removed, reordered or retyped; new ABI versions add entries
/// at the end and raise `PCS_ABI_VERSION`. `struct_size` is `sizeof(pcs_api)` of the loaded
/// library: an entry exists iff its offset is below `struct_size` (`pcs_get_api` already
/// guarantees every entry of the version you asked for). Static and immutable: valid while the
/// library is loaded, readable from any thread.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct pcs_api {
    /// `sizeof(pcs_api)` in the loaded library.
    pub struct_size: usize,
    /// `pcs_abi_version`.
    pub abi_version: extern "C" fn() -> u32,
    /// `pcs_version`.
    pub version: extern "C" fn() -> *const c_char,
    /// `pcs_result_str`.
    pub result_str: extern "C" fn(i32) -> *const c_char,
    /// `pcs_last_error`.
    pub last_error: unsafe extern "C" fn(*mut c_char, usize) -> usize,
    /// `pcs_fingerprint_of`.
    pub fingerprint_of: unsafe extern "C" fn(*const c_void, usize, *mut pcs_fingerprint),
    /// `pcs_fingerprint_scoped`.
    pub fingerprint_scoped: unsafe extern "C" fn(
        *const pcs_fingerprint,
        *const pcs_device_identity,
        *mut pcs_fingerprint,
    ) -> pcs_result,
    /// `pcs_hasher_new`.
    pub hasher_new: unsafe extern "C" fn(*mut *mut pcs_hasher) -> pcs_result,
    /// `pcs_hasher_part`.
    pub hasher_part: unsafe extern "C" fn(*mut pcs_hasher, *const c_void, usize) -> pcs_result,
    /// `pcs_hasher_finish`.
    pub hasher_finish: unsafe extern "C" fn(*const pcs_hasher, *mut pcs_fingerprint) -> pcs_result,
    /// `pcs_hasher_free`.
    pub hasher_free: unsafe extern "C" fn(*mut pcs_hasher),
    /// `pcs_store_open_memory`.
    pub store_open_memory:
        unsafe extern "C" fn(*const pcs_memory_options, *mut *mut pcs_store) -> pcs_result,
    /// `pcs_store_open_layered`.
    pub store_open_layered:
        unsafe extern "C" fn(*const *mut pcs_store, usize, *mut *mut pcs_store) -> pcs_result,
    /// `pcs_store_retain`.
    pub store_retain: unsafe extern "C" fn(*mut pcs_store),
    /// `pcs_store_release`.
    pub store_release: unsafe extern "C" fn(*mut pcs_store),
    /// `pcs_put`.
    pub put: unsafe extern "C" fn(
        *mut pcs_store,
        *const pcs_fingerprint,
        *const c_void,
        usize,
    ) -> pcs_result,
    /// `pcs_get`.
    pub get: unsafe extern "C" fn(
        *mut pcs_store,
        *const pcs_fingerprint,
        *mut c_void,
        *mut usize,
    ) -> pcs_result,
    /// `pcs_get_blob`.
    pub get_blob: unsafe extern "C" fn(
        *mut pcs_store,
        *const pcs_fingerprint,
        *mut *mut pcs_blob,
    ) -> pcs_result,
    /// `pcs_blob_data`.
    pub blob_data: unsafe extern "C" fn(*const pcs_blob) -> *const u8,
    /// `pcs_blob_size`.
    pub blob_size: unsafe extern "C" fn(*const pcs_blob) -> usize,
    /// `pcs_blob_retain`.
    pub blob_retain: unsafe extern "C" fn(*mut pcs_blob),
    /// `pcs_blob_release`.
    pub blob_release: unsafe extern "C" fn(*mut pcs_blob),
    /// `pcs_flush`.
    pub flush: unsafe extern "C" fn(*mut pcs_store) -> pcs_result,
    /// `pcs_metrics`.
    pub metrics: unsafe extern "C" fn(*mut pcs_store, *mut pcs_cache_metrics) -> pcs_result,
    /// `pcs_store_open_disk`.
    pub store_open_disk: unsafe extern "C" fn(
        *const c_char,
        *const pcs_disk_options,
        *mut *mut pcs_store,
    ) -> pcs_result,
    /// `pcs_store_open_default`.
    pub store_open_default: unsafe extern "C" fn(*mut *mut pcs_store) -> pcs_result,
    /// `pcs_store_open_remote`.
    pub store_open_remote: unsafe extern "C" fn(
        *const c_char,
        *const pcs_remote_options,
        *mut *mut pcs_store,
    ) -> pcs_result,
    /// `pcs_get_vk_api`: the Vulkan functions' own table. `struct pcs_vk_api` is complete only
    /// in `pcstore_vulkan.h`, so this header needs no Vulkan header. `PCS_ERR_UNSUPPORTED` when
    /// the library was built without its Vulkan adapter.
    pub get_vk_api: unsafe extern "C" fn(u32, *mut *const pcs_vk_api) -> pcs_result,
    /// `pcs_store_open_bundle`.
    pub store_open_bundle: unsafe extern "C" fn(
        *const c_char,
        *const pcs_bundle_options,
        *mut *mut pcs_store,
    ) -> pcs_result,
    /// `pcs_set_log_callback` (ABI 2).
    pub set_log_callback: unsafe extern "C" fn(i32, pcs_log_callback, *mut c_void) -> pcs_result,
}

static API: pcs_api = pcs_api {
    struct_size: std::mem::size_of::<pcs_api>(),
    abi_version: pcs_abi_version,
    version: pcs_version,
    result_str: pcs_result_str,
    last_error: pcs_last_error,
    fingerprint_of: pcs_fingerprint_of,
    fingerprint_scoped: pcs_fingerprint_scoped,
    hasher_new: pcs_hasher_new,
    hasher_part: pcs_hasher_part,
    hasher_finish: pcs_hasher_finish,
    hasher_free: pcs_hasher_free,
    store_open_memory: pcs_store_open_memory,
    store_open_layered: pcs_store_open_layered,
    store_retain: pcs_store_retain,
    store_release: pcs_store_release,
    put: pcs_put,
    get: pcs_get,
    get_blob: pcs_get_blob,
    blob_data: pcs_blob_data,
    blob_size: pcs_blob_size,
    blob_retain: pcs_blob_retain,
    blob_release: pcs_blob_release,
    flush: pcs_flush,
    metrics: pcs_metrics,
    store_open_disk: pcs_store_open_disk,
    store_open_default: pcs_store_open_default,
    store_open_remote: pcs_store_open_remote,
    get_vk_api: pcs_get_vk_api,
    store_open_bundle: pcs_store_open_bundle,
    set_log_callback: pcs_set_log_callback,
};

/// Writes to `*out` the static function table for ABI version `abi_version` (pass
/// `PCS_ABI_VERSION` from the header you compiled against). The one symbol a `dlopen` user
/// resolves; see `bindings/c/pcstore_loader.h`.
///
/// Returns `PCS_OK` when this library provides that version or a newer one (every entry of
/// the requested version is present); `PCS_ERR_ABI_MISMATCH` when the request is newer than
/// this library (`*out` untouched; `pcs_last_error` names both versions);
/// `PCS_ERR_INVALID_ARGUMENT` for version 0; `PCS_ERR_NULL_ARGUMENT` when `out` is NULL.
/// Thread-safe; the table must not be written to or freed.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_get_api(abi_version: u32, out: *mut *const pcs_api) -> pcs_result {
    super::ffi_boundary!("pcs_get_api", || -> FfiResult {
        let out = arg_out(out, "out")?;
        check_requested_abi(abi_version)?;
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(&API) };
        Ok(pcs_result::PCS_OK)
    })
}
