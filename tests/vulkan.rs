//! The Vulkan adapter on real CPU drivers (Mesa lavapipe and SwiftShader), with the Khronos
//! validation layer on and any validation error failing the run.
//!
//! One trial per driver and scenario ("lavapipe/save"), with cargo's usual arguments
//! (tests/support/trials.rs): `cargo test --test vulkan -- --list` lists them, a filter, `--skip`
//! and `--exact` choose them. Each runs in a fresh child process of this binary, because the
//! Vulkan loader reads `VK_DRIVER_FILES` once per process and a cross-process round trip needs a
//! new process anyway; a scenario that needs another's result (a reload its save, other-driver
//! the other driver's save) runs that one first when the filter left it out. Drivers are found
//! through `PCSTORE_TEST_LAVAPIPE_ICD` and `PCSTORE_TEST_SWIFTSHADER_ICD` (printed by
//! scripts/vulkan-drivers.sh) or their default paths; a missing driver FAILS its trials.
//! `PCSTORE_SKIP_VULKAN_TESTS=1` is the explicit opt-out for machines without the packages (CI
//! never sets it).

#[path = "support/hook.rs"]
mod hook;
#[path = "support/trials.rs"]
mod trials;
#[path = "support/vk_harness.rs"]
mod vk_harness;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hook::CreateCall;
use pcstore::vulkan::ash::vk;
use pcstore::vulkan::{
    check_cache_header, seal_envelope, write_cache_header, CacheHeaderExpectation, Label,
    LoadOutcome, Rejection, SaveOutcome, VulkanContext, VulkanOptions, ENVELOPE_HEADER_LEN,
};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use trials::{ChildScenario, Trials};
use vk_harness::{Harness, DRIVER_NAMES};

const CHILD_FLAG: &str = "--pcstore-child";
const COMPUTE_SEEDS: [u32; 3] = [1, 2, 3];
const GRAPHICS_TINTS: [f32; 2] = [1.0, 0.5];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD_FLAG) {
        let scenario = args.get(at + 1).expect("scenario name");
        let dir = PathBuf::from(args.get(at + 2).expect("scenario folder"));
        run_child(scenario, &dir);
        return;
    }
    let base = std::env::temp_dir().join(format!("pcstore-vulkan-test-{}", std::process::id()));
    let mut trials = Trials::from_args();
    trials.add_child_scenarios(CHILD_FLAG, plan(&base));
    trials.run_and_exit(|| {
        let _ = std::fs::remove_dir_all(&base);
    });
}

// ---------------------------------------------------------------------------------------------
// Parent: one trial per driver and scenario, each scenario in a child process.

/// Every scenario in the order they run, each with the one it needs to have run first: order
/// matters within a driver (save before reload) and across drivers (both saves before the
/// cross-driver checks). Mesa's and the validation layer's caches: a folder per driver.
fn plan(base: &Path) -> Vec<(ChildScenario, Option<ChildScenario>)> {
    let step = |driver: usize, scenario: &'static str, folder: &str| ChildScenario {
        driver,
        scenario,
        dir: base.join(folder),
        xdg_cache: base.join(format!("xdg-{}", DRIVER_NAMES[driver])),
    };
    let round_trip = |driver: usize| format!("{}-round-trip", DRIVER_NAMES[driver]);
    let mut plan = Vec::new();
    for (driver, name) in DRIVER_NAMES.iter().enumerate() {
        let own = |scenario: &str| format!("{name}-{scenario}");
        plan.push((step(driver, "identity", &own("identity")), None));
        plan.push((step(driver, "validation-live", "unused"), None));
        plan.push((step(driver, "save", &round_trip(driver)), None));
        plan.push((step(driver, "allocator", &own("allocator")), None));
        plan.push((
            step(driver, "reload", &round_trip(driver)),
            Some(step(driver, "save", &round_trip(driver))),
        ));
        for scenario in ["rejections", "save-edges", "concurrency", "own-label"] {
            plan.push((step(driver, scenario, &own(scenario)), None));
        }
    }
    for (driver, other) in [(0, 1), (1, 0)] {
        plan.push((
            step(driver, "other-driver", &round_trip(other)),
            Some(step(other, "save", &round_trip(other))),
        ));
    }
    plan
}

// ---------------------------------------------------------------------------------------------
// Child: one scenario on the driver VK_DRIVER_FILES selects, then the validation verdict.

fn run_child(scenario: &str, dir: &Path) {
    let summary = match scenario {
        "identity" => identity(dir),
        "save" => save(dir),
        "reload" => reload(dir),
        "rejections" => rejections(dir),
        "save-edges" => save_edges(dir),
        "concurrency" => concurrency(dir),
        "own-label" => own_label_makes_stale(dir),
        "other-driver" => other_driver(dir),
        "validation-live" => validation_live(),
        "allocator" => allocator(dir),
        other => panic!("unknown scenario {other}"),
    };
    let expected = if scenario == "validation-live" { 1 } else { 0 };
    let errors = vk_harness::validation_errors();
    assert_eq!(errors, expected, "{errors} validation errors (see stderr)");
    println!(
        "{summary}; {errors} validation errors (expected {expected}), {} warnings",
        vk_harness::validation_warnings()
    );
}

