//! Device recipes: what a replay must enable for recorded pipelines to be valid.
//!
//! Feature structures are all-`VkBool32` structures, so one generic form covers every one this
//! build knows (the table below): sType plus the list of booleans in declaration order. Core
//! `VkPhysicalDeviceFeatures` (from `pEnabledFeatures` or `VkPhysicalDeviceFeatures2`) is stored
//! under the sType of `VkPhysicalDeviceFeatures2` and rebuilt as `pEnabledFeatures`, so a 1.0
//! application without `VK_KHR_get_physical_device_properties2` replays validly too.

use std::ffi::c_char;
use std::mem::{offset_of, size_of};

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::impl_recipe;
use super::raw;
use super::wire::recipe_struct;

recipe_struct! {
    /// A device as the application created it, less what depends on the machine (queues).
    pub struct DeviceRecipe {
        /// `VkApplicationInfo::apiVersion` of the instance (0 for none): feature structures of
        /// a Vulkan version need an instance of that version.
        pub api_version: u32,
        /// `ppEnabledExtensionNames`, without NULs, sorted, without repeats.
        pub extensions: Vec<Vec<u8>>,
        /// Enabled features, one entry per feature structure, in ascending sType order.
        pub features: Vec<FeatureStruct>,
        /// sTypes of the device's chain the recorder does not know (sorted, without repeats):
        /// pipelines may need features hidden there, so a replay can say why they fail.
        pub unrecognized: Vec<vk::StructureType>,
    }
}

recipe_struct! {
    /// One feature structure.
    pub struct FeatureStruct {
        /// Its sType (`VkPhysicalDeviceFeatures2`'s for the core features).
        pub s_type: vk::StructureType,
        /// Its `VkBool32` members, in declaration order.
        pub enabled: Vec<bool>,
    }
}

impl_recipe!(DeviceRecipe, Device, 1);

/// Bytes before the first member of a chained structure (sType and pNext).
const CHAIN_HEADER: usize = size_of::<vk::BaseOutStructure<'static>>();
/// `VkBool32` members of `VkPhysicalDeviceFeatures`.
const CORE_FEATURES: usize = size_of::<vk::PhysicalDeviceFeatures>() / size_of::<vk::Bool32>();

/// Where a known feature structure's booleans are.
struct FeatureLayout {
    s_type: vk::StructureType,
    /// `VkBool32` members after the header.
    count: usize,
    /// Size of the whole structure.
    size: usize,
}

