//! pcstore's Vulkan adapter on Mesa lavapipe (a CPU Vulkan driver), start to finish:
//!
//!     cargo run --release --example vulkan_demo
//!
//! The demo runs itself twice, each time as a new process, like two launches of a game. Each
//! run creates a set of compute and graphics pipelines through the engine-side hook pattern
//! (ask pcstore for a seeded `VkPipelineCache`, create pipelines with it, hand it back to be
//! saved), with the Khronos validation layer on, and prints what happened. The store is a memory
//! tier over pcstore's disk tier (`DiskCache`) in a temporary folder; each run flushes it
//! before exiting, which is what makes its saves durable for the next launch.
//!
//! Needs `libvulkan1 mesa-vulkan-drivers vulkan-validationlayers` (scripts/install-deps.sh).
//! `PCSTORE_DEMO_ICD=/path/to/icd.json` runs it on another driver (e.g. SwiftShader from
//! scripts/vulkan-drivers.sh).

#[path = "../tests/support/vk_harness.rs"]
mod vk_harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::layered::LayeredPipelineCache;
use pcstore::memory::InMemoryPipelineCache;
use pcstore::vulkan::{LoadInfo, SaveInfo, VulkanContext, VulkanOptions};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use vk_harness::Harness;

const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
const COMPUTE_SEEDS: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const GRAPHICS_TINTS: [f32; 4] = [1.0, 0.75, 0.5, 0.25];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, run, dir] = args.as_slice() {
        if flag == "--run" {
            let run: u32 = run.parse().expect("run number");
            run_once(run, Path::new(dir));
            return;
        }
    }
    let icd =
        std::env::var_os("PCSTORE_DEMO_ICD").map_or(PathBuf::from(LAVAPIPE_ICD), PathBuf::from);
    if !icd.is_file() {
        eprintln!(
            "No Vulkan driver at {} — install mesa-vulkan-drivers (or set PCSTORE_DEMO_ICD).",
            icd.display()
        );
        std::process::exit(1);
    }
    let work = std::env::temp_dir().join(format!("pcstore-vulkan-demo-{}", std::process::id()));
    let store_dir = work.join("store");
    // The disk tier creates its own folder (private to the user).
    std::fs::create_dir_all(&work).expect("demo folder");
    println!("pcstore Vulkan demo — driver ICD {}", icd.display());
    println!(
        "store folder {} (empty: the first run starts cold)\n",
        store_dir.display()
    );
    for run in 1..=2 {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(["--run", &run.to_string()])
            .arg(&store_dir)
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            // Mesa's own shader cache would otherwise make the second run look faster for
            // reasons that have nothing to do with pcstore.
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("XDG_CACHE_HOME", work.join("xdg"))
            .status()
            .expect("start run");
        if !status.success() {
            eprintln!("run {run} failed ({status})");
            std::process::exit(1);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// One "launch": a memory tier over the disk tier, a context, two pipeline sets.
fn run_once(run: u32, store_dir: &Path) {
    let started = Instant::now();
    let harness = Harness::new();
    let disk = Arc::new(DiskCache::new(store_dir).expect("open the disk tier"));
    let store: Arc<dyn PipelineCacheStore> = Arc::new(LayeredPipelineCache::new(vec![
        Arc::new(InMemoryPipelineCache::new()),
        disk.clone(),
    ]));
    let options = VulkanOptions {
        namespace: b"vulkan-demo v1".to_vec(),
        ..VulkanOptions::default()
    };
    // SAFETY: the harness's live instance/device; the harness outlives the context.
    let context = unsafe {
        VulkanContext::new(
            store.clone(),
            harness.device_info(harness.get_instance_proc_addr),
            options,
        )
    }
    .expect("VulkanContext::new");
    let identity = context.identity();
    println!(
        "run {run} (process {}): {} — vendor {:#x}, device {:#x}, driver version {:#x}",
        std::process::id(),
        context.device_name(),
        identity.vendor_id,
        identity.device_id,
        identity.driver_version
    );

    let compute = pipeline_set(&harness, &context, "compute", |cache| {
        harness.compute_pipelines(cache, &COMPUTE_SEEDS)
    });
    let graphics = pipeline_set(&harness, &context, "graphics", |cache| {
        harness.graphics_pipelines(cache, &GRAPHICS_TINTS)
    });
    // The durability point: without it the next launch may not find this one's saves.
    store.flush().expect("flush");

    let metrics = context.metrics();
    let hits = metrics.loads_with(pcstore::vulkan::LoadOutcome::Hit);
    println!(
        "  totals: {hits} of 2 loads hit, {} B handed to the driver, {} saves stored, {} unchanged",
        metrics.bytes_to_driver,
        metrics.saves_with(pcstore::vulkan::SaveOutcome::Stored),
        metrics.saves_with(pcstore::vulkan::SaveOutcome::Unchanged),
    );
    let on_disk = disk.metrics();
    let durability = disk.durability_report();
    println!(
        "  disk tier: {} entries ({} B of blobs, {} B on disk, segments: {}); this run: \
         {} of {} lookups hit, {} puts, {} flushes ({} failed), {} puts not yet durable",
        on_disk.entries,
        on_disk.cached_bytes,
        durability.disk_bytes,
        durability.segments,
        on_disk.hits,
        on_disk.lookups,
        on_disk.puts,
        durability.flushes_ok,
        durability.flushes_failed,
        durability.unflushed_puts,
    );
    let largest_blob = compute.driver_blob_len.max(graphics.driver_blob_len);
    let grew = [&compute, &graphics]
        .iter()
        .any(|set| set.loaded_len > 0 && set.driver_blob_len > set.loaded_len);
    if grew {
        println!(
            "  note: the driver returned a larger blob than it was given without holding any \
             new pipeline: it appends the initial data it receives (SwiftShader does), so the \
             blob grows by one copy per launch until VulkanOptions::max_blob_bytes stops it. \
             No compiled pipelines are in it, so no speed-up is possible on this driver."
        );
    } else if largest_blob <= 32 {
        println!(
            "  note: the driver's cache blobs are {largest_blob} B, header only: this driver keeps \
             no compiled pipelines in them, so a hit cannot make pipeline creation faster here \
             (creation times differ between runs for other reasons). What the runs show is \
             correctness: checked bytes in, checked bytes out, zero validation errors."
        );
    }
    drop(context);
    drop(harness);
    let errors = vk_harness::validation_errors();
    println!(
        "  validation layer: {errors} errors, {} warnings; run took {:.1} ms\n",
        vk_harness::validation_warnings(),
        ms(started.elapsed())
    );
    if errors > 0 {
        std::process::exit(1);
    }
}

struct SetReport {
    loaded_len: u64,
    driver_blob_len: u64,
}

/// The engine-side hook: load a seeded cache, create pipelines with it, save it back.
fn pipeline_set(
    harness: &Harness,
    context: &VulkanContext,
    name: &str,
    create: impl FnOnce(
        pcstore::vulkan::ash::vk::PipelineCache,
    ) -> Vec<pcstore::vulkan::ash::vk::Pipeline>,
) -> SetReport {
    let key = PipelineFingerprint::builder()
        .with(b"vulkan demo pipeline set")
        .with(name.as_bytes())
        .finish();
    // SAFETY: live device; no allocator.
    let (cache, load): (_, LoadInfo) =
        unsafe { context.load_pipeline_cache(&key, None) }.expect("load");
    let creating = Instant::now();
    let pipelines = create(cache);
    let created = creating.elapsed();
    // SAFETY: a live cache of the context's device.
    let save: SaveInfo = unsafe { context.save_pipeline_cache(&key, cache) }.expect("save");
    println!(
        "  {name:8} load {:?} ({} B stored, {} B to the driver) in {:.3} ms; {} pipelines \
         created in {:.1} ms; save {:?} ({} B driver blob) in {:.3} ms",
        load.outcome,
        load.stored_bytes,
        load.initial_data_bytes,
        load.elapsed_ns as f64 / 1e6,
        pipelines.len(),
        ms(created),
        save.outcome,
        save.driver_bytes,
        save.elapsed_ns as f64 / 1e6,
    );
    harness.destroy_pipelines(pipelines);
    harness.destroy_cache(cache);
    SetReport {
        loaded_len: load.initial_data_bytes,
        driver_blob_len: save.driver_bytes,
    }
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e3
}
