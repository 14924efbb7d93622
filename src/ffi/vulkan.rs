//! The Vulkan adapter's C ABI: `include/pcstore_vulkan.h` (feature `vulkan`).
//!
//! Generated into its own header by `scripts/gen-header.sh` (cbindgen with
//! `cbindgen-vulkan.toml`, parsing only this file), so `pcstore.h` stays free of Vulkan types;
//! the main `pcs_api` table reaches these functions through its `get_vk_api` entry. The Vulkan
//! handle types are ash's, which are `repr(transparent)` over the C handles.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ash::vk;

use super::fingerprint::{arg_key, pcs_fingerprint};
use super::handles::{
    arg_bytes, arg_out, arg_ref, check_extensible_out, read_extensible, version_1_size,
    write_extensible, ArcHandle, Extensible,
};
use super::metrics::pcs_latency_summary;
use super::result::{pcs_result, static_description, FfiError, FfiResult};
use super::store::{arg_store, pcs_store};
use crate::fingerprint::PipelineFingerprint;
use crate::recipe::replay::{
    replay_application_in_process, InProcessOptions, ReplayError, ReplayProgress, ReplaySummary,
};
use crate::recipe::{
    CacheTarget, DeviceRecipe, NamespaceScheme, NotRecorded, RecipeKey, RecipeRecorder,
};
use crate::vulkan::{
    DeviceInfo, LoadInfo, LoadOutcome, Rejection, SaveInfo, SaveOutcome, VulkanContext,
    VulkanError, VulkanMetrics, VulkanOptions, ENVELOPE_HEADER_LEN,
};

/// Bytes of pcstore's envelope in front of the driver's blob in every entry the Vulkan adapter
/// stores under `pcs_vk_stored_key`: an entry is `PCS_VK_ENVELOPE_HEADER_LEN` bytes of envelope
/// and then the driver's `vkGetPipelineCacheData` bytes, so tools that inspect or import
/// entries with `pcs_get` / `pcs_put` find the driver's blob at this offset. The envelope,
/// little-endian: magic `"pcsVKpc\0"` (8 bytes), format version 1 (u32), this length (u32), the
/// blob's length (u64), its BLAKE3 (32), the stored key (32), vendorID, deviceID,
/// driverVersion, driverID (u32 each), pipelineCacheUUID (16), the writer's pointer size (1),
/// zeros (7).
pub const PCS_VK_ENVELOPE_HEADER_LEN: usize = 128;

const _: () = assert!(PCS_VK_ENVELOPE_HEADER_LEN == ENVELOPE_HEADER_LEN);

/// One `VkDevice`'s view of a store: created once per device with `pcs_vk_context_create`,
/// shared by every thread.
///
/// Opaque. Thread-safe: every function taking a `pcs_vk_context *` may run concurrently from
/// any threads, except `pcs_vk_context_release`, which must not overlap any other use. The
/// context keeps its own reference to the store.
#[allow(non_camel_case_types)]
pub struct pcs_vk_context {
    _opaque: [u8; 0],
}

impl ArcHandle for pcs_vk_context {
    type Rust = VulkanContext;
}

/// The engine's Vulkan objects and the context's settings, for `pcs_vk_context_create`.
/// Extensible: zero it, set `struct_size = sizeof(pcs_vk_device_info)`, then fill it; 0 in an
/// optional field means its default. pcstore borrows the handles: it never creates or destroys
/// a Vulkan object other than the pipeline caches it hands out, and never loads libvulkan.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_vk_device_info {
    /// `sizeof(pcs_vk_device_info)` as the caller was compiled.
    pub struct_size: usize,
    /// The engine's instance.
    pub instance: vk::Instance,
    /// The physical device `device` was created from.
    pub physical_device: vk::PhysicalDevice,
    /// The engine's device; caches are created on it.
    pub device: vk::Device,
    /// The engine's `vkGetInstanceProcAddr` (system loader, volk, or its own). Device functions
    /// are resolved through the `vkGetDeviceProcAddr` it returns, so they reach the engine's
    /// layers.
    pub get_instance_proc_addr: Option<vk::PFN_vkGetInstanceProcAddr>,
    /// `VkApplicationInfo::apiVersion` the instance was created with; 0 = Vulkan 1.0. From 1.2
    /// on, driverID, driverName and driverInfo join the device identity.
    pub api_version: u32,
    /// Engine-chosen namespace (engine name, build flavour, content version), part of every
    /// stored key; may be NULL when `engine_namespace_len` is 0. Copied during the call.
    pub engine_namespace: *const u8,
    /// Bytes at `engine_namespace`.
    pub engine_namespace_len: usize,
    /// Largest driver blob loaded or saved; 0 = 64 MiB. Larger stored blobs are refused before
    /// the driver sees them; larger driver blobs are not saved.
    pub max_blob_bytes: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first; Vulkan handles are integers or raw pointers, the
// function pointer is an `Option` (all zeros is `None`), the rest integers and raw pointers.
unsafe impl Extensible for pcs_vk_device_info {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_device_info, max_blob_bytes, lp64 = 72);
}

/// How a load ended (`pcs_vk_load_info::outcome`). Every outcome comes with a usable cache;
/// only `PCS_VK_LOAD_HIT` has stored data in it.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pcs_vk_load_outcome {
    /// The stored blob passed every check and the driver accepted it.
    PCS_VK_LOAD_HIT = 0,
    /// Nothing stored under this key for this device: an empty cache.
    PCS_VK_LOAD_MISS = 1,
    /// The stored bytes were damaged (envelope, hash, length or cache header): an empty cache.
    PCS_VK_LOAD_CORRUPT = 2,
    /// The stored blob is intact but made for another device or driver build: an empty cache.
    PCS_VK_LOAD_DEVICE_MISMATCH = 3,
    /// The driver failed with the checked data (`driver_result`); an empty cache instead.
    PCS_VK_LOAD_DRIVER_REFUSED = 4,
    /// The stored blob is larger than `max_blob_bytes`: an empty cache, nothing hashed.
    PCS_VK_LOAD_TOO_LARGE = 5,
}

impl pcs_vk_load_outcome {
    /// Every value, for the string table.
    const ALL: [Self; 6] = [
        Self::PCS_VK_LOAD_HIT,
        Self::PCS_VK_LOAD_MISS,
        Self::PCS_VK_LOAD_CORRUPT,
        Self::PCS_VK_LOAD_DEVICE_MISMATCH,
        Self::PCS_VK_LOAD_DRIVER_REFUSED,
        Self::PCS_VK_LOAD_TOO_LARGE,
    ];

    fn description(self) -> &'static str {
        match self {
            Self::PCS_VK_LOAD_HIT => "PCS_VK_LOAD_HIT: the stored blob passed every check and seeds the cache\0",
            Self::PCS_VK_LOAD_MISS => "PCS_VK_LOAD_MISS: nothing stored under this key for this device\0",
            Self::PCS_VK_LOAD_CORRUPT => "PCS_VK_LOAD_CORRUPT: the stored entry was damaged; an empty cache\0",
            Self::PCS_VK_LOAD_DEVICE_MISMATCH => "PCS_VK_LOAD_DEVICE_MISMATCH: the stored blob was made for another device or driver build; an empty cache\0",
            Self::PCS_VK_LOAD_DRIVER_REFUSED => "PCS_VK_LOAD_DRIVER_REFUSED: the driver failed with the checked data; an empty cache\0",
            Self::PCS_VK_LOAD_TOO_LARGE => "PCS_VK_LOAD_TOO_LARGE: the stored blob is larger than max_blob_bytes; an empty cache\0",
        }
    }
}

impl From<LoadOutcome> for pcs_vk_load_outcome {
    fn from(outcome: LoadOutcome) -> Self {
        match outcome {
            LoadOutcome::Hit => Self::PCS_VK_LOAD_HIT,
            LoadOutcome::Miss => Self::PCS_VK_LOAD_MISS,
            LoadOutcome::Corrupt => Self::PCS_VK_LOAD_CORRUPT,
            LoadOutcome::DeviceMismatch => Self::PCS_VK_LOAD_DEVICE_MISMATCH,
            LoadOutcome::DriverRefused => Self::PCS_VK_LOAD_DRIVER_REFUSED,
            LoadOutcome::TooLarge => Self::PCS_VK_LOAD_TOO_LARGE,
        }
    }
}

/// The precise check that turned a stored blob away (`pcs_vk_load_info::rejection`).
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pcs_vk_rejection {
    /// Nothing was rejected (a hit or a miss).
    PCS_VK_REJECT_NONE = 0,
    /// Shorter than pcstore's envelope header.
    PCS_VK_REJECT_ENVELOPE_TRUNCATED = 1,
    /// Not pcstore's envelope magic.
    PCS_VK_REJECT_ENVELOPE_MAGIC = 2,
    /// An envelope format this library does not read.
    PCS_VK_REJECT_ENVELOPE_VERSION = 3,
    /// The envelope's payload length disagrees with the bytes present.
    PCS_VK_REJECT_ENVELOPE_LENGTH = 4,
    /// The payload does not match the envelope's BLAKE3.
    PCS_VK_REJECT_ENVELOPE_HASH = 5,
    /// The envelope names another key.
    PCS_VK_REJECT_ENVELOPE_KEY = 6,
    /// The envelope names another device, driver or process bitness.
    PCS_VK_REJECT_ENVELOPE_IDENTITY = 7,
    /// The payload is shorter than `VkPipelineCacheHeaderVersionOne`.
    PCS_VK_REJECT_HEADER_TRUNCATED = 8,
    /// `headerSize` below 32 or beyond the payload.
    PCS_VK_REJECT_HEADER_SIZE = 9,
    /// `headerVersion` is not `VK_PIPELINE_CACHE_HEADER_VERSION_ONE`.
    PCS_VK_REJECT_HEADER_VERSION = 10,
    /// The header's vendorID is not the device's.
    PCS_VK_REJECT_HEADER_VENDOR = 11,
    /// The header's deviceID is not the device's.
    PCS_VK_REJECT_HEADER_DEVICE = 12,
    /// The header's pipelineCacheUUID is not the device's.
    PCS_VK_REJECT_HEADER_UUID = 13,
    /// Larger than `max_blob_bytes`.
    PCS_VK_REJECT_TOO_LARGE = 14,
    /// `vkCreatePipelineCache` failed with the data (`driver_result`).
    PCS_VK_REJECT_DRIVER_ERROR = 15,
    /// The store's own check of its copy failed (the disk tier's or a bundle's BLAKE3, the
    /// remote tier's envelope): the entry was dropped and counted in `pcs_cache_metrics`'
    /// `corrupt_dropped`. A later load misses or, until the tier removes the entry, reports it
    /// again; the next save replaces it.
    PCS_VK_REJECT_STORE_CORRUPT = 16,
}

