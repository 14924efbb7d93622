//! Disk-backed stores: `pcs_store_open_disk` and `pcs_store_open_default`.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use super::handles::{arg_out, read_extensible, version_1_size, Extensible};
use super::result::{pcs_result, FfiError, FfiResult};
use super::store::{give_store, pcs_store};
use crate::disk::{user_cache_dir, DiskCache, DiskCacheError, DiskCacheOptions};
use crate::layered::LayeredPipelineCache;
use crate::memory::InMemoryPipelineCache;
use crate::store::PipelineCacheStore;

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
        })
    }
}

/// The result code and message of a disk store that could not open.
fn open_error(error: DiskCacheError) -> FfiError {
    let code = match &error {
        DiskCacheError::ReadOnly => pcs_result::PCS_ERR_UNSUPPORTED,
        DiskCacheError::Io { .. }
        | DiskCacheError::NoCacheDirectory
        | DiskCacheError::DirectoryChanged { .. } => pcs_result::PCS_ERR_IO,
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

/// Parses `PCSTORE_MAX_SIZE`: a positive byte count with an optional K, M or G suffix
/// (powers of 1024, either case), e.g. `512M`.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let count: u64 = digits.parse().ok()?;
    if count == 0 {
        return None;
    }
    count.checked_mul(1u64 << shift)
}

/// Whether an environment flag is on: set to anything but empty or `0`.
fn flag_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Opens the store most engines want into `*out`: a memory tier (default budgets) over the
/// per-user disk store, over a shared remote cache when one is named, configured from the
/// environment:
/// - `PCSTORE_DIR`: the disk directory (default `$XDG_CACHE_HOME/pcstore`, else
///   `$HOME/.cache/pcstore`);
/// - `PCSTORE_MAX_SIZE`: the disk budget, bytes with an optional K/M/G suffix (default 1G);
/// - `PCSTORE_DISABLE`: when set (not empty, not `0`), no disk is used at all: the store is the
///   memory tier alone and nothing persists (to rule the disk cache out while debugging);
/// - `PCSTORE_REMOTE_URL`: a Bazel-layout HTTP cache added as the slowest layer (with
///   `PCSTORE_REMOTE_TOKEN`, `PCSTORE_REMOTE_KEY`, `PCSTORE_REMOTE_READ_ONLY`; see
///   `pcs_store_open_remote`). Ignored with `PCSTORE_DISABLE`; `PCS_ERR_UNSUPPORTED` when set in
///   a library built without the remote tier.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` (`PCSTORE_MAX_SIZE` is
/// not a size, or `PCSTORE_REMOTE_URL` is not a usable URL: never ignored silently);
/// `PCS_ERR_IO` (no directory can be derived from the environment, or it cannot be created). Blocks on file I/O like `pcs_store_open_disk`.
/// Reads the environment: do not call it while another thread calls `setenv`.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_default(out: *mut *mut pcs_store) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_default", || -> FfiResult {
        let out = arg_out(out, "out")?;
        let memory: Arc<dyn PipelineCacheStore> = Arc::new(InMemoryPipelineCache::new());
        if flag_is_set("PCSTORE_DISABLE") {
            // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
            return unsafe { give_store(out, memory) };
        }
        let mut options = DiskCacheOptions::default();
        if let Some(size) = std::env::var_os("PCSTORE_MAX_SIZE").filter(|v| !v.is_empty()) {
            let text = size.to_string_lossy();
            options.max_bytes = parse_size(&text).ok_or_else(|| {
                FfiError::invalid(format!(
                    "PCSTORE_MAX_SIZE={text:?} is not a size (e.g. 1073741824, 512M, 2G)"
                ))
            })?;
        }
        let dir = user_cache_dir().ok_or_else(|| open_error(DiskCacheError::NoCacheDirectory))?;
        let disk: Arc<dyn PipelineCacheStore> =
            Arc::new(DiskCache::with_options(dir, options).map_err(open_error)?);
        let mut layers = vec![memory, disk];
        if let Some(remote) = remote_from_env()? {
            layers.push(remote);
        }
        let stack = LayeredPipelineCache::new(layers);
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, Arc::new(stack)) }
    })
}

/// The remote tier `PCSTORE_REMOTE_URL` names, if any.
#[cfg(feature = "remote")]
fn remote_from_env() -> Result<Option<Arc<dyn PipelineCacheStore>>, FfiError> {
    let remote = crate::remote::RemoteCache::from_env().map_err(super::remote::open_error)?;
    Ok(remote.map(|remote| Arc::new(remote) as Arc<dyn PipelineCacheStore>))
}

/// Without the remote tier a named remote cache is an error, not silently ignored.
#[cfg(not(feature = "remote"))]
fn remote_from_env() -> Result<Option<Arc<dyn PipelineCacheStore>>, FfiError> {
    match std::env::var_os("PCSTORE_REMOTE_URL") {
        Some(url) if !url.is_empty() => Err(FfiError::new(
            pcs_result::PCS_ERR_UNSUPPORTED,
            "PCSTORE_REMOTE_URL is set but this libpcstore was built without the `remote` feature",
        )),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size(" 2G "), Some(2 << 30));
        for bad in [
            "",
            "0",
            "G",
            "-1",
            "1.5G",
            "12T",
            "1GB",
            "99999999999999999999G",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
