//! Graphics pipeline recipes: the model and recording (rebuilding is in `graphics_build.rs`).
//!
//! Vulkan lets an application leave a state pointer dangling where the state is ignored, so
//! the recorder reads a state only where Vulkan uses it, and records `None` where it is
//! ignored (whatever the application passed):
//! - vertex input: not with a mesh shader, nor with `VK_DYNAMIC_STATE_VERTEX_INPUT_EXT`;
//!   input assembly: not with a mesh shader;
//! - tessellation: only with a tessellation shader;
//! - viewport, multisample, depth-stencil, color blend: not with static rasterizer discard;
//!   depth-stencil only when the subpass (or dynamic rendering's formats) has a depth or stencil
//!   attachment, color blend only when it has color attachments;
//! - static viewports and scissors: not when they (or their counts) are dynamic; the sample
//!   mask: not when it is dynamic; blend attachments: not when enable, equation and write mask
//!   are all dynamic.
//!
//! Other dynamic state does not change what is recorded: the static values stay in the
//! recipe as given, so two pipelines that differ only in a value Vulkan ignores get two
//! recipes, and replay passes exactly what the application passed.

use ash::vk;

use super::error::NotRecorded;
use super::key::{impl_recipe, RecipeKey};
use super::raw::{self, boolean};
use super::render_pass::SubpassUse;
use super::resolve::RecipeKeys;
use super::stage::{recorded_flags, Captured, ShaderStage};
use super::wire::{recipe_struct, Wire};
use crate::codec::{Reader, Writer};

recipe_struct! {
    /// `VkGraphicsPipelineCreateInfo`, without `basePipelineHandle` and `basePipelineIndex`
    /// (derivatives are dropped as for compute pipelines).
    pub struct GraphicsPipelineRecipe {
        /// `flags`, without the process-local ones.
        pub flags: vk::PipelineCreateFlags,
        /// `pStages`.
        pub stages: Vec<ShaderStage>,
        /// `pVertexInputState`.
        pub vertex_input: Option<VertexInput>,
        /// `pInputAssemblyState`.
        pub input_assembly: Option<InputAssembly>,
        /// `pTessellationState`.
        pub tessellation: Option<Tessellation>,
        /// `pViewportState`.
        pub viewport: Option<ViewportState>,
        /// `pRasterizationState`.
        pub rasterization: Option<Rasterization>,
        /// `pMultisampleState`.
        pub multisample: Option<Multisample>,
        /// `pDepthStencilState`.
        pub depth_stencil: Option<DepthStencil>,
        /// `pColorBlendState`.
        pub color_blend: Option<ColorBlend>,
        /// `pDynamicState`.
        pub dynamic_state: Option<DynamicStates>,
        /// `layout` by recipe key.
        pub layout: RecipeKey,
        /// `renderPass` and `subpass`, or `VkPipelineRenderingCreateInfo`.
        pub target: RenderTarget,
    }
    chain {
        /// `VkPipelineFragmentShadingRateStateCreateInfoKHR`.
        fragment_shading_rate: FragmentShadingRate =
            PIPELINE_FRAGMENT_SHADING_RATE_STATE_CREATE_INFO_KHR,
    }
}

impl_recipe!(GraphicsPipelineRecipe, GraphicsPipeline, 1);

/// What a graphics pipeline renders into.
#[derive(Clone, Debug, PartialEq)]
pub enum RenderTarget {
    /// A render pass by recipe key, and the subpass index. Wire: tag 1, key, subpass.
    RenderPass {
        /// The render pass's recipe key.
        render_pass: RecipeKey,
        /// `subpass`.
        subpass: u32,
    },
    /// Dynamic rendering (`renderPass` is null): `VkPipelineRenderingCreateInfo`, all zero
    /// when the application chained none. Wire: tag 2, then the formats.
    Dynamic(RenderingFormats),
}

