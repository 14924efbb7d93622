//! Replay throughput against the application's own creation of the same pipelines, on the CPU
//! drivers:
//!
//!     eval "$(bash scripts/vulkan-drivers.sh)"   # for SwiftShader (lavapipe is required)
//!     cargo bench --bench replay_throughput --features vulkan
//!
//! The scene: the varied scene of tests/recipe_support (compute with specialization and push
//! constants, render passes of both APIs with several subpasses, dynamic rendering, vertex
//! bindings, immutable samplers, blend and dynamic states...) created `SCENE_COPIES` times,
//! each time with one more specialization constant in every stage (an ID no shader declares,
//! so valid everywhere, but part of what the driver compiles and keys its cache by): hundreds
//! or thousands of distinct pipelines, in the same batches the scene uses.
//!
//! - The application: a first launch, so a fresh process per run (the driver loaded anew, as
//!   a replay worker loads it) creates the scene on a device with the scene's features, with
//!   no pipeline cache, and records it through the library's `RecipeRecorder` (as the layer
//!   does) into a disk store. It creates each distinct pipeline once, as the replay does: the
//!   scene repeats one cheap compute pipeline per copy (a derivative with another's recipe),
//!   and counting those repeats made the application's rate 5% higher than its rate on the
//!   pipelines the replay creates. Its rate: pipelines over the time spent in
//!   `vkCreate*Pipelines` only (recording, modules, layouts and the process's start excluded).
//! - The replay: `replay_application` with 1 and 2 workers (this program re-executed) from a
//!   fresh disk store holding only the recipes, into an empty cache. Its rate: pipelines over
//!   the whole call (reading the store, starting workers and their devices, sending recipes,
//!   creating modules and layouts, merging, saving, flushing). The same replay of one copy of
//!   the scene splits that time into a fixed cost and a marginal rate (two points of
//!   time = fixed + pipelines / rate): the fixed cost is what a small scene this cheap to
//!   compile shows most.
//!
//! Validation layers off; `MESA_SHADER_CACHE_DISABLE=true` and a private `XDG_CACHE_HOME` (no
//! driver disk cache on either side). Medians of `RUNS` runs of each; the machine is shared, so
//! compare ratios within one run. Goal: 1 worker >= 0.9x the application's own rate.

#[path = "../tests/recipe_support/mod.rs"]
mod recipe_support;
#[path = "../tests/support/vk_harness.rs"]
mod vk_harness;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::recipe::replay::{
    replay_application, run_worker, ReplayOptions, WorkerCommand, WORKER_ARG,
};
use pcstore::recipe::{
    AnyRecipe, ApplicationRecord, CacheTarget, DeviceRecipe, NamespaceScheme, Recipe, RecipeKey,
    RecipeRecorder,
};
use pcstore::vulkan::ash::{self, vk};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use recipe_support::{create_scene, scene_pipeline_count, Creator, SceneOptions};

