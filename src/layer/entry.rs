//! How the loader finds the layer: the exported negotiate function and the two resolvers it
//! hands back, which answer with the layer's own commands (intercept/) and otherwise with the
//! chain below (chain.rs). Only `vkNegotiateLoaderLayerInterfaceVersion` is exported by name:
//! exporting `vkGetInstanceProcAddr` from a library that applications also link would bind
//! their calls to the layer instead of the loader.

use std::ffi::{c_char, CStr};

use ash::vk;

use super::abi::{
    guarded, resolving, NegotiateLayerInterface, LAYER_INTERFACE_VERSION,
    LAYER_NEGOTIATE_INTERFACE_STRUCT,
};
use super::chain::{next_device_proc_addr, next_instance_proc_addr};
use super::device::DEVICES;
use super::intercept::intercepted;
use crate::vulkan::dispatch::cast_fn;

/// Loader-layer interface negotiation (interface version 2): hands the loader this layer's
/// `vkGetInstanceProcAddr` and `vkGetDeviceProcAddr`.
///
/// Returns `VK_ERROR_INITIALIZATION_FAILED` for a null or malformed struct or a loader older
/// than version 2. Called by the Vulkan loader only; never unwinds.
///
/// # Safety
/// `negotiate` must be null or point to a writable `VkNegotiateLayerInterface`.
#[no_mangle]
pub unsafe extern "system" fn vkNegotiateLoaderLayerInterfaceVersion(
    negotiate: *mut NegotiateLayerInterface,
) -> vk::Result {
    guarded(vk::Result::ERROR_INITIALIZATION_FAILED, || {
        // SAFETY: null or writable (caller).
        let Some(negotiate) = (unsafe { negotiate.as_mut() }) else {
            return vk::Result::ERROR_INITIALIZATION_FAILED;
        };
        if negotiate.s_type != LAYER_NEGOTIATE_INTERFACE_STRUCT
            || negotiate.loader_layer_interface_version < LAYER_INTERFACE_VERSION
        {
            return vk::Result::ERROR_INITIALIZATION_FAILED;
        }
        negotiate.loader_layer_interface_version = LAYER_INTERFACE_VERSION;
        negotiate.pfn_get_instance_proc_addr = Some(get_instance_proc_addr);
        negotiate.pfn_get_device_proc_addr = Some(get_device_proc_addr);
        negotiate.pfn_get_physical_device_proc_addr = None;
        vk::Result::SUCCESS
    })
}

/// The layer's `vkGetInstanceProcAddr`: its own commands by name (even before any instance
/// exists), otherwise the next layer's answer for a known instance, otherwise NULL.
///
/// # Safety
/// `instance` is null or live; `name` is null or NUL-terminated (the loader's arguments).
unsafe extern "system" fn get_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let answer = |name: &CStr| {
        let own = resolver(name).or_else(|| intercepted(name, None));
        // SAFETY: the loader's arguments (this function's contract).
        own.or_else(|| unsafe { next_instance_proc_addr(instance, name.as_ptr()) })
    };
    // SAFETY: null or NUL-terminated (caller).
    unsafe { resolving(name, answer) }
}

/// The layer's `vkGetDeviceProcAddr`: its own device commands for a known device, otherwise
/// the next layer's answer; NULL for a null or unknown device.
///
/// # Safety
/// `device` is null or live; `name` is null or NUL-terminated (the loader's arguments).
unsafe extern "system" fn get_device_proc_addr(
    device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let answer = |name: &CStr| {
        let own = match name.to_bytes() {
            // Instance-level names are not device commands.
            b"vkCreateInstance"
            | b"vkDestroyInstance"
            | b"vkCreateDevice"
            | b"vkGetInstanceProcAddr" => None,
            _ => {
                // SAFETY: null or live (caller).
                let data = unsafe { DEVICES.of(device) }?;
                resolver(name).or_else(|| intercepted(name, Some(&data)))
            }
        };
        // SAFETY: the loader's arguments (this function's contract).
        own.or_else(|| unsafe { next_device_proc_addr(device, name.as_ptr()) })
    };
    // SAFETY: null or NUL-terminated (caller).
    unsafe { resolving(name, answer) }
}

/// The layer's two resolvers by name.
fn resolver(name: &CStr) -> vk::PFN_vkVoidFunction {
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkGetInstanceProcAddr" => {
                cast_fn(get_instance_proc_addr as vk::PFN_vkGetInstanceProcAddr)
            }
            b"vkGetDeviceProcAddr" => cast_fn(get_device_proc_addr as vk::PFN_vkGetDeviceProcAddr),
            _ => return None,
        })
    }
}
