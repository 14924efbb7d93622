//! The few Vulkan entry points pcstore calls, resolved through the engine's loader.
//!
//! pcstore never links or loads libvulkan: the engine passes its `vkGetInstanceProcAddr` (from
//! the system loader, volk, or its own layer stack) and only these functions are resolved.
//! Device-level functions go through `vkGetDeviceProcAddr`, so calls skip the loader's
//! trampoline and reach whatever layers the engine enabled on its device.

use std::ffi::CStr;

use ash::vk;

use super::error::VulkanError;

/// Function pointers for one instance and device.
#[derive(Clone, Copy)]
pub(crate) struct DeviceFns {
    pub get_physical_device_properties: vk::PFN_vkGetPhysicalDeviceProperties,
    /// Core since Vulkan 1.1; resolved only when the caller's API version allows it.
    pub get_physical_device_properties2: Option<vk::PFN_vkGetPhysicalDeviceProperties2>,
    pub create_pipeline_cache: vk::PFN_vkCreatePipelineCache,
    pub get_pipeline_cache_data: vk::PFN_vkGetPipelineCacheData,
    pub merge_pipeline_caches: vk::PFN_vkMergePipelineCaches,
}

impl DeviceFns {
    /// Resolves every entry point, failing on the first one the loader does not provide.
    ///
    /// # Safety
    /// `get_instance_proc_addr` must be a valid `vkGetInstanceProcAddr`, `instance` a live
    /// instance created through it and `device` a live device of that instance.
    pub(crate) unsafe fn load(
        get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
        instance: vk::Instance,
        device: vk::Device,
        api_version: u32,
    ) -> Result<Self, VulkanError> {
        let instance_fn = |name: &'static CStr| {
            // SAFETY: the caller guarantees a valid GIPA and a live instance; `name` is
            // NUL-terminated.
            let pointer = unsafe { get_instance_proc_addr(instance, name.as_ptr()) };
            pointer.ok_or(VulkanError::MissingEntryPoint(name))
        };
        // SAFETY (every `cast` below): the loader returned each pointer for the function of
        // the same name, so it has exactly the signature of the PFN type it is cast to (the
        // contract of vkGetInstanceProcAddr / vkGetDeviceProcAddr).
        let get_device_proc_addr: vk::PFN_vkGetDeviceProcAddr =
            unsafe { cast(instance_fn(c"vkGetDeviceProcAddr")?) };
        let device_fn = |name: &'static CStr| {
            // SAFETY: `get_device_proc_addr` was resolved for this instance and `device` is
            // one of its live devices (caller's guarantee).
            let pointer = unsafe { get_device_proc_addr(device, name.as_ptr()) };
            pointer.ok_or(VulkanError::MissingEntryPoint(name))
        };
        let get_physical_device_properties2 = if api_version >= vk::API_VERSION_1_1 {
            // SAFETY: resolved by this name (see above).
            Some(unsafe { cast(instance_fn(c"vkGetPhysicalDeviceProperties2")?) })
        } else {
            None
        };
        // SAFETY: each resolved by its own name (see above).
        let get_physical_device_properties =
            unsafe { cast(instance_fn(c"vkGetPhysicalDeviceProperties")?) };
        // SAFETY: as above.
        let create_pipeline_cache = unsafe { cast(device_fn(c"vkCreatePipelineCache")?) };
        // SAFETY: as above.
        let get_pipeline_cache_data = unsafe { cast(device_fn(c"vkGetPipelineCacheData")?) };
        // SAFETY: as above.
        let merge_pipeline_caches = unsafe { cast(device_fn(c"vkMergePipelineCaches")?) };
        Ok(Self {
            get_physical_device_properties,
            get_physical_device_properties2,
            create_pipeline_cache,
            get_pipeline_cache_data,
            merge_pipeline_caches,
        })
    }
}

/// Reinterprets a loader-returned pointer as the typed PFN of the function it was resolved for.
///
/// # Safety
/// `T` must be the function-pointer type of the entry point `pointer` was resolved for.
unsafe fn cast<T: Copy>(pointer: unsafe extern "system" fn()) -> T {
    const { assert!(std::mem::size_of::<T>() == std::mem::size_of::<unsafe extern "system" fn()>()) };
    // SAFETY: same size (checked at compile time); the signature is the caller's guarantee.
    unsafe { std::mem::transmute_copy(&pointer) }
}
