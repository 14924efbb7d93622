//! Render pass recipes: `VkRenderPassCreateInfo` and `VkRenderPassCreateInfo2` in one model.
//!
//! The model has the fields of the `...2` structures; a render pass created with the first
//! version keeps [`RenderPassApi::V1`] and is rebuilt with it, its multiview and
//! input-attachment-aspect pNext structures folded into those fields (view masks, view
//! offsets, correlation masks, reference aspects) and unfolded again when rebuilt.

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::impl_recipe;
use super::raw;
use super::wire::{recipe_struct, Wire};
use crate::codec::{Reader, Writer};

/// Which create call made the render pass (and rebuilds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderPassApi {
    /// `vkCreateRenderPass` with `VkRenderPassCreateInfo`.
    V1 = 1,
    /// `vkCreateRenderPass2` with `VkRenderPassCreateInfo2`.
    V2 = 2,
}

impl Wire for RenderPassApi {
    const MIN_LEN: usize = 1;
    fn put(&self, out: &mut Writer) {
        out.u8(*self as u8);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        match input.u8()? {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }
}

recipe_struct! {
    /// A render pass.
    pub struct RenderPassRecipe {
        /// The create call.
        pub api: RenderPassApi,
        /// `flags`.
        pub flags: vk::RenderPassCreateFlags,
        /// `pAttachments`.
        pub attachments: Vec<Attachment>,
        /// `pSubpasses`.
        pub subpasses: Vec<Subpass>,
        /// `pDependencies`.
        pub dependencies: Vec<SubpassDependency>,
        /// `pCorrelatedViewMasks` (V1: from `VkRenderPassMultiviewCreateInfo`).
        pub correlated_view_masks: Vec<u32>,
    }
    chain {}
}

recipe_struct! {
    /// `VkAttachmentDescription2`.
    pub struct Attachment {
        /// `flags`.
        pub flags: vk::AttachmentDescriptionFlags,
        /// `format`.
        pub format: vk::Format,
        /// `samples`.
        pub samples: vk::SampleCountFlags,
        /// `loadOp`.
        pub load_op: vk::AttachmentLoadOp,
        /// `storeOp`.
        pub store_op: vk::AttachmentStoreOp,
        /// `stencilLoadOp`.
        pub stencil_load_op: vk::AttachmentLoadOp,
        /// `stencilStoreOp`.
        pub stencil_store_op: vk::AttachmentStoreOp,
        /// `initialLayout`.
        pub initial_layout: vk::ImageLayout,
        /// `finalLayout`.
        pub final_layout: vk::ImageLayout,
    }
    chain {
        /// `VkAttachmentDescriptionStencilLayout` (V2 only).
        stencil_layouts: StencilLayouts = ATTACHMENT_DESCRIPTION_STENCIL_LAYOUT,
    }
}

recipe_struct! {
    /// `VkAttachmentDescriptionStencilLayout`.
    pub struct StencilLayouts {
        /// `stencilInitialLayout`.
        pub initial_layout: vk::ImageLayout,
        /// `stencilFinalLayout`.
        pub final_layout: vk::ImageLayout,
    }
}

recipe_struct! {
    /// `VkAttachmentReference2`.
    pub struct AttachmentReference {
        /// `attachment`.
        pub attachment: u32,
        /// `layout`.
        pub layout: vk::ImageLayout,
        /// `aspectMask` (V1: input attachments' aspect from
        /// `VkRenderPassInputAttachmentAspectCreateInfo`, else empty).
        pub aspect_mask: vk::ImageAspectFlags,
    }
    chain {
        /// `VkAttachmentReferenceStencilLayout` (V2 only).
        stencil_layout: StencilLayout = ATTACHMENT_REFERENCE_STENCIL_LAYOUT,
    }
}

recipe_struct! {
    /// `VkAttachmentReferenceStencilLayout`.
    pub struct StencilLayout {
        /// `stencilLayout`.
        pub layout: vk::ImageLayout,
    }
}

recipe_struct! {
    /// `VkSubpassDescription2`.
    pub struct Subpass {
        /// `flags`.
        pub flags: vk::SubpassDescriptionFlags,
        /// `pipelineBindPoint`.
        pub pipeline_bind_point: vk::PipelineBindPoint,
        /// `viewMask` (V1: from `VkRenderPassMultiviewCreateInfo`, else 0).
        pub view_mask: u32,
        /// `pInputAttachments`.
        pub input_attachments: Vec<AttachmentReference>,
        /// `pColorAttachments`.
        pub color_attachments: Vec<AttachmentReference>,
        /// `pResolveAttachments`: absent, or one per color attachment.
        pub resolve_attachments: Option<Vec<AttachmentReference>>,
        /// `pDepthStencilAttachment`.
        pub depth_stencil_attachment: Option<AttachmentReference>,
        /// `pPreserveAttachments`.
        pub preserve_attachments: Vec<u32>,
    }
    chain {
        /// `VkSubpassDescriptionDepthStencilResolve` (V2 only).
        depth_stencil_resolve: DepthStencilResolve = SUBPASS_DESCRIPTION_DEPTH_STENCIL_RESOLVE,
    }
}

recipe_struct! {
    /// `VkSubpassDescriptionDepthStencilResolve`.
    pub struct DepthStencilResolve {
        /// `depthResolveMode`.
        pub depth_resolve_mode: vk::ResolveModeFlags,
        /// `stencilResolveMode`.
        pub stencil_resolve_mode: vk::ResolveModeFlags,
        /// `pDepthStencilResolveAttachment`.
        pub attachment: Option<AttachmentReference>,
    }
}

recipe_struct! {
    /// `VkSubpassDependency2`.
    pub struct SubpassDependency {
        /// `srcSubpass`.
        pub src_subpass: u32,
        /// `dstSubpass`.
        pub dst_subpass: u32,
        /// `srcStageMask`.
        pub src_stage_mask: vk::PipelineStageFlags,
        /// `dstStageMask`.
        pub dst_stage_mask: vk::PipelineStageFlags,
        /// `srcAccessMask`.
        pub src_access_mask: vk::AccessFlags,
        /// `dstAccessMask`.
        pub dst_access_mask: vk::AccessFlags,
        /// `dependencyFlags`.
        pub dependency_flags: vk::DependencyFlags,
        /// `viewOffset` (V1: from `VkRenderPassMultiviewCreateInfo`, else 0).
        pub view_offset: i32,
    }
    chain {}
}

impl_recipe!(RenderPassRecipe, RenderPass, 1);

/// What one subpass writes, as far as a graphics pipeline's state depends on it: Vulkan
/// ignores (and lets applications leave dangling) the blend state of a subpass without color
/// attachments and the depth-stencil state of one without a depth-stencil attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SubpassUse {
    /// The subpass has color attachments (`colorAttachmentCount > 0`).
    pub color: bool,
    /// The subpass has a depth-stencil attachment that is not `VK_ATTACHMENT_UNUSED`.
    pub depth_stencil: bool,
}

