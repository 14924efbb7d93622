//! One device's view of the store: load validated blobs into `VkPipelineCache`s, save them back.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ash::vk;
use parking_lot::Mutex;

use super::dispatch::DeviceFns;
use super::envelope::{self, ENVELOPE_HEADER_LEN};
use super::error::VulkanError;
use super::header::{check_cache_header, CacheHeaderExpectation};
use super::identity::{
    device_identity_from_properties, device_name, query_properties, DriverProperties,
};
use super::metrics::{VulkanMetrics, VulkanMetricsRecorder};
use super::outcome::{LoadInfo, LoadOutcome, Rejection, SaveInfo, SaveOutcome};
use crate::fingerprint::{DeviceIdentity, PipelineFingerprint, ScopedKeyDeriver};
use crate::store::{Lookup, PipelineCacheStore};

/// The engine's Vulkan objects a [`VulkanContext`] works with. pcstore borrows them: it never
/// creates or destroys an instance or device and never loads libvulkan.
#[derive(Clone, Copy, Debug)]
pub struct DeviceInfo {
    /// The engine's instance.
    pub instance: vk::Instance,
    /// The physical device `device` was created from.
    pub physical_device: vk::PhysicalDevice,
    /// The engine's device; caches are created on it.
    pub device: vk::Device,
    /// The engine's `vkGetInstanceProcAddr` (system loader, volk, or its own).
    pub get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    /// `VkApplicationInfo::apiVersion` the instance was created with (0 means 1.0). From 1.2 on,
    /// driverID, driverName and driverInfo join the identity.
    pub api_version: u32,
}

/// How a [`VulkanContext`] behaves.
#[derive(Clone, Debug)]
pub struct VulkanOptions {
    /// Engine-chosen namespace (engine name, build flavour, content version): part of every
    /// stored key, so two namespaces never see each other's blobs.
    pub namespace: Vec<u8>,
    /// Largest driver blob loaded or saved. Larger stored blobs are refused before the driver
    /// sees them; larger driver blobs are not saved (one CPU driver grows its blob on every
    /// round trip, so without a cap it would grow forever).
    pub max_blob_bytes: u64,
}

impl VulkanOptions {
    /// The default cap: 64 MiB, far above real drivers' caches for one pipeline set.
    pub const DEFAULT_MAX_BLOB_BYTES: u64 = 64 << 20;
}

impl Default for VulkanOptions {
    fn default() -> Self {
        Self {
            namespace: Vec::new(),
            max_blob_bytes: Self::DEFAULT_MAX_BLOB_BYTES,
        }
    }
}

/// At most this many keys' last payload hashes are remembered for skipping unchanged saves;
/// past it the memory is cleared (the next save of each key then writes once).
const REMEMBERED_KEYS: usize = 4096;

/// Tries of the `vkGetPipelineCacheData` size/fill pair when another thread keeps growing the
/// cache between the two calls.
const GET_DATA_ATTEMPTS: usize = 8;

/// A store bound to one `VkDevice`: created once per device, shared by every thread.
///
/// Thread-safety: `Send + Sync`; loads and saves may run concurrently from any threads (the
/// Vulkan calls used are not externally synchronized on the device; a `VkPipelineCache` passed
/// in must follow Vulkan's own rules for that cache).
pub struct VulkanContext {
    store: Arc<dyn PipelineCacheStore>,
    device: vk::Device,
    fns: DeviceFns,
    identity: DeviceIdentity,
    scoped_keys: ScopedKeyDeriver,
    expected_header: CacheHeaderExpectation,
    device_name: String,
    max_blob_bytes: u64,
    /// BLAKE3 of the payload last loaded or stored per scoped key.
    last_payload: Mutex<HashMap<PipelineFingerprint, [u8; 32]>>,
    metrics: VulkanMetricsRecorder,
    /// The application the context's own label names (label.rs); `None`: the executable's
    /// name.
    pub(super) label_application: Mutex<Option<String>>,
    /// Whether the next save writes the context's own label: set at creation and by
    /// `set_label_application`, cleared by that write and by `record_label` (a caller that
    /// labels for itself, as the layer does, gets no second label).
    pub(super) label_due: AtomicBool,
}