impl pcs_vk_rejection {
    /// Every value, for the string table.
    const ALL: [Self; 17] = [
        Self::PCS_VK_REJECT_NONE,
        Self::PCS_VK_REJECT_ENVELOPE_TRUNCATED,
        Self::PCS_VK_REJECT_ENVELOPE_MAGIC,
        Self::PCS_VK_REJECT_ENVELOPE_VERSION,
        Self::PCS_VK_REJECT_ENVELOPE_LENGTH,
        Self::PCS_VK_REJECT_ENVELOPE_HASH,
        Self::PCS_VK_REJECT_ENVELOPE_KEY,
        Self::PCS_VK_REJECT_ENVELOPE_IDENTITY,
        Self::PCS_VK_REJECT_HEADER_TRUNCATED,
        Self::PCS_VK_REJECT_HEADER_SIZE,
        Self::PCS_VK_REJECT_HEADER_VERSION,
        Self::PCS_VK_REJECT_HEADER_VENDOR,
        Self::PCS_VK_REJECT_HEADER_DEVICE,
        Self::PCS_VK_REJECT_HEADER_UUID,
        Self::PCS_VK_REJECT_TOO_LARGE,
        Self::PCS_VK_REJECT_DRIVER_ERROR,
        Self::PCS_VK_REJECT_STORE_CORRUPT,
    ];

    fn description(self) -> &'static str {
        match self {
            Self::PCS_VK_REJECT_NONE => "PCS_VK_REJECT_NONE: nothing was rejected\0",
            Self::PCS_VK_REJECT_ENVELOPE_TRUNCATED => "PCS_VK_REJECT_ENVELOPE_TRUNCATED: shorter than pcstore's envelope header\0",
            Self::PCS_VK_REJECT_ENVELOPE_MAGIC => "PCS_VK_REJECT_ENVELOPE_MAGIC: not pcstore's envelope magic\0",
            Self::PCS_VK_REJECT_ENVELOPE_VERSION => "PCS_VK_REJECT_ENVELOPE_VERSION: an envelope format this library does not read\0",
            Self::PCS_VK_REJECT_ENVELOPE_LENGTH => "PCS_VK_REJECT_ENVELOPE_LENGTH: the envelope's payload length disagrees with the bytes present\0",
            Self::PCS_VK_REJECT_ENVELOPE_HASH => "PCS_VK_REJECT_ENVELOPE_HASH: the payload does not match the envelope's BLAKE3\0",
            Self::PCS_VK_REJECT_ENVELOPE_KEY => "PCS_VK_REJECT_ENVELOPE_KEY: the envelope names another key\0",
            Self::PCS_VK_REJECT_ENVELOPE_IDENTITY => "PCS_VK_REJECT_ENVELOPE_IDENTITY: the envelope names another device, driver or process bitness\0",
            Self::PCS_VK_REJECT_HEADER_TRUNCATED => "PCS_VK_REJECT_HEADER_TRUNCATED: the payload is shorter than VkPipelineCacheHeaderVersionOne\0",
            Self::PCS_VK_REJECT_HEADER_SIZE => "PCS_VK_REJECT_HEADER_SIZE: headerSize below 32 or beyond the payload\0",
            Self::PCS_VK_REJECT_HEADER_VERSION => "PCS_VK_REJECT_HEADER_VERSION: headerVersion is not VK_PIPELINE_CACHE_HEADER_VERSION_ONE\0",
            Self::PCS_VK_REJECT_HEADER_VENDOR => "PCS_VK_REJECT_HEADER_VENDOR: the header's vendorID is not the device's\0",
            Self::PCS_VK_REJECT_HEADER_DEVICE => "PCS_VK_REJECT_HEADER_DEVICE: the header's deviceID is not the device's\0",
            Self::PCS_VK_REJECT_HEADER_UUID => "PCS_VK_REJECT_HEADER_UUID: the header's pipelineCacheUUID is not the device's\0",
            Self::PCS_VK_REJECT_TOO_LARGE => "PCS_VK_REJECT_TOO_LARGE: larger than max_blob_bytes\0",
            Self::PCS_VK_REJECT_DRIVER_ERROR => "PCS_VK_REJECT_DRIVER_ERROR: vkCreatePipelineCache failed with the data\0",
            Self::PCS_VK_REJECT_STORE_CORRUPT => "PCS_VK_REJECT_STORE_CORRUPT: the store found its copy damaged and dropped it\0",
        }
    }
}

impl From<Rejection> for pcs_vk_rejection {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::None => Self::PCS_VK_REJECT_NONE,
            Rejection::EnvelopeTruncated => Self::PCS_VK_REJECT_ENVELOPE_TRUNCATED,
            Rejection::EnvelopeMagic => Self::PCS_VK_REJECT_ENVELOPE_MAGIC,
            Rejection::EnvelopeVersion => Self::PCS_VK_REJECT_ENVELOPE_VERSION,
            Rejection::EnvelopeLength => Self::PCS_VK_REJECT_ENVELOPE_LENGTH,
            Rejection::EnvelopeHash => Self::PCS_VK_REJECT_ENVELOPE_HASH,
            Rejection::EnvelopeKey => Self::PCS_VK_REJECT_ENVELOPE_KEY,
            Rejection::EnvelopeIdentity => Self::PCS_VK_REJECT_ENVELOPE_IDENTITY,
            Rejection::HeaderTruncated => Self::PCS_VK_REJECT_HEADER_TRUNCATED,
            Rejection::HeaderSize => Self::PCS_VK_REJECT_HEADER_SIZE,
            Rejection::HeaderVersion => Self::PCS_VK_REJECT_HEADER_VERSION,
            Rejection::HeaderVendor => Self::PCS_VK_REJECT_HEADER_VENDOR,
            Rejection::HeaderDevice => Self::PCS_VK_REJECT_HEADER_DEVICE,
            Rejection::HeaderUuid => Self::PCS_VK_REJECT_HEADER_UUID,
            Rejection::TooLarge => Self::PCS_VK_REJECT_TOO_LARGE,
            Rejection::DriverError => Self::PCS_VK_REJECT_DRIVER_ERROR,
            Rejection::StoreCorrupt => Self::PCS_VK_REJECT_STORE_CORRUPT,
        }
    }
}

/// How a save ended (`pcs_vk_save_info::outcome`). Only `PCS_VK_SAVE_STORED` wrote anything.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pcs_vk_save_outcome {
    /// The driver's blob was checked, sealed and accepted by the store.
    PCS_VK_SAVE_STORED = 0,
    /// The blob equals the one this context last loaded or saved for the key: no write.
    PCS_VK_SAVE_UNCHANGED = 1,
    /// The driver's blob failed the header check against its own device: not stored.
    PCS_VK_SAVE_DRIVER_BLOB_INVALID = 2,
    /// The driver's blob is larger than `max_blob_bytes`: not stored.
    PCS_VK_SAVE_TOO_LARGE = 3,
    /// The store refused the put (see `pcs_metrics`): not stored.
    PCS_VK_SAVE_STORE_REJECTED = 4,
}

impl pcs_vk_save_outcome {
    /// Every value, for the string table.
    const ALL: [Self; 5] = [
        Self::PCS_VK_SAVE_STORED,
        Self::PCS_VK_SAVE_UNCHANGED,
        Self::PCS_VK_SAVE_DRIVER_BLOB_INVALID,
        Self::PCS_VK_SAVE_TOO_LARGE,
        Self::PCS_VK_SAVE_STORE_REJECTED,
    ];

    fn description(self) -> &'static str {
        match self {
            Self::PCS_VK_SAVE_STORED => "PCS_VK_SAVE_STORED: the driver's blob was checked, sealed and accepted by the store\0",
            Self::PCS_VK_SAVE_UNCHANGED => "PCS_VK_SAVE_UNCHANGED: the blob equals the one last loaded or saved for the key; no write\0",
            Self::PCS_VK_SAVE_DRIVER_BLOB_INVALID => "PCS_VK_SAVE_DRIVER_BLOB_INVALID: the driver's blob failed the header check against its own device; not stored\0",
            Self::PCS_VK_SAVE_TOO_LARGE => "PCS_VK_SAVE_TOO_LARGE: the driver's blob is larger than max_blob_bytes; not stored\0",
            Self::PCS_VK_SAVE_STORE_REJECTED => "PCS_VK_SAVE_STORE_REJECTED: the store refused the put; not stored\0",
        }
    }
}

impl From<SaveOutcome> for pcs_vk_save_outcome {
    fn from(outcome: SaveOutcome) -> Self {
        match outcome {
            SaveOutcome::Stored => Self::PCS_VK_SAVE_STORED,
            SaveOutcome::Unchanged => Self::PCS_VK_SAVE_UNCHANGED,
            SaveOutcome::DriverBlobInvalid => Self::PCS_VK_SAVE_DRIVER_BLOB_INVALID,
            SaveOutcome::TooLarge => Self::PCS_VK_SAVE_TOO_LARGE,
            SaveOutcome::StoreRejected => Self::PCS_VK_SAVE_STORE_REJECTED,
        }
    }
}

/// What `pcs_vk_load_pipeline_cache` did. Extensible output struct: set `struct_size =
/// sizeof(pcs_vk_load_info)` before the call; the library fills as many bytes as both sides know
/// and sets `struct_size` to that count.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_vk_load_info {
    /// In: `sizeof(pcs_vk_load_info)` as the caller was compiled. Out: bytes filled.
    pub struct_size: usize,
    /// A `pcs_vk_load_outcome`.
    pub outcome: i32,
    /// A `pcs_vk_rejection`: the check that failed, `PCS_VK_REJECT_NONE` on a hit or miss.
    pub rejection: i32,
    /// What `vkCreatePipelineCache` returned for the stored data; `VK_SUCCESS` when no data
    /// was offered.
    pub driver_result: vk::Result,
    /// Size of the stored entry found (pcstore's envelope included), 0 on a miss.
    pub stored_bytes: u64,
    /// `initialDataSize` of the cache returned: the driver blob's size on a hit, else 0.
    pub initial_data_bytes: u64,
    /// Wall time of the whole load, store lookup and driver calls included.
    pub elapsed_ns: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers (`VkResult` is an `int32_t`).
unsafe impl Extensible for pcs_vk_load_info {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_load_info, elapsed_ns, lp64 = 48);
}

impl From<LoadInfo> for pcs_vk_load_info {
    fn from(info: LoadInfo) -> Self {
        let LoadInfo {
            outcome,
            rejection,
            stored_bytes,
            initial_data_bytes,
            driver_result,
            elapsed_ns,
        } = info;
        Self {
            struct_size: std::mem::size_of::<Self>(),
            outcome: pcs_vk_load_outcome::from(outcome) as i32,
            rejection: pcs_vk_rejection::from(rejection) as i32,
            driver_result,
            stored_bytes,
            initial_data_bytes,
            elapsed_ns,
        }
    }
}

