//! The `pcstore` binary, spawned for real, on stores written by several other processes (this
//! test binary re-run as a writer), one of them still writing while the commands run.
//!
//! Writers put pipeline-cache blobs in pcstore's Vulkan envelope for a device (told apart by
//! its vendor ID) and recipe-shaped entries; every payload says which writer and which entry
//! it is, so a byte-for-byte check needs no record of what was written. One writer mode is an
//! engine saving through the Vulkan adapter on lavapipe (a missing driver fails under
//! `CI=true`, skips with a reason otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use pcstore::vulkan::{seal_envelope, EnvelopeDevice, History, Label, Run};
use pcstore::{DeviceIdentity, DiskCache, PipelineCacheStore, PipelineFingerprint};
use serde_json::Value;

const CHILD_ENV: &str = "PCSTORE_CLI_TEST_WRITER";

/// A scratch directory (mode 0700: a store refuses one others may write in), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pcstore-cli-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- What writers write

fn device(vendor: u32) -> DeviceIdentity {
    DeviceIdentity {
        vendor_id: vendor,
        device_id: 0xc0de,
        driver_version: 7,
        driver_id: 10,
        pipeline_cache_uuid: [vendor as u8; 16],
        pointer_size: 8,
        driver_info: b"test driver".to_vec(),
        namespace: b"cli test".to_vec(),
    }
}

/// Entry `k` of writer `w`: for a vendor (`w` < 100), a pipeline-cache blob in its envelope
/// under the key scoped to that device; otherwise a recipe-shaped entry.
fn entry(w: u32, k: u32) -> (PipelineFingerprint, Vec<u8>) {
    let engine_key = PipelineFingerprint::of(format!("writer {w} entry {k}").as_bytes());
    // Incompressible filler: stored as it is, so sizes on disk are the values' sizes and a
    // value's bytes can be found in its segment (compressed heads are the library's tests').
    let mut payload = format!("payload of writer {w} entry {k} ").into_bytes();
    let start = payload.len();
    payload.resize(200 + (k as usize % 7) * 300, 0);
    blake3::Hasher::new()
        .update(&payload[..start])
        .finalize_xof()
        .fill(&mut payload[start..]);
    if w < 100 {
        let identity = device(0x1000 + w);
        let key = engine_key.scoped(&identity);
        (key, seal_envelope(&payload, &key, &identity))
    } else {
        let mut recipe = b"PCRC\x01\x01\0\0".to_vec();
        recipe.extend_from_slice(&payload);
        (engine_key, recipe)
    }
}

fn keys(w: u32, count: u32) -> BTreeSet<String> {
    (0..count).map(|k| entry(w, k).0.to_hex()).collect()
}

/// The writer process: `once:DIR:W:COUNT` puts entries 0..COUNT of writer W and flushes;
/// `live:DIR:W:STOP` puts and flushes entries of writer W until the file STOP exists, printing
/// after each flush how many entries are durable.
fn run_writer(spec: &str) -> ! {
    let mut parts = spec.split(':');
    let (mode, dir, w) = (
        parts.next().unwrap(),
        PathBuf::from(parts.next().unwrap()),
        parts.next().unwrap().parse::<u32>().unwrap(),
    );
    let store = DiskCache::new(&dir).unwrap();
    match mode {
        "once" => {
            let count: u32 = parts.next().unwrap().parse().unwrap();
            for k in 0..count {
                let (key, bytes) = entry(w, k);
                store.try_put(key, bytes).unwrap();
            }
            store.flush().unwrap();
        }
        "live" => {
            let stop = PathBuf::from(parts.next().unwrap());
            let mut k = 0;
            while !stop.exists() {
                for _ in 0..10 {
                    let (key, bytes) = entry(w, k);
                    store.try_put(key, bytes).unwrap();
                    k += 1;
                }
                store.flush().unwrap();
                println!("durable {k}");
            }
        }
        "adapter" => {
            save_through_the_adapter(store);
            std::process::exit(0);
        }
        other => panic!("unknown writer mode {other}"),
    }
    drop(store);
    std::process::exit(0);
}

/// The writer mode `adapter:DIR:0`: an engine using the Vulkan adapter on the driver
/// `VK_DRIVER_FILES` names: one pipeline cache loaded (a miss) and saved, nothing else, so the
/// only label in the store for its device is the one the adapter writes by itself.
fn save_through_the_adapter(store: DiskCache) {
    use pcstore::vulkan::ash::vk;
    use pcstore::vulkan::{DeviceInfo, SaveOutcome, VulkanContext, VulkanOptions};
    // SAFETY: loading the system's Vulkan loader; the handles below are created, used and
    // destroyed in order on this thread, the context dropped before the device.
    unsafe {
        let entry = ash::Entry::load().expect("libvulkan");
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_0);
        let instance = entry
            .create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
            .expect("vkCreateInstance");
        let physical_device = instance.enumerate_physical_devices().expect("devices")[0];
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&priorities)];
        let device = instance
            .create_device(
                physical_device,
                &vk::DeviceCreateInfo::default().queue_create_infos(&queues),
                None,
            )
            .expect("vkCreateDevice");
        let context = VulkanContext::new(
            std::sync::Arc::new(store),
            DeviceInfo {
                instance: instance.handle(),
                physical_device,
                device: device.handle(),
                get_instance_proc_addr: entry.static_fn().get_instance_proc_addr,
                api_version: vk::API_VERSION_1_0,
            },
            VulkanOptions::default(),
        )
        .expect("context");
        let key = PipelineFingerprint::of(b"an engine's pipeline cache");
        let (cache, _) = context.load_pipeline_cache(&key, None).expect("load");
        let saved = context.save_pipeline_cache(&key, cache).expect("save");
        assert_eq!(saved.outcome, SaveOutcome::Stored);
        context.flush().expect("flush");
        device.destroy_pipeline_cache(cache, None);
        drop(context);
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
}