fn driver_name() -> String {
    std::env::var("PCSTORE_TEST_DRIVER").expect("PCSTORE_TEST_DRIVER")
}

fn expected_vendor() -> u32 {
    match driver_name().as_str() {
        "lavapipe" => 0x10005,
        "swiftshader" => 0x1ae0,
        other => panic!("unknown driver {other}"),
    }
}

/// The scenario's disk tier, in a subfolder so the scenario's own notes stay out of it.
fn open_store(dir: &Path) -> Arc<DiskCache> {
    Arc::new(DiskCache::new(dir.join("store")).expect("open the disk tier"))
}

/// Makes the scenario's saves durable, as a game does before it exits: the next process
/// must find them.
fn flush_before_exit(store: &DiskCache) {
    store.flush().expect("flush");
    assert_eq!(store.durability_report().unflushed_puts, 0);
}

/// The label a context writes by itself when not named otherwise: its device and this test
/// binary's file name, no cache key.
fn own_label(store: &DiskCache, context: &VulkanContext) -> Option<Label> {
    let exe = std::env::current_exe().expect("the test binary");
    let name = exe.file_name().expect("a file name").to_string_lossy();
    let label = Label::from_bytes(&store.get(&Label::key(context.identity(), &name))?)?;
    assert_eq!(label.application, name);
    assert_eq!(label.device_name, context.device_name());
    assert_eq!(label.cache_key, PipelineFingerprint::default());
    Some(label)
}

fn engine_key(name: &str) -> PipelineFingerprint {
    PipelineFingerprint::builder()
        .with(b"pcstore vulkan test")
        .with(name.as_bytes())
        .finish()
}

/// A context whose driver calls go through the test hook.
fn hooked_context(
    harness: &Harness,
    store: Arc<dyn PipelineCacheStore>,
    options: VulkanOptions,
) -> VulkanContext {
    let hooked = hook::install(harness.get_instance_proc_addr);
    // SAFETY: live handles from the harness, which outlives the context in every scenario.
    unsafe { VulkanContext::new(store, harness.device_info(hooked), options) }
        .expect("VulkanContext::new")
}

fn test_options() -> VulkanOptions {
    VulkanOptions {
        namespace: b"pcstore-tests".to_vec(),
        ..VulkanOptions::default()
    }
}

fn load(
    context: &VulkanContext,
    key: &PipelineFingerprint,
) -> (vk::PipelineCache, pcstore::vulkan::LoadInfo) {
    // SAFETY: the context's device is alive; no allocator.
    unsafe { context.load_pipeline_cache(key, None) }.expect("load_pipeline_cache")
}

fn save_cache(
    context: &VulkanContext,
    key: &PipelineFingerprint,
    cache: vk::PipelineCache,
) -> pcstore::vulkan::SaveInfo {
    // SAFETY: a live cache of the context's device.
    unsafe { context.save_pipeline_cache(key, cache) }.expect("save_pipeline_cache")
}

/// Creates the test's pipeline set with `cache`, then destroys the pipelines.
fn build_pipeline_set(harness: &Harness, cache: vk::PipelineCache) {
    let compute = harness.compute_pipelines(cache, &COMPUTE_SEEDS);
    let graphics = harness.graphics_pipelines(cache, &GRAPHICS_TINTS);
    assert_eq!(compute.len() + graphics.len(), 5);
    harness.destroy_pipelines(compute);
    harness.destroy_pipelines(graphics);
}