/// What `pcs_vk_save_pipeline_cache` did. Extensible output struct, as `pcs_vk_load_info`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_vk_save_info {
    /// In: `sizeof(pcs_vk_save_info)` as the caller was compiled. Out: bytes filled.
    pub struct_size: usize,
    /// A `pcs_vk_save_outcome`.
    pub outcome: i32,
    /// Size of the driver's blob (0 when it was too large to fetch).
    pub driver_bytes: u64,
    /// Bytes handed to the store (envelope included), 0 unless stored.
    pub stored_bytes: u64,
    /// Wall time of the whole save.
    pub elapsed_ns: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for pcs_vk_save_info {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_save_info, elapsed_ns, lp64 = 40);
}

impl From<SaveInfo> for pcs_vk_save_info {
    fn from(info: SaveInfo) -> Self {
        let SaveInfo {
            outcome,
            driver_bytes,
            stored_bytes,
            elapsed_ns,
        } = info;
        Self {
            struct_size: std::mem::size_of::<Self>(),
            outcome: pcs_vk_save_outcome::from(outcome) as i32,
            driver_bytes,
            stored_bytes,
            elapsed_ns,
        }
    }
}

/// A context's counters (the store's own figures stay in `pcs_metrics`). Extensible output
/// struct, as `pcs_vk_load_info`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_vk_metrics {
    /// In: `sizeof(pcs_vk_metrics)` as the caller was compiled. Out: bytes filled.
    pub struct_size: usize,
    /// Loads by outcome, indexed by `pcs_vk_load_outcome`.
    pub loads: [u64; 6],
    /// Saves by outcome, indexed by `pcs_vk_save_outcome`.
    pub saves: [u64; 5],
    /// `vkCreatePipelineCache` calls that failed with stored data (each retried without).
    pub driver_refusals: u64,
    /// Stored bytes handed to drivers on hits.
    pub bytes_to_driver: u64,
    /// Driver blob bytes written to the store.
    pub bytes_saved: u64,
    /// Latency of whole loads.
    pub load_latency: pcs_latency_summary,
    /// Latency of whole saves.
    pub save_latency: pcs_latency_summary,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for pcs_vk_metrics {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_metrics, save_latency, lp64 = 184);
}

impl From<VulkanMetrics> for pcs_vk_metrics {
    /// Destructures without `..`, so a counter added to the adapter fails to compile here until
    /// it is appended to the C struct too.
    fn from(metrics: VulkanMetrics) -> Self {
        let VulkanMetrics {
            loads,
            saves,
            driver_refusals,
            bytes_to_driver,
            bytes_saved,
            load_latency,
            save_latency,
        } = metrics;
        Self {
            struct_size: std::mem::size_of::<Self>(),
            loads,
            saves,
            driver_refusals,
            bytes_to_driver,
            bytes_saved,
            load_latency: load_latency.into(),
            save_latency: save_latency.into(),
        }
    }
}

/// The result code a Vulkan adapter error maps to.
fn vulkan_error(error: VulkanError) -> FfiError {
    let code = match error {
        VulkanError::InvalidDeviceInfo(_) => pcs_result::PCS_ERR_NULL_ARGUMENT,
        _ => pcs_result::PCS_ERR_VULKAN,
    };
    FfiError::new(code, error.to_string())
}

/// Creates the context for one device into `*out`: resolves the few Vulkan functions pcstore
/// calls through `info->get_instance_proc_addr` and reads the device's identity (vendor, device,
/// driver version, pipelineCacheUUID, driver strings from Vulkan 1.2) once. Every key is scoped
/// to that identity and `info->engine_namespace`, so a driver update misses instead of feeding
/// the new driver an old blob. The context takes its own reference to `store` (release yours
/// whenever you like). Release it with `pcs_vk_context_release` before `vkDestroyDevice`.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` (a NULL argument, handle or function pointer);
/// `PCS_ERR_INVALID_ARGUMENT` (bad `struct_size`); `PCS_ERR_ABI_MISMATCH` (fields unknown to
/// this library set); `PCS_ERR_VULKAN` (the loader lacks an entry point). `*out` is written only
/// on success. Thread-safe.
///
/// # Safety
/// `store` is a live store handle; `info` is valid for reads of its `struct_size` bytes and its
/// namespace for its length; its handles are live and related (`device` created from
/// `physical_device` of `instance`, all through `get_instance_proc_addr`), `api_version` does
/// not exceed the instance's, and instance and device outlive the context; `out` is valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_context_create(
    store: *mut pcs_store,
    info: *const pcs_vk_device_info,
    out: *mut *mut pcs_vk_context,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_context_create", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, info) = unsafe { (arg_store(store)?, read_extensible(info, "info")?) };
        let out = arg_out(out, "out")?;
        let get_instance_proc_addr = info
            .get_instance_proc_addr
            .ok_or_else(|| FfiError::null("info->get_instance_proc_addr"))?;
        // SAFETY: the caller vouches for the namespace's length.
        let namespace = unsafe {
            arg_bytes(
                info.engine_namespace.cast(),
                info.engine_namespace_len,
                "info->engine_namespace",
            )
        }?;
        let options = VulkanOptions {
            namespace: namespace.to_vec(),
            max_blob_bytes: match info.max_blob_bytes {
                0 => VulkanOptions::DEFAULT_MAX_BLOB_BYTES,
                cap => cap,
            },
        };
        let device_info = DeviceInfo {
            instance: info.instance,
            physical_device: info.physical_device,
            device: info.device,
            get_instance_proc_addr,
            api_version: info.api_version,
        };
        // SAFETY: live, related handles and a valid GIPA (contract); null handles are refused
        // by `new` itself.
        let context = unsafe { VulkanContext::new(Arc::clone(store), device_info, options) }
            .map_err(vulkan_error)?;
        let handle = pcs_vk_context::into_handle(Arc::new(context)).cast_mut();
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(handle) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Releases the context (and its reference to the store). Pipeline caches it handed out stay
/// the caller's. Call it before `vkDestroyDevice`, when no other thread uses the context. NULL
/// is a no-op. Releasing does not flush: saves not yet flushed (`pcs_vk_context_flush` or
/// `pcs_flush`) may be lost in a crash or power cut.
///
/// # Safety
/// `ctx` is NULL or came from `pcs_vk_context_create`, is released once and never used again.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_context_release(ctx: *mut pcs_vk_context) {
    super::ffi_boundary!("pcs_vk_context_release", || -> () {
        // SAFETY: forwarded contract.
        unsafe { pcs_vk_context::release(ctx) }
    });
}

/// Makes every save stored through `ctx` so far durable: flushes the store the context holds
/// (its own reference, so this works after the caller released its store handle), exactly as
/// `pcs_flush` on that store would (what else was put into the store is flushed too).
///
/// Two patterns are right, pick by who owns the store: keep your `pcs_store` handle and call
/// `pcs_flush(store)` (one flush for everything the engine puts, Vulkan or not; several contexts
/// on one store need only one); or release the handle after `pcs_vk_context_create` and call
/// `pcs_vk_context_flush(ctx)`. Either way flush at the points that matter (after building a
/// level's pipelines, before exit), not after every save: a flush waits for the disk.
/// Releasing the context never flushes: a flush can fail, and only a call can report that.
///
/// Returns `PCS_OK`; `PCS_ERR_IO` when the store could not make every save durable
/// (`pcs_last_error` says why); `PCS_ERR_NULL_ARGUMENT`. Thread-safe; may block on the disk.
///
/// # Safety
/// `ctx` is a live context.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_context_flush(ctx: *const pcs_vk_context) -> pcs_result {
    super::ffi_boundary!("pcs_vk_context_flush", || -> FfiResult {
        // SAFETY: forwarded contract.
        let ctx = unsafe { pcs_vk_context::arg(ctx, "ctx") }?;
        ctx.flush()
            .map_err(|error| FfiError::new(pcs_result::PCS_ERR_IO, error.to_string()))?;
        Ok(pcs_result::PCS_OK)
    })
}

/// A static, NUL-terminated, English description of a `pcs_vk_load_outcome` (`outcome` of
/// `pcs_vk_load_info`), starting with its name (e.g. `"PCS_VK_LOAD_MISS: ..."`), for an
/// engine's log. Any `int32_t` is accepted: an unknown value gives
/// `"unknown pcs_vk_load_outcome"`. Never returns NULL; the string lives as long as the library
/// is loaded; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_vk_load_outcome_str(outcome: i32) -> *const c_char {
    super::ffi_boundary!("pcs_vk_load_outcome_str", || -> *const c_char {
        static_description(
            outcome,
            &pcs_vk_load_outcome::ALL,
            |known| known as i32,
            pcs_vk_load_outcome::description,
            "unknown pcs_vk_load_outcome\0",
        )
    })
}

/// A static, NUL-terminated, English description of a `pcs_vk_rejection` (`rejection` of
/// `pcs_vk_load_info`), starting with its name; `"unknown pcs_vk_rejection"` for an unknown
/// value. Never returns NULL; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_vk_rejection_str(rejection: i32) -> *const c_char {
    super::ffi_boundary!("pcs_vk_rejection_str", || -> *const c_char {
        static_description(
            rejection,
            &pcs_vk_rejection::ALL,
            |known| known as i32,
            pcs_vk_rejection::description,
            "unknown pcs_vk_rejection\0",
        )
    })
}

/// A static, NUL-terminated, English description of a `pcs_vk_save_outcome` (`outcome` of
/// `pcs_vk_save_info`), starting with its name; `"unknown pcs_vk_save_outcome"` for an unknown
/// value. Never returns NULL; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_vk_save_outcome_str(outcome: i32) -> *const c_char {
    super::ffi_boundary!("pcs_vk_save_outcome_str", || -> *const c_char {
        static_description(
            outcome,
            &pcs_vk_save_outcome::ALL,
            |known| known as i32,
            pcs_vk_save_outcome::description,
            "unknown pcs_vk_save_outcome\0",
        )
    })
}

