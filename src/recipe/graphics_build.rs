//! Rebuilding `VkGraphicsPipelineCreateInfo` from a recipe.

use std::ffi::c_void;
use std::ptr;

use ash::vk;

use super::error::BuildError;
use super::graphics::{
    sample_mask_words, ColorBlend, GraphicsPipelineRecipe, Multisample, Rasterization,
    RenderTarget, StencilOpState, VertexInput, ViewportState,
};
use super::raw::{self, bool32};
use super::resolve::RecipeHandles;
use super::stage::{buildable_flags, StageBuild};

/// Sets `*next` to the first element of `items` when there is one: the link to put in the
/// `pNext` of the structure built next.
fn link_if<T>(items: &[T], next: &mut *const c_void) {
    if !items.is_empty() {
        *next = raw::link(items);
    }
}

impl GraphicsPipelineRecipe {
    /// The create-info to recreate this pipeline, with its modules, layout and render pass
    /// from `handles`.
    ///
    /// # Errors
    /// [`BuildError::MissingHandle`] for an object not in `handles`;
    /// [`BuildError::Inconsistent`] for counts that differ from their lists' lengths, a sample
    /// mask shorter than its sample count needs, or flags recording never produces.
    pub fn build(&self, handles: &impl RecipeHandles) -> Result<GraphicsPipelineBuild, BuildError> {
        buildable_flags(self.flags)?;
        let stages = self
            .stages
            .iter()
            .map(|stage| stage.build(handles))
            .collect::<Result<Vec<_>, _>>()?;
        let stage_infos: Vec<_> = stages.iter().map(|stage| stage.info).collect();
        let layout = handles
            .pipeline_layout(&self.layout)
            .ok_or(BuildError::MissingHandle {
                kind: "VkPipelineLayout",
                key: self.layout,
            })?;
        let vertex_input = self.vertex_input.as_ref().map(VertexInputBuild::new);
        let input_assembly: Vec<_> = self
            .input_assembly
            .iter()
            .map(|state| vk::PipelineInputAssemblyStateCreateInfo {
                flags: state.flags,
                topology: state.topology,
                primitive_restart_enable: bool32(state.primitive_restart_enable),
                ..Default::default()
            })
            .collect();
        let domain_origin: Vec<_> = self
            .tessellation
            .iter()
            .filter_map(|state| state.domain_origin.as_ref())
            .map(
                |origin| vk::PipelineTessellationDomainOriginStateCreateInfo {
                    domain_origin: origin.origin,
                    ..Default::default()
                },
            )
            .collect();
        let tessellation: Vec<_> = self
            .tessellation
            .iter()
            .map(|state| vk::PipelineTessellationStateCreateInfo {
                p_next: if domain_origin.is_empty() {
                    ptr::null()
                } else {
                    raw::link(&domain_origin)
                },
                flags: state.flags,
                patch_control_points: state.patch_control_points,
                ..Default::default()
            })
            .collect();
        let viewport = self.viewport.as_ref().map(ViewportBuild::new).transpose()?;
        let rasterization = self.rasterization.as_ref().map(RasterizationBuild::new);
        let multisample = self
            .multisample
            .as_ref()
            .map(MultisampleBuild::new)
            .transpose()?;
        let depth_stencil: Vec<_> = self
            .depth_stencil
            .iter()
            .map(|state| vk::PipelineDepthStencilStateCreateInfo {
                flags: state.flags,
                depth_test_enable: bool32(state.depth_test_enable),
                depth_write_enable: bool32(state.depth_write_enable),
                depth_compare_op: state.depth_compare_op,
                depth_bounds_test_enable: bool32(state.depth_bounds_test_enable),
                stencil_test_enable: bool32(state.stencil_test_enable),
                front: stencil_op_state(&state.front),
                back: stencil_op_state(&state.back),
                min_depth_bounds: state.min_depth_bounds,
                max_depth_bounds: state.max_depth_bounds,
                ..Default::default()
            })
            .collect();
        let color_blend = self
            .color_blend
            .as_ref()
            .map(ColorBlendBuild::new)
            .transpose()?;
        let dynamic_states: Vec<vk::DynamicState> = self
            .dynamic_state
            .iter()
            .flat_map(|dynamic| dynamic.states.iter().copied())
            .collect();
        let dynamic: Vec<_> = self
            .dynamic_state
            .iter()
            .map(|dynamic| {
                let (dynamic_state_count, p_dynamic_states) = raw::parts(&dynamic_states);
                vk::PipelineDynamicStateCreateInfo {
                    flags: dynamic.flags,
                    dynamic_state_count,
                    p_dynamic_states,
                    ..Default::default()
                }
            })
            .collect();

        // The pipeline's own chain: shading rate, then rendering.
        let mut next = ptr::null();
        let shading_rate: Vec<_> = self
            .fragment_shading_rate
            .iter()
            .map(|rate| vk::PipelineFragmentShadingRateStateCreateInfoKHR {
                p_next: next,
                fragment_size: vk::Extent2D {
                    width: rate.width,
                    height: rate.height,
                },
                combiner_ops: rate.combiner_ops,
                ..Default::default()
            })
            .collect();
        link_if(&shading_rate, &mut next);
        let (render_pass, subpass, color_formats) = match &self.target {
            RenderTarget::RenderPass {
                render_pass,
                subpass,
            } => {
                let handle = handles
                    .render_pass(render_pass)
                    .ok_or(BuildError::MissingHandle {
                        kind: "VkRenderPass",
                        key: *render_pass,
                    })?;
                (handle, *subpass, Vec::new())
            }
            RenderTarget::Dynamic(formats) => {
                (vk::RenderPass::null(), 0, formats.color_formats.clone())
            }
        };
        let rendering: Vec<_> = match &self.target {
            RenderTarget::RenderPass { .. } => Vec::new(),
            RenderTarget::Dynamic(formats) => {
                let (color_attachment_count, p_color_attachment_formats) =
                    raw::parts(&color_formats);
                vec![vk::PipelineRenderingCreateInfo {
                    p_next: next,
                    view_mask: formats.view_mask,
                    color_attachment_count,
                    p_color_attachment_formats,
                    depth_attachment_format: formats.depth_format,
                    stencil_attachment_format: formats.stencil_format,
                    ..Default::default()
                }]
            }
        };
        link_if(&rendering, &mut next);

        let (stage_count, p_stages) = raw::parts(&stage_infos);
        let info = vk::GraphicsPipelineCreateInfo {
            p_next: next,
            flags: self.flags,
            stage_count,
            p_stages,
            p_vertex_input_state: vertex_input
                .as_ref()
                .map_or(ptr::null(), |state| state.info.as_ptr()),
            p_input_assembly_state: raw::parts(&input_assembly).1,
            p_tessellation_state: raw::parts(&tessellation).1,
            p_viewport_state: viewport
                .as_ref()
                .map_or(ptr::null(), |state| state.info.as_ptr()),
            p_rasterization_state: rasterization
                .as_ref()
                .map_or(ptr::null(), |state| state.info.as_ptr()),
            p_multisample_state: multisample
                .as_ref()
                .map_or(ptr::null(), |state| state.info.as_ptr()),
            p_depth_stencil_state: raw::parts(&depth_stencil).1,
            p_color_blend_state: color_blend
                .as_ref()
                .map_or(ptr::null(), |state| state.info.as_ptr()),
            p_dynamic_state: raw::parts(&dynamic).1,
            layout,
            render_pass,
            subpass,
            base_pipeline_index: -1,
            ..Default::default()
        };
        Ok(GraphicsPipelineBuild {
            _stages: stages,
            _stage_infos: stage_infos,
            _vertex_input: vertex_input,
            _input_assembly: input_assembly,
            _domain_origin: domain_origin,
            _tessellation: tessellation,
            _viewport: viewport,
            _rasterization: rasterization,
            _multisample: multisample,
            _depth_stencil: depth_stencil,
            _color_blend: color_blend,
            _dynamic_states: dynamic_states,
            _dynamic: dynamic,
            _shading_rate: shading_rate,
            _color_formats: color_formats,
            _rendering: rendering,
            info,
        })
    }
}

