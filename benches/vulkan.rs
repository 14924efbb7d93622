//! The Vulkan adapter's overhead over the raw driver calls, on the CPU drivers.
//!
//!     eval "$(bash scripts/vulkan-drivers.sh)"   # for SwiftShader (lavapipe is required)
//!     cargo bench --bench vulkan
//!
//! Load: pcstore's load-from-store (memory tier hit, envelope + BLAKE3 + header checks,
//! `vkCreatePipelineCache`) against `vkCreatePipelineCache` from bytes already in memory, for
//! stored blobs of 32 B, 1 MiB and 16 MiB (large blobs are synthesized behind a valid header: the
//! drivers only make 32-byte ones). Goal: load <= 1.1 x (raw call + one BLAKE3 pass).
//! Save: pcstore's save (two-call `vkGetPipelineCacheData`, header check, BLAKE3, envelope, store
//! put) against the raw two-call fetch. Large driver blobs exist only on SwiftShader, which
//! appends the initial data it is given; on lavapipe only the 32 B row exists.
//!
//! Validation layers are off here (they add their own cost per call); each driver runs in its own
//! child process. Medians of repeated runs; compare ratios within one run, the machine is shared.

#[path = "../tests/support/vk_harness.rs"]
mod vk_harness;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::memory::InMemoryPipelineCache;
use pcstore::vulkan::ash::vk;
use pcstore::vulkan::{
    seal_envelope, write_cache_header, CacheHeaderExpectation, LoadOutcome, SaveOutcome,
    VulkanContext, VulkanOptions,
};
use pcstore::{PipelineCacheStore, PipelineFingerprint};
use vk_harness::Harness;

const SIZES: [(&str, usize); 3] = [("32 B", 32), ("1 MiB", 1 << 20), ("16 MiB", 16 << 20)];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--driver") {
        run_driver(&args[at + 1]);
        return;
    }
    println!("| driver | blob | raw call | BLAKE3 pass | pcstore | pcstore / (raw + BLAKE3) | pcstore / raw |");
    println!("|---|---|---|---|---|---|---|");
    let work = std::env::temp_dir().join(format!("pcstore-vulkan-bench-{}", std::process::id()));
    // Both CPU drivers, found as the Vulkan tests find them (missing: a panic that says so).
    for vk_harness::Driver { name, icd } in vk_harness::drivers() {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(["--driver", name])
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("XDG_CACHE_HOME", work.join("xdg"))
            .status()
            .expect("spawn");
        assert!(status.success(), "{name} benchmark failed");
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn iterations(size: usize) -> usize {
    match size {
        0..=4096 => 2000,
        4097..=2_000_000 => 200,
        _ => 21,
    }
}

/// Median of `runs` timings of each measurement, taken in turns (one of each per round), so a
/// change in machine load during the run hits every column alike.
fn medians<const N: usize>(
    runs: usize,
    mut measurements: [&mut dyn FnMut() -> Duration; N],
) -> [Duration; N] {
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(runs));
    for _ in 0..runs {
        for (measure, column) in measurements.iter_mut().zip(samples.iter_mut()) {
            column.push(measure());
        }
    }
    samples.map(|mut column| {
        column.sort();
        column[column.len() / 2]
    })
}

/// Median of `runs` timings of one measurement.
fn median(runs: usize, mut timed: impl FnMut() -> Duration) -> Duration {
    let [only] = medians(runs, [&mut timed]);
    only
}

