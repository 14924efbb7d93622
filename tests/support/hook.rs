//! A test-only interposer between pcstore and the driver: pcstore is handed
//! [`hooked_get_instance_proc_addr`] instead of the loader's, so every `vkCreatePipelineCache`
//! and `vkGetPipelineCacheData` it makes passes through here. This is how the tests prove that
//! rejected data never reaches the driver (the recorded `initialDataSize` of every call), and how
//! they play a driver that refuses data or reports a short blob (Mesa 26.x) on demand.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use pcstore::vulkan::ash::vk;

static REAL_GET_INSTANCE_PROC_ADDR: OnceLock<vk::PFN_vkGetInstanceProcAddr> = OnceLock::new();
static REAL_GET_DEVICE_PROC_ADDR: OnceLock<vk::PFN_vkGetDeviceProcAddr> = OnceLock::new();
static REAL_CREATE_PIPELINE_CACHE: OnceLock<vk::PFN_vkCreatePipelineCache> = OnceLock::new();
static REAL_GET_PIPELINE_CACHE_DATA: OnceLock<vk::PFN_vkGetPipelineCacheData> = OnceLock::new();

/// One `vkCreatePipelineCache` call as pcstore made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateCall {
    /// `initialDataSize`.
    pub initial_data_size: usize,
    /// Whether `pInitialData` was non-null.
    pub has_pointer: bool,
}

/// Every `vkCreatePipelineCache` call pcstore made, in order.
pub static CREATE_CALLS: Mutex<Vec<CreateCall>> = Mutex::new(Vec::new());
/// When set, `vkCreatePipelineCache` with initial data fails (without calling the driver).
pub static REFUSE_INITIAL_DATA: AtomicBool = AtomicBool::new(false);
/// While positive, each fill call of `vkGetPipelineCacheData` answers `VK_INCOMPLETE` (as when
/// another thread grew the cache between the size query and the fill) and counts down.
pub static INCOMPLETE_FILLS: AtomicUsize = AtomicUsize::new(0);
/// When set, a filled `vkGetPipelineCacheData` reports 20 bytes, as Mesa 26.x does.
pub static SHORT_DATA_SIZE: AtomicBool = AtomicBool::new(false);

/// Wraps the loader's `vkGetInstanceProcAddr`; returns the hooked one to give to pcstore.
pub fn install(real: vk::PFN_vkGetInstanceProcAddr) -> vk::PFN_vkGetInstanceProcAddr {
    REAL_GET_INSTANCE_PROC_ADDR.get_or_init(|| real);
    hooked_get_instance_proc_addr
}

/// The calls recorded since the last call to this function.
pub fn take_create_calls() -> Vec<CreateCall> {
    std::mem::take(&mut *CREATE_CALLS.lock().unwrap())
}

fn void_fn<T>(f: T) -> vk::PFN_vkVoidFunction {
    assert_eq!(
        std::mem::size_of::<T>(),
        std::mem::size_of::<unsafe extern "system" fn()>()
    );
    // SAFETY: T is a function-pointer type (size checked); the loader contract is that callers
    // cast it back to the PFN type of the name they asked for, which is T.
    Some(unsafe { std::mem::transmute_copy::<T, unsafe extern "system" fn()>(&f) })
}

unsafe extern "system" fn hooked_get_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let real = REAL_GET_INSTANCE_PROC_ADDR.get().expect("hook installed");
    // SAFETY: the caller passes a NUL-terminated name (Vulkan contract).
    let wanted = unsafe { CStr::from_ptr(name) };
    if wanted == c"vkGetDeviceProcAddr" {
        // SAFETY: forwarding the caller's valid arguments to the loader.
        let pointer = unsafe { real(instance, name) }?;
        // SAFETY: the loader returned this for vkGetDeviceProcAddr.
        let real_gdpa: vk::PFN_vkGetDeviceProcAddr = unsafe { std::mem::transmute(pointer) };
        REAL_GET_DEVICE_PROC_ADDR.get_or_init(|| real_gdpa);
        let hooked: vk::PFN_vkGetDeviceProcAddr = hooked_get_device_proc_addr;
        return void_fn(hooked);
    }
    // SAFETY: forwarding the caller's valid arguments to the loader.
    unsafe { real(instance, name) }
}

unsafe extern "system" fn hooked_get_device_proc_addr(
    device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let real = REAL_GET_DEVICE_PROC_ADDR
        .get()
        .expect("resolved before use");
    // SAFETY: forwarding the caller's valid arguments to the loader.
    let pointer = unsafe { real(device, name) }?;
    // SAFETY: the caller passes a NUL-terminated name (Vulkan contract).
    let wanted = unsafe { CStr::from_ptr(name) };
    if wanted == c"vkCreatePipelineCache" {
        // SAFETY: the loader returned this for vkCreatePipelineCache.
        REAL_CREATE_PIPELINE_CACHE.get_or_init(|| unsafe { std::mem::transmute(pointer) });
        let hooked: vk::PFN_vkCreatePipelineCache = hooked_create_pipeline_cache;
        return void_fn(hooked);
    }
    if wanted == c"vkGetPipelineCacheData" {
        // SAFETY: the loader returned this for vkGetPipelineCacheData.
        REAL_GET_PIPELINE_CACHE_DATA.get_or_init(|| unsafe { std::mem::transmute(pointer) });
        let hooked: vk::PFN_vkGetPipelineCacheData = hooked_get_pipeline_cache_data;
        return void_fn(hooked);
    }
    Some(pointer)
}

unsafe extern "system" fn hooked_create_pipeline_cache(
    device: vk::Device,
    create_info: *const vk::PipelineCacheCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    cache: *mut vk::PipelineCache,
) -> vk::Result {
    // SAFETY: the caller passes a valid create info (Vulkan contract).
    let info = unsafe { &*create_info };
    CREATE_CALLS.lock().unwrap().push(CreateCall {
        initial_data_size: info.initial_data_size,
        has_pointer: !info.p_initial_data.is_null(),
    });
    if info.initial_data_size > 0 && REFUSE_INITIAL_DATA.load(Ordering::SeqCst) {
        return vk::Result::ERROR_OUT_OF_HOST_MEMORY;
    }
    let real = REAL_CREATE_PIPELINE_CACHE
        .get()
        .expect("resolved before use");
    // SAFETY: forwarding the caller's valid arguments to the driver.
    unsafe { real(device, create_info, allocator, cache) }
}

unsafe extern "system" fn hooked_get_pipeline_cache_data(
    device: vk::Device,
    cache: vk::PipelineCache,
    size: *mut usize,
    data: *mut c_void,
) -> vk::Result {
    let real = REAL_GET_PIPELINE_CACHE_DATA
        .get()
        .expect("resolved before use");
    if !data.is_null()
        && INCOMPLETE_FILLS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return vk::Result::INCOMPLETE;
    }
    // SAFETY: forwarding the caller's valid arguments to the driver.
    let result = unsafe { real(device, cache, size, data) };
    if !data.is_null() && result == vk::Result::SUCCESS && SHORT_DATA_SIZE.load(Ordering::SeqCst) {
        // SAFETY: `size` is the caller's valid in/out pointer.
        unsafe { *size = (*size).min(20) };
    }
    result
}