fn expectation(context: &VulkanContext) -> CacheHeaderExpectation {
    let identity = context.identity();
    CacheHeaderExpectation {
        vendor_id: identity.vendor_id,
        device_id: identity.device_id,
        pipeline_cache_uuid: identity.pipeline_cache_uuid,
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// The identity read from the device is the driver's, and every field scopes the key.
fn identity(dir: &Path) -> String {
    let harness = Harness::new();
    let properties = harness.properties();
    let store: Arc<dyn PipelineCacheStore> = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let identity = context.identity().clone();
    assert_eq!(identity.vendor_id, expected_vendor());
    assert_eq!(identity.vendor_id, properties.vendor_id);
    assert_eq!(identity.device_id, properties.device_id);
    assert_eq!(identity.driver_version, properties.driver_version);
    assert_eq!(identity.pipeline_cache_uuid, properties.pipeline_cache_uuid);
    assert_eq!(identity.pointer_size as usize, std::mem::size_of::<usize>());
    assert_eq!(identity.namespace, b"pcstore-tests");
    let vulkan12 = properties.api_version >= vk::API_VERSION_1_2;
    if vulkan12 {
        assert_ne!(identity.driver_id, 0, "Vulkan 1.2 device without driverID");
        assert!(
            !identity.driver_info.is_empty(),
            "Vulkan 1.2 device without driverName"
        );
    }
    let key = engine_key("identity");
    assert_eq!(context.stored_key(&key), key.scoped(&identity));
    let other_namespace = hooked_context(
        &harness,
        store,
        VulkanOptions {
            namespace: b"another-engine".to_vec(),
            ..VulkanOptions::default()
        },
    );
    assert_ne!(other_namespace.stored_key(&key), context.stored_key(&key));
    // An engine on a Vulkan 1.0 instance: no 1.2 structures are chained (the validation layer
    // would report it), the driver fields stay empty, and the key differs from the 1.2 one.
    let vulkan10 = {
        let mut info = harness.device_info(hook::install(harness.get_instance_proc_addr));
        info.api_version = 0;
        // SAFETY: live handles; 0 (= 1.0) does not exceed the instance's version.
        unsafe { VulkanContext::new(other_namespace.store().clone(), info, test_options()) }
            .expect("1.0 context")
    };
    assert_eq!(vulkan10.identity().driver_id, 0);
    assert!(vulkan10.identity().driver_info.is_empty());
    assert_eq!(
        vulkan10.identity().pipeline_cache_uuid,
        identity.pipeline_cache_uuid
    );
    if vulkan12 {
        assert_ne!(vulkan10.stored_key(&key), context.stored_key(&key));
    }
    format!(
        "{} vendor {:#x} device {:#x} driver {:#x} api {}.{} driverID {} info {:?}",
        context.device_name(),
        identity.vendor_id,
        identity.device_id,
        identity.driver_version,
        vk::api_version_major(properties.api_version),
        vk::api_version_minor(properties.api_version),
        identity.driver_id,
        String::from_utf8_lossy(&identity.driver_info)
    )
}

static LIVE_ALLOCATIONS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

unsafe extern "system" fn counting_allocation(
    _user: *mut std::ffi::c_void,
    size: usize,
    alignment: usize,
    _scope: vk::SystemAllocationScope,
) -> *mut std::ffi::c_void {
    let mut memory = std::ptr::null_mut();
    // SAFETY: posix_memalign with a power-of-two alignment (Vulkan guarantees one), at least
    // pointer-sized as POSIX requires.
    if unsafe { libc::posix_memalign(&mut memory, alignment.max(8), size.max(1)) } != 0 {
        return std::ptr::null_mut();
    }
    LIVE_ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    memory
}

unsafe extern "system" fn counting_reallocation(
    user: *mut std::ffi::c_void,
    original: *mut std::ffi::c_void,
    size: usize,
    alignment: usize,
    scope: vk::SystemAllocationScope,
) -> *mut std::ffi::c_void {
    // SAFETY: delegating to the functions above with the driver's own arguments.
    unsafe {
        if original.is_null() {
            return counting_allocation(user, size, alignment, scope);
        }
        if size == 0 {
            counting_free(user, original);
            return std::ptr::null_mut();
        }
        let moved = counting_allocation(user, size, alignment, scope);
        if !moved.is_null() {
            let old_size = libc::malloc_usable_size(original);
            std::ptr::copy_nonoverlapping(
                original.cast::<u8>(),
                moved.cast::<u8>(),
                old_size.min(size),
            );
            counting_free(user, original);
        }
        moved
    }
}

unsafe extern "system" fn counting_free(
    _user: *mut std::ffi::c_void,
    memory: *mut std::ffi::c_void,
) {
    if !memory.is_null() {
        LIVE_ALLOCATIONS.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: allocated by counting_allocation (posix_memalign).
        unsafe { libc::free(memory) };
    }
}

/// The engine's allocation callbacks reach the driver for caches pcstore creates, on hits and
/// on the empty-cache path alike, and the caches free through them.
fn allocator(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store, test_options());
    let callbacks = vk::AllocationCallbacks {
        pfn_allocation: Some(counting_allocation),
        pfn_reallocation: Some(counting_reallocation),
        pfn_free: Some(counting_free),
        ..Default::default()
    };
    let key = engine_key("allocator");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        // SAFETY: live device; the callbacks outlive the cache.
        let (cache, info) =
            unsafe { context.load_pipeline_cache(&key, Some(&callbacks)) }.expect("load");
        assert!(
            ALLOCATIONS.load(Ordering::SeqCst) > before,
            "{:?}: the driver did not allocate through the engine's callbacks",
            info.outcome
        );
        harness.destroy_pipelines(harness.compute_pipelines(cache, &COMPUTE_SEEDS));
        save_cache(&context, &key, cache);
        // SAFETY: the cache was created with these callbacks.
        unsafe {
            harness
                .device
                .destroy_pipeline_cache(cache, Some(&callbacks))
        };
        outcomes.push(info.outcome);
    }
    assert_eq!(outcomes, [LoadOutcome::Miss, LoadOutcome::Hit]);
    assert_eq!(
        LIVE_ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "allocations leaked"
    );
    format!(
        "{} allocations through the engine's callbacks, all freed",
        ALLOCATIONS.load(Ordering::SeqCst)
    )
}

/// Proves the validation layer and the error counter are live: one deliberately invalid call
/// (an undefined pipeline-cache flag bit) must be counted as exactly one error.
fn validation_live() -> String {
    let harness = Harness::new();
    assert_eq!(vk_harness::validation_errors(), 0);
    let info = vk::PipelineCacheCreateInfo {
        flags: vk::PipelineCacheCreateFlags::from_raw(0x4000_0000),
        ..Default::default()
    };
    // SAFETY: valid device and create info apart from the flag the layer is expected to flag;
    // the drivers ignore unknown pipeline-cache flags.
    let cache = unsafe { harness.device.create_pipeline_cache(&info, None) }.expect("create");
    harness.destroy_cache(cache);
    drop(harness);
    format!(
        "the layer reported the planted error ({} counted)",
        vk_harness::validation_errors()
    )
}

