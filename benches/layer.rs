//! The layer's overhead on an unmodified application, on SwiftShader (the CPU driver that
//! reports pipeline-cache hits, so "cached pipeline" creations are real hits).
//!
//!     eval "$(bash scripts/vulkan-drivers.sh)"
//!     cargo bench --features layer --bench layer
//!
//! One child process holds two instances on the same driver: one without layers, one that
//! enables `VK_LAYER_PCSTORE_pipeline_cache` (found through a manifest written for the freshly
//! built library); validation is off. Measured in turns of 100 so machine load hits every
//! column alike:
//! - pipeline creation, once per `PCSTORE_LAYER_FEEDBACK` setting (`all`, `sampled`, `off`;
//!   past the first 256 creations, which `sampled` measures all): `CREATIONS` creations of one
//!   already-cached compute pipeline with the application's own cache and no layer
//!   (baseline), through the layer with `VK_NULL_HANDLE`
//!   (the substituted cache) and through the layer with the application's own cache
//!   (pass-through), both with the layer's creation feedback chained, and without the layer with
//!   the application's own feedback chained (what the driver's reporting costs by itself).
//!   Goal: <= 2 % added per creation.
//! - device create / destroy with and without the layer, with a 1 MiB blob stored for the
//!   layer (seeded by a first child through the adapter's public API, under the key the layer
//!   derives; the measuring child checks the layer's log that it loaded those bytes). Goal:
//!   <= 1 ms added at device creation.
//! - the history record the layer appends at `vkDestroyDevice` of a device that created
//!   pipelines: `VulkanContext::record_run` (read the record, append a run, put) and the flush
//!   after it, on a disk store, 20 runs into one record: what such a destruction adds to the
//!   destroy figures above (whose devices create no pipeline, so record nothing).
//! - recording cost (`PCSTORE_RECORD`, read once per process): child processes with recording
//!   off and on, alternately, each creating the same already-recorded compute pipeline `CREATIONS`
//!   times (in turns) without the layer and through the layer with `VK_NULL_HANDLE` and with
//!   the application's cache; the layer's added time with recording on minus with recording
//!   off, median over the runs. Goal (issue 13): <= 1 µs per already-recorded pipeline.

#[path = "../tests/support/vk_harness.rs"]
mod vk_harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::vulkan::ash::{self, vk};
use pcstore::vulkan::{
    seal_envelope, write_cache_header, CacheHeaderExpectation, DeviceInfo, VulkanContext,
    VulkanOptions,
};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

const LAYER: &std::ffi::CStr = c"VK_LAYER_PCSTORE_pipeline_cache";
const APP_NAME: &std::ffi::CStr = c"pcstore-layer-bench";
const APP_VERSION: u32 = 1;
const SEEDED_BYTES: usize = 1 << 20;
/// Creations per column: 20 000 (~20 ms of ~1 µs creations; 1000 before) take the sampling
/// noise out of each median. What still varies is between processes (code and heap layout,
/// the core it runs on): about 2 % from run to run, so the figures are ranges over runs.
const CREATIONS: usize = 20_000;
const TURN: usize = 100;
const DEVICE_ROUNDS: usize = 20;
const COMPUTE_SPV: &[u8] = include_bytes!("../tests/shaders/fill.comp.spv");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--child") {
        Some(at) => child(&args[at + 1]),
        None => parent(),
    }
}