// The documented contract: one context per device, shared by every thread.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<VulkanContext>();
};

impl std::fmt::Debug for VulkanContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulkanContext")
            .field("device", &self.device)
            .field("device_name", &self.device_name)
            .field("identity", &self.identity)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .finish_non_exhaustive()
    }
}

impl VulkanContext {
    /// Resolves the entry points pcstore needs and reads the device's identity once.
    ///
    /// # Errors
    /// [`VulkanError::InvalidDeviceInfo`] for a null handle, [`VulkanError::MissingEntryPoint`]
    /// when the loader lacks a function.
    ///
    /// # Safety
    /// The handles must be live and related as documented on [`DeviceInfo`], `api_version` must
    /// not exceed the instance's, and the device and instance must outlive the context.
    pub unsafe fn new(
        store: Arc<dyn PipelineCacheStore>,
        device_info: DeviceInfo,
        options: VulkanOptions,
    ) -> Result<Self, VulkanError> {
        use ash::vk::Handle;
        if device_info.instance.is_null() {
            return Err(VulkanError::InvalidDeviceInfo("instance"));
        }
        if device_info.physical_device.is_null() {
            return Err(VulkanError::InvalidDeviceInfo("physical_device"));
        }
        if device_info.device.is_null() {
            return Err(VulkanError::InvalidDeviceInfo("device"));
        }
        let api_version = device_info.api_version.max(vk::API_VERSION_1_0);
        // SAFETY: the caller guarantees live, related handles and a valid GIPA.
        let fns = unsafe {
            DeviceFns::load(
                device_info.get_instance_proc_addr,
                device_info.instance,
                device_info.device,
                api_version,
            )?
        };
        // SAFETY: `fns` belongs to the physical device's instance; version checked by caller.
        let (properties, driver) =
            unsafe { query_properties(&fns, device_info.physical_device, api_version) };
        let vulkan12 = driver.as_ref().map(DriverProperties::as_vulkan12);
        let identity =
            device_identity_from_properties(&properties, vulkan12.as_ref(), &options.namespace);
        Ok(Self {
            store,
            device: device_info.device,
            fns,
            expected_header: CacheHeaderExpectation {
                vendor_id: identity.vendor_id,
                device_id: identity.device_id,
                pipeline_cache_uuid: identity.pipeline_cache_uuid,
            },
            scoped_keys: ScopedKeyDeriver::new(&identity),
            identity,
            device_name: device_name(&properties),
            max_blob_bytes: options.max_blob_bytes,
            last_payload: Mutex::new(HashMap::new()),
            metrics: VulkanMetricsRecorder::default(),
            label_application: Mutex::new(None),
            label_due: AtomicBool::new(true),
        })
    }

    /// The identity read at creation; every stored key is scoped to it.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// `VkPhysicalDeviceProperties::deviceName`.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The key a blob for the engine's `key` is stored under on this device.
    pub fn stored_key(&self, key: &PipelineFingerprint) -> PipelineFingerprint {
        self.scoped_keys.scope(key)
    }

    /// The store this context reads and writes.
    pub fn store(&self) -> &Arc<dyn PipelineCacheStore> {
        &self.store
    }

    /// A snapshot of this context's counters.
    pub fn metrics(&self) -> VulkanMetrics {
        self.metrics.snapshot()
    }

    /// Makes every save this context stored so far durable: flushes the context's store (the
    /// same as `self.store().flush()`), for callers that handed the store over and kept no
    /// handle of their own.
    ///
    /// # Errors
    /// The store's flush error: some saves may not survive a crash.
    pub fn flush(&self) -> std::io::Result<()> {
        self.store.flush()
    }