impl Wire for RenderTarget {
    const MIN_LEN: usize = 1 + <RenderingFormats as Wire>::MIN_LEN;
    fn put(&self, out: &mut Writer) {
        match self {
            Self::RenderPass {
                render_pass,
                subpass,
            } => {
                out.u8(1);
                render_pass.put(out);
                out.u32(*subpass);
            }
            Self::Dynamic(formats) => {
                out.u8(2);
                formats.put(out);
            }
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        match input.u8()? {
            1 => Some(Self::RenderPass {
                render_pass: RecipeKey::get(input)?,
                subpass: input.u32()?,
            }),
            2 => RenderingFormats::get(input).map(Self::Dynamic),
            _ => None,
        }
    }
}

recipe_struct! {
    /// `VkPipelineRenderingCreateInfo`.
    pub struct RenderingFormats {
        /// `viewMask`.
        pub view_mask: u32,
        /// `pColorAttachmentFormats`.
        pub color_formats: Vec<vk::Format>,
        /// `depthAttachmentFormat`.
        pub depth_format: vk::Format,
        /// `stencilAttachmentFormat`.
        pub stencil_format: vk::Format,
    }
}

recipe_struct! {
    /// `VkPipelineVertexInputStateCreateInfo`.
    pub struct VertexInput {
        /// `flags`.
        pub flags: vk::PipelineVertexInputStateCreateFlags,
        /// `pVertexBindingDescriptions`.
        pub bindings: Vec<VertexBinding>,
        /// `pVertexAttributeDescriptions`.
        pub attributes: Vec<VertexAttribute>,
    }
    chain {
        /// `VkPipelineVertexInputDivisorStateCreateInfoKHR` (or `...EXT`, the same sType).
        divisors: VertexDivisors = PIPELINE_VERTEX_INPUT_DIVISOR_STATE_CREATE_INFO_KHR,
    }
}

recipe_struct! {
    /// `VkVertexInputBindingDescription`.
    pub struct VertexBinding {
        /// `binding`.
        pub binding: u32,
        /// `stride`.
        pub stride: u32,
        /// `inputRate`.
        pub input_rate: vk::VertexInputRate,
    }
}

recipe_struct! {
    /// `VkVertexInputAttributeDescription`.
    pub struct VertexAttribute {
        /// `location`.
        pub location: u32,
        /// `binding`.
        pub binding: u32,
        /// `format`.
        pub format: vk::Format,
        /// `offset`.
        pub offset: u32,
    }
}

recipe_struct! {
    /// `VkPipelineVertexInputDivisorStateCreateInfoKHR`.
    pub struct VertexDivisors {
        /// `pVertexBindingDivisors`.
        pub divisors: Vec<VertexDivisor>,
    }
}

recipe_struct! {
    /// `VkVertexInputBindingDivisorDescriptionKHR`.
    pub struct VertexDivisor {
        /// `binding`.
        pub binding: u32,
        /// `divisor`.
        pub divisor: u32,
    }
}

recipe_struct! {
    /// `VkPipelineInputAssemblyStateCreateInfo`.
    pub struct InputAssembly {
        /// `flags`.
        pub flags: vk::PipelineInputAssemblyStateCreateFlags,
        /// `topology`.
        pub topology: vk::PrimitiveTopology,
        /// `primitiveRestartEnable`.
        pub primitive_restart_enable: bool,
    }
    chain {}
}

recipe_struct! {
    /// `VkPipelineTessellationStateCreateInfo`.
    pub struct Tessellation {
        /// `flags`.
        pub flags: vk::PipelineTessellationStateCreateFlags,
        /// `patchControlPoints`.
        pub patch_control_points: u32,
    }
    chain {
        /// `VkPipelineTessellationDomainOriginStateCreateInfo`.
        domain_origin: DomainOrigin = PIPELINE_TESSELLATION_DOMAIN_ORIGIN_STATE_CREATE_INFO,
    }
}

recipe_struct! {
    /// `VkPipelineTessellationDomainOriginStateCreateInfo`.
    pub struct DomainOrigin {
        /// `domainOrigin`.
        pub origin: vk::TessellationDomainOrigin,
    }
}

recipe_struct! {
    /// `VkPipelineViewportStateCreateInfo`.
    pub struct ViewportState {
        /// `flags`.
        pub flags: vk::PipelineViewportStateCreateFlags,
        /// `viewportCount`.
        pub viewport_count: u32,
        /// `pViewports` (`viewportCount` of them); `None` when null or dynamic.
        pub viewports: Option<Vec<Viewport>>,
        /// `scissorCount`.
        pub scissor_count: u32,
        /// `pScissors` (`scissorCount` of them); `None` when null or dynamic.
        pub scissors: Option<Vec<Rect2D>>,
    }
    chain {
        /// `VkPipelineViewportDepthClipControlCreateInfoEXT`.
        depth_clip_control: DepthClipControl = PIPELINE_VIEWPORT_DEPTH_CLIP_CONTROL_CREATE_INFO_EXT,
    }
}

recipe_struct! {
    /// `VkViewport`.
    pub struct Viewport {
        /// `x`.
        pub x: f32,
        /// `y`.
        pub y: f32,
        /// `width`.
        pub width: f32,
        /// `height`.
        pub height: f32,
        /// `minDepth`.
        pub min_depth: f32,
        /// `maxDepth`.
        pub max_depth: f32,
    }
}

recipe_struct! {
    /// `VkRect2D`.
    pub struct Rect2D {
        /// `offset.x`.
        pub x: i32,
        /// `offset.y`.
        pub y: i32,
        /// `extent.width`.
        pub width: u32,
        /// `extent.height`.
        pub height: u32,
    }
}

recipe_struct! {
    /// `VkPipelineViewportDepthClipControlCreateInfoEXT`.
    pub struct DepthClipControl {
        /// `negativeOneToOne`.
        pub negative_one_to_one: bool,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationStateCreateInfo`.
    pub struct Rasterization {
        /// `flags`.
        pub flags: vk::PipelineRasterizationStateCreateFlags,
        /// `depthClampEnable`.
        pub depth_clamp_enable: bool,
        /// `rasterizerDiscardEnable`.
        pub rasterizer_discard_enable: bool,
        /// `polygonMode`.
        pub polygon_mode: vk::PolygonMode,
        /// `cullMode`.
        pub cull_mode: vk::CullModeFlags,
        /// `frontFace`.
        pub front_face: vk::FrontFace,
        /// `depthBiasEnable`.
        pub depth_bias_enable: bool,
        /// `depthBiasConstantFactor`.
        pub depth_bias_constant_factor: f32,
        /// `depthBiasClamp`.
        pub depth_bias_clamp: f32,
        /// `depthBiasSlopeFactor`.
        pub depth_bias_slope_factor: f32,
        /// `lineWidth`.
        pub line_width: f32,
    }
    chain {
        /// `VkPipelineRasterizationStateStreamCreateInfoEXT`.
        stream: RasterizationStream = PIPELINE_RASTERIZATION_STATE_STREAM_CREATE_INFO_EXT,
        /// `VkPipelineRasterizationConservativeStateCreateInfoEXT`.
        conservative: ConservativeRasterization =
            PIPELINE_RASTERIZATION_CONSERVATIVE_STATE_CREATE_INFO_EXT,
        /// `VkPipelineRasterizationDepthClipStateCreateInfoEXT`.
        depth_clip: DepthClip = PIPELINE_RASTERIZATION_DEPTH_CLIP_STATE_CREATE_INFO_EXT,
        /// `VkPipelineRasterizationProvokingVertexStateCreateInfoEXT`.
        provoking_vertex: ProvokingVertex =
            PIPELINE_RASTERIZATION_PROVOKING_VERTEX_STATE_CREATE_INFO_EXT,
        /// `VkPipelineRasterizationLineStateCreateInfoKHR` (or `...EXT`, the same sType).
        line: LineRasterization = PIPELINE_RASTERIZATION_LINE_STATE_CREATE_INFO_KHR,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationStateStreamCreateInfoEXT`.
    pub struct RasterizationStream {
        /// `flags`.
        pub flags: vk::PipelineRasterizationStateStreamCreateFlagsEXT,
        /// `rasterizationStream`.
        pub stream: u32,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationConservativeStateCreateInfoEXT`.
    pub struct ConservativeRasterization {
        /// `flags`.
        pub flags: vk::PipelineRasterizationConservativeStateCreateFlagsEXT,
        /// `conservativeRasterizationMode`.
        pub mode: vk::ConservativeRasterizationModeEXT,
        /// `extraPrimitiveOverestimationSize`.
        pub extra_primitive_overestimation_size: f32,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationDepthClipStateCreateInfoEXT`.
    pub struct DepthClip {
        /// `flags`.
        pub flags: vk::PipelineRasterizationDepthClipStateCreateFlagsEXT,
        /// `depthClipEnable`.
        pub enable: bool,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationProvokingVertexStateCreateInfoEXT`.
    pub struct ProvokingVertex {
        /// `provokingVertexMode`.
        pub mode: vk::ProvokingVertexModeEXT,
    }
}

recipe_struct! {
    /// `VkPipelineRasterizationLineStateCreateInfoKHR`.
    pub struct LineRasterization {
        /// `lineRasterizationMode`.
        pub mode: vk::LineRasterizationModeKHR,
        /// `stippledLineEnable`.
        pub stippled_line_enable: bool,
        /// `lineStippleFactor`.
        pub stipple_factor: u32,
        /// `lineStipplePattern`.
        pub stipple_pattern: u16,
    }
}

recipe_struct! {
    /// `VkPipelineMultisampleStateCreateInfo`.
    pub struct Multisample {
        /// `flags`.
        pub flags: vk::PipelineMultisampleStateCreateFlags,
        /// `rasterizationSamples`.
        pub rasterization_samples: vk::SampleCountFlags,
        /// `sampleShadingEnable`.
        pub sample_shading_enable: bool,
        /// `minSampleShading`.
        pub min_sample_shading: f32,
        /// `pSampleMask` (`ceil(rasterizationSamples / 32)` words); `None` when null or dynamic.
        pub sample_mask: Option<Vec<u32>>,
        /// `alphaToCoverageEnable`.
        pub alpha_to_coverage_enable: bool,
        /// `alphaToOneEnable`.
        pub alpha_to_one_enable: bool,
    }
    chain {}
}

recipe_struct! {
    /// `VkPipelineDepthStencilStateCreateInfo`.
    pub struct DepthStencil {
        /// `flags`.
        pub flags: vk::PipelineDepthStencilStateCreateFlags,
        /// `depthTestEnable`.
        pub depth_test_enable: bool,
        /// `depthWriteEnable`.
        pub depth_write_enable: bool,
        /// `depthCompareOp`.
        pub depth_compare_op: vk::CompareOp,
        /// `depthBoundsTestEnable`.
        pub depth_bounds_test_enable: bool,
        /// `stencilTestEnable`.
        pub stencil_test_enable: bool,
        /// `front`.
        pub front: StencilOpState,
        /// `back`.
        pub back: StencilOpState,
        /// `minDepthBounds`.
        pub min_depth_bounds: f32,
        /// `maxDepthBounds`.
        pub max_depth_bounds: f32,
    }
    chain {}
}

recipe_struct! {
    /// `VkStencilOpState`.
    pub struct StencilOpState {
        /// `failOp`.
        pub fail_op: vk::StencilOp,
        /// `passOp`.
        pub pass_op: vk::StencilOp,
        /// `depthFailOp`.
        pub depth_fail_op: vk::StencilOp,
        /// `compareOp`.
        pub compare_op: vk::CompareOp,
        /// `compareMask`.
        pub compare_mask: u32,
        /// `writeMask`.
        pub write_mask: u32,
        /// `reference`.
        pub reference: u32,
    }
}

recipe_struct! {
    /// `VkPipelineColorBlendStateCreateInfo`.
    pub struct ColorBlend {
        /// `flags` (e.g. rasterization-order attachment access).
        pub flags: vk::PipelineColorBlendStateCreateFlags,
        /// `logicOpEnable`.
        pub logic_op_enable: bool,
        /// `logicOp`.
        pub logic_op: vk::LogicOp,
        /// `attachmentCount`.
        pub attachment_count: u32,
        /// `pAttachments` (`attachmentCount` of them); `None` when null or all dynamic.
        pub attachments: Option<Vec<ColorBlendAttachment>>,
        /// `blendConstants`.
        pub blend_constants: [f32; 4],
    }
    chain {
        /// `VkPipelineColorWriteCreateInfoEXT`.
        color_write: ColorWrite = PIPELINE_COLOR_WRITE_CREATE_INFO_EXT,
    }
}

recipe_struct! {
    /// `VkPipelineColorBlendAttachmentState`.
    pub struct ColorBlendAttachment {
        /// `blendEnable`.
        pub blend_enable: bool,
        /// `srcColorBlendFactor`.
        pub src_color_blend_factor: vk::BlendFactor,
        /// `dstColorBlendFactor`.
        pub dst_color_blend_factor: vk::BlendFactor,
        /// `colorBlendOp`.
        pub color_blend_op: vk::BlendOp,
        /// `srcAlphaBlendFactor`.
        pub src_alpha_blend_factor: vk::BlendFactor,
        /// `dstAlphaBlendFactor`.
        pub dst_alpha_blend_factor: vk::BlendFactor,
        /// `alphaBlendOp`.
        pub alpha_blend_op: vk::BlendOp,
        /// `colorWriteMask`.
        pub color_write_mask: vk::ColorComponentFlags,
    }
}

recipe_struct! {
    /// `VkPipelineColorWriteCreateInfoEXT`.
    pub struct ColorWrite {
        /// `pColorWriteEnables`.
        pub enables: Vec<bool>,
    }
}

recipe_struct! {
    /// `VkPipelineDynamicStateCreateInfo`.
    pub struct DynamicStates {
        /// `flags`.
        pub flags: vk::PipelineDynamicStateCreateFlags,
        /// `pDynamicStates`, in the application's order.
        pub states: Vec<vk::DynamicState>,
    }
    chain {}
}

recipe_struct! {
    /// `VkPipelineFragmentShadingRateStateCreateInfoKHR`.
    pub struct FragmentShadingRate {
        /// `fragmentSize.width`.
        pub width: u32,
        /// `fragmentSize.height`.
        pub height: u32,
        /// `combinerOps`.
        pub combiner_ops: [vk::FragmentShadingRateCombinerOpKHR; 2],
    }
}

impl GraphicsPipelineRecipe {
    /// Records a graphics pipeline: its state where Vulkan uses it (see the module
    /// documentation), by key the modules, layout and render pass it names.
    /// `VkPipelineCreationFeedbackCreateInfo` is ignored; flags are treated as for
    /// [`super::ComputePipelineRecipe::capture`]; any pNext structure not in this module's
    /// recipe structures makes the pipeline not recorded.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateGraphicsPipelines`.
    ///
    /// # Errors
    /// [`NotRecorded`]: an unknown pNext structure, a handle without a recipe, a library, or a
    /// sample count that is not one.
    pub unsafe fn capture(
        info: &vk::GraphicsPipelineCreateInfo<'_>,
        keys: &impl RecipeKeys,
    ) -> Result<Captured<Self>, NotRecorded> {
        let mut rendering: Option<&vk::PipelineRenderingCreateInfo<'_>> = None;
        let mut fragment_shading_rate = None;
        // SAFETY: a valid chain (caller); each entry is cast to the type its sType names.
        unsafe {
            raw::walk_chain(
                info.p_next,
                "VkGraphicsPipelineCreateInfo",
                |s_type, entry| {
                    match s_type {
                        vk::StructureType::PIPELINE_CREATION_FEEDBACK_CREATE_INFO => {}
                        vk::StructureType::PIPELINE_RENDERING_CREATE_INFO => {
                            rendering = Some(raw::cast(entry));
                        }
                        vk::StructureType::PIPELINE_FRAGMENT_SHADING_RATE_STATE_CREATE_INFO_KHR => {
                            let rate: &vk::PipelineFragmentShadingRateStateCreateInfoKHR<'_> =
                                raw::cast(entry);
                            fragment_shading_rate = Some(FragmentShadingRate {
                                width: rate.fragment_size.width,
                                height: rate.fragment_size.height,
                                combiner_ops: rate.combiner_ops,
                            });
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                },
            )?;
        }
        let flags = recorded_flags(info.flags)?;
        let mut inline_modules = Vec::new();
        // SAFETY: `stageCount` valid stages (caller).
        let stages = unsafe { raw::array(info.p_stages, info.stage_count)? }
            .iter()
            // SAFETY: each stage is valid (caller).
            .map(|stage| unsafe { ShaderStage::capture(stage, keys, &mut inline_modules) })
            .collect::<Result<Vec<_>, NotRecorded>>()?;
        // SAFETY: null or valid (caller).
        let dynamic_state = match unsafe { info.p_dynamic_state.as_ref() } {
            None => None,
            // SAFETY: valid (caller).
            Some(dynamic) => Some(unsafe { capture_dynamic(dynamic)? }),
        };
        let states = dynamic_state
            .as_ref()
            .map_or(&[][..], |dynamic| &dynamic.states[..]);
        let dynamic = |state: vk::DynamicState| states.contains(&state);
        let any_stage =
            |bits: vk::ShaderStageFlags| stages.iter().any(|stage| stage.stage.intersects(bits));
        let mesh = any_stage(vk::ShaderStageFlags::MESH_EXT | vk::ShaderStageFlags::TASK_EXT);
        let tessellated = any_stage(
            vk::ShaderStageFlags::TESSELLATION_CONTROL
                | vk::ShaderStageFlags::TESSELLATION_EVALUATION,
        );
        let layout = keys
            .pipeline_layout(info.layout)
            .ok_or(NotRecorded::UnknownHandle {
                kind: "VkPipelineLayout",
                raw: vk::Handle::as_raw(info.layout),
            })?;
        let (target, uses) = if info.render_pass == vk::RenderPass::null() {
            // SAFETY: a valid rendering info with the counts it states (caller).
            let formats = unsafe { rendering_formats(rendering)? };
            let uses = SubpassUse {
                color: !formats.color_formats.is_empty(),
                depth_stencil: formats.depth_format != vk::Format::UNDEFINED
                    || formats.stencil_format != vk::Format::UNDEFINED,
            };
            (RenderTarget::Dynamic(formats), uses)
        } else {
            let (render_pass, uses) = keys.render_pass(info.render_pass, info.subpass).ok_or(
                NotRecorded::UnknownHandle {
                    kind: "VkRenderPass",
                    raw: vk::Handle::as_raw(info.render_pass),
                },
            )?;
            let target = RenderTarget::RenderPass {
                render_pass,
                subpass: info.subpass,
            };
            (target, uses)
        };
        // SAFETY: a state pointer becomes a reference only where Vulkan reads the state
        // (`read_if`), and there it is null or a valid structure (caller); elsewhere it may
        // dangle and is never touched.
        let (vertex_input, input_assembly, tessellation, rasterization) = unsafe {
            let vertex_input_read = !mesh && !dynamic(vk::DynamicState::VERTEX_INPUT_EXT);
            (
                read_if(vertex_input_read, info.p_vertex_input_state)
                    .map(|state| capture_vertex_input(state))
                    .transpose()?,
                read_if(!mesh, info.p_input_assembly_state)
                    .map(|state| capture_input_assembly(state))
                    .transpose()?,
                read_if(tessellated, info.p_tessellation_state)
                    .map(|state| capture_tessellation(state))
                    .transpose()?,
                read_if(true, info.p_rasterization_state)
                    .map(|state| capture_rasterization(state))
                    .transpose()?,
            )
        };
        let rasterizing = !rasterization
            .as_ref()
            .is_some_and(|state| state.rasterizer_discard_enable)
            || dynamic(vk::DynamicState::RASTERIZER_DISCARD_ENABLE);
        // SAFETY: as above.
        let (viewport, multisample, depth_stencil, color_blend) = unsafe {
            (
                read_if(rasterizing, info.p_viewport_state)
                    .map(|state| capture_viewport(state, &dynamic))
                    .transpose()?,
                read_if(rasterizing, info.p_multisample_state)
                    .map(|state| capture_multisample(state, &dynamic))
                    .transpose()?,
                read_if(
                    rasterizing && uses.depth_stencil,
                    info.p_depth_stencil_state,
                )
                .map(|state| capture_depth_stencil(state))
                .transpose()?,
                read_if(rasterizing && uses.color, info.p_color_blend_state)
                    .map(|state| capture_color_blend(state, &dynamic))
                    .transpose()?,
            )
        };
        Ok(Captured {
            recipe: Self {
                flags,
                stages,
                vertex_input,
                input_assembly,
                tessellation,
                viewport,
                rasterization,
                multisample,
                depth_stencil,
                color_blend,
                dynamic_state,
                layout,
                target,
                fragment_shading_rate,
            },
            inline_modules,
        })
    }

    /// The recipes this pipeline refers to: its modules, layout and render pass.
    pub fn references(&self) -> impl Iterator<Item = &RecipeKey> {
        let render_pass = match &self.target {
            RenderTarget::RenderPass { render_pass, .. } => Some(render_pass),
            RenderTarget::Dynamic(_) => None,
        };
        self.stages
            .iter()
            .map(|stage| &stage.module)
            .chain([&self.layout])
            .chain(render_pass)
    }
}

/// `pointer` as a reference where Vulkan reads it (`read`), else `None` without touching it.
///
/// # Safety
/// When `read`, `pointer` must be null or point at a valid `T` that outlives `'a`.
unsafe fn read_if<'a, T>(read: bool, pointer: *const T) -> Option<&'a T> {
    if read {
        // SAFETY: null or valid where read (caller).
        unsafe { pointer.as_ref() }
    } else {
        None
    }
}

/// # Safety
/// `rendering` is `None` or a valid `VkPipelineRenderingCreateInfo`.
unsafe fn rendering_formats(
    rendering: Option<&vk::PipelineRenderingCreateInfo<'_>>,
) -> Result<RenderingFormats, NotRecorded> {
    let Some(rendering) = rendering else {
        return Ok(RenderingFormats {
            view_mask: 0,
            color_formats: Vec::new(),
            depth_format: vk::Format::UNDEFINED,
            stencil_format: vk::Format::UNDEFINED,
        });
    };
    Ok(RenderingFormats {
        view_mask: rendering.view_mask,
        // SAFETY: `colorAttachmentCount` formats (caller).
        color_formats: unsafe {
            raw::array(
                rendering.p_color_attachment_formats,
                rendering.color_attachment_count,
            )?
        }
        .to_vec(),
        depth_format: rendering.depth_attachment_format,
        stencil_format: rendering.stencil_attachment_format,
    })
}

/// # Safety
/// `state` must be valid (a valid chain, arrays with the counts stated).
unsafe fn capture_dynamic(
    state: &vk::PipelineDynamicStateCreateInfo<'_>,
) -> Result<DynamicStates, NotRecorded> {
    // SAFETY: as the caller promises.
    unsafe {
        raw::walk_chain(state.p_next, "VkPipelineDynamicStateCreateInfo", |_, _| {
            Ok(false)
        })?;
        Ok(DynamicStates {
            flags: state.flags,
            states: raw::array(state.p_dynamic_states, state.dynamic_state_count)?.to_vec(),
        })
    }
}

/// # Safety
/// `state` must be valid (a valid chain, arrays with the counts stated).
unsafe fn capture_vertex_input(
    state: &vk::PipelineVertexInputStateCreateInfo<'_>,
) -> Result<VertexInput, NotRecorded> {
    let mut divisors = None;
    // SAFETY: as the caller promises; each entry is cast to the type its sType names.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineVertexInputStateCreateInfo",
            |s_type, entry| {
                if s_type != vk::StructureType::PIPELINE_VERTEX_INPUT_DIVISOR_STATE_CREATE_INFO_KHR
                {
                    return Ok(false);
                }
                let divisor: &vk::PipelineVertexInputDivisorStateCreateInfoKHR<'_> =
                    raw::cast(entry);
                divisors = Some(VertexDivisors {
                    divisors: raw::array(
                        divisor.p_vertex_binding_divisors,
                        divisor.vertex_binding_divisor_count,
                    )?
                    .iter()
                    .map(|divisor| VertexDivisor {
                        binding: divisor.binding,
                        divisor: divisor.divisor,
                    })
                    .collect(),
                });
                Ok(true)
            },
        )?;
        Ok(VertexInput {
            flags: state.flags,
            bindings: raw::array(
                state.p_vertex_binding_descriptions,
                state.vertex_binding_description_count,
            )?
            .iter()
            .map(|binding| VertexBinding {
                binding: binding.binding,
                stride: binding.stride,
                input_rate: binding.input_rate,
            })
            .collect(),
            attributes: raw::array(
                state.p_vertex_attribute_descriptions,
                state.vertex_attribute_description_count,
            )?
            .iter()
            .map(|attribute| VertexAttribute {
                location: attribute.location,
                binding: attribute.binding,
                format: attribute.format,
                offset: attribute.offset,
            })
            .collect(),
            divisors,
        })
    }
}

/// # Safety
/// `state` must be valid (a valid chain).
unsafe fn capture_input_assembly(
    state: &vk::PipelineInputAssemblyStateCreateInfo<'_>,
) -> Result<InputAssembly, NotRecorded> {
    // SAFETY: as the caller promises.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineInputAssemblyStateCreateInfo",
            |_, _| Ok(false),
        )?;
    }
    Ok(InputAssembly {
        flags: state.flags,
        topology: state.topology,
        primitive_restart_enable: boolean(state.primitive_restart_enable),
    })
}

/// # Safety
/// `state` must be valid (a valid chain).
unsafe fn capture_tessellation(
    state: &vk::PipelineTessellationStateCreateInfo<'_>,
) -> Result<Tessellation, NotRecorded> {
    let mut domain_origin = None;
    // SAFETY: as the caller promises; each entry is cast to the type its sType names.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineTessellationStateCreateInfo",
            |s_type, entry| {
                if s_type
                    != vk::StructureType::PIPELINE_TESSELLATION_DOMAIN_ORIGIN_STATE_CREATE_INFO
                {
                    return Ok(false);
                }
                let origin: &vk::PipelineTessellationDomainOriginStateCreateInfo<'_> =
                    raw::cast(entry);
                domain_origin = Some(DomainOrigin {
                    origin: origin.domain_origin,
                });
                Ok(true)
            },
        )?;
    }
    Ok(Tessellation {
        flags: state.flags,
        patch_control_points: state.patch_control_points,
        domain_origin,
    })
}

