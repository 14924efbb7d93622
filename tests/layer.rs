//! The Vulkan layer `VK_LAYER_PCSTORE_pipeline_cache` under the real Vulkan loader, on Mesa
//! lavapipe and SwiftShader, with the Khronos validation layer above and below it.
//!
//! One trial per check ("abi-layout") and per driver and check ("lavapipe/implicit"), with
//! cargo's usual arguments (tests/support/trials.rs): `cargo test --features layer --test layer
//! -- --list` lists them, a filter, `--skip` and `--exact` choose them. The first check that runs
//! builds the unmodified C application (tests/layer/app.c, linked with `-lvulkan`) and writes
//! layer manifests pointing at the freshly built `libpcstore.so`; the checks run the
//! applications in child processes (the loader reads its environment once per process). The
//! Rust application is this binary re-executed with `--pcstore-layer-app`; `*/vkcube` runs
//! vkcube and vkcubepp (vulkan-tools) under a virtual X server (Xvfb). A missing driver,
//! compiler, library or program FAILS the checks. `PCSTORE_SKIP_VULKAN_TESTS=1` is the explicit opt-out
//! for machines without the packages (CI never sets it).

#[path = "support/trials.rs"]
mod trials;
#[path = "support/vk_harness.rs"]
mod vk_harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::mem::{offset_of, size_of};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcstore::layer::abi;
use pcstore::recipe::replay::{
    replay_application, run_worker, RecipeSet, ReplayOptions, WorkerCommand, WORKER_ARG,
};
use pcstore::recipe::{ApplicationRecord, Catalog, Recipe, RecipeKey};
use pcstore::vulkan::ash::vk;
use pcstore::PipelineCacheStore;
use trials::Trials;
use vk_harness::{drivers, Driver, Harness, DRIVER_NAMES};

