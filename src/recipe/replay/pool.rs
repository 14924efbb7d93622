//! The replay of one application: per device recipe, worker processes create the pipelines,
//! the replay merges their caches and saves once.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ash::vk;

use super::driver::{ReplayDevice, ReplayInstance};
use super::error::ReplayError;
use super::protocol::{FromWorker, ToWorker};
use super::record::ReplayRecord;
use super::set::RecipeSet;
use super::worker::WORKER_ARG;
use crate::recipe::application::ApplicationRecord;
use crate::recipe::device::DeviceRecipe;
use crate::recipe::key::{Recipe, RecipeKey};
use crate::store::PipelineCacheStore;
use crate::vulkan::{SaveInfo, VulkanContext, VulkanOptions};

/// How a replaying program starts its workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments (the program must call [`run_worker`](super::run_worker) when it sees
    /// them).
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// This program again, with [`WORKER_ARG`].
    ///
    /// # Errors
    /// When the running executable's path cannot be found.
    pub fn current_exe() -> io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args: vec![WORKER_ARG.into()],
        })
    }
}

/// How a replay runs.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Worker processes at once (at least one is used).
    pub workers: usize,
    /// Longest one pipeline (or a worker's start or its final cache read) may take before the
    /// worker is killed and the pipeline marked bad.
    pub pipeline_timeout: Duration,
    /// Skip pipelines this driver already has (recorded as replayed into the saved cache).
    pub if_needed: bool,
    /// Which physical device, in the loader's order.
    pub device_index: usize,
    /// How workers are started.
    pub worker: WorkerCommand,
    /// Largest driver cache loaded, handed to workers or saved (the adapter's cap).
    pub max_blob_bytes: u64,
}

impl ReplayOptions {
    /// A quarter of the cores, at least one (replay runs beside other work, as Steam's does),
    /// a one-minute timeout per pipeline (drivers compile real pipelines in well under a
    /// second; a minute tells a hang from a slow compile with a wide margin), device 0.
    pub fn new(worker: WorkerCommand) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            workers: (cores / 4).max(1),
            pipeline_timeout: Duration::from_secs(60),
            if_needed: false,
            device_index: 0,
            worker,
            max_blob_bytes: VulkanOptions::DEFAULT_MAX_BLOB_BYTES,
        }
    }
}

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
    /// Workers started again after one died or was killed.
    pub worker_restarts: usize,
    /// One save per device recipe that replayed anything.
    pub saves: Vec<SaveInfo>,
}

/// Replays the application whose record is stored at `application` into the caches its next
/// launch on this machine's driver loads.
///
/// Per device recipe of the record: an instance of the recorded API version and a bare device
/// on physical device `options.device_index`; the application's cache loaded from `store`
/// (checked as every load is) and its contents handed to `options.workers` worker processes
/// started with `options.worker`; each worker creates the recorded device and the pipelines
/// it is sent, one at a time. A worker that dies or exceeds `options.pipeline_timeout` is
/// killed and replaced; the pipeline it was on is recorded as bad for this driver and never
/// tried again; pipelines it had finished since its last cache hand-over are redone by
/// others, so no worker's death loses another's work. The workers' caches are merged into
/// the loaded cache and saved once under the application's key, then the store is flushed.
/// `progress` is called after every pipeline, on the calling thread.
///
/// # Errors
/// [`ReplayError::MissingRecipe`] / [`ReplayError::BadRecipe`] for the application record
/// itself or a device recipe; [`ReplayError::Vulkan`] / [`ReplayError::Adapter`] when this
/// process's instance, bare device or cache fails; [`ReplayError::Worker`] when workers
/// cannot be started or keep dying outside pipeline creation; [`ReplayError::Io`] when the
/// store's flush fails. Pipelines that fail are counted in the summary, not errors.
///
/// # Safety
/// `get_instance_proc_addr` must be a loader's valid entry point, and the workers
/// `options.worker` starts must run [`run_worker`](super::run_worker) on the same loader.
pub unsafe fn replay_application(
    store: &Arc<dyn PipelineCacheStore>,
    get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    application: &RecipeKey,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(&ReplayProgress),
) -> Result<ReplaySummary, ReplayError> {
    let record = fetch::<ApplicationRecord>(store.as_ref(), application, false)?;
    let mut summary = ReplaySummary {
        recorded: record.pipelines.values().map(BTreeSet::len).sum(),
        ..ReplaySummary::default()
    };
    for (device_key, pipelines) in &record.pipelines {
        let device_recipe = fetch::<DeviceRecipe>(store.as_ref(), device_key, true)?;
        // SAFETY: a valid entry point (caller).
        let instance = unsafe {
            ReplayInstance::new(
                get_instance_proc_addr,
                device_recipe.api_version,
                options.device_index,
            )?
        };
        let bare = instance.create_device(None)?;
        let group = Group {
            store,
            instance: &instance,
            device: &bare,
            application: *application,
            record: &record,
            device_key: *device_key,
            device_recipe: &device_recipe,
            pipelines,
            options,
        };
        let outcome = group.replay(&mut summary, progress);
        // SAFETY: every cache of the bare device was destroyed in `replay`.
        unsafe { bare.destroy() };
        outcome?;
    }
    store.flush().map_err(ReplayError::Io)?;
    Ok(summary)
}