/// # Safety
/// `state` must be valid (a valid chain; static viewports and scissors with their counts).
unsafe fn capture_viewport(
    state: &vk::PipelineViewportStateCreateInfo<'_>,
    dynamic: &impl Fn(vk::DynamicState) -> bool,
) -> Result<ViewportState, NotRecorded> {
    let mut depth_clip_control = None;
    // SAFETY: as the caller promises; each entry is cast to the type its sType names.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineViewportStateCreateInfo",
            |s_type, entry| {
                if s_type != vk::StructureType::PIPELINE_VIEWPORT_DEPTH_CLIP_CONTROL_CREATE_INFO_EXT
                {
                    return Ok(false);
                }
                let control: &vk::PipelineViewportDepthClipControlCreateInfoEXT<'_> =
                    raw::cast(entry);
                depth_clip_control = Some(DepthClipControl {
                    negative_one_to_one: boolean(control.negative_one_to_one),
                });
                Ok(true)
            },
        )?;
    }
    // An empty list is recorded as none: both mean "no static values" and rebuild the same.
    let static_viewports = !dynamic(vk::DynamicState::VIEWPORT)
        && !dynamic(vk::DynamicState::VIEWPORT_WITH_COUNT)
        && !state.p_viewports.is_null()
        && state.viewport_count > 0;
    let static_scissors = !dynamic(vk::DynamicState::SCISSOR)
        && !dynamic(vk::DynamicState::SCISSOR_WITH_COUNT)
        && !state.p_scissors.is_null()
        && state.scissor_count > 0;
    // SAFETY: counts stated, read only where static (caller).
    let (viewports, scissors) = unsafe {
        (
            if static_viewports {
                Some(raw::array(state.p_viewports, state.viewport_count)?)
            } else {
                None
            },
            if static_scissors {
                Some(raw::array(state.p_scissors, state.scissor_count)?)
            } else {
                None
            },
        )
    };
    Ok(ViewportState {
        flags: state.flags,
        viewport_count: state.viewport_count,
        viewports: viewports.map(|viewports| {
            viewports
                .iter()
                .map(|viewport| Viewport {
                    x: viewport.x,
                    y: viewport.y,
                    width: viewport.width,
                    height: viewport.height,
                    min_depth: viewport.min_depth,
                    max_depth: viewport.max_depth,
                })
                .collect()
        }),
        scissor_count: state.scissor_count,
        scissors: scissors.map(|scissors| {
            scissors
                .iter()
                .map(|scissor| Rect2D {
                    x: scissor.offset.x,
                    y: scissor.offset.y,
                    width: scissor.extent.width,
                    height: scissor.extent.height,
                })
                .collect()
        }),
        depth_clip_control,
    })
}