/// Copies of the scene, each with its own specialization (8-9 pipelines per copy): a small
/// game's 320-360 pipelines, and a larger one's 3200-3600.
const SCENE_COPIES: [u32; 2] = [40, 400];
/// The specialization constant ID the variants set (declared by no shader of the scene).
const VARIANT_CONSTANT_ID: u32 = 900;
/// Runs of each measurement (medians reported).
const RUNS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == WORKER_ARG) {
        // SAFETY: the loader's entry point, loaded for the process's life.
        std::process::exit(unsafe { run_worker(vk_harness::system_get_instance_proc_addr()) });
    }
    if let Some(at) = args.iter().position(|arg| arg == "--driver") {
        run_driver(&args[at + 1]);
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == "--application") {
        run_application(
            &args[at + 1],
            args[at + 2].parse().expect("copies"),
            &args[at + 3],
        );
        return;
    }
    println!(
        "| driver | pipelines (each created once by both) | application (no cache) \
         | replay, 1 worker | replay, 2 workers | 1 worker: fixed + marginal rate \
         | 2 workers: fixed + marginal rate |"
    );
    println!("|---|---|---|---|---|---|---|");
    let work = std::env::temp_dir().join(format!("pcstore-replay-bench-{}", std::process::id()));
    // Both CPU drivers, found as the Vulkan tests find them (missing: a panic that says so).
    for vk_harness::Driver { name, icd } in vk_harness::drivers() {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(["--driver", name])
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("XDG_CACHE_HOME", work.join("xdg"))
            .env("PCSTORE_BENCH_WORK", work.join(name))
            .status()
            .expect("spawn");
        assert!(status.success(), "{name} benchmark failed");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// One driver, in its own process: per scene size, the application's runs, then the replays.
fn run_driver(driver: &str) {
    let work = PathBuf::from(std::env::var_os("PCSTORE_BENCH_WORK").expect("work folder"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work folder");
    // One copy of the scene under a name of its own: its replay is mostly fixed cost.
    let (one_copy, _, _) = application_process(driver, 1, "replaybench-one");
    let scenes: Vec<(RecipeKey, usize, f64)> = SCENE_COPIES
        .iter()
        .map(|copies| {
            let name = format!("replaybench-{copies}");
            let runs: Vec<(RecipeKey, usize, f64)> = (0..RUNS)
                .map(|_| application_process(driver, *copies, &name))
                .collect();
            let (key, created, _) = runs[0];
            let rate = median(
                runs.iter()
                    .map(|(_, created, seconds)| *created as f64 / seconds)
                    .collect(),
            );
            (key, created, rate)
        })
        .collect();
    let recorded: Arc<dyn PipelineCacheStore> =
        Arc::new(DiskCache::new(work.join("recorded")).expect("recorded store"));
    // The median seconds of replaying `application` with `workers`, and its distinct pipelines.
    let timed = |application: &RecipeKey, workers: usize| {
        let times: Vec<(usize, f64)> = (0..RUNS)
            .map(|run| {
                let dir = work.join(format!("replay-{workers}-{run}"));
                let timed = replay(&dir, recorded.as_ref(), application, workers);
                let _ = std::fs::remove_dir_all(&dir);
                timed
            })
            .collect();
        (
            times[0].0,
            median(times.into_iter().map(|(_, t)| t).collect()),
        )
    };
    let one_copy_times = [timed(&one_copy, 1), timed(&one_copy, 2)];
    for (application, created, application_rate) in scenes {
        let mut cells = Vec::new();
        let mut details = Vec::new();
        let mut distinct = 0;
        for (workers, (small, small_seconds)) in [1, 2].into_iter().zip(one_copy_times) {
            let seconds;
            (distinct, seconds) = timed(&application, workers);
            let rate = distinct as f64 / seconds;
            cells.push(format!("{rate:.0}/s ({:.2}x)", rate / application_rate));
            // Two points of seconds = fixed + pipelines x per-pipeline.
            let per_pipeline = (seconds - small_seconds) / (distinct - small) as f64;
            let fixed = small_seconds - small as f64 * per_pipeline;
            details.push(format!(
                "{:.0} ms + {:.0}/s ({:.2}x)",
                fixed * 1e3,
                1.0 / per_pipeline,
                1.0 / per_pipeline / application_rate
            ));
        }
        assert_eq!(
            distinct, created,
            "the application creates what the replay creates"
        );
        println!(
            "| {driver} | {distinct} | {application_rate:.0}/s | {} | {} | {} | {} |",
            cells[0], cells[1], details[0], details[1]
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Runs the application as a first launch does: in a fresh process (`run_application`) that
/// loads the driver and creates the scene once; the application record's key, the pipelines
/// created and the seconds spent creating them.
fn application_process(driver: &str, copies: u32, name: &str) -> (RecipeKey, usize, f64) {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["--application", driver, &copies.to_string(), name])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("spawn the application");
    assert!(
        output.status.success(),
        "the application failed on {driver}"
    );
    let line = String::from_utf8(output.stdout).expect("UTF-8");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let key = PipelineFingerprint::from_hex(fields[0]).expect("application key");
    (
        RecipeKey(key),
        fields[1].parse().expect("pipelines"),
        fields[2].parse().expect("seconds"),
    )
}

/// The application's process: creates `copies` of the scene on `driver`, records them into
/// the bench's recorded store and prints its record's key, the pipelines created and the
/// seconds spent creating them.
fn run_application(driver: &str, copies: u32, name: &str) {
    let work = PathBuf::from(std::env::var_os("PCSTORE_BENCH_WORK").expect("work folder"));
    let recorded: Arc<dyn PipelineCacheStore> =
        Arc::new(DiskCache::new(work.join("recorded")).expect("recorded store"));
    let (key, created, spent) = application(driver, &recorded, copies, name.as_bytes());
    recorded.flush().expect("flush the recipes");
    println!("{key} {created} {}", spent.as_secs_f64());
}

/// Replays `application` from a fresh store at `dir` with `workers` workers: the pipelines
/// created and the seconds the whole call took.
fn replay(
    dir: &Path,
    recorded: &dyn PipelineCacheStore,
    application: &RecipeKey,
    workers: usize,
) -> (usize, f64) {
    let store = fresh_store(dir, recorded, application);
    let distinct = {
        let bytes = store
            .get(&application.fingerprint())
            .expect("application record");
        let record = ApplicationRecord::from_bytes(&bytes).expect("parses");
        record.pipelines.values().map(BTreeSet::len).sum::<usize>()
    };
    let mut options = ReplayOptions::new(WorkerCommand::current_exe().expect("own path"));
    options.workers = workers;
    let started = Instant::now();
    // SAFETY: the loader's entry point; the workers are this program, which runs `run_worker`
    // on the same loader.
    let summary = unsafe {
        replay_application(
            &store,
            vk_harness::system_get_instance_proc_addr(),
            application,
            &options,
            &mut |_| {},
        )
    }
    .expect("replay");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(summary.created, distinct, "{summary:?}");
    (distinct, seconds)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A disk store at `dir` holding only what the replay of `application` needs, copied from
/// `recorded` (as a remote tier or a bundle brings recipes to a player's machine).
fn fresh_store(
    dir: &Path,
    recorded: &dyn PipelineCacheStore,
    application: &RecipeKey,
) -> Arc<dyn PipelineCacheStore> {
    let store = DiskCache::new(dir).expect("disk store");
    let record = ApplicationRecord::from_bytes(
        &recorded
            .get(&application.fingerprint())
            .expect("application record"),
    )
    .expect("parses");
    let mut pending: Vec<RecipeKey> = vec![*application];
    for (device, pipelines) in &record.pipelines {
        pending.push(*device);
        pending.extend(pipelines.iter().copied());
    }
    let mut copied = BTreeSet::new();
    while let Some(key) = pending.pop() {
        if !copied.insert(key) {
            continue;
        }
        let bytes = recorded.get(&key.fingerprint()).expect("recorded");
        if let Ok(recipe) = AnyRecipe::from_bytes(&bytes) {
            pending.extend(recipe.references());
        }
        store.try_put(key.fingerprint(), bytes).expect("put");
    }
    store.flush().expect("flush");
    Arc::new(store)
}

// ---------------------------------------------------------------------------------------------
// The application: the scene's variants on the driver, timed and recorded.

/// Creates `copies` variants of the scene as an application would (no pipeline cache),
/// recording them into `store` as application `name`: the application record's key, the
/// pipelines created, and the time spent in `vkCreate*Pipelines`.
fn application(
    driver: &str,
    store: &Arc<dyn PipelineCacheStore>,
    copies: u32,
    name: &[u8],
) -> (RecipeKey, usize, Duration) {
    // SAFETY: the loader's entry point.
    let entry = unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_harness::system_get_instance_proc_addr(),
        })
    };
    let app_info = vk::ApplicationInfo::default()
        .application_name(c"pcstore replay bench")
        .api_version(vk::API_VERSION_1_3);
    // SAFETY: a valid create-info; destroyed below.
    let instance = unsafe {
        entry.create_instance(
            &vk::InstanceCreateInfo::default().application_info(&app_info),
            None,
        )
    }
    .expect("instance");
    // SAFETY: a live instance.
    let physical_device = unsafe { instance.enumerate_physical_devices() }.expect("devices")[0];
    let options = scene_options(driver, &instance, physical_device);
    let (device, device_recipe) = create_device(&instance, physical_device, &options);
    let cache = CacheTarget {
        key: PipelineFingerprint::of(b"pcstore replay bench cache"),
        namespace: b"replaybench".to_vec(),
        scheme: NamespaceScheme::WithDeviceName,
    };
    let mut identity = name.to_vec();
    identity.extend_from_slice(b"\0pcstore replay bench\0");
    let recorder = RecipeRecorder::new(Arc::clone(store), identity, cache, &device_recipe);
    let mut driver_creator = OnDriver {
        device: &device,
        recorder: &recorder,
        objects: Objects::default(),
        created: BTreeSet::new(),
        creating: Duration::ZERO,
    };
    let mut variants = Variants {
        inner: &mut driver_creator,
        variant: 0,
    };
    for variant in 0..copies {
        variants.variant = variant;
        create_scene(&mut variants, &options);
    }
    let created = driver_creator.objects.pipelines.len();
    assert!(
        created < copies as usize * scene_pipeline_count(&options),
        "the scene's repeated pipeline is created once"
    );
    let spent = driver_creator.creating;
    driver_creator.objects.destroy(&device);
    recorder.flush();
    // SAFETY: nothing of the device or instance is in use.
    unsafe {
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
    (recorder.application_key(), created, spent)
}

/// What each driver's scene contains (what it lacks is left out by name, as in
/// tests/recipe_vulkan.rs).
fn scene_options(
    driver: &str,
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
) -> SceneOptions {
    let lavapipe = driver == "lavapipe";
    let mut vulkan13 = vk::PhysicalDeviceVulkan13Properties::default();
    let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut vulkan13);
    // SAFETY: a physical device of the live instance, a valid chain.
    unsafe { instance.get_physical_device_properties2(physical_device, &mut properties) };
    SceneOptions {
        subgroup_size: vulkan13.min_subgroup_size,
        min_max_reduction: lavapipe,
        partially_bound: !lavapipe,
        divisors: lavapipe,
        tessellation: lavapipe,
        color_write: lavapipe,
    }
}

/// The device the scene needs (its extensions and features), and its recipe.
fn create_device(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    options: &SceneOptions,
) -> (ash::Device, DeviceRecipe) {
    let mut extensions = vec![
        ash::ext::custom_border_color::NAME.as_ptr(),
        ash::ext::depth_clip_enable::NAME.as_ptr(),
        ash::ext::depth_clip_control::NAME.as_ptr(),
        ash::ext::line_rasterization::NAME.as_ptr(),
        ash::ext::provoking_vertex::NAME.as_ptr(),
    ];
    if options.divisors {
        extensions.push(ash::ext::vertex_attribute_divisor::NAME.as_ptr());
    }
    if options.color_write {
        extensions.push(ash::ext::color_write_enable::NAME.as_ptr());
    }
    let core = vk::PhysicalDeviceFeatures::default()
        .sampler_anisotropy(true)
        .sample_rate_shading(true)
        .independent_blend(true)
        .tessellation_shader(options.tessellation);
    let mut vulkan11 = vk::PhysicalDeviceVulkan11Features::default().multiview(true);
    let mut vulkan12 = vk::PhysicalDeviceVulkan12Features::default()
        .separate_depth_stencil_layouts(true)
        .sampler_filter_minmax(options.min_max_reduction)
        .descriptor_binding_partially_bound(options.partially_bound);
    let mut vulkan13 = vk::PhysicalDeviceVulkan13Features::default()
        .dynamic_rendering(true)
        .subgroup_size_control(true)
        .compute_full_subgroups(true);
    let mut border = vk::PhysicalDeviceCustomBorderColorFeaturesEXT::default()
        .custom_border_colors(true)
        .custom_border_color_without_format(true);
    let mut depth_clip =
        vk::PhysicalDeviceDepthClipEnableFeaturesEXT::default().depth_clip_enable(true);
    let mut clip_control =
        vk::PhysicalDeviceDepthClipControlFeaturesEXT::default().depth_clip_control(true);
    let mut lines =
        vk::PhysicalDeviceLineRasterizationFeaturesKHR::default().rectangular_lines(true);
    let mut provoking =
        vk::PhysicalDeviceProvokingVertexFeaturesEXT::default().provoking_vertex_last(true);
    let mut divisor = vk::PhysicalDeviceVertexAttributeDivisorFeaturesKHR::default()
        .vertex_attribute_instance_rate_divisor(true);
    let mut color_write =
        vk::PhysicalDeviceColorWriteEnableFeaturesEXT::default().color_write_enable(true);
    // SAFETY: a physical device of the live instance.
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
    let queue_family = families
        .iter()
        .position(|family| {
            family
                .queue_flags
                .contains(vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE)
        })
        .expect("graphics and compute queue family") as u32;
    let priorities = [1.0f32];
    let queues = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(queue_family)
        .queue_priorities(&priorities)];
    let mut info = vk::DeviceCreateInfo::default()
        .queue_create_infos(&queues)
        .enabled_extension_names(&extensions)
        .enabled_features(&core)
        .push_next(&mut vulkan11)
        .push_next(&mut vulkan12)
        .push_next(&mut vulkan13)
        .push_next(&mut border)
        .push_next(&mut depth_clip)
        .push_next(&mut clip_control)
        .push_next(&mut lines)
        .push_next(&mut provoking);
    if options.divisors {
        info = info.push_next(&mut divisor);
    }
    if options.color_write {
        info = info.push_next(&mut color_write);
    }
    // SAFETY: a valid create-info.
    let recipe = unsafe { DeviceRecipe::capture(&info, vk::API_VERSION_1_3) }.expect("device");
    // SAFETY: a physical device of the live instance and a valid create-info.
    let device = unsafe { instance.create_device(physical_device, &info, None) }
        .expect("vkCreateDevice with the scene's features");
    (device, recipe)
}

/// Objects to destroy, in reverse creation order.
#[derive(Default)]
struct Objects {
    pipelines: Vec<vk::Pipeline>,
    render_passes: Vec<vk::RenderPass>,
    pipeline_layouts: Vec<vk::PipelineLayout>,
    set_layouts: Vec<vk::DescriptorSetLayout>,
    samplers: Vec<vk::Sampler>,
    modules: Vec<vk::ShaderModule>,
}

impl Objects {
    fn destroy(&mut self, device: &ash::Device) {
        // SAFETY: objects of `device`, none in use.
        unsafe {
            for pipeline in self.pipelines.drain(..) {
                device.destroy_pipeline(pipeline, None);
            }
            for render_pass in self.render_passes.drain(..) {
                device.destroy_render_pass(render_pass, None);
            }
            for layout in self.pipeline_layouts.drain(..) {
                device.destroy_pipeline_layout(layout, None);
            }
            for layout in self.set_layouts.drain(..) {
                device.destroy_descriptor_set_layout(layout, None);
            }
            for sampler in self.samplers.drain(..) {
                device.destroy_sampler(sampler, None);
            }
            for module in self.modules.drain(..) {
                device.destroy_shader_module(module, None);
            }
        }
    }
}

/// The application on the driver: records each object and creates it (recording is not
/// timed; pipeline creation is), each distinct pipeline once.
struct OnDriver<'a> {
    device: &'a ash::Device,
    recorder: &'a RecipeRecorder,
    objects: Objects,
    /// The pipelines created, by recipe key.
    created: BTreeSet<RecipeKey>,
    creating: Duration,
}

impl Creator for OnDriver<'_> {
    recipe_support::objects_created_and_recorded!(objects);
    fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]) {
        let keys: Vec<RecipeKey> = infos
            .iter()
            .map(|info| {
                // SAFETY: a valid create-info of the scene.
                unsafe { self.recorder.compute_pipeline(info) }.expect("recorded")
            })
            .collect();
        let infos = self.first_creations(infos, keys);
        let started = Instant::now();
        // SAFETY: valid create-infos on the live device with the scene's features.
        let created = unsafe {
            self.device
                .create_compute_pipelines(vk::PipelineCache::null(), &infos, None)
        };
        self.creating += started.elapsed();
        let pipelines = created
            .map_err(|(_, error)| error)
            .expect("compute pipelines");
        self.objects.pipelines.extend(pipelines);
    }
    fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]) {
        let keys: Vec<RecipeKey> = infos
            .iter()
            .map(|info| {
                // SAFETY: as for compute.
                unsafe { self.recorder.graphics_pipeline(info) }.expect("recorded")
            })
            .collect();
        let infos = self.first_creations(infos, keys);
        let started = Instant::now();
        // SAFETY: as for compute.
        let created = unsafe {
            self.device
                .create_graphics_pipelines(vk::PipelineCache::null(), &infos, None)
        };
        self.creating += started.elapsed();
        let pipelines = created
            .map_err(|(_, error)| error)
            .expect("graphics pipelines");
        self.objects.pipelines.extend(pipelines);
    }
}