/// First process: miss, build pipelines with the cache, save, unchanged re-save, merged save.
fn save(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("round trip");
    hook::take_create_calls();
    let (cache, info) = load(&context, &key);
    assert_eq!(info.outcome, LoadOutcome::Miss);
    assert_eq!((info.stored_bytes, info.initial_data_bytes), (0, 0));
    assert_eq!(
        hook::take_create_calls(),
        [CreateCall {
            initial_data_size: 0,
            has_pointer: false
        }]
    );
    build_pipeline_set(&harness, cache);
    let driver_blob = harness.cache_data(cache);
    let saved = save_cache(&context, &key, cache);
    assert_eq!(saved.outcome, SaveOutcome::Stored);
    assert_eq!(saved.driver_bytes, driver_blob.len() as u64);
    assert_eq!(
        saved.stored_bytes,
        (ENVELOPE_HEADER_LEN + driver_blob.len()) as u64
    );
    let stored = store
        .get(&context.stored_key(&key))
        .expect("the disk tier holds the saved entry");
    let payload =
        pcstore::vulkan::open_envelope(&stored, &context.stored_key(&key), context.identity())
            .expect("stored envelope opens");
    assert_eq!(payload, driver_blob);
    check_cache_header(payload, &expectation(&context)).expect("stored header matches device");
    let again = save_cache(&context, &key, cache);
    assert_eq!(again.outcome, SaveOutcome::Unchanged);
    // The blob, and the label the context's first save writes: nothing for the unchanged one.
    assert_eq!(store.metrics().puts, 2);
    assert!(own_label(&store, &context).is_some());
    harness.destroy_cache(cache);

    // Per-thread caches merged before saving.
    let merged_key = engine_key("merged");
    let (destination, info) = load(&context, &merged_key);
    assert_eq!(info.outcome, LoadOutcome::Miss);
    let sources = [harness.empty_cache(), harness.empty_cache()];
    harness.destroy_pipelines(harness.compute_pipelines(sources[0], &[7, 8]));
    harness.destroy_pipelines(harness.graphics_pipelines(sources[1], &[0.25]));
    // SAFETY: live caches of the context's device, destination not among the sources.
    unsafe { context.merge_pipeline_caches(destination, &sources) }.expect("merge");
    let merged = save_cache(&context, &merged_key, destination);
    assert_eq!(merged.outcome, SaveOutcome::Stored);
    for cache in sources.into_iter().chain([destination]) {
        harness.destroy_cache(cache);
    }
    std::fs::write(dir.join("payload_len"), driver_blob.len().to_string()).expect("note");
    // The other driver's scenario cannot compute these keys (they are scoped by this device).
    let stored_keys = format!(
        "{}\n{}\n",
        context.stored_key(&key).to_hex(),
        context.stored_key(&merged_key).to_hex()
    );
    std::fs::write(dir.join("stored_keys"), stored_keys).expect("note");
    flush_before_exit(&store);
    let metrics = context.metrics();
    assert_eq!(metrics.loads_with(LoadOutcome::Miss), 2);
    assert_eq!(metrics.saves_with(SaveOutcome::Stored), 2);
    assert_eq!(metrics.saves_with(SaveOutcome::Unchanged), 1);
    assert_eq!(
        metrics.bytes_saved,
        saved.driver_bytes + merged.driver_bytes
    );
    format!(
        "saved {} B driver blob ({} B stored), merged cache {} B",
        driver_blob.len(),
        saved.stored_bytes,
        merged.driver_bytes
    )
}

/// Second process: the saved blob loads as a hit, reaches the driver whole, and re-saving
/// writes only if the driver's blob changed.
fn reload(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("round trip");
    let saved_len: usize = std::fs::read_to_string(dir.join("payload_len"))
        .expect("the save scenario ran first")
        .parse()
        .expect("number");
    hook::take_create_calls();
    let (cache, info) = load(&context, &key);
    assert_eq!(info.outcome, LoadOutcome::Hit, "{info:?}");
    assert_eq!(info.rejection, Rejection::None);
    assert_eq!(info.initial_data_bytes, saved_len as u64);
    assert_eq!(info.stored_bytes, (ENVELOPE_HEADER_LEN + saved_len) as u64);
    assert_eq!(
        hook::take_create_calls(),
        [CreateCall {
            initial_data_size: saved_len,
            has_pointer: true
        }]
    );
    build_pipeline_set(&harness, cache);
    let now = harness.cache_data(cache);
    check_cache_header(&now, &expectation(&context)).expect("driver blob header");
    let before = store.get(&context.stored_key(&key)).expect("stored entry");
    let unchanged =
        pcstore::vulkan::open_envelope(&before, &context.stored_key(&key), context.identity())
            .expect("stored envelope opens")
            == now;
    let resaved = save_cache(&context, &key, cache);
    let expected = if unchanged {
        SaveOutcome::Unchanged
    } else {
        SaveOutcome::Stored
    };
    assert_eq!(
        resaved.outcome,
        expected,
        "driver blob {} B, saved {saved_len} B",
        now.len()
    );
    harness.destroy_cache(cache);
    let (merged, merged_info) = load(&context, &engine_key("merged"));
    assert_eq!(merged_info.outcome, LoadOutcome::Hit);
    harness.destroy_cache(merged);
    flush_before_exit(&store);
    format!(
        "hit with {saved_len} B in a fresh process; driver blob after reuse {} B -> {:?}",
        now.len(),
        resaved.outcome
    )
}

