//! The loader-layer interface of `vk_layer.h`, which ash does not provide, declared `#[repr(C)]`.
//!
//! Sizes and field offsets are checked against the C header by `tests/layer.rs` (it compiles a
//! small C program with the system `cc` and compares). Only the members this layer reads or
//! writes are named; the rest of each C union is kept for its size. `guarded` and `resolving`
//! keep the rule every function called across this interface follows: it never unwinds.

use std::ffi::{c_char, c_void, CStr};

use ash::vk;

/// `VkNegotiateLayerStructType::LAYER_NEGOTIATE_INTERFACE_STRUCT`.
pub const LAYER_NEGOTIATE_INTERFACE_STRUCT: u32 = 1;

/// The loader-layer interface version this layer speaks (the one with the negotiate function).
pub const LAYER_INTERFACE_VERSION: u32 = 2;

/// `VkLayerFunction::VK_LAYER_LINK_INFO`: the create-info entry that carries the next link.
pub const LAYER_LINK_INFO: u32 = 0;

/// `PFN_GetPhysicalDeviceProcAddr` (loader-layer interface, not part of the Vulkan API).
pub type GetPhysicalDeviceProcAddr =
    unsafe extern "system" fn(vk::Instance, *const c_char) -> vk::PFN_vkVoidFunction;

/// `VkNegotiateLayerInterface`: filled in by the layer during negotiation.
#[repr(C)]
#[derive(Debug)]
pub struct NegotiateLayerInterface {
    /// `VkNegotiateLayerStructType`; must be [`LAYER_NEGOTIATE_INTERFACE_STRUCT`].
    pub s_type: u32,
    /// Reserved by the loader.
    pub p_next: *mut c_void,
    /// In: the newest version the loader supports; out: the version the layer chose.
    pub loader_layer_interface_version: u32,
    /// Out: the layer's `vkGetInstanceProcAddr`.
    pub pfn_get_instance_proc_addr: Option<vk::PFN_vkGetInstanceProcAddr>,
    /// Out: the layer's `vkGetDeviceProcAddr`.
    pub pfn_get_device_proc_addr: Option<vk::PFN_vkGetDeviceProcAddr>,
    /// Out: the layer's physical-device entry resolver (none: this layer has no such function).
    pub pfn_get_physical_device_proc_addr: Option<GetPhysicalDeviceProcAddr>,
}

/// `VkLayerInstanceLink`: one element of the instance call chain below a layer.
#[repr(C)]
#[derive(Debug)]
pub struct LayerInstanceLink {
    /// The link for the layer below the next one.
    pub p_next: *mut LayerInstanceLink,
    /// The next layer's (or the loader terminator's) `vkGetInstanceProcAddr`.
    pub pfn_next_get_instance_proc_addr: Option<vk::PFN_vkGetInstanceProcAddr>,
    /// The next layer's physical-device resolver.
    pub pfn_next_get_physical_device_proc_addr: Option<GetPhysicalDeviceProcAddr>,
}

/// The union of `VkLayerInstanceCreateInfo` (16 bytes on 64-bit targets).
#[repr(C)]
#[derive(Clone, Copy)]
pub union LayerInstanceCreateInfoUnion {
    /// Member for `function == VK_LAYER_LINK_INFO`.
    pub p_layer_info: *mut LayerInstanceLink,
    /// The largest other member (`layerDevice`: two callbacks), kept for the union's size.
    pub layer_device: [*const c_void; 2],
}

/// `VkLayerInstanceCreateInfo`: found in `VkInstanceCreateInfo::pNext` with
/// `sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO`.
#[repr(C)]
pub struct LayerInstanceCreateInfo {
    /// `VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO`.
    pub s_type: vk::StructureType,
    /// Next structure of the create-info chain.
    pub p_next: *const c_void,
    /// `VkLayerFunction`: which union member is valid.
    pub function: u32,
    /// The payload.
    pub u: LayerInstanceCreateInfoUnion,
}

/// `VkLayerDeviceLink`: one element of the device call chain below a layer.
#[repr(C)]
#[derive(Debug)]
pub struct LayerDeviceLink {
    /// The link for the layer below the next one.
    pub p_next: *mut LayerDeviceLink,
    /// The next layer's `vkGetInstanceProcAddr`.
    pub pfn_next_get_instance_proc_addr: Option<vk::PFN_vkGetInstanceProcAddr>,
    /// The next layer's `vkGetDeviceProcAddr`.
    pub pfn_next_get_device_proc_addr: Option<vk::PFN_vkGetDeviceProcAddr>,
}

/// The union of `VkLayerDeviceCreateInfo`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union LayerDeviceCreateInfoUnion {
    /// Member for `function == VK_LAYER_LINK_INFO`.
    pub p_layer_info: *mut LayerDeviceLink,
    /// `pfnSetDeviceLoaderData`, kept for the union's size.
    pub set_device_loader_data: *const c_void,
}