impl OnDriver<'_> {
    /// The create-infos of pipelines not created before (by recipe key), so the application
    /// creates exactly the pipelines a replay creates: the scene repeats one (a derivative
    /// compute pipeline with another's recipe, as a test of recording), and counting a cheap
    /// repeat in the application's rate would compare different work. A kept derivative whose
    /// base was left out derives from nothing instead (derivation is a hint, not a recipe).
    fn first_creations<I: PipelineCreateInfo>(
        &mut self,
        infos: &[I],
        keys: Vec<RecipeKey>,
    ) -> Vec<I> {
        let mut kept_at = Vec::with_capacity(infos.len());
        let mut kept: Vec<I> = Vec::with_capacity(infos.len());
        for (info, key) in infos.iter().zip(keys) {
            if self.created.insert(key) {
                kept_at.push(Some(kept.len()));
                kept.push(*info);
            } else {
                kept_at.push(None);
            }
        }
        for info in &mut kept {
            if let Ok(base) = usize::try_from(info.base_index()) {
                match kept_at.get(base).copied().flatten() {
                    Some(at) => info.set_base_index(at as i32),
                    None => info.set_base_index(-1),
                }
            }
        }
        kept
    }
}

/// The base pipeline index of both kinds of create-info; a negative one clears the
/// derivative flag.
trait PipelineCreateInfo: Copy {
    fn base_index(&self) -> i32;
    fn set_base_index(&mut self, index: i32);
}

