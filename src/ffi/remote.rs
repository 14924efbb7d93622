//! The remote (HTTP) store: `pcs_store_open_remote`.
//!
//! Always exported, so the function table does not depend on build features: a library built
//! without the `remote` feature answers `PCS_ERR_UNSUPPORTED`.

use std::ffi::{c_char, CStr};

use super::handles::{arg_out, read_extensible, version_1_size, Extensible};
use super::result::{pcs_result, FfiError, FfiResult};
use super::store::pcs_store;

/// Options of `pcs_store_open_remote`. Extensible: zero it, set `struct_size =
/// sizeof(pcs_remote_options)`, then set what you need; 0 (or NULL) in any field means its
/// default. Times are in milliseconds.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_remote_options {
    /// `sizeof(pcs_remote_options)` as the caller was compiled.
    pub struct_size: usize,
    /// 1: never upload (puts return `PCS_ERR_UNSUPPORTED`); 0: read and write. Game clients
    /// usually read only; a build farm writes.
    pub read_only: u32,
    /// Time allowed to connect; 0 = 150 ms.
    pub connect_timeout_ms: u32,
    /// Time allowed for a whole request of an empty body; 0 = 500 ms.
    pub base_deadline_ms: u32,
    /// Extra time allowed per MiB of body; 0 = 100 ms.
    pub deadline_per_mib_ms: u32,
    /// Uploads waiting at most; a put beyond it is refused (`PCS_ERR_UNSUPPORTED`); 0 = 256.
    pub upload_queue_len: u32,
    /// How long a miss is remembered before the server is asked again; 0 = 10 s.
    pub miss_ttl_ms: u32,
    /// Bytes of uploads waiting at most; 0 = 256 MiB.
    pub upload_queue_bytes: u64,
    /// Largest blob uploaded or accepted from the server; 0 = 64 MiB.
    pub max_blob_bytes: u64,
    /// How long `pcs_flush` waits for queued uploads; 0 = 10 s.
    pub flush_deadline_ms: u32,
    /// Bearer token sent with every request (UTF-8, NUL-terminated), or NULL. HTTP Basic
    /// credentials go in the URL (`http://user:password@host/`). Never logged.
    pub bearer_token: *const c_char,
    /// Studio secret (any UTF-8 text, NUL-terminated) that keys the integrity hash of every
    /// entry, so a client without it cannot plant entries others accept; or NULL for unkeyed.
    pub secret: *const c_char,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, integers and pointers whose all-zero value (NULL)
// is valid.
unsafe impl Extensible for pcs_remote_options {
    const MIN_SIZE: usize = version_1_size!(pcs_remote_options, secret, lp64 = 72);
}

/// Opens a store on an HTTP cache server speaking the Bazel remote-cache layout
/// (`GET`/`PUT {base_url}/ac/{64 hex digits}`: bazel-remote, nginx WebDAV) into `*out`.
/// `base_url` is UTF-8 and NUL-terminated, e.g. `http://cache.studio:9090`. `opts` may be NULL
/// for the defaults overridden by `PCSTORE_REMOTE_TOKEN`, `PCSTORE_REMOTE_KEY` and
/// `PCSTORE_REMOTE_READ_ONLY`. No request is made here: a server that is down shows up as
/// misses (each bounded by the deadlines, then skipped by a circuit breaker), never as a stall.
/// Puts are queued and uploaded by a background thread; `pcs_flush` waits for them.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` (bad URL, non-UTF-8
/// string, out-of-range option, `https://` in a build without TLS, or with `opts` NULL one of
/// the variables above that does not parse); `PCS_ERR_ABI_MISMATCH`
/// (unknown fields set); `PCS_ERR_IO` (the upload thread could not start);
/// `PCS_ERR_UNSUPPORTED` (this library was built without the remote tier). `*out` is written
/// only on success.
///
/// # Safety
/// `base_url` is a NUL-terminated string; `opts` is NULL or valid for reads of
/// `opts->struct_size` bytes, and its string fields are NULL or NUL-terminated; `out` is valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_remote(
    base_url: *const c_char,
    opts: *const pcs_remote_options,
    out: *mut *mut pcs_store,
) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_remote", || -> FfiResult {
        let out = arg_out(out, "out")?;
        if base_url.is_null() {
            return Err(FfiError::null("base_url"));
        }
        // SAFETY: `base_url` is a NUL-terminated string (contract).
        let base_url = unsafe { utf8(base_url, "base_url") }?;
        let opts = if opts.is_null() {
            None
        } else {
            // SAFETY: forwarded contract.
            Some(unsafe { read_extensible(opts, "opts") }?)
        };
        // SAFETY: forwarded contract (out checked non-NULL; strings per the contract).
        unsafe { open(base_url, opts, out) }
    })
}

