//! `pcstore replay [--app NAME] [--if-needed] [--workers N] [--timeout AGE] [--validate]`: rebuilds the
//! pipeline caches of recorded applications for the driver this machine runs, so their next
//! launch loads a warm cache (after a driver update, on a new GPU, from a launcher).
//!
//! The replay itself is the library's ([`replay_application`]): crash-isolated workers, which
//! are this program re-executed with [`WORKER_ARG`](pcstore::recipe::replay::WORKER_ARG) ([`worker`] is their `main`). Pipelines the
//! driver crashed on, hung on or refused are counted and recorded as bad for this driver, not
//! failures of the command: the replay did what this driver allows, and a launcher must not
//! stop a game over a driver bug. The command fails (exit 1) when libvulkan cannot be loaded,
//! the store has no recorded application (or none named `--app`), or an application's replay
//! could not run at all.

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use pcstore::recipe::replay::{
    replay_application, run_worker, PipelineOutcome, ReplayOptions, ReplayProgress, ReplaySummary,
    WorkerCommand,
};
use pcstore::recipe::{stored_application_record, stored_catalog, ApplicationRecord, RecipeKey};
use pcstore::PipelineCacheStore;
use serde::Serialize;

use super::Outcome;
use crate::output::Output;
use crate::store::{self, Access};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only this application: its executable name, its `VkApplicationInfo` name, or the start
    /// of its record key (hex, as printed).
    #[arg(long, value_name = "NAME")]
    app: Option<String>,
    /// Skip pipelines this driver already has: with nothing new recorded, returns at once.
    #[arg(long)]
    if_needed: bool,
    /// Worker processes (default: a quarter of the cores, at least one).
    #[arg(long, value_name = "N")]
    workers: Option<NonZeroUsize>,
    /// Longest one pipeline may take before its worker is killed and the pipeline marked bad
    /// for this driver (`60s`, `5min`).
    #[arg(long, value_name = "AGE", default_value = "60s")]
    timeout: humantime::Duration,
    /// Run the workers under VK_LAYER_KHRONOS_validation and report its errors (for tests and
    /// driver bring-up; the layer must be installed).
    #[arg(long)]
    validate: bool,
}