/// # Safety
/// `state` must be valid (a valid chain).
unsafe fn capture_rasterization(
    state: &vk::PipelineRasterizationStateCreateInfo<'_>,
) -> Result<Rasterization, NotRecorded> {
    let mut stream = None;
    let mut conservative = None;
    let mut depth_clip = None;
    let mut provoking_vertex = None;
    let mut line = None;
    // SAFETY: as the caller promises; each entry is cast to the type its sType names.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineRasterizationStateCreateInfo",
            |s_type, entry| {
                match s_type {
                vk::StructureType::PIPELINE_RASTERIZATION_STATE_STREAM_CREATE_INFO_EXT => {
                    let info: &vk::PipelineRasterizationStateStreamCreateInfoEXT<'_> =
                        raw::cast(entry);
                    stream = Some(RasterizationStream {
                        flags: info.flags,
                        stream: info.rasterization_stream,
                    });
                }
                vk::StructureType::PIPELINE_RASTERIZATION_CONSERVATIVE_STATE_CREATE_INFO_EXT => {
                    let info: &vk::PipelineRasterizationConservativeStateCreateInfoEXT<'_> =
                        raw::cast(entry);
                    conservative = Some(ConservativeRasterization {
                        flags: info.flags,
                        mode: info.conservative_rasterization_mode,
                        extra_primitive_overestimation_size: info
                            .extra_primitive_overestimation_size,
                    });
                }
                vk::StructureType::PIPELINE_RASTERIZATION_DEPTH_CLIP_STATE_CREATE_INFO_EXT => {
                    let info: &vk::PipelineRasterizationDepthClipStateCreateInfoEXT<'_> =
                        raw::cast(entry);
                    depth_clip = Some(DepthClip {
                        flags: info.flags,
                        enable: boolean(info.depth_clip_enable),
                    });
                }
                vk::StructureType::PIPELINE_RASTERIZATION_PROVOKING_VERTEX_STATE_CREATE_INFO_EXT => {
                    let info: &vk::PipelineRasterizationProvokingVertexStateCreateInfoEXT<'_> =
                        raw::cast(entry);
                    provoking_vertex = Some(ProvokingVertex {
                        mode: info.provoking_vertex_mode,
                    });
                }
                vk::StructureType::PIPELINE_RASTERIZATION_LINE_STATE_CREATE_INFO_KHR => {
                    let info: &vk::PipelineRasterizationLineStateCreateInfoKHR<'_> =
                        raw::cast(entry);
                    line = Some(LineRasterization {
                        mode: info.line_rasterization_mode,
                        stippled_line_enable: boolean(info.stippled_line_enable),
                        stipple_factor: info.line_stipple_factor,
                        stipple_pattern: info.line_stipple_pattern,
                    });
                }
                _ => return Ok(false),
            }
                Ok(true)
            },
        )?;
    }
    Ok(Rasterization {
        flags: state.flags,
        depth_clamp_enable: boolean(state.depth_clamp_enable),
        rasterizer_discard_enable: boolean(state.rasterizer_discard_enable),
        polygon_mode: state.polygon_mode,
        cull_mode: state.cull_mode,
        front_face: state.front_face,
        depth_bias_enable: boolean(state.depth_bias_enable),
        depth_bias_constant_factor: state.depth_bias_constant_factor,
        depth_bias_clamp: state.depth_bias_clamp,
        depth_bias_slope_factor: state.depth_bias_slope_factor,
        line_width: state.line_width,
        stream,
        conservative,
        depth_clip,
        provoking_vertex,
        line,
    })
}

