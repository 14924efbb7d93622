//! The Vulkan commands the layer intercepts. Each one is a thin `extern "system"` shell that
//! catches panics (nothing may unwind into the loader) around a body that calls down the chain.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use ash::vk::{self, Handle};
use once_cell::sync::OnceCell;

use super::abi::{LayerDeviceCreateInfo, LayerInstanceCreateInfo};
use super::cache::{layer_log, DeviceCache};
use super::config::config;
use super::dispatch::{
    cast_fn, dispatch_key, resolve, DeviceData, DeviceFns, InstanceData, DEVICES, INSTANCES,
};
use super::saver::Saver;

/// Runs `body`, turning a panic into `on_panic`.
pub(super) fn guarded<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// `vkCreateInstance`: takes the next link, calls down, records the instance.
pub(super) unsafe extern "system" fn create_instance(
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
        super::abi::find_link_info(
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
pub(super) unsafe extern "system" fn destroy_instance(
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

/// `vkCreateDevice`: takes the next link, calls down, creates the layer cache.
pub(super) unsafe extern "system" fn create_device(
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
        super::abi::find_link_info(
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
    // SAFETY: live device and the next GDPA; each PFN type matches its name.
    let fns = unsafe {
        let destroy_device: Option<vk::PFN_vkDestroyDevice> =
            resolve(next_gdpa, device, c"vkDestroyDevice");
        let (Some(destroy_device), Some(graphics), Some(compute), Some(destroy_cache)) = (
            destroy_device,
            resolve(next_gdpa, device, c"vkCreateGraphicsPipelines"),
            resolve(next_gdpa, device, c"vkCreateComputePipelines"),
            resolve(next_gdpa, device, c"vkDestroyPipelineCache"),
        ) else {
            // A chain without core commands: undo the creation the application will not see.
            if let Some(destroy_device) = destroy_device {
                destroy_device(device, allocator);
            }
            *device_out = vk::Device::null();
            return vk::Result::ERROR_INITIALIZATION_FAILED;
        };
        DeviceFns {
            destroy_device,
            create_graphics_pipelines: graphics,
            create_compute_pipelines: compute,
            create_ray_tracing_pipelines: resolve(
                next_gdpa,
                device,
                c"vkCreateRayTracingPipelinesKHR",
            ),
            destroy_pipeline_cache: destroy_cache,
        }
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
    // registered, so this layer's resolvers answer for it.
    match unsafe { DeviceCache::open(&instance, physical_device, device, &fns) } {
        Ok(cache) => {
            let cache = Arc::new(cache);
            *data.saver.lock() = Saver::start(Arc::clone(&cache), config().save_interval);
            let _ = data.cache.set(cache);
        }
        Err(error) => layer_log!("no layer cache for this device: {error}"),
    }
    vk::Result::SUCCESS
}

/// `vkDestroyDevice`: stops the saver, saves and destroys the layer cache, then calls down.
pub(super) unsafe extern "system" fn destroy_device(
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

/// The device's data, or `None` for a device the layer never saw.
///
/// # Safety
/// `device` is null or live.
unsafe fn device_data(device: vk::Device) -> Option<Arc<DeviceData>> {
    if device.is_null() {
        return None;
    }
    // SAFETY: live (caller).
    DEVICES.get(unsafe { dispatch_key(device) })
}

/// The cache to pass down: the application's own, or the layer's for `VK_NULL_HANDLE`.
fn chosen_cache(data: &DeviceData, requested: vk::PipelineCache) -> vk::PipelineCache {
    match (data.cache.get(), requested.is_null()) {
        (Some(cache), true) => cache.substitute(),
        _ => requested,
    }
}

/// The shared body of the pipeline-creation intercepts: finds the device's data, picks the
/// cache to pass down ([`chosen_cache`]) and calls `create` with both, panics caught.
///
/// # Safety
/// `device` is null or a live device (Vulkan's rule for the application's arguments).
unsafe fn with_chosen_cache(
    device: vk::Device,
    requested: vk::PipelineCache,
    create: impl FnOnce(&DeviceData, vk::PipelineCache) -> vk::Result,
) -> vk::Result {
    guarded(vk::Result::ERROR_OUT_OF_HOST_MEMORY, || {
        // SAFETY: null or live (this function's contract).
        let Some(data) = (unsafe { device_data(device) }) else {
            return vk::Result::ERROR_OUT_OF_HOST_MEMORY;
        };
        let cache = chosen_cache(&data, requested);
        create(&data, cache)
    })
}

/// `vkCreateGraphicsPipelines` with the layer cache substituted for `VK_NULL_HANDLE`.
pub(super) unsafe extern "system" fn create_graphics_pipelines(
    device: vk::Device,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::GraphicsPipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), with a cache of the same device.
    unsafe {
        with_chosen_cache(device, pipeline_cache, |data, cache| {
            (data.fns.create_graphics_pipelines)(
                device,
                cache,
                count,
                create_infos,
                allocator,
                pipelines,
            )
        })
    }
}

/// `vkCreateComputePipelines` with the layer cache substituted for `VK_NULL_HANDLE`.
pub(super) unsafe extern "system" fn create_compute_pipelines(
    device: vk::Device,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::ComputePipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), with a cache of the same device.
    unsafe {
        with_chosen_cache(device, pipeline_cache, |data, cache| {
            (data.fns.create_compute_pipelines)(
                device,
                cache,
                count,
                create_infos,
                allocator,
                pipelines,
            )
        })
    }
}

/// `vkCreateRayTracingPipelinesKHR` with the layer cache substituted for `VK_NULL_HANDLE`.
pub(super) unsafe extern "system" fn create_ray_tracing_pipelines(
    device: vk::Device,
    deferred_operation: vk::DeferredOperationKHR,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::RayTracingPipelineCreateInfoKHR<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), with a cache of the same device.
    unsafe {
        with_chosen_cache(device, pipeline_cache, |data, cache| {
            let Some(next) = data.fns.create_ray_tracing_pipelines else {
                return vk::Result::ERROR_EXTENSION_NOT_PRESENT;
            };
            next(
                device,
                deferred_operation,
                cache,
                count,
                create_infos,
                allocator,
                pipelines,
            )
        })
    }
}

/// This layer's implementation of a command, by name: instance-level commands answer for any
/// (even null) instance; device-level ones are listed too so layers above that resolve device
/// commands through `vkGetInstanceProcAddr` still reach them.
pub(super) fn intercepted(name: &CStr, device: Option<&DeviceData>) -> vk::PFN_vkVoidFunction {
    // SAFETY (every cast): each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkGetInstanceProcAddr" => {
                cast_fn(super::entry::get_instance_proc_addr as vk::PFN_vkGetInstanceProcAddr)
            }
            b"vkGetDeviceProcAddr" => {
                cast_fn(super::entry::get_device_proc_addr as vk::PFN_vkGetDeviceProcAddr)
            }
            b"vkCreateInstance" => cast_fn(create_instance as vk::PFN_vkCreateInstance),
            b"vkDestroyInstance" => cast_fn(destroy_instance as vk::PFN_vkDestroyInstance),
            b"vkCreateDevice" => cast_fn(create_device as vk::PFN_vkCreateDevice),
            b"vkDestroyDevice" => cast_fn(destroy_device as vk::PFN_vkDestroyDevice),
            b"vkCreateGraphicsPipelines" => {
                cast_fn(create_graphics_pipelines as vk::PFN_vkCreateGraphicsPipelines)
            }
            b"vkCreateComputePipelines" => {
                cast_fn(create_compute_pipelines as vk::PFN_vkCreateComputePipelines)
            }
            // Only for a device that has the extension: otherwise the name must stay unknown.
            b"vkCreateRayTracingPipelinesKHR"
                if device.is_some_and(|d| d.fns.create_ray_tracing_pipelines.is_some()) =>
            {
                cast_fn(create_ray_tracing_pipelines as vk::PFN_vkCreateRayTracingPipelinesKHR)
            }
            _ => return None,
        })
    }
}