/// # Safety
/// `text` is a non-NULL NUL-terminated string.
unsafe fn utf8<'a>(text: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|error| FfiError::invalid(format!("`{name}` is not UTF-8: {error}")))
}

/// Opens the remote store `opts` (or the environment, without `opts`) configures and hands it
/// to `out`.
///
/// # Safety
/// `out` is non-NULL and valid for a write; every non-NULL string field of `opts` is
/// NUL-terminated.
#[cfg(feature = "remote")]
unsafe fn open(
    base_url: &str,
    opts: Option<pcs_remote_options>,
    out: *mut *mut pcs_store,
) -> FfiResult {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::remote::{RemoteAuth, RemoteCache, RemoteOptions};

    let options = match opts {
        None => RemoteOptions::from_env().map_err(open_error)?,
        Some(opts) => {
            let read_only = match opts.read_only {
                0 => false,
                1 => true,
                other => {
                    return Err(FfiError::invalid(format!(
                        "`opts->read_only` is {other}; use 0 or 1"
                    )))
                }
            };
            let mut options = RemoteOptions {
                read_only,
                ..RemoteOptions::default()
            };
            let millis = |value: u32, default: Duration| match value {
                0 => default,
                ms => Duration::from_millis(u64::from(ms)),
            };
            options.connect_timeout = millis(opts.connect_timeout_ms, options.connect_timeout);
            options.base_deadline = millis(opts.base_deadline_ms, options.base_deadline);
            options.deadline_per_mib = millis(opts.deadline_per_mib_ms, options.deadline_per_mib);
            options.miss_ttl = millis(opts.miss_ttl_ms, options.miss_ttl);
            options.flush_deadline = millis(opts.flush_deadline_ms, options.flush_deadline);
            if opts.upload_queue_len != 0 {
                options.upload_queue_len = opts.upload_queue_len as usize;
            }
            if opts.upload_queue_bytes != 0 {
                options.upload_queue_bytes = opts.upload_queue_bytes;
            }
            if opts.max_blob_bytes != 0 {
                options.max_blob_bytes = opts.max_blob_bytes;
            }
            if !opts.bearer_token.is_null() {
                // SAFETY: a non-NULL string field is NUL-terminated (contract).
                let token = unsafe { utf8(opts.bearer_token, "opts->bearer_token") }?;
                options.auth = Some(RemoteAuth::Bearer(token.to_owned()));
            }
            if !opts.secret.is_null() {
                // SAFETY: a non-NULL string field is NUL-terminated (contract).
                let secret = unsafe { utf8(opts.secret, "opts->secret") }?;
                options.secret_key = Some(RemoteOptions::secret_from_text(secret));
            }
            options
        }
    };
    let remote = RemoteCache::with_options(base_url, options).map_err(open_error)?;
    // SAFETY: `out` is non-NULL and valid for a write (caller's contract).
    unsafe { super::store::give_store(out, Arc::new(remote)) }
}

/// Refuses: this build has no remote tier.
///
/// # Safety
/// None needed (nothing is dereferenced); `unsafe` only to match the remote build's `open`.
#[cfg(not(feature = "remote"))]
unsafe fn open(
    _base_url: &str,
    _opts: Option<pcs_remote_options>,
    _out: *mut *mut pcs_store,
) -> FfiResult {
    Err(FfiError::new(
        pcs_result::PCS_ERR_UNSUPPORTED,
        "this libpcstore was built without the `remote` feature",
    ))
}

/// The result code and message of a remote store that could not open.
#[cfg(feature = "remote")]
pub(super) fn open_error(error: crate::remote::RemoteError) -> FfiError {
    use crate::remote::RemoteError;
    let code = match &error {
        RemoteError::Spawn(_) => pcs_result::PCS_ERR_IO,
        _ => pcs_result::PCS_ERR_INVALID_ARGUMENT,
    };
    FfiError::new(code, error.to_string())
}
