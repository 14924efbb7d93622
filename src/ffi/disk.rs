//! Disk-backed stores: `pcs_store_open_disk` and `pcs_store_open_default`.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use super::handles::{arg_out, read_extensible, version_1_size, Extensible};
use super::result::{pcs_result, FfiError, FfiResult};
use super::store::{give_store, pcs_store};
use crate::config::{self, DefaultStoreError, Settings, StorePlan, Vars};
use crate::disk::{DiskCache, DiskCacheError, DiskCacheOptions};

/// Options of `pcs_store_open_disk`. Extensible: zero it, set `struct_size =
/// sizeof(pcs_disk_options)`, then set what you need; 0 in any field means its default.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_disk_options {
    /// `sizeof(pcs_disk_options)` as the caller was compiled.
    pub struct_size: usize,
    /// Budget of bytes on disk; over it, least recently used entries are evicted down to half.
    /// 0 = 1 GiB.
    pub max_bytes: u64,
    /// Largest blob accepted (also capped at `max_bytes / 4`); larger puts return
    /// `PCS_ERR_TOO_LARGE`. 0 = 64 MiB.
    pub max_entry_bytes: u64,
    /// 1: never write (puts return `PCS_ERR_UNSUPPORTED`, nothing on disk changes); 0: read
    /// and write. Other values are refused.
    pub read_only: u32,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for pcs_disk_options {
    const MIN_SIZE: usize = version_1_size!(pcs_disk_options, read_only, lp64 = 32);
}

impl pcs_disk_options {
    /// The core options these stand for (zero fields take the core's defaults).
    fn to_core(self) -> Result<DiskCacheOptions, FfiError> {
        let defaults = DiskCacheOptions::default();
        let read_only = match self.read_only {
            0 => false,
            1 => true,
            other => {
                return Err(FfiError::invalid(format!(
                    "`opts->read_only` is {other}; use 0 or 1"
                )))
            }
        };
        Ok(DiskCacheOptions {
            max_bytes: if self.max_bytes == 0 {
                defaults.max_bytes
            } else {
                self.max_bytes
            },
            max_entry_bytes: if self.max_entry_bytes == 0 {
                defaults.max_entry_bytes
            } else {
                self.max_entry_bytes
            },
            read_only,
            ..defaults
        })
    }
}

/// The result code and message of a disk store that could not open.
fn open_error(error: DiskCacheError) -> FfiError {
    let code = match &error {
        DiskCacheError::ReadOnly => pcs_result::PCS_ERR_UNSUPPORTED,
        DiskCacheError::Io { .. }
        | DiskCacheError::NoCacheDirectory
        | DiskCacheError::DirectoryChanged { .. }
        | DiskCacheError::DirectoryRefused { .. } => pcs_result::PCS_ERR_IO,
    };
    FfiError::new(code, error.to_string())
}

/// Opens the disk store in directory `dir` (UTF-8, NUL-terminated; created with mode 0700 if
/// missing unless read-only) into `*out`. Several processes may open the same directory at
/// once; each sees the others' flushed puts. `opts` may be NULL for the defaults. Opening
/// repairs what crashes left behind and never fails because of damaged contents.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` (`dir` or `out` NULL); `PCS_ERR_INVALID_ARGUMENT`
/// (`dir` empty or not UTF-8, bad `struct_size` or `read_only`); `PCS_ERR_ABI_MISMATCH`
/// (unknown fields set); `PCS_ERR_IO` (the directory cannot be created or listed). `*out` is
/// written only on success. Blocks on file I/O: call it at start-up or from a loading thread.
///
/// # Safety
/// `dir` is a NUL-terminated string; `opts` is NULL or valid for reads of `opts->struct_size`
/// bytes; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_disk(
    dir: *const c_char,
    opts: *const pcs_disk_options,
    out: *mut *mut pcs_store,
) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_disk", || -> FfiResult {
        let out = arg_out(out, "out")?;
        if dir.is_null() {
            return Err(FfiError::null("dir"));
        }
        // SAFETY: `dir` is a NUL-terminated string (contract).
        let dir = unsafe { CStr::from_ptr(dir) }
            .to_str()
            .map_err(|error| FfiError::invalid(format!("`dir` is not UTF-8: {error}")))?;
        if dir.is_empty() {
            return Err(FfiError::invalid("`dir` is empty"));
        }
        let options = if opts.is_null() {
            DiskCacheOptions::default()
        } else {
            // SAFETY: forwarded contract.
            unsafe { read_extensible(opts, "opts") }?.to_core()?
        };
        let disk = DiskCache::with_options(dir, options).map_err(open_error)?;
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, Arc::new(disk)) }
    })
}