/// Words in a sample mask for `samples` (`ceil(samples / 32)`), or `None` when `samples` is
/// not one sample count.
pub(crate) fn sample_mask_words(samples: vk::SampleCountFlags) -> Option<usize> {
    let count = samples.as_raw();
    (count.is_power_of_two() && count <= 64).then(|| count.div_ceil(32) as usize)
}

/// # Safety
/// `state` must be valid (a valid chain; a static sample mask of the size its sample count
/// gives).
unsafe fn capture_multisample(
    state: &vk::PipelineMultisampleStateCreateInfo<'_>,
    dynamic: &impl Fn(vk::DynamicState) -> bool,
) -> Result<Multisample, NotRecorded> {
    // SAFETY: as the caller promises.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineMultisampleStateCreateInfo",
            |_, _| Ok(false),
        )?;
    }
    let sample_mask = if state.p_sample_mask.is_null() || dynamic(vk::DynamicState::SAMPLE_MASK_EXT)
    {
        None
    } else {
        let words = sample_mask_words(state.rasterization_samples).ok_or(
            NotRecorded::Unsupported("a sample mask whose rasterizationSamples is not a count"),
        )?;
        // SAFETY: the mask has that many words (caller).
        Some(unsafe { raw::array(state.p_sample_mask, words as u32)? }.to_vec())
    };
    Ok(Multisample {
        flags: state.flags,
        rasterization_samples: state.rasterization_samples,
        sample_shading_enable: boolean(state.sample_shading_enable),
        min_sample_shading: state.min_sample_shading,
        sample_mask,
        alpha_to_coverage_enable: boolean(state.alpha_to_coverage_enable),
        alpha_to_one_enable: boolean(state.alpha_to_one_enable),
    })
}

