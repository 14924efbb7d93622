//! A varied set of Vulkan objects built from ash create-infos in Rust (the "scene"), and a
//! recorder that captures recipes the way the layer will: per object, with a handle-to-key map.
//!
//! Shared by tests/recipe.rs (recording with made-up handles, no driver) and
//! tests/recipe_vulkan.rs (the same create-infos on lavapipe and SwiftShader).
#![allow(dead_code)] // each includer uses a different part

use std::collections::BTreeMap;

use pcstore::recipe::{
    AnyRecipe, Captured, ComputePipelineRecipe, DescriptorSetLayoutRecipe, GraphicsPipelineRecipe,
    KeyMap, NotRecorded, PipelineLayoutRecipe, Recipe, RecipeKey, RenderPassRecipe, SamplerRecipe,
    ShaderModuleRecipe,
};
use pcstore::vulkan::ash::vk;

pub const COMPUTE_SPV: &[u8] = include_bytes!("../recipe_shaders/scene.comp.spv");
pub const VERTEX_SPV: &[u8] = include_bytes!("../recipe_shaders/scene.vert.spv");
pub const SAMPLED_SPV: &[u8] = include_bytes!("../recipe_shaders/sampled.frag.spv");
pub const MRT_SPV: &[u8] = include_bytes!("../recipe_shaders/mrt.frag.spv");
pub const INPUT_SPV: &[u8] = include_bytes!("../recipe_shaders/input.frag.spv");
pub const TESC_SPV: &[u8] = include_bytes!("../recipe_shaders/scene.tesc.spv");
pub const TESE_SPV: &[u8] = include_bytes!("../recipe_shaders/scene.tese.spv");

/// SPIR-V bytes as words.
pub fn words(spv: &[u8]) -> Vec<u32> {
    assert_eq!(spv.len() % 4, 0, "SPIR-V is whole words");
    spv.chunks_exact(4)
        .map(|word| u32::from_le_bytes(word.try_into().expect("4 bytes")))
        .collect()
}

/// What the driver the scene is created on supports beyond what every driver here does.
#[derive(Clone, Debug)]
pub struct SceneOptions {
    /// A subgroup size compute may require (the driver's minimum).
    pub subgroup_size: u32,
    /// `samplerFilterMinmax`: a MIN reduction, else the always-valid WEIGHTED_AVERAGE.
    pub min_max_reduction: bool,
    /// `descriptorBindingPartiallyBound`: non-zero binding flags.
    pub partially_bound: bool,
    /// `vertexAttributeInstanceRateDivisor` (VK_EXT_vertex_attribute_divisor).
    pub divisors: bool,
    /// `tessellationShader`.
    pub tessellation: bool,
    /// `colorWriteEnable` (VK_EXT_color_write_enable).
    pub color_write: bool,
}

impl SceneOptions {
    /// Everything on: for recording without a driver.
    pub fn everything() -> Self {
        Self {
            subgroup_size: 8,
            min_max_reduction: true,
            partially_bound: true,
            divisors: true,
            tessellation: true,
            color_write: true,
        }
    }
}

