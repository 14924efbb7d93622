//! The part of a replay shared by the worker pool and the in-process replay: for the pipelines
//! of one device recipe, decide what to replay, load the cache, account for the outcomes,
//! save once and keep the replay record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use ash::vk;

use super::driver::{ReplayDevice, ReplayInstance};
use super::error::ReplayError;
use super::outcome::{PipelineOutcome, ReplayProgress, ReplaySummary};
use super::record::ReplayRecord;
use super::set::RecipeSet;
use crate::recipe::application::ApplicationRecord;
use crate::recipe::key::{Recipe, RecipeKey};
use crate::recipe::stored::stored_application_record;
use crate::store::PipelineCacheStore;
use crate::vulkan::{application_label, VulkanContext, VulkanOptions};

/// A recipe at `key`, checked against its key when `content_addressed`.
pub(super) fn fetch<T: Recipe>(
    store: &dyn PipelineCacheStore,
    key: &RecipeKey,
    content_addressed: bool,
) -> Result<T, ReplayError> {
    let bytes = store
        .get(&key.fingerprint())
        .ok_or(ReplayError::MissingRecipe(*key))?;
    if content_addressed && RecipeKey::of(&bytes) != *key {
        return Err(ReplayError::BadRecipe {
            key: *key,
            error: None,
        });
    }
    T::from_bytes(&bytes).map_err(|error| ReplayError::BadRecipe {
        key: *key,
        error: Some(error),
    })
}

/// The application record at `key`, united from every tier that holds a copy (a bundle's or a
/// remote's pipelines are not hidden by this machine's own copy).
pub(super) fn fetch_application(
    store: &dyn PipelineCacheStore,
    key: &RecipeKey,
) -> Result<ApplicationRecord, ReplayError> {
    match stored_application_record(store, key) {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(ReplayError::MissingRecipe(*key)),
        Err(error) => Err(ReplayError::BadRecipe {
            key: *key,
            error: Some(error),
        }),
    }
}

/// The pipelines of one device recipe of one application.
pub(super) struct Group<'a> {
    pub store: &'a Arc<dyn PipelineCacheStore>,
    pub instance: &'a ReplayInstance,
    /// The device the cache is loaded, merged and saved on.
    pub device: &'a ReplayDevice<'a>,
    pub application: RecipeKey,
    pub record: &'a ApplicationRecord,
    pub device_key: RecipeKey,
    pub pipelines: &'a BTreeSet<RecipeKey>,
    pub if_needed: bool,
    pub max_blob_bytes: u64,
}

/// What is left to replay, for an executor.
pub(super) struct Batch<'a> {
    /// The adapter on the group's device.
    pub context: &'a VulkanContext,
    /// The application's cache, loaded from the store; the executor puts its pipelines in it.
    pub cache: vk::PipelineCache,
    pub recipes: RecipeSet,
    pub queue: VecDeque<RecipeKey>,
    /// Progress already reported, and the total.
    pub done: usize,
    pub total: usize,
}

/// What an executor did.
pub(super) struct Executed {
    pub results: BTreeMap<RecipeKey, PipelineOutcome>,
    /// Pipelines never tried (the run stopped early: unsupported device, cancelled), or
    /// whose creation never reached the merged cache.
    pub untried: Vec<RecipeKey>,
    /// Why the recorded device cannot be created here, if it cannot.
    pub unsupported: Option<String>,
}

/// An executor: creates the batch's pipelines into its cache.
pub(super) trait Executor {
    /// The group has `pipelines` to create (called once, before the cache is loaded and the
    /// batch is made, and never when there is nothing to do): the worker pool starts its
    /// workers here so their start-up overlaps loading the cache.
    fn prepare(&mut self, pipelines: usize) -> Result<(), ReplayError>;

