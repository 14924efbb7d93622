//! Library and ABI versions. The constants become `#define`s in `include/pcstore.h`;
//! `tests/ffi_version.rs` checks them against `Cargo.toml` and the functions, and the ABI
//! history below against the function tables in the headers.

use std::ffi::c_char;

use super::result::{pcs_result, FfiError};

/// The crate's major version (`Cargo.toml`).
pub const PCS_VERSION_MAJOR: u32 = 0;
/// The crate's minor version (`Cargo.toml`).
pub const PCS_VERSION_MINOR: u32 = 1;
/// The crate's patch version (`Cargo.toml`).
pub const PCS_VERSION_PATCH: u32 = 0;

/// The C ABI's version: raised by one whenever functions, `pcs_api` entries, struct fields or
/// result codes are appended. Nothing published is ever removed or changed within one SONAME
/// (`libpcstore.so.0`); a breaking change would get a new SONAME instead.
///
/// History, with each version's `pcs_api` entries in table order:
/// - 1, the first ABI: `pcs_get_api` and its table: versions and errors (`pcs_abi_version`,
///   `pcs_version`, `pcs_result_str`, `pcs_last_error`); keys (`pcs_fingerprint_of`,
///   `pcs_fingerprint_scoped`, `pcs_hasher_new`, `pcs_hasher_part`, `pcs_hasher_finish`,
///   `pcs_hasher_free`); memory and layered stores (`pcs_store_open_memory`,
///   `pcs_store_open_layered`, `pcs_store_retain`, `pcs_store_release`); values (`pcs_put`,
///   `pcs_get`, `pcs_get_blob`, `pcs_blob_data`, `pcs_blob_size`, `pcs_blob_retain`,
///   `pcs_blob_release`, `pcs_flush`, `pcs_metrics`); the disk tier (`pcs_store_open_disk`,
///   `pcs_store_open_default`); the remote tier (`pcs_store_open_remote`); the Vulkan adapter
///   (`pcs_get_vk_api`, whose `pcs_vk_api` table holds `pcs_vk_context_create`,
///   `pcs_vk_context_release`, `pcs_vk_stored_key`, `pcs_vk_load_pipeline_cache`,
///   `pcs_vk_save_pipeline_cache`, `pcs_vk_merge_pipeline_caches`, `pcs_vk_context_metrics`);
///   bundles (`pcs_store_open_bundle`).
/// - 2, messages and durability: `pcs_api` appends `pcs_set_log_callback`; `pcs_vk_api`
///   appends `pcs_vk_load_outcome_str`, `pcs_vk_rejection_str`, `pcs_vk_save_outcome_str`,
///   `pcs_vk_context_flush`; `pcs_vk_rejection` appends `PCS_VK_REJECT_STORE_CORRUPT`; the
///   constant `PCS_VK_ENVELOPE_HEADER_LEN`. Recipes, appended to the `pcs_vk_api` table after
///   those: recording an engine's objects
///   (`pcs_vk_recipe_recorder_create`, `pcs_vk_recipe_recorder_release`,
///   `pcs_vk_recipe_record_shader_module`, `pcs_vk_recipe_record_sampler`,
///   `pcs_vk_recipe_record_descriptor_set_layout`, `pcs_vk_recipe_record_pipeline_layout`,
///   `pcs_vk_recipe_record_render_pass`, `pcs_vk_recipe_record_render_pass2`,
///   `pcs_vk_recipe_record_compute_pipelines`, `pcs_vk_recipe_record_graphics_pipelines`,
///   `pcs_vk_recipe_recorder_flush`, `pcs_vk_recipe_application_key`) and replaying in
///   process (`pcs_vk_recipe_replay`). Labels, appended after those: naming the application in
///   the label a context writes at its first save (`pcs_vk_context_set_application`).
///
/// The layer's `vkNegotiateLoaderLayerInterfaceVersion` follows the Vulkan loader's interface
/// version, not this one.
pub const PCS_ABI_VERSION: u32 = 2;

/// The ABI version of the loaded library (`PCS_ABI_VERSION` as it was built). A caller built
/// against header version N may use everything of version N when this returns >= N.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_abi_version() -> u32 {
    super::ffi_boundary!("pcs_abi_version", || -> u32 { PCS_ABI_VERSION })
}

/// The library's version as a static NUL-terminated string, e.g. `"0.1.0"`. Never NULL; lives
/// as long as the library is loaded; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_version() -> *const c_char {
    super::ffi_boundary!("pcs_version", || -> *const c_char {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Checks a caller's requested ABI version (what the `pcs_get_*api` functions take): 0 is
/// invalid, newer than this library is an ABI mismatch naming both versions.
///
/// # Errors
/// `PCS_ERR_INVALID_ARGUMENT` for 0; `PCS_ERR_ABI_MISMATCH` above [`PCS_ABI_VERSION`].
pub(crate) fn check_requested_abi(abi_version: u32) -> Result<(), FfiError> {
    if abi_version == 0 {
        return Err(FfiError::invalid(
            "ABI version 0 does not exist; pass PCS_ABI_VERSION",
        ));
    }
    if abi_version > PCS_ABI_VERSION {
        return Err(FfiError::new(
            pcs_result::PCS_ERR_ABI_MISMATCH,
            format!(
                "the caller needs ABI version {abi_version}; this libpcstore {} provides {}",
                env!("CARGO_PKG_VERSION"),
                PCS_ABI_VERSION
            ),
        ));
    }
    Ok(())
}