const APP_FLAG: &str = "--pcstore-layer-app";
/// This binary as `pcstore replay` would run: `--pcstore-replay STORE`.
const REPLAY_FLAG: &str = "--pcstore-replay";
const LAYER: &str = "VK_LAYER_PCSTORE_pipeline_cache";
const VALIDATION: &str = "VK_LAYER_KHRONOS_validation";
const SYSTEM_LAYERS: &str = "/usr/share/vulkan/explicit_layer.d";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == APP_FLAG) {
        rust_app();
        return;
    }
    if args.iter().any(|a| a == WORKER_ARG) {
        // SAFETY: the system loader's entry point.
        std::process::exit(unsafe { run_worker(vk_harness::system_get_instance_proc_addr()) });
    }
    if let Some(at) = args.iter().position(|a| a == REPLAY_FLAG) {
        replay_store(Path::new(args.get(at + 1).expect("store folder")));
        return;
    }
    let mut trials = Trials::from_args();
    for (name, check, driver) in checks() {
        trials.add(name, move || Ok(run_check(check, driver.unwrap_or(0))));
    }
    trials.run_and_exit(|| {
        if let Some(setup) = SETUP.get() {
            let _ = std::fs::remove_dir_all(&setup.base);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The Rust (ash) application: the vulkan tests' harness, unaware of pcstore, validation on.

fn rust_app() {
    let harness = Harness::new();
    let compute = harness.compute_pipelines(vk::PipelineCache::null(), &[1, 2, 3, 4]);
    let graphics = harness.graphics_pipelines(vk::PipelineCache::null(), &[1.0, 0.5]);
    let own = harness.empty_cache();
    let through_own = harness.compute_pipelines(own, &[9]);
    let own_bytes = harness.cache_data(own).len();
    let created = compute.len() + graphics.len() + through_own.len();
    harness.destroy_pipelines(compute);
    harness.destroy_pipelines(graphics);
    harness.destroy_pipelines(through_own);
    harness.destroy_cache(own);
    drop(harness);
    let errors = vk_harness::validation_errors();
    println!("pipelines_created={created}");
    println!("own_cache_bytes={own_bytes}");
    println!("validation_errors={errors}");
    assert_eq!(errors, 0, "validation errors (see stderr)");
}

// ---------------------------------------------------------------------------------------------
// Parent.

/// Everything the checks share: built app, manifests, folders.
struct Setup {
    base: PathBuf,
    library: PathBuf,
    c_app: PathBuf,
    shader: PathBuf,
    /// Folder with the explicit manifest.
    explicit_dir: PathBuf,
    /// `XDG_DATA_HOME` whose vulkan/implicit_layer.d holds the implicit manifest.
    implicit_data_home: PathBuf,
    /// An empty `XDG_DATA_HOME` (no implicit pcstore layer).
    empty_data_home: PathBuf,
}

/// One check on one driver; it panics when it fails.
type Check = fn(&Setup, &Driver) -> String;

/// Built by the first check that runs, for all of them: a `--list` compiles nothing.
static SETUP: OnceLock<Setup> = OnceLock::new();

fn run_check(check: Check, driver: usize) -> String {
    let drivers = drivers();
    let setup = SETUP.get_or_init(prepare);
    check(setup, &drivers[driver])
}

/// Every check in the order they run, with the index of the driver it runs on.
fn checks() -> Vec<(String, Check, Option<usize>)> {
    let mut checks: Vec<(String, Check, Option<usize>)> = vec![
        ("abi-layout".into(), abi_layout as Check, None),
        ("exports".into(), exports as Check, None),
        (
            "negotiate-and-resolve".into(),
            negotiate_and_resolve as Check,
            None,
        ),
    ];
    let per_driver: [(&str, Check); 27] = [
        ("explicit-above-validation", explicit_above_validation),
        ("explicit-below-validation", explicit_below_validation),
        ("implicit", implicit),
        ("add-layer-path", add_layer_path),
        ("implicit-switches", implicit_switches),
        ("rust-app", rust_app_runs),
        ("creation-feedback", creation_feedback),
        ("creation-feedback-off", creation_feedback_off),
        ("unused-cache-not-saved", unused_cache_not_saved),
        ("configurations-apart", configurations_apart),
        ("app-caches", app_caches),
        ("vkcube", vkcube),
        ("unwritable-dir", unwritable_dir),
        ("corrupt-entry", corrupt_entry),
        ("tiny-max-size", tiny_max_size),
        ("bundle-warms-first-launch", bundle_warms_first_launch),
        ("label-names-the-device", label_names_the_device),
        ("history-records-runs", history_records_runs),
        ("environment-grammar", environment_grammar),
        ("log-file", log_file),
        ("two-apps-at-once", two_apps_at_once),
        ("killed-after-periodic-save", killed_after_periodic_save),
        ("many-threads", many_threads),
        (
            "dead-remote-never-stalls-vulkan",
            dead_remote_never_stalls_vulkan,
        ),
        (
            "dead-remote-remembered",
            dead_remote_remembered_across_processes,
        ),
        (
            "late-remote-hit-lands-locally",
            late_remote_hit_lands_locally,
        ),
        ("record-then-replay", record_then_replay),
    ];
    for (index, driver) in DRIVER_NAMES.iter().enumerate() {
        for (name, check) in per_driver {
            checks.push((format!("{driver}/{name}"), check, Some(index)));
        }
    }
    checks
}

fn prepare() -> Setup {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::env::temp_dir().join(format!("pcstore-layer-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("temp folder");
    // The binary lives in target/<profile>/deps, next to the cdylib cargo built for this very
    // run (same features); target/<profile>/libpcstore.so is only refreshed by `cargo build`.
    let exe = std::env::current_exe().expect("own path");
    let library = exe.with_file_name("libpcstore.so");
    assert!(library.is_file(), "{} not built", library.display());
    let c_app = base.join("app");
    let status = Command::new("cc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&c_app)
        .arg(manifest_dir.join("tests/layer/app.c"))
        .args(["-lvulkan", "-lpthread"])
        .status()
        .expect("cc (install build-essential and libvulkan-dev)");
    assert!(status.success(), "compiling tests/layer/app.c failed");
    let write_manifest = |template: &str, dir: &Path| {
        let text =
            std::fs::read_to_string(manifest_dir.join("bindings/vulkan-layer").join(template))
                .expect("shipped manifest");
        assert!(
            text.contains("\"libpcstore.so\""),
            "manifest names the library"
        );
        let text = text.replace("\"libpcstore.so\"", &format!("\"{}\"", library.display()));
        std::fs::create_dir_all(dir).expect("manifest folder");
        std::fs::write(dir.join(template), text).expect("write manifest");
    };
    let explicit_dir = base.join("explicit");
    write_manifest("VK_LAYER_PCSTORE_pipeline_cache.json", &explicit_dir);
    let implicit_data_home = base.join("data-implicit");
    write_manifest(
        "VK_LAYER_PCSTORE_pipeline_cache_implicit.json",
        &implicit_data_home.join("vulkan/implicit_layer.d"),
    );
    let empty_data_home = base.join("data-empty");
    std::fs::create_dir_all(&empty_data_home).expect("empty data home");
    Setup {
        base,
        library,
        c_app,
        shader: manifest_dir.join("tests/shaders/fill.comp.spv"),
        explicit_dir,
        implicit_data_home,
        empty_data_home,
    }
}

// ---------------------------------------------------------------------------------------------
// Running applications.

/// How the layer is enabled for one run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// No pcstore layer; validation enabled by the application.
    Without,
    /// Explicit through VK_INSTANCE_LAYERS, validation enabled by the application: the loader
    /// puts the application's layers closest to the driver, so validation is below pcstore.
    ExplicitValidationBelow,
    /// Both through VK_INSTANCE_LAYERS with the system layer folder first in VK_LAYER_PATH:
    /// pcstore is closest to the driver, validation above it.
    ExplicitValidationAbove,
    /// Implicit manifest, switched on by PCSTORE_LAYER_ENABLE=1.
    Implicit,
    /// Explicit, found through VK_ADD_LAYER_PATH (system folders still searched) and enabled by
    /// the loader's filter variable VK_LOADER_LAYERS_ENABLE; validation by the application.
    AddPathAndFilter,
}

struct Run {
    output: Output,
    stdout: String,
    stderr: String,
}

impl Run {
    fn values(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn value(&self, key: &str) -> String {
        self.values()
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in output:\n{}", self.stdout))
    }

    /// The layer's log lines.
    fn layer_log(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("pcstore-layer:"))
            .collect()
    }

    fn logged(&self, text: &str) -> bool {
        self.layer_log().iter().any(|line| line.contains(text))
    }

    fn assert_ok(&self, what: &str) {
        assert!(
            self.output.status.success(),
            "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            self.stdout,
            self.stderr
        );
    }

    /// Layer names in the order the loader inserted them (first = closest to the driver).
    fn inserted_layers(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|line| line.split_once("Insert instance layer \""))
            .filter_map(|(_, rest)| rest.split_once('"').map(|(name, _)| name.to_owned()))
            .collect()
    }
}

/// The command for the C app (or the Rust one) under `mode`, storing in `store`.
fn app_command(setup: &Setup, driver: &Driver, mode: Mode, store: &Path, rust: bool) -> Command {
    let command = if rust {
        let mut command = Command::new(std::env::current_exe().expect("own path"));
        command.arg(APP_FLAG);
        command
    } else {
        let mut command = Command::new(&setup.c_app);
        command.arg(&setup.shader);
        command
    };
    in_environment(command, setup, driver, mode, store)
}

/// `command` (any application) with the environment of a run under `mode`, storing in `store`.
fn in_environment(
    mut command: Command,
    setup: &Setup,
    driver: &Driver,
    mode: Mode,
    store: &Path,
) -> Command {
    command
        .env("VK_DRIVER_FILES", &driver.icd)
        .env("VK_ICD_FILENAMES", &driver.icd)
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .env("XDG_CACHE_HOME", setup.base.join("xdg-cache"))
        .env("XDG_DATA_HOME", &setup.empty_data_home)
        .env("XDG_CONFIG_HOME", setup.base.join("xdg-config"))
        .env("PCSTORE_DIR", store)
        .env("PCSTORE_LOG", "1")
        .env("VK_LOADER_DEBUG", "layer")
        .env("APP_VALIDATION", "1")
        .env_remove("VK_INSTANCE_LAYERS")
        .env_remove("VK_LAYER_PATH")
        .env_remove("VK_ADD_LAYER_PATH")
        .env_remove("VK_LOADER_LAYERS_ENABLE")
        .env_remove("PCSTORE_LAYER_ENABLE")
        .env_remove("PCSTORE_LAYER_DISABLE")
        .env_remove("PCSTORE_MAX_SIZE")
        .env_remove("PCSTORE_SAVE_INTERVAL_MS")
        .env_remove("PCSTORE_LAYER_FEEDBACK")
        .env_remove("PCSTORE_REMOTE_URL")
        .env_remove("PCSTORE_REMOTE_TOKEN")
        .env_remove("PCSTORE_REMOTE_KEY")
        .env_remove("PCSTORE_REMOTE_READ_ONLY")
        .env_remove("PCSTORE_BUNDLES")
        .env_remove("PCSTORE_BUNDLE_KEY");
    let explicit_path =
        |first: &Path, second: &Path| std::env::join_paths([first, second]).expect("layer path");
    match mode {
        Mode::Without => {}
        Mode::ExplicitValidationBelow => {
            command
                .env(
                    "VK_LAYER_PATH",
                    explicit_path(&setup.explicit_dir, Path::new(SYSTEM_LAYERS)),
                )
                .env("VK_INSTANCE_LAYERS", LAYER);
        }
        Mode::ExplicitValidationAbove => {
            command
                .env(
                    "VK_LAYER_PATH",
                    explicit_path(Path::new(SYSTEM_LAYERS), &setup.explicit_dir),
                )
                .env("VK_INSTANCE_LAYERS", format!("{LAYER}:{VALIDATION}"))
                .env("APP_VALIDATION", "2");
        }
        Mode::Implicit => {
            command
                .env("XDG_DATA_HOME", &setup.implicit_data_home)
                .env("PCSTORE_LAYER_ENABLE", "1");
        }
        Mode::AddPathAndFilter => {
            command
                .env("VK_ADD_LAYER_PATH", &setup.explicit_dir)
                .env("VK_LOADER_LAYERS_ENABLE", "*pcstore*");
        }
    }
    command
}

fn finish(output: Output) -> Run {
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
    }
}

fn run_app(mut command: Command) -> Run {
    finish(command.output().expect("spawn application"))
}

fn fresh_store(setup: &Setup, driver: &Driver, name: &str) -> PathBuf {
    let dir = setup.base.join(format!("store-{}-{name}", driver.name));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The application's results that must not depend on the layer.
fn results(run: &Run) -> BTreeMap<String, String> {
    let mut values = run.values();
    // Cache hits are what the layer changes, on purpose (the application's own empty cache is
    // seeded from the layer's); timings change with every run.
    values.remove("cache_hit");
    values.remove("own_cache_hit");
    values.remove("create_device_us");
    values.remove("destroy_device_us");
    values
}

fn expected_hit(driver: &Driver) -> &'static str {
    // SwiftShader reports application cache hits; lavapipe never sets the bit.
    if driver.name == "swiftshader" {
        "1"
    } else {
        "0"
    }
}

/// Runs the C app without the layer, then twice with it on one store: the first run must
/// store an entry, the second load it; results equal the run without the layer.
fn persistence(setup: &Setup, driver: &Driver, mode: Mode, name: &str) -> (Run, Run) {
    let store = fresh_store(setup, driver, name);
    let baseline = run_app(app_command(setup, driver, Mode::Without, &store, false));
    baseline.assert_ok("without the layer");
    assert!(
        baseline.layer_log().is_empty(),
        "layer active without being enabled"
    );
    assert_eq!(
        baseline.value("cache_hit"),
        "0",
        "no cache is passed without the layer"
    );
    let first = run_app(app_command(setup, driver, mode, &store, false));
    first.assert_ok("first run with the layer");
    assert!(
        first.logged("load Miss"),
        "first run: {:?}",
        first.layer_log()
    );
    assert!(
        first.logged("final save Stored"),
        "first run: {:?}",
        first.layer_log()
    );
    let second = run_app(app_command(setup, driver, mode, &store, false));
    second.assert_ok("second run with the layer");
    assert!(
        second.logged("load Hit"),
        "second run: {:?}",
        second.layer_log()
    );
    for run in [&first, &second] {
        assert_eq!(
            results(run),
            results(&baseline),
            "results differ with the layer"
        );
        assert_eq!(
            run.value("cache_hit"),
            expected_hit(driver),
            "substituted cache unused"
        );
        assert_eq!(run.value("validation_errors"), "0");
        // The application's own empty cache was seeded with the layer's (SwiftShader shows the
        // pipelines it received in-process); `*/app-caches` turns that off.
        assert_eq!(
            run.value("own_cache_hit"),
            expected_hit(driver),
            "the application's own cache seeded"
        );
    }
    (first, second)
}

fn position(layers: &[String], name: &str) -> usize {
    layers
        .iter()
        .position(|layer| layer == name)
        .unwrap_or_else(|| panic!("{name} not inserted: {layers:?}"))
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn abi_layout(setup: &Setup, _: &Driver) -> String {
    let source = setup.base.join("layout.c");
    std::fs::write(
        &source,
        r#"#include <stddef.h>
#include <stdio.h>
#include <vulkan/vk_layer.h>
#define S(t) printf(#t " %zu\n", sizeof(t))
#define O(t, f) printf(#t "." #f " %zu\n", offsetof(t, f))
int main(void) {
    S(VkNegotiateLayerInterface); O(VkNegotiateLayerInterface, pNext);
    O(VkNegotiateLayerInterface, loaderLayerInterfaceVersion);
    O(VkNegotiateLayerInterface, pfnGetInstanceProcAddr);
    O(VkNegotiateLayerInterface, pfnGetDeviceProcAddr);
    O(VkNegotiateLayerInterface, pfnGetPhysicalDeviceProcAddr);
    S(VkLayerInstanceLink); O(VkLayerInstanceLink, pfnNextGetInstanceProcAddr);
    O(VkLayerInstanceLink, pfnNextGetPhysicalDeviceProcAddr);
    S(VkLayerInstanceCreateInfo); O(VkLayerInstanceCreateInfo, function);
    O(VkLayerInstanceCreateInfo, u);
    S(VkLayerDeviceLink); O(VkLayerDeviceLink, pfnNextGetInstanceProcAddr);
    O(VkLayerDeviceLink, pfnNextGetDeviceProcAddr);
    S(VkLayerDeviceCreateInfo); O(VkLayerDeviceCreateInfo, function);
    O(VkLayerDeviceCreateInfo, u);
    printf("LAYER_NEGOTIATE_INTERFACE_STRUCT %d\n", (int)LAYER_NEGOTIATE_INTERFACE_STRUCT);
    printf("VK_LAYER_LINK_INFO %d\n", (int)VK_LAYER_LINK_INFO);
    printf("VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO %d\n", (int)VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO);
    printf("VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO %d\n", (int)VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO);
    return 0;
}
"#,
    )
    .expect("write layout.c");
    let binary = setup.base.join("layout");
    let status = Command::new("cc")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("cc");
    assert!(
        status.success(),
        "layout.c does not compile (install libvulkan-dev)"
    );
    let output = Command::new(&binary).output().expect("run layout");
    let c: BTreeMap<String, usize> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(name, value)| (name.to_owned(), value.parse().expect("number")))
        .collect();
    use abi::*;
    let rust: BTreeMap<&str, usize> = [
        (
            "VkNegotiateLayerInterface",
            size_of::<NegotiateLayerInterface>(),
        ),
        (
            "VkNegotiateLayerInterface.pNext",
            offset_of!(NegotiateLayerInterface, p_next),
        ),
        (
            "VkNegotiateLayerInterface.loaderLayerInterfaceVersion",
            offset_of!(NegotiateLayerInterface, loader_layer_interface_version),
        ),
        (
            "VkNegotiateLayerInterface.pfnGetInstanceProcAddr",
            offset_of!(NegotiateLayerInterface, pfn_get_instance_proc_addr),
        ),
        (
            "VkNegotiateLayerInterface.pfnGetDeviceProcAddr",
            offset_of!(NegotiateLayerInterface, pfn_get_device_proc_addr),
        ),
        (
            "VkNegotiateLayerInterface.pfnGetPhysicalDeviceProcAddr",
            offset_of!(NegotiateLayerInterface, pfn_get_physical_device_proc_addr),
        ),
        ("VkLayerInstanceLink", size_of::<LayerInstanceLink>()),
        (
            "VkLayerInstanceLink.pfnNextGetInstanceProcAddr",
            offset_of!(LayerInstanceLink, pfn_next_get_instance_proc_addr),
        ),
        (
            "VkLayerInstanceLink.pfnNextGetPhysicalDeviceProcAddr",
            offset_of!(LayerInstanceLink, pfn_next_get_physical_device_proc_addr),
        ),
        (
            "VkLayerInstanceCreateInfo",
            size_of::<LayerInstanceCreateInfo>(),
        ),
        (
            "VkLayerInstanceCreateInfo.function",
            offset_of!(LayerInstanceCreateInfo, function),
        ),
        (
            "VkLayerInstanceCreateInfo.u",
            offset_of!(LayerInstanceCreateInfo, u),
        ),
        ("VkLayerDeviceLink", size_of::<LayerDeviceLink>()),
        (
            "VkLayerDeviceLink.pfnNextGetInstanceProcAddr",
            offset_of!(LayerDeviceLink, pfn_next_get_instance_proc_addr),
        ),
        (
            "VkLayerDeviceLink.pfnNextGetDeviceProcAddr",
            offset_of!(LayerDeviceLink, pfn_next_get_device_proc_addr),
        ),
        (
            "VkLayerDeviceCreateInfo",
            size_of::<LayerDeviceCreateInfo>(),
        ),
        (
            "VkLayerDeviceCreateInfo.function",
            offset_of!(LayerDeviceCreateInfo, function),
        ),
        (
            "VkLayerDeviceCreateInfo.u",
            offset_of!(LayerDeviceCreateInfo, u),
        ),
        (
            "LAYER_NEGOTIATE_INTERFACE_STRUCT",
            LAYER_NEGOTIATE_INTERFACE_STRUCT as usize,
        ),
        ("VK_LAYER_LINK_INFO", LAYER_LINK_INFO as usize),
        (
            "VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO",
            vk::StructureType::LOADER_INSTANCE_CREATE_INFO.as_raw() as usize,
        ),
        (
            "VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO",
            vk::StructureType::LOADER_DEVICE_CREATE_INFO.as_raw() as usize,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(c.len(), rust.len(), "C printed {c:?}");
    for (name, value) in &rust {
        assert_eq!(
            c.get(*name),
            Some(value),
            "{name}: C {:?}, Rust {value}",
            c.get(*name)
        );
    }
    assert_eq!(
        size_of::<LayerInstanceCreateInfoUnion>(),
        16,
        "the C union tail is 16 bytes"
    );
    format!(
        "{} sizes, offsets and constants match vk_layer.h",
        rust.len()
    )
}

fn exports(setup: &Setup, _: &Driver) -> String {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&setup.library)
        .output()
        .expect("nm (binutils)");
    assert!(output.status.success());
    let symbols = String::from_utf8_lossy(&output.stdout);
    let vulkan: Vec<&str> = symbols
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .filter(|name| name.starts_with("vk"))
        .collect();
    // Exporting vkGetInstanceProcAddr would capture the calls of applications linking both.
    assert_eq!(vulkan, ["vkNegotiateLoaderLayerInterfaceVersion"]);
    "only vkNegotiateLoaderLayerInterfaceVersion is exported".into()
}

fn negotiate_and_resolve(_: &Setup, _: &Driver) -> String {
    use abi::NegotiateLayerInterface;
    use pcstore::layer::vkNegotiateLoaderLayerInterfaceVersion as negotiate;
    let offer = |version| NegotiateLayerInterface {
        s_type: abi::LAYER_NEGOTIATE_INTERFACE_STRUCT,
        p_next: std::ptr::null_mut(),
        loader_layer_interface_version: version,
        pfn_get_instance_proc_addr: None,
        pfn_get_device_proc_addr: None,
        pfn_get_physical_device_proc_addr: None,
    };
    // SAFETY: null and valid structs are both allowed by the function's contract.
    unsafe {
        assert_eq!(
            negotiate(std::ptr::null_mut()),
            vk::Result::ERROR_INITIALIZATION_FAILED
        );
        let mut old = offer(1);
        assert_eq!(negotiate(&mut old), vk::Result::ERROR_INITIALIZATION_FAILED);
        let mut wrong_type = offer(2);
        wrong_type.s_type = 0;
        assert_eq!(
            negotiate(&mut wrong_type),
            vk::Result::ERROR_INITIALIZATION_FAILED
        );
    }
    let mut newer = offer(7);
    // SAFETY: a valid, writable struct.
    assert_eq!(unsafe { negotiate(&mut newer) }, vk::Result::SUCCESS);
    assert_eq!(
        newer.loader_layer_interface_version,
        abi::LAYER_INTERFACE_VERSION
    );
    assert!(newer.pfn_get_physical_device_proc_addr.is_none());
    let gipa = newer.pfn_get_instance_proc_addr.expect("GIPA");
    let gdpa = newer.pfn_get_device_proc_addr.expect("GDPA");
    let instance_fn = |name: &std::ffi::CStr| {
        // SAFETY: the layer's GIPA accepts a null instance and any NUL-terminated name.
        unsafe { gipa(vk::Instance::null(), name.as_ptr()) }.is_some()
    };
    // Before any instance exists the loader asks for the layer's own commands by name.
    for own in [
        c"vkCreateInstance",
        c"vkGetInstanceProcAddr",
        c"vkGetDeviceProcAddr",
        c"vkCreateDevice",
        c"vkCreateGraphicsPipelines",
    ] {
        assert!(instance_fn(own), "{own:?} missing");
    }
    // Unknown names with a null handle have nobody to forward to.
    assert!(!instance_fn(c"vkEnumeratePhysicalDevices"));
    assert!(!instance_fn(c"vkCreateRayTracingPipelinesKHR"));
    // SAFETY: null name and null device are handled by the layer.
    unsafe {
        assert!(gipa(vk::Instance::null(), std::ptr::null()).is_none());
        assert!(gdpa(vk::Device::null(), c"vkCreateGraphicsPipelines".as_ptr()).is_none());
    }
    "version 2 chosen, older loaders refused, own commands before any instance".into()
}

fn explicit_below_validation(setup: &Setup, driver: &Driver) -> String {
    let (first, second) = persistence(setup, driver, Mode::ExplicitValidationBelow, "below");
    for run in [&first, &second] {
        let layers = run.inserted_layers();
        assert!(
            position(&layers, VALIDATION) < position(&layers, LAYER),
            "{layers:?}"
        );
    }
    format!("miss, stored, hit; chain {:?}", first.inserted_layers())
}

fn explicit_above_validation(setup: &Setup, driver: &Driver) -> String {
    let (first, _) = persistence(setup, driver, Mode::ExplicitValidationAbove, "above");
    let layers = first.inserted_layers();
    assert!(
        position(&layers, LAYER) < position(&layers, VALIDATION),
        "{layers:?}"
    );
    format!("miss, stored, hit; chain {layers:?}")
}

fn implicit(setup: &Setup, driver: &Driver) -> String {
    let (first, _) = persistence(setup, driver, Mode::Implicit, "implicit");
    position(&first.inserted_layers(), LAYER);
    "miss, stored, hit through the implicit manifest".into()
}

fn add_layer_path(setup: &Setup, driver: &Driver) -> String {
    let (first, _) = persistence(setup, driver, Mode::AddPathAndFilter, "add-path");
    let layers = first.inserted_layers();
    assert!(
        position(&layers, VALIDATION) < position(&layers, LAYER),
        "{layers:?}"
    );
    "miss, stored, hit with VK_ADD_LAYER_PATH + VK_LOADER_LAYERS_ENABLE".into()
}

fn implicit_switches(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "switches");
    let mut not_enabled = app_command(setup, driver, Mode::Implicit, &store, false);
    not_enabled.env_remove("PCSTORE_LAYER_ENABLE");
    let mut disabled = app_command(setup, driver, Mode::Implicit, &store, false);
    disabled.env("PCSTORE_LAYER_DISABLE", "1");
    for (what, command) in [("without enable", not_enabled), ("disabled", disabled)] {
        let run = run_app(command);
        run.assert_ok(what);
        assert!(
            run.layer_log().is_empty(),
            "{what}: layer active: {:?}",
            run.layer_log()
        );
        assert!(!run.inserted_layers().iter().any(|l| l == LAYER), "{what}");
    }
    "off unless PCSTORE_LAYER_ENABLE=1, off with PCSTORE_LAYER_DISABLE=1".into()
}

fn rust_app_runs(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "rust");
    let baseline = run_app(app_command(setup, driver, Mode::Without, &store, true));
    baseline.assert_ok("Rust app without the layer");
    let first = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &store,
        true,
    ));
    first.assert_ok("Rust app, first run");
    assert!(first.logged("final save Stored"), "{:?}", first.layer_log());
    let second = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &store,
        true,
    ));
    second.assert_ok("Rust app, second run");
    assert!(second.logged("load Hit"), "{:?}", second.layer_log());
    assert_eq!(first.values(), baseline.values());
    assert_eq!(second.values(), baseline.values());
    // A Vulkan 1.2 application that did not enable VK_EXT_pipeline_creation_feedback: the
    // layer enables it (validation would report the chained structure otherwise) and counts
    // every pipeline: 4 compute, 2 graphics, 1 through the application's own cache.
    for run in [&first, &second] {
        assert_eq!(
            feedback_counts(run).0,
            7,
            "pipelines counted: {:?}",
            run.layer_log()
        );
    }
    format!(
        "{} pipelines, stored then hit; creation feedback on a 1.2 application",
        baseline.value("pipelines_created")
    )
}

