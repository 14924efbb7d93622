//! cargo's test interface for the Vulkan tests that run their scenarios themselves
//! (tests/vulkan.rs, tests/layer.rs, tests/recipe_vulkan.rs), through libtest-mimic: one trial
//! per scenario (per driver and scenario), `--list` lists them, a filter, `--skip` and
//! `--exact` choose them as for any cargo test, and a failing scenario fails the binary.
//!
//! Trials run one at a time in the order they were added, whatever `--test-threads` says: some
//! read what an earlier one left in its folder (a reload, its save), and some bound latencies
//! that a scenario running beside them on the same cores would distort. A trial that needs an
//! earlier one's result runs it first when the filter left it out
//! ([`Trials::add_child_scenarios`]).
//!
//! `PCSTORE_SKIP_VULKAN_TESTS=1` is the explicit opt-out for machines without the drivers (CI
//! never sets it): every scenario is then reported as ignored, with that reason.
//!
//! Every such binary also gets the trial `harness/cargo-interface`, which runs the binary the way
//! cargo does and checks the interface above.
#![allow(dead_code)] // each includer uses a different part

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, FormatSetting, Trial};

use crate::vk_harness::{drivers, DRIVER_NAMES};

/// What a scenario returns: a one-line summary when it passed, why it failed otherwise.
pub type Outcome = Result<String, String>;

const SKIP_VARIABLE: &str = "PCSTORE_SKIP_VULKAN_TESTS";
/// Points the first driver at a file that does not exist, to see a scenario fail.
const BROKEN_DRIVER: (&str, &str) = (
    "PCSTORE_TEST_LAVAPIPE_ICD",
    "/nonexistent/pcstore-no-such-icd.json",
);
const INTERFACE_TRIAL: &str = "harness/cargo-interface";

/// The trials of one test binary, run with cargo's arguments.
pub struct Trials {
    arguments: Arguments,
    trials: Vec<Trial>,
    names: Vec<String>,
}

impl Trials {
    /// Reads the arguments cargo passes (everything after `--`).
    pub fn from_args() -> Self {
        let mut arguments = Arguments::from_args();
        // One at a time, in order: see the module documentation.
        arguments.test_threads = Some(1);
        Self {
            arguments,
            trials: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Adds a scenario that needs the Vulkan drivers. `scenario` returns its summary, or fails
    /// (an `Err` or a panic); the summary is printed under the trial's name.
    pub fn add(&mut self, name: String, scenario: impl FnOnce() -> Outcome + Send + 'static) {
        let show_summary = matches!(self.arguments.format, None | Some(FormatSetting::Pretty))
            && !self.arguments.quiet;
        self.names.push(name.clone());
        self.trials.push(Trial::ignorable_test(name, move || {
            if std::env::var(SKIP_VARIABLE).as_deref() == Ok("1") {
                return Ok(Completion::ignored_with(format!(
                    "{SKIP_VARIABLE}=1: Vulkan tests NOT run"
                )));
            }
            let summary = scenario().map_err(Failed::from)?;
            if show_summary {
                // libtest-mimic has printed "test NAME ... " and prints the verdict next: the
                // summary goes on a line of its own between them.
                print!("\n    {summary}\n    ");
            }
            Ok(Completion::Completed)
        }));
    }

    /// Adds one trial per scenario, in `plan`'s order, each with the scenario it needs to have
    /// run first (in the same process: each runs at most once, see [`Steps`]). A failed
    /// prerequisite fails the trial, naming it, without running its scenario.
    pub fn add_child_scenarios(
        &mut self,
        child_flag: &'static str,
        plan: Vec<(ChildScenario, Option<ChildScenario>)>,
    ) {
        let steps = Steps::default();
        for (scenario, needs) in plan {
            let steps = steps.clone();
            self.add(scenario.name(), move || {
                if let Some(needed) = needs {
                    let name = needed.name();
                    steps
                        .run(&name, || needed.run(child_flag))
                        .map_err(|why| format!("{name}, which this needs, failed: {why}"))?;
                }
                steps.run(&scenario.name(), || scenario.run(child_flag))
            });
        }
    }

    /// Runs the trials cargo's arguments select (or lists them) and exits: 0 when none failed.
    /// `cleanup` runs before the exit, whatever the outcome.
    pub fn run_and_exit(mut self, cleanup: impl FnOnce()) -> ! {
        let names = self.names.clone();
        self.trials.push(Trial::test(INTERFACE_TRIAL, move || {
            check_cargo_interface(&names)
        }));
        let conclusion: Conclusion = libtest_mimic::run(&self.arguments, self.trials);
        cleanup();
        conclusion.exit()
    }
}

/// Scenarios other scenarios need, each run at most once per process: a trial runs what it
/// needs first unless an earlier trial already did, and reuses that outcome.
#[derive(Clone, Default)]
struct Steps(Arc<Mutex<HashMap<String, Outcome>>>);

impl Steps {
    /// The outcome of the step `name`, running `step` unless it already ran.
    fn run(&self, name: &str, step: impl FnOnce() -> Outcome) -> Outcome {
        if let Some(outcome) = self.0.lock().unwrap().get(name) {
            return outcome.clone();
        }
        let outcome = step();
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), outcome.clone());
        outcome
    }
}