fn parent() {
    let icd = std::env::var_os("PCSTORE_TEST_SWIFTSHADER_ICD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/swiftshader/pcstore_swiftshader_icd.json")
        });
    assert!(
        icd.is_file(),
        "SwiftShader ICD missing: run scripts/vulkan-drivers.sh"
    );
    // The binary lives in target/<profile>/deps, next to the cdylib cargo built for this very
    // run (same features); target/<profile>/libpcstore.so is only refreshed by `cargo build`.
    let exe = std::env::current_exe().expect("own path");
    let library = exe.with_file_name("libpcstore.so");
    assert!(library.is_file(), "{} not built", library.display());
    let base = std::env::temp_dir().join(format!("pcstore-layer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("layers")).expect("temp folder");
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("bindings/vulkan-layer/VK_LAYER_PCSTORE_pipeline_cache.json"),
    )
    .expect("manifest")
    .replace("\"libpcstore.so\"", &format!("\"{}\"", library.display()));
    std::fs::write(base.join("layers/pcstore.json"), manifest).expect("write manifest");
    // Pipeline creation once per `PCSTORE_LAYER_FEEDBACK` setting (read once per process).
    let phases = [
        ("seed", "sampled"),
        ("creation", "all"),
        ("creation", "sampled"),
        ("creation", "off"),
        ("measure", "sampled"),
    ];
    for (phase, feedback) in phases {
        let output = Command::new(&exe)
            .args(["--child", phase])
            .env("PCSTORE_LAYER_FEEDBACK", feedback)
            // Recording (on by default) has rows of its own (`recording_cost`): these columns
            // are the layer's cache and feedback alone.
            .env("PCSTORE_RECORD", "0")
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            .env("VK_LAYER_PATH", base.join("layers"))
            .env_remove("VK_INSTANCE_LAYERS")
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("XDG_CACHE_HOME", base.join("xdg"))
            .env("PCSTORE_DIR", base.join("store"))
            .env("PCSTORE_LOG", "1")
            // The pass-through column's own cache would otherwise be collected and saved combined
            // with the layer's through a merge, which keeps SwiftShader's pipelines but not the
            // seeded 1 MiB it holds only as initial data: the device rounds need that blob.
            .env("PCSTORE_LAYER_APP_CACHES", "0")
            .output()
            .expect("spawn child");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{phase} failed:\n{stderr}");
        if phase == "measure" {
            check_layer_loaded_seed(&stderr);
        }
    }
    recording_cost(&exe, &icd, &base);
    let _ = std::fs::remove_dir_all(&base);
}

/// Every device the layer saw must have loaded the seeded blob (or its SwiftShader-grown
/// successor): otherwise the device figures would not be for a 1 MiB cache.
fn check_layer_loaded_seed(stderr: &str) {
    let loads: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("pcstore-layer: device") && line.contains(": load "))
        .collect();
    assert!(!loads.is_empty(), "the layer logged no load:\n{stderr}");
    for line in &loads {
        let stored = line
            .split_once("load Hit (")
            .and_then(|(_, rest)| rest.split_once(' '))
            .and_then(|(bytes, _)| bytes.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("not a hit: {line}"));
        assert!(stored >= SEEDED_BYTES, "loaded {stored} bytes: {line}");
    }
    println!(
        "the layer loaded the seeded blob at all {} device creations",
        loads.len()
    );
}

/// One instance (with or without the layer) and what creating pipelines needs.
struct Instance {
    instance: ash::Instance,
    physical_device: vk::PhysicalDevice,
}

fn entry() -> ash::Entry {
    // SAFETY: the system loader's vkGetInstanceProcAddr.
    unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_harness::system_get_instance_proc_addr(),
        })
    }
}

impl Instance {
    fn new(entry: &ash::Entry, with_layer: bool) -> Self {
        let app = vk::ApplicationInfo::default()
            .application_name(APP_NAME)
            .application_version(APP_VERSION)
            .api_version(vk::API_VERSION_1_3);
        let layers = [LAYER.as_ptr()];
        let mut info = vk::InstanceCreateInfo::default().application_info(&app);
        if with_layer {
            info = info.enabled_layer_names(&layers);
        }
        // SAFETY: valid create info; destroyed at the end of the child.
        let instance = unsafe { entry.create_instance(&info, None) }.expect("vkCreateInstance");
        // SAFETY: live instance.
        let physical_device = unsafe { instance.enumerate_physical_devices() }.expect("devices")[0];
        Self {
            instance,
            physical_device,
        }
    }

    fn device(&self) -> ash::Device {
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&priorities)];
        let info = vk::DeviceCreateInfo::default().queue_create_infos(&queues);
        // SAFETY: live physical device, valid create info.
        unsafe {
            self.instance
                .create_device(self.physical_device, &info, None)
        }
        .expect("vkCreateDevice")
    }
}

/// A device with a compute module and layout for one pipeline.
struct Pipelines {
    device: ash::Device,
    module: vk::ShaderModule,
    layout: vk::PipelineLayout,
    own_cache: vk::PipelineCache,
}