/// Writes to `*out` the key a blob for the engine's `*key` is stored under on this context's
/// device (the key scoped to the device identity and namespace), for tools that inspect or
/// import entries with `pcs_get` / `pcs_put`. `out` may equal `key`.
///
/// Returns `PCS_OK` or `PCS_ERR_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `ctx` is a live context; `key` is valid for reads; `out` for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_stored_key(
    ctx: *const pcs_vk_context,
    key: *const pcs_fingerprint,
    out: *mut pcs_fingerprint,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_stored_key", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (ctx, key) = unsafe { (pcs_vk_context::arg(ctx, "ctx")?, arg_key(key)?) };
        let out = arg_out(out, "out")?;
        let scoped = ctx.stored_key(key);
        // SAFETY: `out` is non-NULL and valid for a write; `key` is no longer read.
        unsafe { out.write(scoped.into()) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Creates a `VkPipelineCache` for the engine's `*key` into `*out`: seeded with the stored blob
/// when it passes every check, empty otherwise. Call it where the engine would call
/// `vkCreatePipelineCache`, and create pipelines with the result.
///
/// Nothing unchecked reaches the driver: the envelope (magic, version, length, BLAKE3, key,
/// identity) and the blob's `VkPipelineCacheHeaderVersionOne` (size, version, vendorID,
/// deviceID, pipelineCacheUUID) are verified first, and a blob over `max_blob_bytes` is not even
/// hashed. An empty cache is created with `initialDataSize = 0` and `pInitialData = NULL`. If
/// the driver fails with checked data, an empty cache is created instead. `*info` (when not
/// NULL) says which: hit, miss, corrupt, device mismatch, driver refused, too large, and the
/// exact check that failed.
///
/// Returns `PCS_OK` whenever `*out` holds a usable cache, whatever the outcome; the caller owns
/// it and destroys it with `vkDestroyPipelineCache` (with the same `allocator`).
/// `PCS_ERR_VULKAN` when not even an empty cache could be created (out of memory, device
/// lost); `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` for a bad `info->struct_size`
/// (checked before any Vulkan call). `*out` and `*info` are written only on `PCS_OK`.
/// Thread-safe.
///
/// # Safety
/// `ctx` is a live context whose device is alive; `key` is valid for reads; `allocator` is NULL
/// or valid for the cache's whole life; `out` is valid for a write; `info` is NULL or valid for
/// reads and writes of its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_load_pipeline_cache(
    ctx: *const pcs_vk_context,
    key: *const pcs_fingerprint,
    allocator: *const vk::AllocationCallbacks<'_>,
    out: *mut vk::PipelineCache,
    info: *mut pcs_vk_load_info,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_load_pipeline_cache", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (ctx, key) = unsafe { (pcs_vk_context::arg(ctx, "ctx")?, arg_key(key)?) };
        let out = arg_out(out, "out")?;
        if !info.is_null() {
            // Checked first: a cache created before a refused `info` would leak.
            // SAFETY: forwarded contract.
            unsafe { check_extensible_out(info, "info") }?;
        }
        // SAFETY: `allocator` is NULL or valid for the cache's life (contract).
        let allocator = unsafe { allocator.as_ref() };
        // SAFETY: live context and device; allocator valid (contract).
        let (cache, load_info) =
            unsafe { ctx.load_pipeline_cache(key, allocator) }.map_err(vulkan_error)?;
        if !info.is_null() {
            // SAFETY: valid for its `struct_size` bytes (contract), which was checked above.
            unsafe { write_extensible(info, &load_info.into(), "info") }?;
        }
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(cache) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Fetches `cache`'s data from the driver (`vkGetPipelineCacheData`), checks it against this
/// device, and stores it under the engine's `*key` (sealed in pcstore's envelope) unless it is
/// unchanged since this context last loaded or saved it. The cache stays the caller's.
/// `pcs_flush` on the store makes a stored save durable.
///
/// Returns `PCS_OK` when the save ran; `*info` (when not NULL) then says whether the blob was
/// stored, unchanged, or not stored and why (invalid driver blob, too large, store refused).
/// `PCS_ERR_VULKAN` when `vkGetPipelineCacheData` failed; `PCS_ERR_NULL_ARGUMENT` (also for a
/// `VK_NULL_HANDLE` cache); `PCS_ERR_INVALID_ARGUMENT` for a bad `info->struct_size`. `*info`
/// is written only on `PCS_OK`. Thread-safe (Vulkan's own rules for `cache` still apply).
///
/// # Safety
/// `ctx` is a live context whose device is alive; `key` is valid for reads; `cache` is a live
/// pipeline cache of that device; `info` is NULL or valid for reads and writes of its
/// `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_save_pipeline_cache(
    ctx: *const pcs_vk_context,
    key: *const pcs_fingerprint,
    cache: vk::PipelineCache,
    info: *mut pcs_vk_save_info,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_save_pipeline_cache", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (ctx, key) = unsafe { (pcs_vk_context::arg(ctx, "ctx")?, arg_key(key)?) };
        if cache == vk::PipelineCache::null() {
            return Err(FfiError::null("cache"));
        }
        if !info.is_null() {
            // SAFETY: forwarded contract.
            unsafe { check_extensible_out(info, "info") }?;
        }
        // SAFETY: live context, device and cache (contract).
        let save_info = unsafe { ctx.save_pipeline_cache(key, cache) }.map_err(vulkan_error)?;
        if !info.is_null() {
            // SAFETY: valid for its `struct_size` bytes (contract), which was checked above.
            unsafe { write_extensible(info, &save_info.into(), "info") }?;
        }
        Ok(pcs_result::PCS_OK)
    })
}

/// Merges `src_count` caches at `srcs` into `dst` (`vkMergePipelineCaches`), for engines that
/// give each thread its own cache and save one merged cache. `src_count` 0 is a no-op (`srcs`
/// may then be NULL).
///
/// Returns `PCS_OK`; `PCS_ERR_VULKAN` when the driver fails; `PCS_ERR_NULL_ARGUMENT` (also for a
/// `VK_NULL_HANDLE` cache); `PCS_ERR_INVALID_ARGUMENT` when `dst` is among `srcs`. Thread-safe,
/// but `dst` must not be used by another thread during the call (Vulkan's rule).
///
/// # Safety
/// `ctx` is a live context whose device is alive; `srcs` is valid for reads of `src_count`
/// handles; every cache is a live cache of that device.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_merge_pipeline_caches(
    ctx: *const pcs_vk_context,
    dst: vk::PipelineCache,
    src_count: u32,
    srcs: *const vk::PipelineCache,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_merge_pipeline_caches", || -> FfiResult {
        // SAFETY: forwarded contract.
        let ctx = unsafe { pcs_vk_context::arg(ctx, "ctx") }?;
        if dst == vk::PipelineCache::null() {
            return Err(FfiError::null("dst"));
        }
        if src_count == 0 {
            return Ok(pcs_result::PCS_OK);
        }
        if srcs.is_null() {
            return Err(FfiError::null("srcs"));
        }
        // SAFETY: non-NULL and valid for `src_count` handles (contract); a u32 count of 8-byte
        // handles cannot exceed the address space on a 64-bit target, and on 32-bit targets
        // the caller's array already occupies that many bytes.
        let sources = unsafe { std::slice::from_raw_parts(srcs, src_count as usize) };
        if let Some(index) = sources.iter().position(|c| *c == vk::PipelineCache::null()) {
            return Err(FfiError::new(
                pcs_result::PCS_ERR_NULL_ARGUMENT,
                format!("`srcs[{index}]` is VK_NULL_HANDLE"),
            ));
        }
        if sources.contains(&dst) {
            return Err(FfiError::invalid("`dst` is also among `srcs`"));
        }
        // SAFETY: live caches of the context's live device, `dst` not a source (checked).
        unsafe { ctx.merge_pipeline_caches(dst, sources) }.map_err(vulkan_error)?;
        Ok(pcs_result::PCS_OK)
    })
}

/// Writes a snapshot of the context's counters to `*out` (see `pcs_vk_metrics` for
/// `struct_size`). Thread-safe.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` for a bad
/// `out->struct_size` (nothing written).
///
/// # Safety
/// `ctx` is a live context; `out` is valid for reads and writes of its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_context_metrics(
    ctx: *const pcs_vk_context,
    out: *mut pcs_vk_metrics,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_context_metrics", || -> FfiResult {
        // SAFETY: forwarded contract.
        let ctx = unsafe { pcs_vk_context::arg(ctx, "ctx") }?;
        let snapshot = pcs_vk_metrics::from(ctx.metrics());
        // SAFETY: forwarded contract.
        unsafe { write_extensible(out, &snapshot, "out") }?;
        Ok(pcs_result::PCS_OK)
    })
}

// ---------------------------------------------------------------------------------------------
// Recipes: an engine records what it builds pipelines from, and replays in process.

/// Records an engine's Vulkan objects as recipes in a store (`pcs_vk_recipe_recorder_create`),
/// so `pcstore replay` or `pcs_vk_recipe_replay` can rebuild its pipelines on another driver.
///
/// Opaque. Thread-safe: every function taking a `pcs_vk_recipe_recorder *` may run
/// concurrently from any threads, except `pcs_vk_recipe_recorder_release`, which must not
/// overlap any other use. The recorder keeps its own reference to the store.
#[allow(non_camel_case_types)]
pub struct pcs_vk_recipe_recorder {
    _opaque: [u8; 0],
}

impl ArcHandle for pcs_vk_recipe_recorder {
    type Rust = RecipeRecorder;
}

/// What a recorder records for, for `pcs_vk_recipe_recorder_create`. Extensible: zero it, set
/// `struct_size = sizeof(pcs_vk_recipe_recorder_info)`, then fill it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pcs_vk_recipe_recorder_info {
    /// `sizeof(pcs_vk_recipe_recorder_info)` as the caller was compiled.
    pub struct_size: usize,
    /// The `VkDeviceCreateInfo` the engine created its device with (read during the call):
    /// its extensions and features are what a replay enables.
    pub device_create_info: *const vk::DeviceCreateInfo<'static>,
    /// `VkApplicationInfo::apiVersion` of the engine's instance; 0 = Vulkan 1.0.
    pub api_version: u32,
    /// The key the engine passes to `pcs_vk_load_pipeline_cache` / `pcs_vk_save_pipeline_cache`
    /// for the cache these pipelines feed: a replay saves its result there.
    pub cache_key: pcs_fingerprint,
    /// The engine namespace of its `pcs_vk_context` (`pcs_vk_device_info::engine_namespace`);
    /// may be NULL when `engine_namespace_len` is 0. Copied during the call.
    pub engine_namespace: *const u8,
    /// Bytes at `engine_namespace`.
    pub engine_namespace_len: usize,
    /// What tells this application apart from others recording into the same store (e.g.
    /// the engine and game names and versions); may be NULL when `identity_len` is 0.
    pub identity: *const u8,
    /// Bytes at `identity`.
    pub identity_len: usize,
}

// SAFETY: `#[repr(C)]`, `struct_size` first; the rest are raw pointers, integers and a byte
// array, all valid as zeros.
unsafe impl Extensible for pcs_vk_recipe_recorder_info {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_recipe_recorder_info, identity_len, lp64 = 88);
}