fn reference_v1(reference: &vk::AttachmentReference) -> AttachmentReference {
    AttachmentReference {
        attachment: reference.attachment,
        layout: reference.layout,
        aspect_mask: vk::ImageAspectFlags::empty(),
        stencil_layout: None,
    }
}

/// # Safety
/// `reference` must be valid by Vulkan's rules (a valid chain).
unsafe fn reference_v2(
    reference: &vk::AttachmentReference2<'_>,
) -> Result<AttachmentReference, NotRecorded> {
    let mut stencil_layout = None;
    // SAFETY: a valid chain (caller).
    unsafe {
        raw::walk_chain(
            reference.p_next,
            "VkAttachmentReference2",
            |s_type, entry| {
                if s_type != vk::StructureType::ATTACHMENT_REFERENCE_STENCIL_LAYOUT {
                    return Ok(false);
                }
                let stencil: &vk::AttachmentReferenceStencilLayout<'_> = raw::cast(entry);
                stencil_layout = Some(StencilLayout {
                    layout: stencil.stencil_layout,
                });
                Ok(true)
            },
        )?;
    }
    Ok(AttachmentReference {
        attachment: reference.attachment,
        layout: reference.layout,
        aspect_mask: reference.aspect_mask,
        stencil_layout,
    })
}

impl RenderPassRecipe {
    /// What subpass `index` uses, `None` past the last subpass.
    #[must_use]
    pub fn subpass_use(&self, index: u32) -> Option<SubpassUse> {
        let subpass = self.subpasses.get(index as usize)?;
        Some(SubpassUse {
            color: !subpass.color_attachments.is_empty(),
            depth_stencil: subpass
                .depth_stencil_attachment
                .as_ref()
                .is_some_and(|reference| reference.attachment != vk::ATTACHMENT_UNUSED),
        })
    }

