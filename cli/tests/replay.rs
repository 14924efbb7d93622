//! `pcstore replay`, spawned for real on Mesa's lavapipe: recipes recorded with the library's
//! `RecipeRecorder` (as an engine records) are replayed by the tool's worker processes, then a
//! second `--if-needed` replay finds nothing to do.
//!
//! The driver comes from `PCSTORE_TEST_LAVAPIPE_ICD` (set by `scripts/vulkan-drivers.sh`) or
//! its usual place; without it the test fails under `CI=true` and skips with a reason
//! otherwise.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use pcstore::recipe::{CacheTarget, DeviceRecipe, NamespaceScheme, RecipeRecorder};
use pcstore::vulkan::ash::vk::{self, Handle};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use serde_json::Value;

/// Compute pipelines recorded: one module and layout, different specialization constants.
const PIPELINES: u32 = 3;

/// A scratch store directory (mode 0700: a store refuses one others may write in), removed on
/// drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("pcstore-cli-replay-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

/// Records `PIPELINES` compute pipelines of tests/recipe_shaders/scene.comp into the store at
/// `dir`, with made-up handles (a recorder needs only create-infos), and publishes them. With
/// `push_constants` false their layout lacks the push-constant range the shader uses: invalid
/// usage that drivers compile anyway and the validation layer reports.
fn record(dir: &Path, push_constants: bool) {
    let store: Arc<dyn PipelineCacheStore> = Arc::new(DiskCache::new(dir).expect("disk store"));
    let cache = CacheTarget {
        key: PipelineFingerprint::of(b"pcstore cli replay test cache"),
        namespace: b"replaytest".to_vec(),
        scheme: NamespaceScheme::WithDeviceName,
    };
    let device = DeviceRecipe {
        api_version: vk::API_VERSION_1_0,
        extensions: Vec::new(),
        features: Vec::new(),
        unrecognized: Vec::new(),
    };
    let identity = b"replaytest\0Replay Test\0\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let recorder = RecipeRecorder::new(Arc::clone(&store), identity, cache, &device);

    let spirv = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/recipe_shaders/scene.comp.spv"),
    )
    .expect("tests/recipe_shaders/scene.comp.spv");
    let words: Vec<u32> = spirv
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes(word.try_into().unwrap()))
        .collect();
    let module = vk::ShaderModule::from_raw(1);
    // SAFETY: a valid create-info over `words`.
    unsafe { recorder.shader_module(module, &vk::ShaderModuleCreateInfo::default().code(&words)) }
        .expect("module recorded");

    let bindings = [vk::DescriptorSetLayoutBinding::default()
        .binding(0)
        .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
        .descriptor_count(1)
        .stage_flags(vk::ShaderStageFlags::COMPUTE)];
    let set_layout = vk::DescriptorSetLayout::from_raw(2);
    // SAFETY: a valid create-info.
    unsafe {
        recorder.descriptor_set_layout(
            set_layout,
            &vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings),
        )
    }
    .expect("set layout recorded");

    let set_layouts = [set_layout];
    let push_constant_ranges = [vk::PushConstantRange::default()
        .stage_flags(vk::ShaderStageFlags::COMPUTE)
        .size(8)];
    let push_constant_ranges = if push_constants {
        &push_constant_ranges[..]
    } else {
        &[]
    };
    let layout = vk::PipelineLayout::from_raw(3);
    // SAFETY: a valid create-info naming the recorded set layout.
    unsafe {
        recorder.pipeline_layout(
            layout,
            &vk::PipelineLayoutCreateInfo::default()
                .set_layouts(&set_layouts)
                .push_constant_ranges(push_constant_ranges),
        )
    }
    .expect("layout recorded");

    let entries = [vk::SpecializationMapEntry::default().constant_id(0).size(4)];
    for seed in 1..=PIPELINES {
        let data = seed.to_le_bytes();
        let specialization = vk::SpecializationInfo::default()
            .map_entries(&entries)
            .data(&data);
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main")
            .specialization_info(&specialization);
        let info = vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(layout);
        // SAFETY: a valid create-info naming the recorded module and layout.
        unsafe { recorder.compute_pipeline(&info) }.expect("pipeline recorded");
    }
    recorder.flush();
    store.flush().expect("store flushed");
}