fn stencil_op_state(state: &vk::StencilOpState) -> StencilOpState {
    StencilOpState {
        fail_op: state.fail_op,
        pass_op: state.pass_op,
        depth_fail_op: state.depth_fail_op,
        compare_op: state.compare_op,
        compare_mask: state.compare_mask,
        write_mask: state.write_mask,
        reference: state.reference,
    }
}

/// # Safety
/// `state` must be valid (a valid chain).
unsafe fn capture_depth_stencil(
    state: &vk::PipelineDepthStencilStateCreateInfo<'_>,
) -> Result<DepthStencil, NotRecorded> {
    // SAFETY: as the caller promises.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineDepthStencilStateCreateInfo",
            |_, _| Ok(false),
        )?;
    }
    Ok(DepthStencil {
        flags: state.flags,
        depth_test_enable: boolean(state.depth_test_enable),
        depth_write_enable: boolean(state.depth_write_enable),
        depth_compare_op: state.depth_compare_op,
        depth_bounds_test_enable: boolean(state.depth_bounds_test_enable),
        stencil_test_enable: boolean(state.stencil_test_enable),
        front: stencil_op_state(&state.front),
        back: stencil_op_state(&state.back),
        min_depth_bounds: state.min_depth_bounds,
        max_depth_bounds: state.max_depth_bounds,
    })
}