/// Creates a recorder for one engine device and its pipeline cache; puts the device's recipe.
/// Starts reading the stored application record and catalog on two short-lived threads of its
/// own, so that `pcs_vk_recipe_recorder_flush` never waits on a remote tier.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` for a bad
/// `struct_size` or a device create-info that cannot be read. `*out` is written only on
/// success. Thread-safe.
///
/// # Safety
/// `store` is a live store; `info` is valid for reads of its `struct_size` bytes and its
/// pointers as documented; `info->device_create_info` is valid by Vulkan's rules for
/// `vkCreateDevice`; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_recorder_create(
    store: *mut pcs_store,
    info: *const pcs_vk_recipe_recorder_info,
    out: *mut *mut pcs_vk_recipe_recorder,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_recorder_create", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, info) = unsafe { (arg_store(store)?, read_extensible(info, "info")?) };
        let out = arg_out(out, "out")?;
        // SAFETY: NULL or a valid create-info (contract).
        let device_info = unsafe { arg_ref(info.device_create_info, "info->device_create_info") }?;
        // SAFETY: a valid create-info (contract).
        let device = unsafe { DeviceRecipe::capture(device_info, info.api_version) }
            .map_err(|why| FfiError::invalid(format!("info->device_create_info: {why}")))?;
        // SAFETY: the caller vouches for both lengths.
        let (namespace, identity) = unsafe {
            (
                arg_bytes(
                    info.engine_namespace.cast(),
                    info.engine_namespace_len,
                    "info->engine_namespace",
                )?,
                arg_bytes(info.identity.cast(), info.identity_len, "info->identity")?,
            )
        };
        let cache = CacheTarget {
            key: info.cache_key.into(),
            namespace: namespace.to_vec(),
            scheme: NamespaceScheme::Exact,
        };
        let recorder = RecipeRecorder::new(Arc::clone(store), identity.to_vec(), cache, &device);
        let handle = pcs_vk_recipe_recorder::into_handle(Arc::new(recorder)).cast_mut();
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(handle) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Publishes what was recorded (`pcs_vk_recipe_recorder_flush`) and releases the recorder
/// (and its reference to the store). NULL is a no-op.
///
/// # Safety
/// `recorder` is NULL or came from `pcs_vk_recipe_recorder_create`, is released once and
/// never used again.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_recorder_release(recorder: *mut pcs_vk_recipe_recorder) {
    super::ffi_boundary!("pcs_vk_recipe_recorder_release", || -> () {
        // SAFETY: NULL or a live recorder (contract).
        if let Some(live) = unsafe { pcs_vk_recipe_recorder::borrow(recorder) } {
            live.flush();
        }
        // SAFETY: forwarded contract.
        unsafe { pcs_vk_recipe_recorder::release(recorder) }
    })
}

/// The result of recording one object: `PCS_OK`, or `PCS_ERR_UNSUPPORTED` when it cannot be
/// recorded completely (the last error says why).
fn recorded(outcome: Result<RecipeKey, NotRecorded>) -> FfiResult {
    outcome
        .map(|_| pcs_result::PCS_OK)
        .map_err(|why| FfiError::new(pcs_result::PCS_ERR_UNSUPPORTED, why.to_string()))
}

/// The body of each `pcs_vk_recipe_record_<object>` function: checks the pointers, then records
/// `*info` with `record` (the recorder's method for that kind of object).
///
/// # Safety
/// `recorder` is NULL or a live recorder; `info` is NULL or a create-info that is valid by
/// Vulkan's rules for the creation `record` records.
unsafe fn record_object<I>(
    recorder: *const pcs_vk_recipe_recorder,
    info: *const I,
    record: impl FnOnce(&RecipeRecorder, &I) -> Result<RecipeKey, NotRecorded>,
) -> FfiResult {
    // SAFETY: NULL or live / valid (this function's contract).
    let (recorder, info) = unsafe {
        (
            pcs_vk_recipe_recorder::arg(recorder, "recorder")?,
            arg_ref(info, "info")?,
        )
    };
    recorded(record(recorder, info))
}

/// The body of each `pcs_vk_recipe_record_<kind>_pipelines` function: checks the pointers, then
/// records every create-info with `record`; the first refusal is the result.
///
/// # Safety
/// `recorder` is NULL or a live recorder; `infos` is NULL or valid for reads of `count`
/// create-infos, each valid by Vulkan's rules for the creation `record` records.
unsafe fn record_pipelines<I>(
    recorder: *const pcs_vk_recipe_recorder,
    count: u32,
    infos: *const I,
    record: impl Fn(&RecipeRecorder, &I) -> Result<RecipeKey, NotRecorded>,
) -> FfiResult {
    // SAFETY: NULL or live / valid (this function's contract).
    let (recorder, infos) = unsafe {
        (
            pcs_vk_recipe_recorder::arg(recorder, "recorder")?,
            arg_array(infos, count, "infos")?,
        )
    };
    record_all(infos.iter().map(|info| record(recorder, info)))
}

/// Records the shader module `handle` the driver just created from `*info` (`vkCreateShaderModule`).
///
/// Returns `PCS_OK`; `PCS_ERR_UNSUPPORTED` when it cannot be recorded completely (an unknown
/// pNext structure, or an object it refers to that was not recorded: the last error says
/// which; pipelines using it are not recorded either); `PCS_ERR_NULL_ARGUMENT`. Every creation
/// of each kind the engine's pipelines use must be recorded: a handle the driver reuses must
/// not keep an old recipe. Thread-safe. The other `pcs_vk_recipe_record_*` object functions
/// behave the same.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreateShaderModule`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_shader_module(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::ShaderModule,
    info: *const vk::ShaderModuleCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_shader_module", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_object(recorder, info, |recorder, info| {
                recorder.shader_module(handle, info)
            })
        }
    })
}

/// Records the sampler `handle` the driver just created from `*info` (`vkCreateSampler`), as
/// `pcs_vk_recipe_record_shader_module` does.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreateSampler`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_sampler(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::Sampler,
    info: *const vk::SamplerCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_sampler", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_object(recorder, info, |recorder, info| {
                recorder.sampler(handle, info)
            })
        }
    })
}

/// Records the descriptor set layout `handle` the driver just created from `*info` (`vkCreateDescriptorSetLayout`), as
/// `pcs_vk_recipe_record_shader_module` does.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreateDescriptorSetLayout`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_descriptor_set_layout(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::DescriptorSetLayout,
    info: *const vk::DescriptorSetLayoutCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!(
        "pcs_vk_recipe_record_descriptor_set_layout",
        || -> FfiResult {
            // SAFETY: forwarded contracts.
            unsafe {
                record_object(recorder, info, |recorder, info| {
                    recorder.descriptor_set_layout(handle, info)
                })
            }
        }
    )
}

/// Records the pipeline layout `handle` the driver just created from `*info` (`vkCreatePipelineLayout`), as
/// `pcs_vk_recipe_record_shader_module` does.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreatePipelineLayout`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_pipeline_layout(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::PipelineLayout,
    info: *const vk::PipelineLayoutCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_pipeline_layout", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_object(recorder, info, |recorder, info| {
                recorder.pipeline_layout(handle, info)
            })
        }
    })
}

/// Records the render pass `handle` the driver just created from `*info` (`vkCreateRenderPass`), as
/// `pcs_vk_recipe_record_shader_module` does.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreateRenderPass`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_render_pass(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::RenderPass,
    info: *const vk::RenderPassCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_render_pass", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_object(recorder, info, |recorder, info| {
                recorder.render_pass(handle, info)
            })
        }
    })
}

/// Records the render pass `handle` the driver just created from `*info` (`vkCreateRenderPass2`), as
/// `pcs_vk_recipe_record_shader_module` does.
///
/// # Safety
/// `recorder` is a live recorder; `info` is valid by Vulkan's rules for `vkCreateRenderPass2`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_render_pass2(
    recorder: *const pcs_vk_recipe_recorder,
    handle: vk::RenderPass,
    info: *const vk::RenderPassCreateInfo2<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_render_pass2", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_object(recorder, info, |recorder, info| {
                recorder.render_pass2(handle, info)
            })
        }
    })
}

/// Records pipelines the driver created from `infos` (each one whose creation succeeded).
///
/// Returns `PCS_OK` when every one was recorded; `PCS_ERR_UNSUPPORTED` when one or more could
/// not be (the others are recorded; the last error names the first refusal);
/// `PCS_ERR_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `recorder` is a live recorder; `infos` is valid for reads of `count` create-infos, each
/// valid by Vulkan's rules for `vkCreateComputePipelines`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_compute_pipelines(
    recorder: *const pcs_vk_recipe_recorder,
    count: u32,
    infos: *const vk::ComputePipelineCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_record_compute_pipelines", || -> FfiResult {
        // SAFETY: forwarded contracts.
        unsafe {
            record_pipelines(recorder, count, infos, |recorder, info| {
                recorder.compute_pipeline(info)
            })
        }
    })
}

/// Records pipelines the driver created from `infos`, as
/// `pcs_vk_recipe_record_compute_pipelines` does.
///
/// # Safety
/// `recorder` is a live recorder; `infos` is valid for reads of `count` create-infos, each
/// valid by Vulkan's rules for `vkCreateGraphicsPipelines`.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_record_graphics_pipelines(
    recorder: *const pcs_vk_recipe_recorder,
    count: u32,
    infos: *const vk::GraphicsPipelineCreateInfo<'static>,
) -> pcs_result {
    super::ffi_boundary!(
        "pcs_vk_recipe_record_graphics_pipelines",
        || -> FfiResult {
            // SAFETY: forwarded contracts.
            unsafe {
                record_pipelines(recorder, count, infos, |recorder, info| {
                    recorder.graphics_pipeline(info)
                })
            }
        }
    )
}

/// `count` elements at `items` (NULL is fine for none).
///
/// # Safety
/// When `count > 0`, `items` is NULL or valid for reads of `count` elements.
unsafe fn arg_array<'a, T>(
    items: *const T,
    count: u32,
    name: &'static str,
) -> Result<&'a [T], FfiError> {
    if count == 0 {
        return Ok(&[]);
    }
    if items.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL and valid for `count` elements (contract).
    Ok(unsafe { std::slice::from_raw_parts(items, count as usize) })
}

/// `PCS_OK` when every outcome is a recorded object, else the first refusal.
fn record_all(outcomes: impl Iterator<Item = Result<RecipeKey, NotRecorded>>) -> FfiResult {
    let mut first_refusal = None;
    for outcome in outcomes {
        if let Err(why) = outcome {
            first_refusal.get_or_insert(why);
        }
    }
    match first_refusal {
        None => Ok(pcs_result::PCS_OK),
        Some(why) => recorded(Err(why)),
    }
}

/// Publishes the pipelines recorded since the last flush in the store (the application's
/// record and the catalog a replay starts from). Call it when the engine saves its pipeline
/// cache; `pcs_flush` on the store then makes it durable.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `recorder` is a live recorder.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_recorder_flush(
    recorder: *const pcs_vk_recipe_recorder,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_recorder_flush", || -> FfiResult {
        // SAFETY: forwarded contract.
        unsafe { pcs_vk_recipe_recorder::arg(recorder, "recorder") }?.flush();
        Ok(pcs_result::PCS_OK)
    })
}