impl PipelineCreateInfo for vk::ComputePipelineCreateInfo<'_> {
    fn base_index(&self) -> i32 {
        self.base_pipeline_index
    }
    fn set_base_index(&mut self, index: i32) {
        self.base_pipeline_index = index;
        if index < 0 {
            self.flags &= !vk::PipelineCreateFlags::DERIVATIVE;
        }
    }
}

impl PipelineCreateInfo for vk::GraphicsPipelineCreateInfo<'_> {
    fn base_index(&self) -> i32 {
        self.base_pipeline_index
    }
    fn set_base_index(&mut self, index: i32) {
        self.base_pipeline_index = index;
        if index < 0 {
            self.flags &= !vk::PipelineCreateFlags::DERIVATIVE;
        }
    }
}

/// Passes the scene through, adding to every pipeline stage the specialization constant
/// `VARIANT_CONSTANT_ID` = `variant` (after the stage's own constants): one more distinct
/// pipeline per scene pipeline and variant.
struct Variants<'a, C> {
    inner: &'a mut C,
    variant: u32,
}

/// A stage's specialization with the variant's constant appended.
struct Specialization {
    entries: Vec<vk::SpecializationMapEntry>,
    data: Vec<u8>,
}

impl Specialization {
    fn of(stage: &vk::PipelineShaderStageCreateInfo<'_>, variant: u32) -> Self {
        // SAFETY: a valid create-info's specialization, when present, points at `map_entry_count`
        // entries and `data_size` bytes.
        let (mut entries, mut data) = unsafe {
            stage.p_specialization_info.as_ref().map_or_else(
                || (Vec::new(), Vec::new()),
                |info| {
                    let entries = if info.map_entry_count == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(
                            info.p_map_entries,
                            info.map_entry_count as usize,
                        )
                        .to_vec()
                    };
                    let data = if info.data_size == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(info.p_data.cast::<u8>(), info.data_size)
                            .to_vec()
                    };
                    (entries, data)
                },
            )
        };
        entries.push(
            vk::SpecializationMapEntry::default()
                .constant_id(VARIANT_CONSTANT_ID)
                .offset(data.len() as u32)
                .size(4),
        );
        data.extend_from_slice(&variant.to_le_bytes());
        Self { entries, data }
    }

    fn info(&self) -> vk::SpecializationInfo<'_> {
        vk::SpecializationInfo::default()
            .map_entries(&self.entries)
            .data(&self.data)
    }
}

