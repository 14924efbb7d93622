//! The object creations recording needs (unless `PCSTORE_RECORD=0`, see `layer::record`):
//! `vkCreateShaderModule`, `vkCreateSampler`, `vkCreateDescriptorSetLayout`,
//! `vkCreatePipelineLayout`, `vkCreateRenderPass` and `vkCreateRenderPass2`: call down, then
//! record what the driver created. Handed out only while recording is on.

use std::ffi::CStr;

use ash::vk;

use crate::layer::abi::guarded;
use crate::layer::config::config;
use crate::layer::device::{DeviceData, DEVICES};
use crate::vulkan::dispatch::cast_fn;

/// This family's commands by name, only while recording is on; `vkCreateRenderPass2` only
/// for a device that has it below.
pub(super) fn command(name: &CStr, device: Option<&DeviceData>) -> vk::PFN_vkVoidFunction {
    if !config().record {
        return None;
    }
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreateShaderModule" => {
                cast_fn(create_shader_module as vk::PFN_vkCreateShaderModule)
            }
            b"vkCreateSampler" => cast_fn(create_sampler as vk::PFN_vkCreateSampler),
            b"vkCreateDescriptorSetLayout" => {
                cast_fn(create_descriptor_set_layout as vk::PFN_vkCreateDescriptorSetLayout)
            }
            b"vkCreatePipelineLayout" => {
                cast_fn(create_pipeline_layout as vk::PFN_vkCreatePipelineLayout)
            }
            b"vkCreateRenderPass" => cast_fn(create_render_pass as vk::PFN_vkCreateRenderPass),
            b"vkCreateRenderPass2" | b"vkCreateRenderPass2KHR"
                if device.is_some_and(|d| d.fns.create_render_pass2.is_some()) =>
            {
                cast_fn(create_render_pass2 as vk::PFN_vkCreateRenderPass2)
            }
            _ => return None,
        })
    }
}

/// The shared body: finds the device's data, calls `create` with it, panics caught.
///
/// # Safety
/// `device` is null or a live device (Vulkan's rule for the application's arguments).
unsafe fn with_device(
    device: vk::Device,
    create: impl FnOnce(&DeviceData) -> vk::Result,
) -> vk::Result {
    guarded(vk::Result::ERROR_OUT_OF_HOST_MEMORY, || {
        // SAFETY: null or live (this function's contract).
        let Some(data) = (unsafe { DEVICES.of(device) }) else {
            return vk::Result::ERROR_OUT_OF_HOST_MEMORY;
        };
        create(&data)
    })
}

/// `vkCreateShaderModule`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_shader_module(
    device: vk::Device,
    create_info: *const vk::ShaderModuleCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::ShaderModule,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let result = (data.fns.create_shader_module)(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.shader_module(*created, &*create_info);
            }
            result
        })
    }
}

/// `vkCreateSampler`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_sampler(
    device: vk::Device,
    create_info: *const vk::SamplerCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::Sampler,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let result = (data.fns.create_sampler)(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.sampler(*created, &*create_info);
            }
            result
        })
    }
}

/// `vkCreateDescriptorSetLayout`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_descriptor_set_layout(
    device: vk::Device,
    create_info: *const vk::DescriptorSetLayoutCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::DescriptorSetLayout,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let result =
                (data.fns.create_descriptor_set_layout)(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.descriptor_set_layout(*created, &*create_info);
            }
            result
        })
    }
}

/// `vkCreatePipelineLayout`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_pipeline_layout(
    device: vk::Device,
    create_info: *const vk::PipelineLayoutCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::PipelineLayout,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let result = (data.fns.create_pipeline_layout)(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.pipeline_layout(*created, &*create_info);
            }
            result
        })
    }
}

/// `vkCreateRenderPass`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_render_pass(
    device: vk::Device,
    create_info: *const vk::RenderPassCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::RenderPass,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let result = (data.fns.create_render_pass)(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.render_pass(*created, &*create_info);
            }
            result
        })
    }
}

/// `vkCreateRenderPass2`, then the created object recorded.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_render_pass2(
    device: vk::Device,
    create_info: *const vk::RenderPassCreateInfo2<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    created: *mut vk::RenderPass,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), passed on; on success `created`
    // holds the new handle and `create_info` is the valid create-info it came from.
    unsafe {
        with_device(device, |data| {
            let Some(next) = data.fns.create_render_pass2 else {
                return vk::Result::ERROR_EXTENSION_NOT_PRESENT;
            };
            let result = next(device, create_info, allocator, created);
            if let (vk::Result::SUCCESS, Some(recorder)) = (result, &data.recorder) {
                // A refusal is counted (and logged once per sType) by the recorder.
                let _ = recorder.render_pass2(*created, &*create_info);
            }
            result
        })
    }
}