    /// Creates a `VkPipelineCache` seeded from the store when the stored blob passes every
    /// check, empty otherwise; `LoadInfo` says which and why.
    ///
    /// Nothing unchecked reaches the driver: the envelope (magic, version, length, BLAKE3, key,
    /// identity) and the payload's `VkPipelineCacheHeaderVersionOne` (size, version, vendor,
    /// device, UUID) are verified first, and a blob over the size cap is not even hashed. If the
    /// driver fails with checked data, the cache is created again without data. An empty cache
    /// is always created with `initialDataSize = 0` and a null pointer. The caller owns the
    /// returned cache and destroys it with `vkDestroyPipelineCache` (same allocator).
    ///
    /// # Errors
    /// Only when even an empty cache cannot be created ([`VulkanError::Call`]).
    ///
    /// # Safety
    /// The context's device must be alive; `allocation_callbacks`, if any, must be valid for the
    /// cache's whole life.
    pub unsafe fn load_pipeline_cache(
        &self,
        key: &PipelineFingerprint,
        allocation_callbacks: Option<&vk::AllocationCallbacks<'_>>,
    ) -> Result<(vk::PipelineCache, LoadInfo), VulkanError> {
        let started = Instant::now();
        let scoped = self.stored_key(key);
        let stored = self.store.lookup(&scoped);
        let stored_bytes = match &stored {
            Lookup::Hit(blob) => blob.len() as u64,
            Lookup::Miss | Lookup::Corrupt => 0,
        };
        let checked = match &stored {
            Lookup::Miss => Err(None),
            Lookup::Corrupt => Err(Some(Rejection::StoreCorrupt)),
            Lookup::Hit(blob) => self.check_stored(blob, &scoped).map_err(Some),
        };
        let mut info = LoadInfo {
            outcome: LoadOutcome::Miss,
            rejection: Rejection::None,
            stored_bytes,
            initial_data_bytes: 0,
            driver_result: vk::Result::SUCCESS,
            elapsed_ns: 0,
        };
        let mut cache = None;
        match checked {
            Ok((payload, hash)) => {
                // SAFETY: device alive and callbacks valid (caller); payload checked above.
                match unsafe { self.create_cache(payload, allocation_callbacks) } {
                    Ok(created) => {
                        cache = Some(created);
                        info.outcome = LoadOutcome::Hit;
                        info.initial_data_bytes = payload.len() as u64;
                        self.remember(scoped, hash);
                    }
                    Err(result) => {
                        self.metrics.driver_refusal();
                        info.driver_result = result;
                        info.rejection = Rejection::DriverError;
                        info.outcome = LoadOutcome::DriverRefused;
                    }
                }
            }
            Err(Some(rejection)) => {
                info.rejection = rejection;
                info.outcome = rejection.outcome();
            }
            Err(None) => {}
        }
        if info.outcome != LoadOutcome::Hit {
            // Whatever is stored must be rewritten by the next save.
            self.last_payload.lock().remove(&scoped);
        }
        let cache = match cache {
            Some(cache) => cache,
            // SAFETY: as above; no data offered.
            None => unsafe { self.create_cache(&[], allocation_callbacks) }.map_err(|result| {
                VulkanError::Call {
                    function: "vkCreatePipelineCache",
                    result,
                }
            })?,
        };
        let elapsed = started.elapsed();
        info.elapsed_ns = super::metrics::nanos(elapsed);
        self.metrics
            .load(info.outcome, info.initial_data_bytes, elapsed);
        Ok((cache, info))
    }

    /// Fetches `cache`'s data from the driver, checks it against this device, and stores it
    /// under the engine's `key` unless it is unchanged since this context last loaded or saved
    /// it. The cache stays the caller's.
    ///
    /// A driver blob that fails the header check (some drivers report fewer bytes than their
    /// own header claims) is counted and not stored. The store's `flush` (or [`Self::flush`])
    /// makes a `Stored` save durable.
    ///
    /// The context's first save (whatever its outcome) also writes the device's label, unless
    /// the caller wrote one with [`Self::record_label`]: see
    /// [`Self::set_label_application`].
    ///
    /// # Errors
    /// [`VulkanError::Call`] when `vkGetPipelineCacheData` fails.
    ///
    /// # Safety
    /// `cache` must be a live pipeline cache of this context's (live) device.
    pub unsafe fn save_pipeline_cache(
        &self,
        key: &PipelineFingerprint,
        cache: vk::PipelineCache,
    ) -> Result<SaveInfo, VulkanError> {
        if self.label_due.load(Ordering::Relaxed) {
            self.write_own_label();
        }
        let started = Instant::now();
        let scoped = self.stored_key(key);
        // SAFETY: live cache of this device (caller).
        let fetched = unsafe { self.cache_data(cache)? };
        let (outcome, driver_bytes, stored_bytes) = match fetched {
            None => (SaveOutcome::TooLarge, 0, 0),
            Some(buffer) => {
                let driver_bytes = (buffer.len() - ENVELOPE_HEADER_LEN) as u64;
                let (outcome, stored) = self.store_checked(scoped, buffer);
                (outcome, driver_bytes, stored)
            }
        };
        let elapsed = started.elapsed();
        let bytes_saved = if outcome == SaveOutcome::Stored {
            driver_bytes
        } else {
            0
        };
        self.metrics.save(outcome, bytes_saved, elapsed);
        Ok(SaveInfo {
            outcome,
            driver_bytes,
            stored_bytes,
            elapsed_ns: super::metrics::nanos(elapsed),
        })
    }

