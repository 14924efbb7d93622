//! A replay worker: one process creating the pipelines its replay sends, so a driver that
//! aborts or hangs takes down only this process.

use std::io::{self, BufReader, BufWriter, Write};

use ash::vk;

use super::driver::{PipelineReplayer, ReplayDevice, ReplayInstance};
use super::protocol::{FromWorker, ToWorker};
use crate::recipe::device::DeviceRecipe;
use crate::recipe::key::Recipe;

/// The argument a replaying program is re-executed with to become a worker (see
/// [`run_worker`]).
pub const WORKER_ARG: &str = "--pcstore-replay-worker";

/// Nice levels a worker lowers itself by: replay runs beside games and desktops.
const WORKER_NICENESS: i32 = 10;

/// Runs this process as a replay worker: call it first thing in `main` when the program was
/// started with [`WORKER_ARG`] (the replay starts workers that way), and exit with what it
/// returns. It reads the device to create, then the work and the pipelines on stdin, creates
/// each pipeline on its own device with a cache seeded by the replay, and answers on stdout; anything else printing to stdout
/// (the driver, a layer) is sent to stderr instead.
///
/// Returns the process exit status: 0 after a finished job, 1 when the protocol broke.
///
/// # Safety
/// `get_instance_proc_addr` must be a loader's (or a layer chain's) valid entry point.
pub unsafe fn run_worker(get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr) -> i32 {
    crate::platform::lower_priority(WORKER_NICENESS);
    let output = match crate::platform::take_stdout_for_protocol() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("pcstore replay worker: {error}");
            return 1;
        }
    };
    let mut output = BufWriter::new(output);
    let mut input = BufReader::new(io::stdin().lock());
    // SAFETY: a valid entry point (caller).
    match unsafe { serve(get_instance_proc_addr, &mut input, &mut output) } {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("pcstore replay worker: {error}");
            1
        }
    }
}

/// The worker's whole conversation.
///
/// # Safety
/// As [`run_worker`].
unsafe fn serve(
    get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    input: &mut impl io::Read,
    output: &mut impl Write,
) -> io::Result<()> {
    let Some(ToWorker::Device {
        api_version,
        device_index,
        validation,
        device,
    }) = ToWorker::read(input)?
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the first message is not a device",
        ));
    };
    let unsupported =
        |output: &mut _, reason: String| FromWorker::Unsupported(reason).write(output);
    let device_recipe = match DeviceRecipe::from_bytes(&device) {
        Ok(recipe) => recipe,
        Err(error) => return unsupported(output, format!("device recipe: {error:?}")),
    };
    // SAFETY: a valid entry point (caller).
    let instance = match unsafe {
        ReplayInstance::with_validation(
            get_instance_proc_addr,
            api_version,
            device_index as usize,
            validation,
        )
    } {
        Ok(instance) => instance,
        Err(error) => return unsupported(output, error.to_string()),
    };
    let mut reporter = ValidationReporter {
        instance: &instance,
        reported: 0,
    };
    let device = match instance.create_device(Some(&device_recipe)) {
        Ok(device) => device,
        Err(error) => {
            reporter.report(output)?;
            return unsupported(output, error.to_string());
        }
    };
    // The work follows once the replay has loaded the cache; none comes (the pipe closes, or
    // this process is killed) when the replay turns out to have nothing to do.
    let outcome = match ToWorker::read(input) {
        Ok(Some(ToWorker::Work { seed, recipes })) => {
            replay_on(&device, &recipes, &seed, &mut reporter, input, output)
        }
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the second message is not the work",
        )),
        Err(error) => Err(error),
    };
    // SAFETY: the replayer's objects and the cache were destroyed in `replay_on`.
    unsafe { device.destroy() };
    // What destroying reported too (the replay reads until this process exits).
    outcome.and_then(|()| reporter.report(output))
}

/// Sends the validation errors counted since the last report, if any, so the replay has them
/// even if the driver takes this process down later.
struct ValidationReporter<'i> {
    instance: &'i ReplayInstance,
    reported: u64,
}

impl ValidationReporter<'_> {
    fn report(&mut self, output: &mut impl Write) -> io::Result<()> {
        let errors = self.instance.validation_errors();
        if errors == self.reported {
            return Ok(());
        }
        let new = errors - self.reported;
        self.reported = errors;
        FromWorker::ValidationErrors(new).write(output)
    }
}

fn replay_on(
    device: &ReplayDevice<'_>,
    recipes: &super::set::RecipeSet,
    seed: &[u8],
    reporter: &mut ValidationReporter<'_>,
    input: &mut impl io::Read,
    output: &mut impl Write,
) -> io::Result<()> {
    let cache = match device.create_cache(seed) {
        Ok(cache) => cache,
        // Seed data the driver refuses: an empty cache, as the adapter does.
        Err(_) => device
            .create_cache(&[])
            .map_err(|error| io::Error::other(error.to_string()))?,
    };
    let mut replayer = PipelineReplayer::new(device, recipes);
    let mut outcome = reporter
        .report(output)
        .and_then(|()| FromWorker::Ready.write(output));
    while outcome.is_ok() {
        outcome = match ToWorker::read(input) {
            Ok(Some(ToWorker::Pipeline(pipeline))) => {
                // SAFETY: a live device and a cache of it used by this thread only.
                let answer = match unsafe { replayer.create(&pipeline, cache) } {
                    Ok(created) => FromWorker::Created {
                        pipeline,
                        result: created.result.as_raw(),
                        cache_hit: created.cache_hit.map_or(2, u8::from),
                    },
                    Err(error) => FromWorker::Unbuildable {
                        pipeline,
                        reason: error.to_string(),
                    },
                };
                reporter.report(output).and_then(|()| answer.write(output))
            }
            Ok(Some(ToWorker::Finish)) => {
                // SAFETY: a live cache of this device.
                outcome = unsafe { device.device.get_pipeline_cache_data(cache) }
                    .map_err(|error| io::Error::other(error.to_string()))
                    .and_then(|data| {
                        reporter.report(output)?;
                        FromWorker::CacheData(data).write(output)
                    });
                break;
            }
            Ok(Some(ToWorker::Device { .. } | ToWorker::Work { .. })) => {
                Err(io::Error::new(io::ErrorKind::InvalidData, "a second job"))
            }
            // The replay went away: nothing to answer.
            Ok(None) => break,
            Err(error) => Err(error),
        };
    }
    // SAFETY: no creation in flight; objects of this live device.
    unsafe {
        replayer.destroy();
        device.device.destroy_pipeline_cache(cache, None);
    }
    outcome
}
