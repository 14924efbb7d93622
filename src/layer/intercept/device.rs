//! `vkCreateDevice` and `vkDestroyDevice`: record the device with its layer cache and saver,
//! and save, close and forget them.

use std::ffi::CStr;
use std::sync::Arc;

use ash::vk::{self, Handle};
use once_cell::sync::OnceCell;

use crate::layer::abi::{find_link_info, guarded, LayerDeviceCreateInfo};
use crate::layer::cache::DeviceCache;
use crate::layer::chain::next_instance_proc_addr;
use crate::layer::config::{config, layer_log};
use crate::layer::device::{DeviceData, NextDeviceFns, DEVICES};
use crate::layer::instance::INSTANCES;
use crate::layer::registry::dispatch_key;
use crate::layer::saver::Saver;
use crate::vulkan::dispatch::{cast_fn, resolve};

/// This family's commands by name (`vkCreateDevice` is an instance-level command).
pub(super) fn command(name: &CStr) -> vk::PFN_vkVoidFunction {
    // SAFETY (every cast): each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreateDevice" => cast_fn(create_device as vk::PFN_vkCreateDevice),
            b"vkDestroyDevice" => cast_fn(destroy_device as vk::PFN_vkDestroyDevice),
            _ => return None,
        })
    }
}

/// `vkCreateDevice`: takes the next link, calls down, creates the layer cache.
///
/// # Safety
/// Called by the loader with `vkCreateDevice`'s valid arguments and this layer's link in the
/// create info's chain.
unsafe extern "system" fn create_device(
    physical_device: vk::PhysicalDevice,
    create_info: *const vk::DeviceCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    device: *mut vk::Device,
) -> vk::Result {
    // SAFETY: the loader passes valid arguments.
    guarded(vk::Result::ERROR_INITIALIZATION_FAILED, || unsafe {
        create_device_body(physical_device, create_info, allocator, device)
    })
}

/// # Safety
/// Arguments as given by the loader to `vkCreateDevice`.
unsafe fn create_device_body(
    physical_device: vk::PhysicalDevice,
    create_info: *const vk::DeviceCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    device_out: *mut vk::Device,
) -> vk::Result {
    if physical_device.is_null() || create_info.is_null() || device_out.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: a live physical device shares its instance's dispatch key.
    let Some(instance) = INSTANCES.get(unsafe { dispatch_key(physical_device) }) else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // SAFETY: as for the instance chain.
    let link_info: *mut LayerDeviceCreateInfo = unsafe {
        find_link_info(
            (*create_info).p_next,
            vk::StructureType::LOADER_DEVICE_CREATE_INFO,
        )
    };
    if link_info.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: `function == VK_LAYER_LINK_INFO`: `p_layer_info` is the valid member.
    let link = unsafe { (*link_info).u.p_layer_info };
    if link.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: the loader's link is valid for the call.
    let (Some(next_gipa), Some(next_gdpa)) = (unsafe {
        (
            (*link).pfn_next_get_instance_proc_addr,
            (*link).pfn_next_get_device_proc_addr,
        )
    }) else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // SAFETY: the loader owns this chain and expects it advanced.
    unsafe { (*link_info).u.p_layer_info = (*link).p_next };
    // SAFETY: live instance, next GIPA; PFN type matches.
    let next_create: Option<vk::PFN_vkCreateDevice> =
        unsafe { resolve(next_gipa, instance.instance, c"vkCreateDevice") };
    let Some(next_create) = next_create else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // SAFETY: the application's arguments, passed on.
    let result = unsafe { next_create(physical_device, create_info, allocator, device_out) };
    if result != vk::Result::SUCCESS {
        return result;
    }
    // SAFETY: success: a live device.
    let device = unsafe { *device_out };
    // SAFETY: the device link's resolver with the live device created through it.
    let Some(fns) = (unsafe { NextDeviceFns::load(next_gdpa, device) }) else {
        // A chain without core commands: undo the creation the application will not see.
        // SAFETY: as above; the PFN type matches the name.
        let destroy_device: Option<vk::PFN_vkDestroyDevice> =
            unsafe { resolve(next_gdpa, device, c"vkDestroyDevice") };
        if let Some(destroy_device) = destroy_device {
            // SAFETY: the live device nobody else has seen, with the application's allocator.
            unsafe { destroy_device(device, allocator) };
        }
        // SAFETY: the loader's output pointer (checked non-null above).
        unsafe { *device_out = vk::Device::null() };
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    let data = Arc::new(DeviceData {
        next_get_device_proc_addr: next_gdpa,
        fns,
        cache: OnceCell::new(),
        saver: parking_lot::Mutex::new(None),
    });
    // SAFETY: live device just created.
    DEVICES.insert(unsafe { dispatch_key(device) }, Arc::clone(&data));
    // SAFETY: the device was just created from this instance's physical device and is
    // registered, so the chain's resolvers answer for it; the next link's vkDestroyPipelineCache.
    match unsafe {
        DeviceCache::open(
            &instance,
            physical_device,
            device,
            next_instance_proc_addr,
            fns.destroy_pipeline_cache,
        )
    } {
        Ok(cache) => {
            let cache = Arc::new(cache);
            *data.saver.lock() = Saver::start(Arc::clone(&cache), config().save_interval);
            let _ = data.cache.set(cache);
        }
        Err(error) => layer_log!(Warn, "no layer cache for this device: {error}"),
    }
    vk::Result::SUCCESS
}

/// `vkDestroyDevice`: stops the saver, saves and destroys the layer cache, then calls down.
///
/// # Safety
/// `vkDestroyDevice`'s valid arguments: a null or live device, no longer used elsewhere.
unsafe extern "system" fn destroy_device(
    device: vk::Device,
    allocator: *const vk::AllocationCallbacks<'_>,
) {
    guarded((), || {
        if device.is_null() {
            return;
        }
        // SAFETY: a live device (Vulkan's rule for vkDestroyDevice).
        let Some(data) = DEVICES.remove(unsafe { dispatch_key(device) }) else {
            return;
        };
        if let Some(saver) = data.saver.lock().take() {
            saver.stop();
        }
        if let Some(cache) = data.cache.get() {
            // SAFETY: the device is live; the saver has stopped and the device is out of the
            // map, so no thread uses the cache any more.
            unsafe { cache.close() };
        }
        // SAFETY: the application's arguments, passed on.
        unsafe { (data.fns.destroy_device)(device, allocator) };
    });
}
