//! The layer-owned `VkPipelineCache` of one device, loaded from and saved to the shared store
//! through the Vulkan adapter (so every byte is validated exactly as for engines).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use ash::vk;
use once_cell::sync::OnceCell;

use super::config::{config, layer_log};
use super::instance::InstanceData;
use crate::config::{DiskOutcome, StorePlan};
use crate::store::PipelineCacheStore;
use crate::vulkan::{
    application_label, DeviceInfo, SaveOutcome, VulkanContext, VulkanError, VulkanOptions,
};
use crate::PipelineFingerprint;

/// The key of a device's layer cache before it is scoped to the device and the application.
pub(super) fn layer_cache_key() -> PipelineFingerprint {
    PipelineFingerprint::of(b"pcstore.vulkan-layer.device-cache.v1")
}

/// The process-wide store every device of every instance shares: the default store, exactly as
/// `pcs_store_open_default` opens it (memory over disk over the remote tier when built with
/// `remote` and `PCSTORE_REMOTE_URL` is set; memory alone with `PCSTORE_DISABLE`). Tiers that
/// cannot be opened are left out, down to memory alone: the application keeps working either way.
///
/// The remote tier is a background layer (`BackgroundLayers`): no Vulkan call waits on the
/// network for more than its small bounds (a lookup at `vkCreateDevice`, a flush at a save), a
/// remote hit that comes later lands in memory and on disk for the next launch, and a server
/// found dead is remembered in the store's directory so that the processes after it skip it.
pub(super) fn shared_store() -> Arc<dyn PipelineCacheStore> {
    static STORE: OnceCell<Arc<dyn PipelineCacheStore>> = OnceCell::new();
    STORE.get_or_init(|| open_store(&config().store)).clone()
}

fn open_store(plan: &StorePlan) -> Arc<dyn PipelineCacheStore> {
    let opened = plan.clone().open().unwrap_or_else(|error| {
        eprintln!("pcstore: {error}; the Vulkan layer continues without the remote tier");
        plan.clone().open_local()
    });
    match &opened.disk {
        DiskOutcome::Open(root) => layer_log!(Info, "store at {}", root.display()),
        DiskOutcome::Disabled => {
            layer_log!(Info, "PCSTORE_DISABLE: this process caches in memory only");
        }
        DiskOutcome::Unavailable(error) => {
            layer_log!(
                Warn,
                "disk store unavailable ({error}); this process caches in memory only"
            );
        }
    }
    if opened.remote {
        layer_log!(Info, "remote tier {}", crate::config::REMOTE_URL);
    }
    opened.store
}

/// A device's layer-owned pipeline cache. Thread-safe: creation calls only read `cache` and
/// bump a counter; saves may run on any thread (`vkGetPipelineCacheData` does not need the
/// cache externally synchronized).
pub(super) struct DeviceCache {
    context: VulkanContext,
    /// The application as its label and history name it.
    application: String,
    device: vk::Device,
    cache: vk::PipelineCache,
    commands: CacheCommands,
    /// Pipelines were created through `cache` since the last save. Set by a load-then-store
    /// so creating threads only read the shared cache line once it is set.
    grown: AtomicBool,
    /// What the application's own caches gathered, merged in as each is destroyed (with
    /// `PCSTORE_LAYER_APP_CACHES`): a cache of the layer's alone, because `cache` cannot be
    /// merged into while application threads create pipelines with it (a merge's destination
    /// must be externally synchronized). The lock is that synchronization.
    collector: Option<parking_lot::Mutex<vk::PipelineCache>>,
    /// Something was merged into `collector` since the last save.
    collected: AtomicBool,
    /// Something was ever merged into `collector`: saves combine it with `cache` from then on.
    ever_collected: AtomicBool,
}

/// The next link's cache commands for the device (never this layer's intercepts).
#[derive(Clone, Copy)]
pub(super) struct CacheCommands {
    pub create: vk::PFN_vkCreatePipelineCache,
    pub destroy: vk::PFN_vkDestroyPipelineCache,
    pub merge: vk::PFN_vkMergePipelineCaches,
}

