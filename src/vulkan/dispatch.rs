//! The few Vulkan entry points pcstore calls, resolved through the engine's loader, and the one
//! way pcstore turns a resolved pointer into a typed one (the layer resolves through it too).
//!
//! pcstore never links or loads libvulkan: the engine passes its `vkGetInstanceProcAddr` (from
//! the system loader, volk, or its own layer stack) and only these functions are resolved.
//! Device-level functions go through `vkGetDeviceProcAddr`, so calls skip the loader's
//! trampoline and reach whatever layers the engine enabled on its device.

use std::ffi::{c_char, CStr};

use ash::vk;

use super::error::VulkanError;

/// A `vkGet*ProcAddr` for handles of type `H` (`vkGetInstanceProcAddr` is
/// `Resolver<vk::Instance>`, `vkGetDeviceProcAddr` is `Resolver<vk::Device>`).
pub(crate) type Resolver<H> = unsafe extern "system" fn(H, *const c_char) -> vk::PFN_vkVoidFunction;

/// The adapter's functions for one instance and device: the two property queries the device
/// identity is read from and the pipeline-cache commands.
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
    /// # Errors
    /// [`VulkanError::MissingEntryPoint`] naming the first function the loader does not give.
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
        // SAFETY: (every `required` below) a valid GIPA with its live instance (caller), and
        // the vkGetDeviceProcAddr it gave with one of that instance's live devices; each PFN
        // type is that of the name it is resolved by.
        let get_device_proc_addr: vk::PFN_vkGetDeviceProcAddr =
            unsafe { required(get_instance_proc_addr, instance, c"vkGetDeviceProcAddr")? };
        let get_physical_device_properties2 = if api_version >= vk::API_VERSION_1_1 {
            // SAFETY: as above.
            Some(unsafe {
                required(
                    get_instance_proc_addr,
                    instance,
                    c"vkGetPhysicalDeviceProperties2",
                )?
            })
        } else {
            None
        };
        // SAFETY: as above.
        let get_physical_device_properties = unsafe {
            required(
                get_instance_proc_addr,
                instance,
                c"vkGetPhysicalDeviceProperties",
            )?
        };
        // SAFETY: as above.
        let create_pipeline_cache =
            unsafe { required(get_device_proc_addr, device, c"vkCreatePipelineCache")? };
        // SAFETY: as above.
        let get_pipeline_cache_data =
            unsafe { required(get_device_proc_addr, device, c"vkGetPipelineCacheData")? };
        // SAFETY: as above.
        let merge_pipeline_caches =
            unsafe { required(get_device_proc_addr, device, c"vkMergePipelineCaches")? };
        Ok(Self {
            get_physical_device_properties,
            get_physical_device_properties2,
            create_pipeline_cache,
            get_pipeline_cache_data,
            merge_pipeline_caches,
        })
    }
}

/// [`resolve`], with an absent function as [`VulkanError::MissingEntryPoint`].
///
/// # Safety
/// As for [`resolve`].
unsafe fn required<H: Copy, T: Copy>(
    resolver: Resolver<H>,
    handle: H,
    name: &'static CStr,
) -> Result<T, VulkanError> {
    // SAFETY: the caller's guarantees are `resolve`'s.
    unsafe { resolve(resolver, handle, name) }.ok_or(VulkanError::MissingEntryPoint(name))
}

/// Resolves `name` through `resolver` and casts it to the typed PFN `T`; `None` when the
/// resolver does not know the name.
///
/// # Safety
/// `resolver` must be a valid `vkGet*ProcAddr` for the live `handle`, and `T` the PFN type of
/// `name` (the contract of `vkGetInstanceProcAddr` / `vkGetDeviceProcAddr`: the pointer
/// returned for a name has that name's signature).
pub(crate) unsafe fn resolve<H: Copy, T: Copy>(
    resolver: Resolver<H>,
    handle: H,
    name: &CStr,
) -> Option<T> {
    // SAFETY: valid resolver and handle (caller); `name` is NUL-terminated.
    let pointer = unsafe { resolver(handle, name.as_ptr()) }?;
    // SAFETY: the resolver returned the function named `name`, whose PFN type is `T` (caller).
    Some(unsafe { cast_fn(pointer) })
}

/// Reinterprets one function-pointer type as another of the same size: a resolved
/// `PFN_vkVoidFunction` as the typed PFN of its name, or (in the layer) a typed function as
/// `PFN_vkVoidFunction` for a resolver to return.
///
/// # Safety
/// `To` must be the real signature of the function `from` points to (as given by the loader for
/// the name it was resolved under), or `from` must be a function of signature `From` being
/// erased to `PFN_vkVoidFunction`'s inner type for the caller to cast back.
pub(crate) unsafe fn cast_fn<From: Copy, To: Copy>(from: From) -> To {
    const {
        assert!(std::mem::size_of::<From>() == std::mem::size_of::<To>());
    }
    // SAFETY: same size (checked at compile time); the signature is the caller's guarantee.
    unsafe { std::mem::transmute_copy(&from) }
}