/// Writes to `*out` the key of the recorder's application record: what
/// `pcs_vk_recipe_replay` (or `pcstore replay`) is given.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `recorder` is a live recorder; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_application_key(
    recorder: *const pcs_vk_recipe_recorder,
    out: *mut pcs_fingerprint,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_application_key", || -> FfiResult {
        // SAFETY: forwarded contract.
        let recorder = unsafe { pcs_vk_recipe_recorder::arg(recorder, "recorder") }?;
        let out = arg_out(out, "out")?;
        let key: PipelineFingerprint = recorder.application_key().fingerprint();
        // SAFETY: non-NULL and valid for a write (contract).
        unsafe { out.write(pcs_fingerprint::from(key)) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Called by `pcs_vk_recipe_replay` after each pipeline, on the calling thread: pipelines
/// finished so far and the total.
#[allow(non_camel_case_types)]
pub type pcs_vk_replay_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, done: u64, total: u64)>;

/// What `pcs_vk_recipe_replay` did. Extensible output: set `struct_size` before the call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct pcs_vk_replay_summary {
    /// `sizeof(pcs_vk_replay_summary)` as the caller was compiled.
    pub struct_size: usize,
    /// Pipelines in the application record.
    pub recorded: u64,
    /// Created into the saved cache.
    pub created: u64,
    /// Skipped: this driver already has them (`if_needed`).
    pub already_replayed: u64,
    /// Skipped: they failed on this driver before.
    pub skipped_bad: u64,
    /// The driver refused them (recorded as bad for this driver).
    pub failed: u64,
    /// Their recipes are missing, damaged or cannot be built.
    pub unbuildable: u64,
    /// The driver cannot create the recorded device (missing extensions or features).
    pub unsupported: u64,
    /// Not tried: cancelled first.
    pub cancelled: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, then integers.
unsafe impl Extensible for pcs_vk_replay_summary {
    const MIN_SIZE: usize = version_1_size!(pcs_vk_replay_summary, cancelled, lp64 = 72);
}

impl From<&ReplaySummary> for pcs_vk_replay_summary {
    fn from(summary: &ReplaySummary) -> Self {
        let count = |n: usize| n as u64;
        Self {
            struct_size: std::mem::size_of::<Self>(),
            recorded: count(summary.recorded),
            created: count(summary.created),
            already_replayed: count(summary.already_replayed),
            skipped_bad: count(summary.skipped_bad),
            failed: count(
                summary.driver_failed.len() + summary.crashed.len() + summary.timed_out.len(),
            ),
            unbuildable: count(summary.unbuildable.len()),
            unsupported: count(summary.unsupported.len()),
            cancelled: count(summary.cancelled),
        }
    }
}

/// Replays the application recorded at `*application_key` in this process, for an engine
/// filling its cache during a loading screen: creates its own instance (through
/// `get_instance_proc_addr`) and the recorded device on physical device `device_index`,
/// rebuilds every recorded pipeline this driver does not have yet into the cache stored
/// under the recorder's `cache_key`, and saves it, so the next `pcs_vk_load_pipeline_cache`
/// with that key is warm. NOT crash-isolated: a driver crash in a pipeline ends the process
/// (`pcstore replay` runs pipelines in worker processes instead).
///
/// `progress` (may be NULL) is called after each pipeline with `user_data`. `cancel` (may be
/// NULL) is read between pipelines; once another thread stores a non-zero value there
/// (atomically: C11 `atomic_store` or `_Atomic uint32_t`), the replay stops, saves what it
/// created and returns `PCS_OK` with the rest counted in `cancelled`. `out` (may be NULL)
/// receives the summary.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` for a bad
/// `out->struct_size`; `PCS_ERR_CORRUPT` when the application record or a device recipe is
/// missing or damaged; `PCS_ERR_VULKAN` when the instance or a cache cannot be created;
/// `PCS_ERR_IO` when the store's flush fails. Blocks for as long as the compiles take.
///
/// # Safety
/// `store` is a live store; `get_instance_proc_addr` a valid loader entry point;
/// `application_key` valid for reads; `cancel` NULL or valid for atomic reads for the whole
/// call; `out` NULL or valid for reads and writes of its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_recipe_replay(
    store: *mut pcs_store,
    get_instance_proc_addr: Option<vk::PFN_vkGetInstanceProcAddr>,
    application_key: *const pcs_fingerprint,
    device_index: u32,
    progress: pcs_vk_replay_progress_fn,
    user_data: *mut c_void,
    cancel: *const u32,
    out: *mut pcs_vk_replay_summary,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_recipe_replay", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (store, application_key) = unsafe { (arg_store(store)?, arg_key(application_key)?) };
        let get_instance_proc_addr =
            get_instance_proc_addr.ok_or_else(|| FfiError::null("get_instance_proc_addr"))?;
        if !out.is_null() {
            // SAFETY: non-NULL and valid (contract).
            unsafe { check_extensible_out(out, "out") }?;
        }
        // SAFETY: NULL or valid for atomic reads for the whole call (contract).
        let cancel = (!cancel.is_null()).then(|| unsafe { AtomicU32::from_ptr(cancel.cast_mut()) });
        let options = InProcessOptions {
            device_index: device_index as usize,
            ..InProcessOptions::default()
        };
        let mut report = |step: &ReplayProgress| {
            if let Some(progress) = progress {
                // SAFETY: the caller's callback with the caller's user data (contract).
                unsafe { progress(user_data, step.done as u64, step.total as u64) };
            }
        };
        let cancelled = || cancel.is_some_and(|flag| flag.load(Ordering::Acquire) != 0);
        // SAFETY: a valid entry point (contract).
        let summary = unsafe {
            replay_application_in_process(
                store,
                get_instance_proc_addr,
                &RecipeKey(*application_key),
                &options,
                &mut report,
                &cancelled,
            )
        }
        .map_err(replay_error)?;
        if !out.is_null() {
            // SAFETY: checked above.
            unsafe { write_extensible(out, &pcs_vk_replay_summary::from(&summary), "out") }?;
        }
        Ok(pcs_result::PCS_OK)
    })
}

fn replay_error(error: ReplayError) -> FfiError {
    let code = match &error {
        ReplayError::MissingRecipe(_) | ReplayError::BadRecipe { .. } => {
            pcs_result::PCS_ERR_CORRUPT
        }
        ReplayError::Io(_) => pcs_result::PCS_ERR_IO,
        _ => pcs_result::PCS_ERR_VULKAN,
    };
    FfiError::new(code, error.to_string())
}

