//! `vkCreateGraphicsPipelines`, `vkCreateComputePipelines` and
//! `vkCreateRayTracingPipelinesKHR`: the layer's cache wherever the application passes
//! `VK_NULL_HANDLE`, its own caches passed through (seeded at creation, see cache.rs);
//! graphics and compute pipelines with creation feedback where the device has it
//! (feedback.rs), and recorded as recipes unless `PCSTORE_RECORD=0` (record.rs).

use std::ffi::CStr;

use ash::vk::{self, Handle};

use crate::layer::abi::guarded;
use crate::layer::device::{DeviceData, DEVICES};
use crate::layer::feedback::{create_with_feedback, PipelineCreateInfo};
use crate::layer::record;
use crate::thread_slot;
use crate::vulkan::dispatch::cast_fn;

/// This family's commands by name; ray tracing only for a device that has the extension
/// (otherwise the name must stay unknown).
pub(super) fn command(name: &CStr, device: Option<&DeviceData>) -> vk::PFN_vkVoidFunction {
    // SAFETY: (every cast) each function is erased to PFN_vkVoidFunction under its own Vulkan
    // name; the caller casts it back to that name's signature.
    unsafe {
        Some(match name.to_bytes() {
            b"vkCreateGraphicsPipelines" => {
                cast_fn(create_graphics_pipelines as vk::PFN_vkCreateGraphicsPipelines)
            }
            b"vkCreateComputePipelines" => {
                cast_fn(create_compute_pipelines as vk::PFN_vkCreateComputePipelines)
            }
            b"vkCreateRayTracingPipelinesKHR"
                if device.is_some_and(|d| d.fns.create_ray_tracing_pipelines.is_some()) =>
            {
                cast_fn(create_ray_tracing_pipelines as vk::PFN_vkCreateRayTracingPipelinesKHR)
            }
            _ => return None,
        })
    }
}

/// The shared body of the pipeline-creation intercepts: finds the device's data, picks the
/// cache to pass down (the layer's marked as grown once the creation returned) and calls
/// `create` with both, panics caught.
///
/// # Safety
/// `device` is null or a live device (Vulkan's rule for the application's arguments).
unsafe fn with_chosen_cache(
    device: vk::Device,
    requested: vk::PipelineCache,
    create: impl FnOnce(&DeviceData, vk::PipelineCache, Option<usize>) -> vk::Result,
) -> vk::Result {
    guarded(vk::Result::ERROR_OUT_OF_HOST_MEMORY, || {
        // Looked up once per call: in a shared library each thread-local access is a call.
        let slot = thread_slot::current();
        // SAFETY: null or live (this function's contract); `data` is used only within this
        // creation call on `device`.
        let Some(data) = (unsafe { DEVICES.during_call(device, slot) }) else {
            return vk::Result::ERROR_OUT_OF_HOST_MEMORY;
        };
        // The application's own cache, or the layer's for `VK_NULL_HANDLE`.
        match data.cache.get() {
            Some(layer_cache) if requested.is_null() => {
                let result = create(data, layer_cache.substitute(), slot);
                layer_cache.grew();
                result
            }
            _ => create(data, requested, slot),
        }
    })
}

/// Calls `create` with creation feedback where the device has it (every creation counted in the
/// device's statistics, the driver asked as `PCSTORE_LAYER_FEEDBACK` says), else with the
/// application's create infos as they are.
///
/// # Safety
/// `infos` and `pipelines` are the application's valid arguments for `count` pipelines.
unsafe fn with_feedback<T: PipelineCreateInfo>(
    data: &DeviceData,
    thread_slot: Option<usize>,
    count: u32,
    infos: *const T,
    pipelines: *mut vk::Pipeline,
    create: impl FnOnce(*const T) -> vk::Result,
) -> vk::Result {
    if data.feedback.available() {
        // SAFETY: the application's valid arguments (caller); the device has feedback.
        unsafe {
            create_with_feedback(&data.creation, thread_slot, count, infos, pipelines, create)
        }
    } else {
        create(infos)
    }
}

/// The next link's `vkCreateGraphicsPipelines` or `vkCreateComputePipelines`, for create infos
/// of type `T`.
type CreateNext<T> = unsafe extern "system" fn(
    vk::Device,
    vk::PipelineCache,
    u32,
    *const T,
    *const vk::AllocationCallbacks<'_>,
    *mut vk::Pipeline,
) -> vk::Result;

/// The body of `vkCreateGraphicsPipelines` and `vkCreateComputePipelines`: the layer cache
/// substituted for `VK_NULL_HANDLE`, creation feedback where the device has it, and the
/// recipes recorded with `record`; `next` picks the next link's command.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls; `next` and
/// `record` are the command's own.
unsafe fn create_pipelines<T: PipelineCreateInfo>(
    (device, pipeline_cache, count): (vk::Device, vk::PipelineCache, u32),
    create_infos: *const T,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
    next: fn(&DeviceData) -> CreateNext<T>,
    record: unsafe fn(&DeviceData, u32, *const T, *const vk::Pipeline),
) -> vk::Result {
    // SAFETY: the application's arguments (live device), with a cache of the same device and
    // create infos that are the application's or the layer's copies of them.
    unsafe {
        with_chosen_cache(device, pipeline_cache, |data, cache, slot| {
            let result = with_feedback(data, slot, count, create_infos, pipelines, |infos| {
                next(data)(device, cache, count, infos, allocator, pipelines)
            });
            // The application's create infos, not the layer's copies with feedback chained:
            // the recipe is what the application asked for. (Checked here first: without
            // recording, no indirect call.)
            if data.recorder.is_some() {
                record(data, count, create_infos, pipelines);
            }
            result
        })
    }
}

/// `vkCreateGraphicsPipelines`: [`create_pipelines`].
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_graphics_pipelines(
    device: vk::Device,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::GraphicsPipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's valid arguments, with the command's own next link and recipe.
    unsafe {
        create_pipelines(
            (device, pipeline_cache, count),
            create_infos,
            allocator,
            pipelines,
            |data| data.fns.create_graphics_pipelines,
            record::graphics_pipelines,
        )
    }
}

/// `vkCreateComputePipelines`: [`create_pipelines`].
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_compute_pipelines(
    device: vk::Device,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::ComputePipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's valid arguments, with the command's own next link and recipe.
    unsafe {
        create_pipelines(
            (device, pipeline_cache, count),
            create_infos,
            allocator,
            pipelines,
            |data| data.fns.create_compute_pipelines,
            record::compute_pipelines,
        )
    }
}

/// `vkCreateRayTracingPipelinesKHR` with the layer cache substituted for `VK_NULL_HANDLE`.
///
/// # Safety
/// The command's valid arguments, by Vulkan's rules for the application's calls.
unsafe extern "system" fn create_ray_tracing_pipelines(
    device: vk::Device,
    deferred_operation: vk::DeferredOperationKHR,
    pipeline_cache: vk::PipelineCache,
    count: u32,
    create_infos: *const vk::RayTracingPipelineCreateInfoKHR<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: the application's arguments (live device), with a cache of the same device.
    unsafe {
        with_chosen_cache(device, pipeline_cache, |data, cache, _| {
            let Some(next) = data.fns.create_ray_tracing_pipelines else {
                return vk::Result::ERROR_EXTENSION_NOT_PRESENT;
            };
            next(
                device,
                deferred_operation,
                cache,
                count,
                create_infos,
                allocator,
                pipelines,
            )
        })
    }
}