fn stencil_op_state(state: &StencilOpState) -> vk::StencilOpState {
    vk::StencilOpState {
        fail_op: state.fail_op,
        pass_op: state.pass_op,
        depth_fail_op: state.depth_fail_op,
        compare_op: state.compare_op,
        compare_mask: state.compare_mask,
        write_mask: state.write_mask,
        reference: state.reference,
    }
}

/// A `VkGraphicsPipelineCreateInfo` and the storage it points into.
pub struct GraphicsPipelineBuild {
    /// What `info` points into.
    _stages: Vec<StageBuild>,
    _stage_infos: Vec<vk::PipelineShaderStageCreateInfo<'static>>,
    _vertex_input: Option<VertexInputBuild>,
    _input_assembly: Vec<vk::PipelineInputAssemblyStateCreateInfo<'static>>,
    _domain_origin: Vec<vk::PipelineTessellationDomainOriginStateCreateInfo<'static>>,
    _tessellation: Vec<vk::PipelineTessellationStateCreateInfo<'static>>,
    _viewport: Option<ViewportBuild>,
    _rasterization: Option<RasterizationBuild>,
    _multisample: Option<MultisampleBuild>,
    _depth_stencil: Vec<vk::PipelineDepthStencilStateCreateInfo<'static>>,
    _color_blend: Option<ColorBlendBuild>,
    _dynamic_states: Vec<vk::DynamicState>,
    _dynamic: Vec<vk::PipelineDynamicStateCreateInfo<'static>>,
    _shading_rate: Vec<vk::PipelineFragmentShadingRateStateCreateInfoKHR<'static>>,
    _color_formats: Vec<vk::Format>,
    _rendering: Vec<vk::PipelineRenderingCreateInfo<'static>>,
    info: vk::GraphicsPipelineCreateInfo<'static>,
}