/// # Safety
/// `state` must be valid (a valid chain; static attachments with their count).
unsafe fn capture_color_blend(
    state: &vk::PipelineColorBlendStateCreateInfo<'_>,
    dynamic: &impl Fn(vk::DynamicState) -> bool,
) -> Result<ColorBlend, NotRecorded> {
    let mut color_write = None;
    // SAFETY: as the caller promises; each entry is cast to the type its sType names.
    unsafe {
        raw::walk_chain(
            state.p_next,
            "VkPipelineColorBlendStateCreateInfo",
            |s_type, entry| {
                if s_type != vk::StructureType::PIPELINE_COLOR_WRITE_CREATE_INFO_EXT {
                    return Ok(false);
                }
                let write: &vk::PipelineColorWriteCreateInfoEXT<'_> = raw::cast(entry);
                color_write = Some(ColorWrite {
                    enables: raw::array(write.p_color_write_enables, write.attachment_count)?
                        .iter()
                        .map(|enable| boolean(*enable))
                        .collect(),
                });
                Ok(true)
            },
        )?;
    }
    let all_dynamic = dynamic(vk::DynamicState::COLOR_BLEND_ENABLE_EXT)
        && (dynamic(vk::DynamicState::COLOR_BLEND_EQUATION_EXT)
            || dynamic(vk::DynamicState::COLOR_BLEND_ADVANCED_EXT))
        && dynamic(vk::DynamicState::COLOR_WRITE_MASK_EXT);
    let attachments = if state.p_attachments.is_null() || state.attachment_count == 0 || all_dynamic
    {
        None
    } else {
        // SAFETY: `attachmentCount` attachments where not dynamic (caller).
        let attachments = unsafe { raw::array(state.p_attachments, state.attachment_count)? };
        Some(
            attachments
                .iter()
                .map(|attachment| ColorBlendAttachment {
                    blend_enable: boolean(attachment.blend_enable),
                    src_color_blend_factor: attachment.src_color_blend_factor,
                    dst_color_blend_factor: attachment.dst_color_blend_factor,
                    color_blend_op: attachment.color_blend_op,
                    src_alpha_blend_factor: attachment.src_alpha_blend_factor,
                    dst_alpha_blend_factor: attachment.dst_alpha_blend_factor,
                    alpha_blend_op: attachment.alpha_blend_op,
                    color_write_mask: attachment.color_write_mask,
                })
                .collect(),
        )
    };
    Ok(ColorBlend {
        flags: state.flags,
        logic_op_enable: boolean(state.logic_op_enable),
        logic_op: state.logic_op,
        attachment_count: state.attachment_count,
        attachments,
        blend_constants: state.blend_constants,
        color_write,
    })
}