/// Every Vulkan function of the ABI, one pointer each, same names without the `pcs_vk_` prefix;
/// reached from `pcs_api::get_vk_api` or `pcs_get_vk_api`. Append-only, like `pcs_api`:
/// `struct_size` is `sizeof(pcs_vk_api)` of the loaded library and an entry exists iff its
/// offset is below it. Static and immutable: valid while the library is loaded, readable from
/// any thread.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct pcs_vk_api {
    /// `sizeof(pcs_vk_api)` in the loaded library.
    pub struct_size: usize,
    /// `pcs_vk_context_create`.
    pub context_create: unsafe extern "C" fn(
        *mut pcs_store,
        *const pcs_vk_device_info,
        *mut *mut pcs_vk_context,
    ) -> pcs_result,
    /// `pcs_vk_context_release`.
    pub context_release: unsafe extern "C" fn(*mut pcs_vk_context),
    /// `pcs_vk_stored_key`.
    pub stored_key: unsafe extern "C" fn(
        *const pcs_vk_context,
        *const pcs_fingerprint,
        *mut pcs_fingerprint,
    ) -> pcs_result,
    /// `pcs_vk_load_pipeline_cache`.
    pub load_pipeline_cache: unsafe extern "C" fn(
        *const pcs_vk_context,
        *const pcs_fingerprint,
        *const vk::AllocationCallbacks<'static>,
        *mut vk::PipelineCache,
        *mut pcs_vk_load_info,
    ) -> pcs_result,
    /// `pcs_vk_save_pipeline_cache`.
    pub save_pipeline_cache: unsafe extern "C" fn(
        *const pcs_vk_context,
        *const pcs_fingerprint,
        vk::PipelineCache,
        *mut pcs_vk_save_info,
    ) -> pcs_result,
    /// `pcs_vk_merge_pipeline_caches`.
    pub merge_pipeline_caches: unsafe extern "C" fn(
        *const pcs_vk_context,
        vk::PipelineCache,
        u32,
        *const vk::PipelineCache,
    ) -> pcs_result,
    /// `pcs_vk_context_metrics`.
    pub context_metrics:
        unsafe extern "C" fn(*const pcs_vk_context, *mut pcs_vk_metrics) -> pcs_result,
    /// `pcs_vk_load_outcome_str` (ABI 2).
    pub load_outcome_str: extern "C" fn(i32) -> *const c_char,
    /// `pcs_vk_rejection_str` (ABI 2).
    pub rejection_str: extern "C" fn(i32) -> *const c_char,
    /// `pcs_vk_save_outcome_str` (ABI 2).
    pub save_outcome_str: extern "C" fn(i32) -> *const c_char,
    /// `pcs_vk_context_flush` (ABI 2).
    pub context_flush: unsafe extern "C" fn(*const pcs_vk_context) -> pcs_result,
    /// `pcs_vk_recipe_recorder_create` (ABI 2).
    pub recipe_recorder_create: unsafe extern "C" fn(
        *mut pcs_store,
        *const pcs_vk_recipe_recorder_info,
        *mut *mut pcs_vk_recipe_recorder,
    ) -> pcs_result,
    /// `pcs_vk_recipe_recorder_release` (ABI 2).
    pub recipe_recorder_release: unsafe extern "C" fn(*mut pcs_vk_recipe_recorder),
    /// `pcs_vk_recipe_record_shader_module` (ABI 2).
    pub recipe_record_shader_module: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::ShaderModule,
        *const vk::ShaderModuleCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_sampler` (ABI 2).
    pub recipe_record_sampler: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::Sampler,
        *const vk::SamplerCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_descriptor_set_layout` (ABI 2).
    pub recipe_record_descriptor_set_layout: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::DescriptorSetLayout,
        *const vk::DescriptorSetLayoutCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_pipeline_layout` (ABI 2).
    pub recipe_record_pipeline_layout: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::PipelineLayout,
        *const vk::PipelineLayoutCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_render_pass` (ABI 2).
    pub recipe_record_render_pass: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::RenderPass,
        *const vk::RenderPassCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_render_pass2` (ABI 2).
    pub recipe_record_render_pass2: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        vk::RenderPass,
        *const vk::RenderPassCreateInfo2<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_compute_pipelines` (ABI 2).
    pub recipe_record_compute_pipelines: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        u32,
        *const vk::ComputePipelineCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_record_graphics_pipelines` (ABI 2).
    pub recipe_record_graphics_pipelines: unsafe extern "C" fn(
        *const pcs_vk_recipe_recorder,
        u32,
        *const vk::GraphicsPipelineCreateInfo<'static>,
    ) -> pcs_result,
    /// `pcs_vk_recipe_recorder_flush` (ABI 2).
    pub recipe_recorder_flush: unsafe extern "C" fn(*const pcs_vk_recipe_recorder) -> pcs_result,
    /// `pcs_vk_recipe_application_key` (ABI 2).
    pub recipe_application_key:
        unsafe extern "C" fn(*const pcs_vk_recipe_recorder, *mut pcs_fingerprint) -> pcs_result,
    /// `pcs_vk_recipe_replay` (ABI 2).
    pub recipe_replay: unsafe extern "C" fn(
        *mut pcs_store,
        Option<vk::PFN_vkGetInstanceProcAddr>,
        *const pcs_fingerprint,
        u32,
        pcs_vk_replay_progress_fn,
        *mut c_void,
        *const u32,
        *mut pcs_vk_replay_summary,
    ) -> pcs_result,
    /// `pcs_vk_context_set_application` (ABI 2).
    pub context_set_application:
        unsafe extern "C" fn(*const pcs_vk_context, *const c_char, usize) -> pcs_result,
}

static VK_API: pcs_vk_api = pcs_vk_api {
    struct_size: std::mem::size_of::<pcs_vk_api>(),
    context_create: pcs_vk_context_create,
    context_release: pcs_vk_context_release,
    stored_key: pcs_vk_stored_key,
    load_pipeline_cache: pcs_vk_load_pipeline_cache,
    save_pipeline_cache: pcs_vk_save_pipeline_cache,
    merge_pipeline_caches: pcs_vk_merge_pipeline_caches,
    context_metrics: pcs_vk_context_metrics,
    load_outcome_str: pcs_vk_load_outcome_str,
    rejection_str: pcs_vk_rejection_str,
    save_outcome_str: pcs_vk_save_outcome_str,
    context_flush: pcs_vk_context_flush,
    recipe_recorder_create: pcs_vk_recipe_recorder_create,
    recipe_recorder_release: pcs_vk_recipe_recorder_release,
    recipe_record_shader_module: pcs_vk_recipe_record_shader_module,
    recipe_record_sampler: pcs_vk_recipe_record_sampler,
    recipe_record_descriptor_set_layout: pcs_vk_recipe_record_descriptor_set_layout,
    recipe_record_pipeline_layout: pcs_vk_recipe_record_pipeline_layout,
    recipe_record_render_pass: pcs_vk_recipe_record_render_pass,
    recipe_record_render_pass2: pcs_vk_recipe_record_render_pass2,
    recipe_record_compute_pipelines: pcs_vk_recipe_record_compute_pipelines,
    recipe_record_graphics_pipelines: pcs_vk_recipe_record_graphics_pipelines,
    recipe_recorder_flush: pcs_vk_recipe_recorder_flush,
    recipe_application_key: pcs_vk_recipe_application_key,
    recipe_replay: pcs_vk_recipe_replay,
    context_set_application: pcs_vk_context_set_application,
};

/// Writes to `*out` the static table of the Vulkan functions for ABI version `abi_version`
/// (pass `PCS_ABI_VERSION`). Also reachable as `pcs_api::get_vk_api`, so a `dlopen` user needs
/// no second `dlsym`.
///
/// Returns `PCS_OK`; `PCS_ERR_ABI_MISMATCH` when the request is newer than this library;
/// `PCS_ERR_INVALID_ARGUMENT` for version 0; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_UNSUPPORTED`
/// when the library was built without its Vulkan adapter. `*out` is written only on success.
/// Thread-safe; the table must not be written to or freed.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn pcs_get_vk_api(
    abi_version: u32,
    out: *mut *const pcs_vk_api,
) -> pcs_result {
    super::ffi_boundary!("pcs_get_vk_api", || -> FfiResult {
        let out = arg_out(out, "out")?;
        super::version::check_requested_abi(abi_version)?;
        // SAFETY: `out` is non-NULL and valid for a write (contract).
        unsafe { out.write(&VK_API) };
        Ok(pcs_result::PCS_OK)
    })
}

/// Names the application in the label the context writes by itself: the label that lets
/// tools name this device's entries ("llvmpipe · Mesa 22.3.6 · my-game") and tell a driver
/// still in use from one updated away (`pcstore prune` removes a device's entries first once
/// its labels say it was not seen for `PCSTORE_STALE_AFTER`, default 30 days).
///
/// Every context writes that label at its first `pcs_vk_save_pipeline_cache` (whatever the
/// save's outcome), naming the executable's file name unless this function named the
/// application; it is rewritten only when it says something else or was last written more than
/// a day before, so it costs one store read per context and rarely a write, and becomes durable
/// with the next flush. `name` is `name_len` bytes of UTF-8 (no NUL needed; invalid sequences
/// are shown as U+FFFD; more than 256 bytes are cut), copied during the call.
///
/// Call it right after `pcs_vk_context_create`, before the first save. Called later, the next
/// save writes a label under the new name too; the one under the former name stays until its
/// device goes stale or a prune removes it.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT` (`ctx`, or `name` with a length);
/// `PCS_ERR_INVALID_ARGUMENT` for an empty name (the label would name nothing). Thread-safe.
///
/// # Safety
/// `ctx` is a live context; `name` is valid for reads of `name_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_vk_context_set_application(
    ctx: *const pcs_vk_context,
    name: *const c_char,
    name_len: usize,
) -> pcs_result {
    super::ffi_boundary!("pcs_vk_context_set_application", || -> FfiResult {
        // SAFETY: forwarded contracts.
        let (ctx, name) = unsafe {
            (
                pcs_vk_context::arg(ctx, "ctx")?,
                arg_bytes(name.cast(), name_len, "name")?,
            )
        };
        if name.is_empty() {
            return Err(FfiError::invalid(
                "`name` is empty: a label must name the application",
            ));
        }
        ctx.set_label_application(&String::from_utf8_lossy(name));
        Ok(pcs_result::PCS_OK)
    })
}