impl GraphicsPipelineBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::GraphicsPipelineCreateInfo<'_> {
        &self.info
    }
}

struct VertexInputBuild {
    _bindings: Vec<vk::VertexInputBindingDescription>,
    _attributes: Vec<vk::VertexInputAttributeDescription>,
    _divisors: Vec<vk::VertexInputBindingDivisorDescriptionKHR>,
    _divisor_info: Vec<vk::PipelineVertexInputDivisorStateCreateInfoKHR<'static>>,
    info: Vec<vk::PipelineVertexInputStateCreateInfo<'static>>,
}

impl VertexInputBuild {
    fn new(state: &VertexInput) -> Self {
        let bindings: Vec<_> = state
            .bindings
            .iter()
            .map(|binding| vk::VertexInputBindingDescription {
                binding: binding.binding,
                stride: binding.stride,
                input_rate: binding.input_rate,
            })
            .collect();
        let attributes: Vec<_> = state
            .attributes
            .iter()
            .map(|attribute| vk::VertexInputAttributeDescription {
                location: attribute.location,
                binding: attribute.binding,
                format: attribute.format,
                offset: attribute.offset,
            })
            .collect();
        let divisors: Vec<_> = state
            .divisors
            .iter()
            .flat_map(|divisors| &divisors.divisors)
            .map(|divisor| vk::VertexInputBindingDivisorDescriptionKHR {
                binding: divisor.binding,
                divisor: divisor.divisor,
            })
            .collect();
        let divisor_info: Vec<_> = state
            .divisors
            .iter()
            .map(|_| {
                let (vertex_binding_divisor_count, p_vertex_binding_divisors) =
                    raw::parts(&divisors);
                vk::PipelineVertexInputDivisorStateCreateInfoKHR {
                    vertex_binding_divisor_count,
                    p_vertex_binding_divisors,
                    ..Default::default()
                }
            })
            .collect();
        let mut next = ptr::null();
        link_if(&divisor_info, &mut next);
        let (vertex_binding_description_count, p_vertex_binding_descriptions) =
            raw::parts(&bindings);
        let (vertex_attribute_description_count, p_vertex_attribute_descriptions) =
            raw::parts(&attributes);
        let info = vec![vk::PipelineVertexInputStateCreateInfo {
            p_next: next,
            flags: state.flags,
            vertex_binding_description_count,
            p_vertex_binding_descriptions,
            vertex_attribute_description_count,
            p_vertex_attribute_descriptions,
            ..Default::default()
        }];
        Self {
            _bindings: bindings,
            _attributes: attributes,
            _divisors: divisors,
            _divisor_info: divisor_info,
            info,
        }
    }
}

struct ViewportBuild {
    _viewports: Vec<vk::Viewport>,
    _scissors: Vec<vk::Rect2D>,
    _clip_control: Vec<vk::PipelineViewportDepthClipControlCreateInfoEXT<'static>>,
    info: Vec<vk::PipelineViewportStateCreateInfo<'static>>,
}