    /// Creates the batch's pipelines into its cache.
    fn execute(
        &mut self,
        batch: Batch<'_>,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<Executed, ReplayError>;
}

impl Group<'_> {
    /// Replays the group with `executor`, adds what happened to `summary`, saves the cache
    /// when anything was created and keeps the replay record.
    pub(super) fn replay(
        &self,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
        executor: &mut dyn Executor,
    ) -> Result<(), ReplayError> {
        let target = &self.record.cache;
        // SAFETY: the device and its instance outlive the context (dropped at the end of this
        // function); the API version is the instance's.
        let context = unsafe {
            VulkanContext::new(
                Arc::clone(self.store),
                self.instance.device_info(self.device),
                VulkanOptions {
                    namespace: target.namespace_for(self.instance.device_name()),
                    max_blob_bytes: self.max_blob_bytes,
                },
            )?
        };
        // The label its first save writes names the recorded application, not this process
        // (`pcstore`, or an engine's launcher).
        context.set_label_application(&application_label(&self.record.identity));
        let record_key = ReplayRecord::store_key_for(
            &context.stored_key(&target.key),
            &self.application,
            &self.device_key,
        );
        // A damaged record is as good as none: at worst a known-bad pipeline is tried again.
        let mut replay_record = self
            .store
            .get(&record_key.fingerprint())
            .and_then(|bytes| ReplayRecord::from_bytes(&bytes).ok())
            .unwrap_or_default();
        let mut todo = Vec::new();
        for pipeline in self.pipelines {
            if replay_record.bad.contains(pipeline) {
                summary.skipped_bad += 1;
            } else if self.if_needed && replay_record.replayed.contains(pipeline) {
                summary.already_replayed += 1;
            } else {
                todo.push(*pipeline);
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        let (recipes, unavailable) = RecipeSet::fetch(self.store.as_ref(), todo.iter().copied());
        let total = todo.len();
        let mut done = 0;
        for (pipeline, _) in &unavailable {
            summary.unbuildable.push(*pipeline);
            done += 1;
            progress(&ReplayProgress {
                done,
                total,
                pipeline: *pipeline,
                outcome: PipelineOutcome::Unbuildable,
            });
        }
        let queue = recipes.creation_order(todo);
        if queue.is_empty() {
            return Ok(());
        }
        executor.prepare(queue.len())?;
        // SAFETY: the device is alive; the cache is destroyed below.
        let (cache, _) = unsafe { context.load_pipeline_cache(&target.key, None)? };
        let batch = Batch {
            context: &context,
            cache,
            recipes,
            queue,
            done,
            total,
        };
        let saved = executor
            .execute(batch, summary, progress)
            .and_then(|executed| {
                let created = account(executed, summary, &mut replay_record);
                if created == 0 {
                    return Ok(None);
                }
                // SAFETY: a live cache of the context's device.
                Ok(Some(unsafe {
                    context.save_pipeline_cache(&target.key, cache)?
                }))
            });
        // SAFETY: no use of the cache is in flight.
        unsafe { self.device.device.destroy_pipeline_cache(cache, None) };
        summary.saves.extend(saved?);
        // Best effort: a record that is not stored only means the work is redone next time.
        let _ = self
            .store
            .try_put(record_key.fingerprint(), replay_record.to_bytes());
        Ok(())
    }
}

/// Adds an executor's results to the summary and the replay record; returns how many
/// pipelines were created.
fn account(executed: Executed, summary: &mut ReplaySummary, record: &mut ReplayRecord) -> usize {
    if let Some(reason) = executed.unsupported {
        let never = executed
            .untried
            .into_iter()
            .chain(executed.results.into_keys());
        summary
            .unsupported
            .extend(never.map(|pipeline| (pipeline, reason.clone())));
        return 0;
    }
    let mut created = 0;
    for (pipeline, outcome) in executed.results {
        match outcome {
            PipelineOutcome::Created { cache_hit } => {
                created += 1;
                summary.cache_hits += usize::from(cache_hit == Some(true));
                record.replayed.insert(pipeline);
            }
            PipelineOutcome::DriverFailed(result) => {
                summary.driver_failed.push((pipeline, result));
                record.bad.insert(pipeline);
            }
            PipelineOutcome::Crashed => {
                summary.crashed.push(pipeline);
                record.bad.insert(pipeline);
            }
            PipelineOutcome::TimedOut => {
                summary.timed_out.push(pipeline);
                record.bad.insert(pipeline);
            }
            PipelineOutcome::Unbuildable => summary.unbuildable.push(pipeline),
        }
    }
    summary.created += created;
    summary.cancelled += executed.untried.len();
    created
}
