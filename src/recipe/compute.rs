//! Compute pipeline recipes.

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::{impl_recipe, RecipeKey};
use super::raw;
use super::resolve::{RecipeHandles, RecipeKeys};
use super::stage::{buildable_flags, recorded_flags, Captured, ShaderStage, StageBuild};
use super::wire::recipe_struct;

recipe_struct! {
    /// `VkComputePipelineCreateInfo`, without `basePipelineHandle` and `basePipelineIndex`
    /// (derivatives are dropped, see [`ComputePipelineRecipe::capture`]).
    pub struct ComputePipelineRecipe {
        /// `flags`, without the process-local ones.
        pub flags: vk::PipelineCreateFlags,
        /// `stage`.
        pub stage: ShaderStage,
        /// `layout` by recipe key.
        pub layout: RecipeKey,
    }
    chain {}
}

impl_recipe!(ComputePipelineRecipe, ComputePipeline, 1);

impl ComputePipelineRecipe {
    /// Records a compute pipeline. `VkPipelineCreationFeedbackCreateInfo` is ignored (it only
    /// reports on this creation); any other pNext structure makes the pipeline not recorded.
    /// A derivative is recorded as a plain pipeline; `FAIL_ON_PIPELINE_COMPILE_REQUIRED` and
    /// `EARLY_RETURN_ON_FAILURE` are dropped; pipeline libraries are not recorded.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateComputePipelines`.
    ///
    /// # Errors
    /// [`NotRecorded`]: an unknown pNext structure, a handle without a recipe, a library.
    pub unsafe fn capture(
        info: &vk::ComputePipelineCreateInfo<'_>,
        keys: &impl RecipeKeys,
    ) -> Result<Captured<Self>, NotRecorded> {
        // SAFETY: a valid chain (caller).
        unsafe {
            raw::walk_chain(info.p_next, "VkComputePipelineCreateInfo", |s_type, _| {
                Ok(s_type == vk::StructureType::PIPELINE_CREATION_FEEDBACK_CREATE_INFO)
            })?;
        }
        let flags = recorded_flags(info.flags)?;
        let mut inline_modules = Vec::new();
        // SAFETY: a valid stage (caller).
        let stage = unsafe { ShaderStage::capture(&info.stage, keys, &mut inline_modules)? };
        let layout = keys
            .pipeline_layout(info.layout)
            .ok_or(NotRecorded::UnknownHandle {
                kind: "VkPipelineLayout",
                raw: vk::Handle::as_raw(info.layout),
            })?;
        Ok(Captured {
            recipe: Self {
                flags,
                stage,
                layout,
            },
            inline_modules,
        })
    }

    /// The recipes this pipeline refers to: its module and layout.
    pub fn references(&self) -> impl Iterator<Item = &RecipeKey> {
        [&self.stage.module, &self.layout].into_iter()
    }

    /// The create-info to recreate this pipeline, with its module and layout from `handles`.
    ///
    /// # Errors
    /// [`BuildError`]: a missing handle, or an inconsistent stage.
    pub fn build(&self, handles: &impl RecipeHandles) -> Result<ComputePipelineBuild, BuildError> {
        buildable_flags(self.flags)?;
        let stage = self.stage.build(handles)?;
        let layout = handles
            .pipeline_layout(&self.layout)
            .ok_or(BuildError::MissingHandle {
                kind: "VkPipelineLayout",
                key: self.layout,
            })?;
        let info = vk::ComputePipelineCreateInfo {
            flags: self.flags,
            stage: stage.info,
            layout,
            base_pipeline_index: -1,
            ..Default::default()
        };
        Ok(ComputePipelineBuild {
            _stage: stage,
            info,
        })
    }
}

/// A `VkComputePipelineCreateInfo` and the storage it points into.
pub struct ComputePipelineBuild {
    /// What `info` points into.
    _stage: StageBuild,
    info: vk::ComputePipelineCreateInfo<'static>,
}

impl ComputePipelineBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::ComputePipelineCreateInfo<'_> {
        &self.info
    }
}