impl ViewportBuild {
    fn new(state: &ViewportState) -> Result<Self, BuildError> {
        let viewports: Vec<_> = state
            .viewports
            .iter()
            .flatten()
            .map(|viewport| vk::Viewport {
                x: viewport.x,
                y: viewport.y,
                width: viewport.width,
                height: viewport.height,
                min_depth: viewport.min_depth,
                max_depth: viewport.max_depth,
            })
            .collect();
        let scissors: Vec<_> = state
            .scissors
            .iter()
            .flatten()
            .map(|scissor| vk::Rect2D {
                offset: vk::Offset2D {
                    x: scissor.x,
                    y: scissor.y,
                },
                extent: vk::Extent2D {
                    width: scissor.width,
                    height: scissor.height,
                },
            })
            .collect();
        if (state.viewports.is_some() && viewports.len() != state.viewport_count as usize)
            || (state.scissors.is_some() && scissors.len() != state.scissor_count as usize)
        {
            return Err(BuildError::Inconsistent(
                "static viewports or scissors not as many as their count",
            ));
        }
        let clip_control: Vec<_> = state
            .depth_clip_control
            .iter()
            .map(
                |control| vk::PipelineViewportDepthClipControlCreateInfoEXT {
                    negative_one_to_one: bool32(control.negative_one_to_one),
                    ..Default::default()
                },
            )
            .collect();
        let mut next = ptr::null();
        link_if(&clip_control, &mut next);
        let info = vec![vk::PipelineViewportStateCreateInfo {
            p_next: next,
            flags: state.flags,
            viewport_count: state.viewport_count,
            p_viewports: raw::parts(&viewports).1,
            scissor_count: state.scissor_count,
            p_scissors: raw::parts(&scissors).1,
            ..Default::default()
        }];
        Ok(Self {
            _viewports: viewports,
            _scissors: scissors,
            _clip_control: clip_control,
            info,
        })
    }
}

struct RasterizationBuild {
    _stream: Vec<vk::PipelineRasterizationStateStreamCreateInfoEXT<'static>>,
    _conservative: Vec<vk::PipelineRasterizationConservativeStateCreateInfoEXT<'static>>,
    _depth_clip: Vec<vk::PipelineRasterizationDepthClipStateCreateInfoEXT<'static>>,
    _provoking_vertex: Vec<vk::PipelineRasterizationProvokingVertexStateCreateInfoEXT<'static>>,
    _line: Vec<vk::PipelineRasterizationLineStateCreateInfoKHR<'static>>,
    info: Vec<vk::PipelineRasterizationStateCreateInfo<'static>>,
}

impl RasterizationBuild {
    fn new(state: &Rasterization) -> Self {
        let mut next = ptr::null();
        let stream: Vec<_> = state
            .stream
            .iter()
            .map(|stream| vk::PipelineRasterizationStateStreamCreateInfoEXT {
                p_next: next,
                flags: stream.flags,
                rasterization_stream: stream.stream,
                ..Default::default()
            })
            .collect();
        link_if(&stream, &mut next);
        let conservative: Vec<_> = state
            .conservative
            .iter()
            .map(
                |conservative| vk::PipelineRasterizationConservativeStateCreateInfoEXT {
                    p_next: next,
                    flags: conservative.flags,
                    conservative_rasterization_mode: conservative.mode,
                    extra_primitive_overestimation_size: conservative
                        .extra_primitive_overestimation_size,
                    ..Default::default()
                },
            )
            .collect();
        link_if(&conservative, &mut next);
        let depth_clip: Vec<_> = state
            .depth_clip
            .iter()
            .map(
                |clip| vk::PipelineRasterizationDepthClipStateCreateInfoEXT {
                    p_next: next,
                    flags: clip.flags,
                    depth_clip_enable: bool32(clip.enable),
                    ..Default::default()
                },
            )
            .collect();
        link_if(&depth_clip, &mut next);
        let provoking_vertex: Vec<_> = state
            .provoking_vertex
            .iter()
            .map(
                |provoking| vk::PipelineRasterizationProvokingVertexStateCreateInfoEXT {
                    p_next: next,
                    provoking_vertex_mode: provoking.mode,
                    ..Default::default()
                },
            )
            .collect();
        link_if(&provoking_vertex, &mut next);
        let line: Vec<_> = state
            .line
            .iter()
            .map(|line| vk::PipelineRasterizationLineStateCreateInfoKHR {
                p_next: next,
                line_rasterization_mode: line.mode,
                stippled_line_enable: bool32(line.stippled_line_enable),
                line_stipple_factor: line.stipple_factor,
                line_stipple_pattern: line.stipple_pattern,
                ..Default::default()
            })
            .collect();
        link_if(&line, &mut next);
        let info = vec![vk::PipelineRasterizationStateCreateInfo {
            p_next: next,
            flags: state.flags,
            depth_clamp_enable: bool32(state.depth_clamp_enable),
            rasterizer_discard_enable: bool32(state.rasterizer_discard_enable),
            polygon_mode: state.polygon_mode,
            cull_mode: state.cull_mode,
            front_face: state.front_face,
            depth_bias_enable: bool32(state.depth_bias_enable),
            depth_bias_constant_factor: state.depth_bias_constant_factor,
            depth_bias_clamp: state.depth_bias_clamp,
            depth_bias_slope_factor: state.depth_bias_slope_factor,
            line_width: state.line_width,
            ..Default::default()
        }];
        Self {
            _stream: stream,
            _conservative: conservative,
            _depth_clip: depth_clip,
            _provoking_vertex: provoking_vertex,
            _line: line,
            info,
        }
    }
}