/// `VkLayerDeviceCreateInfo`: found in `VkDeviceCreateInfo::pNext` with
/// `sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO`.
#[repr(C)]
pub struct LayerDeviceCreateInfo {
    /// `VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO`.
    pub s_type: vk::StructureType,
    /// Next structure of the create-info chain.
    pub p_next: *const c_void,
    /// `VkLayerFunction`: which union member is valid.
    pub function: u32,
    /// The payload.
    pub u: LayerDeviceCreateInfoUnion,
}

/// Runs `body`, turning a panic into `on_panic`: every function the loader or the application
/// calls through the layer runs its body in here (a panic unwinding out of an
/// `extern "system"` function would abort the application).
pub(super) fn guarded<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// The shell of every `vkGet*ProcAddr` the layer hands out: NULL for a null name, otherwise
/// `body`'s answer for the name, panics caught (as NULL).
///
/// # Safety
/// `name` must be null or NUL-terminated (what the loader and the adapter pass).
pub(super) unsafe fn resolving(
    name: *const c_char,
    body: impl FnOnce(&CStr) -> vk::PFN_vkVoidFunction,
) -> vk::PFN_vkVoidFunction {
    guarded(None, || {
        if name.is_null() {
            return None;
        }
        // SAFETY: not null, so NUL-terminated (caller).
        body(unsafe { CStr::from_ptr(name) })
    })
}

/// The first two members every Vulkan structure starts with, for walking `pNext` chains.
#[repr(C)]
struct ChainHeader {
    s_type: vk::StructureType,
    p_next: *const c_void,
}

/// The first structure in the `pNext` chain starting at `p_next` with this `s_type` and
/// `function == VK_LAYER_LINK_INFO`, as a mutable pointer (the loader expects each layer to
/// advance the link it finds there before calling down).
///
/// # Safety
/// `p_next` must start a valid Vulkan `pNext` chain; every structure of type `s_type` in it must
/// have the layout of `T` (one of the two `Layer*CreateInfo` structs above).
pub(super) unsafe fn find_link_info<T>(p_next: *const c_void, s_type: vk::StructureType) -> *mut T {
    let mut current = p_next.cast::<ChainHeader>();
    // Bounded: a chain longer than this is not a real create-info chain.
    for _ in 0..4096 {
        if current.is_null() {
            break;
        }
        // SAFETY: every element of a valid pNext chain starts with sType and pNext.
        let header = unsafe { &*current };
        if header.s_type == s_type {
            // SAFETY: a structure with this sType has the layout `T` (caller); `function` sits
            // right after the header in both create-info structs.
            let function = unsafe {
                *current
                    .cast::<u8>()
                    .add(std::mem::size_of::<ChainHeader>())
                    .cast::<u32>()
            };
            if function == LAYER_LINK_INFO {
                return current.cast::<T>().cast_mut();
            }
        }
        current = header.p_next.cast();
    }
    std::ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, next: *const c_void) -> LayerInstanceCreateInfo {
        LayerInstanceCreateInfo {
            s_type: vk::StructureType::LOADER_INSTANCE_CREATE_INFO,
            p_next: next,
            function,
            u: LayerInstanceCreateInfoUnion {
                layer_device: [std::ptr::null(); 2],
            },
        }
    }

    #[test]
    fn skips_other_loader_entries_and_other_structs() {
        // The loader chains a data-callback entry next to the link entry; the application may
        // chain its own structures (here a debug messenger's) in between.
        let link = entry(LAYER_LINK_INFO, std::ptr::null());
        let messenger = vk::DebugUtilsMessengerCreateInfoEXT {
            p_next: std::ptr::from_ref(&link).cast(),
            ..Default::default()
        };
        let callback = entry(1, std::ptr::from_ref(&messenger).cast());
        // SAFETY: a valid chain of live structures.
        let found: *mut LayerInstanceCreateInfo = unsafe {
            find_link_info(
                std::ptr::from_ref(&callback).cast(),
                vk::StructureType::LOADER_INSTANCE_CREATE_INFO,
            )
        };
        assert_eq!(found.cast_const(), std::ptr::from_ref(&link));
    }

    #[test]
    fn absent_link_is_null() {
        let callback = entry(1, std::ptr::null());
        // SAFETY: a valid chain; the null start is an empty chain.
        unsafe {
            let start = std::ptr::from_ref(&callback).cast();
            let sought = vk::StructureType::LOADER_INSTANCE_CREATE_INFO;
            assert!(find_link_info::<LayerInstanceCreateInfo>(start, sought).is_null());
            assert!(find_link_info::<LayerInstanceCreateInfo>(std::ptr::null(), sought).is_null());
        }
    }
}
