//! The C ABI (`libpcstore`): the only place in the crate with `extern "C"` functions.
//!
//! Rules every exported function follows:
//! - its body runs inside `ffi_boundary!`, so a Rust panic never unwinds into the host: the
//!   function returns [`pcs_result::PCS_ERR_PANIC`] (or its type's neutral value) instead;
//! - NULL where a pointer is required gives [`pcs_result::PCS_ERR_NULL_ARGUMENT`], never a crash;
//! - out-parameters are written only on success (and `*len` on `PCS_ERR_BUFFER_TOO_SMALL`);
//! - a failure leaves a detail message in this thread's last-error slot ([`pcs_last_error`]).
//!
//! Files by concept: `result` (codes and the last error), `handles` (how Rust values become C
//! pointers and back), `logging` (pcstore's messages to a C callback), then one file per public
//! concept. `include/pcstore.h` is generated from
//! these files by `scripts/gen-header.sh`; the doc comments here are the header's comments.

/// Runs an exported function's body with panics caught, so none unwinds across the C boundary.
///
/// `ffi_boundary!("pcs_name", || -> ReturnType { body })`: the body's value is turned into the C
/// return value by [`result::BoundaryOutcome`] (an `Err` records its message, prefixed with the
/// function name, in the thread's last error); a panic records its message and returns the
/// type's panic value (`PCS_ERR_PANIC` for results).
///
/// `AssertUnwindSafe`: a panic can only leave a store's own state half-updated, and the tiers
/// use non-poisoning `parking_lot` locks and memory safety does not depend on their invariants,
/// so after `PCS_ERR_PANIC` the handle stays safe to use; only the failed call's effect is
/// unknown. Catching needs `panic = "unwind"` (the default; Cargo.toml's profiles keep it): with
/// `panic = "abort"` a bug aborts the process instead of returning `PCS_ERR_PANIC`.
macro_rules! ffi_boundary {
    ($name:literal, $body:expr) => {{
        let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe($body));
        $crate::ffi::result::conclude($name, outcome)
    }};
}
pub(crate) use ffi_boundary;

mod api_table;
mod blob;
mod bundle;
mod disk;
mod fingerprint;
mod handles;
mod logging;
mod metrics;
mod remote;
mod result;
mod store;
mod version;
// The Vulkan functions get their own header (include/pcstore_vulkan.h, generated from
// vulkan.rs alone); `cbindgen:ignore` keeps them out of pcstore.h.
/// cbindgen:ignore
#[cfg(feature = "vulkan")]
mod vulkan;
/// cbindgen:ignore
#[cfg(not(feature = "vulkan"))]
#[path = "vulkan_absent.rs"]
mod vulkan;

pub use api_table::{pcs_api, pcs_get_api};
pub use blob::{pcs_blob, pcs_blob_data, pcs_blob_release, pcs_blob_retain, pcs_blob_size};
pub use bundle::{pcs_bundle_options, pcs_store_open_bundle};
#[cfg(all(test, feature = "layer"))]
pub(crate) use disk::default_store_plan;
pub use disk::{pcs_disk_options, pcs_store_open_default, pcs_store_open_disk};
pub use fingerprint::{
    pcs_device_identity, pcs_fingerprint, pcs_fingerprint_of, pcs_fingerprint_scoped, pcs_hasher,
    pcs_hasher_finish, pcs_hasher_free, pcs_hasher_new, pcs_hasher_part,
};
pub use logging::{pcs_log_callback, pcs_log_level, pcs_set_log_callback};
pub use metrics::{pcs_cache_metrics, pcs_latency_summary, pcs_metrics};
pub use remote::{pcs_remote_options, pcs_store_open_remote};
pub use result::{pcs_last_error, pcs_result, pcs_result_str};
pub use store::{
    pcs_flush, pcs_get, pcs_get_blob, pcs_memory_options, pcs_put, pcs_store,
    pcs_store_open_layered, pcs_store_open_memory, pcs_store_release, pcs_store_retain,
};
pub use version::{
    pcs_abi_version, pcs_version, PCS_ABI_VERSION, PCS_VERSION_MAJOR, PCS_VERSION_MINOR,
    PCS_VERSION_PATCH,
};
pub use vulkan::{pcs_get_vk_api, pcs_vk_api};
#[cfg(feature = "vulkan")]
pub use vulkan::{
    pcs_vk_context, pcs_vk_context_create, pcs_vk_context_flush, pcs_vk_context_metrics,
    pcs_vk_context_release, pcs_vk_device_info, pcs_vk_load_info, pcs_vk_load_outcome,
    pcs_vk_load_outcome_str, pcs_vk_load_pipeline_cache, pcs_vk_merge_pipeline_caches,
    pcs_vk_metrics, pcs_vk_rejection, pcs_vk_rejection_str, pcs_vk_save_info, pcs_vk_save_outcome,
    pcs_vk_save_outcome_str, pcs_vk_save_pipeline_cache, pcs_vk_stored_key,
    PCS_VK_ENVELOPE_HEADER_LEN,
};
#[cfg(feature = "vulkan")]
pub use vulkan::{
    pcs_vk_recipe_application_key, pcs_vk_recipe_record_compute_pipelines,
    pcs_vk_recipe_record_descriptor_set_layout, pcs_vk_recipe_record_graphics_pipelines,
    pcs_vk_recipe_record_pipeline_layout, pcs_vk_recipe_record_render_pass,
    pcs_vk_recipe_record_render_pass2, pcs_vk_recipe_record_sampler,
    pcs_vk_recipe_record_shader_module, pcs_vk_recipe_recorder, pcs_vk_recipe_recorder_create,
    pcs_vk_recipe_recorder_flush, pcs_vk_recipe_recorder_info, pcs_vk_recipe_recorder_release,
    pcs_vk_recipe_replay, pcs_vk_replay_progress_fn, pcs_vk_replay_summary,
};

#[cfg(test)]
mod tests;