/// Opens the store most engines want into `*out`: a memory tier over the per-user disk store,
/// over a shared remote cache when one is named, configured from the environment exactly as the
/// Vulkan layer is (README.md, "Configuration"; empty variables count as unset):
/// - `PCSTORE_DIR`: the disk directory (default `$XDG_CACHE_HOME/pcstore`, else
///   `$HOME/.cache/pcstore`);
/// - `PCSTORE_MAX_SIZE`: the disk budget, a size above 0 such as `1073741824`, `512M` or
///   `2 GiB` (K, M, G or T, binary, any case, optionally followed by `iB` or `B`; default
///   1 GiB). The memory tier holds up to 65,536 entries and 256 MiB or this budget, if smaller;
/// - `PCSTORE_DISABLE`: a boolean (`1`, `true`, `yes`, `on` / `0`, `false`, `no`, `off`, any
///   case); when on, the store is the memory tier alone and nothing persists (to rule the caches
///   out while debugging);
/// - `PCSTORE_REMOTE_URL`: a Bazel-layout HTTP cache added as the slowest layer (with
///   `PCSTORE_REMOTE_TOKEN`, `PCSTORE_REMOTE_KEY` and the boolean `PCSTORE_REMOTE_READ_ONLY`;
///   see `pcs_store_open_remote`). Ignored with `PCSTORE_DISABLE`. It answers in the
///   background: a lookup waits for it at most 20 ms (a later hit is copied into memory and onto
///   disk), `pcs_flush` makes the disk durable and waits at most 15 ms for uploads (their
///   failures are in the remote tier's metrics, not in `pcs_flush`'s result), and a server found
///   dead is remembered for the breaker's cooldown in `remote-<16 hex>.state` in the disk
///   directory.
///
/// A disk store that cannot be used (no directory can be derived from the environment, or it
/// cannot be created or opened) is left out rather than failing the call: the store opens with
/// the memory tier (and the remote tier, if named), nothing is kept on this machine, and one
/// line starting `pcstore:` on stderr says why (once per process). A game keeps running without
/// its cache.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` (a variable above does
/// not parse, or `PCSTORE_REMOTE_URL` is not a usable URL; the message names the variable and,
/// unless it is a secret, its value: a bad value is never ignored silently);
/// `PCS_ERR_UNSUPPORTED` (`PCSTORE_REMOTE_URL` is set in a library built without the remote
/// tier); `PCS_ERR_IO` (the remote tier's upload thread could not start). `*out` is written
/// only on success. Blocks on file I/O like `pcs_store_open_disk`. Reads the environment: do
/// not call it while another thread calls `setenv`.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_default(out: *mut *mut pcs_store) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_default", || -> FfiResult {
        let out = arg_out(out, "out")?;
        let opened = default_store_plan(&config::process_env)?
            .open()
            .map_err(default_store_error)?;
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, opened.store) }
    })
}

/// What `pcs_store_open_default` opens given the variables `vars`: a variable that does not
/// parse is an error, never a silent default.
pub(crate) fn default_store_plan(vars: Vars) -> Result<StorePlan, FfiError> {
    let settings =
        Settings::from_vars(vars).map_err(|error| FfiError::invalid(error.to_string()))?;
    let plan = StorePlan::new(&settings);
    // A Vulkan store: compaction evicts the entries of a driver updated away first.
    #[cfg(feature = "vulkan")]
    let plan = plan.with_stale_entries(crate::vulkan::StaleIdentities::hook());
    Ok(plan)
}

/// The result code and message of a default store that could not open.
fn default_store_error(error: DefaultStoreError) -> FfiError {
    match error {
        #[cfg(feature = "remote")]
        DefaultStoreError::Remote(remote) => {
            let FfiError { code, message } = super::remote::open_error(remote);
            FfiError::new(code, format!("PCSTORE_REMOTE_URL: {message}"))
        }
        #[cfg(not(feature = "remote"))]
        error @ DefaultStoreError::RemoteNotBuilt => {
            FfiError::new(pcs_result::PCS_ERR_UNSUPPORTED, error.to_string())
        }
    }
}