/// Creates the scene's objects (a driver, or made-up handles for recording only).
pub trait Creator {
    fn shader_module(&mut self, info: &vk::ShaderModuleCreateInfo<'_>) -> vk::ShaderModule;
    fn sampler(&mut self, info: &vk::SamplerCreateInfo<'_>) -> vk::Sampler;
    fn descriptor_set_layout(
        &mut self,
        info: &vk::DescriptorSetLayoutCreateInfo<'_>,
    ) -> vk::DescriptorSetLayout;
    fn pipeline_layout(&mut self, info: &vk::PipelineLayoutCreateInfo<'_>) -> vk::PipelineLayout;
    fn render_pass(&mut self, info: &vk::RenderPassCreateInfo<'_>) -> vk::RenderPass;
    fn render_pass2(&mut self, info: &vk::RenderPassCreateInfo2<'_>) -> vk::RenderPass;
    fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]);
    fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]);
}

/// Pipelines the scene creates, given the options (derivative C3 duplicates C1).
pub fn scene_pipeline_count(options: &SceneOptions) -> usize {
    3 + 5 + usize::from(options.tessellation)
}

/// Creates every object of the scene through `creator`.
pub fn create_scene(creator: &mut impl Creator, options: &SceneOptions) {
    fn module(creator: &mut impl Creator, spv: &[u8]) -> vk::ShaderModule {
        let code = words(spv);
        creator.shader_module(&vk::ShaderModuleCreateInfo::default().code(&code))
    }
    let compute = module(creator, COMPUTE_SPV);
    let vertex = module(creator, VERTEX_SPV);
    let sampled = module(creator, SAMPLED_SPV);
    let mrt = module(creator, MRT_SPV);
    let input = module(creator, INPUT_SPV);
    // The same SPIR-V again: a second handle, the same recipe.
    let compute_again = module(creator, COMPUTE_SPV);
    let tessellation = options
        .tessellation
        .then(|| (module(creator, TESC_SPV), module(creator, TESE_SPV)));

    // Samplers: anisotropic with a reduction mode, clamp-to-border (both immutable), and one
    // with a custom border color (which Vulkan does not allow as immutable).
    let mut reduction = vk::SamplerReductionModeCreateInfo::default().reduction_mode(
        if options.min_max_reduction {
            vk::SamplerReductionMode::MIN
        } else {
            vk::SamplerReductionMode::WEIGHTED_AVERAGE
        },
    );
    let linear = creator.sampler(
        &vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::LINEAR)
            .min_filter(vk::Filter::LINEAR)
            .mipmap_mode(vk::SamplerMipmapMode::LINEAR)
            .address_mode_u(vk::SamplerAddressMode::REPEAT)
            .address_mode_v(vk::SamplerAddressMode::MIRRORED_REPEAT)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .mip_lod_bias(0.25)
            .anisotropy_enable(true)
            .max_anisotropy(4.0)
            .min_lod(0.0)
            .max_lod(8.5)
            .push_next(&mut reduction),
    );
    let mut border = vk::SamplerCustomBorderColorCreateInfoEXT::default()
        .custom_border_color(vk::ClearColorValue {
            float32: [0.25, 0.5, 0.75, 1.0],
        })
        .format(vk::Format::R8G8B8A8_UNORM);
    creator.sampler(
        &vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::NEAREST)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .compare_enable(false)
            .border_color(vk::BorderColor::FLOAT_CUSTOM_EXT)
            .max_lod(vk::LOD_CLAMP_NONE)
            .push_next(&mut border),
    );

    let clamped = creator.sampler(
        &vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::LINEAR)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_BORDER)
            .border_color(vk::BorderColor::FLOAT_OPAQUE_WHITE)
            .max_lod(1.0),
    );

    // Set layouts: immutable samplers and an input attachment; a storage buffer for compute.
    let immutable = [linear, clamped];
    let graphics_bindings = [
        vk::DescriptorSetLayoutBinding::default()
            .binding(0)
            .descriptor_type(vk::DescriptorType::COMBINED_IMAGE_SAMPLER)
            .descriptor_count(2)
            .stage_flags(vk::ShaderStageFlags::FRAGMENT)
            .immutable_samplers(&immutable),
        vk::DescriptorSetLayoutBinding::default()
            .binding(1)
            .descriptor_type(vk::DescriptorType::INPUT_ATTACHMENT)
            .descriptor_count(1)
            .stage_flags(vk::ShaderStageFlags::FRAGMENT),
    ];
    let binding_flags = if options.partially_bound {
        [
            vk::DescriptorBindingFlags::empty(),
            vk::DescriptorBindingFlags::PARTIALLY_BOUND,
        ]
    } else {
        [vk::DescriptorBindingFlags::empty(); 2]
    };
    let mut flags_info =
        vk::DescriptorSetLayoutBindingFlagsCreateInfo::default().binding_flags(&binding_flags);
    let graphics_set = creator.descriptor_set_layout(
        &vk::DescriptorSetLayoutCreateInfo::default()
            .bindings(&graphics_bindings)
            .push_next(&mut flags_info),
    );
    let compute_bindings = [vk::DescriptorSetLayoutBinding::default()
        .binding(0)
        .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
        .descriptor_count(1)
        .stage_flags(vk::ShaderStageFlags::COMPUTE)];
    let compute_set = creator.descriptor_set_layout(
        &vk::DescriptorSetLayoutCreateInfo::default().bindings(&compute_bindings),
    );

    // Pipeline layouts with push constants.
    let graphics_sets = [graphics_set];
    let graphics_ranges = [
        vk::PushConstantRange {
            stage_flags: vk::ShaderStageFlags::VERTEX
                | vk::ShaderStageFlags::TESSELLATION_CONTROL
                | vk::ShaderStageFlags::TESSELLATION_EVALUATION,
            offset: 0,
            size: 16,
        },
        vk::PushConstantRange {
            stage_flags: vk::ShaderStageFlags::FRAGMENT,
            offset: 16,
            size: 16,
        },
    ];
    let graphics_layout = creator.pipeline_layout(
        &vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&graphics_sets)
            .push_constant_ranges(&graphics_ranges),
    );
    let compute_sets = [compute_set];
    let compute_ranges = [vk::PushConstantRange {
        stage_flags: vk::ShaderStageFlags::COMPUTE,
        offset: 0,
        size: 8,
    }];
    let compute_layout = creator.pipeline_layout(
        &vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&compute_sets)
            .push_constant_ranges(&compute_ranges),
    );

    // Render pass 1 (VkRenderPassCreateInfo): two subpasses, MRT + depth, then an input
    // attachment with its aspect given by VkRenderPassInputAttachmentAspectCreateInfo.
    let color = |format| {
        vk::AttachmentDescription::default()
            .format(format)
            .samples(vk::SampleCountFlags::TYPE_1)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::STORE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
    };
    let attachments = [
        color(vk::Format::R8G8B8A8_UNORM),
        color(vk::Format::R16G16B16A16_SFLOAT),
        vk::AttachmentDescription::default()
            .format(vk::Format::D32_SFLOAT)
            .samples(vk::SampleCountFlags::TYPE_1)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::DONT_CARE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL),
        color(vk::Format::B8G8R8A8_UNORM).final_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL),
    ];
    let first_colors = [
        vk::AttachmentReference {
            attachment: 0,
            layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
        },
        vk::AttachmentReference {
            attachment: 1,
            layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
        },
    ];
    let depth = vk::AttachmentReference {
        attachment: 2,
        layout: vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL,
    };
    let second_inputs = [vk::AttachmentReference {
        attachment: 0,
        layout: vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
    }];
    let second_colors = [vk::AttachmentReference {
        attachment: 3,
        layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
    }];
    let preserve = [1];
    let subpasses = [
        vk::SubpassDescription::default()
            .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
            .color_attachments(&first_colors)
            .depth_stencil_attachment(&depth),
        vk::SubpassDescription::default()
            .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
            .input_attachments(&second_inputs)
            .color_attachments(&second_colors)
            .preserve_attachments(&preserve),
    ];
    let dependencies = [vk::SubpassDependency {
        src_subpass: 0,
        dst_subpass: 1,
        src_stage_mask: vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT,
        dst_stage_mask: vk::PipelineStageFlags::FRAGMENT_SHADER,
        src_access_mask: vk::AccessFlags::COLOR_ATTACHMENT_WRITE,
        dst_access_mask: vk::AccessFlags::INPUT_ATTACHMENT_READ,
        dependency_flags: vk::DependencyFlags::BY_REGION,
    }];
    let aspects = [vk::InputAttachmentAspectReference {
        subpass: 1,
        input_attachment_index: 0,
        aspect_mask: vk::ImageAspectFlags::COLOR,
    }];
    let mut aspect_info =
        vk::RenderPassInputAttachmentAspectCreateInfo::default().aspect_references(&aspects);
    let two_subpasses = creator.render_pass(
        &vk::RenderPassCreateInfo::default()
            .attachments(&attachments)
            .subpasses(&subpasses)
            .dependencies(&dependencies)
            .push_next(&mut aspect_info),
    );

    // Render pass 2 (VkRenderPassCreateInfo): multiview, two views.
    let multiview_attachments = [color(vk::Format::R8G8B8A8_UNORM)];
    let multiview_colors = [vk::AttachmentReference {
        attachment: 0,
        layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
    }];
    let multiview_subpasses = [vk::SubpassDescription::default()
        .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
        .color_attachments(&multiview_colors)];
    let view_masks = [0b11];
    let correlation = [0b11];
    let mut multiview_info = vk::RenderPassMultiviewCreateInfo::default()
        .view_masks(&view_masks)
        .correlation_masks(&correlation);
    let multiview = creator.render_pass(
        &vk::RenderPassCreateInfo::default()
            .attachments(&multiview_attachments)
            .subpasses(&multiview_subpasses)
            .push_next(&mut multiview_info),
    );

    // Render pass 3 (VkRenderPassCreateInfo2): 4x color resolved, depth-stencil with separate
    // stencil layouts, resolved with VkSubpassDescriptionDepthStencilResolve.
    let mut depth_stencil_layouts = vk::AttachmentDescriptionStencilLayout::default()
        .stencil_initial_layout(vk::ImageLayout::UNDEFINED)
        .stencil_final_layout(vk::ImageLayout::STENCIL_ATTACHMENT_OPTIMAL);
    let mut resolved_stencil_layouts = vk::AttachmentDescriptionStencilLayout::default()
        .stencil_initial_layout(vk::ImageLayout::UNDEFINED)
        .stencil_final_layout(vk::ImageLayout::STENCIL_ATTACHMENT_OPTIMAL);
    let attachment2 = |format, samples| {
        vk::AttachmentDescription2::default()
            .format(format)
            .samples(samples)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::STORE)
            .stencil_load_op(vk::AttachmentLoadOp::CLEAR)
            .stencil_store_op(vk::AttachmentStoreOp::STORE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
    };
    let msaa_attachments = [
        attachment2(vk::Format::R8G8B8A8_UNORM, vk::SampleCountFlags::TYPE_4)
            .final_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL),
        attachment2(vk::Format::R8G8B8A8_UNORM, vk::SampleCountFlags::TYPE_1)
            .final_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL),
        attachment2(vk::Format::D32_SFLOAT_S8_UINT, vk::SampleCountFlags::TYPE_4)
            .final_layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
            .push_next(&mut depth_stencil_layouts),
        attachment2(vk::Format::D32_SFLOAT_S8_UINT, vk::SampleCountFlags::TYPE_1)
            .final_layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
            .push_next(&mut resolved_stencil_layouts),
    ];
    let msaa_colors = [vk::AttachmentReference2::default()
        .attachment(0)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
        .aspect_mask(vk::ImageAspectFlags::COLOR)];
    let msaa_resolves = [vk::AttachmentReference2::default()
        .attachment(1)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
        .aspect_mask(vk::ImageAspectFlags::COLOR)];
    let mut stencil_layout = vk::AttachmentReferenceStencilLayout::default()
        .stencil_layout(vk::ImageLayout::STENCIL_ATTACHMENT_OPTIMAL);
    let msaa_depth = vk::AttachmentReference2::default()
        .attachment(2)
        .layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
        .aspect_mask(vk::ImageAspectFlags::DEPTH | vk::ImageAspectFlags::STENCIL)
        .push_next(&mut stencil_layout);
    let mut resolved_stencil_layout = vk::AttachmentReferenceStencilLayout::default()
        .stencil_layout(vk::ImageLayout::STENCIL_ATTACHMENT_OPTIMAL);
    let depth_resolve_target = vk::AttachmentReference2::default()
        .attachment(3)
        .layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
        .aspect_mask(vk::ImageAspectFlags::DEPTH | vk::ImageAspectFlags::STENCIL)
        .push_next(&mut resolved_stencil_layout);
    let mut depth_resolve = vk::SubpassDescriptionDepthStencilResolve::default()
        .depth_resolve_mode(vk::ResolveModeFlags::SAMPLE_ZERO)
        .stencil_resolve_mode(vk::ResolveModeFlags::SAMPLE_ZERO)
        .depth_stencil_resolve_attachment(&depth_resolve_target);
    let msaa_subpasses = [vk::SubpassDescription2::default()
        .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
        .color_attachments(&msaa_colors)
        .resolve_attachments(&msaa_resolves)
        .depth_stencil_attachment(&msaa_depth)
        .push_next(&mut depth_resolve)];
    let msaa_dependencies = [vk::SubpassDependency2::default()
        .src_subpass(vk::SUBPASS_EXTERNAL)
        .dst_subpass(0)
        .src_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
        .dst_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
        .dst_access_mask(vk::AccessFlags::COLOR_ATTACHMENT_WRITE)];
    let msaa = creator.render_pass2(
        &vk::RenderPassCreateInfo2::default()
            .attachments(&msaa_attachments)
            .subpasses(&msaa_subpasses)
            .dependencies(&msaa_dependencies),
    );

    // Compute: two specializations of one module (through two module handles), one with a
    // required subgroup size, and a derivative of the first (recorded as the first).
    let entries = [
        vk::SpecializationMapEntry {
            constant_id: 0,
            offset: 0,
            size: 4,
        },
        vk::SpecializationMapEntry {
            constant_id: 1,
            offset: 4,
            size: 4,
        },
    ];
    let mut first_data = 3u32.to_le_bytes().to_vec();
    first_data.extend_from_slice(&0.5f32.to_le_bytes());
    let mut second_data = 7u32.to_le_bytes().to_vec();
    second_data.extend_from_slice(&2.0f32.to_le_bytes());
    let first_specialization = vk::SpecializationInfo::default()
        .map_entries(&entries)
        .data(&first_data);
    let second_specialization = vk::SpecializationInfo::default()
        .map_entries(&entries)
        .data(&second_data);
    let mut subgroup = vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo::default()
        .required_subgroup_size(options.subgroup_size);
    let compute_stage = |module, specialization| {
        vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main")
            .specialization_info(specialization)
    };
    let compute_infos = [
        vk::ComputePipelineCreateInfo::default()
            .flags(vk::PipelineCreateFlags::ALLOW_DERIVATIVES)
            .stage(compute_stage(compute, &first_specialization))
            .layout(compute_layout),
        vk::ComputePipelineCreateInfo::default()
            .flags(vk::PipelineCreateFlags::ALLOW_DERIVATIVES)
            .stage(
                compute_stage(compute_again, &second_specialization)
                    .flags(vk::PipelineShaderStageCreateFlags::REQUIRE_FULL_SUBGROUPS)
                    .push_next(&mut subgroup),
            )
            .layout(compute_layout),
        vk::ComputePipelineCreateInfo::default()
            .flags(vk::PipelineCreateFlags::ALLOW_DERIVATIVES | vk::PipelineCreateFlags::DERIVATIVE)
            .stage(compute_stage(compute_again, &first_specialization))
            .layout(compute_layout)
            .base_pipeline_index(0),
    ];
    creator.compute_pipelines(&compute_infos);

    // Graphics state shared by several pipelines.
    let tint = 0.75f32.to_le_bytes();
    let tint_entries = [vk::SpecializationMapEntry {
        constant_id: 0,
        offset: 0,
        size: 4,
    }];
    let tint_specialization = vk::SpecializationInfo::default()
        .map_entries(&tint_entries)
        .data(&tint);
    let stage = |stage, module| {
        vk::PipelineShaderStageCreateInfo::default()
            .stage(stage)
            .module(module)
            .name(c"main")
    };
    let mrt_stages = [
        stage(vk::ShaderStageFlags::VERTEX, vertex),
        stage(vk::ShaderStageFlags::FRAGMENT, mrt),
    ];
    let input_stages = [
        stage(vk::ShaderStageFlags::VERTEX, vertex),
        stage(vk::ShaderStageFlags::FRAGMENT, input),
    ];
    let sampled_stages = [
        stage(vk::ShaderStageFlags::VERTEX, vertex),
        stage(vk::ShaderStageFlags::FRAGMENT, sampled).specialization_info(&tint_specialization),
    ];
    let vertex_bindings = [
        vk::VertexInputBindingDescription {
            binding: 0,
            stride: 12,
            input_rate: vk::VertexInputRate::VERTEX,
        },
        vk::VertexInputBindingDescription {
            binding: 1,
            stride: 8,
            input_rate: vk::VertexInputRate::VERTEX,
        },
        vk::VertexInputBindingDescription {
            binding: 2,
            stride: 16,
            input_rate: vk::VertexInputRate::INSTANCE,
        },
    ];
    let vertex_attributes = [
        vk::VertexInputAttributeDescription {
            location: 0,
            binding: 0,
            format: vk::Format::R32G32B32_SFLOAT,
            offset: 0,
        },
        vk::VertexInputAttributeDescription {
            location: 1,
            binding: 1,
            format: vk::Format::R32G32_SFLOAT,
            offset: 0,
        },
        vk::VertexInputAttributeDescription {
            location: 2,
            binding: 2,
            format: vk::Format::R8G8B8A8_UNORM,
            offset: 4,
        },
    ];
    let divisors = [vk::VertexInputBindingDivisorDescriptionKHR {
        binding: 2,
        divisor: 3,
    }];
    let mut divisor_info = vk::PipelineVertexInputDivisorStateCreateInfoKHR::default()
        .vertex_binding_divisors(&divisors);
    let plain_vertex_input = vk::PipelineVertexInputStateCreateInfo::default()
        .vertex_binding_descriptions(&vertex_bindings)
        .vertex_attribute_descriptions(&vertex_attributes);
    let mut divided_vertex_input = plain_vertex_input;
    if options.divisors {
        divided_vertex_input = divided_vertex_input.push_next(&mut divisor_info);
    }
    let triangles = vk::PipelineInputAssemblyStateCreateInfo::default()
        .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
    let strips = vk::PipelineInputAssemblyStateCreateInfo::default()
        .topology(vk::PrimitiveTopology::TRIANGLE_STRIP)
        .primitive_restart_enable(true);
    let viewports = [vk::Viewport {
        x: 0.0,
        y: 0.0,
        width: 64.0,
        height: 48.0,
        min_depth: 0.0,
        max_depth: 1.0,
    }];
    let scissors = [vk::Rect2D {
        offset: vk::Offset2D { x: 2, y: 3 },
        extent: vk::Extent2D {
            width: 60,
            height: 40,
        },
    }];
    let static_viewport = vk::PipelineViewportStateCreateInfo::default()
        .viewports(&viewports)
        .scissors(&scissors);
    let mut clip_control =
        vk::PipelineViewportDepthClipControlCreateInfoEXT::default().negative_one_to_one(true);
    let dynamic_viewport = vk::PipelineViewportStateCreateInfo::default()
        .viewport_count(1)
        .scissor_count(1)
        .push_next(&mut clip_control);
    let mut depth_clip =
        vk::PipelineRasterizationDepthClipStateCreateInfoEXT::default().depth_clip_enable(true);
    let mut line = vk::PipelineRasterizationLineStateCreateInfoKHR::default()
        .line_rasterization_mode(vk::LineRasterizationModeKHR::RECTANGULAR);
    let mut provoking = vk::PipelineRasterizationProvokingVertexStateCreateInfoEXT::default()
        .provoking_vertex_mode(vk::ProvokingVertexModeEXT::LAST_VERTEX);
    let rich_rasterization = vk::PipelineRasterizationStateCreateInfo::default()
        .polygon_mode(vk::PolygonMode::FILL)
        .cull_mode(vk::CullModeFlags::BACK)
        .front_face(vk::FrontFace::CLOCKWISE)
        .depth_bias_enable(true)
        .depth_bias_constant_factor(1.5)
        .depth_bias_slope_factor(0.25)
        .line_width(1.0)
        .push_next(&mut depth_clip)
        .push_next(&mut line)
        .push_next(&mut provoking);
    let plain_rasterization = vk::PipelineRasterizationStateCreateInfo::default()
        .polygon_mode(vk::PolygonMode::FILL)
        .cull_mode(vk::CullModeFlags::NONE)
        .front_face(vk::FrontFace::COUNTER_CLOCKWISE)
        .line_width(1.0);
    let sample_mask = [0x0000_000b];
    let single_sample = vk::PipelineMultisampleStateCreateInfo::default()
        .rasterization_samples(vk::SampleCountFlags::TYPE_1)
        .sample_mask(&sample_mask);
    let four_samples = vk::PipelineMultisampleStateCreateInfo::default()
        .rasterization_samples(vk::SampleCountFlags::TYPE_4)
        .sample_shading_enable(true)
        .min_sample_shading(0.5)
        .sample_mask(&sample_mask)
        .alpha_to_coverage_enable(true);
    let stencil = vk::StencilOpState {
        fail_op: vk::StencilOp::KEEP,
        pass_op: vk::StencilOp::INCREMENT_AND_WRAP,
        depth_fail_op: vk::StencilOp::ZERO,
        compare_op: vk::CompareOp::ALWAYS,
        compare_mask: 0xff,
        write_mask: 0x0f,
        reference: 1,
    };
    let depth_stencil = vk::PipelineDepthStencilStateCreateInfo::default()
        .depth_test_enable(true)
        .depth_write_enable(true)
        .depth_compare_op(vk::CompareOp::GREATER_OR_EQUAL)
        .stencil_test_enable(true)
        .front(stencil)
        .back(vk::StencilOpState {
            compare_op: vk::CompareOp::NEVER,
            ..stencil
        })
        .min_depth_bounds(0.0)
        .max_depth_bounds(1.0);
    let blend_attachment = |blend: bool| {
        vk::PipelineColorBlendAttachmentState::default()
            .blend_enable(blend)
            .src_color_blend_factor(vk::BlendFactor::SRC_ALPHA)
            .dst_color_blend_factor(vk::BlendFactor::ONE_MINUS_SRC_ALPHA)
            .color_blend_op(vk::BlendOp::ADD)
            .src_alpha_blend_factor(vk::BlendFactor::ONE)
            .dst_alpha_blend_factor(vk::BlendFactor::ZERO)
            .alpha_blend_op(vk::BlendOp::MAX)
            .color_write_mask(vk::ColorComponentFlags::RGBA)
    };
    let two_blends = [blend_attachment(true), blend_attachment(false)];
    let one_blend = [blend_attachment(true)];
    let mrt_blend = vk::PipelineColorBlendStateCreateInfo::default()
        .attachments(&two_blends)
        .blend_constants([0.1, 0.2, 0.3, 0.4]);
    let write_enables = [vk::TRUE, vk::FALSE];
    let mut color_write =
        vk::PipelineColorWriteCreateInfoEXT::default().color_write_enables(&write_enables);
    let mut mrt_blend_written = mrt_blend;
    if options.color_write {
        mrt_blend_written = mrt_blend_written.push_next(&mut color_write);
    }
    let single_blend = vk::PipelineColorBlendStateCreateInfo::default().attachments(&one_blend);
    let rich_dynamic_states = [
        vk::DynamicState::BLEND_CONSTANTS,
        vk::DynamicState::DEPTH_BIAS,
        vk::DynamicState::LINE_WIDTH,
        vk::DynamicState::STENCIL_REFERENCE,
    ];
    let rich_dynamic =
        vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&rich_dynamic_states);
    let viewport_dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
    let viewport_dynamic =
        vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&viewport_dynamic_states);
    let color_formats = [vk::Format::R8G8B8A8_UNORM, vk::Format::R16G16B16A16_SFLOAT];
    let mut rendering = vk::PipelineRenderingCreateInfo::default()
        .color_attachment_formats(&color_formats)
        .depth_attachment_format(vk::Format::D32_SFLOAT_S8_UINT)
        .stencil_attachment_format(vk::Format::D32_SFLOAT_S8_UINT);
    let mut feedback_storage = [vk::PipelineCreationFeedback::default(); 1];
    let mut stage_feedback = [vk::PipelineCreationFeedback::default(); 2];
    let mut feedback = vk::PipelineCreationFeedbackCreateInfo::default()
        .pipeline_creation_feedback(&mut feedback_storage[0])
        .pipeline_stage_creation_feedbacks(&mut stage_feedback);

    let graphics_infos = [
        // G1: subpass 0 of the two-subpass pass: three bindings with a divisor, static viewport,
        // rich rasterization, sample mask, depth-stencil, two blended attachments.
        vk::GraphicsPipelineCreateInfo::default()
            .stages(&mrt_stages)
            .vertex_input_state(&divided_vertex_input)
            .input_assembly_state(&triangles)
            .viewport_state(&static_viewport)
            .rasterization_state(&rich_rasterization)
            .multisample_state(&single_sample)
            .depth_stencil_state(&depth_stencil)
            .color_blend_state(&mrt_blend)
            .dynamic_state(&rich_dynamic)
            .layout(graphics_layout)
            .render_pass(two_subpasses)
            .subpass(0),
        // G2: subpass 1 (no depth attachment: its depth-stencil state is ignored, so the
        // recorder must not read it), dynamic viewport and scissor.
        vk::GraphicsPipelineCreateInfo::default()
            .stages(&input_stages)
            .vertex_input_state(&plain_vertex_input)
            .input_assembly_state(&strips)
            .viewport_state(&dynamic_viewport)
            .rasterization_state(&plain_rasterization)
            .multisample_state(&single_sample)
            .depth_stencil_state(&depth_stencil)
            .color_blend_state(&single_blend)
            .dynamic_state(&viewport_dynamic)
            .layout(graphics_layout)
            .render_pass(two_subpasses)
            .subpass(1),
        // G3: dynamic rendering (two colors, depth-stencil), creation feedback (ignored).
        vk::GraphicsPipelineCreateInfo::default()
            .stages(&mrt_stages)
            .vertex_input_state(&plain_vertex_input)
            .input_assembly_state(&triangles)
            .viewport_state(&dynamic_viewport)
            .rasterization_state(&rich_rasterization)
            .multisample_state(&single_sample)
            .depth_stencil_state(&depth_stencil)
            .color_blend_state(&mrt_blend_written)
            .dynamic_state(&viewport_dynamic)
            .layout(graphics_layout)
            .push_next(&mut rendering)
            .push_next(&mut feedback),
        // G4: the 4x pass, sample shading, alpha to coverage, immutable samplers.
        vk::GraphicsPipelineCreateInfo::default()
            .stages(&sampled_stages)
            .vertex_input_state(&plain_vertex_input)
            .input_assembly_state(&triangles)
            .viewport_state(&static_viewport)
            .rasterization_state(&plain_rasterization)
            .multisample_state(&four_samples)
            .depth_stencil_state(&depth_stencil)
            .color_blend_state(&single_blend)
            .layout(graphics_layout)
            .render_pass(msaa)
            .subpass(0),
        // G5: the multiview pass.
        vk::GraphicsPipelineCreateInfo::default()
            .stages(&sampled_stages)
            .vertex_input_state(&plain_vertex_input)
            .input_assembly_state(&triangles)
            .viewport_state(&dynamic_viewport)
            .rasterization_state(&plain_rasterization)
            .multisample_state(&single_sample)
            .color_blend_state(&single_blend)
            .dynamic_state(&viewport_dynamic)
            .layout(graphics_layout)
            .render_pass(multiview)
            .subpass(0),
    ];
    creator.graphics_pipelines(&graphics_infos);

    if let Some((control, evaluation)) = tessellation {
        let tessellation_stages = [
            stage(vk::ShaderStageFlags::VERTEX, vertex),
            stage(vk::ShaderStageFlags::TESSELLATION_CONTROL, control),
            stage(vk::ShaderStageFlags::TESSELLATION_EVALUATION, evaluation),
            stage(vk::ShaderStageFlags::FRAGMENT, sampled)
                .specialization_info(&tint_specialization),
        ];
        let patches = vk::PipelineInputAssemblyStateCreateInfo::default()
            .topology(vk::PrimitiveTopology::PATCH_LIST);
        let mut origin = vk::PipelineTessellationDomainOriginStateCreateInfo::default()
            .domain_origin(vk::TessellationDomainOrigin::LOWER_LEFT);
        let tessellation_state = vk::PipelineTessellationStateCreateInfo::default()
            .patch_control_points(3)
            .push_next(&mut origin);
        let single_color = [vk::Format::R8G8B8A8_UNORM];
        let mut single_rendering =
            vk::PipelineRenderingCreateInfo::default().color_attachment_formats(&single_color);
        creator.graphics_pipelines(&[vk::GraphicsPipelineCreateInfo::default()
            .stages(&tessellation_stages)
            .vertex_input_state(&plain_vertex_input)
            .input_assembly_state(&patches)
            .tessellation_state(&tessellation_state)
            .viewport_state(&dynamic_viewport)
            .rasterization_state(&plain_rasterization)
            .multisample_state(&single_sample)
            .color_blend_state(&single_blend)
            .dynamic_state(&viewport_dynamic)
            .layout(graphics_layout)
            .push_next(&mut single_rendering)]);
    }
}