/// The layer's creation-feedback report at vkDestroyDevice: (pipelines, cache hits).
fn feedback_counts(run: &Run) -> (u64, u64) {
    let lines = run.layer_log();
    let reports: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.split_once("creation feedback: ").map(|(_, rest)| rest))
        .collect();
    let [report] = reports[..] else {
        panic!("not one creation feedback report: {lines:?}");
    };
    let number_before = |unit: &str| -> u64 {
        let (before, _) = report
            .split_once(unit)
            .unwrap_or_else(|| panic!("no {unit:?} in {report:?}"));
        let word = before
            .trim_end()
            .rsplit([' ', ','])
            .next()
            .unwrap_or_default();
        word.parse()
            .unwrap_or_else(|_| panic!("{word:?} before {unit:?} in {report:?}"))
    };
    (number_before(" pipelines"), number_before(" cache hits"))
}

/// Two device configurations of one application (robustBufferAccess off and on) keep a blob
/// each: the second configuration misses instead of loading the first one's, and each finds its
/// own again afterwards.
fn configurations_apart(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "configurations");
    let run = |robust: &str| {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        command.env("APP_ROBUST", robust);
        let run = run_app(command);
        run.assert_ok("a device configuration");
        run
    };
    let expect = |run: &Run, load: &str, what: &str| {
        assert!(run.logged(load), "{what}: {:?}", run.layer_log());
    };
    expect(&run("0"), "load Miss", "plain, first");
    expect(&run("1"), "load Miss", "robust, first: not the plain blob");
    expect(&run("0"), "load Hit", "plain, again");
    expect(&run("1"), "load Hit", "robust, again");
    "one blob per device configuration".into()
}

