//! What a device was created with that changes its compiled pipelines: the enabled extensions
//! and features, digested into the layer cache's key so two configurations of one application
//! (robustness on and off, an extension enabled or not) keep separate blobs instead of
//! overwriting each other's on every switch.
//!
//! Digested: the extension names the application enables (sorted, duplicates dropped: their
//! order means nothing), `pEnabledFeatures`, and the feature structures of the create info's
//! `pNext` chain. The core ones (`VkPhysicalDeviceFeatures2`, `VkPhysicalDeviceVulkan11/12/13
//! Features`) by value; any other structure by its type only, because the layer cannot know the
//! layout of every extension's structure (an unknown one read past its end would be a crash).
//! Two configurations that differ only inside such a structure share a blob, as before; a
//! driver validates the blob's header either way, so sharing costs hits, never correctness.

use std::ffi::{c_void, CStr};
use std::mem::{offset_of, size_of};

use ash::vk;

/// The digest of what `create_info` enables (see the module documentation), with `extensions`
/// its enabled extension names: part of the namespace the layer keys a device's cache with (after
/// the application and the device name, each behind a NUL), for tools that seed the layer's
/// store ahead of a launch.
///
/// # Safety
/// `create_info` is a valid `VkDeviceCreateInfo` (the application's, by Vulkan's rules): its
/// extension names NUL-terminated, its feature pointers null or valid, its `pNext` chain valid.
pub unsafe fn digest(create_info: &vk::DeviceCreateInfo<'_>, extensions: &[&CStr]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"pcstore.layer.device-configuration.v1\0");
    let mut names: Vec<&[u8]> = extensions.iter().map(|name| name.to_bytes()).collect();
    names.sort_unstable();
    names.dedup();
    hasher.update(&(names.len() as u64).to_le_bytes());
    for name in names {
        hasher.update(name);
        hasher.update(&[0]);
    }
    // SAFETY: null or a valid VkPhysicalDeviceFeatures (caller).
    if let Some(features) = unsafe { create_info.p_enabled_features.as_ref() } {
        hasher.update(b"features");
        // SAFETY: a live struct of only VkBool32 members.
        unsafe {
            hash_bool32s(
                &mut hasher,
                std::ptr::from_ref(features).cast(),
                FEATURES_BOOL32S,
            )
        };
    }
    let mut current = create_info.p_next.cast::<ChainHeader>();
    // Bounded: real create-info chains hold a handful of structures.
    for _ in 0..MAX_CHAIN {
        if current.is_null() {
            break;
        }
        // SAFETY: every structure of a valid chain starts with sType and pNext (caller).
        let header = unsafe { &*current };
        current = header.p_next.cast();
        // The loader's own entries (the layer links) are not the application's configuration,
        // and how many there are depends on the layers enabled.
        if header.s_type == vk::StructureType::LOADER_DEVICE_CREATE_INFO {
            continue;
        }
        hasher.update(&header.s_type.as_raw().to_le_bytes());
        if let Some((first, count)) = known_feature_words(header.s_type) {
            let structure = std::ptr::from_ref(header).cast::<u8>();
            // SAFETY: a structure of this sType has this layout: `count` VkBool32 from `first`.
            unsafe { hash_bool32s(&mut hasher, structure.add(first).cast(), count) };
        }
    }
    *hasher.finalize().as_bytes()
}

/// The first two members of every Vulkan structure.
#[repr(C)]
struct ChainHeader {
    s_type: vk::StructureType,
    p_next: *const c_void,
}

const MAX_CHAIN: usize = 64;

/// `VkPhysicalDeviceFeatures` is nothing but VkBool32 members.
const FEATURES_BOOL32S: usize = size_of::<vk::PhysicalDeviceFeatures>() / size_of::<vk::Bool32>();