// The C layout every engine compiles against: tests/c/test_vulkan.c asserts the same offsets
// against the real <vulkan/vulkan.h>, so ash's handle types and C's cannot drift apart.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(pcs_vk_device_info, instance) == 8);
    assert!(offset_of!(pcs_vk_device_info, physical_device) == 16);
    assert!(offset_of!(pcs_vk_device_info, device) == 24);
    assert!(offset_of!(pcs_vk_device_info, get_instance_proc_addr) == 32);
    assert!(offset_of!(pcs_vk_device_info, api_version) == 40);
    assert!(offset_of!(pcs_vk_device_info, engine_namespace) == 48);
    assert!(offset_of!(pcs_vk_device_info, engine_namespace_len) == 56);
    assert!(offset_of!(pcs_vk_device_info, max_blob_bytes) == 64);
    assert!(size_of::<pcs_vk_device_info>() == 72);
    assert!(offset_of!(pcs_vk_load_info, outcome) == 8);
    assert!(offset_of!(pcs_vk_load_info, rejection) == 12);
    assert!(offset_of!(pcs_vk_load_info, driver_result) == 16);
    assert!(offset_of!(pcs_vk_load_info, stored_bytes) == 24);
    assert!(offset_of!(pcs_vk_load_info, initial_data_bytes) == 32);
    assert!(offset_of!(pcs_vk_load_info, elapsed_ns) == 40);
    assert!(size_of::<pcs_vk_load_info>() == 48);
    assert!(offset_of!(pcs_vk_save_info, outcome) == 8);
    assert!(offset_of!(pcs_vk_save_info, driver_bytes) == 16);
    assert!(size_of::<pcs_vk_save_info>() == 40);
    assert!(offset_of!(pcs_vk_metrics, saves) == 56);
    assert!(offset_of!(pcs_vk_metrics, driver_refusals) == 96);
    assert!(offset_of!(pcs_vk_metrics, load_latency) == 120);
    assert!(size_of::<pcs_vk_metrics>() == 184);
    // Version 2 appends adapter-log's four functions, then the recipe functions, then the
    // label function.
    assert!(offset_of!(pcs_vk_api, load_outcome_str) == 64);
    assert!(offset_of!(pcs_vk_api, recipe_recorder_create) == 96);
    assert!(offset_of!(pcs_vk_api, context_set_application) == 200);
    assert!(size_of::<pcs_vk_api>() == 208);
    assert!(offset_of!(pcs_vk_recipe_recorder_info, api_version) == 16);
    assert!(offset_of!(pcs_vk_recipe_recorder_info, cache_key) == 20);
    assert!(offset_of!(pcs_vk_recipe_recorder_info, engine_namespace) == 56);
    assert!(offset_of!(pcs_vk_recipe_recorder_info, identity_len) == 80);
    assert!(size_of::<pcs_vk_recipe_recorder_info>() == 88);
    assert!(size_of::<pcs_vk_replay_summary>() == 72);
};

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::ffi::api_table::{pcs_api, pcs_get_api};
    use crate::ffi::version::PCS_ABI_VERSION;

    #[test]
    fn c_enums_keep_the_adapters_values() {
        for (outcome, value) in [
            (LoadOutcome::Hit, 0),
            (LoadOutcome::Miss, 1),
            (LoadOutcome::Corrupt, 2),
            (LoadOutcome::DeviceMismatch, 3),
            (LoadOutcome::DriverRefused, 4),
            (LoadOutcome::TooLarge, 5),
        ] {
            assert_eq!(pcs_vk_load_outcome::from(outcome) as i32, outcome as i32);
            assert_eq!(outcome as i32, value);
        }
        for value in 0..=16 {
            let rejection = [
                Rejection::None,
                Rejection::EnvelopeTruncated,
                Rejection::EnvelopeMagic,
                Rejection::EnvelopeVersion,
                Rejection::EnvelopeLength,
                Rejection::EnvelopeHash,
                Rejection::EnvelopeKey,
                Rejection::EnvelopeIdentity,
                Rejection::HeaderTruncated,
                Rejection::HeaderSize,
                Rejection::HeaderVersion,
                Rejection::HeaderVendor,
                Rejection::HeaderDevice,
                Rejection::HeaderUuid,
                Rejection::TooLarge,
                Rejection::DriverError,
                Rejection::StoreCorrupt,
            ][value as usize];
            assert_eq!(pcs_vk_rejection::from(rejection) as i32, value);
            assert_eq!(rejection as i32, value);
        }
        for outcome in [
            SaveOutcome::Stored,
            SaveOutcome::Unchanged,
            SaveOutcome::DriverBlobInvalid,
            SaveOutcome::TooLarge,
            SaveOutcome::StoreRejected,
        ] {
            assert_eq!(pcs_vk_save_outcome::from(outcome) as i32, outcome as i32);
        }
    }

    /// Every known value's description starts with its own name; anything else is "unknown".
    #[test]
    fn every_outcome_and_rejection_has_a_static_string() {
        fn text(described: *const c_char) -> &'static str {
            assert!(!described.is_null());
            // SAFETY: the functions return static NUL-terminated strings.
            unsafe { std::ffi::CStr::from_ptr(described) }
                .to_str()
                .expect("UTF-8")
        }
        fn check<T: Copy + std::fmt::Debug>(
            all: &[T],
            code: fn(T) -> i32,
            describe: extern "C" fn(i32) -> *const c_char,
            unknown: &str,
        ) {
            for (index, value) in all.iter().enumerate() {
                assert_eq!(
                    code(*value),
                    index as i32,
                    "{value:?}: values are 0, 1, 2..."
                );
                let described = text(describe(code(*value)));
                assert!(
                    described.starts_with(&format!("{value:?}: ")),
                    "{value:?}: {described}"
                );
            }
            for value in [-1, all.len() as i32, i32::MAX, i32::MIN] {
                assert_eq!(text(describe(value)), unknown, "{value}");
            }
        }
        check(
            &pcs_vk_load_outcome::ALL,
            |v| v as i32,
            pcs_vk_load_outcome_str,
            "unknown pcs_vk_load_outcome",
        );
        check(
            &pcs_vk_rejection::ALL,
            |v| v as i32,
            pcs_vk_rejection_str,
            "unknown pcs_vk_rejection",
        );
        check(
            &pcs_vk_save_outcome::ALL,
            |v| v as i32,
            pcs_vk_save_outcome_str,
            "unknown pcs_vk_save_outcome",
        );
        // Every adapter value is in the tables.
        assert_eq!(
            pcs_vk_load_outcome::ALL.len(),
            LoadOutcome::TooLarge as usize + 1
        );
        assert_eq!(
            pcs_vk_rejection::ALL.len(),
            Rejection::StoreCorrupt as usize + 1
        );
        assert_eq!(
            pcs_vk_save_outcome::ALL.len(),
            SaveOutcome::StoreRejected as usize + 1
        );
    }

    #[test]
    fn the_vk_table_is_reached_both_ways_and_checks_versions() {
        let mut direct: *const pcs_vk_api = ptr::null();
        let mut main: *const pcs_api = ptr::null();
        // SAFETY: valid out-pointers; the tables are static.
        unsafe {
            assert_eq!(
                pcs_get_vk_api(0, &mut direct),
                pcs_result::PCS_ERR_INVALID_ARGUMENT
            );
            assert_eq!(
                pcs_get_vk_api(PCS_ABI_VERSION + 1, &mut direct),
                pcs_result::PCS_ERR_ABI_MISMATCH
            );
            assert_eq!(
                pcs_get_vk_api(PCS_ABI_VERSION, ptr::null_mut()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert!(direct.is_null());
            assert_eq!(pcs_get_api(PCS_ABI_VERSION, &mut main), pcs_result::PCS_OK);
            let mut through_main: *const pcs_vk_api = ptr::null();
            assert_eq!(
                ((*main).get_vk_api)(PCS_ABI_VERSION, &mut through_main),
                pcs_result::PCS_OK
            );
            assert_eq!(
                pcs_get_vk_api(PCS_ABI_VERSION, &mut direct),
                pcs_result::PCS_OK
            );
            assert_eq!(direct, through_main);
            assert_eq!((*direct).struct_size, std::mem::size_of::<pcs_vk_api>());
        }
    }

    #[test]
    fn misuse_without_a_device_is_refused_before_any_vulkan_call() {
        let mut store = ptr::null_mut();
        let mut ctx = ptr::null_mut();
        // SAFETY: valid pointers throughout; the context is never created, so no Vulkan
        // handle is ever used.
        unsafe {
            assert_eq!(
                crate::ffi::pcs_store_open_memory(ptr::null(), &mut store),
                pcs_result::PCS_OK
            );
            let mut info: pcs_vk_device_info = std::mem::zeroed();
            info.struct_size = std::mem::size_of::<pcs_vk_device_info>();
            // No vkGetInstanceProcAddr.
            assert_eq!(
                pcs_vk_context_create(store, &info, &mut ctx),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            info.struct_size = 8;
            assert_eq!(
                pcs_vk_context_create(store, &info, &mut ctx),
                pcs_result::PCS_ERR_INVALID_ARGUMENT
            );
            assert!(ctx.is_null());
            let key = pcs_fingerprint::default();
            let mut cache = vk::PipelineCache::null();
            assert_eq!(
                pcs_vk_load_pipeline_cache(
                    ptr::null(),
                    &key,
                    ptr::null(),
                    &mut cache,
                    ptr::null_mut()
                ),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                pcs_vk_save_pipeline_cache(ptr::null(), &key, cache, ptr::null_mut()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                pcs_vk_merge_pipeline_caches(ptr::null(), cache, 0, ptr::null()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            let mut metrics = pcs_vk_metrics::default();
            assert_eq!(
                pcs_vk_context_metrics(ptr::null(), &mut metrics),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                pcs_vk_context_flush(ptr::null()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            pcs_vk_context_release(ptr::null_mut());
            crate::ffi::pcs_store_release(store);
        }
    }

    #[test]
    fn an_engine_records_through_the_c_functions_and_misuse_is_refused() {
        use crate::recipe::{ApplicationRecord, Catalog, Recipe};
        use ash::vk::Handle;

        let mut store = ptr::null_mut();
        let mut recorder = ptr::null_mut();
        let queue_priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default().queue_priorities(&queue_priorities)];
        let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queues);
        let identity = b"engine\0game";
        let namespace = b"engine 1.0";
        let code = [0x0723_0203u32, 0x0001_0000, 0, 1, 0];
        let module_info = vk::ShaderModuleCreateInfo::default().code(&code);
        let module = vk::ShaderModule::from_raw(0x10);
        let layout = vk::PipelineLayout::from_raw(0x20);
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main");
        let pipelines = [vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(layout)];
        // SAFETY: valid pointers and create-infos throughout; handles are made up and never
        // reach a driver.
        unsafe {
            assert_eq!(
                crate::ffi::pcs_store_open_memory(ptr::null(), &mut store),
                pcs_result::PCS_OK
            );
            let mut info: pcs_vk_recipe_recorder_info = std::mem::zeroed();
            info.struct_size = std::mem::size_of::<pcs_vk_recipe_recorder_info>();
            assert_eq!(
                pcs_vk_recipe_recorder_create(store, &info, &mut recorder),
                pcs_result::PCS_ERR_NULL_ARGUMENT,
                "no device create-info"
            );
            info.device_create_info = ptr::from_ref(&device_info).cast();
            info.api_version = vk::API_VERSION_1_3;
            info.cache_key = pcs_fingerprint { bytes: [3; 32] };
            info.identity = identity.as_ptr();
            info.identity_len = identity.len();
            info.engine_namespace = namespace.as_ptr();
            info.engine_namespace_len = namespace.len();
            assert_eq!(
                pcs_vk_recipe_recorder_create(store, &info, &mut recorder),
                pcs_result::PCS_OK
            );
            // The pipeline refers to a layout never recorded: refused, the others not.
            assert_eq!(
                pcs_vk_recipe_record_shader_module(
                    recorder,
                    module,
                    ptr::from_ref(&module_info).cast()
                ),
                pcs_result::PCS_OK
            );
            assert_eq!(
                pcs_vk_recipe_record_compute_pipelines(recorder, 1, pipelines.as_ptr().cast()),
                pcs_result::PCS_ERR_UNSUPPORTED
            );
            let layout_info = vk::PipelineLayoutCreateInfo::default();
            assert_eq!(
                pcs_vk_recipe_record_pipeline_layout(
                    recorder,
                    layout,
                    ptr::from_ref(&layout_info).cast()
                ),
                pcs_result::PCS_OK
            );
            assert_eq!(
                pcs_vk_recipe_record_compute_pipelines(recorder, 1, pipelines.as_ptr().cast()),
                pcs_result::PCS_OK
            );
            assert_eq!(
                pcs_vk_recipe_record_compute_pipelines(recorder, 1, ptr::null()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                pcs_vk_recipe_record_sampler(recorder, vk::Sampler::null(), ptr::null()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(pcs_vk_recipe_recorder_flush(recorder), pcs_result::PCS_OK);
            let mut application = pcs_fingerprint::default();
            assert_eq!(
                pcs_vk_recipe_application_key(recorder, &mut application),
                pcs_result::PCS_OK
            );
            let rust_store = crate::ffi::store::arg_store(store).unwrap();
            let record = ApplicationRecord::from_bytes(
                &rust_store
                    .get(&application.into())
                    .expect("the application record is stored"),
            )
            .expect("parses");
            assert_eq!(record.identity, identity);
            assert_eq!(record.cache.namespace, namespace);
            assert_eq!(record.cache.key, PipelineFingerprint([3; 32]));
            assert_eq!(record.pipelines.values().map(|p| p.len()).sum::<usize>(), 1);
            let catalog = Catalog::from_bytes(
                &rust_store
                    .get(&Catalog::store_key().fingerprint())
                    .expect("catalog"),
            )
            .expect("parses");
            assert!(catalog
                .applications
                .contains(&RecipeKey(application.into())));

            // Replay refuses misuse before touching Vulkan; a missing record is corrupt.
            unsafe extern "system" fn no_vulkan(
                _: vk::Instance,
                _: *const std::ffi::c_char,
            ) -> vk::PFN_vkVoidFunction {
                unreachable!("no Vulkan call before the record is found")
            }
            let missing = pcs_fingerprint { bytes: [9; 32] };
            let replay = |gipa, key: *const pcs_fingerprint| {
                pcs_vk_recipe_replay(
                    store,
                    gipa,
                    key,
                    0,
                    None,
                    ptr::null_mut(),
                    ptr::null(),
                    ptr::null_mut(),
                )
            };
            assert_eq!(replay(None, &missing), pcs_result::PCS_ERR_NULL_ARGUMENT);
            assert_eq!(
                replay(Some(no_vulkan), ptr::null()),
                pcs_result::PCS_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                replay(Some(no_vulkan), &missing),
                pcs_result::PCS_ERR_CORRUPT
            );
            pcs_vk_recipe_recorder_release(recorder);
            pcs_vk_recipe_recorder_release(ptr::null_mut());
            crate::ffi::pcs_store_release(store);
        }
    }
}
