//! Shader stages of compute and graphics pipelines.

use std::ffi::c_char;

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::{Recipe, RecipeKey};
use super::raw;
use super::resolve::{RecipeHandles, RecipeKeys};
use super::shader::ShaderModuleRecipe;
use super::wire::recipe_struct;

recipe_struct! {
    /// `VkPipelineShaderStageCreateInfo`.
    pub struct ShaderStage {
        /// `flags`.
        pub flags: vk::PipelineShaderStageCreateFlags,
        /// `stage`.
        pub stage: vk::ShaderStageFlags,
        /// The module's recipe key: of `module`, or of the `VkShaderModuleCreateInfo` chained
        /// to the stage (maintenance5), which is recorded as a module of its own.
        pub module: RecipeKey,
        /// `pName`, without its NUL.
        pub entry_point: Vec<u8>,
        /// `pSpecializationInfo`.
        pub specialization: Option<Specialization>,
    }
    chain {
        /// `VkPipelineShaderStageRequiredSubgroupSizeCreateInfo`.
        required_subgroup_size: RequiredSubgroupSize =
            PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
    }
}

recipe_struct! {
    /// `VkSpecializationInfo`.
    #[derive(Default)]
    pub struct Specialization {
        /// `pMapEntries`.
        pub map_entries: Vec<SpecializationMapEntry>,
        /// `pData` (`dataSize` bytes).
        pub data: Vec<u8>,
    }
}

recipe_struct! {
    /// `VkSpecializationMapEntry`.
    pub struct SpecializationMapEntry {
        /// `constantID`.
        pub constant_id: u32,
        /// `offset`.
        pub offset: u32,
        /// `size` (a `size_t` in Vulkan; constants are at most 8 bytes).
        pub size: u32,
    }
}

recipe_struct! {
    /// `VkPipelineShaderStageRequiredSubgroupSizeCreateInfo`.
    pub struct RequiredSubgroupSize {
        /// `requiredSubgroupSize`.
        pub size: u32,
    }
}

impl ShaderStage {
    /// Records one stage. A module given inline (a `VkShaderModuleCreateInfo` in the stage's
    /// chain, with `module` null) is recorded as a module recipe of its own, appended to
    /// `inline_modules`, and referred to by key like any other.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for pipeline creation.
    pub(crate) unsafe fn capture(
        info: &vk::PipelineShaderStageCreateInfo<'_>,
        keys: &impl RecipeKeys,
        inline_modules: &mut Vec<ShaderModuleRecipe>,
    ) -> Result<Self, NotRecorded> {
        let mut required_subgroup_size = None;
        let mut inline = None;
        // SAFETY: a valid chain (caller); each entry is cast to the type its sType names.
        unsafe {
            raw::walk_chain(
                info.p_next,
                "VkPipelineShaderStageCreateInfo",
                |s_type, entry| {
                    match s_type {
                    vk::StructureType::PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO => {
                        let size: &vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo<'_> =
                            raw::cast(entry);
                        required_subgroup_size = Some(RequiredSubgroupSize {
                            size: size.required_subgroup_size,
                        });
                    }
                    vk::StructureType::SHADER_MODULE_CREATE_INFO => {
                        inline = Some(ShaderModuleRecipe::capture_code(raw::cast(entry))?);
                    }
                    _ => return Ok(false),
                }
                    Ok(true)
                },
            )?;
        }
        let module = match (info.module == vk::ShaderModule::null(), inline) {
            (false, None) => keys
                .shader_module(info.module)
                .ok_or(NotRecorded::UnknownHandle {
                    kind: "VkShaderModule",
                    raw: vk::Handle::as_raw(info.module),
                })?,
            (true, Some(module)) => {
                let key = module.key();
                inline_modules.push(module);
                key
            }
            (false, Some(_)) => {
                return Err(NotRecorded::Unsupported(
                    "a stage with both a module and a chained VkShaderModuleCreateInfo",
                ))
            }
            (true, None) => return Err(NotRecorded::Unsupported("a stage without a module")),
        };
        // SAFETY: null or a valid specialization info with the counts and size it states.
        let specialization = match unsafe { info.p_specialization_info.as_ref() } {
            None => None,
            Some(specialization) => {
                // SAFETY: as above.
                let (entries, data) = unsafe {
                    (
                        raw::array(specialization.p_map_entries, specialization.map_entry_count)?,
                        raw::array(
                            specialization.p_data.cast::<u8>(),
                            u32::try_from(specialization.data_size).map_err(|_| {
                                NotRecorded::Unsupported("specialization data over 4 GiB")
                            })?,
                        )?,
                    )
                };
                let map_entries = entries
                    .iter()
                    .map(|entry| {
                        Ok(SpecializationMapEntry {
                            constant_id: entry.constant_id,
                            offset: entry.offset,
                            size: u32::try_from(entry.size).map_err(|_| {
                                NotRecorded::Unsupported("a specialization constant over 4 GiB")
                            })?,
                        })
                    })
                    .collect::<Result<Vec<_>, NotRecorded>>()?;
                Some(Specialization {
                    map_entries,
                    data: data.to_vec(),
                })
            }
        };
        Ok(Self {
            flags: info.flags,
            stage: info.stage,
            module,
            // SAFETY: a NUL-terminated name (caller).
            entry_point: unsafe { raw::name(info.p_name)? },
            specialization,
            required_subgroup_size,
        })
    }

