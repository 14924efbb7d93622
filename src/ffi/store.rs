//! The store handle and its operations: open, retain/release, put, get, flush.

use std::ffi::c_void;
use std::sync::Arc;

use super::blob::pcs_blob;
use super::fingerprint::{arg_key, pcs_fingerprint};
use super::handles::{arg_bytes, arg_out, read_extensible, version_1_size, ArcHandle, Extensible};
use super::result::{pcs_result, FfiError, FfiResult};
use crate::layered::LayeredPipelineCache;
use crate::memory::{InMemoryPipelineCache, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
use crate::store::{PipelineCacheStore, PutError};

/// A store of pipeline-cache blobs (memory, disk, or layers of them).
///
/// Opaque, thread-safe and reference-counted: every function taking a `pcs_store *` may be
/// called from any thread at any time, concurrently with any other. Each `pcs_store_open_*`
/// and each `pcs_store_retain` gives the caller one reference; `pcs_store_release` gives one
/// back; the store is closed when the last reference (including those held by layered stores
/// and the library itself) is gone.
#[allow(non_camel_case_types)]
pub struct pcs_store {
    _opaque: [u8; 0],
}

impl ArcHandle for pcs_store {
    type Rust = Arc<dyn PipelineCacheStore>;
}

/// Options of `pcs_store_open_memory`. Extensible: zero it, set `struct_size =
/// sizeof(pcs_memory_options)`, then set what you need; 0 in any field means its default.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_memory_options {
    /// `sizeof(pcs_memory_options)` as the caller was compiled.
    pub struct_size: usize,
    /// Most blobs held at once; 0 = 65536.
    pub max_entries: usize,
    /// Most blob bytes held at once; a larger blob is refused with `PCS_ERR_TOO_LARGE`;
    /// 0 = 256 MiB.
    pub max_bytes: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for pcs_memory_options {
    const MIN_SIZE: usize = version_1_size!(pcs_memory_options, max_bytes, lp64 = 24);
}

/// Hands a new store to C through `out`.
///
/// # Safety
/// `out` is non-NULL and valid for a write.
pub(super) unsafe fn give_store(
    out: *mut *mut pcs_store,
    store: Arc<dyn PipelineCacheStore>,
) -> FfiResult {
    let handle = pcs_store::into_handle(Arc::new(store)).cast_mut();
    // SAFETY: per this function's contract.
    unsafe { out.write(handle) };
    Ok(pcs_result::PCS_OK)
}

/// Opens an in-memory store (bounded by entries and bytes, evicting cold blobs first) into
/// `*out`. `opts` may be NULL for the defaults. Release it with `pcs_store_release`.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` when `out` is NULL; `PCS_ERR_INVALID_ARGUMENT` for
/// a bad `opts->struct_size`; `PCS_ERR_ABI_MISMATCH` when `opts` sets fields this library does
/// not know. `*out` is written only on success.
///
/// # Safety
/// `opts` is NULL or valid for reads of `opts->struct_size` bytes; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_memory(
    opts: *const pcs_memory_options,
    out: *mut *mut pcs_store,
) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_memory", || -> FfiResult {
        let out = arg_out(out, "out")?;
        let (max_entries, max_bytes) = if opts.is_null() {
            (DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
        } else {
            // SAFETY: forwarded contract.
            let opts = unsafe { read_extensible(opts, "opts") }?;
            (
                if opts.max_entries == 0 {
                    DEFAULT_MAX_ENTRIES
                } else {
                    opts.max_entries
                },
                if opts.max_bytes == 0 {
                    DEFAULT_MAX_BYTES
                } else {
                    opts.max_bytes
                },
            )
        };
        let store = InMemoryPipelineCache::with_limits(max_entries, max_bytes);
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, Arc::new(store)) }
    })
}