/// Another driver's store: its keys miss here, and its envelope copied under this device's key
/// is refused as a device mismatch without reaching the driver.
fn other_driver(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("round trip");
    let foreign: Vec<PipelineFingerprint> = std::fs::read_to_string(dir.join("stored_keys"))
        .expect("the other driver's save scenario ran first")
        .lines()
        .map(|hex| PipelineFingerprint::from_hex(hex).expect("stored key"))
        .collect();
    assert_eq!(foreign.len(), 2, "the other driver saved two entries here");
    assert_eq!(
        store.metrics().entries,
        3,
        "the disk tier holds exactly those and the label its first save wrote"
    );
    let labels: Vec<Label> = store
        .keys()
        .into_iter()
        .filter(|key| !foreign.contains(key))
        .filter_map(|key| Label::from_bytes(&store.get(&key)?))
        .collect();
    assert_eq!(labels.len(), 1, "the third is the other driver's label");
    assert_ne!(labels[0].device.vendor_id, context.identity().vendor_id);
    assert!(!foreign.contains(&context.stored_key(&key)));
    hook::take_create_calls();
    let (cache, info) = load(&context, &key);
    assert_eq!(info.outcome, LoadOutcome::Miss, "{info:?}");
    harness.destroy_cache(cache);
    let foreign_round_trip = store.get(&foreign[0]).expect("the other driver's entry");
    assert!(foreign_round_trip.len() >= ENVELOPE_HEADER_LEN);
    store
        .try_put(context.stored_key(&key), foreign_round_trip)
        .expect("put the foreign envelope under this device's key");
    let (cache, info) = load(&context, &key);
    assert_eq!(info.outcome, LoadOutcome::DeviceMismatch, "{info:?}");
    assert_eq!(info.rejection, Rejection::EnvelopeIdentity);
    harness.destroy_cache(cache);
    let calls = hook::take_create_calls();
    assert!(
        calls.iter().all(|c| *c
            == CreateCall {
                initial_data_size: 0,
                has_pointer: false
            }),
        "{calls:?}"
    );
    "other driver's entries miss; its envelope under our key is a device mismatch".into()
}