impl Pipelines {
    fn new(device: ash::Device) -> Self {
        let words = ash::util::read_spv(&mut std::io::Cursor::new(COMPUTE_SPV)).expect("SPIR-V");
        // SAFETY: live device, valid create infos.
        unsafe {
            let module = device
                .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
                .expect("module");
            let layout = device
                .create_pipeline_layout(&vk::PipelineLayoutCreateInfo::default(), None)
                .expect("layout");
            let own_cache = device
                .create_pipeline_cache(&vk::PipelineCacheCreateInfo::default(), None)
                .expect("cache");
            Self {
                device,
                module,
                layout,
                own_cache,
            }
        }
    }

    /// Creates and destroys the pipeline once; returns the creation time.
    fn create(&self, cache: vk::PipelineCache) -> Duration {
        self.create_with(cache, false)
    }

    /// As `create`; `feedback`: the application chains its own creation feedback (Vulkan 1.3
    /// core), to tell the driver's cost of reporting it from the layer's.
    fn create_with(&self, cache: vk::PipelineCache, feedback: bool) -> Duration {
        let mut reported = vk::PipelineCreationFeedback::default();
        let mut stage = vk::PipelineCreationFeedback::default();
        let mut feedback_info = vk::PipelineCreationFeedbackCreateInfo::default()
            .pipeline_creation_feedback(&mut reported)
            .pipeline_stage_creation_feedbacks(std::slice::from_mut(&mut stage));
        let mut info = vk::ComputePipelineCreateInfo::default()
            .stage(
                vk::PipelineShaderStageCreateInfo::default()
                    .stage(vk::ShaderStageFlags::COMPUTE)
                    .module(self.module)
                    .name(c"main"),
            )
            .layout(self.layout);
        if feedback {
            info = info.push_next(&mut feedback_info);
        }
        let started = Instant::now();
        // SAFETY: live device, module, layout and cache.
        let pipelines = unsafe {
            self.device
                .create_compute_pipelines(cache, std::slice::from_ref(&info), None)
        }
        .map_err(|(_, e)| e)
        .expect("vkCreateComputePipelines");
        let elapsed = started.elapsed();
        // SAFETY: just created, unused.
        unsafe { self.device.destroy_pipeline(pipelines[0], None) };
        elapsed
    }