/// A recipe at `key`, checked against its key when `content_addressed`.
fn fetch<T: Recipe>(
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

/// The pipelines of one device recipe.
struct Group<'a> {
    store: &'a Arc<dyn PipelineCacheStore>,
    instance: &'a ReplayInstance,
    device: &'a ReplayDevice<'a>,
    application: RecipeKey,
    record: &'a ApplicationRecord,
    device_key: RecipeKey,
    device_recipe: &'a DeviceRecipe,
    pipelines: &'a BTreeSet<RecipeKey>,
    options: &'a ReplayOptions,
}

impl Group<'_> {
    fn replay(
        &self,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(), ReplayError> {
        let target = &self.record.cache;
        // SAFETY: the bare device and its instance outlive the context (dropped at the end
        // of this function); the API version is the instance's.
        let context = unsafe {
            VulkanContext::new(
                Arc::clone(self.store),
                self.instance.device_info(self.device),
                VulkanOptions {
                    namespace: target.namespace_for(self.instance.device_name()),
                    max_blob_bytes: self.options.max_blob_bytes,
                },
            )?
        };
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
            } else if self.options.if_needed && replay_record.replayed.contains(pipeline) {
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
        let queue: VecDeque<RecipeKey> = todo
            .into_iter()
            .filter(|pipeline| recipes.get(pipeline).is_some())
            .collect();
        if queue.is_empty() {
            return Ok(());
        }
        // SAFETY: the bare device is alive; the cache is destroyed below.
        let (cache, _) = unsafe { context.load_pipeline_cache(&target.key, None)? };
        let outcome = self.run_pool(
            &context,
            cache,
            recipes,
            queue,
            (done, total),
            summary,
            &mut replay_record,
            progress,
        );
        let saved = outcome.and_then(|()| {
            // SAFETY: a live cache of the context's device.
            Ok(unsafe { context.save_pipeline_cache(&target.key, cache)? })
        });
        // SAFETY: no use of the cache is in flight.
        unsafe { self.device.device.destroy_pipeline_cache(cache, None) };
        summary.saves.push(saved?);
        // Best effort: a record that is not stored only means the work is redone next time.
        let _ = self
            .store
            .try_put(record_key.fingerprint(), replay_record.to_bytes());
        Ok(())
    }

    /// Runs the workers over `queue` and merges their caches into `cache`.
    #[allow(clippy::too_many_arguments)]
    fn run_pool(
        &self,
        context: &VulkanContext,
        cache: vk::PipelineCache,
        recipes: RecipeSet,
        queue: VecDeque<RecipeKey>,
        (done, total): (usize, usize),
        summary: &mut ReplaySummary,
        replay_record: &mut ReplayRecord,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(), ReplayError> {
        // SAFETY: a live cache of the context's device.
        let seed = unsafe { context.pipeline_cache_data(cache)? }.unwrap_or_default();
        let job = ToWorker::Job {
            api_version: self.device_recipe.api_version,
            device_index: u32::try_from(self.options.device_index).unwrap_or(u32::MAX),
            device: self.device_recipe.to_bytes(),
            seed,
            recipes,
        };
        let mut job_bytes = Vec::new();
        job.write(&mut job_bytes).map_err(worker_error)?;
        let mut pool = Pool {
            options: self.options,
            job: job_bytes,
            queue,
            workers: HashMap::new(),
            next_id: 0,
            events: mpsc::channel(),
            results: BTreeMap::new(),
            reported: done,
            total,
            deaths_outside_pipelines: 0,
            cache_data: Vec::new(),
            unsupported: None,
        };
        let ran = pool.run(summary, progress);
        pool.stop_all();
        ran?;
        if let Some(reason) = pool.unsupported {
            summary.unsupported.extend(
                pool.queue
                    .iter()
                    .map(|pipeline| (*pipeline, reason.clone())),
            );
            summary.unsupported.extend(
                pool.results
                    .keys()
                    .map(|pipeline| (*pipeline, reason.clone())),
            );
            return Ok(());
        }
        for (pipeline, outcome) in &pool.results {
            match outcome {
                PipelineOutcome::Created { cache_hit } => {
                    summary.created += 1;
                    summary.cache_hits += usize::from(*cache_hit == Some(true));
                    replay_record.replayed.insert(*pipeline);
                }
                PipelineOutcome::DriverFailed(result) => {
                    summary.driver_failed.push((*pipeline, *result));
                    replay_record.bad.insert(*pipeline);
                }
                PipelineOutcome::Crashed => {
                    summary.crashed.push(*pipeline);
                    replay_record.bad.insert(*pipeline);
                }
                PipelineOutcome::TimedOut => {
                    summary.timed_out.push(*pipeline);
                    replay_record.bad.insert(*pipeline);
                }
                PipelineOutcome::Unbuildable => summary.unbuildable.push(*pipeline),
            }
        }
        for data in &pool.cache_data {
            if data.is_empty() || data.len() as u64 > self.options.max_blob_bytes {
                continue;
            }
            // Data this driver wrote in a worker on the same physical device.
            let worker_cache = self.device.create_cache(data)?;
            // SAFETY: live caches of the context's device, the destination not a source.
            let merged = unsafe { context.merge_pipeline_caches(cache, &[worker_cache]) };
            // SAFETY: merged (or not) and no longer used.
            unsafe {
                self.device
                    .device
                    .destroy_pipeline_cache(worker_cache, None)
            };
            merged?;
        }
        Ok(())
    }
}

fn worker_error(error: io::Error) -> ReplayError {
    ReplayError::Worker(error.to_string())
}

/// How many times in a row workers may die outside pipeline creation (starting, or handing
/// over their cache) before the replay gives up instead of restarting them forever.
const MAX_DEATHS_OUTSIDE_PIPELINES: usize = 3;

/// One worker process as the replay sees it.
struct Worker {
    child: Child,
    input: BufWriter<ChildStdin>,
    ready: bool,
    /// The pipeline it was sent and has not answered.
    current: Option<RecipeKey>,
    /// When it must have answered (started, created its pipeline, sent its cache).
    deadline: Option<Instant>,
    /// Pipelines it created whose cache it has not handed over yet: redone if it dies.
    unsaved: Vec<RecipeKey>,
    finishing: bool,
    handed_over: bool,
    killed_for_time: bool,
}

enum Event {
    Message(usize, FromWorker),
    /// The worker's output ended (it exited, died or was killed), or broke the protocol.
    Closed(usize),
}

struct Pool<'a> {
    options: &'a ReplayOptions,
    /// The encoded job frame every worker gets first.
    job: Vec<u8>,
    queue: VecDeque<RecipeKey>,
    workers: HashMap<usize, Worker>,
    next_id: usize,
    events: (mpsc::Sender<Event>, mpsc::Receiver<Event>),
    results: BTreeMap<RecipeKey, PipelineOutcome>,
    reported: usize,
    total: usize,
    deaths_outside_pipelines: usize,
    cache_data: Vec<Vec<u8>>,
    /// Why the driver cannot create the recorded device, once a worker said so.
    unsupported: Option<String>,
}

