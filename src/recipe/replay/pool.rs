//! The replay of one application: per device recipe, worker processes create the pipelines,
//! the replay merges their caches and saves once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
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
use super::group::{fetch, fetch_application, Batch, Executed, Executor, Group};
use super::outcome::{PipelineOutcome, ReplayProgress, ReplaySummary};
use super::protocol::{FromWorker, ToWorker};
use super::worker::WORKER_ARG;
use crate::recipe::device::DeviceRecipe;
use crate::recipe::key::{Recipe, RecipeKey};
use crate::store::PipelineCacheStore;
use crate::vulkan::VulkanOptions;

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
    /// Runs the workers and this process's instance with `VK_LAYER_KHRONOS_validation` and
    /// counts its errors in [`ReplaySummary::validation_errors`] (each is also printed to
    /// stderr). Off by default: players need no validation layer (and it slows creation
    /// several-fold); tests, CI and driver bring-up turn it on. The layer must be installed
    /// when it is on, or the replay fails.
    pub validation: bool,
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
            validation: false,
        }
    }
}

/// Replays the application whose record is stored at `application` into the caches its next
/// launch on this machine's driver loads.
///
/// Per device recipe of the record: an instance of the recorded API version and a bare device
/// on physical device `options.device_index`; the application's cache loaded from `store`
/// (checked as every load is) and its contents handed to `options.workers` worker processes
/// started with `options.worker`; each worker creates the recorded device and the pipelines
/// it is sent, one at a time. The workers start first (with `if_needed`: once there is
/// something to do), so their driver load and device creation overlap this process's. A
/// worker that dies or exceeds `options.pipeline_timeout` is killed and replaced; the
/// pipeline it was on is recorded as bad for this driver and never tried again; pipelines it
/// had finished since its last cache hand-over are redone by others, so no worker's death
/// loses another's work. The workers' caches are merged into the loaded cache and saved once
/// under the application's key, then the store is flushed; the call returns then, and workers
/// still tearing down their devices are reaped by a thread of their own (without
/// validation: with it, their last error count comes after the teardown and is waited for).
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
    let record = fetch_application(store.as_ref(), application)?;
    let mut summary = ReplaySummary {
        recorded: record.pipelines.values().map(BTreeSet::len).sum(),
        ..ReplaySummary::default()
    };
    let mut exiting = Exiting::default();
    for (device_key, pipelines) in &record.pipelines {
        let device_recipe = fetch::<DeviceRecipe>(store.as_ref(), device_key, true)?;
        let mut pool = Pool::new(options, &device_recipe, &mut exiting)?;
        if !options.if_needed {
            // Started before this process's own instance, device, cache and recipes, so the
            // workers' driver load and device creation (on lavapipe 25-95 ms, most of a small
            // replay's fixed cost) run meanwhile. Without `if_needed` every recorded pipeline
            // is replayed but the bad ones, so there is work unless all are bad or
            // unbuildable: then the workers are killed unused. With `if_needed` nothing new
            // is the common case and must return at once without starting processes: the
            // workers start once the group knows it has work (`Executor::prepare`).
            pool.start(options.workers.max(1).min(pipelines.len()))?;
        }
        // SAFETY: a valid entry point (caller).
        let instance = unsafe {
            ReplayInstance::with_validation(
                get_instance_proc_addr,
                device_recipe.api_version,
                options.device_index,
                options.validation,
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
            pipelines,
            if_needed: options.if_needed,
            max_blob_bytes: options.max_blob_bytes,
        };
        let outcome = group.replay(
            &mut summary,
            progress,
            &mut PoolExecutor {
                pool: &mut pool,
                device: &bare,
            },
        );
        // Workers never used (nothing to do) are killed before the device goes.
        drop(pool);
        // SAFETY: every cache of the bare device was destroyed in `replay`.
        unsafe { bare.destroy() };
        summary.validation_errors += instance.validation_errors();
        outcome?;
    }
    store.flush().map_err(ReplayError::Io)?;
    exiting.reap_in_background(options.pipeline_timeout);
    Ok(summary)
}

/// Workers that handed over their cache and are destroying their device and exiting: the
/// replay merges, saves and flushes meanwhile and returns without waiting for them (measured
/// on lavapipe: 15-20 ms for a worker that created a few hundred pipelines, a tenth of such a
/// replay); a thread reaps them. They are left to exit by themselves (a driver may still write
/// its own disk cache on the way out) for up to the pipeline timeout, then killed: their work
/// is in hand, and a replay never hangs. If the replaying process exits first, they finish
/// exiting on their own (their input is closed, their job done).
#[derive(Default)]
struct Exiting(Vec<Child>);

