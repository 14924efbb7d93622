//! Replay in the calling process, for engines that fill their cache during a loading screen:
//! no worker processes, so a driver crash in one pipeline takes the engine down with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use ash::vk;

use super::driver::{PipelineReplayer, ReplayInstance};
use super::error::ReplayError;
use super::group::{fetch, fetch_application, Batch, Executed, Executor, Group};
use super::outcome::{PipelineOutcome, ReplayProgress, ReplaySummary};
use crate::recipe::device::DeviceRecipe;
use crate::recipe::key::RecipeKey;
use crate::store::PipelineCacheStore;
use crate::vulkan::VulkanOptions;

/// How an in-process replay runs.
#[derive(Clone, Debug)]
pub struct InProcessOptions {
    /// Skip pipelines this driver already has.
    pub if_needed: bool,
    /// Which physical device, in the loader's order.
    pub device_index: usize,
    /// Largest driver cache loaded or saved (the adapter's cap).
    pub max_blob_bytes: u64,
    /// As [`ReplayOptions::validation`](super::ReplayOptions::validation), for this
    /// process's own instance.
    pub validation: bool,
}

impl Default for InProcessOptions {
    fn default() -> Self {
        Self {
            if_needed: true,
            device_index: 0,
            max_blob_bytes: VulkanOptions::DEFAULT_MAX_BLOB_BYTES,
            validation: false,
        }
    }
}

/// [`replay_application`](super::replay_application) on the calling thread: per device
/// recipe, an instance and the recorded device of its own, the application's cache loaded
/// from `store`, every pipeline created into it in turn, one save. `cancelled` is asked
/// between pipelines: once it answers true, the rest is left (counted in
/// [`ReplaySummary::cancelled`]) and what was created is still saved. A pipeline the driver
/// refuses is recorded as bad like in a worker replay; a driver crash is not survived.
///
/// # Errors
/// As [`replay_application`](super::replay_application), without the worker errors. A
/// device the driver cannot create is not an error: its pipelines are counted as unsupported.
///
/// # Safety
/// `get_instance_proc_addr` must be a loader's valid entry point.
pub unsafe fn replay_application_in_process(
    store: &Arc<dyn PipelineCacheStore>,
    get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    application: &RecipeKey,
    options: &InProcessOptions,
    progress: &mut dyn FnMut(&ReplayProgress),
    cancelled: &dyn Fn() -> bool,
) -> Result<ReplaySummary, ReplayError> {
    let record = fetch_application(store.as_ref(), application)?;
    let mut summary = ReplaySummary {
        recorded: record
            .pipelines
            .values()
            .map(|pipelines| pipelines.len())
            .sum(),
        ..ReplaySummary::default()
    };
    for (device_key, pipelines) in &record.pipelines {
        let device_recipe = fetch::<DeviceRecipe>(store.as_ref(), device_key, true)?;
        // SAFETY: a valid entry point (caller).
        let instance = unsafe {
            ReplayInstance::with_validation(
                get_instance_proc_addr,
                device_recipe.api_version,
                options.device_index,
                options.validation,
            )?
        };
        let device = match instance.create_device(Some(&device_recipe)) {
            Ok(device) => device,
            Err(error) => {
                let reason = error.to_string();
                summary
                    .unsupported
                    .extend(pipelines.iter().map(|pipeline| (*pipeline, reason.clone())));
                summary.validation_errors += instance.validation_errors();
                continue;
            }
        };
        let group = Group {
            store,
            instance: &instance,
            device: &device,
            application: *application,
            record: &record,
            device_key: *device_key,
            pipelines,
            if_needed: options.if_needed,
            max_blob_bytes: options.max_blob_bytes,
        };
        let outcome = group.replay(
            &mut summary,
            progress,
            &mut InProcess {
                device: &device,
                cancelled,
            },
        );
        // SAFETY: the replayer's objects and every cache were destroyed in `replay`.
        unsafe { device.destroy() };
        summary.validation_errors += instance.validation_errors();
        outcome?;
    }
    store.flush().map_err(ReplayError::Io)?;
    Ok(summary)
}

/// The executor of an in-process replay: this thread, on the replay's own device.
struct InProcess<'d, 'c> {
    device: &'d super::driver::ReplayDevice<'d>,
    cancelled: &'c dyn Fn() -> bool,
}

impl Executor for InProcess<'_, '_> {
    /// Nothing to start.
    fn prepare(&mut self, _: usize) -> Result<(), ReplayError> {
        Ok(())
    }

    fn execute(
        &mut self,
        batch: Batch<'_>,
        _: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<Executed, ReplayError> {
        Ok(create_all(self.device, batch, progress, self.cancelled))
    }
}

/// Creates the batch's pipelines one after the other until done or cancelled.
fn create_all(
    device: &super::driver::ReplayDevice<'_>,
    batch: Batch<'_>,
    progress: &mut dyn FnMut(&ReplayProgress),
    cancelled: &dyn Fn() -> bool,
) -> Executed {
    let mut replayer = PipelineReplayer::new(device, &batch.recipes);
    let mut results = BTreeMap::new();
    let mut queue = batch.queue;
    let mut done = batch.done;
    while let Some(pipeline) = queue.front().copied() {
        if cancelled() {
            break;
        }
        queue.pop_front();
        // SAFETY: a live device; the batch's cache is used by this thread only.
        let outcome = match unsafe { replayer.create(&pipeline, batch.cache) } {
            Ok(created) if created.result == vk::Result::SUCCESS => PipelineOutcome::Created {
                cache_hit: created.cache_hit,
            },
            Ok(created) => PipelineOutcome::DriverFailed(created.result),
            Err(_) => PipelineOutcome::Unbuildable,
        };
        results.insert(pipeline, outcome);
        done += 1;
        progress(&ReplayProgress {
            done,
            total: batch.total,
            pipeline,
            outcome,
        });
    }
    // SAFETY: no creation in flight.
    unsafe { replayer.destroy() };
    Executed {
        results,
        untried: queue.into_iter().collect(),
        unsupported: None,
    }
}