    /// Merges `sources` into `destination` (`vkMergePipelineCaches`), for engines that give each
    /// thread its own cache and save one merged cache.
    ///
    /// # Errors
    /// [`VulkanError::Call`] when the driver fails.
    ///
    /// # Safety
    /// All caches must be live caches of this context's device; `destination` must not be in
    /// `sources` and must not be used by another thread during the call (Vulkan's rule).
    pub unsafe fn merge_pipeline_caches(
        &self,
        destination: vk::PipelineCache,
        sources: &[vk::PipelineCache],
    ) -> Result<(), VulkanError> {
        if sources.is_empty() {
            return Ok(());
        }
        let count = u32::try_from(sources.len()).map_err(|_| VulkanError::Call {
            function: "vkMergePipelineCaches",
            result: vk::Result::ERROR_OUT_OF_HOST_MEMORY,
        })?;
        // SAFETY: live caches of this device, destination not among sources (caller).
        let result = unsafe {
            (self.fns.merge_pipeline_caches)(self.device, destination, count, sources.as_ptr())
        };
        match result {
            vk::Result::SUCCESS => Ok(()),
            result => Err(VulkanError::Call {
                function: "vkMergePipelineCaches",
                result,
            }),
        }
    }

    /// The driver's data of `cache` (`vkGetPipelineCacheData`), unchecked and not stored:
    /// for handing a loaded cache's contents to another process on the same device (replay
    /// workers seed their caches with it). `None` when larger than the context's size cap.
    ///
    /// # Errors
    /// [`VulkanError::Call`] when `vkGetPipelineCacheData` fails.
    ///
    /// # Safety
    /// `cache` must be a live pipeline cache of this context's (live) device.
    pub unsafe fn pipeline_cache_data(
        &self,
        cache: vk::PipelineCache,
    ) -> Result<Option<Vec<u8>>, VulkanError> {
        // SAFETY: live cache of this device (caller).
        let fetched = unsafe { self.cache_data(cache)? };
        Ok(fetched.map(|mut buffer| buffer.split_off(ENVELOPE_HEADER_LEN)))
    }