impl DeviceCache {
    /// Creates the device's cache, seeded from the store when a valid blob is stored for this
    /// device and application.
    ///
    /// The adapter resolves the functions it calls through `get_instance_proc_addr`, which
    /// must answer with the chain below this layer (never this layer's own commands) and
    /// resolve `device`'s commands through a `vkGetDeviceProcAddr` that already knows it.
    ///
    /// # Errors
    /// What [`VulkanContext::new`] and [`VulkanContext::load_pipeline_cache`] return: a missing
    /// entry point or a driver error creating the cache.
    ///
    /// # Safety
    /// `instance` must describe the live instance owning `physical_device` (named
    /// `device_name`), `device` must be a
    /// live device just created from it through `instance.next_get_instance_proc_addr`,
    /// `get_instance_proc_addr` must be valid for `instance` and `device` as said above, and
    /// `commands` must be the next layer's for `device`.
    pub unsafe fn open(
        instance: &InstanceData,
        physical_device: vk::PhysicalDevice,
        device_name: &str,
        configuration: &[u8; 32],
        device: vk::Device,
        get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
        commands: CacheCommands,
    ) -> Result<Self, VulkanError> {
        let mut namespace = instance.application.clone();
        namespace.push(0);
        // lavapipe's identity is weak at API 1.0 (fixed UUID, driverVersion 1): the device name
        // carries its LLVM version.
        namespace.extend_from_slice(device_name.as_bytes());
        // Two configurations of one application compile different pipelines: separate blobs.
        namespace.push(0);
        namespace.extend_from_slice(configuration);
        let device_info = DeviceInfo {
            instance: instance.instance,
            physical_device,
            device,
            get_instance_proc_addr,
            api_version: instance.api_version,
        };
        let options = VulkanOptions {
            namespace,
            ..VulkanOptions::default()
        };
        // SAFETY: live related handles; the instance and device outlive the context (it is
        // dropped before vkDestroyDevice is called down).
        let context = unsafe { VulkanContext::new(shared_store(), device_info, options)? };
        // Tools name this device's entries and tell a driver still in use from one updated
        // away by this label; it becomes durable with the next save's flush. Its read of the
        // stored label and the cache's lookup may each wait for the remote tier (at most its
        // lookup wait, 20 ms): side by side, vkCreateDevice waits for one of them, not both.
        let stored_key = context.stored_key(&layer_cache_key());
        let application = application_label(&instance.application);
        let write_label =
            || context.record_label(&application, Some(&stored_key), SystemTime::now());
        let (loaded, labelled) = std::thread::scope(|scope| {
            let label = std::thread::Builder::new()
                .name("pcstore-label".into())
                .spawn_scoped(scope, write_label);
            // SAFETY: live device; no allocation callbacks.
            let loaded = unsafe { context.load_pipeline_cache(&layer_cache_key(), None) };
            let labelled = match label {
                Ok(label) => label.join().ok(),
                // No thread to be had: the label after the load, as the only cost.
                Err(_) => Some(write_label()),
            };
            (loaded, labelled)
        });
        match labelled {
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                layer_log!(Warn, "device \"{device_name}\": label not stored ({error})");
            }
            None => layer_log!(
                Warn,
                "device \"{device_name}\": label not stored (it panicked)"
            ),
        }
        let (cache, info) = loaded?;
        layer_log!(
            Info,
            "device \"{device_name}\": load {:?} ({} bytes stored, {} bytes given to the driver, {:?}, {} µs)",
            info.outcome,
            info.stored_bytes,
            info.initial_data_bytes,
            info.rejection,
            info.elapsed_ns / 1000
        );
        let collector = if config().app_caches {
            // SAFETY: live device; the next link's command (caller).
            match unsafe { create_empty(&commands, device) } {
                Ok(collector) => Some(parking_lot::Mutex::new(collector)),
                Err(error) => {
                    layer_log!(Warn, "application caches not collected: {error:?}");
                    None
                }
            }
        } else {
            None
        };
        Ok(Self {
            context,
            application,
            device,
            cache,
            commands,
            grown: AtomicBool::new(false),
            collector,
            collected: AtomicBool::new(false),
            ever_collected: AtomicBool::new(false),
        })
    }

    /// The adapter context the cache is loaded and saved through (for the history record).
    pub fn context(&self) -> &VulkanContext {
        &self.context
    }

    /// The application as its label and history name it.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// Whether the application's own caches are seeded and collected on this device.
    pub fn collects(&self) -> bool {
        self.collector.is_some()
    }

    /// Seeds an application cache just created without initial data with the layer's cache
    /// (whose data passed the adapter's checks when it was loaded). A merge's sources need no
    /// external synchronization, so creations through the layer's cache may run meanwhile.
    ///
    /// # Safety
    /// `app_cache` is a live cache of this device that no other thread has seen yet.
    pub unsafe fn seed(&self, app_cache: vk::PipelineCache) {
        // SAFETY: both caches live on this device; the destination is not shared yet (caller).
        let merged = unsafe { (self.commands.merge)(self.device, app_cache, 1, &self.cache) };
        if merged == vk::Result::SUCCESS {
            layer_log!(Info, "application cache seeded from the layer's cache");
        } else {
            layer_log!(Warn, "seeding an application cache failed: {merged:?}");
        }
    }

    /// Collects what an application cache the layer seeded gathered, before it is destroyed.
    ///
    /// # Safety
    /// `app_cache` is a live cache of this device being destroyed: no other thread uses it.
    pub unsafe fn collect(&self, app_cache: vk::PipelineCache) {
        let Some(collector) = &self.collector else {
            return;
        };
        let collector = collector.lock();
        // SAFETY: live caches of this device; the destination is the layer's, under its lock.
        let merged = unsafe { (self.commands.merge)(self.device, *collector, 1, &app_cache) };
        drop(collector);
        if merged == vk::Result::SUCCESS {
            self.ever_collected.store(true, Ordering::Release);
            self.collected.store(true, Ordering::Release);
        } else {
            layer_log!(Warn, "collecting an application cache failed: {merged:?}");
        }
    }

    /// The cache to substitute for `VK_NULL_HANDLE`.
    pub fn substitute(&self) -> vk::PipelineCache {
        self.cache
    }

    /// Marks the cache as grown: called after a creation through it has returned, so a save
    /// that clears the mark sees that creation's data, and one that ran during the creation
    /// leaves the mark for the next save.
    pub fn grew(&self) {
        if !self.grown.load(Ordering::Relaxed) {
            self.grown.store(true, Ordering::Release);
        }
    }

    /// Saves if pipelines were created through the cache, or application caches were collected,
    /// since the last save: a cache nobody used is never written nor flushed. Returns whether
    /// the store was flushed.
    pub fn save_if_grown(&self, reason: &str) -> bool {
        let grown = self.grown.swap(false, Ordering::AcqRel);
        let collected = self.collected.swap(false, Ordering::AcqRel);
        (grown || collected) && self.save(reason)
    }

    /// Saves the cache through the adapter and, when something was stored, flushes the store:
    /// the local tiers, with a bounded wait for the remote one (see [`shared_store`]). An
    /// unchanged blob is not written, so nothing is flushed. Failures are logged only: losing a
    /// save must never disturb the application. Returns whether the store was flushed (even if
    /// the flush failed: another one now would wait as long again).
    fn save(&self, reason: &str) -> bool {
        // With collected data: the layer's cache and the collector combined in a cache of the
        // save's own (neither of the two may be merged into here). Without, the layer's cache
        // as it is: a merge keeps the pipelines, but a driver may drop what it held only as
        // initial data (SwiftShader does).
        let collector = self
            .collector
            .as_ref()
            .filter(|_| self.ever_collected.load(Ordering::Acquire));
        let combined = match collector {
            // SAFETY: live caches of this live device.
            Some(collector) => match unsafe { self.combine(collector) } {
                Ok(combined) => Some(combined),
                Err(error) => {
                    layer_log!(Warn, "{reason} save failed: combining caches: {error:?}");
                    return false;
                }
            },
            None => None,
        };
        let saved = combined.unwrap_or(self.cache);
        // SAFETY: the caches are live until `close`, which runs after the saver has stopped;
        // `combined` is this call's own.
        let result = unsafe { self.context.save_pipeline_cache(&layer_cache_key(), saved) };
        if let Some(combined) = combined {
            // SAFETY: this call's own cache, no longer used.
            unsafe { (self.commands.destroy)(self.device, combined, std::ptr::null()) };
        }
        match result {
            Ok(info) => {
                let flushed = info.outcome == SaveOutcome::Stored;
                let flush = if flushed {
                    match self.context.store().flush() {
                        Ok(()) => "ok",
                        Err(_) => "failed",
                    }
                } else {
                    "not needed"
                };
                layer_log!(
                    Info,
                    "{reason} save {:?} ({} driver bytes, {} stored bytes, flush {flush})",
                    info.outcome,
                    info.driver_bytes,
                    info.stored_bytes
                );
                flushed
            }
            Err(error) => {
                layer_log!(Warn, "{reason} save failed: {error}");
                false
            }
        }
    }

    /// Final save (if the cache grew since the last one), then destroys the cache. Called once,
    /// at `vkDestroyDevice`, before calling down (a layer below, such as validation, must not
    /// see a device destroyed with a live cache). Returns whether the store was flushed.
    ///
    /// # Safety
    /// The device must be live and no other thread may use this cache any more.
    pub unsafe fn close(&self) -> bool {
        let flushed = self.save_if_grown("final");
        // SAFETY: the caches belong to this live device; nobody uses them any more (caller).
        unsafe {
            (self.commands.destroy)(self.device, self.cache, std::ptr::null());
            if let Some(collector) = &self.collector {
                (self.commands.destroy)(self.device, *collector.lock(), std::ptr::null());
            }
        }
        flushed
    }
}