fn spawn_writer(test: &str, spec: String) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "--nocapture", "--test-threads=1", test])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Writers `ws` (`COUNT` entries each), each in a process of its own, run to completion.
fn write_all(test: &str, dir: &Path, ws: &[u32], count: u32) {
    let children: Vec<Child> = ws
        .iter()
        .map(|w| spawn_writer(test, format!("once:{}:{w}:{count}", dir.display())))
        .collect();
    for child in children {
        assert!(child.wait_with_output().unwrap().status.success());
    }
}

/// A scratch directory (tagged `tag`) with a store in it, filled by the writers of each batch
/// (`(writers, entries each)`) in turn: a later batch's entries are used more recently.
fn written_store(test: &str, tag: &str, batches: &[(&[u32], u32)]) -> (Scratch, PathBuf) {
    let scratch = Scratch::new(tag);
    let dir = scratch.join("store");
    for &(ws, count) in batches {
        write_all(test, &dir, ws, count);
    }
    (scratch, dir)
}

/// A writer that keeps writing until stopped.
struct LiveWriter {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    stop: PathBuf,
    w: u32,
}

impl LiveWriter {
    fn start(test: &str, dir: &Path, scratch: &Scratch, w: u32) -> Self {
        let stop = scratch.join(&format!("stop-{w}"));
        let mut child = spawn_writer(
            test,
            format!("live:{}:{w}:{}", dir.display(), stop.display()),
        );
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut writer = Self {
            child,
            lines,
            stop,
            w,
        };
        writer.wait_durable(1);
        writer
    }

    /// Waits until at least `count` entries are durable; returns how many are.
    fn wait_durable(&mut self, count: u32) -> u32 {
        loop {
            let line = self.lines.next().expect("writer alive").unwrap();
            if let Some(durable) = durable(&line) {
                if durable >= count {
                    return durable;
                }
            }
        }
    }

    /// Stops it; returns how many entries it made durable.
    fn stop(mut self) -> u32 {
        std::fs::write(&self.stop, b"").unwrap();
        let mut durable = 0;
        for line in self.lines.by_ref() {
            durable = self::durable(&line.unwrap()).unwrap_or(durable);
        }
        assert!(self.child.wait().unwrap().success());
        durable
    }
}

/// The count in a writer's `durable N` line (the test harness prints other lines too).
fn durable(line: &str) -> Option<u32> {
    line.strip_prefix("durable ")?.trim().parse().ok()
}

// ---- Running the tool

fn pcstore(dir: &Path, args: &[&str]) -> Output {
    pcstore_with(dir, args, &[])
}

/// [`pcstore`] with variables `env` set (the configuration it reads is otherwise unset).
fn pcstore_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcstore"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("PCSTORE_DIR")
        .env_remove("PCSTORE_MAX_SIZE")
        .env_remove("PCSTORE_STALE_AFTER")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs a command that must succeed with `--json`; returns its JSON.
fn json(dir: &Path, args: &[&str]) -> Value {
    json_with(dir, args, &[])
}

/// [`json`] with variables `env` set.
fn json_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = pcstore_with(dir, &[args, &["--json"]].concat(), env);
    assert!(
        out.status.success(),
        "pcstore {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Runs a command that must fail: exit 1 and one line on stderr, which is returned.
fn failure(dir: &Path, args: &[&str]) -> String {
    failure_with(dir, args, &[])
}

/// [`failure`] with variables `env` set.
fn failure_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = pcstore_with(dir, args, env);
    assert_eq!(out.status.code(), Some(1), "pcstore {args:?} must fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("pcstore: "), "{stderr:?}");
    stderr
}

/// `ls --json`: key → entry.
fn listing(dir: &Path, extra: &[&str]) -> BTreeMap<String, Value> {
    let listed = json(dir, &[&["ls"], extra].concat());
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["key"].as_str().unwrap().to_owned(), item.clone()))
        .collect()
}

fn key_set(listed: &BTreeMap<String, Value>) -> BTreeSet<String> {
    listed.keys().cloned().collect()
}

/// Every entry of writers `ws` (`count` each) is in the store at `dir`, byte for byte.
fn assert_intact(dir: &Path, ws: &[u32], count: u32) {
    let store = DiskCache::new(dir).unwrap();
    for &w in ws {
        for k in 0..count {
            let (key, bytes) = entry(w, k);
            assert_eq!(store.peek(&key), Some(bytes), "writer {w} entry {k}");
        }
    }
}

/// What `info` shows of the device of vendor `0x1000 + w`.
fn device_usage(info: &Value, w: u32) -> &Value {
    info["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|device| device["vendor_id"] == 0x1000 + w)
        .unwrap_or_else(|| panic!("device of writer {w} in {info}"))
}

/// The device id `info` shows for vendor `0x1000 + w`.
fn device_id(info: &Value, w: u32) -> String {
    device_usage(info, w)["id"].as_str().unwrap().to_owned()
}

fn child_mode() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_writer(&spec);
    }
}

// ---- Tests

const EVERY_COMMAND: &str =
    "every_command_works_on_a_store_written_by_several_processes_while_another_writes";