/// The application's own caches: an application that uses only caches of its own (both created
/// without initial data) gets them seeded from the layer's and what they gathered persists, so
/// the next run loads it and seeds them again; `PCSTORE_LAYER_APP_CACHES=0` leaves them alone
/// (nothing seeded, the own cache misses, nothing stored).
fn app_caches(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "app-caches");
    let run = |store: &Path, app_caches: &str| {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, store, false);
        command
            .env("APP_SHARED_CACHE", "1")
            .env("PCSTORE_LAYER_APP_CACHES", app_caches);
        let run = run_app(command);
        run.assert_ok("the application's own caches");
        run
    };
    let seeded = |run: &Run| {
        run.layer_log()
            .iter()
            .filter(|line| line.contains("application cache seeded from the layer's cache"))
            .count()
    };
    let first = run(&store, "1");
    assert_eq!(seeded(&first), 2, "{:?}", first.layer_log());
    assert!(
        first.logged("load Miss") && first.logged("final save Stored"),
        "what the application's caches gathered is stored: {:?}",
        first.layer_log()
    );
    let second = run(&store, "1");
    assert_eq!(seeded(&second), 2, "{:?}", second.layer_log());
    assert!(second.logged("load Hit"), "{:?}", second.layer_log());
    assert_eq!(second.value("validation_errors"), "0");

    let off = run(&fresh_store(setup, driver, "app-caches-off"), "0");
    assert_eq!(seeded(&off), 0, "{:?}", off.layer_log());
    assert!(!off.logged(" save "), "{:?}", off.layer_log());
    assert_eq!(off.value("own_cache_hit"), "0", "left alone");
    "own caches seeded and collected, stored and loaded again; off with =0".into()
}

/// An X server of its own for the windowed applications: `Xvfb -displayfd` picks a free
/// display and writes its number once it accepts connections; killed on drop.
struct VirtualDisplay {
    server: Child,
    display: String,
}