/// Stacks `count` stores into one, fastest first, into `*out`: a get tries each layer in order
/// and copies a hit into the faster layers; a put writes through to every layer; flush flushes
/// every layer. The new store takes its own reference to each layer: the caller may release
/// its layer handles right away. A store may appear in several stacks.
///
/// Returns `PCS_OK`; `PCS_ERR_INVALID_ARGUMENT` when `count` is 0 (whatever `layers` is);
/// `PCS_ERR_NULL_ARGUMENT` when `layers`, a layer or `out` is NULL. `*out` is written only on
/// success.
///
/// # Safety
/// `layers` is valid for reads of `count` pointers, each a live `pcs_store`; `out` is valid for
/// a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_layered(
    layers: *const *mut pcs_store,
    count: usize,
    out: *mut *mut pcs_store,
) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_layered", || -> FfiResult {
        let out = arg_out(out, "out")?;
        if count == 0 {
            return Err(FfiError::invalid(
                "`count` is 0: a layered store needs at least one layer",
            ));
        }
        if layers.is_null() {
            return Err(FfiError::null("layers"));
        }
        if count > isize::MAX as usize / std::mem::size_of::<*mut pcs_store>() {
            return Err(FfiError::invalid(format!(
                "`count` {count} exceeds the address space"
            )));
        }
        // SAFETY: non-NULL, valid for `count` pointers (contract), size checked above.
        let handles = unsafe { std::slice::from_raw_parts(layers, count) };
        let mut stack = Vec::with_capacity(count);
        for (index, handle) in handles.iter().enumerate() {
            // SAFETY: each non-NULL layer is a live store handle (contract).
            let layer = unsafe { pcs_store::borrow(*handle) }.ok_or_else(|| {
                FfiError::new(
                    pcs_result::PCS_ERR_NULL_ARGUMENT,
                    format!("`layers[{index}]` is NULL"),
                )
            })?;
            stack.push(Arc::clone(layer));
        }
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, Arc::new(LayeredPipelineCache::new(stack))) }
    })
}

/// Adds one reference to `store` (the same pointer stays valid until every reference is
/// released). NULL is a no-op. Thread-safe.
///
/// # Safety
/// `store` is NULL or a live store handle.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_retain(store: *mut pcs_store) {
    super::ffi_boundary!("pcs_store_retain", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_store::retain(store) }
    });
}

/// Gives back one reference to `store`; the last one closes the store (pending disk writes
/// are not flushed by closing: call `pcs_flush` first to make them durable). Blobs obtained
/// from it stay valid. NULL is a no-op. Thread-safe.
///
/// # Safety
/// `store` is NULL or a reference the caller owns and never uses again.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_release(store: *mut pcs_store) {
    super::ffi_boundary!("pcs_store_release", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_store::release(store) }
    });
}

/// Stores a copy of the `len` bytes at `data` under `*key` (replacing any blob stored there).
/// `data` may be NULL when `len` is 0 (an empty blob is a valid value). The bytes are copied
/// before the call returns; the caller keeps ownership of `data`.
///
/// `PCS_OK` means accepted: visible to gets in this process from now on, made durable by the
/// next successful `pcs_flush`. Otherwise nothing was stored: `PCS_ERR_TOO_LARGE` (larger than
/// the store ever holds), `PCS_ERR_UNSUPPORTED` (read-only store, or the store dropped the
/// put, e.g. a full upload queue), `PCS_ERR_IO` (writing failed), `PCS_ERR_NULL_ARGUMENT`.
/// Never blocks on fsync or the network. Thread-safe.
///
/// # Safety
/// `store` is a live store handle; `key` is valid for reads; `data` for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_put(
    store: *mut pcs_store,
    key: *const pcs_fingerprint,
    data: *const c_void,
    len: usize,
) -> pcs_result {
    super::ffi_boundary!("pcs_put", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, key, bytes) = unsafe {
            (
                pcs_store::arg(store, "store")?,
                arg_key(key)?,
                arg_bytes(data, len, "data")?,
            )
        };
        store.try_put(*key, bytes.to_vec()).map_err(put_error)?;
        Ok(pcs_result::PCS_OK)
    })
}

/// The result code and message of a refused put.
fn put_error(error: PutError) -> FfiError {
    let code = match &error {
        PutError::TooLarge { .. } => pcs_result::PCS_ERR_TOO_LARGE,
        // A dropped put (full queue, disabled store) is, like read-only, a store that cannot
        // take the blob now; nothing is broken and retrying later may work.
        PutError::ReadOnly | PutError::Dropped(_) => pcs_result::PCS_ERR_UNSUPPORTED,
        PutError::Io(_) => pcs_result::PCS_ERR_IO,
    };
    FfiError::new(code, error.to_string())
}