/// Every rejection path yields an empty cache, the right reason, a counted outcome, and a
/// driver call with no data at all.
fn rejections(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("rejections");
    let stored_key = context.stored_key(&key);
    let identity = context.identity().clone();
    let device = expectation(&context);

    // A real driver blob is the base every damaged variant starts from.
    let probe = harness.empty_cache();
    harness.destroy_pipelines(harness.compute_pipelines(probe, &COMPUTE_SEEDS));
    let real = harness.cache_data(probe);
    harness.destroy_cache(probe);
    check_cache_header(&real, &device).expect("driver blob is valid");
    let sealed = |payload: &[u8]| seal_envelope(payload, &stored_key, &identity);
    let patched = |at: usize, bytes: &[u8]| {
        let mut payload = real.clone();
        payload[at..at + bytes.len()].copy_from_slice(bytes);
        sealed(&payload)
    };
    let mut uuid = device.pipeline_cache_uuid;
    uuid[0] ^= 0xff;
    let mut flipped_payload = sealed(&real);
    *flipped_payload.last_mut().unwrap() ^= 0x01;
    let garbage: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let newer_driver = pcstore::DeviceIdentity {
        driver_version: identity.driver_version.wrapping_add(1),
        ..identity.clone()
    };
    let whole = sealed(&real);
    let cases: Vec<(&str, Vec<u8>, LoadOutcome, Rejection)> = vec![
        (
            "wrong UUID",
            patched(16, &uuid),
            LoadOutcome::DeviceMismatch,
            Rejection::HeaderUuid,
        ),
        (
            "wrong vendor",
            patched(8, &(device.vendor_id ^ 1).to_le_bytes()),
            LoadOutcome::DeviceMismatch,
            Rejection::HeaderVendor,
        ),
        (
            "wrong device",
            patched(12, &(device.device_id ^ 1).to_le_bytes()),
            LoadOutcome::DeviceMismatch,
            Rejection::HeaderDevice,
        ),
        (
            "header version 2",
            patched(4, &2u32.to_le_bytes()),
            LoadOutcome::Corrupt,
            Rejection::HeaderVersion,
        ),
        (
            "headerSize 16",
            patched(0, &16u32.to_le_bytes()),
            LoadOutcome::Corrupt,
            Rejection::HeaderSize,
        ),
        (
            "driver blob shorter than its header (Mesa 26.x)",
            sealed(&real[..20]),
            LoadOutcome::Corrupt,
            Rejection::HeaderTruncated,
        ),
        (
            "truncated envelope",
            whole[..whole.len() - 5].to_vec(),
            LoadOutcome::Corrupt,
            Rejection::EnvelopeLength,
        ),
        (
            "truncated inside the envelope header",
            whole[..100].to_vec(),
            LoadOutcome::Corrupt,
            Rejection::EnvelopeTruncated,
        ),
        (
            "zero-length",
            Vec::new(),
            LoadOutcome::Corrupt,
            Rejection::EnvelopeTruncated,
        ),
        (
            "zero-filled",
            vec![0u8; whole.len()],
            LoadOutcome::Corrupt,
            Rejection::EnvelopeMagic,
        ),
        (
            "garbage",
            garbage,
            LoadOutcome::Corrupt,
            Rejection::EnvelopeMagic,
        ),
        (
            "raw driver blob, no envelope",
            real.clone(),
            LoadOutcome::Corrupt,
            Rejection::EnvelopeTruncated,
        ),
        (
            "payload hash mismatch",
            flipped_payload,
            LoadOutcome::Corrupt,
            Rejection::EnvelopeHash,
        ),
        (
            "entry of another key",
            seal_envelope(&real, &context.stored_key(&engine_key("other")), &identity),
            LoadOutcome::Corrupt,
            Rejection::EnvelopeKey,
        ),
        (
            "written by another driver version",
            seal_envelope(&real, &stored_key, &newer_driver),
            LoadOutcome::DeviceMismatch,
            Rejection::EnvelopeIdentity,
        ),
    ];
    let fresh = harness.empty_cache();
    let empty_blob = harness.cache_data(fresh);
    harness.destroy_cache(fresh);
    // Each damaged variant is put under the stored key: what a corrupt or hostile entry looks
    // like to the adapter once the disk tier's own BLAKE3 check has passed (damage the disk
    // tier catches itself is covered by tests/disk_corruption.rs).
    let plant = |bytes: &[u8]| {
        store
            .try_put(stored_key, bytes.to_vec())
            .expect("the disk tier takes the planted entry");
    };
    hook::take_create_calls();
    let mut tally = [0u64; 6];
    for (name, bytes, outcome, rejection) in &cases {
        plant(bytes);
        let (cache, info) = load(&context, &key);
        assert_eq!(
            (info.outcome, info.rejection),
            (*outcome, *rejection),
            "case {name}: {info:?}"
        );
        assert_eq!(info.initial_data_bytes, 0, "case {name}");
        assert_eq!(info.stored_bytes, bytes.len() as u64, "case {name}");
        assert_eq!(
            hook::take_create_calls(),
            [CreateCall {
                initial_data_size: 0,
                has_pointer: false
            }],
            "case {name}: the driver saw data"
        );
        assert_eq!(
            harness.cache_data(cache),
            empty_blob,
            "case {name}: the cache is not empty"
        );
        harness.destroy_cache(cache);
        tally[*outcome as usize] += 1;
    }

    // Oversized: the same valid blob is a hit under the default cap and refused, unhashed and
    // unseen by the driver, under a 1 KiB cap.
    let mut large = write_cache_header(&device).to_vec();
    large.resize(4096, 0x5a);
    plant(&sealed(&large));
    let small_cap = hooked_context(
        &harness,
        store.clone(),
        VulkanOptions {
            max_blob_bytes: 1024,
            ..test_options()
        },
    );
    hook::take_create_calls();
    // SAFETY: live device; no allocator.
    let (cache, info) = unsafe { small_cap.load_pipeline_cache(&key, None) }.unwrap();
    assert_eq!(
        (info.outcome, info.rejection),
        (LoadOutcome::TooLarge, Rejection::TooLarge)
    );
    assert_eq!(
        hook::take_create_calls(),
        [CreateCall {
            initial_data_size: 0,
            has_pointer: false
        }]
    );
    harness.destroy_cache(cache);
    assert_eq!(small_cap.metrics().loads_with(LoadOutcome::TooLarge), 1);
    let (cache, info) = load(&context, &key);
    assert_eq!(info.outcome, LoadOutcome::Hit, "{info:?}");
    assert_eq!(
        hook::take_create_calls(),
        [CreateCall {
            initial_data_size: 4096,
            has_pointer: true
        }]
    );
    harness.destroy_cache(cache);
    tally[LoadOutcome::Hit as usize] += 1;

    // A driver that fails with data: retried with none, reported, counted.
    plant(&sealed(&real));
    hook::REFUSE_INITIAL_DATA.store(true, Ordering::SeqCst);
    let (cache, info) = load(&context, &key);
    hook::REFUSE_INITIAL_DATA.store(false, Ordering::SeqCst);
    assert_eq!(
        (info.outcome, info.rejection, info.driver_result),
        (
            LoadOutcome::DriverRefused,
            Rejection::DriverError,
            vk::Result::ERROR_OUT_OF_HOST_MEMORY
        )
    );
    assert_eq!(
        hook::take_create_calls(),
        [
            CreateCall {
                initial_data_size: real.len(),
                has_pointer: true
            },
            CreateCall {
                initial_data_size: 0,
                has_pointer: false
            }
        ]
    );
    harness.destroy_cache(cache);
    tally[LoadOutcome::DriverRefused as usize] += 1;

    let metrics = context.metrics();
    assert_eq!(metrics.loads, tally, "{metrics:?}");
    assert_eq!(metrics.driver_refusals, 1);
    assert_eq!(metrics.bytes_to_driver, 4096);
    format!(
        "{} rejection cases + oversized + driver refusal: empty caches, reasons right, driver never saw rejected bytes",
        cases.len()
    )
}