/// Captures recipes the way the layer will: one per object, objects named by key through a
/// handle map, every recipe stored once by key (as bytes, as a store would hold it).
#[derive(Default)]
pub struct Recorder {
    pub keys: KeyMap,
    /// Every recipe recorded, by key.
    pub recipes: BTreeMap<RecipeKey, Vec<u8>>,
    /// Objects recorded (with repeats: two handles with one recipe count twice).
    pub objects: usize,
    /// Pipeline keys, in creation order.
    pub pipelines: Vec<RecipeKey>,
}

impl Recorder {
    fn store(&mut self, bytes: Vec<u8>) -> RecipeKey {
        let key = RecipeKey::of(&bytes);
        // Round trip at the source: what a store returns parses back to the same bytes.
        let parsed = AnyRecipe::from_bytes(&bytes).expect("a recorded recipe parses");
        assert_eq!(parsed.to_bytes(), bytes, "serialize -> parse -> serialize");
        self.recipes.insert(key, bytes);
        self.objects += 1;
        key
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn shader_module(
        &mut self,
        handle: vk::ShaderModule,
        info: &vk::ShaderModuleCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { ShaderModuleRecipe::capture(info) }?;
        let key = self.store(recipe.to_bytes());
        self.keys.insert_shader_module(handle, key);
        Ok(key)
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn sampler(
        &mut self,
        handle: vk::Sampler,
        info: &vk::SamplerCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { SamplerRecipe::capture(info) }?;
        let key = self.store(recipe.to_bytes());
        self.keys.insert_sampler(handle, key);
        Ok(key)
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn descriptor_set_layout(
        &mut self,
        handle: vk::DescriptorSetLayout,
        info: &vk::DescriptorSetLayoutCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { DescriptorSetLayoutRecipe::capture(info, &self.keys) }?;
        let key = self.store(recipe.to_bytes());
        self.keys.insert_descriptor_set_layout(handle, key);
        Ok(key)
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn pipeline_layout(
        &mut self,
        handle: vk::PipelineLayout,
        info: &vk::PipelineLayoutCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { PipelineLayoutRecipe::capture(info, &self.keys) }?;
        let key = self.store(recipe.to_bytes());
        self.keys.insert_pipeline_layout(handle, key);
        Ok(key)
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn render_pass(
        &mut self,
        handle: vk::RenderPass,
        info: &vk::RenderPassCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { RenderPassRecipe::capture(info) }?;
        Ok(self.store_render_pass(handle, &recipe))
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn render_pass2(
        &mut self,
        handle: vk::RenderPass,
        info: &vk::RenderPassCreateInfo2<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let recipe = unsafe { RenderPassRecipe::capture2(info) }?;
        Ok(self.store_render_pass(handle, &recipe))
    }

    fn store_render_pass(
        &mut self,
        handle: vk::RenderPass,
        recipe: &RenderPassRecipe,
    ) -> RecipeKey {
        let key = self.store(recipe.to_bytes());
        self.keys.insert_render_pass(handle, recipe);
        key
    }

    fn store_pipeline<T: Recipe>(&mut self, captured: Captured<T>) -> RecipeKey {
        for module in &captured.inline_modules {
            self.store(module.to_bytes());
        }
        let key = self.store(captured.recipe.to_bytes());
        self.pipelines.push(key);
        key
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn compute_pipeline(
        &mut self,
        info: &vk::ComputePipelineCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { ComputePipelineRecipe::capture(info, &self.keys) }?;
        Ok(self.store_pipeline(captured))
    }

    /// # Safety
    /// `info` valid by Vulkan's rules.
    pub unsafe fn graphics_pipeline(
        &mut self,
        info: &vk::GraphicsPipelineCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { GraphicsPipelineRecipe::capture(info, &self.keys) }?;
        Ok(self.store_pipeline(captured))
    }

    /// Recipes of one kind, parsed.
    pub fn parsed(&self) -> Vec<(RecipeKey, AnyRecipe)> {
        self.recipes
            .iter()
            .map(|(key, bytes)| (*key, AnyRecipe::from_bytes(bytes).expect("parses")))
            .collect()
    }
}

/// Records the scene with made-up handles (no driver): creation is only recording.
#[derive(Default)]
pub struct RecordingOnly {
    pub recorder: Recorder,
    next_handle: u64,
}

/// The object methods of a `Creator` (inside its `impl`) for a type with a `recorder` field
/// (this module's `Recorder`, or a library `RecipeRecorder` borrowed) and a `handle()` method
/// making up handles: every object creation is only recorded.
macro_rules! objects_recorded_with_made_up_handles {
    () => {
        fn shader_module(&mut self, info: &vk::ShaderModuleCreateInfo<'_>) -> vk::ShaderModule {
            let handle = self.handle();
            // SAFETY: a valid create-info built by the scene.
            unsafe { self.recorder.shader_module(handle, info) }.expect("module recorded");
            handle
        }
        fn sampler(&mut self, info: &vk::SamplerCreateInfo<'_>) -> vk::Sampler {
            let handle = self.handle();
            // SAFETY: as above.
            unsafe { self.recorder.sampler(handle, info) }.expect("sampler recorded");
            handle
        }
        fn descriptor_set_layout(
            &mut self,
            info: &vk::DescriptorSetLayoutCreateInfo<'_>,
        ) -> vk::DescriptorSetLayout {
            let handle = self.handle();
            // SAFETY: as above.
            unsafe { self.recorder.descriptor_set_layout(handle, info) }
                .expect("set layout recorded");
            handle
        }
        fn pipeline_layout(
            &mut self,
            info: &vk::PipelineLayoutCreateInfo<'_>,
        ) -> vk::PipelineLayout {
            let handle = self.handle();
            // SAFETY: as above.
            unsafe { self.recorder.pipeline_layout(handle, info) }.expect("layout recorded");
            handle
        }
        fn render_pass(&mut self, info: &vk::RenderPassCreateInfo<'_>) -> vk::RenderPass {
            let handle = self.handle();
            // SAFETY: as above.
            unsafe { self.recorder.render_pass(handle, info) }.expect("render pass recorded");
            handle
        }
        fn render_pass2(&mut self, info: &vk::RenderPassCreateInfo2<'_>) -> vk::RenderPass {
            let handle = self.handle();
            // SAFETY: as above.
            unsafe { self.recorder.render_pass2(handle, info) }.expect("render pass 2 recorded");
            handle
        }
    };
}
#[allow(unused_imports)] // used by the includers that record with made-up handles
pub(crate) use objects_recorded_with_made_up_handles;

/// The object methods of a `Creator` (inside its `impl`) for a type with `device:
/// &ash::Device`, a `recorder` field and an `$objects` field with one `Vec` per kind: each
/// object is created on the driver, kept for destruction, then recorded.
#[allow(unused_macros)] // used by the includers that create on a driver
macro_rules! objects_created_and_recorded {
    ($objects:ident) => {
        fn shader_module(&mut self, info: &vk::ShaderModuleCreateInfo<'_>) -> vk::ShaderModule {
            // SAFETY: a valid create-info from the scene, on the live device with its features.
            let handle = unsafe { self.device.create_shader_module(info, None) }.expect("module");
            self.$objects.modules.push(handle);
            // SAFETY: the create-info just used to create `handle`, still valid.
            unsafe { self.recorder.shader_module(handle, info) }.expect("recorded");
            handle
        }
        fn sampler(&mut self, info: &vk::SamplerCreateInfo<'_>) -> vk::Sampler {
            // SAFETY: as above.
            let handle = unsafe { self.device.create_sampler(info, None) }.expect("sampler");
            self.$objects.samplers.push(handle);
            // SAFETY: as above.
            unsafe { self.recorder.sampler(handle, info) }.expect("recorded");
            handle
        }
        fn descriptor_set_layout(
            &mut self,
            info: &vk::DescriptorSetLayoutCreateInfo<'_>,
        ) -> vk::DescriptorSetLayout {
            // SAFETY: as above.
            let handle = unsafe { self.device.create_descriptor_set_layout(info, None) }
                .expect("set layout");
            self.$objects.set_layouts.push(handle);
            // SAFETY: as above.
            unsafe { self.recorder.descriptor_set_layout(handle, info) }.expect("recorded");
            handle
        }
        fn pipeline_layout(
            &mut self,
            info: &vk::PipelineLayoutCreateInfo<'_>,
        ) -> vk::PipelineLayout {
            // SAFETY: as above.
            let handle = unsafe { self.device.create_pipeline_layout(info, None) }.expect("layout");
            self.$objects.pipeline_layouts.push(handle);
            // SAFETY: as above.
            unsafe { self.recorder.pipeline_layout(handle, info) }.expect("recorded");
            handle
        }
        fn render_pass(&mut self, info: &vk::RenderPassCreateInfo<'_>) -> vk::RenderPass {
            // SAFETY: as above.
            let handle =
                unsafe { self.device.create_render_pass(info, None) }.expect("render pass");
            self.$objects.render_passes.push(handle);
            // SAFETY: as above.
            unsafe { self.recorder.render_pass(handle, info) }.expect("recorded");
            handle
        }
        fn render_pass2(&mut self, info: &vk::RenderPassCreateInfo2<'_>) -> vk::RenderPass {
            // SAFETY: as above.
            let handle =
                unsafe { self.device.create_render_pass2(info, None) }.expect("render pass");
            self.$objects.render_passes.push(handle);
            // SAFETY: as above.
            unsafe { self.recorder.render_pass2(handle, info) }.expect("recorded");
            handle
        }
    };
}
#[allow(unused_imports)] // used by the includers that create on a driver
pub(crate) use objects_created_and_recorded;

/// `Creator` for a type with a `recorder` field and a `next_handle: u64` counter: every
/// creation is only recorded, under a made-up handle.
macro_rules! creator_recording_with_made_up_handles {
    ($type:ty) => {
        impl $type {
            fn handle<H: vk::Handle>(&mut self) -> H {
                self.next_handle += 1;
                H::from_raw(0x1000 + self.next_handle)
            }
        }

        impl Creator for $type {
            crate::recipe_support::objects_recorded_with_made_up_handles!();
            fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]) {
                for info in infos {
                    // SAFETY: a valid create-info built by the scene.
                    unsafe { self.recorder.compute_pipeline(info) }
                        .expect("compute pipeline recorded");
                }
            }
            fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]) {
                for info in infos {
                    // SAFETY: as above.
                    unsafe { self.recorder.graphics_pipeline(info) }
                        .expect("graphics pipeline recorded");
                }
            }
        }
    };
}
#[allow(unused_imports)] // used by tests/recipe.rs only
pub(crate) use creator_recording_with_made_up_handles;

creator_recording_with_made_up_handles!(RecordingOnly);