/// The `main` of a replay worker (the program started with [`WORKER_ARG`](pcstore::recipe::replay::WORKER_ARG)).
pub fn worker() -> ExitCode {
    match load_vulkan() {
        Ok(entry) => {
            // SAFETY: the entry point of the loader `entry` keeps loaded until this returns;
            // the replay that started this worker runs on the same loader (this program).
            let status = unsafe { run_worker(entry.static_fn().get_instance_proc_addr) };
            ExitCode::from(u8::try_from(status).unwrap_or(1))
        }
        Err(err) => {
            eprintln!("pcstore replay worker: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// libvulkan, loaded the way applications load it (so the same drivers, `VK_DRIVER_FILES`
/// and layers apply).
fn load_vulkan() -> anyhow::Result<ash::Entry> {
    // SAFETY: loading the system's Vulkan loader runs only its own initialisers; nothing else
    // in this process loads or unloads it.
    unsafe { ash::Entry::load() }.context("cannot load libvulkan (is a Vulkan loader installed?)")
}

/// The JSON line printed after each pipeline.
#[derive(Serialize)]
struct ProgressLine<'a> {
    application: &'a str,
    done: usize,
    total: usize,
    pipeline: String,
    outcome: String,
}

#[derive(Serialize)]
struct Report {
    applications: Vec<Replayed>,
}

/// One application's replay: its summary, or why it could not run.
#[derive(Serialize)]
struct Replayed {
    key: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten)]
    summary: Option<Counts>,
}

#[derive(Serialize)]
struct Counts {
    recorded: usize,
    created: usize,
    cache_hits: usize,
    already_replayed: usize,
    skipped_bad: usize,
    crashed: Vec<String>,
    timed_out: Vec<String>,
    driver_failed: Vec<DriverFailed>,
    unbuildable: Vec<String>,
    unsupported: Vec<Unsupported>,
    cancelled: usize,
    worker_restarts: usize,
    saved_bytes: u64,
    validation_errors: u64,
}

#[derive(Serialize)]
struct DriverFailed {
    pipeline: String,
    result: String,
}

#[derive(Serialize)]
struct Unsupported {
    device: String,
    reason: String,
}

impl From<&ReplaySummary> for Counts {
    fn from(summary: &ReplaySummary) -> Self {
        let keys = |keys: &[RecipeKey]| keys.iter().map(RecipeKey::to_string).collect();
        Self {
            recorded: summary.recorded,
            created: summary.created,
            cache_hits: summary.cache_hits,
            already_replayed: summary.already_replayed,
            skipped_bad: summary.skipped_bad,
            crashed: keys(&summary.crashed),
            timed_out: keys(&summary.timed_out),
            driver_failed: summary
                .driver_failed
                .iter()
                .map(|(pipeline, result)| DriverFailed {
                    pipeline: pipeline.to_string(),
                    result: format!("{result:?}"),
                })
                .collect(),
            unbuildable: keys(&summary.unbuildable),
            unsupported: summary
                .unsupported
                .iter()
                .map(|(device, reason)| Unsupported {
                    device: device.to_string(),
                    reason: reason.clone(),
                })
                .collect(),
            cancelled: summary.cancelled,
            worker_restarts: summary.worker_restarts,
            saved_bytes: summary.saves.iter().map(|save| save.stored_bytes).sum(),
            validation_errors: summary.validation_errors,
        }
    }
}

/// A recorded application: where its record is, and what it is called.
struct Application {
    key: RecipeKey,
    /// Executable and `VkApplicationInfo` name (the first two NUL-separated fields of the
    /// layer's identity; an engine's identity is shown whole).
    names: Vec<String>,
}

impl Application {
    fn new(key: RecipeKey, record: Option<&ApplicationRecord>) -> Self {
        let names = record.map_or_else(Vec::new, |record| {
            record
                .identity
                .split(|byte| *byte == 0)
                .take(2)
                .map(|name| String::from_utf8_lossy(name).into_owned())
                .filter(|name| !name.is_empty())
                .collect()
        });
        Self { key, names }
    }

    fn display_name(&self) -> String {
        self.names
            .first()
            .cloned()
            .unwrap_or_else(|| self.key.to_string())
    }

    fn is_named(&self, name: &str) -> bool {
        self.names.iter().any(|known| known == name) || self.key.to_string().starts_with(name)
    }
}

pub fn run(out: &Output, dir: Option<PathBuf>, args: Args) -> anyhow::Result<Outcome> {
    let dir = store::directory(dir)?;
    // Written as an application writes it (the replay saves caches and its records there), but
    // never created: a mistyped path has nothing to replay.
    if !dir.is_dir() {
        bail!("no store at {}", dir.display());
    }
    // What to replay is found read-only first: an empty directory gets no store files from a
    // replay that has nothing to do.
    let applications = {
        let looking = store::open(Some(dir.clone()), Access::Look)?;
        recorded_applications(&looking, &args, &dir)?
    };
    let store: Arc<dyn PipelineCacheStore> = Arc::new(store::open(Some(dir.clone()), Access::Add)?);
    let entry = load_vulkan()?;
    let mut options = ReplayOptions::new(
        WorkerCommand::current_exe().context("finding this program to start workers")?,
    );
    options.if_needed = args.if_needed;
    options.pipeline_timeout = args.timeout.into();
    options.validation = args.validate;
    if let Some(workers) = args.workers {
        options.workers = workers.get();
    }

    let mut report = Report {
        applications: Vec::new(),
    };
    for application in &applications {
        let name = application.display_name();
        let bar = out.progress(0, "replaying");
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {pos}/{len} {per_sec} {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message(name.clone());
        let mut progress = |step: &ReplayProgress| {
            if out.is_json() {
                out.line(&ProgressLine {
                    application: &name,
                    done: step.done,
                    total: step.total,
                    pipeline: step.pipeline.to_string(),
                    outcome: outcome_name(step.outcome),
                });
            } else {
                bar.set_length(step.total as u64);
                bar.set_position(step.done as u64);
            }
        };
        // SAFETY: the loader's entry point, kept loaded by `entry` for this whole function;
        // the workers are this program, which runs `run_worker` on the same loader.
        let replayed = unsafe {
            replay_application(
                &store,
                entry.static_fn().get_instance_proc_addr,
                &application.key,
                &options,
                &mut progress,
            )
        };
        bar.finish_and_clear();
        report.applications.push(match replayed {
            Ok(summary) => Replayed {
                key: application.key.to_string(),
                name,
                error: None,
                summary: Some(Counts::from(&summary)),
            },
            Err(err) => Replayed {
                key: application.key.to_string(),
                name,
                error: Some(err.to_string()),
                summary: None,
            },
        });
    }
    if out.is_json() {
        out.line(&report);
    } else {
        out.emit(&report, || text(&report));
    }
    let failed = report
        .applications
        .iter()
        .filter(|replayed| replayed.error.is_some())
        .count();
    Ok(if failed == 0 {
        Outcome::Done
    } else {
        Outcome::Failed(format!(
            "{failed} of {} applications could not be replayed",
            report.applications.len()
        ))
    })
}

/// The applications of the store's catalog, or the one `--app` names.
fn recorded_applications(
    store: &dyn PipelineCacheStore,
    args: &Args,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<Application>> {
    let catalog = stored_catalog(store)
        .context("the store's catalog of recorded applications is damaged")?
        .unwrap_or_default();
    if catalog.applications.is_empty() {
        bail!(
            "no recorded applications in {} (record them by running them with the pcstore layer)",
            dir.display()
        );
    }
    let applications: Vec<Application> = catalog
        .applications
        .iter()
        .map(|key| {
            // A missing or damaged record still gets its replay (which reports why it fails).
            let record = stored_application_record(store, key).ok().flatten();
            Application::new(*key, record.as_ref())
        })
        .filter(|application| {
            args.app
                .as_deref()
                .map_or(true, |name| application.is_named(name))
        })
        .collect();
    if let (Some(name), true) = (&args.app, applications.is_empty()) {
        bail!("no recorded application named {name} in {}", dir.display());
    }
    Ok(applications)
}

fn outcome_name(outcome: PipelineOutcome) -> String {
    match outcome {
        PipelineOutcome::Created {
            cache_hit: Some(true),
        } => "created (cache hit)".into(),
        PipelineOutcome::Created { .. } => "created".into(),
        PipelineOutcome::DriverFailed(result) => format!("driver failed ({result:?})"),
        PipelineOutcome::Crashed => "crashed".into(),
        PipelineOutcome::TimedOut => "timed out".into(),
        PipelineOutcome::Unbuildable => "unbuildable".into(),
    }
}

fn text(report: &Report) -> String {
    let mut text = String::new();
    for replayed in &report.applications {
        let _ = write!(text, "{}: ", replayed.name);
        let Some(counts) = &replayed.summary else {
            let _ = writeln!(
                text,
                "not replayed: {}",
                replayed.error.as_deref().unwrap_or("")
            );
            continue;
        };
        let _ = write!(
            text,
            "{} of {} pipelines created",
            counts.created, counts.recorded
        );
        if counts.already_replayed > 0 {
            let _ = write!(text, ", {} already replayed", counts.already_replayed);
        }
        if counts.skipped_bad > 0 {
            let _ = write!(
                text,
                ", {} skipped (bad on this driver)",
                counts.skipped_bad
            );
        }
        let newly_bad = counts.crashed.len() + counts.timed_out.len() + counts.driver_failed.len();
        if newly_bad > 0 {
            let _ = write!(
                text,
                ", {newly_bad} newly marked bad ({} crashed, {} timed out, {} refused)",
                counts.crashed.len(),
                counts.timed_out.len(),
                counts.driver_failed.len()
            );
        }
        if !counts.unbuildable.is_empty() {
            let _ = write!(text, ", {} unbuildable", counts.unbuildable.len());
        }
        if counts.validation_errors > 0 {
            let _ = write!(text, ", {} validation errors", counts.validation_errors);
        }
        for unsupported in &counts.unsupported {
            let _ = write!(
                text,
                ", device {} unsupported: {}",
                unsupported.device, unsupported.reason
            );
        }
        text.push('\n');
    }
    text
}