impl Exiting {
    /// Reaps them on a thread of their own; if no thread can be started, kills them now.
    fn reap_in_background(mut self, timeout: Duration) {
        if self.0.is_empty() {
            return;
        }
        // On failure the closure, and with it `self`, is dropped: killed and reaped.
        let _ = std::thread::Builder::new()
            .name("pcstore-replay-reaper".into())
            .spawn(move || self.reap(timeout));
    }

    fn reap(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for mut child in self.0.drain(..) {
            // Polled: std has no wait with a timeout; a millisecond is below what a device's
            // teardown takes.
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Exiting {
    /// An error path: nothing is waited for.
    fn drop(&mut self) {
        self.reap(Duration::ZERO);
    }
}

/// The worker pool as a group's executor, merging into the group's device.
struct PoolExecutor<'p, 'a, 'd> {
    pool: &'p mut Pool<'a>,
    device: &'d ReplayDevice<'d>,
}

impl Executor for PoolExecutor<'_, '_, '_> {
    /// Starts the workers the pipelines need (or keeps as many of those started early).
    fn prepare(&mut self, pipelines: usize) -> Result<(), ReplayError> {
        self.pool
            .start(self.pool.options.workers.max(1).min(pipelines))
    }

    /// Sends the workers their work, runs them over the batch and merges their caches into
    /// the batch's cache.
    fn execute(
        &mut self,
        batch: Batch<'_>,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<Executed, ReplayError> {
        let pool = &mut *self.pool;
        // SAFETY: a live cache of the context's device.
        let seed = unsafe { batch.context.pipeline_cache_data(batch.cache)? }.unwrap_or_default();
        let work = ToWorker::Work {
            seed,
            recipes: batch.recipes,
        };
        let mut work_bytes = Vec::new();
        work.write(&mut work_bytes).map_err(worker_error)?;
        pool.set_work(work_bytes);
        pool.queue = batch.queue;
        pool.reported = batch.done;
        pool.total = batch.total;
        let ran = pool.run(summary, progress);
        pool.stop_all();
        summary.validation_errors += std::mem::take(&mut pool.validation_errors);
        ran?;
        if pool.unsupported.is_none() {
            for data in &pool.cache_data {
                if data.is_empty() || data.len() as u64 > pool.options.max_blob_bytes {
                    continue;
                }
                // Data this driver wrote in a worker on the same physical device.
                let worker_cache = self.device.create_cache(data)?;
                // SAFETY: live caches of the context's device, the destination not a source.
                let merged = unsafe {
                    batch
                        .context
                        .merge_pipeline_caches(batch.cache, &[worker_cache])
                };
                // SAFETY: merged (or not) and no longer used.
                unsafe {
                    self.device
                        .device
                        .destroy_pipeline_cache(worker_cache, None)
                };
                merged?;
            }
        }
        // Created counts only once in a merged cache; anything else would be lost work
        // (never expected: a dead worker's pipelines are redone by the others).
        let mut untried: Vec<RecipeKey> = std::mem::take(&mut pool.queue).into_iter().collect();
        let handed_over = &pool.handed_over;
        let mut results = std::mem::take(&mut pool.results);
        results.retain(|pipeline, outcome| {
            let kept = !matches!(outcome, PipelineOutcome::Created { .. })
                || handed_over.contains(pipeline);
            if !kept {
                untried.push(*pipeline);
            }
            kept
        });
        Ok(Executed {
            results,
            untried,
            unsupported: pool.unsupported.take(),
        })
    }
}

fn worker_error(error: io::Error) -> ReplayError {
    ReplayError::Worker(error.to_string())
}

/// Pipelines sent to a worker ahead of its answers: with one, a worker idles for every
/// round trip through the pipe and this process's reader thread (measured in
/// benches/replay_throughput.rs: on a loaded machine the parent is often scheduled late, and
/// cheap pipelines then wait longer than they compile). With more, its next pipelines are
/// already in its pipe, enough to cover the reader's [`ANSWER_COALESCING`] pause for
/// pipelines as cheap as a CPU driver's. The worker answers in order, so the first
/// unanswered one is the one it was on when it died or hung; the others go back to the
/// queue.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// How long a worker's reader thread pauses after draining the worker's answers before it
/// waits for more. A worker's write to a pipe whose reader is blocked in `read` must wake that
/// reader, which costs the writer an inter-processor interrupt: measured on these VMs 18-21
/// µs per answer against 2 µs when nobody waits, a twentieth of a lavapipe pipeline and
/// 7% of a replay's time. While the reader pauses, answers just queue in the pipe and are
/// read together; a pipeline that takes longer than the pause still costs one wake-up, which
/// is then negligible. The pause only delays noticing answers, never loses them.
const ANSWER_COALESCING: Duration = Duration::from_micros(250);

/// How many times in a row workers may die outside pipeline creation (starting, or handing
/// over their cache) before the replay gives up instead of restarting them forever.
const MAX_DEATHS_OUTSIDE_PIPELINES: usize = 3;

/// One worker process as the replay sees it.
struct Worker {
    child: Child,
    input: BufWriter<ChildStdin>,
    ready: bool,
    /// The pipelines it was sent and has not answered, in order: it works on the first.
    in_flight: VecDeque<RecipeKey>,
    /// When it must have answered (started, created its first pipeline in flight, sent its
    /// cache).
    deadline: Option<Instant>,
    /// Pipelines it created whose cache it has not handed over yet: redone if it dies.
    unsaved: Vec<RecipeKey>,
    finishing: bool,
    handed_over: bool,
    killed_for_time: bool,
}

impl Worker {
    /// Its first pipeline in flight was answered: it starts on the next at once, if any.
    fn answered(&mut self, timeout: Duration) {
        self.in_flight.pop_front();
        self.deadline = (!self.in_flight.is_empty()).then(|| Instant::now() + timeout);
    }
}

enum Event {
    Message(usize, FromWorker),
    /// The worker's output ended (it exited, died or was killed), or broke the protocol.
    Closed(usize),
}

struct Pool<'a> {
    options: &'a ReplayOptions,
    /// The encoded device frame every worker gets first, as soon as it starts.
    device: Vec<u8>,
    /// The encoded work frame every worker gets second, once the cache is loaded.
    work: Option<Vec<u8>>,
    queue: VecDeque<RecipeKey>,
    workers: HashMap<usize, Worker>,
    next_id: usize,
    events: (mpsc::Sender<Event>, mpsc::Receiver<Event>),
    results: BTreeMap<RecipeKey, PipelineOutcome>,
    reported: usize,
    total: usize,
    deaths_outside_pipelines: usize,
    cache_data: Vec<Vec<u8>>,
    /// Pipelines created by a worker that then handed over its cache.
    handed_over: HashSet<RecipeKey>,
    /// Why the driver cannot create the recorded device, once a worker said so.
    unsupported: Option<String>,
    /// Validation errors the workers reported (a dead worker's count too).
    validation_errors: u64,
    /// Where workers go once they handed over their cache (without validation: with it, the
    /// replay waits for their last count, sent after their device is destroyed).
    exiting: &'a mut Exiting,
}