#[test]
fn every_command_works_on_a_store_written_by_several_processes_while_another_writes() {
    child_mode();
    let (scratch, dir) = written_store(EVERY_COMMAND, "all", &[(&[1, 2, 100], 40)]);
    let mut live = LiveWriter::start(EVERY_COMMAND, &dir, &scratch, 3);

    // info: kinds and devices of what the finished writers wrote (the live one adds more).
    let info = json(&dir, &["info"]);
    assert_eq!(info["format_version"], pcstore::disk::FORMAT_VERSION);
    assert_eq!(
        info["last_compaction_ns"],
        Value::Null,
        "nothing compacted yet"
    );
    assert_eq!(info["budget_bytes"], 1u64 << 30);
    assert!(info["entries"].as_u64().unwrap() >= 120);
    assert_eq!(info["kinds"]["recipe"]["entries"], 40);
    assert!(info["kinds"]["pipeline-cache"]["entries"].as_u64().unwrap() >= 80);
    let (one, two) = (device_id(&info, 1), device_id(&info, 2));
    let device_one = device_usage(&info, 1);
    assert_eq!(device_one["entries"], 40);
    let expected_bytes: usize = (0..40).map(|k| entry(1, k).1.len()).sum();
    assert_eq!(device_one["bytes"], expected_bytes as u64);
    let human = pcstore(&dir, &["info"]);
    assert!(human.status.success());
    let human = String::from_utf8(human.stdout).unwrap();
    assert!(human.contains(&format!("id {one}")), "{human}");

    // ls: every entry with its kind and size; --identity narrows to one device.
    let listed = listing(&dir, &[]);
    for (w, kind) in [
        (1, "pipeline-cache"),
        (2, "pipeline-cache"),
        (100, "recipe:ShaderModule"),
    ] {
        for k in 0..40 {
            let (key, bytes) = entry(w, k);
            let item = &listed[&key.to_hex()];
            assert_eq!(item["kind"], kind);
            assert_eq!(item["len"], bytes.len() as u64);
            assert!(item["last_used_ns"].as_u64().unwrap() > 0);
        }
    }
    assert_eq!(key_set(&listing(&dir, &["--identity", &one])), keys(1, 40));
    assert_eq!(
        key_set(&listing(&dir, &["--identity", &two[..6].to_uppercase()])),
        keys(2, 40)
    );

    // verify: every entry intact, the live writer's included.
    let verified = json(&dir, &["verify"]);
    assert!(verified["checked"].as_u64().unwrap() >= 120);
    assert_eq!(verified["corrupt"], Value::Array(vec![]));

    // export → import into an empty store: byte for byte.
    let bundle = scratch.join("all.pcsb");
    let exported = json(&dir, &["export", bundle.to_str().unwrap()]);
    let exported_count = exported["entries"].as_u64().unwrap();
    assert!(exported_count >= 120);
    let described = json(&dir, &["bundle", "info", bundle.to_str().unwrap()]);
    assert_eq!(described["entries"], exported_count);
    assert_eq!(described["signer"], Value::Null);
    let checked = json(&dir, &["bundle", "verify", bundle.to_str().unwrap()]);
    assert_eq!(checked["intact"], exported_count);
    let copy = scratch.join("copy");
    let imported = json(&copy, &["import", bundle.to_str().unwrap()]);
    assert_eq!(imported["imported"], exported_count);
    assert_intact(&copy, &[1, 2, 100], 40);
    assert_eq!(listing(&copy, &[]).len() as u64, exported_count);

    // prune --identity: exactly that device's entries go; a dry run first removes nothing.
    let dry = json(&dir, &["prune", "--identity", &one, "--dry-run"]);
    assert_eq!(
        (dry["chosen"].as_u64(), dry["removed"].as_u64()),
        (Some(40), Some(0))
    );
    assert_eq!(key_set(&listing(&dir, &["--identity", &one])), keys(1, 40));
    let pruned = json(&dir, &["prune", "--identity", &one]);
    assert_eq!(pruned["removed"], 40);
    assert!(listing(&dir, &["--identity", &one]).is_empty());
    assert_intact(&dir, &[2, 100], 40);
    assert!(json(&dir, &["info"])["last_compaction_ns"]
        .as_u64()
        .is_some());

    // The live writer went on throughout: everything it made durable is there, intact.
    let so_far = live.wait_durable(0);
    live.wait_durable(so_far + 10);
    let w = live.w;
    let durable = live.stop();
    assert_intact(&dir, &[w], durable);
    assert_eq!(json(&dir, &["verify"])["corrupt"], Value::Array(vec![]));

    // clear: nothing left once nobody writes.
    let cleared = json(&dir, &["clear"]);
    assert_eq!(cleared["remaining"], Value::Array(vec![]));
    assert!(listing(&dir, &[]).is_empty());
}

const CLEAR_LIVE: &str = "clear_leaves_the_segment_a_running_process_writes_and_says_so";

#[test]
fn clear_leaves_the_segment_a_running_process_writes_and_says_so() {
    child_mode();
    let (scratch, dir) = written_store(CLEAR_LIVE, "clear-live", &[(&[1], 20)]);
    let live = LiveWriter::start(CLEAR_LIVE, &dir, &scratch, 2);
    let cleared = json(&dir, &["clear"]);
    assert!(cleared["removed"].as_u64().unwrap() >= 20);
    let remaining: BTreeSet<String> = cleared["remaining"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key.as_str().unwrap().to_owned())
        .collect();
    assert!(
        !remaining.is_empty(),
        "the live writer's segment holds flushed entries"
    );
    assert!(keys(1, 20).is_disjoint(&key_set(&listing(&dir, &[]))));
    let w = live.w;
    let durable = live.stop();
    assert!(
        remaining.is_subset(&keys(w, durable)),
        "only the live writer's entries remain"
    );
    // Entries it flushed after the listing are there; none is corrupt.
    assert_eq!(json(&dir, &["verify"])["corrupt"], Value::Array(vec![]));
    let left = key_set(&listing(&dir, &[]));
    assert!(left.is_subset(&keys(w, durable)));
}

