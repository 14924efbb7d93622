//! What a replay reports: per pipeline, per progress step, and in total.

use ash::vk;

use crate::recipe::key::RecipeKey;
use crate::vulkan::SaveInfo;

/// What happened to one pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineOutcome {
    /// Created into the cache; whether creation feedback reported a hit in the (seeded)
    /// worker cache, `None` without feedback.
    Created {
        /// `APPLICATION_PIPELINE_CACHE_HIT_BIT`, when the driver gave feedback.
        cache_hit: Option<bool>,
    },
    /// The driver refused it (recorded as bad).
    DriverFailed(vk::Result),
    /// Its worker died while creating it (recorded as bad).
    Crashed,
    /// Its worker exceeded the timeout on it and was killed (recorded as bad).
    TimedOut,
    /// Its recipes are missing, damaged or cannot be built here.
    Unbuildable,
}

/// One progress step: after each pipeline.
#[derive(Clone, Copy, Debug)]
pub struct ReplayProgress {
    /// Pipelines finished in this replay so far, this one included.
    pub done: usize,
    /// Pipelines this replay tries (recorded, less those skipped).
    pub total: usize,
    /// The pipeline just finished.
    pub pipeline: RecipeKey,
    /// What happened to it.
    pub outcome: PipelineOutcome,
}

/// What a replay did.
#[derive(Clone, Debug, Default)]
pub struct ReplaySummary {
    /// Pipelines in the application record (over every device recipe).
    pub recorded: usize,
    /// Created into a saved cache.
    pub created: usize,
    /// Of those, with a cache hit reported by creation feedback.
    pub cache_hits: usize,
    /// Skipped: already replayed for this driver (`if_needed`).
    pub already_replayed: usize,
    /// Skipped: marked bad for this driver by an earlier replay.
    pub skipped_bad: usize,
    /// Newly marked bad: the driver crashed on them.
    pub crashed: Vec<RecipeKey>,
    /// Newly marked bad: their worker hung and was killed.
    pub timed_out: Vec<RecipeKey>,
    /// Newly marked bad: the driver returned an error.
    pub driver_failed: Vec<(RecipeKey, vk::Result)>,
    /// Not tried: recipes missing, damaged or unbuildable (not marked bad: a later recording
    /// or pcstore version may fix them).
    pub unbuildable: Vec<RecipeKey>,
    /// Not tried: the driver could not create the recorded device (lacks an extension or a
    /// feature), with why.
    pub unsupported: Vec<(RecipeKey, String)>,
    /// Not tried: the replay was cancelled first (or, never expected, created by a worker
    /// whose cache was lost).
    pub cancelled: usize,
    /// Workers started again after one died or was killed.
    pub worker_restarts: usize,
    /// Errors `VK_LAYER_KHRONOS_validation` reported, in the workers and in this process,
    /// when the replay ran with validation (always 0 without).
    pub validation_errors: u64,
    /// One save per device recipe that replayed anything.
    pub saves: Vec<SaveInfo>,
}