    /// The stage's create-info with its module from `handles`.
    pub(crate) fn build(&self, handles: &impl RecipeHandles) -> Result<StageBuild, BuildError> {
        let module = handles
            .shader_module(&self.module)
            .ok_or(BuildError::MissingHandle {
                kind: "VkShaderModule",
                key: self.module,
            })?;
        let name = raw::c_name(&self.entry_point, "an entry point name with a NUL")?;
        let (entries, data) = match &self.specialization {
            None => (Vec::new(), Vec::new()),
            Some(specialization) => {
                let fits = specialization.map_entries.iter().all(|entry| {
                    u64::from(entry.offset) + u64::from(entry.size)
                        <= specialization.data.len() as u64
                });
                if !fits {
                    return Err(BuildError::Inconsistent(
                        "a specialization constant outside its data",
                    ));
                }
                let entries: Vec<vk::SpecializationMapEntry> = specialization
                    .map_entries
                    .iter()
                    .map(|entry| vk::SpecializationMapEntry {
                        constant_id: entry.constant_id,
                        offset: entry.offset,
                        size: entry.size as usize,
                    })
                    .collect();
                (entries, specialization.data.clone())
            }
        };
        let specialization: Vec<vk::SpecializationInfo<'static>> = self
            .specialization
            .iter()
            .map(|_| {
                let (map_entry_count, p_map_entries) = raw::parts(&entries);
                vk::SpecializationInfo {
                    map_entry_count,
                    p_map_entries,
                    data_size: data.len(),
                    p_data: raw::parts(&data).1.cast(),
                    ..Default::default()
                }
            })
            .collect();
        let subgroup: Vec<vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo<'static>> = self
            .required_subgroup_size
            .iter()
            .map(
                |size| vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo {
                    required_subgroup_size: size.size,
                    ..Default::default()
                },
            )
            .collect();
        let info = vk::PipelineShaderStageCreateInfo {
            p_next: if subgroup.is_empty() {
                std::ptr::null()
            } else {
                raw::link(&subgroup)
            },
            flags: self.flags,
            stage: self.stage,
            module,
            p_name: name.as_ptr().cast::<c_char>(),
            p_specialization_info: raw::parts(&specialization).1,
            ..Default::default()
        };
        Ok(StageBuild {
            _name: name,
            _entries: entries,
            _data: data,
            _specialization: specialization,
            _subgroup: subgroup,
            info,
        })
    }
}

/// One stage's create-info and the storage it points into.
pub(crate) struct StageBuild {
    /// What `info` points into.
    _name: Vec<u8>,
    _entries: Vec<vk::SpecializationMapEntry>,
    _data: Vec<u8>,
    _specialization: Vec<vk::SpecializationInfo<'static>>,
    _subgroup: Vec<vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo<'static>>,
    /// The create-info, valid as long as this value.
    pub(crate) info: vk::PipelineShaderStageCreateInfo<'static>,
}

/// A pipeline's recipe and the modules its stages gave inline (each to be stored like a module
/// created with `vkCreateShaderModule`, under its own key).
#[derive(Clone, Debug, PartialEq)]
pub struct Captured<T> {
    /// The pipeline's recipe.
    pub recipe: T,
    /// Modules given as a `VkShaderModuleCreateInfo` in a stage's chain.
    pub inline_modules: Vec<ShaderModuleRecipe>,
}

/// Create flags that only mean something inside the creating process. Derivatives name a base
/// pipeline by handle or by index in the same call, neither of which exists at replay: the
/// relationship is dropped (`basePipelineHandle` and `basePipelineIndex` are not recorded) and
/// the pipeline replays as a plain one. `FAIL_ON_PIPELINE_COMPILE_REQUIRED` and
/// `EARLY_RETURN_ON_FAILURE` ask the driver not to compile, which would make a replay do
/// nothing: the pipeline is recorded as the compile the application falls back to.
const PROCESS_LOCAL_FLAGS: vk::PipelineCreateFlags = vk::PipelineCreateFlags::from_raw(
    vk::PipelineCreateFlags::DERIVATIVE.as_raw()
        | vk::PipelineCreateFlags::FAIL_ON_PIPELINE_COMPILE_REQUIRED.as_raw()
        | vk::PipelineCreateFlags::EARLY_RETURN_ON_FAILURE.as_raw(),
);

/// Flags of pipeline libraries: not recordable yet (the format leaves room for them).
const LIBRARY_FLAGS: vk::PipelineCreateFlags = vk::PipelineCreateFlags::from_raw(
    vk::PipelineCreateFlags::LIBRARY_KHR.as_raw()
        | vk::PipelineCreateFlags::RETAIN_LINK_TIME_OPTIMIZATION_INFO_EXT.as_raw()
        | vk::PipelineCreateFlags::LINK_TIME_OPTIMIZATION_EXT.as_raw(),
);

/// The flags recorded for a pipeline created with `flags`.
pub(crate) fn recorded_flags(
    flags: vk::PipelineCreateFlags,
) -> Result<vk::PipelineCreateFlags, NotRecorded> {
    if flags.intersects(LIBRARY_FLAGS) {
        return Err(NotRecorded::Unsupported(
            "pipeline libraries are not recorded yet",
        ));
    }
    Ok(flags & !PROCESS_LOCAL_FLAGS)
}

/// Checks that a recipe's flags are ones recording can produce.
pub(crate) fn buildable_flags(flags: vk::PipelineCreateFlags) -> Result<(), BuildError> {
    if flags.intersects(PROCESS_LOCAL_FLAGS | LIBRARY_FLAGS) {
        return Err(BuildError::Inconsistent(
            "derivative, library or no-compile flags in a pipeline recipe",
        ));
    }
    Ok(())
}