/// One scenario on one driver, run in a fresh child process of this binary as
/// `child_flag scenario dir`: the Vulkan loader reads `VK_DRIVER_FILES` once per process, and a
/// cross-process round trip needs a new process anyway.
pub struct ChildScenario {
    /// Index into [`DRIVER_NAMES`] and [`drivers`].
    pub driver: usize,
    pub scenario: &'static str,
    /// The folder the scenario works in.
    pub dir: PathBuf,
    /// `XDG_CACHE_HOME`: Mesa's and the validation layer's own caches would otherwise go to
    /// `$HOME` and distort timings.
    pub xdg_cache: PathBuf,
}

impl ChildScenario {
    /// "driver/scenario".
    pub fn name(&self) -> String {
        format!("{}/{}", DRIVER_NAMES[self.driver], self.scenario)
    }

    /// Runs it on its driver, with Mesa's shader cache off; the child finds its driver's name
    /// in `PCSTORE_TEST_DRIVER`.
    fn run(&self, child_flag: &str) -> Outcome {
        let driver = &drivers()[self.driver];
        std::fs::create_dir_all(&self.dir).expect("scenario folder");
        let output = Command::new(std::env::current_exe().expect("own path"))
            .args([child_flag, self.scenario])
            .arg(&self.dir)
            .env("VK_DRIVER_FILES", &driver.icd)
            .env("VK_ICD_FILENAMES", &driver.icd)
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("XDG_CACHE_HOME", &self.xdg_cache)
            .env("PCSTORE_TEST_DRIVER", driver.name)
            .output()
            .expect("spawn child");
        child_outcome(&output)
    }
}

/// The outcome of a scenario run as a child process: its trimmed stdout when it exited
/// successfully, else its status, stdout and stderr.
fn child_outcome(output: &Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        Ok(stdout.trim().to_owned())
    } else {
        Err(format!(
            "child {}\n--- stdout\n{stdout}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Runs this binary as cargo does and checks the interface: `--list` names every trial once,
/// `--skip`, `--exact` and a filter select what they should, and a scenario that fails (its
/// driver missing) fails the binary with its reason.
fn check_cargo_interface(names: &[String]) -> Result<(), Failed> {
    let all: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .chain([INTERFACE_TRIAL])
        .collect();
    let first_driver = first_lavapipe_trial(names)?;
    let listed = |args: &[&str]| -> Result<Vec<String>, Failed> {
        let output = this_binary(args).output().map_err(|e| e.to_string())?;
        let text = child_outcome(&output)?;
        Ok(text
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_owned)
            .collect())
    };
    let expect = |args: &[&str], keep: &dyn Fn(&str) -> bool| -> Result<(), Failed> {
        let expected: Vec<&str> = all.iter().copied().filter(|name| keep(name)).collect();
        let got = listed(args)?;
        if got == expected {
            Ok(())
        } else {
            Err(format!("{args:?} listed {got:?}, expected {expected:?}").into())
        }
    };
    expect(&["--list"], &|_| true)?;
    expect(&["--list", "--skip", "lavapipe"], &|name| {
        !name.contains("lavapipe")
    })?;
    expect(&["--list", "--exact", first_driver], &|name| {
        name == first_driver
    })?;
    expect(&["--list", "swiftshader/"], &|name| {
        name.contains("swiftshader/")
    })?;

    let output = this_binary(&["--exact", first_driver])
        .env(BROKEN_DRIVER.0, BROKEN_DRIVER.1)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failed_with_reason = !output.status.success()
        && stdout.contains(&format!("test {first_driver} ... FAILED"))
        && stdout.contains("Vulkan driver not found")
        && stdout.contains("1 failed");
    if failed_with_reason {
        Ok(())
    } else {
        Err(format!(
            "{first_driver} with its driver missing: {}\n{stdout}",
            output.status
        )
        .into())
    }
}

/// The first trial that runs on the first driver: the one the interface check breaks.
fn first_lavapipe_trial(names: &[String]) -> Result<&str, Failed> {
    names
        .iter()
        .find(|name| name.starts_with("lavapipe/"))
        .map(String::as_str)
        .ok_or_else(|| Failed::from("no trial runs on lavapipe"))
}

fn this_binary(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command
        .args(args)
        .args(["--color", "never"])
        .env_remove(SKIP_VARIABLE);
    command
}
