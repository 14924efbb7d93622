//! Replay: rebuilding recorded pipelines on the driver this process runs on, so the pipeline
//! cache an application loads at its next launch is warm for that driver.
//!
//! - [`replay_application`] (pool.rs): the whole job for one application record: per device
//!   recipe, load the application's cache from the store, hand the pipelines to crash-isolated
//!   worker processes, merge their caches (`vkMergePipelineCaches`), save once under exactly
//!   the key the layer (or the engine's adapter call) loads, and keep a [`ReplayRecord`] per
//!   driver so a pipeline that crashed or hung the driver is skipped next time and
//!   `if_needed` skips what this driver already has.
//! - Workers (worker.rs) are the calling program itself, re-executed with [`WORKER_ARG`]: a
//!   program that replays calls [`run_worker`] first thing in `main` when it sees that
//!   argument. Chosen over a separate `pcstore-replay-worker` executable because the library
//!   never loads libvulkan (the program hands over its `vkGetInstanceProcAddr`, so the worker
//!   must be code of that program), and because a second executable would have to be
//!   installed and found next to every tool, launcher and test that replays.
//!   [`WorkerCommand`] names the program and arguments when another command line is wanted.
//! - [`PipelineReplayer`] (driver.rs): creating modules, samplers, layouts, render passes and
//!   pipelines from recipes on one device, each dependency once, with creation feedback; the
//!   workers use it, and so does [`replay_application_in_process`] (in_process.rs), for
//!   engines replaying during a loading screen with a cancel flag (not crash-isolated).
//! - group.rs: what both share per device recipe (what to skip, load, account, save, the
//!   replay record); outcome.rs: progress steps and the summary.
//! - [`RecipeSet`] (set.rs): the recipes some pipelines need, fetched from a store and
//!   checked against their keys.

mod driver;
mod error;
mod group;
mod in_process;
mod outcome;
mod pool;
mod protocol;
mod record;
mod set;
mod worker;

pub use driver::{PipelineCreated, PipelineReplayer, ReplayDevice, ReplayInstance};
pub use error::ReplayError;
pub use in_process::{replay_application_in_process, InProcessOptions};
pub use outcome::{PipelineOutcome, ReplayProgress, ReplaySummary};
pub use pool::{replay_application, ReplayOptions, WorkerCommand};
pub use record::ReplayRecord;
pub use set::RecipeSet;
pub use worker::{run_worker, WORKER_ARG};