fn show(duration: Duration) -> String {
    let ns = duration.as_nanos() as f64;
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn row(driver: &str, what: &str, raw: Duration, hash: Duration, ours: Duration) {
    let ratio_sum = ours.as_secs_f64() / (raw + hash).as_secs_f64();
    let ratio_raw = ours.as_secs_f64() / raw.as_secs_f64();
    println!(
        "| {driver} | {what} | {} | {} | {} | {ratio_sum:.2}x | {ratio_raw:.2}x |",
        show(raw),
        show(hash),
        show(ours)
    );
}

fn run_driver(driver: &str) {
    let harness = Harness::with_validation(false);
    let store = Arc::new(InMemoryPipelineCache::with_limits(64, 512 << 20));
    // SAFETY: live handles; the harness outlives the context.
    let context = unsafe {
        VulkanContext::new(
            store.clone(),
            harness.device_info(harness.get_instance_proc_addr),
            VulkanOptions {
                namespace: b"bench".to_vec(),
                ..VulkanOptions::default()
            },
        )
    }
    .expect("context");
    let identity = context.identity().clone();
    let header = write_cache_header(&CacheHeaderExpectation {
        vendor_id: identity.vendor_id,
        device_id: identity.device_id,
        pipeline_cache_uuid: identity.pipeline_cache_uuid,
    });
    let create_raw = |data: &[u8]| {
        let info = vk::PipelineCacheCreateInfo::default().initial_data(data);
        let started = Instant::now();
        // SAFETY: valid device and data.
        let cache = unsafe { harness.device.create_pipeline_cache(&info, None) }.expect("create");
        let elapsed = started.elapsed();
        harness.destroy_cache(cache);
        elapsed
    };

    // Load path.
    for (label, size) in SIZES {
        let mut payload = header.to_vec();
        payload
            .extend((0..size - header.len()).map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8));
        let key = PipelineFingerprint::builder()
            .with(label.as_bytes())
            .finish();
        store.put(
            context.stored_key(&key),
            seal_envelope(&payload, &context.stored_key(&key), &identity),
        );
        let runs = iterations(size);
        let [raw, hash, ours] = medians(
            runs,
            [
                &mut || create_raw(&payload),
                &mut || {
                    let started = Instant::now();
                    std::hint::black_box(blake3::hash(std::hint::black_box(&payload)));
                    started.elapsed()
                },
                &mut || {
                    let started = Instant::now();
                    // SAFETY: live device; no allocator.
                    let (cache, info) =
                        unsafe { context.load_pipeline_cache(&key, None) }.expect("load");
                    let elapsed = started.elapsed();
                    assert_eq!(info.outcome, LoadOutcome::Hit);
                    harness.destroy_cache(cache);
                    elapsed
                },
            ],
        );
        row(driver, &format!("load {label}"), raw, hash, ours);
        if size == 32 {
            // Where a small load's fixed cost goes.
            let scoped = median(runs, || {
                let started = Instant::now();
                std::hint::black_box(context.stored_key(std::hint::black_box(&key)));
                started.elapsed()
            });
            let stored_key = context.stored_key(&key);
            let lookup = median(runs, || {
                let started = Instant::now();
                std::hint::black_box(store.get_arc(std::hint::black_box(&stored_key)));
                started.elapsed()
            });
            println!(
                "| {driver} | (of which: key scoping {}, memory-tier hit {}) | | | | | |",
                show(scoped),
                show(lookup)
            );
        }
    }

    // Save path: caches whose driver data has the target size (SwiftShader appends initial
    // data; lavapipe always answers 32 bytes, so only that row is measured there).
    for (label, size) in SIZES {
        let initial: Vec<u8> = if size <= 32 {
            Vec::new()
        } else {
            let mut data = header.to_vec();
            data.resize(size - 32, 0x5a);
            data
        };
        let info = vk::PipelineCacheCreateInfo::default().initial_data(&initial);
        // SAFETY: valid device and data.
        let cache = unsafe { harness.device.create_pipeline_cache(&info, None) }.expect("create");
        let current = harness.cache_data(cache);
        if current.len() < size {
            harness.destroy_cache(cache);
            continue; // this driver does not make blobs this large
        }
        let runs = iterations(size);
        let unchanged_key = PipelineFingerprint::builder()
            .with(b"unchanged")
            .with(label.as_bytes())
            .finish();
        // SAFETY: live cache of this device.
        unsafe { context.save_pipeline_cache(&unchanged_key, cache) }.expect("first save");
        let mut round = 0u64;
        let [raw, hash, stored, unchanged] = medians(
            runs,
            [
                &mut || {
                    let started = Instant::now();
                    // SAFETY: live cache of this device.
                    let data =
                        unsafe { harness.device.get_pipeline_cache_data(cache) }.expect("data");
                    let elapsed = started.elapsed();
                    std::hint::black_box(data);
                    elapsed
                },
                &mut || {
                    let started = Instant::now();
                    std::hint::black_box(blake3::hash(std::hint::black_box(&current)));
                    started.elapsed()
                },
                &mut || {
                    round += 1;
                    let key = PipelineFingerprint::builder()
                        .with(label.as_bytes())
                        .with(&round.to_le_bytes())
                        .finish();
                    let started = Instant::now();
                    // SAFETY: live cache of this device.
                    let saved = unsafe { context.save_pipeline_cache(&key, cache) }.expect("save");
                    let elapsed = started.elapsed();
                    assert_eq!(saved.outcome, SaveOutcome::Stored);
                    elapsed
                },
                &mut || {
                    let started = Instant::now();
                    // SAFETY: live cache of this device.
                    let saved = unsafe { context.save_pipeline_cache(&unchanged_key, cache) }
                        .expect("save");
                    let elapsed = started.elapsed();
                    assert_eq!(saved.outcome, SaveOutcome::Unchanged);
                    elapsed
                },
            ],
        );
        let what = format!("{} B", current.len());
        row(driver, &format!("save {what} (stored)"), raw, hash, stored);
        row(
            driver,
            &format!("save {what} (unchanged)"),
            raw,
            hash,
            unchanged,
        );
        harness.destroy_cache(cache);
    }
}
