//! Shader module recipes: the SPIR-V words.

use ash::vk;

use super::error::{BuildError, NotRecorded};
use super::key::impl_recipe;
use super::raw;
use super::wire::recipe_struct;

recipe_struct! {
    /// `VkShaderModuleCreateInfo`.
    pub struct ShaderModuleRecipe {
        /// `flags` (reserved by Vulkan; kept as given).
        pub flags: vk::ShaderModuleCreateFlags,
        /// The SPIR-V words (`pCode`, `codeSize / 4` of them).
        pub code: Vec<u32>,
    }
    chain {}
}

impl_recipe!(ShaderModuleRecipe, ShaderModule, 1);

impl ShaderModuleRecipe {
    /// Records a module. Its pNext chain must be empty (no structure extending
    /// `VkShaderModuleCreateInfo` is known yet; `VkShaderModuleValidationCacheCreateInfoEXT`
    /// names a process-local handle).
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateShaderModule` (a chain of valid
    /// structures, `codeSize` bytes at `pCode`).
    ///
    /// # Errors
    /// [`NotRecorded`] for a pNext structure, or a `codeSize` that is 0 or not a multiple of 4.
    pub unsafe fn capture(info: &vk::ShaderModuleCreateInfo<'_>) -> Result<Self, NotRecorded> {
        // SAFETY: a valid chain (caller).
        unsafe { raw::walk_chain(info.p_next, "VkShaderModuleCreateInfo", |_, _| Ok(false))? };
        // SAFETY: the same rules (caller); the chain was empty.
        unsafe { Self::capture_code(info) }
    }

    /// The module given in a pipeline stage's pNext chain (maintenance5): its chain is the
    /// stage's, already walked by the caller.
    ///
    /// # Safety
    /// As [`ShaderModuleRecipe::capture`].
    pub(crate) unsafe fn capture_code(
        info: &vk::ShaderModuleCreateInfo<'_>,
    ) -> Result<Self, NotRecorded> {
        if info.code_size == 0 || info.code_size % 4 != 0 {
            return Err(NotRecorded::Unsupported(
                "a shader module whose codeSize is 0 or not a multiple of 4",
            ));
        }
        let words = u32::try_from(info.code_size / 4)
            .map_err(|_| NotRecorded::Unsupported("a shader module over 16 GiB"))?;
        // SAFETY: `codeSize` bytes at `pCode` (caller).
        let code = unsafe { raw::array(info.p_code, words)? }.to_vec();
        Ok(Self {
            flags: info.flags,
            code,
        })
    }

    /// The create-info to recreate this module.
    ///
    /// # Errors
    /// [`BuildError::Inconsistent`] for a recipe without code.
    pub fn build(&self) -> Result<ShaderModuleBuild, BuildError> {
        if self.code.is_empty() {
            return Err(BuildError::Inconsistent("a shader module without code"));
        }
        let code = self.code.clone();
        let info = vk::ShaderModuleCreateInfo {
            flags: self.flags,
            code_size: code.len() * 4,
            p_code: code.as_ptr(),
            ..Default::default()
        };
        Ok(ShaderModuleBuild { _code: code, info })
    }
}

/// A `VkShaderModuleCreateInfo` and the storage it points into.
pub struct ShaderModuleBuild {
    /// What `info` points into.
    _code: Vec<u32>,
    info: vk::ShaderModuleCreateInfo<'static>,
}

impl ShaderModuleBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::ShaderModuleCreateInfo<'_> {
        &self.info
    }
}