/// The known feature structures: each entry names the structure and its last member, which
/// gives the exact member count (the structures have nothing but `VkBool32` members, checked
/// when this table was written from the Vulkan headers ash 0.38 is generated from).
macro_rules! feature_layouts {
    ($($ty:ident . $last:ident),* $(,)?) => {
        const FEATURE_LAYOUTS: &[FeatureLayout] = &[$(
            FeatureLayout {
                s_type: <vk::$ty<'static> as vk::TaggedStructure>::STRUCTURE_TYPE,
                count: (offset_of!(vk::$ty<'static>, $last) - CHAIN_HEADER)
                    / size_of::<vk::Bool32>()
                    + 1,
                size: size_of::<vk::$ty<'static>>(),
            },
        )*];
    };
}

feature_layouts!(
    PhysicalDeviceVulkan11Features.shader_draw_parameters,
    PhysicalDeviceVulkan12Features.subgroup_broadcast_dynamic_id,
    PhysicalDeviceVulkan13Features.maintenance4,
    PhysicalDevice16BitStorageFeatures.storage_input_output16,
    PhysicalDeviceMultiviewFeatures.multiview_tessellation_shader,
    PhysicalDeviceVariablePointersFeatures.variable_pointers,
    PhysicalDeviceProtectedMemoryFeatures.protected_memory,
    PhysicalDeviceSamplerYcbcrConversionFeatures.sampler_ycbcr_conversion,
    PhysicalDeviceShaderDrawParametersFeatures.shader_draw_parameters,
    PhysicalDevice8BitStorageFeatures.storage_push_constant8,
    PhysicalDeviceShaderAtomicInt64Features.shader_shared_int64_atomics,
    PhysicalDeviceShaderFloat16Int8Features.shader_int8,
    PhysicalDeviceDescriptorIndexingFeatures.runtime_descriptor_array,
    PhysicalDeviceScalarBlockLayoutFeatures.scalar_block_layout,
    PhysicalDeviceVulkanMemoryModelFeatures.vulkan_memory_model_availability_visibility_chains,
    PhysicalDeviceImagelessFramebufferFeatures.imageless_framebuffer,
    PhysicalDeviceUniformBufferStandardLayoutFeatures.uniform_buffer_standard_layout,
    PhysicalDeviceShaderSubgroupExtendedTypesFeatures.shader_subgroup_extended_types,
    PhysicalDeviceSeparateDepthStencilLayoutsFeatures.separate_depth_stencil_layouts,
    PhysicalDeviceHostQueryResetFeatures.host_query_reset,
    PhysicalDeviceTimelineSemaphoreFeatures.timeline_semaphore,
    PhysicalDeviceBufferDeviceAddressFeatures.buffer_device_address_multi_device,
    PhysicalDeviceShaderTerminateInvocationFeatures.shader_terminate_invocation,
    PhysicalDeviceShaderDemoteToHelperInvocationFeatures.shader_demote_to_helper_invocation,
    PhysicalDevicePrivateDataFeatures.private_data,
    PhysicalDevicePipelineCreationCacheControlFeatures.pipeline_creation_cache_control,
    PhysicalDeviceSynchronization2Features.synchronization2,
    PhysicalDeviceZeroInitializeWorkgroupMemoryFeatures.shader_zero_initialize_workgroup_memory,
    PhysicalDeviceImageRobustnessFeatures.robust_image_access,
    PhysicalDeviceSubgroupSizeControlFeatures.compute_full_subgroups,
    PhysicalDeviceInlineUniformBlockFeatures
        .descriptor_binding_inline_uniform_block_update_after_bind,
    PhysicalDeviceTextureCompressionASTCHDRFeatures.texture_compression_astc_hdr,
    PhysicalDeviceDynamicRenderingFeatures.dynamic_rendering,
    PhysicalDeviceShaderIntegerDotProductFeatures.shader_integer_dot_product,
    PhysicalDeviceMaintenance4Features.maintenance4,
    PhysicalDeviceVertexAttributeDivisorFeaturesKHR.vertex_attribute_instance_rate_zero_divisor,
    PhysicalDeviceLineRasterizationFeaturesKHR.stippled_smooth_lines,
    PhysicalDeviceIndexTypeUint8FeaturesKHR.index_type_uint8,
    PhysicalDeviceMaintenance5FeaturesKHR.maintenance5,
    PhysicalDeviceFragmentShadingRateFeaturesKHR.attachment_fragment_shading_rate,
    PhysicalDeviceDynamicRenderingLocalReadFeaturesKHR.dynamic_rendering_local_read,
    PhysicalDeviceShaderSubgroupUniformControlFlowFeaturesKHR.shader_subgroup_uniform_control_flow,
    PhysicalDeviceFragmentShaderBarycentricFeaturesKHR.fragment_shader_barycentric,
    PhysicalDeviceShaderClockFeaturesKHR.shader_device_clock,
    PhysicalDeviceAccelerationStructureFeaturesKHR
        .descriptor_binding_acceleration_structure_update_after_bind,
    PhysicalDeviceRayTracingPipelineFeaturesKHR.ray_traversal_primitive_culling,
    PhysicalDeviceRayQueryFeaturesKHR.ray_query,
    PhysicalDeviceProvokingVertexFeaturesEXT.transform_feedback_preserves_provoking_vertex,
    PhysicalDeviceDepthClipEnableFeaturesEXT.depth_clip_enable,
    PhysicalDeviceDepthClipControlFeaturesEXT.depth_clip_control,
    PhysicalDeviceCustomBorderColorFeaturesEXT.custom_border_color_without_format,
    PhysicalDeviceExtendedDynamicStateFeaturesEXT.extended_dynamic_state,
    PhysicalDeviceExtendedDynamicState2FeaturesEXT.extended_dynamic_state2_patch_control_points,
    PhysicalDeviceExtendedDynamicState3FeaturesEXT
        .extended_dynamic_state3_shading_rate_image_enable,
    PhysicalDeviceVertexInputDynamicStateFeaturesEXT.vertex_input_dynamic_state,
    PhysicalDeviceColorWriteEnableFeaturesEXT.color_write_enable,
    PhysicalDeviceTransformFeedbackFeaturesEXT.geometry_streams,
    PhysicalDeviceRobustness2FeaturesEXT.null_descriptor,
    PhysicalDeviceMeshShaderFeaturesEXT.mesh_shader_queries,
    PhysicalDeviceGraphicsPipelineLibraryFeaturesEXT.graphics_pipeline_library,
    PhysicalDeviceDescriptorBufferFeaturesEXT.descriptor_buffer_push_descriptors,
    PhysicalDeviceMutableDescriptorTypeFeaturesEXT.mutable_descriptor_type,
    PhysicalDeviceFragmentShaderInterlockFeaturesEXT.fragment_shader_shading_rate_interlock,
    PhysicalDeviceShaderAtomicFloatFeaturesEXT.sparse_image_float32_atomic_add,
    PhysicalDeviceShaderImageAtomicInt64FeaturesEXT.sparse_image_int64_atomics,
    PhysicalDeviceConditionalRenderingFeaturesEXT.inherited_conditional_rendering,
    PhysicalDeviceAttachmentFeedbackLoopLayoutFeaturesEXT.attachment_feedback_loop_layout,
    PhysicalDeviceMultiDrawFeaturesEXT.multi_draw,
    PhysicalDevicePrimitiveTopologyListRestartFeaturesEXT.primitive_topology_patch_list_restart,
    PhysicalDeviceDepthClampZeroOneFeaturesEXT.depth_clamp_zero_one,
    PhysicalDeviceBorderColorSwizzleFeaturesEXT.border_color_swizzle_from_image,
    PhysicalDevicePipelineRobustnessFeaturesEXT.pipeline_robustness,
    PhysicalDeviceShaderObjectFeaturesEXT.shader_object,
    PhysicalDeviceImage2DViewOf3DFeaturesEXT.sampler2_d_view_of3_d,
    PhysicalDeviceNonSeamlessCubeMapFeaturesEXT.non_seamless_cube_map,
);

fn layout_of(s_type: vk::StructureType) -> Option<&'static FeatureLayout> {
    FEATURE_LAYOUTS
        .iter()
        .find(|layout| layout.s_type == s_type)
}

/// Adds `enabled` to the entry for `s_type` (a repeated structure enables the union).
fn merge_feature(features: &mut Vec<FeatureStruct>, s_type: vk::StructureType, enabled: Vec<bool>) {
    match features.iter_mut().find(|feature| feature.s_type == s_type) {
        Some(feature) => {
            for (have, more) in feature.enabled.iter_mut().zip(enabled) {
                *have |= more;
            }
        }
        None => features.push(FeatureStruct { s_type, enabled }),
    }
}

/// The booleans of `count` `VkBool32`s at `at`.
///
/// # Safety
/// `at` must point at `count` readable `VkBool32`s.
unsafe fn read_booleans(at: *const vk::Bool32, count: usize) -> Vec<bool> {
    // SAFETY: `count` values at `at` (caller).
    unsafe { std::slice::from_raw_parts(at, count) }
        .iter()
        .map(|value| raw::boolean(*value))
        .collect()
}

impl DeviceRecipe {
    /// Records a device's enabled extensions and features. Never refuses a chain: structures
    /// it does not know are listed in [`DeviceRecipe::unrecognized`] (the loader's own
    /// `VkLayerDeviceCreateInfo` links are skipped).
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateDevice`.
    ///
    /// # Errors
    /// [`NotRecorded`] only for a null extension name or null arrays with counts.
    pub unsafe fn capture(
        info: &vk::DeviceCreateInfo<'_>,
        api_version: u32,
    ) -> Result<Self, NotRecorded> {
        let mut features = Vec::new();
        let mut unrecognized = Vec::new();
        // SAFETY: null or valid (caller).
        if let Some(core) = unsafe { info.p_enabled_features.as_ref() } {
            let at = std::ptr::from_ref(core).cast::<vk::Bool32>();
            // SAFETY: the structure is CORE_FEATURES VkBool32s.
            let enabled = unsafe { read_booleans(at, CORE_FEATURES) };
            merge_feature(
                &mut features,
                vk::StructureType::PHYSICAL_DEVICE_FEATURES_2,
                enabled,
            );
        }
        // SAFETY: a valid chain (caller); each known entry is read as the layout its sType
        // names.
        unsafe {
            raw::walk_chain(info.p_next, "VkDeviceCreateInfo", |s_type, entry| {
                if s_type == vk::StructureType::LOADER_DEVICE_CREATE_INFO {
                    return Ok(true);
                }
                if s_type == vk::StructureType::PHYSICAL_DEVICE_FEATURES_2 {
                    let features2: &vk::PhysicalDeviceFeatures2<'_> = raw::cast(entry);
                    let at = std::ptr::from_ref(&features2.features).cast::<vk::Bool32>();
                    merge_feature(&mut features, s_type, read_booleans(at, CORE_FEATURES));
                } else if let Some(layout) = layout_of(s_type) {
                    let at = entry.cast::<u8>().add(CHAIN_HEADER).cast::<vk::Bool32>();
                    merge_feature(&mut features, s_type, read_booleans(at, layout.count));
                } else {
                    unrecognized.push(s_type);
                }
                Ok(true)
            })?;
        }
        features.sort_by_key(|feature| feature.s_type.as_raw() as u32);
        unrecognized.sort_by_key(|s_type| s_type.as_raw() as u32);
        unrecognized.dedup();
        // SAFETY: `enabledExtensionCount` NUL-terminated names (caller).
        let names = unsafe {
            raw::array(
                info.pp_enabled_extension_names,
                info.enabled_extension_count,
            )?
        };
        let mut extensions = names
            .iter()
            // SAFETY: each name is NUL-terminated (caller).
            .map(|name| unsafe { raw::name(*name) })
            .collect::<Result<Vec<_>, _>>()?;
        extensions.sort();
        extensions.dedup();
        Ok(Self {
            api_version,
            extensions,
            features,
            unrecognized,
        })
    }

    /// The create-info parts to recreate this device (extensions and features; the replayer
    /// adds its queues).
    ///
    /// # Errors
    /// [`BuildError::UnknownFeatureStructure`] for a feature structure this build cannot lay
    /// out (remove it from `features` to build without it); [`BuildError::Inconsistent`] for
    /// an entry with the wrong number of booleans or an extension name with a NUL.
    pub fn build(&self) -> Result<DeviceBuild, BuildError> {
        let names = self
            .extensions
            .iter()
            .map(|name| raw::c_name(name, "an extension name with a NUL"))
            .collect::<Result<Vec<_>, _>>()?;
        let name_pointers: Vec<*const c_char> =
            names.iter().map(|name| name.as_ptr().cast()).collect();
        let mut core = Vec::new();
        let mut chained: Vec<Vec<u64>> = Vec::new();
        for feature in &self.features {
            if feature.s_type == vk::StructureType::PHYSICAL_DEVICE_FEATURES_2 {
                if feature.enabled.len() != CORE_FEATURES {
                    return Err(BuildError::Inconsistent(
                        "core features with the wrong number of members",
                    ));
                }
                let mut features = vk::PhysicalDeviceFeatures::default();
                let at = std::ptr::from_mut(&mut features).cast::<vk::Bool32>();
                for (index, enabled) in feature.enabled.iter().enumerate() {
                    // SAFETY: `features` is CORE_FEATURES VkBool32s; index is below that.
                    unsafe { at.add(index).write(raw::bool32(*enabled)) };
                }
                core.push(features);
                continue;
            }
            let layout = layout_of(feature.s_type)
                .ok_or(BuildError::UnknownFeatureStructure(feature.s_type))?;
            if feature.enabled.len() != layout.count {
                return Err(BuildError::Inconsistent(
                    "a feature structure with the wrong number of members",
                ));
            }
            // Zeroed, 8-byte aligned storage the size of the structure.
            let mut storage = vec![0u64; layout.size.div_ceil(8)];
            let base = storage.as_mut_ptr().cast::<u8>();
            // SAFETY: `storage` is `layout.size` bytes, aligned for the structure: sType at 0,
            // then (after pNext, written when chaining) `count` VkBool32s from CHAIN_HEADER.
            unsafe {
                base.cast::<vk::StructureType>().write(feature.s_type);
                let booleans = base.add(CHAIN_HEADER).cast::<vk::Bool32>();
                for (index, enabled) in feature.enabled.iter().enumerate() {
                    booleans.add(index).write(raw::bool32(*enabled));
                }
            }
            chained.push(storage);
        }
        let mut next: *mut std::ffi::c_void = std::ptr::null_mut();
        for storage in chained.iter_mut().rev() {
            let base = storage.as_mut_ptr().cast::<u8>();
            // SAFETY: pNext is at its offset in the structure `storage` holds.
            unsafe {
                base.add(offset_of!(vk::BaseOutStructure<'static>, p_next))
                    .cast::<*mut std::ffi::c_void>()
                    .write(next);
            }
            next = base.cast();
        }
        Ok(DeviceBuild {
            _names: names,
            name_pointers,
            core,
            _chained: chained,
            chain: next.cast_const(),
        })
    }
}

/// The extensions and features of a device's create-info, and the storage they point into.
pub struct DeviceBuild {
    /// What the name pointers point into.
    _names: Vec<Vec<u8>>,
    name_pointers: Vec<*const c_char>,
    core: Vec<vk::PhysicalDeviceFeatures>,
    /// The chained feature structures, each in its own buffer.
    _chained: Vec<Vec<u64>>,
    chain: *const std::ffi::c_void,
}

impl DeviceBuild {
    /// A `VkDeviceCreateInfo` with `queues` and this recipe's extensions and features
    /// (the core ones as `pEnabledFeatures`, the others chained), valid as long as both.
    pub fn create_info<'a>(
        &'a self,
        queues: &'a [vk::DeviceQueueCreateInfo<'a>],
    ) -> vk::DeviceCreateInfo<'a> {
        let (queue_create_info_count, p_queue_create_infos) = raw::parts(queues);
        let (enabled_extension_count, pp_enabled_extension_names) = raw::parts(&self.name_pointers);
        vk::DeviceCreateInfo {
            p_next: self.chain,
            queue_create_info_count,
            p_queue_create_infos,
            enabled_extension_count,
            pp_enabled_extension_names,
            p_enabled_features: raw::parts(&self.core).1,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_layouts_cover_their_structures_exactly() {
        for layout in FEATURE_LAYOUTS {
            let end = CHAIN_HEADER + layout.count * size_of::<vk::Bool32>();
            assert!(end <= layout.size, "{:?} overruns", layout.s_type);
            assert!(layout.size - end < 8, "{:?} misses members", layout.s_type);
        }
        let vulkan12 = layout_of(vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
        assert_eq!(vulkan12.map(|layout| layout.count), Some(47));
        assert_eq!(CORE_FEATURES, 55);
        let mut seen: Vec<_> = FEATURE_LAYOUTS.iter().map(|layout| layout.s_type).collect();
        seen.sort_by_key(|s_type| s_type.as_raw());
        seen.dedup();
        assert_eq!(seen.len(), FEATURE_LAYOUTS.len(), "one entry per sType");
    }
}