impl VirtualDisplay {
    fn start() -> Self {
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "640x480x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (install xvfb: scripts/install-deps.sh)");
        let mut line = String::new();
        // Blocks until the server is ready (or gone: an empty line).
        BufReader::new(server.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("Xvfb's display number");
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb exited without a display");
        Self {
            display: format!(":{number}"),
            server,
        }
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Real applications that create a pipeline cache of their own and never persist it (vkcube,
/// vkcubepp from vulkan-tools), under Xvfb with their own validation on: the second run seeds
/// their cache from the store; no validation errors, normal exit. A run with `--force_errors`
/// first shows that their validation errors would be seen.
fn vkcube(setup: &Setup, driver: &Driver) -> String {
    let display = VirtualDisplay::start();
    let run = |program: &str, store: &Path, mode: Mode, extra: &[&str]| {
        let mut command = Command::new(program);
        command.args(["--c", "30", "--validate"]).args(extra);
        let mut command = in_environment(command, setup, driver, mode, store);
        command.env("DISPLAY", &display.display);
        run_app(command)
    };
    const VALIDATION_ERROR: &str = "ERROR : ";
    let control = run(
        "vkcube",
        &fresh_store(setup, driver, "vkcube-control"),
        Mode::Without,
        &["--force_errors"],
    );
    assert!(
        control.stdout.contains(VALIDATION_ERROR) || control.stderr.contains(VALIDATION_ERROR),
        "forced errors not seen:\n{}\n{}",
        control.stdout,
        control.stderr
    );
    for program in ["vkcube", "vkcubepp"] {
        let store = fresh_store(setup, driver, program);
        let mode = Mode::ExplicitValidationBelow;
        let first = run(program, &store, mode, &[]);
        let second = run(program, &store, mode, &[]);
        for (round, run) in [(1, &first), (2, &second)] {
            run.assert_ok(program);
            assert!(
                !run.stdout.contains(VALIDATION_ERROR) && !run.stderr.contains(VALIDATION_ERROR),
                "{program} run {round}: validation errors:\n{}",
                run.stderr
            );
            assert!(
                run.logged("application cache seeded from the layer's cache"),
                "{program} run {round}: {:?}",
                run.layer_log()
            );
        }
        assert!(
            first.logged("final save Stored"),
            "{program}: {:?}",
            first.layer_log()
        );
        assert!(
            second.logged("load Hit"),
            "{program}: {:?}",
            second.layer_log()
        );
    }
    "vkcube and vkcubepp: their own cache seeded from the store, no validation errors".into()
}

/// An application that passes only caches of its own never uses the layer's: with the
/// application caches left alone (`PCSTORE_LAYER_APP_CACHES=0`) the layer neither stores nor
/// flushes anything for it, so the next run still misses.
fn unused_cache_not_saved(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "unused");
    for round in 0..2 {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        command
            .env("APP_SHARED_CACHE", "1")
            .env("PCSTORE_LAYER_APP_CACHES", "0");
        let run = run_app(command);
        run.assert_ok("only the application's own caches");
        assert!(
            run.logged("load Miss") && !run.logged(" save "),
            "round {round}: {:?}",
            run.layer_log()
        );
    }
    "the layer's unused cache was neither saved nor flushed".into()
}

/// Driver-verified hits: the layer's per-device count matches the application's own creation
/// feedback, pipeline for pipeline (the application chains its own on every pipeline: the
/// layer reads it), and the layer's own chained feedback (the application chains none on its
/// threads' pipelines) measures the same; validation stays silent and the application's create
/// infos are unchanged either way (the application checks and fails otherwise).
fn creation_feedback(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "feedback");
    let run = |application_feedback: &str| {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        // Every creation measured, whatever the default sample: the counts are compared with
        // the application's own feedback one for one.
        command
            .env("APP_REPEAT", "2")
            .env("APP_FEEDBACK", application_feedback)
            .env("PCSTORE_LAYER_FEEDBACK", "all");
        let run = run_app(command);
        run.assert_ok("creation feedback");
        assert_eq!(run.value("create_infos_changed"), "0");
        assert_eq!(run.value("validation_errors"), "0");
        run
    };
    let own = run("1");
    // 4 threads x 8 pipelines x 2 rounds, the first pipeline again, one through its own cache.
    let total = 4 * 8 * 2 + 2;
    let (counted, hits) = feedback_counts(&own);
    assert_eq!(counted, total, "{:?}", own.layer_log());
    assert_eq!(own.value("worker_feedback_valid"), "64");
    let number = |key: &str| -> u64 { own.value(key).parse().expect("a number") };
    let application_hits = number("worker_hits") + number("cache_hit") + number("own_cache_hit");
    assert_eq!(
        hits, application_hits,
        "the layer's count against the application's own feedback"
    );
    if driver.name == "swiftshader" {
        // Its second round and the repeat of the first pipeline hit the layer's cache, and the
        // pipeline through the application's own cache hits what seeding gave it.
        assert_eq!(hits, 4 * 8 + 2, "SwiftShader reports in-process hits");
    } else {
        assert_eq!(hits, 0, "lavapipe never sets the hit bit");
    }
    let layer_chained = run("0");
    assert_eq!(
        feedback_counts(&layer_chained),
        (counted, hits),
        "the layer's own feedback: {:?}",
        layer_chained.layer_log()
    );
    format!("{counted} pipelines, {hits} driver-reported hits, as the application's own feedback")
}

/// `PCSTORE_LAYER_FEEDBACK=off`: the layer chains nothing and counts nothing (its report says
/// so), records no run, and the application's own feedback works as without the layer.
fn creation_feedback_off(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "feedback-off");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command
        .env("APP_REPEAT", "2")
        .env("APP_FEEDBACK", "1")
        .env("PCSTORE_LAYER_FEEDBACK", "off");
    let run = run_app(command);
    run.assert_ok("creation feedback off");
    assert_eq!(run.value("validation_errors"), "0");
    assert_eq!(run.value("create_infos_changed"), "0");
    assert_eq!(run.value("worker_feedback_valid"), "64");
    assert!(
        run.logged("creation feedback: not measured (PCSTORE_LAYER_FEEDBACK=off)"),
        "{:?}",
        run.layer_log()
    );
    assert!(!run.logged("history: run"), "{:?}", run.layer_log());
    let disk = pcstore::DiskCache::new(&store).expect("store");
    let histories = disk
        .keys()
        .into_iter()
        .filter(|key| {
            disk.peek(key)
                .is_some_and(|bytes| pcstore::vulkan::History::is_history(&bytes))
        })
        .count();
    assert_eq!(histories, 0, "no run recorded");
    "nothing chained, counted or recorded; the application's own feedback intact".into()
}

fn unwritable_dir(setup: &Setup, driver: &Driver) -> String {
    // Root ignores permission bits: a directory below a regular file can never be created.
    let blocker = setup.base.join(format!("blocker-{}", driver.name));
    std::fs::write(&blocker, b"not a directory").expect("blocker file");
    let run = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &blocker.join("store"),
        false,
    ));
    run.assert_ok("unwritable store directory");
    assert!(run.logged("memory only"), "{:?}", run.layer_log());
    // Said once without PCSTORE_LOG too, as the C default store says it.
    let reports: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("pcstore: the disk store cannot be used"))
        .collect();
    assert_eq!(reports.len(), 1, "{}", run.stderr);
    assert_eq!(run.value("cache_hit"), expected_hit(driver));
    "application unaffected; layer caches in memory".into()
}

fn corrupt_entry(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "corrupt");
    let mode = Mode::ExplicitValidationBelow;
    run_app(app_command(setup, driver, mode, &store, false)).assert_ok("seeding run");
    // Flip bytes in the second half of every file: record payloads, checksums, indexes.
    let mut damaged = 0;
    for entry in std::fs::read_dir(&store).expect("store folder") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        let mut bytes = std::fs::read(&path).expect("read");
        if bytes.len() < 2 {
            continue;
        }
        let half = bytes.len() / 2;
        for byte in &mut bytes[half..] {
            *byte ^= 0x5a;
        }
        std::fs::write(&path, bytes).expect("write");
        damaged += 1;
    }
    assert!(damaged > 0, "the seeding run stored nothing");
    let run = run_app(app_command(setup, driver, mode, &store, false));
    run.assert_ok("corrupt store");
    assert!(
        !run.logged("load Hit"),
        "a damaged entry was loaded: {:?}",
        run.layer_log()
    );
    let after = run_app(app_command(setup, driver, mode, &store, false));
    after.assert_ok("after the corrupt run");
    assert!(
        after.logged("load Hit"),
        "not re-stored: {:?}",
        after.layer_log()
    );
    format!("{damaged} files damaged: no load, application fine, entry re-stored")
}

/// A bundle exported from one machine's store (the farm) and named by `PCSTORE_BUNDLES` makes
/// the first launch with a fresh store warm; signed by another key than `PCSTORE_BUNDLE_KEY`,
/// it is left out (said on stderr) and the launch is cold.
fn bundle_warms_first_launch(setup: &Setup, driver: &Driver) -> String {
    let mode = Mode::ExplicitValidationBelow;
    let farm = fresh_store(setup, driver, "bundle-farm");
    run_app(app_command(setup, driver, mode, &farm, false)).assert_ok("farm run");
    let bundle = setup.base.join(format!("pipelines-{}.pcsb", driver.name));
    let studio = pcstore::bundle::BundleSigningKey::from_secret_bytes(&[0x5a; 32]);
    let exported = pcstore::bundle::export_disk_cache(
        &pcstore::DiskCache::new(&farm).expect("farm store"),
        &bundle,
        |_| true,
        Some(&studio),
    )
    .expect("export");
    assert!(exported.bundle.entries > 0, "the farm run stored nothing");
    let hex = |key: [u8; 32]| pcstore::PipelineFingerprint(key).to_hex();
    let other = pcstore::bundle::BundleSigningKey::from_secret_bytes(&[0x11; 32]);

    let player = fresh_store(setup, driver, "bundle-player");
    let mut command = app_command(setup, driver, mode, &player, false);
    command
        .env("PCSTORE_BUNDLES", &bundle)
        .env("PCSTORE_BUNDLE_KEY", hex(studio.public_key()));
    let warm = run_app(command);
    warm.assert_ok("first launch with the bundle");
    assert!(warm.logged("load Hit"), "{:?}", warm.layer_log());
    assert_eq!(warm.value("cache_hit"), expected_hit(driver));
    assert_eq!(warm.value("validation_errors"), "0");

    let refused_store = fresh_store(setup, driver, "bundle-refused");
    let mut command = app_command(setup, driver, mode, &refused_store, false);
    command
        .env("PCSTORE_BUNDLES", &bundle)
        .env("PCSTORE_BUNDLE_KEY", hex(other.public_key()));
    let cold = run_app(command);
    cold.assert_ok("first launch with a bundle signed by another key");
    assert!(cold.logged("load Miss"), "{:?}", cold.layer_log());
    assert!(
        cold.stderr.contains("PCSTORE_BUNDLES") && cold.stderr.contains("is left out"),
        "{}",
        cold.stderr
    );
    format!(
        "{} bundle entries: first launch warm; another key's bundle left out",
        exported.bundle.entries
    )
}