impl DeviceCache {
    /// A new cache holding the layer's cache and the collector merged.
    ///
    /// # Safety
    /// The device and both caches are live.
    unsafe fn combine(
        &self,
        collector: &parking_lot::Mutex<vk::PipelineCache>,
    ) -> Result<vk::PipelineCache, vk::Result> {
        // SAFETY: live device (caller).
        let combined = unsafe { create_empty(&self.commands, self.device)? };
        let collector = collector.lock();
        let sources = [self.cache, *collector];
        // SAFETY: live caches; the destination is this call's own, the collector is held.
        let merged = unsafe { (self.commands.merge)(self.device, combined, 2, sources.as_ptr()) };
        drop(collector);
        if merged != vk::Result::SUCCESS {
            // SAFETY: this call's own cache.
            unsafe { (self.commands.destroy)(self.device, combined, std::ptr::null()) };
            return Err(merged);
        }
        Ok(combined)
    }
}

/// A new empty pipeline cache of `device`.
///
/// # Safety
/// `device` is live and `commands` are its next link's.
unsafe fn create_empty(
    commands: &CacheCommands,
    device: vk::Device,
) -> Result<vk::PipelineCache, vk::Result> {
    let info = vk::PipelineCacheCreateInfo::default();
    let mut cache = vk::PipelineCache::null();
    // SAFETY: live device, valid create info, no allocator, one output handle.
    let result = unsafe { (commands.create)(device, &info, std::ptr::null(), &mut cache) };
    if result == vk::Result::SUCCESS {
        Ok(cache)
    } else {
        Err(result)
    }
}