impl<'a> Pool<'a> {
    fn new(
        options: &'a ReplayOptions,
        device_recipe: &DeviceRecipe,
        exiting: &'a mut Exiting,
    ) -> Result<Self, ReplayError> {
        let mut device = Vec::new();
        ToWorker::Device {
            api_version: device_recipe.api_version,
            device_index: u32::try_from(options.device_index).unwrap_or(u32::MAX),
            validation: options.validation,
            device: device_recipe.to_bytes(),
        }
        .write(&mut device)
        .map_err(worker_error)?;
        Ok(Self {
            options,
            device,
            work: None,
            queue: VecDeque::new(),
            workers: HashMap::new(),
            next_id: 0,
            events: mpsc::channel(),
            results: BTreeMap::new(),
            reported: 0,
            total: 0,
            deaths_outside_pipelines: 0,
            cache_data: Vec::new(),
            handed_over: HashSet::new(),
            unsupported: None,
            validation_errors: 0,
            exiting,
        })
    }

    /// Starts workers until `wanted` run, or kills those beyond it (started early, before
    /// the number of pipelines was known; they have no work yet).
    fn start(&mut self, wanted: usize) -> Result<(), ReplayError> {
        while self.workers.len() < wanted {
            self.spawn()?;
        }
        let extra: Vec<usize> = self.workers.keys().copied().skip(wanted).collect();
        for id in extra {
            if let Some(mut worker) = self.workers.remove(&id) {
                // Its close, seen later, finds no worker and is ignored.
                let _ = worker.child.kill();
                let _ = worker.child.wait();
            }
        }
        Ok(())
    }

