//! What the layer knows per instance and device, found by dispatch key.
//!
//! A dispatchable handle's first pointer-sized word is the loader's dispatch-table pointer,
//! shared by an instance and its physical devices, and by a device and its queues and command
//! buffers. Entries are removed on destroy because the loader reuses addresses. The maps' locks
//! are held only to clone an `Arc`, never while calling down the chain.

use std::collections::HashMap;
use std::ffi::CStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use ash::vk::{self, Handle};
use once_cell::sync::{Lazy, OnceCell};
use parking_lot::RwLock;

use super::cache::DeviceCache;
use super::saver::Saver;

/// The loader's dispatch-table pointer of a dispatchable handle.
pub(super) type DispatchKey = usize;

/// Reads the dispatch key of `handle`.
///
/// # Safety
/// `handle` must be a live dispatchable handle created through the loader (non-null).
pub(super) unsafe fn dispatch_key(handle: impl Handle) -> DispatchKey {
    let first_word = handle.as_raw() as usize as *const usize;
    // SAFETY: a live dispatchable handle points at an object whose first word is the loader's
    // dispatch pointer (caller's guarantee).
    unsafe { first_word.read() }
}

/// One instance created through the layer.
pub(super) struct InstanceData {
    /// The handle the next layer returned.
    pub instance: vk::Instance,
    /// The next layer's `vkGetInstanceProcAddr`.
    pub next_get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    /// The next layer's `vkDestroyInstance`.
    pub destroy_instance: vk::PFN_vkDestroyInstance,
    /// `VkApplicationInfo::apiVersion` (0 when none was given).
    pub api_version: u32,
    /// Executable and application names and versions: separates applications in the store.
    pub application: Vec<u8>,
}

/// The next layer's device functions the layer calls.
#[derive(Clone, Copy)]
pub(super) struct DeviceFns {
    pub destroy_device: vk::PFN_vkDestroyDevice,
    pub create_graphics_pipelines: vk::PFN_vkCreateGraphicsPipelines,
    pub create_compute_pipelines: vk::PFN_vkCreateComputePipelines,
    /// Present only when the device has `VK_KHR_ray_tracing_pipeline` enabled.
    pub create_ray_tracing_pipelines: Option<vk::PFN_vkCreateRayTracingPipelinesKHR>,
    pub destroy_pipeline_cache: vk::PFN_vkDestroyPipelineCache,
}

/// One device created through the layer.
pub(super) struct DeviceData {
    /// The next layer's `vkGetDeviceProcAddr`.
    pub next_get_device_proc_addr: vk::PFN_vkGetDeviceProcAddr,
    /// The next layer's functions.
    pub fns: DeviceFns,
    /// The layer-owned cache substituted for `VK_NULL_HANDLE`; set once right after the device
    /// is registered (the adapter resolves device commands through this layer's resolvers,
    /// which need the registration), unset if it could not be made.
    pub cache: OnceCell<Arc<DeviceCache>>,
    /// The background saver of `cache`, taken at `vkDestroyDevice`.
    pub saver: parking_lot::Mutex<Option<Saver>>,
}

/// Hashes a dispatch key (a heap address) with one multiply: the map is on every pipeline
/// creation's path, and SipHash's DoS resistance buys nothing for loader-chosen addresses.
#[derive(Default)]
pub(super) struct DispatchKeyHasher(u64);

impl Hasher for DispatchKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, key: usize) {
        // Fibonacci hashing; the high bits (which hashbrown uses) mix every address bit.
        self.0 = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type DispatchMap<T> = HashMap<DispatchKey, Arc<T>, BuildHasherDefault<DispatchKeyHasher>>;

/// A map from dispatch key to shared data. Thread-safe.
pub(super) struct Registry<T> {
    map: Lazy<RwLock<DispatchMap<T>>>,
}

impl<T> Registry<T> {
    const fn new() -> Self {
        Self {
            map: Lazy::new(|| RwLock::new(DispatchMap::default())),
        }
    }

    /// Records `data` under `key`, replacing a stale entry of a reused address.
    pub fn insert(&self, key: DispatchKey, data: Arc<T>) {
        self.map.write().insert(key, data);
    }

    /// The data under `key`, if any.
    pub fn get(&self, key: DispatchKey) -> Option<Arc<T>> {
        self.map.read().get(&key).cloned()
    }

    /// Removes and returns the data under `key`.
    pub fn remove(&self, key: DispatchKey) -> Option<Arc<T>> {
        self.map.write().remove(&key)
    }
}

/// Instances by dispatch key (physical devices share their instance's key).
pub(super) static INSTANCES: Registry<InstanceData> = Registry::new();
/// Devices by dispatch key.
pub(super) static DEVICES: Registry<DeviceData> = Registry::new();

/// Reinterprets one function pointer type as another of the same size.
///
/// # Safety
/// `To` must be the real signature of the function `from` points to (as given by the loader for
/// the name it was resolved under), or `from` must be a function of signature `From` being
/// erased to `PFN_vkVoidFunction`'s inner type for the loader to cast back.
pub(super) unsafe fn cast_fn<From: Copy, To: Copy>(from: From) -> To {
    const {
        assert!(std::mem::size_of::<From>() == std::mem::size_of::<To>());
    }
    // SAFETY: same size (checked at compile time); the signature is the caller's guarantee.
    unsafe { std::mem::transmute_copy(&from) }
}

/// Resolves `name` through `resolve` and casts it to the typed PFN `T`.
///
/// # Safety
/// `resolve` must be a valid `vkGet*ProcAddr` for `handle`, and `T` the PFN type of `name`.
pub(super) unsafe fn resolve<H: Copy, T: Copy>(
    resolve: unsafe extern "system" fn(H, *const std::ffi::c_char) -> vk::PFN_vkVoidFunction,
    handle: H,
    name: &CStr,
) -> Option<T> {
    // SAFETY: valid resolver and handle (caller); `name` is NUL-terminated.
    let pointer = unsafe { resolve(handle, name.as_ptr()) }?;
    // SAFETY: the loader returned the function named `name`, whose PFN type is `T` (caller).
    Some(unsafe { cast_fn(pointer) })
}