struct MultisampleBuild {
    _mask: Vec<u32>,
    info: Vec<vk::PipelineMultisampleStateCreateInfo<'static>>,
}

impl MultisampleBuild {
    fn new(state: &Multisample) -> Result<Self, BuildError> {
        let mask = state.sample_mask.clone().unwrap_or_default();
        if state.sample_mask.is_some()
            && sample_mask_words(state.rasterization_samples)
                .map_or(true, |words| mask.len() < words)
        {
            return Err(BuildError::Inconsistent(
                "a sample mask shorter than its sample count needs",
            ));
        }
        let info = vec![vk::PipelineMultisampleStateCreateInfo {
            flags: state.flags,
            rasterization_samples: state.rasterization_samples,
            sample_shading_enable: bool32(state.sample_shading_enable),
            min_sample_shading: state.min_sample_shading,
            p_sample_mask: raw::parts(&mask).1,
            alpha_to_coverage_enable: bool32(state.alpha_to_coverage_enable),
            alpha_to_one_enable: bool32(state.alpha_to_one_enable),
            ..Default::default()
        }];
        Ok(Self { _mask: mask, info })
    }
}

struct ColorBlendBuild {
    _attachments: Vec<vk::PipelineColorBlendAttachmentState>,
    _enables: Vec<vk::Bool32>,
    _color_write: Vec<vk::PipelineColorWriteCreateInfoEXT<'static>>,
    info: Vec<vk::PipelineColorBlendStateCreateInfo<'static>>,
}

impl ColorBlendBuild {
    fn new(state: &ColorBlend) -> Result<Self, BuildError> {
        let attachments: Vec<_> = state
            .attachments
            .iter()
            .flatten()
            .map(|attachment| vk::PipelineColorBlendAttachmentState {
                blend_enable: bool32(attachment.blend_enable),
                src_color_blend_factor: attachment.src_color_blend_factor,
                dst_color_blend_factor: attachment.dst_color_blend_factor,
                color_blend_op: attachment.color_blend_op,
                src_alpha_blend_factor: attachment.src_alpha_blend_factor,
                dst_alpha_blend_factor: attachment.dst_alpha_blend_factor,
                alpha_blend_op: attachment.alpha_blend_op,
                color_write_mask: attachment.color_write_mask,
            })
            .collect();
        if state.attachments.is_some() && attachments.len() != state.attachment_count as usize {
            return Err(BuildError::Inconsistent(
                "blend attachments not as many as attachmentCount",
            ));
        }
        let enables: Vec<vk::Bool32> = state
            .color_write
            .iter()
            .flat_map(|write| write.enables.iter().map(|enable| bool32(*enable)))
            .collect();
        let color_write: Vec<_> = state
            .color_write
            .iter()
            .map(|_| {
                let (attachment_count, p_color_write_enables) = raw::parts(&enables);
                vk::PipelineColorWriteCreateInfoEXT {
                    attachment_count,
                    p_color_write_enables,
                    ..Default::default()
                }
            })
            .collect();
        let mut next = ptr::null();
        link_if(&color_write, &mut next);
        let info = vec![vk::PipelineColorBlendStateCreateInfo {
            p_next: next,
            flags: state.flags,
            logic_op_enable: bool32(state.logic_op_enable),
            logic_op: state.logic_op,
            attachment_count: state.attachment_count,
            p_attachments: raw::parts(&attachments).1,
            blend_constants: state.blend_constants,
            ..Default::default()
        }];
        Ok(Self {
            _attachments: attachments,
            _enables: enables,
            _color_write: color_write,
            info,
        })
    }
}
