//! How the loader finds the layer: the exported negotiate function and the two resolvers it
//! hands back. Only `vkNegotiateLoaderLayerInterfaceVersion` is exported by name: exporting
//! `vkGetInstanceProcAddr` from a library that applications also link would bind their calls
//! to the layer instead of the loader.

use std::ffi::{c_char, CStr};

use ash::vk::{self, Handle};

use super::abi::{
    NegotiateLayerInterface, LAYER_INTERFACE_VERSION, LAYER_NEGOTIATE_INTERFACE_STRUCT,
};
use super::dispatch::{dispatch_key, DEVICES, INSTANCES};
use super::intercept::{guarded, intercepted};

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
pub(super) unsafe extern "system" fn get_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    guarded(None, || {
        if name.is_null() {
            return None;
        }
        // SAFETY: the loader passes a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(name) };
        if let Some(own) = intercepted(name, None) {
            return Some(own);
        }
        if instance.is_null() {
            return None;
        }
        // SAFETY: a non-null instance given to vkGetInstanceProcAddr is live.
        let data = INSTANCES.get(unsafe { dispatch_key(instance) })?;
        // SAFETY: the next layer's resolver with its own live instance.
        unsafe { (data.next_get_instance_proc_addr)(instance, name.as_ptr()) }
    })
}

/// The layer's `vkGetDeviceProcAddr`: its own device commands for a known device, otherwise
/// the next layer's answer; NULL for a null or unknown device.
pub(super) unsafe extern "system" fn get_device_proc_addr(
    device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    guarded(None, || {
        if name.is_null() || device.is_null() {
            return None;
        }
        // SAFETY: a non-null device given to vkGetDeviceProcAddr is live.
        let data = DEVICES.get(unsafe { dispatch_key(device) })?;
        // SAFETY: the loader passes a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(name) };
        let own = match name.to_bytes() {
            // Instance-level names are not device commands.
            b"vkCreateInstance"
            | b"vkDestroyInstance"
            | b"vkCreateDevice"
            | b"vkGetInstanceProcAddr" => None,
            _ => intercepted(name, Some(&data)),
        };
        if own.is_some() {
            return own;
        }
        // SAFETY: the next layer's resolver with its own live device.
        unsafe { (data.next_get_device_proc_addr)(device, name.as_ptr()) }
    })
}
