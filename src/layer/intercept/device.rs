//! `vkCreateDevice` and `vkDestroyDevice`: record the device with its layer cache and saver
//! (enabling creation feedback where the device has it and the application did not), and
//! save, close, report and forget them.

use std::ffi::CStr;
use std::sync::Arc;

use ash::vk::{self, Handle};
use once_cell::sync::OnceCell;

use crate::layer::abi::{find_link_info, guarded, LayerDeviceCreateInfo};
use crate::layer::cache::{CacheCommands, DeviceCache};
use crate::layer::chain::next_instance_proc_addr;
use crate::layer::config::{config, layer_log};
use crate::layer::configuration;
use crate::layer::device::{DeviceData, NextDeviceFns, DEVICES};
use crate::layer::feedback::{self, FeedbackSupport};
use crate::layer::history;
use crate::layer::instance::{InstanceData, INSTANCES};
use crate::layer::record;
use crate::layer::registry::dispatch_key;
use crate::layer::saver::Saver;
use crate::vulkan::dispatch::{cast_fn, resolve};

/// This family's commands by name (`vkCreateDevice` is an instance-level command).
pub(super) fn command(name: &CStr) -> vk::PFN_vkVoidFunction {
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreateDevice" => cast_fn(create_device as vk::PFN_vkCreateDevice),
            b"vkDestroyDevice" => cast_fn(destroy_device as vk::PFN_vkDestroyDevice),
            _ => return None,
        })
    }
}

/// `vkCreateDevice`: takes the next link, calls down (with creation feedback's extension added
/// where the layer needs it, see [`feedback::decide`]), creates the layer cache.
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
    // SAFETY: a live physical device of this instance.
    let properties = unsafe { physical_device_properties(&instance, physical_device) };
    // SAFETY: the application's valid create info.
    let requested = unsafe {
        feedback::extension_names(
            (*create_info).pp_enabled_extension_names,
            (*create_info).enabled_extension_count,
        )
    };
    // VkApplicationInfo's 0 means 1.0; a device may offer less than the application asks for.
    let api_version = instance
        .api_version
        .max(vk::API_VERSION_1_0)
        .min(properties.api_version);
    let feedback = feedback::decide(api_version, &requested, || {
        // SAFETY: as above.
        unsafe { offers_extension(&instance, physical_device, feedback::EXTENSION) }
    });
    // What the application enabled (before the layer adds anything): part of the cache's key.
    // SAFETY: the application's valid create info.
    let configuration = unsafe { configuration::digest(&*create_info, &requested) };
    // The layer's own copy of the create info when it adds the extension: the application's
    // structures are never written.
    let mut extended = Vec::new();
    let mut with_extension;
    let application_create_info = create_info;
    let create_info = if feedback == FeedbackSupport::EnabledByLayer {
        extended.extend(requested.iter().map(|name| name.as_ptr()));
        extended.push(feedback::EXTENSION.as_ptr());
        // SAFETY: the application's valid create info, copied; its pNext chain (with the
        // loader's link, advanced above) is shared, not changed.
        with_extension = unsafe { *create_info };
        with_extension.enabled_extension_count = extended.len() as u32;
        with_extension.pp_enabled_extension_names = extended.as_ptr();
        std::ptr::from_ref(&with_extension)
    } else {
        create_info
    };
    // SAFETY: the application's arguments (or the copy above, valid for the call), passed on.
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
    let name = properties
        .device_name_as_c_str()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !feedback.available() {
        layer_log!(
            Info,
            "device \"{name}\": no creation feedback (Vulkan < 1.3, no {}): no hit statistics",
            feedback::EXTENSION.to_string_lossy()
        );
    }
    let data = Arc::new(DeviceData {
        next_get_device_proc_addr: next_gdpa,
        fns,
        cache: OnceCell::new(),
        saver: parking_lot::Mutex::new(None),
        // SAFETY: the application's valid create-info of a device of this instance (its own,
        // not the layer's copy: the recipe holds what the application enabled).
        recorder: unsafe { record::start(&instance, &*application_create_info, &configuration) },
        name,
        feedback,
        creation: feedback::CreationStats::default(),
        seeded_caches: parking_lot::Mutex::default(),
    });
    // SAFETY: live device just created.
    DEVICES.insert(unsafe { dispatch_key(device) }, Arc::clone(&data));
    // SAFETY: the device was just created from this instance's physical device and is
    // registered, so the chain's resolvers answer for it; the next link's cache commands.
    match unsafe {
        DeviceCache::open(
            &instance,
            physical_device,
            &data.name,
            &configuration,
            device,
            next_instance_proc_addr,
            CacheCommands {
                create: fns.create_pipeline_cache,
                destroy: fns.destroy_pipeline_cache,
                merge: fns.merge_pipeline_caches,
            },
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

/// `vkDestroyDevice`: stops the saver, saves and destroys the layer cache, logs what creation
/// feedback added up to, then calls down.
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
        // Published before the final save, whose flush makes it durable.
        if let Some(recorder) = &data.recorder {
            recorder.flush();
        }
        if let Some(cache) = data.cache.get() {
            // SAFETY: the device is live; the saver has stopped and the device is out of the
            // map, so no thread uses the cache any more.
            unsafe { history::close_recording_run(&data, cache) };
        }
        if data.feedback.available() {
            layer_log!(
                Info,
                "device \"{}\": creation feedback: {}",
                data.name,
                data.creation.summary()
            );
        }
        // SAFETY: the application's arguments, passed on.
        unsafe { (data.fns.destroy_device)(device, allocator) };
    });
}

