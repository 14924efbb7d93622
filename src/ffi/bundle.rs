//! Read-only bundle stores: `pcs_store_open_bundle`.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use super::handles::{arg_out, read_extensible, Extensible};
use super::result::{pcs_result, FfiError, FfiResult};
use super::store::{give_store, pcs_store};
use crate::bundle::{BundleError, BundleOptions, BundleStore};

/// Options of `pcs_store_open_bundle`. Extensible: zero it, set `struct_size =
/// sizeof(pcs_bundle_options)`, then set what you need; 0 in any field means its default.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_bundle_options {
    /// `sizeof(pcs_bundle_options)` as the caller was compiled.
    pub struct_size: usize,
    /// Largest entry served (what one lookup may allocate); larger entries are misses and the
    /// rest of the bundle still serves. 0 = 64 MiB.
    pub max_entry_bytes: u64,
    /// 1: `public_key` holds the studio's Ed25519 public key, and only bundles signed with it
    /// open (unsigned ones, ones signed by another key and ones whose signature fails are
    /// refused). 0: no key; unsigned bundles open, and signed ones only if their signature
    /// verifies against the key they carry. Other values are refused.
    pub has_public_key: u32,
    /// The 32-byte Ed25519 public key, read when `has_public_key` is 1.
    pub public_key: [u8; 32],
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers and an array of them.
unsafe impl Extensible for pcs_bundle_options {
    /// Frozen: the size of version 1 of the struct, whatever fields are appended later.
    const MIN_SIZE: usize = 56;
}

impl pcs_bundle_options {
    /// The core options these stand for (zero fields take the core's defaults).
    fn to_core(self) -> Result<BundleOptions, FfiError> {
        let defaults = BundleOptions::default();
        let public_key = match self.has_public_key {
            0 => None,
            1 => Some(self.public_key),
            other => {
                return Err(FfiError::invalid(format!(
                    "`opts->has_public_key` is {other}; use 0 or 1"
                )))
            }
        };
        Ok(BundleOptions {
            public_key,
            max_entry_bytes: if self.max_entry_bytes == 0 {
                defaults.max_entry_bytes
            } else {
                self.max_entry_bytes
            },
        })
    }
}

/// The result code and message of a bundle that could not open.
fn open_error(path: &str, error: BundleError) -> FfiError {
    let code = match &error {
        BundleError::Io { .. } => pcs_result::PCS_ERR_IO,
        BundleError::InvalidPublicKey => pcs_result::PCS_ERR_INVALID_ARGUMENT,
        BundleError::UnsupportedVersion { .. } => pcs_result::PCS_ERR_UNSUPPORTED,
        _ => pcs_result::PCS_ERR_CORRUPT,
    };
    FfiError::new(code, format!("{path}: {error}"))
}

/// Opens the bundle file at `path` (UTF-8, NUL-terminated) as a read-only store into `*out`:
/// a game's shipped, prebuilt pipeline caches, to stack under the disk store with
/// `pcs_store_open_layered`. `opts` may be NULL for the defaults (no key required).
///
/// Opening reads and checks the header, the index and the signature (not the payloads); a bad
/// bundle is refused here with a reason in `pcs_last_error`, never handed out. Every lookup
/// checks its payload's BLAKE3: a payload damaged on disk is a miss (counted in
/// `corrupt_dropped`), never bytes the driver sees. Puts return `PCS_ERR_UNSUPPORTED`;
/// `pcs_flush` succeeds and does nothing. Layered under other stores, a bundle hit is copied
/// into every faster layer (disk included): `pcs_store_open_layered` has no promotion policy.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` (`path` or `out` NULL); `PCS_ERR_INVALID_ARGUMENT`
/// (`path` empty or not UTF-8, bad `struct_size` or `has_public_key`, a `public_key` that is
/// not a valid Ed25519 key); `PCS_ERR_ABI_MISMATCH` (unknown fields set); `PCS_ERR_IO` (the
/// file cannot be opened or read, or is not a regular file); `PCS_ERR_CORRUPT` (not a bundle,
/// truncated, damaged, unsigned when a key is required, signed by another key, or a signature
/// that does not verify); `PCS_ERR_UNSUPPORTED` (a bundle format version this library does not
/// read). `*out` is written only on success. Blocks on file I/O (two reads): call it at
/// start-up or from a loading thread.
///
/// # Safety
/// `path` is a NUL-terminated string; `opts` is NULL or valid for reads of `opts->struct_size`
/// bytes; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_store_open_bundle(
    path: *const c_char,
    opts: *const pcs_bundle_options,
    out: *mut *mut pcs_store,
) -> pcs_result {
    super::ffi_boundary!("pcs_store_open_bundle", || -> FfiResult {
        let out = arg_out(out, "out")?;
        if path.is_null() {
            return Err(FfiError::null("path"));
        }
        // SAFETY: `path` is a NUL-terminated string (contract).
        let path = unsafe { CStr::from_ptr(path) }
            .to_str()
            .map_err(|error| FfiError::invalid(format!("`path` is not UTF-8: {error}")))?;
        if path.is_empty() {
            return Err(FfiError::invalid("`path` is empty"));
        }
        let options = if opts.is_null() {
            BundleOptions::default()
        } else {
            // SAFETY: forwarded contract.
            unsafe { read_extensible(opts, "opts") }?.to_core()?
        };
        let bundle = BundleStore::open_with_options(path, options)
            .map_err(|error| open_error(path, error))?;
        // SAFETY: `out` was checked non-NULL and is valid for a write (contract).
        unsafe { give_store(out, Arc::new(bundle)) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_one_of_the_options_is_56_bytes() {
        // MIN_SIZE is what callers built against version 1 pass: it must never change, and
        // until a field is appended it is the struct's size.
        assert_eq!(std::mem::size_of::<pcs_bundle_options>(), 56);
        assert_eq!(std::mem::offset_of!(pcs_bundle_options, public_key), 20);
    }

    #[test]
    fn options_map_to_the_core_and_bad_flags_are_refused() {
        let mut opts = pcs_bundle_options {
            struct_size: std::mem::size_of::<pcs_bundle_options>(),
            max_entry_bytes: 0,
            has_public_key: 0,
            public_key: [9; 32],
        };
        assert_eq!(opts.to_core().unwrap(), BundleOptions::default());
        opts.has_public_key = 1;
        opts.max_entry_bytes = 77;
        let core = opts.to_core().unwrap();
        assert_eq!((core.public_key, core.max_entry_bytes), (Some([9; 32]), 77));
        opts.has_public_key = 2;
        assert_eq!(
            opts.to_core().unwrap_err().code,
            pcs_result::PCS_ERR_INVALID_ARGUMENT
        );
    }
}