/// The layer writes one label for the device and application it loads a cache for: driver,
/// device and application in words, the key of the cache entry, first and last time seen; a
/// second launch within the hour leaves it as it is.
fn label_names_the_device(setup: &Setup, driver: &Driver) -> String {
    let mode = Mode::ExplicitValidationBelow;
    let store = fresh_store(setup, driver, "label");
    let labels = || {
        let disk = pcstore::DiskCache::new(&store).expect("store");
        let mut labels = Vec::new();
        let mut keys = Vec::new();
        for key in disk.keys() {
            let bytes = disk.peek(&key).expect("readable entry");
            match pcstore::vulkan::Label::from_bytes(&bytes) {
                Some(label) => labels.push(label),
                None => keys.push(key),
            }
        }
        (labels, keys)
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64;
    run_app(app_command(setup, driver, mode, &store, false)).assert_ok("first launch");
    let (first, keys) = labels();
    assert_eq!(
        first.len(),
        1,
        "one label per device and application: {first:?}"
    );
    let label = &first[0];
    assert_eq!(label.application, "app (pcstore-layer-test-app)");
    let device_name = if driver.name == "swiftshader" {
        "SwiftShader"
    } else {
        "llvmpipe"
    };
    assert!(label.device_name.contains(device_name), "{label:?}");
    assert!(
        keys.contains(&label.cache_key),
        "names the cache entry: {label:?}"
    );
    assert!(started <= label.first_seen_ns && label.first_seen_ns == label.last_seen_ns);
    run_app(app_command(setup, driver, mode, &store, false)).assert_ok("second launch");
    let (second, _) = labels();
    assert_eq!(second, first, "rewritten within the hour");
    format!(
        "{} · {} · {}",
        label.driver(),
        label.device_name,
        label.application
    )
}

/// Every run's driver-reported hits end up in the application's history record for the device:
/// two launches, two runs numbered 1 and 2, each equal to what the layer logged from creation
/// feedback (which `*/creation-feedback` checks against the application's own feedback); on
/// SwiftShader, the hits it reports in-process.
fn history_records_runs(setup: &Setup, driver: &Driver) -> String {
    let mode = Mode::ExplicitValidationBelow;
    let store = fresh_store(setup, driver, "history");
    let histories = || {
        let disk = pcstore::DiskCache::new(&store).expect("store");
        disk.keys()
            .into_iter()
            .filter_map(|key| pcstore::vulkan::History::from_bytes(&disk.peek(&key)?))
            .collect::<Vec<_>>()
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64;
    let mut logged = Vec::new();
    for launch in 1..=2u64 {
        let mut command = app_command(setup, driver, mode, &store, false);
        command.env("APP_REPEAT", "2");
        let run = run_app(command);
        run.assert_ok("launch");
        assert_eq!(run.value("validation_errors"), "0");
        assert!(
            run.logged(&format!("history: run {launch} recorded")),
            "{:?}",
            run.layer_log()
        );
        logged.push(feedback_counts(&run));
    }
    let [history] = &histories()[..] else {
        panic!("not one history: {:?}", histories());
    };
    assert_eq!(history.application, "app (pcstore-layer-test-app)");
    assert_eq!(history.last_run, 2);
    let recorded: Vec<(u64, u64)> = history
        .runs
        .iter()
        .map(|run| (run.pipelines, run.hits))
        .collect();
    assert_eq!(recorded, logged, "the runs as the layer counted them");
    assert!(history.runs[0].ended_ns >= started);
    assert!(history.runs[1].ended_ns >= history.runs[0].ended_ns);
    for run in &history.runs {
        assert!(run.pipelines > 0 && run.creation_ns() > 0, "{run:?}");
        if driver.name == "swiftshader" {
            assert!(run.hits > 0, "SwiftShader reports in-process hits: {run:?}");
        } else {
            assert_eq!(run.hits, 0, "lavapipe never sets the hit bit");
        }
    }
    let last = history.runs[1];
    format!(
        "run 2: {} of {} pipelines from cache",
        last.hits, last.pipelines
    )
}

fn tiny_max_size(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "tiny");
    for round in 0..2 {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        command.env("PCSTORE_MAX_SIZE", "64");
        let run = run_app(command);
        run.assert_ok("PCSTORE_MAX_SIZE=64");
        assert!(
            !run.logged("load Hit"),
            "round {round}: {:?}",
            run.layer_log()
        );
        assert!(
            !run.logged("save Stored"),
            "round {round}: {:?}",
            run.layer_log()
        );
        assert_eq!(run.value("cache_hit"), expected_hit(driver));
    }
    "nothing stored over budget; application fine".into()
}

/// `PCSTORE_LOG_FILE` alone turns the layer's lines on and sends them to that file, appended
/// after what two runs of two processes wrote (whole lines), and never to stderr.
fn log_file(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "log-file");
    let log = setup.base.join(format!("layer-{}.log", driver.name));
    let _ = std::fs::remove_file(&log);
    std::fs::write(&log, "an earlier line\n").expect("seed the log");
    for round in 0..2 {
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        command
            .env_remove("PCSTORE_LOG")
            .env("PCSTORE_LOG_FILE", &log);
        let run = run_app(command);
        run.assert_ok("PCSTORE_LOG_FILE");
        assert_eq!(
            run.layer_log(),
            Vec::<&str>::new(),
            "round {round}: lines on stderr"
        );
    }
    let text = std::fs::read_to_string(&log).expect("the log file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "an earlier line",
        "appended, not replaced:\n{text}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|line| line.starts_with("pcstore-layer: ")),
        "whole lines only:\n{text}"
    );
    let count = |what: &str| lines.iter().filter(|line| line.contains(what)).count();
    assert_eq!(
        (count("load Miss"), count("load Hit"), count("final save ")),
        (1, 1, 2),
        "a miss, then a hit, and a final save each:\n{text}"
    );
    format!(
        "{} lines appended to PCSTORE_LOG_FILE, none on stderr",
        lines.len() - 1
    )
}

/// The layer reads the environment with the C default store's grammar and meaning.
fn environment_grammar(setup: &Setup, driver: &Driver) -> String {
    let mode = Mode::ExplicitValidationBelow;
    // PCSTORE_DISABLE: memory only, nothing persists, no directory is created.
    let disabled = fresh_store(setup, driver, "disabled");
    for round in 0..2 {
        let mut command = app_command(setup, driver, mode, &disabled, false);
        command.env("PCSTORE_DISABLE", "yes");
        let run = run_app(command);
        run.assert_ok("PCSTORE_DISABLE=yes");
        assert!(
            run.logged("load Miss") && run.logged("memory only"),
            "round {round}: {:?}",
            run.layer_log()
        );
    }
    assert!(!disabled.exists(), "PCSTORE_DISABLE created the store");
    // A zero budget would store nothing: reported once, and the default used. "false" does
    // not disable.
    let store = fresh_store(setup, driver, "zero-budget");
    for round in 0..2 {
        let mut command = app_command(setup, driver, mode, &store, false);
        command
            .env("PCSTORE_MAX_SIZE", "0")
            .env("PCSTORE_DISABLE", "false");
        let run = run_app(command);
        run.assert_ok("PCSTORE_MAX_SIZE=0");
        let reports = run
            .stderr
            .lines()
            .filter(|line| line.starts_with("pcstore: PCSTORE_MAX_SIZE=\"0\" is not a usable"))
            .count();
        assert_eq!(reports, 1, "round {round}: {}", run.stderr);
        let expected = if round == 0 { "load Miss" } else { "load Hit" };
        assert!(run.logged(expected), "round {round}: {:?}", run.layer_log());
    }
    "PCSTORE_DISABLE=yes keeps nothing; PCSTORE_MAX_SIZE=0 reported, default used".into()
}

fn two_apps_at_once(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "two");
    let spawn = || {
        app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let children = [spawn(), spawn()];
    for child in children {
        finish(child.wait_with_output().expect("wait")).assert_ok("concurrent application");
    }
    let after = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &store,
        false,
    ));
    after.assert_ok("after two at once");
    assert!(after.logged("load Hit"), "{:?}", after.layer_log());
    "both fine; the store serves the next run".into()
}

fn killed_after_periodic_save(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "killed");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command
        .env("APP_HOLD_MS", "60000")
        .env("PCSTORE_SAVE_INTERVAL_MS", "100");
    let app = Watched::spawn(command);
    // The application prints "holding" after its pipelines are created; the saver then stores
    // the grown cache within an interval.
    app.wait_for_stdout("holding");
    app.wait_for_stderr("periodic save Stored");
    // An unannounced kill: no vkDestroyDevice, no final save.
    let (_, stderr) = app.kill();
    assert!(!stderr.contains("final save"), "the kill came too late");
    let after = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &store,
        false,
    ));
    after.assert_ok("after the kill");
    assert!(after.logged("load Hit"), "{:?}", after.layer_log());
    "periodic save survived SIGKILL".into()
}

