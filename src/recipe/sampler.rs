//! Sampler recipes: the immutable samplers of descriptor set layouts.
//!
//! `VkSamplerYcbcrConversionInfo` is not recordable yet: it names a `VkSamplerYcbcrConversion`,
//! an object of its own that would need its own recipe kind; a sampler carrying one (and every
//! set layout and pipeline using that sampler) is not recorded, with that sType as the reason.

use ash::vk;

use super::error::NotRecorded;
use super::key::impl_recipe;
use super::raw::{self, bool32, boolean};
use super::wire::recipe_struct;

recipe_struct! {
    /// `VkSamplerCreateInfo`.
    pub struct SamplerRecipe {
        /// `flags`.
        pub flags: vk::SamplerCreateFlags,
        /// `magFilter`.
        pub mag_filter: vk::Filter,
        /// `minFilter`.
        pub min_filter: vk::Filter,
        /// `mipmapMode`.
        pub mipmap_mode: vk::SamplerMipmapMode,
        /// `addressModeU`.
        pub address_mode_u: vk::SamplerAddressMode,
        /// `addressModeV`.
        pub address_mode_v: vk::SamplerAddressMode,
        /// `addressModeW`.
        pub address_mode_w: vk::SamplerAddressMode,
        /// `mipLodBias`.
        pub mip_lod_bias: f32,
        /// `anisotropyEnable`.
        pub anisotropy_enable: bool,
        /// `maxAnisotropy`.
        pub max_anisotropy: f32,
        /// `compareEnable`.
        pub compare_enable: bool,
        /// `compareOp`.
        pub compare_op: vk::CompareOp,
        /// `minLod`.
        pub min_lod: f32,
        /// `maxLod`.
        pub max_lod: f32,
        /// `borderColor`.
        pub border_color: vk::BorderColor,
        /// `unnormalizedCoordinates`.
        pub unnormalized_coordinates: bool,
    }
    chain {
        /// `VkSamplerCustomBorderColorCreateInfoEXT`.
        custom_border_color: CustomBorderColor = SAMPLER_CUSTOM_BORDER_COLOR_CREATE_INFO_EXT,
        /// `VkSamplerReductionModeCreateInfo`.
        reduction: SamplerReduction = SAMPLER_REDUCTION_MODE_CREATE_INFO,
    }
}

recipe_struct! {
    /// `VkSamplerReductionModeCreateInfo`.
    pub struct SamplerReduction {
        /// `reductionMode`.
        pub mode: vk::SamplerReductionMode,
    }
}

recipe_struct! {
    /// `VkSamplerCustomBorderColorCreateInfoEXT`.
    pub struct CustomBorderColor {
        /// `customBorderColor`: the 16 bytes of the `VkClearColorValue` union as four words
        /// (float, int or uint bits, as the format says).
        pub color: [u32; 4],
        /// `format`.
        pub format: vk::Format,
    }
}

impl_recipe!(SamplerRecipe, Sampler, 1);

impl SamplerRecipe {
    /// Records a sampler.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateSampler`.
    ///
    /// # Errors
    /// [`NotRecorded`] for a pNext structure other than the two in the chain above.
    pub unsafe fn capture(info: &vk::SamplerCreateInfo<'_>) -> Result<Self, NotRecorded> {
        let mut custom_border_color = None;
        let mut reduction = None;
        // SAFETY: a valid chain (caller); each entry is cast to the type its sType names.
        unsafe {
            raw::walk_chain(info.p_next, "VkSamplerCreateInfo", |s_type, entry| {
                match s_type {
                    vk::StructureType::SAMPLER_CUSTOM_BORDER_COLOR_CREATE_INFO_EXT => {
                        let custom: &vk::SamplerCustomBorderColorCreateInfoEXT<'_> =
                            raw::cast(entry);
                        custom_border_color = Some(CustomBorderColor {
                            // Every member of the union is 16 bytes of plain data.
                            color: custom.custom_border_color.uint32,
                            format: custom.format,
                        });
                    }
                    vk::StructureType::SAMPLER_REDUCTION_MODE_CREATE_INFO => {
                        let mode: &vk::SamplerReductionModeCreateInfo<'_> = raw::cast(entry);
                        reduction = Some(SamplerReduction {
                            mode: mode.reduction_mode,
                        });
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
        }
        Ok(Self {
            flags: info.flags,
            mag_filter: info.mag_filter,
            min_filter: info.min_filter,
            mipmap_mode: info.mipmap_mode,
            address_mode_u: info.address_mode_u,
            address_mode_v: info.address_mode_v,
            address_mode_w: info.address_mode_w,
            mip_lod_bias: info.mip_lod_bias,
            anisotropy_enable: boolean(info.anisotropy_enable),
            max_anisotropy: info.max_anisotropy,
            compare_enable: boolean(info.compare_enable),
            compare_op: info.compare_op,
            min_lod: info.min_lod,
            max_lod: info.max_lod,
            border_color: info.border_color,
            unnormalized_coordinates: boolean(info.unnormalized_coordinates),
            custom_border_color,
            reduction,
        })
    }

    /// The create-info to recreate this sampler.
    #[must_use]
    pub fn build(&self) -> SamplerBuild {
        let custom: Vec<_> = self
            .custom_border_color
            .iter()
            .map(|custom| vk::SamplerCustomBorderColorCreateInfoEXT {
                custom_border_color: vk::ClearColorValue {
                    uint32: custom.color,
                },
                format: custom.format,
                ..Default::default()
            })
            .collect();
        let mut reduction: Vec<_> = self
            .reduction
            .iter()
            .map(|reduction| vk::SamplerReductionModeCreateInfo {
                reduction_mode: reduction.mode,
                ..Default::default()
            })
            .collect();
        let mut p_next = std::ptr::null();
        if !custom.is_empty() {
            p_next = raw::link(&custom);
        }
        if let Some(reduction) = reduction.first_mut() {
            reduction.p_next = p_next;
            p_next = raw::link(std::slice::from_ref(reduction));
        }
        let info = vk::SamplerCreateInfo {
            p_next,
            flags: self.flags,
            mag_filter: self.mag_filter,
            min_filter: self.min_filter,
            mipmap_mode: self.mipmap_mode,
            address_mode_u: self.address_mode_u,
            address_mode_v: self.address_mode_v,
            address_mode_w: self.address_mode_w,
            mip_lod_bias: self.mip_lod_bias,
            anisotropy_enable: bool32(self.anisotropy_enable),
            max_anisotropy: self.max_anisotropy,
            compare_enable: bool32(self.compare_enable),
            compare_op: self.compare_op,
            min_lod: self.min_lod,
            max_lod: self.max_lod,
            border_color: self.border_color,
            unnormalized_coordinates: bool32(self.unnormalized_coordinates),
            ..Default::default()
        };
        SamplerBuild {
            _custom: custom,
            _reduction: reduction,
            info,
        }
    }
}

/// A `VkSamplerCreateInfo` and the storage it points into.
pub struct SamplerBuild {
    /// What `info`'s chain points into.
    _custom: Vec<vk::SamplerCustomBorderColorCreateInfoEXT<'static>>,
    _reduction: Vec<vk::SamplerReductionModeCreateInfo<'static>>,
    info: vk::SamplerCreateInfo<'static>,
}

impl SamplerBuild {
    /// The create-info, valid as long as this value.
    pub fn create_info(&self) -> &vk::SamplerCreateInfo<'_> {
        &self.info
    }
}