const SIGNED: &str = "a_signed_bundle_is_accepted_with_its_key_and_refused_with_another";

#[test]
fn a_signed_bundle_is_accepted_with_its_key_and_refused_with_another() {
    child_mode();
    let (scratch, dir) = written_store(SIGNED, "signed", &[(&[1, 100], 10)]);
    let studio = scratch.join("studio.key");
    std::fs::write(&studio, [7u8; 32]).unwrap();
    let other = scratch.join("other.key");
    std::fs::write(&other, format!("{}\n", "42".repeat(32))).unwrap();
    let public = |key: &Path| {
        json(&dir, &["bundle", "public-key", key.to_str().unwrap()])["public_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (studio_public, other_public) = (public(&studio), public(&other));
    assert_ne!(studio_public, other_public);

    let bundle = scratch.join("signed.pcsb");
    let bundle_path = bundle.to_str().unwrap();
    let exported = json(
        &dir,
        &["export", bundle_path, "--sign", studio.to_str().unwrap()],
    );
    assert_eq!(exported["signer"], studio_public.as_str());
    assert_eq!(exported["entries"], 20);

    let with_key = ["--public-key", studio_public.as_str()];
    let info = json(
        &dir,
        &[&["bundle", "info", bundle_path][..], &with_key].concat(),
    );
    assert_eq!(info["signer"], studio_public.as_str());
    let verified = json(
        &dir,
        &[&["bundle", "verify", bundle_path][..], &with_key].concat(),
    );
    assert_eq!(verified["intact"], 20);

    let with_other = ["--public-key", other_public.as_str()];
    let refused = failure(
        &dir,
        &[&["bundle", "verify", bundle_path][..], &with_other].concat(),
    );
    assert!(refused.contains("refused"), "{refused}");
    let copy = scratch.join("copy");
    failure(&copy, &[&["import", bundle_path][..], &with_other].concat());
    assert!(
        !copy.exists() || listing(&copy, &[]).is_empty(),
        "nothing imported from a refused bundle"
    );
    let imported = json(&copy, &[&["import", bundle_path][..], &with_key].concat());
    assert_eq!(imported["imported"], 20);
    assert_intact(&copy, &[1, 100], 10);

    // An unsigned bundle is refused where a key is required.
    let unsigned = scratch.join("unsigned.pcsb");
    json(&dir, &["export", unsigned.to_str().unwrap()]);
    failure(
        &dir,
        &[
            &["bundle", "verify", unsigned.to_str().unwrap()][..],
            &with_key,
        ]
        .concat(),
    );
}

const FLIPPED: &str = "verify_finds_a_flipped_byte_and_repair_drops_that_entry_and_nothing_else";

#[test]
fn verify_finds_a_flipped_byte_and_repair_drops_that_entry_and_nothing_else() {
    child_mode();
    let (_scratch, dir) = written_store(FLIPPED, "flip", &[(&[1, 2], 30)]);
    let (victim_key, victim_bytes) = entry(2, 17);
    let victim = victim_key.to_hex();
    let listed = listing(&dir, &[]);
    let segment = dir.join(listed[&victim]["segment"].as_str().unwrap());
    let contents = std::fs::read(&segment).unwrap();
    let at = contents
        .windows(victim_bytes.len())
        .position(|window| window == victim_bytes.as_slice())
        .expect("payload in its segment")
        + victim_bytes.len() / 2;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.write_all_at(&[contents[at] ^ 0x10], at as u64)
        .unwrap();

    let out = pcstore(&dir, &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checked"], 60);
    let corrupt: Vec<&str> = report["corrupt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(corrupt, [victim.as_str()]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Looking changed nothing.
    assert_eq!(listing(&dir, &[]).len(), 60);

    let repaired = json(&dir, &["verify", "--repair"]);
    assert_eq!(repaired["repair"]["removed"], 1);
    assert_eq!(repaired["repair"]["remaining"], Value::Array(vec![]));
    let after = json(&dir, &["verify"]);
    assert_eq!(
        (after["checked"].as_u64(), after["corrupt"].clone()),
        (Some(59), Value::Array(vec![]))
    );
    let mut expected = keys(1, 30);
    expected.extend(keys(2, 30));
    expected.remove(&victim);
    assert_eq!(key_set(&listing(&dir, &[])), expected);
    let store = DiskCache::new(&dir).unwrap();
    for key in &expected {
        let (w, k) = (1..=2)
            .flat_map(|w| (0..30).map(move |k| (w, k)))
            .find(|&(w, k)| entry(w, k).0.to_hex() == *key)
            .unwrap();
        assert_eq!(store.peek(&entry(w, k).0), Some(entry(w, k).1));
    }
}

const STALE: &str = "prune_older_than_removes_exactly_the_stale_device";

#[test]
fn prune_older_than_removes_exactly_the_stale_device() {
    child_mode();
    // Device 1 is written (and last used) before device 2: a driver updated away.
    let (_scratch, dir) = written_store(STALE, "stale", &[(&[1], 25), (&[2], 25)]);
    let listed = listing(&dir, &[]);
    let last_used = |w: u32| -> Vec<u64> {
        keys(w, 25)
            .iter()
            .map(|key| listed[key]["last_used_ns"].as_u64().unwrap())
            .collect()
    };
    let old_newest = *last_used(1).iter().max().unwrap();
    assert!(*last_used(2).iter().min().unwrap() > old_newest);
    // "Now" is 30 days after device 1 was last used, a nanosecond later than its newest use.
    let thirty_days = 30 * 86_400 * 1_000_000_000u64;
    let now = (old_newest + 1 + thirty_days).to_string();

    let pruned = json(&dir, &["prune", "--older-than", "30d", "--now-ns", &now]);
    assert_eq!(pruned["removed"], 25);
    assert_eq!(key_set(&listing(&dir, &[])), keys(2, 25));
    assert_intact(&dir, &[2], 25);
}

const MAX_SIZE: &str = "prune_max_size_keeps_the_most_recently_used_within_the_size";

#[test]
fn prune_max_size_keeps_the_most_recently_used_within_the_size() {
    child_mode();
    let (_scratch, dir) = written_store(MAX_SIZE, "size", &[(&[1], 20), (&[2], 20)]);
    let device_two: u64 = (0..20).map(|k| entry(2, k).1.len() as u64).sum();
    let pruned = json(&dir, &["prune", "--max-size", &device_two.to_string()]);
    assert_eq!(pruned["removed"], 20);
    assert_eq!(key_set(&listing(&dir, &[])), keys(2, 20));
}

#[test]
fn failures_exit_1_with_one_line() {
    let scratch = Scratch::new("fail");
    let missing = scratch.join("missing");
    assert!(failure(&missing, &["info"]).contains("no store at"));
    assert!(failure(&missing, &["clear"]).contains("no store at"));
    assert!(failure(&missing, &["prune", "--older-than", "1d"]).contains("no store at"));
    assert!(!missing.exists(), "looking and removing create nothing");
    let dir = scratch.join("store");
    DiskCache::new(&dir).unwrap();
    assert!(failure(&dir, &["ls", "--identity", "xyz"]).contains("--identity"));
    // prune alone removes stale devices only: none here.
    assert_eq!(json(&dir, &["prune"])["chosen"], 0);
    let not_a_bundle = scratch.join("not.pcsb");
    std::fs::write(&not_a_bundle, b"hello").unwrap();
    let refused = failure(&dir, &["bundle", "info", not_a_bundle.to_str().unwrap()]);
    assert!(refused.contains("refused"), "{refused}");
    // Usage errors are clap's (exit 2).
    assert_eq!(
        pcstore(&dir, &["prune", "--max-size", "lots"])
            .status
            .code(),
        Some(2)
    );
}

const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// The device fields labels and histories record of `identity`.
fn device_fields(identity: &DeviceIdentity) -> EnvelopeDevice {
    EnvelopeDevice {
        vendor_id: identity.vendor_id,
        device_id: identity.device_id,
        driver_version: identity.driver_version,
        driver_id: identity.driver_id,
        pipeline_cache_uuid: identity.pipeline_cache_uuid,
        pointer_size: identity.pointer_size,
    }
}

/// Puts `entries` into the store at `dir` and flushes, as another process would.
fn put_flushed(dir: &Path, entries: impl IntoIterator<Item = (PipelineFingerprint, Vec<u8>)>) {
    let store = DiskCache::new(dir).unwrap();
    for (key, bytes) in entries {
        store.try_put(key, bytes).unwrap();
    }
    store.flush().unwrap();
}

/// Puts the label of writer `w`'s device (as the layer writes it) for `app`, naming entry 0 as
/// its cache, last seen at `last_seen_ns`.
fn put_label(dir: &Path, w: u32, app: &str, last_seen_ns: u64) -> PipelineFingerprint {
    let identity = device(0x1000 + w);
    let label = Label {
        device: device_fields(&identity),
        driver_info: format!("testdrv\0Test {w}.0").into_bytes(),
        device_name: format!("Test GPU {w}"),
        application: app.to_owned(),
        cache_key: entry(w, 0).0,
        first_seen_ns: last_seen_ns - DAY_NS,
        last_seen_ns,
    };
    let key = Label::key(&identity, app);
    put_flushed(dir, [(key, label.to_bytes())]);
    key
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

const LABELS: &str = "labels_name_devices_and_applications_and_stale_devices_go_first";

/// A store of writers 1, 2 (devices) and 100 (recipes), 10 entries each, with a label per
/// device as of a "now" 40 days ahead (returned): device 1 last seen 35 days before it (a
/// driver updated away), device 2 a day before it.
struct Labelled {
    _scratch: Scratch,
    dir: PathBuf,
    now: u64,
    label_one: PipelineFingerprint,
    label_two: PipelineFingerprint,
}

fn labelled_store(test: &str, tag: &str) -> Labelled {
    let (scratch, dir) = written_store(test, tag, &[(&[1, 2, 100], 10)]);
    let now = now_ns() + 40 * DAY_NS;
    let label_one = put_label(&dir, 1, "oldgame (Old Game)", now - 35 * DAY_NS);
    let label_two = put_label(&dir, 2, "newgame", now - DAY_NS);
    Labelled {
        _scratch: scratch,
        dir,
        now,
        label_one,
        label_two,
    }
}

#[test]
fn labels_name_devices_and_applications_and_stale_devices_go_first() {
    child_mode();
    let Labelled {
        _scratch,
        dir,
        now,
        label_one,
        label_two,
    } = labelled_store(LABELS, "labels");

    let info = json(&dir, &["info"]);
    assert_eq!(info["kinds"]["label"]["entries"], 2);
    let device_one = device_usage(&info, 1);
    assert_eq!(
        device_one["entries"], 10,
        "labels are not counted as cache entries"
    );
    assert_eq!(device_one["labels"][0]["application"], "oldgame (Old Game)");
    assert_eq!(device_one["labels"][0]["driver"], "testdrv · Test 1.0");
    let human = String::from_utf8(pcstore(&dir, &["info"]).stdout).unwrap();
    assert!(
        human.contains("testdrv · Test 2.0 · Test GPU 2 · newgame"),
        "{human}"
    );

    // ls shows the label next to the entry it names; --app selects a label and that entry, by
    // the whole name, the executable or the application name.
    let listed = listing(&dir, &[]);
    assert_eq!(
        listed[&entry(1, 0).0.to_hex()]["label"],
        "testdrv · Test 1.0 · Test GPU 1 · oldgame (Old Game)"
    );
    assert_eq!(listed[&label_one.to_hex()]["kind"], "label");
    let expected: BTreeSet<String> = [label_one.to_hex(), entry(1, 0).0.to_hex()].into();
    for app in ["oldgame (Old Game)", "oldgame", "Old Game"] {
        assert_eq!(key_set(&listing(&dir, &["--app", app])), expected, "{app}");
    }
    assert!(listing(&dir, &["--app", "game"]).is_empty());

    // info, 40 days ahead, calls device 1 stale; prune alone removes exactly it and its label.
    let now_text = now.to_string();
    let dry = json(&dir, &["prune", "--dry-run", "--now-ns", &now_text]);
    assert_eq!(dry["chosen"], 11);
    let pruned = json(&dir, &["prune", "--now-ns", &now_text]);
    assert_eq!(pruned["removed"], 11);
    let mut left = keys(2, 10);
    left.extend(keys(100, 10));
    left.insert(label_two.to_hex());
    assert_eq!(key_set(&listing(&dir, &[])), left);
    // A longer --stale-after keeps device 2 (seen a day before "now").
    let kept = json(
        &dir,
        &["prune", "--stale-after", "2d", "--now-ns", &now_text],
    );
    assert_eq!(kept["chosen"], 0);
}

const STALE_ENV: &str = "the_stale_period_is_pcstore_stale_after_as_for_the_library";

/// Without `--stale-after`, prune and info take the stale period from `PCSTORE_STALE_AFTER`
/// through the library's own reader, as the library's compaction does: the same grammar
/// (`never` included), the same default, the same refusal of an unusable value.
#[test]
fn the_stale_period_is_pcstore_stale_after_as_for_the_library() {
    child_mode();
    let Labelled {
        _scratch, dir, now, ..
    } = labelled_store(STALE_ENV, "stale-env");
    let now_text = now.to_string();
    let dry_run = ["prune", "--dry-run", "--now-ns", now_text.as_str()];
    // Device 1 and its label (11 entries) were last seen 35 days before "now"; device 2 a day.
    for (stale_after, chosen) in [
        (None, 11),
        (Some("30d"), 11),
        (Some("40d"), 0),
        (Some("never"), 0),
    ] {
        let env: Vec<(&str, &str)> = stale_after
            .map(|v| ("PCSTORE_STALE_AFTER", v))
            .into_iter()
            .collect();
        assert_eq!(
            json_with(&dir, &dry_run, &env)["chosen"],
            chosen,
            "PCSTORE_STALE_AFTER={stale_after:?}"
        );
    }
    // --stale-after, in the same grammar, wins over the variable.
    let env = [("PCSTORE_STALE_AFTER", "40d")];
    for (given, chosen) in [("30d", 11), ("never", 0)] {
        let args = [&dry_run[..], &["--stale-after", given]].concat();
        assert_eq!(
            json_with(&dir, &args, &env)["chosen"],
            chosen,
            "--stale-after {given}"
        );
    }
    assert_eq!(
        pcstore(&dir, &[&dry_run[..], &["--stale-after", "0d"]].concat())
            .status
            .code(),
        Some(2)
    );
    // An unusable value is refused as the default store refuses it, naming the variable.
    for args in [&dry_run[..], &["info"]] {
        let refused = failure_with(&dir, args, &[("PCSTORE_STALE_AFTER", "0d")]);
        assert!(refused.contains("PCSTORE_STALE_AFTER=\"0d\""), "{refused}");
    }
}

const ADAPTER_ONLY: &str = "an_identity_saved_only_through_the_adapter_is_pruned_once_stale";

/// Lavapipe's ICD manifest, or `None` (with the reason printed) outside CI when it is missing.
fn lavapipe() -> Option<PathBuf> {
    let icd = std::env::var_os("PCSTORE_TEST_LAVAPIPE_ICD").map_or_else(
        || PathBuf::from("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"),
        PathBuf::from,
    );
    if icd.is_file() {
        return Some(icd);
    }
    let reason = format!(
        "lavapipe Vulkan driver not found at {} (set PCSTORE_TEST_LAVAPIPE_ICD, or run \
         `eval \"$(bash scripts/vulkan-drivers.sh)\"` after scripts/install-deps.sh)",
        icd.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

/// A device an engine used only through the Vulkan adapter (no layer, no label of its own) is
/// named by the label the adapter wrote at its first save, so `pcstore prune` removes its
/// entries once they and that label were not seen for the stale period, and not before; a
/// device seen since stays.
#[test]
fn an_identity_saved_only_through_the_adapter_is_pruned_once_stale() {
    child_mode();
    let Some(icd) = lavapipe() else { return };
    let (_scratch, dir) = written_store(ADAPTER_ONLY, "adapter-only", &[(&[1], 5)]);
    let started = now_ns();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "--nocapture", "--test-threads=1", ADAPTER_ONLY])
        .env(CHILD_ENV, format!("adapter:{}:0", dir.display()))
        .env("VK_DRIVER_FILES", &icd)
        .env("VK_ICD_FILENAMES", &icd)
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stderr)
    );
    // Writer 1's device, labelled as seen 30 days from now.
    put_label(&dir, 1, "game", started + 30 * DAY_NS);
    let listed = listing(&dir, &[]);
    let adapter: BTreeSet<String> = listed
        .iter()
        .filter(|(_, item)| item["kind"] == "label" || item["kind"] == "pipeline-cache")
        .filter(|(key, _)| !keys(1, 5).contains(*key))
        .filter(|(_, item)| {
            !item["label"]
                .as_str()
                .is_some_and(|label| label.ends_with(" · game"))
        })
        .map(|(key, _)| key.clone())
        .collect();
    assert_eq!(
        adapter.len(),
        2,
        "the adapter's blob and its label: {listed:?}"
    );
    let label = listed
        .values()
        .find(|item| item["kind"] == "label" && adapter.contains(item["key"].as_str().unwrap()))
        .expect("the adapter's label");
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy();
    assert!(
        label["label"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" · {exe}")),
        "{label}"
    );

    let prune_at = |days: u64| {
        let now = (started + days * DAY_NS).to_string();
        json(&dir, &["prune", "--now-ns", &now])
    };
    assert_eq!(prune_at(29)["chosen"], 0, "not stale 29 days on");
    assert_eq!(
        prune_at(31)["removed"],
        2,
        "stale 31 days on: its blob and its label"
    );
    let left = key_set(&listing(&dir, &[]));
    assert!(left.is_disjoint(&adapter));
    assert!(keys(1, 5).is_subset(&left), "the device seen since stays");
}

const HISTORIES: &str = "histories_show_each_applications_runs_and_the_cold_run";

/// Three runs of one application on writer 1's device (as the layer records them: a cold run,
/// then two from the cache), and a record that begins like a history but is not one.
#[test]
fn histories_show_each_applications_runs_and_the_cold_run() {
    child_mode();
    let (_scratch, dir) = written_store(HISTORIES, "histories", &[(&[1], 5)]);
    let identity = device(0x1001);
    let ended = now_ns() - 3 * 3600 * 1_000_000_000;
    let mut history = History {
        device: device_fields(&identity),
        application: "game.x86_64 (My Game)".into(),
        last_run: 0,
        runs: Vec::new(),
    };
    for (hits, hit_ns, miss_ns) in [
        (0, 0, 9_800_000_000),
        (400, 100_000_000, 1_000_000_000),
        (412, 150_000_000, 60_000_000),
    ] {
        history.push(Run {
            ended_ns: ended,
            pipelines: 415,
            hits,
            hit_ns,
            miss_ns,
            created: 415,
        });
    }
    let key = History::key(&identity, &history.application);
    let damaged_key = PipelineFingerprint::of(b"damaged history");
    let mut damaged = history.to_bytes();
    damaged[79] = 0x01; // the first run's hits (bytes 72..80): more than its pipelines
    put_flushed(&dir, [(key, history.to_bytes()), (damaged_key, damaged)]);

    let info = json(&dir, &["info"]);
    assert_eq!(info["kinds"]["history"]["entries"], 1);
    assert_eq!(info["kinds"]["other"]["entries"], 1, "the damaged record");
    let usage = device_usage(&info, 1);
    assert_eq!(usage["entries"], 5, "histories are not cache entries");
    let histories = usage["histories"].as_array().unwrap();
    assert_eq!(histories.len(), 1);
    assert_eq!(histories[0]["application"], "game.x86_64 (My Game)");
    assert_eq!(histories[0]["last_run"], 3);
    let runs = histories[0]["runs"].as_array().unwrap();
    let numbers: Vec<u64> = runs.iter().map(|r| r["run"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(runs[2]["hits"], 412);
    assert_eq!(runs[2]["pipelines"], 415);
    assert_eq!(runs[2]["creation_ns"], 210_000_000u64);
    assert_eq!(runs[2]["ended_ns"], ended);

    let human = String::from_utf8(pcstore(&dir, &["info"]).stdout).unwrap();
    assert!(
        human.contains(
            "game.x86_64 (My Game): run 3: 412 of 415 pipelines from cache, creation 0.21 s \
             (cold run 1: 9.80 s), 3 hours ago"
        ),
        "{human}"
    );
    // A sampled run (PCSTORE_LAYER_FEEDBACK=sampled) says which part of it was measured.
    history.push(Run {
        ended_ns: ended,
        pipelines: 41,
        hits: 40,
        hit_ns: 15_000_000,
        miss_ns: 5_000_000,
        created: 415,
    });
    put_flushed(&dir, [(key, history.to_bytes())]);
    let human = String::from_utf8(pcstore(&dir, &["info"]).stdout).unwrap();
    assert!(
        human.contains(
            "game.x86_64 (My Game): run 4: 40 of 41 measured creations from cache (415 pipelines \
             created), creation of the measured 0.02 s (cold run 1: 9.80 s)"
        ),
        "{human}"
    );
    let info = json(&dir, &["info"]);
    let sampled = device_usage(&info, 1)["histories"][0]["runs"][3].clone();
    assert_eq!(
        (&sampled["pipelines"], &sampled["created"]),
        (&41.into(), &415.into())
    );
    // --app selects the history by the application's name.
    let expected: BTreeSet<String> = [key.to_hex()].into();
    assert_eq!(key_set(&listing(&dir, &["--app", "My Game"])), expected);
    assert_eq!(listing(&dir, &[])[&key.to_hex()]["kind"], "history");
}

const STALE_FIRST: &str = "max_size_takes_stale_devices_before_recently_used_ones";

#[test]
fn max_size_takes_stale_devices_before_recently_used_ones() {
    child_mode();
    let (_scratch, dir) = written_store(STALE_FIRST, "stale-first", &[(&[1], 10), (&[2], 10)]);
    let now = now_ns() + 40 * DAY_NS;
    put_label(&dir, 1, "newgame", now - DAY_NS);
    // Device 2 was written later (more recently used), but its driver is gone.
    put_label(&dir, 2, "oldgame", now - 35 * DAY_NS);
    let device_one: u64 = (0..10).map(|k| entry(1, k).1.len() as u64).sum();
    let budget = (device_one + 1000).to_string();
    let pruned = json(
        &dir,
        &[
            "prune",
            "--max-size",
            &budget,
            "--stale-after",
            "30d",
            "--now-ns",
            &now.to_string(),
        ],
    );
    assert_eq!(pruned["removed"], 11, "device 2 and its label");
    let left = key_set(&listing(&dir, &[]));
    assert!(keys(1, 10).is_subset(&left));
    assert!(keys(2, 10).is_disjoint(&left));
}

/// An application may raise its entry limit above the library's default (64 MiB): the tool
/// neither calls such an entry corrupt nor evicts it when removing others.
#[test]
fn an_entry_above_the_default_limit_is_neither_corrupt_nor_evicted() {
    let scratch = Scratch::new("large");
    let dir = scratch.join("store");
    let (small, large) = (
        PipelineFingerprint::of(b"small"),
        PipelineFingerprint::of(b"large"),
    );
    let mut large_bytes = vec![0u8; 65 << 20];
    blake3::Hasher::new().finalize_xof().fill(&mut large_bytes); // incompressible
    {
        let options = pcstore::DiskCacheOptions {
            max_entry_bytes: 80 << 20,
            ..pcstore::DiskCacheOptions::default()
        };
        let store = DiskCache::with_options(&dir, options).unwrap();
        store.try_put(small, vec![1; 1000]).unwrap();
        store.flush().unwrap();
        store.try_put(large, large_bytes.clone()).unwrap();
        store.flush().unwrap();
    }
    let verified = json(&dir, &["verify"]);
    assert_eq!(verified["checked"], 2);
    assert_eq!(verified["corrupt"], Value::Array(vec![]));
    let budget = (large_bytes.len() + 10).to_string();
    let pruned = json(&dir, &["prune", "--max-size", &budget]);
    assert_eq!(pruned["removed"], 1, "the least recently used, small one");
    let options = pcstore::DiskCacheOptions {
        max_entry_bytes: 80 << 20,
        ..pcstore::DiskCacheOptions::default()
    };
    let store = DiskCache::with_options(&dir, options).unwrap();
    assert_eq!(store.peek(&small), None);
    assert!(
        store.peek(&large) == Some(large_bytes),
        "the large entry survives intact"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let scratch = Scratch::new("pipe");
    let dir = scratch.join("store");
    {
        let store = DiskCache::new(&dir).unwrap();
        for k in 0..2000u64 {
            store.put(
                PipelineFingerprint::of(&k.to_le_bytes()),
                vec![k as u8; 100],
            );
        }
        store.flush().unwrap();
    }
    // `pcstore ls | head -1`: far more than a pipe holds, and the reader closes its end at once.
    for args in [&["ls"][..], &["ls", "--json"][..]] {
        let mut tool = Command::new(env!("CARGO_BIN_EXE_pcstore"))
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(tool.stdout.take());
        let output = tool.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            output.status.success(),
            "{args:?}: {:?} {stderr}",
            output.status
        );
    }
}

/// Catalogs and application records are lists kept under fixed keys, so an import meets the
/// store's own: a bundle of a farm's recordings must add to this machine's, not replace them
/// (`pcstore replay` walks the catalog).
#[test]
fn import_adds_a_bundles_recordings_to_the_stores_own() {
    use pcstore::recipe::{
        ApplicationRecord, CacheTarget, Catalog, NamespaceScheme, Recipe, RecipeKey,
    };
    let scratch = Scratch::new("import-merge");
    let cache = CacheTarget {
        key: PipelineFingerprint::of(b"game cache"),
        namespace: b"game".to_vec(),
        scheme: NamespaceScheme::WithDeviceName,
    };
    let device = RecipeKey::of(b"a device recipe");
    let record = |pipelines: &[&[u8]]| {
        let mut record = ApplicationRecord::new(b"game".to_vec(), cache.clone());
        for pipeline in pipelines {
            record.insert(device, RecipeKey::of(pipeline));
        }
        record
    };
    let catalog = |records: &[&ApplicationRecord]| Catalog {
        applications: records.iter().map(|record| record.store_key()).collect(),
    };
    let other_game = ApplicationRecord::new(b"other game".to_vec(), cache.clone());
    let store_entries = |records: &[&ApplicationRecord]| {
        let mut entries: Vec<(PipelineFingerprint, Vec<u8>)> = records
            .iter()
            .map(|record| (record.store_key().fingerprint(), record.to_bytes()))
            .collect();
        entries.push((
            Catalog::store_key().fingerprint(),
            catalog(records).to_bytes(),
        ));
        entries
    };
    // The farm recorded pipelines a and b of the game; this machine b and c, and another game.
    let farm = scratch.join("farm");
    let local = scratch.join("local");
    put_flushed(&farm, store_entries(&[&record(&[b"a", b"b"])]));
    put_flushed(
        &local,
        store_entries(&[&record(&[b"b", b"c"]), &other_game]),
    );
    let bundle = scratch.join("farm.pcsb");
    json(&farm, &["export", bundle.to_str().unwrap()]);
    json(&local, &["import", bundle.to_str().unwrap()]);

    let store = DiskCache::new(&local).unwrap();
    let stored = |key: RecipeKey| store.get(&key.fingerprint()).expect("stored");
    let merged = ApplicationRecord::from_bytes(&stored(record(&[]).store_key())).unwrap();
    assert_eq!(
        merged,
        record(&[b"a", b"b", b"c"]),
        "the game's pipelines of both"
    );
    let catalog_after = Catalog::from_bytes(&stored(Catalog::store_key())).unwrap();
    assert_eq!(
        catalog_after,
        catalog(&[&record(&[]), &other_game]),
        "both games still listed"
    );
}
