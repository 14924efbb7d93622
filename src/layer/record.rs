//! Recording (on by default, `PCSTORE_RECORD=0` turns it off): the recipes of every graphics and compute pipeline an
//! application creates on a device, and of the modules, samplers, layouts and render passes
//! they use, into the layer's shared store, so `pcstore replay` can rebuild this application's
//! layer cache for another driver.
//!
//! A [`RecipeRecorder`] per device: its application record names the layer's device cache
//! (its key, the application identity as namespace, completed with the device name), so a
//! replay saves exactly what the next launch loads. The object creations are intercepted in
//! intercept/record.rs; the pipeline intercepts call [`compute_pipelines`] and
//! [`graphics_pipelines`]; the record is published at `vkDestroyDevice`, before the final
//! save flushes the store.

use ash::vk::{self, Handle};

use super::cache::{layer_cache_key, shared_store};
use super::config::{config, layer_log};
use super::device::DeviceData;
use super::instance::InstanceData;
use crate::recipe::{CacheTarget, DeviceRecipe, NamespaceScheme, RecipeRecorder};

/// A recorder for a device just created from `create_info`, whose configuration digest (part
/// of the layer cache's namespace) is `configuration`; `None` when recording is off.
///
/// # Safety
/// `create_info` is the application's valid create-info of a device of `instance`.
pub(super) unsafe fn start(
    instance: &InstanceData,
    create_info: &vk::DeviceCreateInfo<'_>,
    configuration: &[u8; 32],
) -> Option<RecipeRecorder> {
    if !config().record {
        return None;
    }
    // SAFETY: the application's valid create-info (caller).
    let device = match unsafe { DeviceRecipe::capture(create_info, instance.api_version) } {
        Ok(recipe) => recipe,
        Err(why) => {
            layer_log!(Warn, "not recording this device: {why}");
            return None;
        }
    };
    let cache = CacheTarget {
        key: layer_cache_key(),
        namespace: instance.application.clone(),
        // The namespace the layer cache is loaded under (cache.rs), so a replay's result is
        // what the next launch of this configuration loads.
        scheme: NamespaceScheme::WithDeviceNameAndConfiguration(*configuration),
    };
    let recorder =
        RecipeRecorder::new(shared_store(), instance.application.clone(), cache, &device);
    layer_log!(
        Info,
        "recording recipes (application record {})",
        recorder.application_key()
    );
    Some(recorder)
}

/// Records the compute pipelines the driver created (non-null in `pipelines`).
///
/// # Safety
/// `infos` and `pipelines` are the application's `count` create-infos and the output array
/// the next link just filled.
pub(super) unsafe fn compute_pipelines(
    data: &DeviceData,
    count: u32,
    infos: *const vk::ComputePipelineCreateInfo<'_>,
    pipelines: *const vk::Pipeline,
) {
    let Some(recorder) = &data.recorder else {
        return;
    };
    // SAFETY: `count` elements each (caller).
    let (infos, pipelines) = unsafe { arrays(infos, pipelines, count) };
    for (info, pipeline) in infos.iter().zip(pipelines) {
        if !pipeline.is_null() {
            // SAFETY: a create-info the driver accepted (caller); a refusal is counted there.
            let _ = unsafe { recorder.compute_pipeline(info) };
        }
    }
}

/// Records the graphics pipelines the driver created (non-null in `pipelines`).
///
/// # Safety
/// As [`compute_pipelines`].
pub(super) unsafe fn graphics_pipelines(
    data: &DeviceData,
    count: u32,
    infos: *const vk::GraphicsPipelineCreateInfo<'_>,
    pipelines: *const vk::Pipeline,
) {
    let Some(recorder) = &data.recorder else {
        return;
    };
    // SAFETY: `count` elements each (caller).
    let (infos, pipelines) = unsafe { arrays(infos, pipelines, count) };
    for (info, pipeline) in infos.iter().zip(pipelines) {
        if !pipeline.is_null() {
            // SAFETY: as for compute.
            let _ = unsafe { recorder.graphics_pipeline(info) };
        }
    }
}

/// The two arrays of a pipeline-creation call (empty when either pointer is null).
///
/// # Safety
/// Non-null pointers are valid for `count` elements.
unsafe fn arrays<'a, T>(
    infos: *const T,
    pipelines: *const vk::Pipeline,
    count: u32,
) -> (&'a [T], &'a [vk::Pipeline]) {
    if infos.is_null() || pipelines.is_null() {
        return (&[], &[]);
    }
    // SAFETY: valid for `count` elements (caller).
    unsafe {
        (
            std::slice::from_raw_parts(infos, count as usize),
            std::slice::from_raw_parts(pipelines, count as usize),
        )
    }
}