fn many_threads(setup: &Setup, driver: &Driver) -> String {
    let store = fresh_store(setup, driver, "threads");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command
        .env("APP_THREADS", "8")
        .env("APP_PIPELINES", "24")
        .env("PCSTORE_SAVE_INTERVAL_MS", "50");
    let run = run_app(command);
    run.assert_ok("8 threads through the substituted cache");
    assert_eq!(run.value("pipelines_created"), "192 of 192");
    assert_eq!(run.value("cache_hit"), expected_hit(driver));
    "192 pipelines from 8 threads, saver running every 50 ms".into()
}

// ---------------------------------------------------------------------------------------------
// A running application whose output is read as it comes.

/// A child process whose stdout and stderr lines are collected by two reader threads.
struct Watched {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Watched {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn application");
        let collect = |pipe: Box<dyn Read + Send>, into: &Arc<Mutex<String>>| {
            let into = Arc::clone(into);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    let mut text = into.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            })
        };
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(Box::new(child.stdout.take().expect("stdout")), &stdout),
            collect(Box::new(child.stderr.take().expect("stderr")), &stderr),
        ];
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn wait_for(&self, what: &str, condition: impl Fn() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_for_stdout(&self, text: &str) {
        self.wait_for(text, || self.stdout.lock().unwrap().contains(text));
    }

    fn wait_for_stderr(&self, text: &str) {
        self.wait_for(text, || self.stderr.lock().unwrap().contains(text));
    }

    /// SIGKILL; returns everything the process printed.
    fn kill(mut self) -> (String, String) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        for reader in self.readers.drain(..) {
            reader.join().expect("reader");
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (stdout, stderr)
    }
}

// ---------------------------------------------------------------------------------------------
// A remote cache server on loopback that fails on purpose.

/// What the test server does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serve {
    /// Accepts connections and never answers anything.
    BlackHole,
    /// Answers GET with 404 at once; never answers a PUT (the breaker stays closed until then).
    HoldPuts,
    /// Stores PUT bodies and serves them, each GET answered after `delay_ms`.
    Store { delay_ms: u64 },
}

/// A Bazel-layout server on 127.0.0.1 that stops (and drops every connection) on drop.
struct TestRemote {
    port: u16,
    serve: Arc<Mutex<Serve>>,
    stored: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// Request lines in arrival order ("GET /ac/...").
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    /// Every accepted connection's peer address, in accept order.
    peers: Arc<Mutex<Vec<std::net::SocketAddr>>>,
    /// The test's own connections made by [`TestRemote::settled_connections`].
    probes: Mutex<Vec<std::net::SocketAddr>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestRemote {
    fn start(serve: Serve) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let mut remote = Self {
            port,
            serve: Arc::new(Mutex::new(serve)),
            stored: Arc::default(),
            requests: Arc::default(),
            connections: Arc::default(),
            peers: Arc::default(),
            probes: Mutex::default(),
            stop: Arc::default(),
            acceptor: None,
        };
        let (serve, stored, requests, connections, peers, stop) = (
            Arc::clone(&remote.serve),
            Arc::clone(&remote.stored),
            Arc::clone(&remote.requests),
            Arc::clone(&remote.connections),
            Arc::clone(&remote.peers),
            Arc::clone(&remote.stop),
        );
        let acceptor = std::thread::spawn(move || {
            // Bounded so that a broken test cannot leave it running.
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(600) {
                let Ok((stream, peer)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                peers.lock().unwrap().push(peer);
                connections.fetch_add(1, Ordering::SeqCst);
                let (serve, stored, requests, stop) = (
                    Arc::clone(&serve),
                    Arc::clone(&stored),
                    Arc::clone(&requests),
                    Arc::clone(&stop),
                );
                std::thread::spawn(move || {
                    serve_connection(stream, &serve, &stored, &requests, &stop)
                });
            }
        });
        remote.acceptor = Some(acceptor);
        remote
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, serve: Serve) {
        *self.serve.lock().unwrap() = serve;
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Connections other processes made so far, every one included: the acceptor polls, so a
    /// connection a process made just before it was killed may still wait in the listen queue;
    /// a connection of the test's own goes through the same first-in, first-out queue, and
    /// once the acceptor took it, it took every one before it.
    fn settled_connections(&self) -> usize {
        let probe = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to own server");
        let me = probe.local_addr().expect("own address");
        self.probes.lock().unwrap().push(me);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let peers = self.peers.lock().unwrap();
            if let Some(at) = peers.iter().position(|peer| *peer == me) {
                let probes = self.probes.lock().unwrap();
                return peers[..at]
                    .iter()
                    .filter(|peer| !probes.contains(peer))
                    .count();
            }
            drop(peers);
            assert!(Instant::now() < deadline, "the test server accepts nothing");
            std::thread::yield_now();
        }
    }
}

impl Drop for TestRemote {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve_connection(
    stream: TcpStream,
    serve: &Mutex<Serve>,
    stored: &Mutex<BTreeMap<String, Vec<u8>>>,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let hold = || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    if *serve.lock().unwrap() == Serve::BlackHole {
        return hold();
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        requests.lock().unwrap().push(format!("{method} {path}"));
        let mode = *serve.lock().unwrap();
        if method == "PUT" && mode == Serve::HoldPuts {
            return hold();
        }
        let mut body = vec![0u8; length.min(64 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = match (method.as_str(), mode) {
            ("PUT", _) => {
                stored.lock().unwrap().insert(path, body);
                (201, Vec::new())
            }
            ("GET", Serve::Store { delay_ms }) => {
                // The fault being simulated: a server that takes this long to answer.
                std::thread::sleep(Duration::from_millis(delay_ms));
                match stored.lock().unwrap().get(&path) {
                    Some(found) => (200, found.clone()),
                    None => (404, Vec::new()),
                }
            }
            _ => (404, Vec::new()),
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&answer).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The remote tier under the layer.

/// The shortest vkCreateDevice and vkDestroyDevice (µs) of `runs` runs, each on a fresh store
/// (so every run misses locally and asks the remote tier, when there is one).
fn device_times(
    setup: &Setup,
    driver: &Driver,
    name: &str,
    remote: Option<&TestRemote>,
    runs: usize,
) -> (u64, u64, Run) {
    let (mut create, mut destroy) = (u64::MAX, u64::MAX);
    let mut last = None;
    for round in 0..runs {
        let store = fresh_store(setup, driver, &format!("{name}-{round}"));
        let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
        if let Some(remote) = remote {
            command.env("PCSTORE_REMOTE_URL", remote.url());
        }
        let run = run_app(command);
        run.assert_ok(name);
        assert!(run.logged("load Miss"), "{name}: {:?}", run.layer_log());
        assert!(
            run.logged("final save Stored"),
            "{name}: {:?}",
            run.layer_log()
        );
        let micros = |key: &str| run.value(key).parse::<u64>().expect("a number");
        create = create.min(micros("create_device_us"));
        destroy = destroy.min(micros("destroy_device_us"));
        last = Some(run);
    }
    (create, destroy, last.expect("at least one run"))
}

/// Finding: with `PCSTORE_REMOTE_URL` naming a server that accepts connections and never
/// answers, vkCreateDevice took ~400 ms longer (the initial load asked the remote tier on the
/// calling thread), and a final save could wait for an upload inside vkDestroyDevice. Now each
/// adds at most 50 ms (the issue's bound; the layer waits 20 and 15 ms at most), and the
/// application's results are the same.
fn dead_remote_never_stalls_vulkan(setup: &Setup, driver: &Driver) -> String {
    // The shortest of five runs each, so that a busy machine does not decide the comparison.
    const RUNS: usize = 5;
    const BOUND_US: u64 = 50_000;
    let (local_create, local_destroy, local) = device_times(setup, driver, "local", None, RUNS);
    let hole = TestRemote::start(Serve::BlackHole);
    let (hole_create, hole_destroy, with_hole) =
        device_times(setup, driver, "black-hole", Some(&hole), RUNS);
    assert!(
        hole.connections.load(Ordering::SeqCst) >= RUNS,
        "the remote tier was never asked"
    );
    // GETs answered at once, PUTs never: the breaker is still closed at vkDestroyDevice, when
    // the final save's upload hangs.
    let holds_puts = TestRemote::start(Serve::HoldPuts);
    let (_, puts_destroy, with_held_puts) =
        device_times(setup, driver, "held-puts", Some(&holds_puts), RUNS);
    assert!(
        holds_puts.requests().iter().any(|r| r.starts_with("PUT ")),
        "no upload was attempted: {:?}",
        holds_puts.requests()
    );
    for run in [&with_hole, &with_held_puts] {
        assert_eq!(
            results(run),
            results(&local),
            "results differ with a dead remote"
        );
    }
    let added = |with: u64, without: u64| with.saturating_sub(without);
    for (what, with, without) in [
        ("vkCreateDevice, black hole", hole_create, local_create),
        ("vkDestroyDevice, black hole", hole_destroy, local_destroy),
        ("vkDestroyDevice, held uploads", puts_destroy, local_destroy),
    ] {
        assert!(
            added(with, without) <= BOUND_US,
            "{what}: {with} µs against {without} µs without a remote"
        );
    }
    format!(
        "added µs: create {}, destroy {} (black hole), destroy {} (held uploads)",
        added(hole_create, local_create),
        added(hole_destroy, local_destroy),
        added(puts_destroy, local_destroy)
    )
}

/// The first process that finds the server dead records it in the store's directory; the next
/// one does not ask the server at all.
fn dead_remote_remembered_across_processes(setup: &Setup, driver: &Driver) -> String {
    let hole = TestRemote::start(Serve::BlackHole);
    let store = fresh_store(setup, driver, "remembered");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command
        .env("PCSTORE_REMOTE_URL", hole.url())
        .env("APP_HOLD_MS", "60000");
    let app = Watched::spawn(command);
    // The background lookup times out (500 ms) and opens the breaker, which writes its state.
    let state_file = || {
        std::fs::read_dir(&store).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    name.starts_with("remote-") && name.ends_with(".state")
                })
        })
    };
    // Killed as soon as it exists: it is renamed into place whole (an empty or partial file,
    // as an in-place rewrite left when killed midway, would send the next process to the
    // server again).
    app.wait_for("the breaker's state file", || state_file().is_some());
    app.kill();
    let path = state_file().expect("state file");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let hex = &name["remote-".len()..name.len() - ".state".len()];
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{name}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{name}");

    // Settled: the killed process's last connections (recording reads its records through
    // the remote tier too) may still be waiting to be accepted.
    let before = hole.settled_connections();
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command.env("PCSTORE_REMOTE_URL", hole.url());
    let next = run_app(command);
    next.assert_ok("the process after");
    assert_eq!(
        hole.settled_connections(),
        before,
        "the next process asked the dead server again"
    );
    format!("{name} (0600) kept the next process off the dead server")
}

/// A remote hit that comes after the layer stopped waiting lands in the local tiers: the next
/// launch hits locally without any remote.
fn late_remote_hit_lands_locally(setup: &Setup, driver: &Driver) -> String {
    let remote = TestRemote::start(Serve::Store { delay_ms: 0 });
    // A first run learns the key the layer uses (its GET) and stores a valid entry locally.
    // Recording asks for its application record and the catalog too, and the label its
    // record, in any order (the label is written beside the cache's lookup): the layer's
    // cache is the key whose entry is a pipeline-cache envelope.
    let seeded = fresh_store(setup, driver, "late-seed");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &seeded, false);
    command.env("PCSTORE_REMOTE_URL", remote.url());
    run_app(command).assert_ok("seeding run");
    let seeded_disk = pcstore::DiskCache::new(&seeded).expect("seeded store");
    let (key, entry) = remote
        .requests()
        .iter()
        .filter_map(|request| request.strip_prefix("GET /ac/"))
        .map(|path| pcstore::PipelineFingerprint::from_hex(path).expect("a key"))
        .find_map(|key| {
            seeded_disk
                .get(&key)
                .filter(|entry| pcstore::vulkan::envelope_device(entry).is_some())
                .map(|entry| (key, entry))
        })
        .expect("the layer asked the remote tier for its cache, and the seeding run stored it");
    // The studio cache holds it (uploaded here, with a wait, rather than by the seeding run's
    // best-effort upload), and answers 400 ms late: past the layer's wait.
    let writer = pcstore::remote::RemoteCache::new(&remote.url()).expect("writer");
    writer.try_put(key, entry.clone()).expect("queued");
    writer.flush().expect("uploaded");
    remote.set(Serve::Store { delay_ms: 400 });