/// The physical device's properties, through the chain below the layer.
///
/// # Safety
/// `instance` describes the live instance owning the live `physical_device`.
unsafe fn physical_device_properties(
    instance: &InstanceData,
    physical_device: vk::PhysicalDevice,
) -> vk::PhysicalDeviceProperties {
    let mut properties = vk::PhysicalDeviceProperties::default();
    // SAFETY: the next GIPA with its live instance; the PFN type matches the name.
    let get_properties: Option<vk::PFN_vkGetPhysicalDeviceProperties> = unsafe {
        resolve(
            instance.next_get_instance_proc_addr,
            instance.instance,
            c"vkGetPhysicalDeviceProperties",
        )
    };
    if let Some(get_properties) = get_properties {
        // SAFETY: live physical device of this instance; properly sized output.
        unsafe { get_properties(physical_device, &mut properties) };
    }
    properties
}

/// Whether the physical device offers the device extension `name` (false if it cannot say).
///
/// # Safety
/// `instance` describes the live instance owning the live `physical_device`.
unsafe fn offers_extension(
    instance: &InstanceData,
    physical_device: vk::PhysicalDevice,
    name: &CStr,
) -> bool {
    // SAFETY: the next GIPA with its live instance; the PFN type matches the name.
    let enumerate: Option<vk::PFN_vkEnumerateDeviceExtensionProperties> = unsafe {
        resolve(
            instance.next_get_instance_proc_addr,
            instance.instance,
            c"vkEnumerateDeviceExtensionProperties",
        )
    };
    let Some(enumerate) = enumerate else {
        return false;
    };
    let mut count = 0u32;
    // SAFETY: live physical device; a count query (null layer name, null output).
    let counted = unsafe {
        enumerate(
            physical_device,
            std::ptr::null(),
            &mut count,
            std::ptr::null_mut(),
        )
    };
    // Bounded by what a device can offer, not by what it claims: a few hundred today.
    if counted != vk::Result::SUCCESS || count > 4096 {
        return false;
    }
    let mut extensions = vec![vk::ExtensionProperties::default(); count as usize];
    // SAFETY: `count` writable elements.
    let filled = unsafe {
        enumerate(
            physical_device,
            std::ptr::null(),
            &mut count,
            extensions.as_mut_ptr(),
        )
    };
    if filled != vk::Result::SUCCESS && filled != vk::Result::INCOMPLETE {
        return false;
    }
    extensions
        .iter()
        .take(count as usize)
        .any(|extension| extension.extension_name_as_c_str() == Ok(name))
}
