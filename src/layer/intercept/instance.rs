//! `vkCreateInstance` and `vkDestroyInstance`: record the instance (its next link, its
//! application) and forget it.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use ash::vk::{self, Handle};

use crate::layer::abi::{find_link_info, guarded, LayerInstanceCreateInfo};
use crate::layer::instance::{InstanceData, INSTANCES};
use crate::layer::registry::dispatch_key;
use crate::vulkan::dispatch::{cast_fn, resolve};

/// This family's commands by name.
pub(super) fn command(name: &CStr) -> vk::PFN_vkVoidFunction {
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreateInstance" => cast_fn(create_instance as vk::PFN_vkCreateInstance),
            b"vkDestroyInstance" => cast_fn(destroy_instance as vk::PFN_vkDestroyInstance),
            _ => return None,
        })
    }
}

/// `vkCreateInstance`: takes the next link, calls down, records the instance.
///
/// # Safety
/// Called by the loader with `vkCreateInstance`'s valid arguments and this layer's link in the
/// create info's chain.
unsafe extern "system" fn create_instance(
    create_info: *const vk::InstanceCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    instance: *mut vk::Instance,
) -> vk::Result {
    // SAFETY: the loader passes a valid create info, allocator and output pointer.
    guarded(vk::Result::ERROR_INITIALIZATION_FAILED, || unsafe {
        create_instance_body(create_info, allocator, instance)
    })
}

/// # Safety
/// Arguments as given by the loader to `vkCreateInstance`.
unsafe fn create_instance_body(
    create_info: *const vk::InstanceCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    instance_out: *mut vk::Instance,
) -> vk::Result {
    if create_info.is_null() || instance_out.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: the loader's create info starts a valid pNext chain whose loader entries have
    // the vk_layer.h layout.
    let link_info: *mut LayerInstanceCreateInfo = unsafe {
        find_link_info(
            (*create_info).p_next,
            vk::StructureType::LOADER_INSTANCE_CREATE_INFO,
        )
    };
    if link_info.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: `function == VK_LAYER_LINK_INFO`, so `p_layer_info` is the valid member.
    let link = unsafe { (*link_info).u.p_layer_info };
    if link.is_null() {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    }
    // SAFETY: the loader's link is valid for the call.
    let Some(next_gipa) = (unsafe { (*link).pfn_next_get_instance_proc_addr }) else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // Advance the link so the next layer finds its own.
    // SAFETY: the loader owns this mutable chain and expects each layer to advance it.
    unsafe { (*link_info).u.p_layer_info = (*link).p_next };
    // SAFETY: the next GIPA answers vkCreateInstance for a null instance.
    let next_create: Option<vk::PFN_vkCreateInstance> =
        unsafe { resolve(next_gipa, vk::Instance::null(), c"vkCreateInstance") };
    let Some(next_create) = next_create else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // SAFETY: the application's arguments, passed on unchanged.
    let result = unsafe { next_create(create_info, allocator, instance_out) };
    if result != vk::Result::SUCCESS {
        return result;
    }
    // SAFETY: the call succeeded, so the output holds a live instance.
    let instance = unsafe { *instance_out };
    // SAFETY: live instance and the next GIPA; PFN type matches the name.
    let destroy_instance: Option<vk::PFN_vkDestroyInstance> =
        unsafe { resolve(next_gipa, instance, c"vkDestroyInstance") };
    let Some(destroy_instance) = destroy_instance else {
        return vk::Result::ERROR_INITIALIZATION_FAILED;
    };
    // SAFETY: the application info, if any, is valid for the call.
    let (api_version, application) = unsafe { application_of(&*create_info) };
    let data = InstanceData {
        instance,
        next_get_instance_proc_addr: next_gipa,
        destroy_instance,
        api_version,
        application,
    };
    // SAFETY: live instance just created.
    INSTANCES.insert(unsafe { dispatch_key(instance) }, Arc::new(data));
    vk::Result::SUCCESS
}

/// The application's API version and what identifies it: executable name, application and
/// engine names and versions.
///
/// # Safety
/// `create_info.p_application_info` is null or valid, with null or NUL-terminated names.
unsafe fn application_of(create_info: &vk::InstanceCreateInfo<'_>) -> (u32, Vec<u8>) {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut identity = executable.into_bytes();
    let mut api_version = 0;
    // SAFETY: null or valid (caller).
    if let Some(app) = unsafe { create_info.p_application_info.as_ref() } {
        api_version = app.api_version;
        let text = |name: *const c_char| {
            if name.is_null() {
                Vec::new()
            } else {
                // SAFETY: NUL-terminated (caller).
                unsafe { CStr::from_ptr(name) }.to_bytes().to_vec()
            }
        };
        for (name, version) in [
            (app.p_application_name, app.application_version),
            (app.p_engine_name, app.engine_version),
        ] {
            identity.push(0);
            identity.extend_from_slice(&text(name));
            identity.push(0);
            identity.extend_from_slice(&version.to_le_bytes());
        }
    }
    (api_version, identity)
}

/// `vkDestroyInstance`: forgets the instance, then calls down.
///
/// # Safety
/// `vkDestroyInstance`'s valid arguments: a null or live instance, no longer used elsewhere.
unsafe extern "system" fn destroy_instance(
    instance: vk::Instance,
    allocator: *const vk::AllocationCallbacks<'_>,
) {
    guarded((), || {
        if instance.is_null() {
            return;
        }
        // SAFETY: a live instance (Vulkan's rule for vkDestroyInstance).
        let data = INSTANCES.remove(unsafe { dispatch_key(instance) });
        if let Some(data) = data {
            // SAFETY: the application's arguments, passed on.
            unsafe { (data.destroy_instance)(instance, allocator) };
        }
    });
}