    let store = fresh_store(setup, driver, "late");
    let mut command = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    command
        .env("PCSTORE_REMOTE_URL", remote.url())
        .env("APP_HOLD_MS", "60000")
        .env("PCSTORE_SAVE_INTERVAL_MS", "3600000");
    let app = Watched::spawn(command);
    app.wait_for_stdout("holding");
    app.wait_for("the late hit on disk", || {
        pcstore::DiskCache::new(&store)
            .ok()
            .and_then(|disk| disk.get(&key))
            .is_some_and(|found| found == entry)
    });
    let (_, stderr) = app.kill();
    assert!(
        stderr.contains("load Miss"),
        "the layer waited for the remote:\n{stderr}"
    );
    assert!(
        !stderr.contains(" save "),
        "the application saved its own cache:\n{stderr}"
    );

    let next = run_app(app_command(
        setup,
        driver,
        Mode::ExplicitValidationBelow,
        &store,
        false,
    ));
    next.assert_ok("the next launch, without a remote");
    assert!(next.logged("load Hit"), "{:?}", next.layer_log());
    "missed at vkCreateDevice, landed on disk, hit locally on the next launch".into()
}

// ---------------------------------------------------------------------------------------------
// Recording (on by default; set explicitly here) and replay for another driver.

/// The application records of the store at `dir`, through its catalog.
fn recorded_applications(dir: &Path) -> Vec<(RecipeKey, ApplicationRecord)> {
    let store = pcstore::DiskCache::new(dir).expect("disk store");
    let catalog = Catalog::from_bytes(
        &store
            .get(&Catalog::store_key().fingerprint())
            .expect("a catalog was recorded"),
    )
    .expect("catalog parses");
    catalog
        .applications
        .iter()
        .map(|key| {
            let bytes = store.get(&key.fingerprint()).expect("application stored");
            (*key, ApplicationRecord::from_bytes(&bytes).expect("parses"))
        })
        .collect()
}

/// The child `--pcstore-replay STORE`: replays every recorded application on this process's
/// driver in worker processes (this binary again), as `pcstore replay` will.
fn replay_store(dir: &Path) {
    let applications = recorded_applications(dir);
    let store: Arc<dyn PipelineCacheStore> =
        Arc::new(pcstore::DiskCache::new(dir).expect("disk store"));
    let options = ReplayOptions::new(WorkerCommand::current_exe().expect("own path"));
    let mut created = 0;
    for (key, _) in applications {
        // SAFETY: the system loader's entry point; workers are this binary on the same loader.
        let summary = unsafe {
            replay_application(
                &store,
                vk_harness::system_get_instance_proc_addr(),
                &key,
                &options,
                &mut |_| {},
            )
        }
        .expect("replay");
        assert!(
            summary.crashed.is_empty()
                && summary.timed_out.is_empty()
                && summary.driver_failed.is_empty()
                && summary.unbuildable.is_empty()
                && summary.unsupported.is_empty(),
            "{summary:?}"
        );
        created += summary.created;
    }
    println!("replayed={created}");
}

/// The C application recorded through the layer on this driver; its recipes replayed on the
/// other driver in a separate process; then the application's first launch on the other
/// driver loads a warm layer cache.
fn record_then_replay(setup: &Setup, driver: &Driver) -> String {
    let drivers = drivers();
    let other = drivers
        .iter()
        .find(|d| d.name != driver.name)
        .expect("two drivers");
    let store = fresh_store(setup, driver, "record-replay");
    let mut recording = app_command(setup, driver, Mode::ExplicitValidationBelow, &store, false);
    recording.env("PCSTORE_RECORD", "1");
    let recorded = run_app(recording);
    recorded.assert_ok("recording run");
    assert!(
        recorded.logged("recording recipes"),
        "{:?}",
        recorded.layer_log()
    );
    assert_eq!(recorded.value("validation_errors"), "0");
    let applications = recorded_applications(&store);
    assert_eq!(applications.len(), 1, "one application recorded");
    let pipelines: Vec<RecipeKey> = applications[0]
        .1
        .pipelines
        .values()
        .flatten()
        .copied()
        .collect();
    assert!(!pipelines.is_empty(), "pipelines recorded");
    let disk = pcstore::DiskCache::new(&store).expect("disk store");
    let (_, unavailable) = RecipeSet::fetch(&disk, pipelines.iter().copied());
    assert!(unavailable.is_empty(), "{unavailable:?}");
    drop(disk);

    let replay = Command::new(std::env::current_exe().expect("own path"))
        .arg(REPLAY_FLAG)
        .arg(&store)
        .env("VK_DRIVER_FILES", &other.icd)
        .env("VK_ICD_FILENAMES", &other.icd)
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .env("XDG_CACHE_HOME", setup.base.join("xdg-cache"))
        .env_remove("VK_INSTANCE_LAYERS")
        .output()
        .expect("spawn the replay");
    let replay = finish(replay);
    replay.assert_ok("replay on the other driver");
    assert_eq!(replay.value("replayed"), pipelines.len().to_string());

    let launch = run_app(app_command(
        setup,
        other,
        Mode::ExplicitValidationBelow,
        &store,
        false,
    ));
    launch.assert_ok("first launch on the other driver");
    assert!(launch.logged("load Hit"), "{:?}", launch.layer_log());
    assert_eq!(launch.value("validation_errors"), "0");
    format!(
        "{} pipelines recorded on {}, replayed on {}, whose first launch loads a warm cache",
        pipelines.len(),
        driver.name,
        other.name
    )
}
