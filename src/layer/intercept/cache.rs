//! `vkCreatePipelineCache` and `vkDestroyPipelineCache`: the application's own caches.
//!
//! Many applications create a cache, never persist it, and so gain nothing across runs. With
//! `PCSTORE_LAYER_APP_CACHES` (default on) a cache the application creates without initial
//! data is seeded from the layer's cache right after creation, and what it gathered is
//! collected into the layer's data just before its destruction goes down, so it persists. A
//! cache created with initial data is the application's alone: it manages its own persistence.

use std::ffi::CStr;

use ash::vk::{self, Handle};

use crate::layer::abi::guarded;
use crate::layer::device::DEVICES;
use crate::vulkan::dispatch::cast_fn;

/// This family's commands by name.
pub(super) fn command(name: &CStr) -> vk::PFN_vkVoidFunction {
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreatePipelineCache" => {
                cast_fn(create_pipeline_cache as vk::PFN_vkCreatePipelineCache)
            }
            b"vkDestroyPipelineCache" => {
                cast_fn(destroy_pipeline_cache as vk::PFN_vkDestroyPipelineCache)
            }
            _ => return None,
        })
    }
}

/// `vkCreatePipelineCache`: calls down, then seeds an empty application cache.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_pipeline_cache(
    device: vk::Device,
    create_info: *const vk::PipelineCacheCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    cache_out: *mut vk::PipelineCache,
) -> vk::Result {
    guarded(vk::Result::ERROR_OUT_OF_HOST_MEMORY, || {
        // SAFETY: null or live (the application's argument).
        let Some(data) = (unsafe { DEVICES.of(device) }) else {
            return vk::Result::ERROR_OUT_OF_HOST_MEMORY;
        };
        // SAFETY: the application's arguments, passed on.
        let result =
            unsafe { (data.fns.create_pipeline_cache)(device, create_info, allocator, cache_out) };
        if result != vk::Result::SUCCESS || create_info.is_null() || cache_out.is_null() {
            return result;
        }
        // SAFETY: valid create info; the call succeeded, so the output holds a live cache.
        let (initial_data_size, cache) = unsafe { ((*create_info).initial_data_size, *cache_out) };
        if let Some(layer_cache) = data.cache.get() {
            if initial_data_size == 0 && layer_cache.collects() {
                // SAFETY: a live cache of this device, not returned to the application yet.
                unsafe { layer_cache.seed(cache) };
                data.seeded_caches.lock().insert(cache);
            }
        }
        result
    })
}

/// `vkDestroyPipelineCache`: collects a seeded application cache, then calls down.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls (the cache is
/// null or live and used by no other thread).
unsafe extern "system" fn destroy_pipeline_cache(
    device: vk::Device,
    cache: vk::PipelineCache,
    allocator: *const vk::AllocationCallbacks<'_>,
) {
    guarded((), || {
        // SAFETY: null or live (the application's argument).
        let Some(data) = (unsafe { DEVICES.of(device) }) else {
            return;
        };
        if !cache.is_null() && data.seeded_caches.lock().remove(&cache) {
            if let Some(layer_cache) = data.cache.get() {
                // SAFETY: a live cache of this device, being destroyed: nobody else uses it.
                unsafe { layer_cache.collect(cache) };
            }
        }
        // SAFETY: the application's arguments, passed on.
        unsafe { (data.fns.destroy_pipeline_cache)(device, cache, allocator) };
    });
}
