//! `pcs_get_vk_api` in a library built without the `vulkan` feature: the `pcs_api` table keeps
//! its layout whatever the features, and this entry says the adapter is missing.

use super::handles::arg_out;
use super::result::{pcs_result, FfiError, FfiResult};

/// The Vulkan functions' table; never handed out by this build.
#[allow(non_camel_case_types)]
pub struct pcs_vk_api {
    _opaque: [u8; 0],
}

/// Always `PCS_ERR_UNSUPPORTED` (or `PCS_ERR_NULL_ARGUMENT` for a NULL `out`): this library
/// was built without its Vulkan adapter. `*out` is never written. Thread-safe.
///
/// # Safety
/// None beyond the signature: `out` is only checked for NULL.
#[no_mangle]
pub unsafe extern "C" fn pcs_get_vk_api(
    abi_version: u32,
    out: *mut *const pcs_vk_api,
) -> pcs_result {
    super::ffi_boundary!("pcs_get_vk_api", || -> FfiResult {
        arg_out(out, "out")?;
        super::version::check_requested_abi(abi_version)?;
        Err(FfiError::new(
            pcs_result::PCS_ERR_UNSUPPORTED,
            "this libpcstore was built without the `vulkan` feature",
        ))
    })
}