    /// Every check a stored entry must pass before its payload may reach the driver.
    fn check_stored<'a>(
        &self,
        stored: &'a [u8],
        scoped: &PipelineFingerprint,
    ) -> Result<(&'a [u8], [u8; 32]), Rejection> {
        let payload_len = (stored.len() as u64).saturating_sub(ENVELOPE_HEADER_LEN as u64);
        if payload_len > self.max_blob_bytes {
            return Err(Rejection::TooLarge);
        }
        let (payload, hash) = envelope::open(stored, scoped, &self.identity)?;
        check_cache_header(payload, &self.expected_header)?;
        Ok((payload, hash))
    }

    /// Checks a driver blob (behind `ENVELOPE_HEADER_LEN` reserved bytes in `buffer`), skips
    /// it if unchanged, else seals it in place and stores it.
    fn store_checked(
        &self,
        scoped: PipelineFingerprint,
        mut buffer: Vec<u8>,
    ) -> (SaveOutcome, u64) {
        let data = &buffer[ENVELOPE_HEADER_LEN..];
        if data.len() as u64 > self.max_blob_bytes {
            return (SaveOutcome::TooLarge, 0);
        }
        if check_cache_header(data, &self.expected_header).is_err() {
            return (SaveOutcome::DriverBlobInvalid, 0);
        }
        let hash = *blake3::hash(data).as_bytes();
        if self.last_payload.lock().get(&scoped) == Some(&hash) {
            return (SaveOutcome::Unchanged, 0);
        }
        envelope::seal_in_place(&mut buffer, &hash, &scoped, &self.identity);
        let sealed_len = buffer.len() as u64;
        match self.store.try_put(scoped, buffer) {
            Ok(()) => {
                self.remember(scoped, hash);
                (SaveOutcome::Stored, sealed_len)
            }
            Err(_) => (SaveOutcome::StoreRejected, 0),
        }
    }

    fn remember(&self, scoped: PipelineFingerprint, hash: [u8; 32]) {
        let mut remembered = self.last_payload.lock();
        if remembered.len() >= REMEMBERED_KEYS && !remembered.contains_key(&scoped) {
            remembered.clear();
        }
        remembered.insert(scoped, hash);
    }

    /// `vkCreatePipelineCache` with `data` as initial data (none when empty).
    ///
    /// # Safety
    /// Device alive; callbacks valid for the cache's life; `data` already checked.
    unsafe fn create_cache(
        &self,
        data: &[u8],
        allocation_callbacks: Option<&vk::AllocationCallbacks<'_>>,
    ) -> Result<vk::PipelineCache, vk::Result> {
        // Never a non-null pointer with size 0: one driver fails on exactly that.
        let create_info = vk::PipelineCacheCreateInfo {
            initial_data_size: data.len(),
            p_initial_data: if data.is_empty() {
                ptr::null()
            } else {
                data.as_ptr().cast()
            },
            ..Default::default()
        };
        let allocator = allocation_callbacks.map_or(ptr::null(), ptr::from_ref);
        let mut cache = vk::PipelineCache::null();
        // SAFETY: create_info and data live for the call; device and allocator valid (caller).
        let result = unsafe {
            (self.fns.create_pipeline_cache)(self.device, &create_info, allocator, &mut cache)
        };
        match result {
            vk::Result::SUCCESS => Ok(cache),
            error => Err(error),
        }
    }

    /// The cache's data by the two-call pattern, behind `ENVELOPE_HEADER_LEN` zero bytes
    /// reserved for the envelope; `None` when larger than the cap.
    ///
    /// Copes with the drivers measured: some leave the size as given for a larger buffer, some
    /// answer `VK_INCOMPLETE` unless the size is exact, and the cache may grow between the two
    /// calls when other threads use it (then the pair is retried a bounded number of times).
    ///
    /// # Safety
    /// `cache` is a live cache of this context's device.
    unsafe fn cache_data(&self, cache: vk::PipelineCache) -> Result<Option<Vec<u8>>, VulkanError> {
        let fail = |result| VulkanError::Call {
            function: "vkGetPipelineCacheData",
            result,
        };
        for _ in 0..GET_DATA_ATTEMPTS {
            let mut size = 0usize;
            // SAFETY: size query with a null buffer; cache and device live (caller).
            let result = unsafe {
                (self.fns.get_pipeline_cache_data)(self.device, cache, &mut size, ptr::null_mut())
            };
            if result != vk::Result::SUCCESS {
                return Err(fail(result));
            }
            if size as u64 > self.max_blob_bytes {
                return Ok(None);
            }
            let mut buffer = vec![0u8; ENVELOPE_HEADER_LEN + size];
            if size == 0 {
                return Ok(Some(buffer));
            }
            let mut written = size;
            // SAFETY: `buffer` holds `written` writable bytes after the reserved header.
            let result = unsafe {
                (self.fns.get_pipeline_cache_data)(
                    self.device,
                    cache,
                    &mut written,
                    buffer[ENVELOPE_HEADER_LEN..].as_mut_ptr().cast(),
                )
            };
            match result {
                vk::Result::SUCCESS => {
                    buffer.truncate(ENVELOPE_HEADER_LEN + written.min(size));
                    return Ok(Some(buffer));
                }
                vk::Result::INCOMPLETE => continue,
                error => return Err(fail(error)),
            }
        }
        Err(fail(vk::Result::INCOMPLETE))
    }
}
