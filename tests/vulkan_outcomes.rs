//! What the Vulkan adapter tells engines about their stores, on real CPU drivers with the
//! validation layer on: a damaged entry on disk is a `Corrupt` load with
//! `Rejection::StoreCorrupt` (alone and under a memory tier), never a plain miss; and
//! `VulkanContext::flush` makes saves durable through the context's own store.
//!
//! One trial per driver and case ("lavapipe/damaged-disk-entry"), with cargo's usual arguments
//! (tests/support/trials.rs), each in a child process of this binary (the loader reads
//! `VK_DRIVER_FILES` once per process). A missing driver FAILS;
//! `PCSTORE_SKIP_VULKAN_TESTS=1` is the explicit opt-out, as in tests/vulkan.rs.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/trials.rs"]
mod trials;
#[path = "support/vk_harness.rs"]
mod vk_harness;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use hook::CreateCall;
use pcstore::vulkan::ash::vk;
use pcstore::vulkan::{
    LoadInfo, LoadOutcome, Rejection, SaveOutcome, VulkanContext, VulkanOptions,
};
use pcstore::{
    DiskCache, InMemoryPipelineCache, LayeredPipelineCache, PipelineCacheStore, PipelineFingerprint,
};
use trials::{ChildScenario, Trials};
use vk_harness::{Harness, DRIVER_NAMES};

const CHILD_FLAG: &str = "--pcstore-child";
const CASES: [&str; 3] = [
    "damaged-disk-entry",
    "damaged-disk-entry-under-memory",
    "flush-through-the-context",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD_FLAG) {
        let case = args.get(at + 1).expect("case name");
        let dir = PathBuf::from(args.get(at + 2).expect("case folder"));
        run_case(case, &dir);
        return;
    }
    let base = std::env::temp_dir().join(format!("pcstore-vk-outcomes-{}", std::process::id()));
    let mut plan = Vec::new();
    for (driver, name) in DRIVER_NAMES.iter().enumerate() {
        for case in CASES {
            let scenario = ChildScenario {
                driver,
                scenario: case,
                dir: base.join(format!("{name}-{case}")),
                xdg_cache: base.join(format!("xdg-{name}")),
            };
            plan.push((scenario, None));
        }
    }
    let mut trials = Trials::from_args();
    trials.add_child_scenarios(CHILD_FLAG, plan);
    trials.run_and_exit(|| {
        let _ = std::fs::remove_dir_all(&base);
    });
}

/// One case on this process's driver, then the validation verdict.
fn run_case(case: &str, dir: &Path) {
    let harness = Harness::new();
    let hooked = hook::install(harness.get_instance_proc_addr);
    match case {
        "damaged-disk-entry" => damaged_disk_entry(&harness, hooked, dir),
        "damaged-disk-entry-under-memory" => damaged_disk_entry_under_memory(&harness, hooked, dir),
        "flush-through-the-context" => flush_through_the_context(&harness, hooked),
        other => panic!("unknown case {other}"),
    }
    let errors = vk_harness::validation_errors();
    assert_eq!(errors, 0, "{errors} validation errors (see stderr)");
    println!("{case}: passed, 0 validation errors");
}

fn context(
    harness: &Harness,
    hooked: vk::PFN_vkGetInstanceProcAddr,
    store: Arc<dyn PipelineCacheStore>,
) -> VulkanContext {
    let options = VulkanOptions {
        namespace: b"vulkan_outcomes".to_vec(),
        ..VulkanOptions::default()
    };
    // SAFETY: the harness's live instance, physical device and device, and the hooked loader
    // wrapping the system's; all outlive the context.
    unsafe { VulkanContext::new(store, harness.device_info(hooked), options) }.expect("context")
}

fn key() -> PipelineFingerprint {
    PipelineFingerprint::of(b"vulkan_outcomes pipeline set")
}

/// Loads `key()`, destroys the cache, and returns what the load said and what the driver saw.
fn load(harness: &Harness, ctx: &VulkanContext) -> (LoadInfo, Vec<CreateCall>) {
    hook::take_create_calls();
    // SAFETY: live device; no allocation callbacks.
    let (cache, info) = unsafe { ctx.load_pipeline_cache(&key(), None) }.expect("load");
    harness.destroy_cache(cache);
    (info, hook::take_create_calls())
}

/// Stores a pipeline cache for `key()` through a context on `store` and flushes.
fn store_one(
    harness: &Harness,
    hooked: vk::PFN_vkGetInstanceProcAddr,
    store: Arc<dyn PipelineCacheStore>,
) {
    let ctx = context(harness, hooked, store);
    // SAFETY: live device; no allocation callbacks.
    let (cache, _) = unsafe { ctx.load_pipeline_cache(&key(), None) }.expect("load");
    harness.destroy_pipelines(harness.compute_pipelines(cache, &[1, 2]));
    // SAFETY: a live cache of the context's device.
    let saved = unsafe { ctx.save_pipeline_cache(&key(), cache) }.expect("save");
    assert_eq!(saved.outcome, SaveOutcome::Stored);
    harness.destroy_cache(cache);
    ctx.flush().expect("flush");
}