fn replay(dir: &Path, icd: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcstore"))
        .args(["replay", "--json", "--workers", "2", "--dir"])
        .arg(dir)
        .args(extra)
        // Only lavapipe, whatever else the machine has (both loader generations' names).
        .env("VK_DRIVER_FILES", icd)
        .env("VK_ICD_FILENAMES", icd)
        .output()
        .expect("pcstore runs")
}

/// The JSON lines of a successful run: progress steps, then the report.
fn json_lines(output: &Output) -> (Vec<Value>, Value) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines: Vec<Value> = String::from_utf8(output.stdout.clone())
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON value per line"))
        .collect();
    let report = lines.pop().expect("a report line");
    (lines, report)
}

#[test]
fn replay_creates_every_recorded_pipeline_then_if_needed_does_nothing() {
    let Some(icd) = lavapipe() else { return };
    let scratch = Scratch::new("twice");
    record(&scratch.0, true);

    let (steps, report) = json_lines(&replay(&scratch.0, &icd, &["--validate"]));
    let total = PIPELINES as u64;
    assert_eq!(steps.len() as u64, total, "{steps:?}");
    assert!(steps
        .iter()
        .all(|step| step["total"] == total && step["application"] == "replaytest"));
    assert_eq!(steps.last().unwrap()["done"], total);
    let applications = report["applications"].as_array().expect("applications");
    assert_eq!(applications.len(), 1, "{report}");
    let first = &applications[0];
    assert_eq!(first["name"], "replaytest");
    assert_eq!(first["recorded"], total, "{report}");
    assert_eq!(first["created"], total, "{report}");
    assert_eq!(first["already_replayed"], 0, "{report}");
    for bad in [
        "crashed",
        "timed_out",
        "driver_failed",
        "unbuildable",
        "unsupported",
    ] {
        assert_eq!(first[bad], Value::Array(Vec::new()), "{bad}: {report}");
    }
    assert!(
        first["saved_bytes"].as_u64().expect("saved_bytes") > 0,
        "{report}"
    );
    assert_eq!(first["validation_errors"], 0, "{report}");

    let (steps, report) = json_lines(&replay(&scratch.0, &icd, &["--if-needed"]));
    assert!(steps.is_empty(), "{steps:?}");
    let second = &report["applications"][0];
    assert_eq!(second["recorded"], total, "{report}");
    assert_eq!(second["created"], 0, "{report}");
    assert_eq!(second["already_replayed"], total, "{report}");
}

/// `--validate` runs the workers under `VK_LAYER_KHRONOS_validation` and reports the errors
/// it counts: pipelines whose layout lacks the shader's push constants give at least one each
/// (the driver still creates them).
#[test]
fn replay_with_validation_reports_the_errors_of_invalid_pipelines() {
    let Some(icd) = lavapipe() else { return };
    let scratch = Scratch::new("invalid");
    record(&scratch.0, false);

    let (_, report) = json_lines(&replay(&scratch.0, &icd, &["--validate"]));
    let replayed = &report["applications"][0];
    assert_eq!(replayed["created"], u64::from(PIPELINES), "{report}");
    let errors = replayed["validation_errors"]
        .as_u64()
        .expect("validation_errors");
    assert!(errors >= u64::from(PIPELINES), "{report}");

    // Without --validate nothing is checked, so nothing is counted.
    let (_, report) = json_lines(&replay(&scratch.0, &icd, &[]));
    assert_eq!(
        report["applications"][0]["validation_errors"], 0,
        "{report}"
    );
}

/// An existing but empty directory (a store never written, or a mistyped `--dir` that
/// happens to exist): nothing to replay is reported, and nothing is created there.
#[test]
fn replay_of_a_store_without_recipes_fails_with_a_reason() {
    let scratch = Scratch::new("empty");
    let output = Command::new(env!("CARGO_BIN_EXE_pcstore"))
        .args(["replay", "--dir"])
        .arg(&scratch.0)
        .output()
        .expect("pcstore runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("pcstore: no recorded applications in ") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let created: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(created.is_empty(), "files created: {created:?}");
}