/// For the core feature structures: the offset of their first VkBool32 member and how many
/// follow it (all their members after the header are VkBool32; counted to the last member's
/// end, so the tail padding is never read).
fn known_feature_words(s_type: vk::StructureType) -> Option<(usize, usize)> {
    macro_rules! words {
        ($type:ty, $first:ident, $last:ident) => {
            (
                offset_of!($type, $first),
                (offset_of!($type, $last) + size_of::<vk::Bool32>() - offset_of!($type, $first))
                    / size_of::<vk::Bool32>(),
            )
        };
    }
    Some(match s_type {
        vk::StructureType::PHYSICAL_DEVICE_FEATURES_2 => (
            offset_of!(vk::PhysicalDeviceFeatures2<'static>, features),
            FEATURES_BOOL32S,
        ),
        vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_1_FEATURES => words!(
            vk::PhysicalDeviceVulkan11Features<'static>,
            storage_buffer16_bit_access,
            shader_draw_parameters
        ),
        vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_2_FEATURES => words!(
            vk::PhysicalDeviceVulkan12Features<'static>,
            sampler_mirror_clamp_to_edge,
            subgroup_broadcast_dynamic_id
        ),
        vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_3_FEATURES => words!(
            vk::PhysicalDeviceVulkan13Features<'static>,
            robust_image_access,
            maintenance4
        ),
        _ => return None,
    })
}

/// Hashes `count` VkBool32 values at `words`, each as 0 or 1 (any non-zero value is true).
///
/// # Safety
/// `words` points to `count` readable, aligned VkBool32 values.
unsafe fn hash_bool32s(hasher: &mut blake3::Hasher, words: *const vk::Bool32, count: usize) {
    // SAFETY: `count` readable values (caller).
    let words = unsafe { std::slice::from_raw_parts(words, count) };
    let bits: Vec<u8> = words.iter().map(|&word| u8::from(word != 0)).collect();
    hasher.update(&bits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(info: &vk::DeviceCreateInfo<'_>, extensions: &[&CStr]) -> [u8; 32] {
        // SAFETY: valid structures built by the test.
        unsafe { digest(info, extensions) }
    }

    #[test]
    fn extensions_count_as_a_set() {
        let info = vk::DeviceCreateInfo::default();
        let a = of(&info, &[c"VK_KHR_swapchain", c"VK_EXT_robustness2"]);
        let b = of(
            &info,
            &[
                c"VK_EXT_robustness2",
                c"VK_KHR_swapchain",
                c"VK_KHR_swapchain",
            ],
        );
        assert_eq!(a, b, "order and duplicates mean nothing");
        assert_ne!(a, of(&info, &[c"VK_KHR_swapchain"]));
        assert_ne!(of(&info, &[]), a);
    }

    #[test]
    fn the_loaders_entries_are_not_configuration() {
        use crate::layer::abi::{LayerDeviceCreateInfo, LayerDeviceCreateInfoUnion};
        let link = LayerDeviceCreateInfo {
            s_type: vk::StructureType::LOADER_DEVICE_CREATE_INFO,
            p_next: std::ptr::null(),
            function: 0,
            u: LayerDeviceCreateInfoUnion {
                set_device_loader_data: std::ptr::null(),
            },
        };
        let through_loader = vk::DeviceCreateInfo {
            p_next: std::ptr::from_ref(&link).cast(),
            ..Default::default()
        };
        assert_eq!(
            of(&through_loader, &[]),
            of(&vk::DeviceCreateInfo::default(), &[]),
            "what a tool computes for the application's create info is what the layer sees"
        );
    }

    #[test]
    fn features_count_by_value_wherever_they_are_given() {
        let none = of(&vk::DeviceCreateInfo::default(), &[]);
        let robust = vk::PhysicalDeviceFeatures {
            robust_buffer_access: vk::TRUE,
            ..Default::default()
        };
        let plain = vk::PhysicalDeviceFeatures::default();
        let with = |features: &vk::PhysicalDeviceFeatures| {
            of(
                &vk::DeviceCreateInfo {
                    p_enabled_features: features,
                    ..Default::default()
                },
                &[],
            )
        };
        assert_ne!(with(&robust), with(&plain));
        assert_ne!(with(&plain), none, "given, even all false, is not absent");

        let mut v13 = vk::PhysicalDeviceVulkan13Features {
            maintenance4: vk::TRUE,
            ..Default::default()
        };
        let chained = |v13: &vk::PhysicalDeviceVulkan13Features<'_>| {
            of(
                &vk::DeviceCreateInfo {
                    p_next: std::ptr::from_ref(v13).cast(),
                    ..Default::default()
                },
                &[],
            )
        };
        let last_on = chained(&v13);
        v13.maintenance4 = vk::FALSE;
        assert_ne!(last_on, chained(&v13), "the last member counts");
        v13.robust_image_access = 7; // any non-zero VkBool32 is true
        let seven = chained(&v13);
        v13.robust_image_access = vk::TRUE;
        assert_eq!(seven, chained(&v13));

        let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
        let v12: *mut vk::PhysicalDeviceVulkan12Features<'_> = &mut v12;
        let features2 = vk::PhysicalDeviceFeatures2 {
            p_next: v12.cast(),
            features: robust,
            ..Default::default()
        };
        let through_features2 = of(
            &vk::DeviceCreateInfo {
                p_next: std::ptr::from_ref(&features2).cast(),
                ..Default::default()
            },
            &[],
        );
        // SAFETY: the live structure, written through the pointer the chain holds.
        unsafe { (*v12).subgroup_broadcast_dynamic_id = vk::TRUE };
        let changed_behind = of(
            &vk::DeviceCreateInfo {
                p_next: std::ptr::from_ref(&features2).cast(),
                ..Default::default()
            },
            &[],
        );
        assert_ne!(
            through_features2, changed_behind,
            "a structure further down counts"
        );
    }
}
