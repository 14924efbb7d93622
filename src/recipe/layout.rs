//! Descriptor set layout and pipeline layout recipes.

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::{impl_recipe, RecipeKey};
use super::raw;
use super::resolve::{RecipeHandles, RecipeKeys};
use super::wire::recipe_struct;

recipe_struct! {
    /// `VkDescriptorSetLayoutCreateInfo`, with `VkDescriptorSetLayoutBindingFlagsCreateInfo`
    /// folded into the bindings (absent and all-zero flags mean the same).
    pub struct DescriptorSetLayoutRecipe {
        /// `flags`.
        pub flags: vk::DescriptorSetLayoutCreateFlags,
        /// `pBindings`, in the application's order.
        pub bindings: Vec<DescriptorBinding>,
    }
    chain {}
}

recipe_struct! {
    /// `VkDescriptorSetLayoutBinding`.
    pub struct DescriptorBinding {
        /// `binding`.
        pub binding: u32,
        /// `descriptorType`.
        pub descriptor_type: vk::DescriptorType,
        /// `descriptorCount`.
        pub descriptor_count: u32,
        /// `stageFlags`.
        pub stage_flags: vk::ShaderStageFlags,
        /// `pImmutableSamplers` as sampler recipe keys, `descriptorCount` of them; only for
        /// sampler and combined image sampler bindings (Vulkan ignores it for others).
        pub immutable_samplers: Option<Vec<RecipeKey>>,
        /// This binding's `VkDescriptorSetLayoutBindingFlagsCreateInfo::pBindingFlags` entry.
        pub binding_flags: vk::DescriptorBindingFlags,
    }
}

impl_recipe!(DescriptorSetLayoutRecipe, DescriptorSetLayout, 1);

recipe_struct! {
    /// `VkPipelineLayoutCreateInfo`.
    pub struct PipelineLayoutRecipe {
        /// `flags`.
        pub flags: vk::PipelineLayoutCreateFlags,
        /// `pSetLayouts` by recipe key; `None` for `VK_NULL_HANDLE` (allowed with
        /// independent sets).
        pub set_layouts: Vec<Option<RecipeKey>>,
        /// `pPushConstantRanges`.
        pub push_constant_ranges: Vec<PushConstantRange>,
    }
    chain {}
}

recipe_struct! {
    /// `VkPushConstantRange`.
    pub struct PushConstantRange {
        /// `stageFlags`.
        pub stage_flags: vk::ShaderStageFlags,
        /// `offset`.
        pub offset: u32,
        /// `size`.
        pub size: u32,
    }
}

impl_recipe!(PipelineLayoutRecipe, PipelineLayout, 1);

fn takes_immutable_samplers(descriptor_type: vk::DescriptorType) -> bool {
    matches!(
        descriptor_type,
        vk::DescriptorType::SAMPLER | vk::DescriptorType::COMBINED_IMAGE_SAMPLER
    )
}