    /// Sends the work to the workers started without it; those started later get it at once.
    fn set_work(&mut self, work: Vec<u8>) {
        for worker in self.workers.values_mut() {
            // A worker that cannot take it dies and is seen closing.
            let _ = worker
                .input
                .write_all(&work)
                .and_then(|()| worker.input.flush());
        }
        self.work = Some(work);
    }

    fn run(
        &mut self,
        summary: &mut ReplaySummary,
        progress: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(), ReplayError> {
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
                    if output.buffer().is_empty() {
                        std::thread::sleep(ANSWER_COALESCING);
                    }
                }
                let _ = events.send(Event::Closed(id));
            })
            .map_err(worker_error)?;
        let mut input = BufWriter::new(stdin);
        // A worker that cannot take its job dies and is seen closing.
        let _ = input
            .write_all(&self.device)
            .and_then(|()| match &self.work {
                Some(work) => input.write_all(work),
                None => Ok(()),
            })
            .and_then(|()| input.flush());
        self.workers.insert(
            id,
            Worker {
                child,
                input,
                ready: false,
                in_flight: VecDeque::new(),
                deadline: Some(Instant::now() + self.options.pipeline_timeout),
                unsaved: Vec::new(),
                finishing: false,
                handed_over: false,
                killed_for_time: false,
            },
        );
        Ok(())
    }

    /// Tops up each ready worker to `IN_FLIGHT_PER_WORKER` pipelines, or sends `Finish` to
    /// one with nothing in flight when none is left.
    fn assign(&mut self) {
        for worker in self.workers.values_mut() {
            if !worker.ready || worker.finishing {
                continue;
            }
            while worker.in_flight.len() < IN_FLIGHT_PER_WORKER {
                let Some(pipeline) = self.queue.pop_front() else {
                    break;
                };
                if worker.in_flight.is_empty() {
                    // Idle until now: it starts on this one at once.
                    worker.deadline = Some(Instant::now() + self.options.pipeline_timeout);
                }
                worker.in_flight.push_back(pipeline);
                // A write to a dead worker fails; its closing is handled when seen.
                let _ = ToWorker::Pipeline(pipeline).write(&mut worker.input);
            }
            if worker.in_flight.is_empty() && self.queue.is_empty() {
                worker.finishing = true;
                worker.deadline = Some(Instant::now() + self.options.pipeline_timeout);
                let _ = ToWorker::Finish.write(&mut worker.input);
            }
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
            FromWorker::ValidationErrors(count) => {
                self.validation_errors = self.validation_errors.saturating_add(count);
            }
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
            } if worker.in_flight.front() == Some(&pipeline) => {
                worker.answered(self.options.pipeline_timeout);
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
            FromWorker::Unbuildable { pipeline, reason }
                if worker.in_flight.front() == Some(&pipeline) =>
            {
                worker.answered(self.options.pipeline_timeout);
                eprintln!("pcstore replay: pipeline {pipeline} not built: {reason}");
                self.finish(pipeline, PipelineOutcome::Unbuildable, progress);
            }
            FromWorker::CacheData(data) if worker.finishing => {
                worker.deadline = None;
                worker.handed_over = true;
                self.handed_over.extend(worker.unsaved.drain(..));
                self.cache_data.push(data);
                if !self.options.validation {
                    // Its close, seen later, finds no worker and is ignored.
                    if let Some(worker) = self.workers.remove(&id) {
                        self.exiting.0.push(worker.child);
                    }
                }
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
        // Died: what it created since its last hand-over is redone by the others, and what
        // was queued behind the pipeline it was on goes back first in line.
        self.queue.extend(worker.unsaved.drain(..));
        let current = worker.in_flight.pop_front();
        for pipeline in worker.in_flight.drain(..).rev() {
            self.queue.push_front(pipeline);
        }
        match current {
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

impl Drop for Pool<'_> {
    /// Workers never sent work (nothing to do, or an error before) are killed, not left
    /// waiting for it.
    fn drop(&mut self) {
        for (_, mut worker) in self.workers.drain() {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }
}