impl Pool<'_> {
    fn run(
        &mut self,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(), ReplayError> {
        let wanted = self.options.workers.max(1).min(self.queue.len());
        for _ in 0..wanted {
            self.spawn()?;
        }
        while !self.workers.is_empty() {
            self.assign();
            let now = Instant::now();
            let next_deadline = self.workers.values().filter_map(|w| w.deadline).min();
            let wait = next_deadline.map_or(self.options.pipeline_timeout, |deadline| {
                deadline.saturating_duration_since(now)
            });
            match self.events.1.recv_timeout(wait) {
                Ok(Event::Message(id, message)) => self.on_message(id, message, progress),
                Ok(Event::Closed(id)) => {
                    self.on_closed(id, summary, progress)?;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.kill_late(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    unreachable!("the pool holds a sender")
                }
            }
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), ReplayError> {
        let mut child = Command::new(&self.options.worker.program)
            .args(&self.options.worker.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(worker_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both were piped")
        };
        let id = self.next_id;
        self.next_id += 1;
        let events = self.events.0.clone();
        std::thread::Builder::new()
            .name("pcstore-replay-reader".into())
            .spawn(move || {
                let mut output = BufReader::new(stdout);
                while let Ok(Some(message)) = FromWorker::read(&mut output) {
                    if events.send(Event::Message(id, message)).is_err() {
                        return;
                    }
                }
                let _ = events.send(Event::Closed(id));
            })
            .map_err(worker_error)?;
        let mut input = BufWriter::new(stdin);
        // A worker that cannot take its job dies and is seen closing.
        let _ = input.write_all(&self.job).and_then(|()| input.flush());
        self.workers.insert(
            id,
            Worker {
                child,
                input,
                ready: false,
                current: None,
                deadline: Some(Instant::now() + self.options.pipeline_timeout),
                unsaved: Vec::new(),
                finishing: false,
                handed_over: false,
                killed_for_time: false,
            },
        );
        Ok(())
    }

    /// Sends idle workers the next pipeline, or `Finish` when none is left.
    fn assign(&mut self) {
        for worker in self.workers.values_mut() {
            if !worker.ready || worker.current.is_some() || worker.finishing {
                continue;
            }
            let message = match self.queue.pop_front() {
                Some(pipeline) => {
                    worker.current = Some(pipeline);
                    ToWorker::Pipeline(pipeline)
                }
                None => {
                    worker.finishing = true;
                    ToWorker::Finish
                }
            };
            worker.deadline = Some(Instant::now() + self.options.pipeline_timeout);
            // A write to a dead worker fails; its closing is handled when seen.
            let _ = message.write(&mut worker.input);
        }
    }

    fn on_message(
        &mut self,
        id: usize,
        message: FromWorker,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        match message {
            FromWorker::Ready => {
                worker.ready = true;
                worker.deadline = None;
                self.deaths_outside_pipelines = 0;
            }
            FromWorker::Unsupported(reason) => {
                // Every worker would say the same: stop them all, keep the queue as is.
                self.unsupported = Some(reason);
                self.stop_all();
            }
            FromWorker::Created {
                pipeline,
                result,
                cache_hit,
            } if worker.current == Some(pipeline) => {
                worker.current = None;
                worker.deadline = None;
                let result = vk::Result::from_raw(result);
                let outcome = if result == vk::Result::SUCCESS {
                    worker.unsaved.push(pipeline);
                    PipelineOutcome::Created {
                        cache_hit: match cache_hit {
                            0 => Some(false),
                            1 => Some(true),
                            _ => None,
                        },
                    }
                } else {
                    PipelineOutcome::DriverFailed(result)
                };
                self.finish(pipeline, outcome, progress);
            }
            FromWorker::Unbuildable { pipeline, reason } if worker.current == Some(pipeline) => {
                worker.current = None;
                worker.deadline = None;
                eprintln!("pcstore replay: pipeline {pipeline} not built: {reason}");
                self.finish(pipeline, PipelineOutcome::Unbuildable, progress);
            }
            FromWorker::CacheData(data) if worker.finishing => {
                worker.deadline = None;
                worker.unsaved.clear();
                worker.handed_over = true;
                self.cache_data.push(data);
            }
            // An answer to nothing asked: a broken worker; stop it (its close requeues).
            _ => {
                let _ = worker.child.kill();
            }
        }
    }

    /// Records a pipeline's outcome; progress is reported the first time only (a pipeline
    /// redone after its worker died counts once).
    fn finish(
        &mut self,
        pipeline: RecipeKey,
        outcome: PipelineOutcome,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) {
        if self.results.insert(pipeline, outcome).is_none() {
            self.reported += 1;
        }
        progress(&ReplayProgress {
            done: self.reported,
            total: self.total,
            pipeline,
            outcome,
        });
    }

    fn on_closed(
        &mut self,
        id: usize,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(), ReplayError> {
        let Some(mut worker) = self.workers.remove(&id) else {
            return Ok(());
        };
        let _ = worker.child.kill();
        let _ = worker.child.wait();
        if worker.handed_over || self.unsupported.is_some() {
            return Ok(());
        }
        // Died: what it created since its last hand-over is redone by the others.
        self.queue.extend(worker.unsaved.drain(..));
        match worker.current {
            Some(pipeline) => {
                let outcome = if worker.killed_for_time {
                    PipelineOutcome::TimedOut
                } else {
                    PipelineOutcome::Crashed
                };
                self.finish(pipeline, outcome, progress);
            }
            None => {
                self.deaths_outside_pipelines += 1;
                if self.deaths_outside_pipelines > MAX_DEATHS_OUTSIDE_PIPELINES {
                    return Err(ReplayError::Worker(format!(
                        "{} workers in a row died while starting or saving",
                        self.deaths_outside_pipelines
                    )));
                }
            }
        }
        if !self.queue.is_empty() && self.workers.len() < self.options.workers.max(1) {
            summary.worker_restarts += 1;
            self.spawn()?;
        }
        Ok(())
    }

    /// Kills every worker past its deadline (its close then marks its pipeline timed out).
    fn kill_late(&mut self) {
        let now = Instant::now();
        for worker in self.workers.values_mut() {
            if worker.deadline.is_some_and(|deadline| deadline <= now) {
                worker.killed_for_time = true;
                worker.deadline = None;
                let _ = worker.child.kill();
            }
        }
    }

    /// Kills every worker still running and reaps it.
    fn stop_all(&mut self) {
        for worker in self.workers.values_mut() {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
        if self.unsupported.is_some() {
            self.workers.clear();
        }
    }
}