impl DescriptorSetLayoutRecipe {
    /// Records a set layout; its immutable samplers must have recipes in `keys`.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateDescriptorSetLayout`.
    ///
    /// # Errors
    /// [`NotRecorded`] for an unknown pNext structure (e.g. mutable descriptor types) or a
    /// sampler without a recipe.
    pub unsafe fn capture(
        info: &vk::DescriptorSetLayoutCreateInfo<'_>,
        keys: &impl RecipeKeys,
    ) -> Result<Self, NotRecorded> {
        let mut binding_flags: &[vk::DescriptorBindingFlags] = &[];
        // SAFETY: a valid chain (caller); each entry is cast to the type its sType names and
        // its arrays have the counts it states.
        unsafe {
            raw::walk_chain(
                info.p_next,
                "VkDescriptorSetLayoutCreateInfo",
                |s_type, entry| {
                    if s_type != vk::StructureType::DESCRIPTOR_SET_LAYOUT_BINDING_FLAGS_CREATE_INFO
                    {
                        return Ok(false);
                    }
                    let flags: &vk::DescriptorSetLayoutBindingFlagsCreateInfo<'_> =
                        raw::cast(entry);
                    binding_flags = raw::array(flags.p_binding_flags, flags.binding_count)?;
                    Ok(true)
                },
            )?;
        }
        // SAFETY: `bindingCount` bindings (caller).
        let bindings = unsafe { raw::array(info.p_bindings, info.binding_count)? };
        if !binding_flags.is_empty() && binding_flags.len() != bindings.len() {
            return Err(NotRecorded::Unsupported(
                "binding flags whose count differs from the binding count",
            ));
        }
        let bindings = bindings
            .iter()
            .enumerate()
            .map(|(index, binding)| {
                let immutable_samplers = if takes_immutable_samplers(binding.descriptor_type)
                    && binding.descriptor_count > 0
                    && !binding.p_immutable_samplers.is_null()
                {
                    // SAFETY: `descriptorCount` samplers when not null (caller).
                    let samplers = unsafe {
                        raw::array(binding.p_immutable_samplers, binding.descriptor_count)?
                    };
                    let keys = samplers
                        .iter()
                        .map(|sampler| {
                            keys.sampler(*sampler).ok_or(NotRecorded::UnknownHandle {
                                kind: "VkSampler",
                                raw: vk::Handle::as_raw(*sampler),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(keys)
                } else {
                    None
                };
                Ok(DescriptorBinding {
                    binding: binding.binding,
                    descriptor_type: binding.descriptor_type,
                    descriptor_count: binding.descriptor_count,
                    stage_flags: binding.stage_flags,
                    immutable_samplers,
                    binding_flags: binding_flags.get(index).copied().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, NotRecorded>>()?;
        Ok(Self {
            flags: info.flags,
            bindings,
        })
    }

    /// The sampler recipes this layout refers to.
    pub fn references(&self) -> impl Iterator<Item = &RecipeKey> {
        self.bindings
            .iter()
            .flat_map(|binding| binding.immutable_samplers.iter().flatten())
    }

    /// The create-info to recreate this layout, with its samplers from `handles`.
    ///
    /// # Errors
    /// [`BuildError::MissingHandle`] for a sampler not in `handles`;
    /// [`BuildError::Inconsistent`] when a binding's sampler list is not `descriptorCount`
    /// long.
    pub fn build(
        &self,
        handles: &impl RecipeHandles,
    ) -> Result<DescriptorSetLayoutBuild, BuildError> {
        let samplers: Vec<Vec<vk::Sampler>> = self
            .bindings
            .iter()
            .map(|binding| {
                let Some(keys) = &binding.immutable_samplers else {
                    return Ok(Vec::new());
                };
                if keys.len() != binding.descriptor_count as usize {
                    return Err(BuildError::Inconsistent(
                        "immutable samplers not descriptorCount long",
                    ));
                }
                keys.iter()
                    .map(|key| {
                        handles.sampler(key).ok_or(BuildError::MissingHandle {
                            kind: "VkSampler",
                            key: *key,
                        })
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        let bindings: Vec<vk::DescriptorSetLayoutBinding<'static>> = self
            .bindings
            .iter()
            .zip(&samplers)
            .map(|(binding, samplers)| vk::DescriptorSetLayoutBinding {
                binding: binding.binding,
                descriptor_type: binding.descriptor_type,
                descriptor_count: binding.descriptor_count,
                stage_flags: binding.stage_flags,
                p_immutable_samplers: raw::parts(samplers).1,
                ..Default::default()
            })
            .collect();
        let flags: Vec<vk::DescriptorBindingFlags> = if self
            .bindings
            .iter()
            .any(|binding| !binding.binding_flags.is_empty())
        {
            self.bindings
                .iter()
                .map(|binding| binding.binding_flags)
                .collect()
        } else {
            Vec::new()
        };
        let flags_info: Vec<_> = if flags.is_empty() {
            Vec::new()
        } else {
            let (binding_count, p_binding_flags) = raw::parts(&flags);
            vec![vk::DescriptorSetLayoutBindingFlagsCreateInfo {
                binding_count,
                p_binding_flags,
                ..Default::default()
            }]
        };
        let (binding_count, p_bindings) = raw::parts(&bindings);
        let info = vk::DescriptorSetLayoutCreateInfo {
            p_next: if flags_info.is_empty() {
                std::ptr::null()
            } else {
                raw::link(&flags_info)
            },
            flags: self.flags,
            binding_count,
            p_bindings,
            ..Default::default()
        };
        Ok(DescriptorSetLayoutBuild {
            _samplers: samplers,
            _bindings: bindings,
            _flags: flags,
            _flags_info: flags_info,
            info,
        })
    }
}

/// A `VkDescriptorSetLayoutCreateInfo` and the storage it points into.
pub struct DescriptorSetLayoutBuild {
    /// What `info` points into.
    _samplers: Vec<Vec<vk::Sampler>>,
    _bindings: Vec<vk::DescriptorSetLayoutBinding<'static>>,
    _flags: Vec<vk::DescriptorBindingFlags>,
    _flags_info: Vec<vk::DescriptorSetLayoutBindingFlagsCreateInfo<'static>>,
    info: vk::DescriptorSetLayoutCreateInfo<'static>,
}

impl DescriptorSetLayoutBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::DescriptorSetLayoutCreateInfo<'_> {
        &self.info
    }
}

impl PipelineLayoutRecipe {
    /// Records a pipeline layout; its set layouts must have recipes in `keys`.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreatePipelineLayout`.
    ///
    /// # Errors
    /// [`NotRecorded`] for any pNext structure or a set layout without a recipe.
    pub unsafe fn capture(
        info: &vk::PipelineLayoutCreateInfo<'_>,
        keys: &impl RecipeKeys,
    ) -> Result<Self, NotRecorded> {
        // SAFETY: a valid chain (caller).
        unsafe { raw::walk_chain(info.p_next, "VkPipelineLayoutCreateInfo", |_, _| Ok(false))? };
        // SAFETY: arrays with the counts stated (caller).
        let (set_layouts, ranges) = unsafe {
            (
                raw::array(info.p_set_layouts, info.set_layout_count)?,
                raw::array(info.p_push_constant_ranges, info.push_constant_range_count)?,
            )
        };
        let set_layouts = set_layouts
            .iter()
            .map(|layout| {
                if *layout == vk::DescriptorSetLayout::null() {
                    return Ok(None);
                }
                keys.descriptor_set_layout(*layout)
                    .map(Some)
                    .ok_or(NotRecorded::UnknownHandle {
                        kind: "VkDescriptorSetLayout",
                        raw: vk::Handle::as_raw(*layout),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            flags: info.flags,
            set_layouts,
            push_constant_ranges: ranges
                .iter()
                .map(|range| PushConstantRange {
                    stage_flags: range.stage_flags,
                    offset: range.offset,
                    size: range.size,
                })
                .collect(),
        })
    }

    /// The set layout recipes this layout refers to.
    pub fn references(&self) -> impl Iterator<Item = &RecipeKey> {
        self.set_layouts.iter().flatten()
    }

    /// The create-info to recreate this layout, with its set layouts from `handles`.
    ///
    /// # Errors
    /// [`BuildError::MissingHandle`] for a set layout not in `handles`.
    pub fn build(&self, handles: &impl RecipeHandles) -> Result<PipelineLayoutBuild, BuildError> {
        let set_layouts: Vec<vk::DescriptorSetLayout> = self
            .set_layouts
            .iter()
            .map(|key| match key {
                None => Ok(vk::DescriptorSetLayout::null()),
                Some(key) => handles
                    .descriptor_set_layout(key)
                    .ok_or(BuildError::MissingHandle {
                        kind: "VkDescriptorSetLayout",
                        key: *key,
                    }),
            })
            .collect::<Result<_, _>>()?;
        let ranges: Vec<vk::PushConstantRange> = self
            .push_constant_ranges
            .iter()
            .map(|range| vk::PushConstantRange {
                stage_flags: range.stage_flags,
                offset: range.offset,
                size: range.size,
            })
            .collect();
        let (set_layout_count, p_set_layouts) = raw::parts(&set_layouts);
        let (push_constant_range_count, p_push_constant_ranges) = raw::parts(&ranges);
        let info = vk::PipelineLayoutCreateInfo {
            flags: self.flags,
            set_layout_count,
            p_set_layouts,
            push_constant_range_count,
            p_push_constant_ranges,
            ..Default::default()
        };
        Ok(PipelineLayoutBuild {
            _set_layouts: set_layouts,
            _ranges: ranges,
            info,
        })
    }
}

/// A `VkPipelineLayoutCreateInfo` and the storage it points into.
pub struct PipelineLayoutBuild {
    /// What `info` points into.
    _set_layouts: Vec<vk::DescriptorSetLayout>,
    _ranges: Vec<vk::PushConstantRange>,
    info: vk::PipelineLayoutCreateInfo<'static>,
}

impl PipelineLayoutBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::PipelineLayoutCreateInfo<'_> {
        &self.info
    }
}