/// An identity used only through the adapter is named by the label the context's first save
/// writes, and so can go stale like any other (a driver updated away): once neither that label
/// nor its entries were seen for the stale period, its entries and label are the ones the disk
/// tier's compaction evicts first (this hook decides which); a day before, nothing is; an
/// identity seen since is not. "Now" is passed in, not waited for.
fn own_label_makes_stale(dir: &Path) -> String {
    use pcstore::disk::{EntryHead, StaleEntries};
    use pcstore::vulkan::StaleIdentities;
    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    let period = std::time::Duration::from_secs(30 * 86_400);

    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("adapter only");
    let (cache, _) = load(&context, &key);
    build_pipeline_set(&harness, cache);
    assert_eq!(
        save_cache(&context, &key, cache).outcome,
        SaveOutcome::Stored
    );
    harness.destroy_cache(cache);
    let saved_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    // The same device after a driver update, labelled by someone else as seen 30 days on.
    let mut updated = context.identity().clone();
    updated.driver_version += 1;
    let updated_key = PipelineFingerprint::of(b"updated driver's entry");
    store
        .try_put(updated_key, seal_envelope(&[7; 32], &updated_key, &updated))
        .expect("put");
    let updated_label = Label {
        device: pcstore::vulkan::envelope_device(&seal_envelope(&[7; 32], &updated_key, &updated))
            .expect("an envelope"),
        driver_info: updated.driver_info.clone(),
        device_name: context.device_name().to_owned(),
        application: "game".into(),
        cache_key: PipelineFingerprint::default(),
        first_seen_ns: saved_ns,
        last_seen_ns: saved_ns + 30 * DAY_NS,
    };
    let updated_label_key = Label::key(&updated, "game");
    store
        .try_put(updated_label_key, updated_label.to_bytes())
        .expect("put");
    flush_before_exit(&store);

    let heads: Vec<EntryHead> = store
        .entries()
        .into_iter()
        .map(|entry| EntryHead {
            key: entry.key,
            last_used_ns: entry.last_used_ns,
            head: store
                .entry_head(&entry, StaleIdentities.head_len())
                .expect("readable head"),
        })
        .collect();
    assert_eq!(
        heads.len(),
        4,
        "the blob, its label, the other identity's two"
    );
    let exe = std::env::current_exe().expect("the test binary");
    let exe = exe.file_name().expect("a file name").to_string_lossy();
    let adapter_only = std::collections::HashSet::from([
        context.stored_key(&key),
        Label::key(context.identity(), &exe),
    ]);
    assert_eq!(
        StaleIdentities.stale_keys(&heads, saved_ns + 31 * DAY_NS, period),
        adapter_only,
        "31 days on: the adapter-only identity (blob and label), not the one seen since"
    );
    assert_eq!(
        StaleIdentities.stale_keys(&heads, saved_ns + 29 * DAY_NS, period),
        std::collections::HashSet::new(),
        "29 days on: nothing"
    );
    let label = own_label(&store, &context).expect("the context's own label");
    assert!(label.first_seen_ns <= saved_ns && label.first_seen_ns == label.last_seen_ns);
    format!(
        "adapter-only identity labelled \"{}\" at its first save: stale after 30 days, not before",
        label.application
    )
}