impl<C: Creator> Creator for Variants<'_, C> {
    fn shader_module(&mut self, info: &vk::ShaderModuleCreateInfo<'_>) -> vk::ShaderModule {
        self.inner.shader_module(info)
    }
    fn sampler(&mut self, info: &vk::SamplerCreateInfo<'_>) -> vk::Sampler {
        self.inner.sampler(info)
    }
    fn descriptor_set_layout(
        &mut self,
        info: &vk::DescriptorSetLayoutCreateInfo<'_>,
    ) -> vk::DescriptorSetLayout {
        self.inner.descriptor_set_layout(info)
    }
    fn pipeline_layout(&mut self, info: &vk::PipelineLayoutCreateInfo<'_>) -> vk::PipelineLayout {
        self.inner.pipeline_layout(info)
    }
    fn render_pass(&mut self, info: &vk::RenderPassCreateInfo<'_>) -> vk::RenderPass {
        self.inner.render_pass(info)
    }
    fn render_pass2(&mut self, info: &vk::RenderPassCreateInfo2<'_>) -> vk::RenderPass {
        self.inner.render_pass2(info)
    }
    fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]) {
        let specializations: Vec<Specialization> = infos
            .iter()
            .map(|info| Specialization::of(&info.stage, self.variant))
            .collect();
        let spec_infos: Vec<vk::SpecializationInfo<'_>> =
            specializations.iter().map(Specialization::info).collect();
        let varied: Vec<vk::ComputePipelineCreateInfo<'_>> = infos
            .iter()
            .zip(&spec_infos)
            .map(|(info, spec)| {
                let mut info = *info;
                info.stage.p_specialization_info = spec;
                info
            })
            .collect();
        self.inner.compute_pipelines(&varied);
    }
    fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]) {
        let stages: Vec<&[vk::PipelineShaderStageCreateInfo<'_>]> = infos
            .iter()
            .map(|info| {
                // SAFETY: a valid create-info's stages: `stage_count` of them.
                unsafe { std::slice::from_raw_parts(info.p_stages, info.stage_count as usize) }
            })
            .collect();
        let specializations: Vec<Vec<Specialization>> = stages
            .iter()
            .map(|stages| {
                stages
                    .iter()
                    .map(|stage| Specialization::of(stage, self.variant))
                    .collect()
            })
            .collect();
        let spec_infos: Vec<Vec<vk::SpecializationInfo<'_>>> = specializations
            .iter()
            .map(|of_pipeline| of_pipeline.iter().map(Specialization::info).collect())
            .collect();
        let varied_stages: Vec<Vec<vk::PipelineShaderStageCreateInfo<'_>>> = stages
            .iter()
            .zip(&spec_infos)
            .map(|(stages, specs)| {
                stages
                    .iter()
                    .zip(specs)
                    .map(|(stage, spec)| {
                        let mut stage = *stage;
                        stage.p_specialization_info = spec;
                        stage
                    })
                    .collect()
            })
            .collect();
        let varied: Vec<vk::GraphicsPipelineCreateInfo<'_>> = infos
            .iter()
            .zip(&varied_stages)
            .map(|(info, stages)| {
                let mut info = *info;
                info.p_stages = stages.as_ptr();
                info
            })
            .collect();
        self.inner.graphics_pipelines(&varied);
    }
}