    /// Records a render pass made with `vkCreateRenderPass`. Known pNext structures:
    /// `VkRenderPassMultiviewCreateInfo`, `VkRenderPassInputAttachmentAspectCreateInfo`.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateRenderPass`.
    ///
    /// # Errors
    /// [`NotRecorded`] for another pNext structure, or multiview and aspect arrays that do
    /// not match the subpasses and dependencies.
    pub unsafe fn capture(info: &vk::RenderPassCreateInfo<'_>) -> Result<Self, NotRecorded> {
        let mut multiview: Option<&vk::RenderPassMultiviewCreateInfo<'_>> = None;
        let mut aspects: &[vk::InputAttachmentAspectReference] = &[];
        // SAFETY: a valid chain (caller); each entry is cast to the type its sType names.
        unsafe {
            raw::walk_chain(info.p_next, "VkRenderPassCreateInfo", |s_type, entry| {
                match s_type {
                    vk::StructureType::RENDER_PASS_MULTIVIEW_CREATE_INFO => {
                        multiview = Some(raw::cast(entry));
                    }
                    vk::StructureType::RENDER_PASS_INPUT_ATTACHMENT_ASPECT_CREATE_INFO => {
                        let aspect: &vk::RenderPassInputAttachmentAspectCreateInfo<'_> =
                            raw::cast(entry);
                        aspects =
                            raw::array(aspect.p_aspect_references, aspect.aspect_reference_count)?;
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
        }
        // SAFETY: arrays with the counts stated (caller).
        let (attachments, subpasses, dependencies) = unsafe {
            (
                raw::array(info.p_attachments, info.attachment_count)?,
                raw::array(info.p_subpasses, info.subpass_count)?,
                raw::array(info.p_dependencies, info.dependency_count)?,
            )
        };
        let (view_masks, view_offsets, correlated_view_masks) = match multiview {
            // SAFETY: arrays with the counts stated (caller).
            Some(multiview) => unsafe {
                (
                    raw::array(multiview.p_view_masks, multiview.subpass_count)?,
                    raw::array(multiview.p_view_offsets, multiview.dependency_count)?,
                    raw::array(
                        multiview.p_correlation_masks,
                        multiview.correlation_mask_count,
                    )?,
                )
            },
            None => (&[][..], &[][..], &[][..]),
        };
        if (!view_masks.is_empty() && view_masks.len() != subpasses.len())
            || (!view_offsets.is_empty() && view_offsets.len() != dependencies.len())
        {
            return Err(NotRecorded::Unsupported(
                "multiview arrays that do not match the subpasses or dependencies",
            ));
        }
        let mut subpasses = subpasses
            .iter()
            .enumerate()
            .map(|(index, subpass)| {
                // SAFETY: arrays with the counts stated (caller).
                let (inputs, colors, preserve) = unsafe {
                    (
                        raw::array(subpass.p_input_attachments, subpass.input_attachment_count)?,
                        raw::array(subpass.p_color_attachments, subpass.color_attachment_count)?,
                        raw::array(
                            subpass.p_preserve_attachments,
                            subpass.preserve_attachment_count,
                        )?,
                    )
                };
                let resolve_attachments =
                    if subpass.p_resolve_attachments.is_null() || colors.is_empty() {
                        None
                    } else {
                        // SAFETY: one resolve reference per color attachment (caller).
                        let resolves = unsafe {
                            raw::array(
                                subpass.p_resolve_attachments,
                                subpass.color_attachment_count,
                            )?
                        };
                        Some(resolves.iter().map(reference_v1).collect())
                    };
                Ok(Subpass {
                    flags: subpass.flags,
                    pipeline_bind_point: subpass.pipeline_bind_point,
                    view_mask: view_masks.get(index).copied().unwrap_or(0),
                    input_attachments: inputs.iter().map(reference_v1).collect(),
                    color_attachments: colors.iter().map(reference_v1).collect(),
                    resolve_attachments,
                    // SAFETY: null or one reference (caller).
                    depth_stencil_attachment: unsafe {
                        subpass.p_depth_stencil_attachment.as_ref()
                    }
                    .map(reference_v1),
                    preserve_attachments: preserve.to_vec(),
                    depth_stencil_resolve: None,
                })
            })
            .collect::<Result<Vec<_>, NotRecorded>>()?;
        for aspect in aspects {
            let reference = subpasses
                .get_mut(aspect.subpass as usize)
                .and_then(|subpass| {
                    subpass
                        .input_attachments
                        .get_mut(aspect.input_attachment_index as usize)
                })
                .ok_or(NotRecorded::Unsupported(
                    "an input attachment aspect for an input attachment that does not exist",
                ))?;
            reference.aspect_mask = aspect.aspect_mask;
        }
        Ok(Self {
            api: RenderPassApi::V1,
            flags: info.flags,
            attachments: attachments
                .iter()
                .map(|attachment| Attachment {
                    flags: attachment.flags,
                    format: attachment.format,
                    samples: attachment.samples,
                    load_op: attachment.load_op,
                    store_op: attachment.store_op,
                    stencil_load_op: attachment.stencil_load_op,
                    stencil_store_op: attachment.stencil_store_op,
                    initial_layout: attachment.initial_layout,
                    final_layout: attachment.final_layout,
                    stencil_layouts: None,
                })
                .collect(),
            subpasses,
            dependencies: dependencies
                .iter()
                .enumerate()
                .map(|(index, dependency)| SubpassDependency {
                    src_subpass: dependency.src_subpass,
                    dst_subpass: dependency.dst_subpass,
                    src_stage_mask: dependency.src_stage_mask,
                    dst_stage_mask: dependency.dst_stage_mask,
                    src_access_mask: dependency.src_access_mask,
                    dst_access_mask: dependency.dst_access_mask,
                    dependency_flags: dependency.dependency_flags,
                    view_offset: view_offsets.get(index).copied().unwrap_or(0),
                })
                .collect(),
            correlated_view_masks: correlated_view_masks.to_vec(),
        })
    }

    /// Records a render pass made with `vkCreateRenderPass2`. Known pNext structures:
    /// `VkAttachmentDescriptionStencilLayout`, `VkAttachmentReferenceStencilLayout`,
    /// `VkSubpassDescriptionDepthStencilResolve`.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateRenderPass2`.
    ///
    /// # Errors
    /// [`NotRecorded`] for another pNext structure anywhere in the description.
    pub unsafe fn capture2(info: &vk::RenderPassCreateInfo2<'_>) -> Result<Self, NotRecorded> {
        // SAFETY: valid chains and arrays with the counts stated (caller).
        unsafe {
            raw::walk_chain(info.p_next, "VkRenderPassCreateInfo2", |_, _| Ok(false))?;
            let attachments = raw::array(info.p_attachments, info.attachment_count)?
                .iter()
                .map(|attachment| {
                    let mut stencil_layouts = None;
                    raw::walk_chain(
                        attachment.p_next,
                        "VkAttachmentDescription2",
                        |s_type, entry| {
                            if s_type != vk::StructureType::ATTACHMENT_DESCRIPTION_STENCIL_LAYOUT {
                                return Ok(false);
                            }
                            let stencil: &vk::AttachmentDescriptionStencilLayout<'_> =
                                raw::cast(entry);
                            stencil_layouts = Some(StencilLayouts {
                                initial_layout: stencil.stencil_initial_layout,
                                final_layout: stencil.stencil_final_layout,
                            });
                            Ok(true)
                        },
                    )?;
                    Ok(Attachment {
                        flags: attachment.flags,
                        format: attachment.format,
                        samples: attachment.samples,
                        load_op: attachment.load_op,
                        store_op: attachment.store_op,
                        stencil_load_op: attachment.stencil_load_op,
                        stencil_store_op: attachment.stencil_store_op,
                        initial_layout: attachment.initial_layout,
                        final_layout: attachment.final_layout,
                        stencil_layouts,
                    })
                })
                .collect::<Result<Vec<_>, NotRecorded>>()?;
            let references = |pointer: *const vk::AttachmentReference2<'_>, count: u32| {
                raw::array(pointer, count)?
                    .iter()
                    .map(|reference| reference_v2(reference))
                    .collect::<Result<Vec<_>, NotRecorded>>()
            };
            let subpasses = raw::array(info.p_subpasses, info.subpass_count)?
                .iter()
                .map(|subpass| {
                    let mut depth_stencil_resolve = None;
                    raw::walk_chain(subpass.p_next, "VkSubpassDescription2", |s_type, entry| {
                        if s_type != vk::StructureType::SUBPASS_DESCRIPTION_DEPTH_STENCIL_RESOLVE {
                            return Ok(false);
                        }
                        let resolve: &vk::SubpassDescriptionDepthStencilResolve<'_> =
                            raw::cast(entry);
                        depth_stencil_resolve = Some(DepthStencilResolve {
                            depth_resolve_mode: resolve.depth_resolve_mode,
                            stencil_resolve_mode: resolve.stencil_resolve_mode,
                            attachment: match resolve.p_depth_stencil_resolve_attachment.as_ref() {
                                Some(reference) => Some(reference_v2(reference)?),
                                None => None,
                            },
                        });
                        Ok(true)
                    })?;
                    let color_attachments =
                        references(subpass.p_color_attachments, subpass.color_attachment_count)?;
                    let resolve_attachments = if subpass.p_resolve_attachments.is_null()
                        || color_attachments.is_empty()
                    {
                        None
                    } else {
                        Some(references(
                            subpass.p_resolve_attachments,
                            subpass.color_attachment_count,
                        )?)
                    };
                    Ok(Subpass {
                        flags: subpass.flags,
                        pipeline_bind_point: subpass.pipeline_bind_point,
                        view_mask: subpass.view_mask,
                        input_attachments: references(
                            subpass.p_input_attachments,
                            subpass.input_attachment_count,
                        )?,
                        color_attachments,
                        resolve_attachments,
                        depth_stencil_attachment: match subpass.p_depth_stencil_attachment.as_ref()
                        {
                            Some(reference) => Some(reference_v2(reference)?),
                            None => None,
                        },
                        preserve_attachments: raw::array(
                            subpass.p_preserve_attachments,
                            subpass.preserve_attachment_count,
                        )?
                        .to_vec(),
                        depth_stencil_resolve,
                    })
                })
                .collect::<Result<Vec<_>, NotRecorded>>()?;
            let dependencies = raw::array(info.p_dependencies, info.dependency_count)?
                .iter()
                .map(|dependency| {
                    raw::walk_chain(dependency.p_next, "VkSubpassDependency2", |_, _| Ok(false))?;
                    Ok(SubpassDependency {
                        src_subpass: dependency.src_subpass,
                        dst_subpass: dependency.dst_subpass,
                        src_stage_mask: dependency.src_stage_mask,
                        dst_stage_mask: dependency.dst_stage_mask,
                        src_access_mask: dependency.src_access_mask,
                        dst_access_mask: dependency.dst_access_mask,
                        dependency_flags: dependency.dependency_flags,
                        view_offset: dependency.view_offset,
                    })
                })
                .collect::<Result<Vec<_>, NotRecorded>>()?;
            Ok(Self {
                api: RenderPassApi::V2,
                flags: info.flags,
                attachments,
                subpasses,
                dependencies,
                correlated_view_masks: raw::array(
                    info.p_correlated_view_masks,
                    info.correlated_view_mask_count,
                )?
                .to_vec(),
            })
        }
    }

    /// The create-info to recreate this render pass, for the call [`RenderPassRecipe::api`]
    /// names.
    ///
    /// # Errors
    /// [`BuildError::Inconsistent`] for resolve lists that are not one per color attachment,
    /// or V2-only state (stencil layouts, depth-stencil resolve, aspects of non-input
    /// references) in a V1 recipe.
    pub fn build(&self) -> Result<RenderPassBuild, BuildError> {
        for subpass in &self.subpasses {
            if subpass
                .resolve_attachments
                .as_ref()
                .is_some_and(|resolves| resolves.len() != subpass.color_attachments.len())
            {
                return Err(BuildError::Inconsistent(
                    "resolve attachments not one per color attachment",
                ));
            }
        }
        let flat = FlatReferences::new(&self.subpasses);
        match self.api {
            RenderPassApi::V1 => self.build_v1(flat).map(RenderPassBuild::V1),
            RenderPassApi::V2 => Ok(RenderPassBuild::V2(self.build_v2(flat))),
        }
    }

    fn build_v1(&self, flat: FlatReferences<'_>) -> Result<RenderPassBuildV1, BuildError> {
        let v2_only = self
            .attachments
            .iter()
            .any(|attachment| attachment.stencil_layouts.is_some())
            || self.subpasses.iter().any(|subpass| {
                subpass.depth_stencil_resolve.is_some()
                    || subpass
                        .color_attachments
                        .iter()
                        .chain(subpass.resolve_attachments.iter().flatten())
                        .chain(&subpass.depth_stencil_attachment)
                        .any(|reference| !reference.aspect_mask.is_empty())
            })
            || flat
                .references
                .iter()
                .any(|reference| reference.stencil_layout.is_some());
        if v2_only {
            return Err(BuildError::Inconsistent(
                "VkRenderPassCreateInfo cannot carry VkRenderPassCreateInfo2-only state",
            ));
        }
        let attachments: Vec<vk::AttachmentDescription> = self
            .attachments
            .iter()
            .map(|attachment| vk::AttachmentDescription {
                flags: attachment.flags,
                format: attachment.format,
                samples: attachment.samples,
                load_op: attachment.load_op,
                store_op: attachment.store_op,
                stencil_load_op: attachment.stencil_load_op,
                stencil_store_op: attachment.stencil_store_op,
                initial_layout: attachment.initial_layout,
                final_layout: attachment.final_layout,
            })
            .collect();
        let references: Vec<vk::AttachmentReference> = flat
            .references
            .iter()
            .map(|reference| vk::AttachmentReference {
                attachment: reference.attachment,
                layout: reference.layout,
            })
            .collect();
        let preserve = self.preserve_lists();
        let subpasses: Vec<vk::SubpassDescription<'static>> = self
            .subpasses
            .iter()
            .zip(&flat.ranges)
            .zip(&preserve)
            .map(|((subpass, ranges), preserve)| {
                let (input_attachment_count, p_input_attachments) =
                    raw::parts(&references[ranges.inputs.clone()]);
                let (color_attachment_count, p_color_attachments) =
                    raw::parts(&references[ranges.colors.clone()]);
                let (preserve_attachment_count, p_preserve_attachments) = raw::parts(preserve);
                vk::SubpassDescription {
                    flags: subpass.flags,
                    pipeline_bind_point: subpass.pipeline_bind_point,
                    input_attachment_count,
                    p_input_attachments,
                    color_attachment_count,
                    p_color_attachments,
                    p_resolve_attachments: raw::parts(&references[ranges.resolves.clone()]).1,
                    p_depth_stencil_attachment: raw::parts(
                        &references[ranges.depth_stencil.clone()],
                    )
                    .1,
                    preserve_attachment_count,
                    p_preserve_attachments,
                    ..Default::default()
                }
            })
            .collect();
        let dependencies: Vec<vk::SubpassDependency> = self
            .dependencies
            .iter()
            .map(|dependency| vk::SubpassDependency {
                src_subpass: dependency.src_subpass,
                dst_subpass: dependency.dst_subpass,
                src_stage_mask: dependency.src_stage_mask,
                dst_stage_mask: dependency.dst_stage_mask,
                src_access_mask: dependency.src_access_mask,
                dst_access_mask: dependency.dst_access_mask,
                dependency_flags: dependency.dependency_flags,
            })
            .collect();
        let view_masks: Vec<u32> = if self.subpasses.iter().any(|subpass| subpass.view_mask != 0) {
            self.subpasses
                .iter()
                .map(|subpass| subpass.view_mask)
                .collect()
        } else {
            Vec::new()
        };
        let view_offsets: Vec<i32> = if self
            .dependencies
            .iter()
            .any(|dependency| dependency.view_offset != 0)
        {
            self.dependencies
                .iter()
                .map(|dependency| dependency.view_offset)
                .collect()
        } else {
            Vec::new()
        };
        let aspects: Vec<vk::InputAttachmentAspectReference> = self
            .subpasses
            .iter()
            .enumerate()
            .flat_map(|(subpass, description)| {
                description
                    .input_attachments
                    .iter()
                    .enumerate()
                    .filter(|(_, reference)| !reference.aspect_mask.is_empty())
                    .map(
                        move |(index, reference)| vk::InputAttachmentAspectReference {
                            subpass: subpass as u32,
                            input_attachment_index: index as u32,
                            aspect_mask: reference.aspect_mask,
                        },
                    )
            })
            .collect();
        let correlated_view_masks = self.correlated_view_masks.clone();
        let mut multiview = Vec::new();
        if !view_masks.is_empty() || !view_offsets.is_empty() || !correlated_view_masks.is_empty() {
            let (subpass_count, p_view_masks) = raw::parts(&view_masks);
            let (dependency_count, p_view_offsets) = raw::parts(&view_offsets);
            let (correlation_mask_count, p_correlation_masks) = raw::parts(&correlated_view_masks);
            multiview.push(vk::RenderPassMultiviewCreateInfo {
                subpass_count,
                p_view_masks,
                dependency_count,
                p_view_offsets,
                correlation_mask_count,
                p_correlation_masks,
                ..Default::default()
            });
        }
        let mut aspect_info = Vec::new();
        if !aspects.is_empty() {
            let (aspect_reference_count, p_aspect_references) = raw::parts(&aspects);
            aspect_info.push(vk::RenderPassInputAttachmentAspectCreateInfo {
                p_next: if multiview.is_empty() {
                    std::ptr::null()
                } else {
                    raw::link(&multiview)
                },
                aspect_reference_count,
                p_aspect_references,
                ..Default::default()
            });
        }
        let p_next = match (aspect_info.is_empty(), multiview.is_empty()) {
            (false, _) => raw::link(&aspect_info),
            (true, false) => raw::link(&multiview),
            (true, true) => std::ptr::null(),
        };
        let (attachment_count, p_attachments) = raw::parts(&attachments);
        let (subpass_count, p_subpasses) = raw::parts(&subpasses);
        let (dependency_count, p_dependencies) = raw::parts(&dependencies);
        let info = vk::RenderPassCreateInfo {
            p_next,
            flags: self.flags,
            attachment_count,
            p_attachments,
            subpass_count,
            p_subpasses,
            dependency_count,
            p_dependencies,
            ..Default::default()
        };
        Ok(RenderPassBuildV1 {
            _attachments: attachments,
            _references: references,
            _subpasses: subpasses,
            _preserve: preserve,
            _dependencies: dependencies,
            _view_masks: view_masks,
            _view_offsets: view_offsets,
            _correlated_view_masks: correlated_view_masks,
            _aspects: aspects,
            _multiview: multiview,
            _aspect_info: aspect_info,
            info,
        })
    }

    /// Copies of the subpasses' preserve lists, for a build to point into.
    fn preserve_lists(&self) -> Vec<Vec<u32>> {
        self.subpasses
            .iter()
            .map(|subpass| subpass.preserve_attachments.clone())
            .collect()
    }

    fn build_v2(&self, flat: FlatReferences<'_>) -> RenderPassBuildV2 {
        let attachment_stencils: Vec<vk::AttachmentDescriptionStencilLayout<'static>> = self
            .attachments
            .iter()
            .filter_map(|attachment| attachment.stencil_layouts.as_ref())
            .map(|stencil| vk::AttachmentDescriptionStencilLayout {
                stencil_initial_layout: stencil.initial_layout,
                stencil_final_layout: stencil.final_layout,
                ..Default::default()
            })
            .collect();
        let mut stencil_links = raw::OptionalLinks::new(&attachment_stencils);
        let attachments: Vec<vk::AttachmentDescription2<'static>> = self
            .attachments
            .iter()
            .map(|attachment| vk::AttachmentDescription2 {
                p_next: stencil_links.next(attachment.stencil_layouts.is_some()),
                flags: attachment.flags,
                format: attachment.format,
                samples: attachment.samples,
                load_op: attachment.load_op,
                store_op: attachment.store_op,
                stencil_load_op: attachment.stencil_load_op,
                stencil_store_op: attachment.stencil_store_op,
                initial_layout: attachment.initial_layout,
                final_layout: attachment.final_layout,
                ..Default::default()
            })
            .collect();
        let reference_stencils: Vec<vk::AttachmentReferenceStencilLayout<'static>> = flat
            .references
            .iter()
            .filter_map(|reference| reference.stencil_layout.as_ref())
            .map(|stencil| vk::AttachmentReferenceStencilLayout {
                stencil_layout: stencil.layout,
                ..Default::default()
            })
            .collect();
        let mut stencil_links = raw::OptionalLinks::new(&reference_stencils);
        let references: Vec<vk::AttachmentReference2<'static>> = flat
            .references
            .iter()
            .map(|reference| vk::AttachmentReference2 {
                p_next: stencil_links.next(reference.stencil_layout.is_some()),
                attachment: reference.attachment,
                layout: reference.layout,
                aspect_mask: reference.aspect_mask,
                ..Default::default()
            })
            .collect();
        let resolves: Vec<vk::SubpassDescriptionDepthStencilResolve<'static>> = self
            .subpasses
            .iter()
            .zip(&flat.ranges)
            .filter_map(|(subpass, ranges)| {
                subpass.depth_stencil_resolve.as_ref().map(|resolve| {
                    vk::SubpassDescriptionDepthStencilResolve {
                        depth_resolve_mode: resolve.depth_resolve_mode,
                        stencil_resolve_mode: resolve.stencil_resolve_mode,
                        p_depth_stencil_resolve_attachment: raw::parts(
                            &references[ranges.depth_stencil_resolve.clone()],
                        )
                        .1,
                        ..Default::default()
                    }
                })
            })
            .collect();
        let preserve = self.preserve_lists();
        let mut resolve_links = raw::OptionalLinks::new(&resolves);
        let subpasses: Vec<vk::SubpassDescription2<'static>> = self
            .subpasses
            .iter()
            .zip(&flat.ranges)
            .zip(&preserve)
            .map(|((subpass, ranges), preserve)| {
                let (input_attachment_count, p_input_attachments) =
                    raw::parts(&references[ranges.inputs.clone()]);
                let (color_attachment_count, p_color_attachments) =
                    raw::parts(&references[ranges.colors.clone()]);
                let (preserve_attachment_count, p_preserve_attachments) = raw::parts(preserve);
                vk::SubpassDescription2 {
                    p_next: resolve_links.next(subpass.depth_stencil_resolve.is_some()),
                    flags: subpass.flags,
                    pipeline_bind_point: subpass.pipeline_bind_point,
                    view_mask: subpass.view_mask,
                    input_attachment_count,
                    p_input_attachments,
                    color_attachment_count,
                    p_color_attachments,
                    p_resolve_attachments: raw::parts(&references[ranges.resolves.clone()]).1,
                    p_depth_stencil_attachment: raw::parts(
                        &references[ranges.depth_stencil.clone()],
                    )
                    .1,
                    preserve_attachment_count,
                    p_preserve_attachments,
                    ..Default::default()
                }
            })
            .collect();
        let dependencies: Vec<vk::SubpassDependency2<'static>> = self
            .dependencies
            .iter()
            .map(|dependency| vk::SubpassDependency2 {
                src_subpass: dependency.src_subpass,
                dst_subpass: dependency.dst_subpass,
                src_stage_mask: dependency.src_stage_mask,
                dst_stage_mask: dependency.dst_stage_mask,
                src_access_mask: dependency.src_access_mask,
                dst_access_mask: dependency.dst_access_mask,
                dependency_flags: dependency.dependency_flags,
                view_offset: dependency.view_offset,
                ..Default::default()
            })
            .collect();
        let correlated_view_masks = self.correlated_view_masks.clone();
        let (attachment_count, p_attachments) = raw::parts(&attachments);
        let (subpass_count, p_subpasses) = raw::parts(&subpasses);
        let (dependency_count, p_dependencies) = raw::parts(&dependencies);
        let (correlated_view_mask_count, p_correlated_view_masks) =
            raw::parts(&correlated_view_masks);
        let info = vk::RenderPassCreateInfo2 {
            flags: self.flags,
            attachment_count,
            p_attachments,
            subpass_count,
            p_subpasses,
            dependency_count,
            p_dependencies,
            correlated_view_mask_count,
            p_correlated_view_masks,
            ..Default::default()
        };
        RenderPassBuildV2 {
            _attachment_stencils: attachment_stencils,
            _attachments: attachments,
            _reference_stencils: reference_stencils,
            _references: references,
            _resolves: resolves,
            _subpasses: subpasses,
            _preserve: preserve,
            _dependencies: dependencies,
            _correlated_view_masks: correlated_view_masks,
            info,
        }
    }
}

/// Every attachment reference of a render pass in one list (per subpass: inputs, colors,
/// resolves, depth-stencil, depth-stencil resolve), and where each subpass's part is.
struct FlatReferences<'a> {
    references: Vec<&'a AttachmentReference>,
    ranges: Vec<SubpassRanges>,
}

struct SubpassRanges {
    inputs: std::ops::Range<usize>,
    colors: std::ops::Range<usize>,
    resolves: std::ops::Range<usize>,
    depth_stencil: std::ops::Range<usize>,
    depth_stencil_resolve: std::ops::Range<usize>,
}

impl<'a> FlatReferences<'a> {
    fn new(subpasses: &'a [Subpass]) -> Self {
        let mut references = Vec::new();
        let mut ranges = Vec::with_capacity(subpasses.len());
        for subpass in subpasses {
            let mut push = |part: &mut dyn Iterator<Item = &'a AttachmentReference>| {
                let start = references.len();
                references.extend(part);
                start..references.len()
            };
            ranges.push(SubpassRanges {
                inputs: push(&mut subpass.input_attachments.iter()),
                colors: push(&mut subpass.color_attachments.iter()),
                resolves: push(&mut subpass.resolve_attachments.iter().flatten()),
                depth_stencil: push(&mut subpass.depth_stencil_attachment.iter()),
                depth_stencil_resolve: push(
                    &mut subpass
                        .depth_stencil_resolve
                        .iter()
                        .filter_map(|resolve| resolve.attachment.as_ref()),
                ),
            });
        }
        Self { references, ranges }
    }
}

/// The create-info to recreate a render pass, and the storage it points into.
pub enum RenderPassBuild {
    /// For `vkCreateRenderPass`.
    V1(RenderPassBuildV1),
    /// For `vkCreateRenderPass2`.
    V2(RenderPassBuildV2),
}

/// A `VkRenderPassCreateInfo` and the storage it points into.
pub struct RenderPassBuildV1 {
    /// What `info` points into.
    _attachments: Vec<vk::AttachmentDescription>,
    _references: Vec<vk::AttachmentReference>,
    _subpasses: Vec<vk::SubpassDescription<'static>>,
    _preserve: Vec<Vec<u32>>,
    _dependencies: Vec<vk::SubpassDependency>,
    _view_masks: Vec<u32>,
    _view_offsets: Vec<i32>,
    _correlated_view_masks: Vec<u32>,
    _aspects: Vec<vk::InputAttachmentAspectReference>,
    _multiview: Vec<vk::RenderPassMultiviewCreateInfo<'static>>,
    _aspect_info: Vec<vk::RenderPassInputAttachmentAspectCreateInfo<'static>>,
    info: vk::RenderPassCreateInfo<'static>,
}

impl RenderPassBuildV1 {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::RenderPassCreateInfo<'_> {
        &self.info
    }
}

/// A `VkRenderPassCreateInfo2` and the storage it points into.
pub struct RenderPassBuildV2 {
    /// What `info` points into.
    _attachment_stencils: Vec<vk::AttachmentDescriptionStencilLayout<'static>>,
    _attachments: Vec<vk::AttachmentDescription2<'static>>,
    _reference_stencils: Vec<vk::AttachmentReferenceStencilLayout<'static>>,
    _references: Vec<vk::AttachmentReference2<'static>>,
    _resolves: Vec<vk::SubpassDescriptionDepthStencilResolve<'static>>,
    _subpasses: Vec<vk::SubpassDescription2<'static>>,
    _preserve: Vec<Vec<u32>>,
    _dependencies: Vec<vk::SubpassDependency2<'static>>,
    _correlated_view_masks: Vec<u32>,
    info: vk::RenderPassCreateInfo2<'static>,
}

impl RenderPassBuildV2 {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::RenderPassCreateInfo2<'_> {
        &self.info
    }
}