/// Copies the blob stored under `*key` into `buf` — the `vkGetPipelineCacheData` idiom.
///
/// - `buf == NULL`: writes the blob's size to `*len`, returns `PCS_OK`;
/// - `*len` >= the size: copies the blob, writes its size to `*len`, returns `PCS_OK`;
/// - `*len` < the size: writes nothing to `buf`, writes the size needed to `*len`, returns
///   `PCS_ERR_BUFFER_TOO_SMALL`;
/// - nothing stored: returns `PCS_MISS`, `*len` untouched.
///
/// Each call is one lookup: the blob may change between a size query and the copy (then the
/// copy returns `PCS_ERR_BUFFER_TOO_SMALL` with the new size). `pcs_get_blob` needs one lookup
/// and no copy. Thread-safe.
///
/// # Safety
/// `store` is a live store handle; `key` is valid for reads; `len` is valid for reads and
/// writes; `buf`, when not NULL, is valid for writes of `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_get(
    store: *mut pcs_store,
    key: *const pcs_fingerprint,
    buf: *mut c_void,
    len: *mut usize,
) -> pcs_result {
    super::ffi_boundary!("pcs_get", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, key, len) = unsafe {
            (
                pcs_store::arg(store, "store")?,
                arg_key(key)?,
                arg_out(len, "len")?,
            )
        };
        let Some(blob) = store.get_arc(key) else {
            return Ok(pcs_result::PCS_MISS);
        };
        if buf.is_null() {
            // SAFETY: `len` is non-NULL and valid for a write (contract).
            unsafe { len.write(blob.len()) };
            return Ok(pcs_result::PCS_OK);
        }
        // SAFETY: `len` is non-NULL and valid for a read (contract).
        let capacity = unsafe { len.read() };
        // SAFETY: `len` is valid for a write; `buf` for `capacity >= blob.len()` bytes, and it
        // cannot overlap the store's own copy of the blob.
        unsafe {
            len.write(blob.len());
            if capacity < blob.len() {
                return Err(FfiError::new(
                    pcs_result::PCS_ERR_BUFFER_TOO_SMALL,
                    format!("the blob is {} bytes, the buffer {capacity}", blob.len()),
                ));
            }
            std::ptr::copy_nonoverlapping(blob.as_ptr(), buf.cast::<u8>(), blob.len());
        }
        Ok(pcs_result::PCS_OK)
    })
}

/// Looks `*key` up without copying: on a hit writes a new blob reference to `*out` (read it
/// with `pcs_blob_data`/`pcs_blob_size`, give it back with `pcs_blob_release`). The bytes stay
/// valid and unchanged until released, whatever the store evicts or overwrites meanwhile, and
/// even after the store is released.
///
/// Returns `PCS_OK`; `PCS_MISS` (nothing stored; `*out` untouched); `PCS_ERR_NULL_ARGUMENT`.
/// Thread-safe.
///
/// # Safety
/// `store` is a live store handle; `key` is valid for reads; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_get_blob(
    store: *mut pcs_store,
    key: *const pcs_fingerprint,
    out: *mut *mut pcs_blob,
) -> pcs_result {
    super::ffi_boundary!("pcs_get_blob", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, key, out) = unsafe {
            (
                pcs_store::arg(store, "store")?,
                arg_key(key)?,
                arg_out(out, "out")?,
            )
        };
        let Some(blob) = store.get_arc(key) else {
            return Ok(pcs_result::PCS_MISS);
        };
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(pcs_blob::into_handle(blob).cast_mut()) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Makes every put accepted before this call durable (fsync on disk tiers, upload on remote
/// ones); a no-op for memory-only stores. May block on I/O: call it from a loading or
/// background thread, e.g. after a level loads and at shutdown.
///
/// Returns `PCS_OK`; `PCS_ERR_IO` (some accepted puts may not be durable; the message says
/// why); `PCS_ERR_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `store` is a live store handle.
#[no_mangle]
pub unsafe extern "C" fn pcs_flush(store: *mut pcs_store) -> pcs_result {
    super::ffi_boundary!("pcs_flush", || -> FfiResult {
        // SAFETY: forwarded contract.
        let store = unsafe { pcs_store::arg(store, "store") }?;
        store
            .flush()
            .map_err(|error| FfiError::new(pcs_result::PCS_ERR_IO, error.to_string()))?;
        Ok(pcs_result::PCS_OK)
    })
}

/// Borrows the store behind a handle for the other ffi files.
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` when `store` is NULL.
///
/// # Safety
/// `store` is NULL or a live store handle for `'a`.
pub(crate) unsafe fn arg_store<'a>(
    store: *mut pcs_store,
) -> Result<&'a Arc<dyn PipelineCacheStore>, FfiError> {
    // SAFETY: forwarded contract.
    unsafe { pcs_store::arg(store, "store") }
}