    fn destroy(self) -> Duration {
        // SAFETY: everything was created here and is unused.
        unsafe {
            self.device.destroy_pipeline_cache(self.own_cache, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            self.device.destroy_shader_module(self.module, None);
            let started = Instant::now();
            self.device.destroy_device(None);
            started.elapsed()
        }
    }
}

fn child(phase: &str) {
    let entry = entry();
    let plain = Instance::new(&entry, false);
    if phase == "seed" {
        seed(&plain);
        return;
    }
    if phase == "recording" {
        recording_child(&entry, &plain);
        return;
    }
    let layered = Instance::new(&entry, true);
    if phase == "creation" {
        pipeline_creation(&plain, &layered);
        return;
    }
    history_record(&plain);
    device_lifetime(&plain, &layered);
}

/// What the layer does at `vkDestroyDevice` for the history (src/layer/history.rs): one
/// `record_run` and one flush, timed on a disk store in the bench's store folder.
fn history_record(plain: &Instance) {
    let device = plain.device();
    let store: Arc<dyn PipelineCacheStore> = Arc::new(DiskCache::in_user_cache().expect("store"));
    let info = DeviceInfo {
        instance: plain.instance.handle(),
        physical_device: plain.physical_device,
        device: device.handle(),
        get_instance_proc_addr: vk_harness::system_get_instance_proc_addr(),
        api_version: vk::API_VERSION_1_3,
    };
    let options = VulkanOptions {
        namespace: b"pcstore-layer-bench history".to_vec(),
        ..VulkanOptions::default()
    };
    // SAFETY: live related handles; the context is dropped before the device.
    let context = unsafe { VulkanContext::new(Arc::clone(&store), info, options) }.expect("ctx");
    let run = pcstore::vulkan::Run {
        ended_ns: 0,
        pipelines: 415,
        hits: 412,
        hit_ns: 150_000_000,
        miss_ns: 60_000_000,
        created: 415,
    };
    let (mut record, mut flush) = (Vec::new(), Vec::new());
    let mut last_run = 0;
    for _ in 0..DEVICE_ROUNDS {
        let started = Instant::now();
        let history = context
            .record_run("bench", run, std::time::SystemTime::now())
            .expect("history stored");
        record.push(started.elapsed());
        let started = Instant::now();
        store.flush().expect("flush");
        flush.push(started.elapsed());
        last_run = history.last_run;
    }
    assert_eq!(last_run, DEVICE_ROUNDS as u64, "every run appended");
    println!("## history record at device destruction, {DEVICE_ROUNDS} runs into one record");
    println!("| step | median | max |");
    println!("|---|---|---|");
    for (name, samples) in [
        ("record_run (get, append, put)", &record),
        ("flush", &flush),
    ] {
        println!(
            "| {name} | {:.2?} | {:.2?} |",
            median(samples.clone()),
            samples.iter().max().expect("samples")
        );
    }
    drop(context);
    // SAFETY: nothing else uses the device.
    unsafe { device.destroy_device(None) };
}

/// Stores a 1 MiB blob (valid header, then padding) under the key the layer uses for this
/// application and device: the layer's namespace is the executable name, the application and
/// engine names and versions, the device name and the digest of the device's configuration.
fn seed(plain: &Instance) {
    let device = plain.device();
    // SAFETY: live physical device.
    let properties = unsafe {
        plain
            .instance
            .get_physical_device_properties(plain.physical_device)
    };
    let mut namespace = std::env::current_exe()
        .expect("own path")
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
        .into_bytes();
    for (name, version) in [(APP_NAME.to_bytes(), APP_VERSION), (&b""[..], 0)] {
        namespace.push(0);
        namespace.extend_from_slice(name);
        namespace.push(0);
        namespace.extend_from_slice(&version.to_le_bytes());
    }
    namespace.push(0);
    namespace.extend_from_slice(
        properties
            .device_name_as_c_str()
            .expect("device name")
            .to_bytes(),
    );
    // The device's configuration: `Instance::device` enables no extension and no feature.
    namespace.push(0);
    // SAFETY: a valid create info without extensions, features or pNext chain.
    namespace.extend_from_slice(&unsafe {
        pcstore::layer::device_configuration_digest(&vk::DeviceCreateInfo::default(), &[])
    });
    let store: Arc<dyn PipelineCacheStore> = Arc::new(DiskCache::in_user_cache().expect("store"));
    let info = DeviceInfo {
        instance: plain.instance.handle(),
        physical_device: plain.physical_device,
        device: device.handle(),
        get_instance_proc_addr: vk_harness::system_get_instance_proc_addr(),
        api_version: vk::API_VERSION_1_3,
    };
    let options = VulkanOptions {
        namespace,
        ..VulkanOptions::default()
    };
    // SAFETY: live related handles; the context is dropped before the device.
    let context = unsafe { VulkanContext::new(Arc::clone(&store), info, options) }.expect("ctx");
    let identity = context.identity().clone();
    let stored_key = context.stored_key(&PipelineFingerprint::of(
        b"pcstore.vulkan-layer.device-cache.v1",
    ));
    let mut payload = write_cache_header(&CacheHeaderExpectation {
        vendor_id: identity.vendor_id,
        device_id: identity.device_id,
        pipeline_cache_uuid: identity.pipeline_cache_uuid,
    })
    .to_vec();
    payload.resize(SEEDED_BYTES, 0);
    store.put(stored_key, seal_envelope(&payload, &stored_key, &identity));
    store.flush().expect("flush");
    drop(context);
    // SAFETY: nothing else uses the device.
    unsafe { device.destroy_device(None) };
    // SAFETY: nothing else uses the instance.
    unsafe { plain.instance.destroy_instance(None) };
    println!("seeded a {SEEDED_BYTES}-byte blob for the layer");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

fn pipeline_creation(plain: &Instance, layered: &Instance) {
    let without = Pipelines::new(plain.device());
    let with = Pipelines::new(layered.device());
    // Warm every cache with the one pipeline; past the layer's first 256 creations of a device,
    // all measured with `PCSTORE_LAYER_FEEDBACK=sampled` (src/layer/feedback.rs SAMPLED_FIRST):
    // the columns are the steady state.
    without.create(without.own_cache);
    for _ in 0..128 {
        with.create(vk::PipelineCache::null());
        with.create(with.own_cache);
    }
    let mut columns: [Vec<Duration>; 4] = Default::default();
    for _ in 0..CREATIONS / TURN {
        for _ in 0..TURN {
            columns[0].push(without.create(without.own_cache));
        }
        for _ in 0..TURN {
            columns[3].push(without.create_with(without.own_cache, true));
        }
        for _ in 0..TURN {
            columns[1].push(with.create(vk::PipelineCache::null()));
        }
        for _ in 0..TURN {
            columns[2].push(with.create(with.own_cache));
        }
    }
    let names = [
        "no layer, application cache",
        "layer, VK_NULL_HANDLE (substituted)",
        "layer, application cache (pass-through)",
        "no layer, application cache, its own creation feedback",
    ];
    let base_median = median(columns[0].clone());
    let base_mean = mean(&columns[0]);
    let feedback = std::env::var("PCSTORE_LAYER_FEEDBACK").unwrap_or_default();
    println!(
        "## pipeline creation, {CREATIONS} cached creations per column (SwiftShader), \
         PCSTORE_LAYER_FEEDBACK={feedback}"
    );
    println!("| column | median | mean | p99 | median / baseline | mean / baseline |");
    println!("|---|---|---|---|---|---|");
    for (name, samples) in names.iter().zip(&columns) {
        let (m, a) = (median(samples.clone()), mean(samples));
        let mut sorted = samples.clone();
        sorted.sort();
        let p99 = sorted[sorted.len() * 99 / 100];
        println!(
            "| {name} | {m:.2?} | {a:.2?} | {p99:.2?} | {:.3}x | {:.3}x |",
            m.as_secs_f64() / base_median.as_secs_f64(),
            a.as_secs_f64() / base_mean.as_secs_f64()
        );
    }
    without.destroy();
    with.destroy();
    // SAFETY: nothing else uses the instances.
    unsafe {
        plain.instance.destroy_instance(None);
        layered.instance.destroy_instance(None);
    }
}

fn device_lifetime(plain: &Instance, layered: &Instance) {
    let mut create: [Vec<Duration>; 2] = Default::default();
    let mut destroy: [Vec<Duration>; 2] = Default::default();
    for _ in 0..DEVICE_ROUNDS {
        for (column, instance) in [plain, layered].into_iter().enumerate() {
            let started = Instant::now();
            let device = instance.device();
            create[column].push(started.elapsed());
            let started = Instant::now();
            // SAFETY: nothing else uses the device.
            unsafe { device.destroy_device(None) };
            destroy[column].push(started.elapsed());
        }
    }
    println!("## device create / destroy, {DEVICE_ROUNDS} rounds, 1 MiB stored for the layer");
    println!("| column | create median | destroy median |");
    println!("|---|---|---|");
    let rows = [("no layer", 0), ("layer", 1)];
    for (name, column) in rows {
        println!(
            "| {name} | {:.2?} | {:.2?} |",
            median(create[column].clone()),
            median(destroy[column].clone())
        );
    }
    let added = median(create[1].clone()).saturating_sub(median(create[0].clone()));
    println!("added at device creation: {added:.2?}");
    // SAFETY: nothing else uses the instances.
    unsafe {
        plain.instance.destroy_instance(None);
        layered.instance.destroy_instance(None);
    }
}

/// Children run alternately with recording off and on, for [`recording_cost`].
const RECORDING_RUNS: usize = 5;

/// Runs the "recording" child `RECORDING_RUNS` times with `PCSTORE_RECORD=0` and `=1`
/// alternately (the variable is read once per process), checks from the layer's log that
/// exactly the second kind recorded, and prints each run's medians and what recording adds.
fn recording_cost(exe: &Path, icd: &Path, base: &Path) {
    // Per run and recording setting: the medians of (no layer, layer substituted, layer
    // application cache).
    let mut runs: Vec<(bool, [Duration; 3])> = Vec::new();
    for _ in 0..RECORDING_RUNS {
        for record in [false, true] {
            // The environment of the other phases (parent), plus the recording switch.
            let output = Command::new(exe)
                .args(["--child", "recording"])
                .env("VK_DRIVER_FILES", icd)
                .env("VK_ICD_FILENAMES", icd)
                .env("VK_LAYER_PATH", base.join("layers"))
                .env_remove("VK_INSTANCE_LAYERS")
                .env("MESA_SHADER_CACHE_DISABLE", "true")
                .env("XDG_CACHE_HOME", base.join("xdg"))
                .env("PCSTORE_DIR", base.join("store"))
                .env("PCSTORE_LOG", "1")
                .env("PCSTORE_LAYER_APP_CACHES", "0")
                .env("PCSTORE_RECORD", if record { "1" } else { "0" })
                .output()
                .expect("spawn child");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "recording child failed:\n{stderr}");
            assert_eq!(
                stderr.contains("recording recipes"),
                record,
                "PCSTORE_RECORD={record} not followed:\n{stderr}"
            );
            let medians: Vec<Duration> = stdout
                .split_whitespace()
                .map(|ns| Duration::from_nanos(ns.parse().expect("nanoseconds")))
                .collect();
            runs.push((record, medians.try_into().expect("three medians")));
        }
    }
    println!(
        "## recording cost, {CREATIONS} creations of one already-recorded pipeline per column \
         and run, {RECORDING_RUNS} runs each way (SwiftShader)"
    );
    println!(
        "| run | PCSTORE_RECORD | no layer | layer, VK_NULL_HANDLE | layer, application cache |"
    );
    println!("|---|---|---|---|---|");
    for (run, (record, [none, substituted, own])) in runs.iter().enumerate() {
        println!(
            "| {} | {} | {none:.2?} | {substituted:.2?} | {own:.2?} |",
            run / 2 + 1,
            u8::from(*record)
        );
    }
    // What the layer adds over no layer in each run (same process, same load), then the
    // difference recording makes to that, median over the runs.
    let added = |record: bool, column: usize| -> f64 {
        let mut added: Vec<f64> = runs
            .iter()
            .filter(|(on, _)| *on == record)
            .map(|(_, medians)| medians[column].as_secs_f64() - medians[0].as_secs_f64())
            .collect();
        added.sort_by(f64::total_cmp);
        added[added.len() / 2]
    };
    for (name, column) in [("VK_NULL_HANDLE", 1), ("application cache", 2)] {
        let (off, on) = (added(false, column), added(true, column));
        println!(
            "layer, {name}: adds {:.2} µs with recording off, {:.2} µs on: recording adds {:.2} µs",
            off * 1e6,
            on * 1e6,
            (on - off) * 1e6
        );
    }
}

/// One run of [`recording_cost`]: the same compute pipeline created without the layer and
/// through it (module and layout created through it too, so recorded when recording is on),
/// in turns; its first creation records it, every timed one is already recorded. Prints the
/// three medians in nanoseconds.
fn recording_child(entry: &ash::Entry, plain: &Instance) {
    let layered = Instance::new(entry, true);
    let without = Pipelines::new(plain.device());
    let with = Pipelines::new(layered.device());
    without.create(without.own_cache);
    with.create(vk::PipelineCache::null());
    with.create(with.own_cache);
    let mut columns: [Vec<Duration>; 3] = Default::default();
    for _ in 0..CREATIONS / TURN {
        for _ in 0..TURN {
            columns[0].push(without.create(without.own_cache));
        }
        for _ in 0..TURN {
            columns[1].push(with.create(vk::PipelineCache::null()));
        }
        for _ in 0..TURN {
            columns[2].push(with.create(with.own_cache));
        }
    }
    let medians: Vec<String> = columns
        .into_iter()
        .map(|samples| median(samples).as_nanos().to_string())
        .collect();
    println!("{}", medians.join(" "));
    without.destroy();
    with.destroy();
    // SAFETY: nothing else uses the instances.
    unsafe {
        plain.instance.destroy_instance(None);
        layered.instance.destroy_instance(None);
    }
}