/// Flips one byte inside the driver blob of every adapter entry in the segments of `dir`
/// (found by the envelope's magic): the disk tier's own BLAKE3 no longer matches.
fn damage_entries(dir: &Path) {
    const MAGIC: &[u8] = b"pcsVKpc\0";
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if !path.extension().is_some_and(|ext| ext == "log") {
            continue;
        }
        let mut bytes = std::fs::read(&path).expect("read segment");
        let starts: Vec<usize> = bytes
            .windows(MAGIC.len())
            .enumerate()
            .filter(|(_, window)| *window == MAGIC)
            .map(|(at, _)| at)
            .collect();
        for at in starts {
            // Past the 128-byte envelope, inside the driver's 32-byte header.
            bytes[at + 128 + 20] ^= 0x5a;
            damaged += 1;
        }
        std::fs::write(&path, bytes).expect("write segment");
    }
    assert!(
        damaged > 0,
        "no stored entry found to damage in {}",
        dir.display()
    );
}

fn assert_corrupt(info: &LoadInfo, calls: &[CreateCall]) {
    assert_eq!(
        (info.outcome, info.rejection),
        (LoadOutcome::Corrupt, Rejection::StoreCorrupt),
        "{info:?}"
    );
    assert_eq!((info.stored_bytes, info.initial_data_bytes), (0, 0));
    assert_eq!(
        calls,
        [CreateCall {
            initial_data_size: 0,
            has_pointer: false
        }],
        "an empty cache, the driver saw no byte"
    );
}

/// A disk store in `dir` whose entry for `key()` was saved, flushed, and then damaged on disk
/// (opened anew, as by the next launch).
fn damaged_disk_store(
    harness: &Harness,
    hooked: vk::PFN_vkGetInstanceProcAddr,
    dir: &Path,
) -> Arc<DiskCache> {
    store_one(
        harness,
        hooked,
        Arc::new(DiskCache::new(dir).expect("disk")),
    );
    damage_entries(dir);
    Arc::new(DiskCache::new(dir).expect("reopen"))
}

fn damaged_disk_entry(harness: &Harness, hooked: vk::PFN_vkGetInstanceProcAddr, dir: &Path) {
    let disk = damaged_disk_store(harness, hooked, dir);
    let ctx = context(
        harness,
        hooked,
        Arc::clone(&disk) as Arc<dyn PipelineCacheStore>,
    );
    let (info, calls) = load(harness, &ctx);
    assert_corrupt(&info, &calls);
    assert_eq!(disk.metrics().corrupt_dropped, 1);
    assert_eq!(ctx.metrics().loads[LoadOutcome::Corrupt as usize], 1);
    // Dropped by the tier: a miss, or reported again until the tier removes the record; never
    // the damaged bytes.
    let (again, calls) = load(harness, &ctx);
    assert!(
        matches!(again.outcome, LoadOutcome::Miss | LoadOutcome::Corrupt),
        "{again:?}"
    );
    assert_eq!(calls[0].initial_data_size, 0);
    drop(ctx);
    drop(disk);
    store_one(
        harness,
        hooked,
        Arc::new(DiskCache::new(dir).expect("reopen")),
    );
    let ctx = context(
        harness,
        hooked,
        Arc::new(DiskCache::new(dir).expect("reopen")),
    );
    assert_eq!(
        load(harness, &ctx).0.outcome,
        LoadOutcome::Hit,
        "saved anew"
    );
}

fn damaged_disk_entry_under_memory(
    harness: &Harness,
    hooked: vk::PFN_vkGetInstanceProcAddr,
    dir: &Path,
) {
    let disk = damaged_disk_store(harness, hooked, dir);
    let stack = LayeredPipelineCache::new(vec![
        Arc::new(InMemoryPipelineCache::new()),
        Arc::clone(&disk) as Arc<dyn PipelineCacheStore>,
    ]);
    let ctx = context(harness, hooked, Arc::new(stack));
    let (info, calls) = load(harness, &ctx);
    assert_corrupt(&info, &calls);
    assert_eq!(disk.metrics().corrupt_dropped, 1);
    let metrics = ctx.store().metrics();
    assert_eq!((metrics.misses, metrics.corrupt_dropped), (1, 1));
}

/// A store that counts flushes and fails them on demand.
#[derive(Default)]
struct FlushProbe {
    memory: InMemoryPipelineCache,
    flushes: AtomicUsize,
    failing: AtomicBool,
}

impl PipelineCacheStore for FlushProbe {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.memory.get(fp)
    }
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        self.memory.put(fp, artifact);
    }
    fn flush(&self) -> io::Result<()> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::other("disk full"));
        }
        Ok(())
    }
}

fn flush_through_the_context(harness: &Harness, hooked: vk::PFN_vkGetInstanceProcAddr) {
    let probe = Arc::new(FlushProbe::default());
    // The caller keeps no store handle of its own: the context's is the only way to flush.
    let ctx = context(
        harness,
        hooked,
        Arc::clone(&probe) as Arc<dyn PipelineCacheStore>,
    );
    ctx.flush().expect("flush");
    assert_eq!(probe.flushes.load(Ordering::SeqCst), 1);
    probe.failing.store(true, Ordering::SeqCst);
    let error = ctx.flush().expect_err("the store's failure is reported");
    assert_eq!(error.to_string(), "disk full");
    assert_eq!(probe.flushes.load(Ordering::SeqCst), 2);
}
