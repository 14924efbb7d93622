//! The chain below this layer, as resolvers: what the layer's own pipeline cache is driven
//! through (the adapter is given [`next_instance_proc_addr`]), and where the layer's own
//! resolvers send every name they do not intercept.
//!
//! The next link's `vkGetInstanceProcAddr` alone cannot serve the adapter: at the bottom of the
//! chain it answers `vkGetDeviceProcAddr` with the loader's trampoline, whose device dispatch
//! is not set up until `vkCreateDevice` has returned (measured: a null call). So device
//! commands are resolved through the device link's `vkGetDeviceProcAddr`, found in the device
//! record. Neither resolver ever answers with this layer's own commands: the layer's cache
//! must not go through the layer's intercepts.

use std::ffi::{c_char, CStr};

use ash::vk;

use super::abi::resolving;
use super::device::DEVICES;
use super::instance::INSTANCES;
use crate::vulkan::dispatch::cast_fn;

/// A `vkGetInstanceProcAddr` for the chain below this layer: the next link's answer for a
/// recorded instance, with [`next_device_proc_addr`] as `vkGetDeviceProcAddr`; NULL for a null
/// or unknown instance.
///
/// # Safety
/// `instance` is null or live; `name` is null or NUL-terminated.
pub(super) unsafe extern "system" fn next_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let answer = |name: &CStr| {
        if name == c"vkGetDeviceProcAddr" {
            let own = next_device_proc_addr as vk::PFN_vkGetDeviceProcAddr;
            // SAFETY: erased under its own name; the caller casts it back to that signature.
            return Some(unsafe { cast_fn(own) });
        }
        // SAFETY: null or live (caller).
        let data = unsafe { INSTANCES.of(instance) }?;
        // SAFETY: the next layer's resolver with its own live instance.
        unsafe { (data.next_get_instance_proc_addr)(instance, name.as_ptr()) }
    };
    // SAFETY: null or NUL-terminated (caller).
    unsafe { resolving(name, answer) }
}

/// A `vkGetDeviceProcAddr` for the chain below this layer: the device link's answer for a
/// recorded device; NULL for a null or unknown device.
///
/// # Safety
/// `device` is null or live; `name` is null or NUL-terminated.
pub(super) unsafe extern "system" fn next_device_proc_addr(
    device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let answer = |name: &CStr| {
        // SAFETY: null or live (caller).
        let data = unsafe { DEVICES.of(device) }?;
        // SAFETY: the next layer's resolver with its own live device.
        unsafe { (data.next_get_device_proc_addr)(device, name.as_ptr()) }
    };
    // SAFETY: null or NUL-terminated (caller).
    unsafe { resolving(name, answer) }
}