/// Save-side checks: a driver reporting fewer bytes than its header, a blob over the cap.
fn save_edges(dir: &Path) -> String {
    let harness = Harness::new();
    let store = open_store(dir);
    let context = hooked_context(&harness, store.clone(), test_options());
    let key = engine_key("save edges");
    let (cache, _) = load(&context, &key);
    build_pipeline_set(&harness, cache);

    hook::SHORT_DATA_SIZE.store(true, Ordering::SeqCst);
    let short = save_cache(&context, &key, cache);
    hook::SHORT_DATA_SIZE.store(false, Ordering::SeqCst);
    assert_eq!(short.outcome, SaveOutcome::DriverBlobInvalid);
    assert_eq!((short.driver_bytes, short.stored_bytes), (20, 0));
    // One put: the label the context's first save writes, whatever its outcome; not the blob.
    assert_eq!(store.metrics().puts, 1);
    assert!(own_label(&store, &context).is_some());
    assert_eq!(store.get(&context.stored_key(&key)), None);

    let tiny_cap = hooked_context(
        &harness,
        store.clone(),
        VulkanOptions {
            max_blob_bytes: 16,
            ..test_options()
        },
    );
    let too_large = save_cache(&tiny_cap, &key, cache);
    assert_eq!(too_large.outcome, SaveOutcome::TooLarge);
    // Still one: the second context finds the same label just written (not a day old).
    assert_eq!(store.metrics().puts, 1);
    assert_eq!(store.get(&context.stored_key(&key)), None);

    // A cache that keeps growing between the size query and the fill: retried, then given up
    // with an error after a bounded number of tries (never a partial blob stored).
    hook::INCOMPLETE_FILLS.store(3, Ordering::SeqCst);
    let stored = save_cache(&context, &key, cache);
    assert_eq!(hook::INCOMPLETE_FILLS.load(Ordering::SeqCst), 0);
    assert_eq!(stored.outcome, SaveOutcome::Stored);
    hook::INCOMPLETE_FILLS.store(1000, Ordering::SeqCst);
    let key2 = engine_key("save edges, always incomplete");
    // SAFETY: a live cache of the context's device.
    let endless = unsafe { context.save_pipeline_cache(&key2, cache) };
    hook::INCOMPLETE_FILLS.store(0, Ordering::SeqCst);
    assert_eq!(
        endless,
        Err(pcstore::vulkan::VulkanError::Call {
            function: "vkGetPipelineCacheData",
            result: vk::Result::INCOMPLETE
        })
    );
    assert_eq!(store.get(&context.stored_key(&key2)), None);
    // A store that cannot take the blob (a memory tier with a 64-byte budget): reported,
    // counted, and the next save tries again instead of calling it unchanged.
    let small_store = Arc::new(pcstore::memory::InMemoryPipelineCache::with_limits(4, 64));
    let refusing = hooked_context(&harness, small_store.clone(), test_options());
    for _ in 0..2 {
        assert_eq!(
            save_cache(&refusing, &key, cache).outcome,
            SaveOutcome::StoreRejected
        );
    }
    // The blob twice, and the label the context's first save tried (also above 64 bytes).
    assert_eq!(small_store.metrics().rejected_puts, 3);
    assert_eq!(refusing.metrics().saves_with(SaveOutcome::StoreRejected), 2);
    // SAFETY: live cache; no sources.
    unsafe { context.merge_pipeline_caches(cache, &[]) }.expect("empty merge");
    harness.destroy_cache(cache);
    let metrics = context.metrics();
    assert_eq!(metrics.saves_with(SaveOutcome::DriverBlobInvalid), 1);
    assert_eq!(metrics.saves_with(SaveOutcome::Stored), 1);
    assert_eq!(tiny_cap.metrics().saves_with(SaveOutcome::TooLarge), 1);
    "short driver blob not stored, oversized blob not stored, VK_INCOMPLETE retried (bounded), store refusal reported, valid blob stored".into()
}

/// Several threads load, build and save at once, on their own keys and on a shared one.
fn concurrency(dir: &Path) -> String {
    const THREADS: usize = 6;
    const ROUNDS: usize = 8;
    let harness = Harness::new();
    let store = open_store(dir);
    // SAFETY: live handles; the harness outlives the context.
    let context = unsafe {
        VulkanContext::new(
            store.clone(),
            harness.device_info(harness.get_instance_proc_addr),
            test_options(),
        )
    }
    .expect("context");
    let shared = engine_key("shared");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (harness, context) = (&harness, &context);
            scope.spawn(move || {
                let own = engine_key(&format!("thread {thread}"));
                for round in 0..ROUNDS {
                    for key in [&own, &shared] {
                        let (cache, info) = load(context, key);
                        let expected = if key == &own && round == 0 {
                            LoadOutcome::Miss
                        } else if key == &own {
                            LoadOutcome::Hit
                        } else {
                            info.outcome // shared: a miss or a hit depending on timing
                        };
                        assert_eq!(info.outcome, expected, "thread {thread} round {round}");
                        assert!(
                            matches!(info.outcome, LoadOutcome::Hit | LoadOutcome::Miss),
                            "{info:?}"
                        );
                        let seed = (thread * 100 + round) as u32;
                        harness.destroy_pipelines(harness.compute_pipelines(cache, &[seed]));
                        let saved = save_cache(context, key, cache);
                        assert!(
                            matches!(saved.outcome, SaveOutcome::Stored | SaveOutcome::Unchanged),
                            "{saved:?}"
                        );
                        harness.destroy_cache(cache);
                    }
                }
            });
        }
    });
    let (cache, info) = load(&context, &shared);
    assert_eq!(info.outcome, LoadOutcome::Hit);
    harness.destroy_cache(cache);
    let metrics = context.metrics();
    let loads: u64 = metrics.loads.iter().sum();
    assert_eq!(loads, (THREADS * ROUNDS * 2 + 1) as u64);
    assert_eq!(
        metrics.loads_with(LoadOutcome::Hit) + metrics.loads_with(LoadOutcome::Miss),
        loads
    );
    format!(
        "{THREADS} threads x {ROUNDS} rounds: {} hits, {} misses, {} stored, {} unchanged",
        metrics.loads_with(LoadOutcome::Hit),
        metrics.loads_with(LoadOutcome::Miss),
        metrics.saves_with(SaveOutcome::Stored),
        metrics.saves_with(SaveOutcome::Unchanged)
    )
}
