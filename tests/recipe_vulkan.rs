//! Recipes on real drivers (Mesa lavapipe and SwiftShader), with the Khronos validation layer
//! on and any validation error failing the run.
//!
//! Per driver, two child processes of this binary:
//! - `record`: creates the scene of tests/recipe_support (render passes of both APIs with
//!   several subpasses, dynamic rendering, vertex bindings, immutable samplers,
//!   specialization and push constants...) on a device with the features it needs, records
//!   every object as the layer will, and stores the recipes, the device recipe, the
//!   application record and the catalog in a disk store;
//! - `replay`: a fresh process that finds everything through the catalog, checks each recipe
//!   against its key, creates the device from the device recipe and every object from its
//!   recipe, and records the rebuilt create-infos again: every key must come out the same.
//!
//! What each driver's scene contains is fixed per driver (SwiftShader lacks tessellation, vertex
//! attribute divisors, color write enable and min/max samplers; lavapipe lacks partially bound
//! descriptors): a driver missing a feature its scene uses fails the test, nothing is skipped.
//! `PCSTORE_SKIP_VULKAN_TESTS=1` is the explicit opt-out (CI never sets it).
//!
//! Then the replayer (`pcstore::recipe::replay`): `replay-twice` (in process, twice into one
//! cache: SwiftShader reports a hit for every pipeline the second time), `replay-isolated`
//! (worker processes, under a test layer that aborts in one pipeline and hangs in another)
//! and `replay-in-process` (cancelled, then finished by a second run). Those two run the
//! replayer with its own validation on (`ReplayOptions::validation`): the errors the workers
//! and the replaying process count must be zero too.
//!
//! One trial per driver and step ("lavapipe/record", "lavapipe/replay"), with cargo's usual
//! arguments (tests/support/trials.rs); a replay records first when the filter left its
//! recording out.

#[path = "support/break_hook.rs"]
mod break_hook;
#[path = "support/trials.rs"]
mod trials;
#[path = "support/vk_harness.rs"]
mod vk_harness;

mod recipe_support;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pcstore::recipe::replay::{
    replay_application, replay_application_in_process, run_worker, InProcessOptions,
    PipelineReplayer, RecipeSet, ReplayInstance, ReplayOptions, ReplayProgress, WorkerCommand,
    WORKER_ARG,
};
use pcstore::recipe::{
    AnyRecipe, ApplicationRecord, CacheTarget, Catalog, ComputePipelineRecipe,
    DescriptorSetLayoutRecipe, DeviceRecipe, GraphicsPipelineRecipe, HandleMap, KeyMap,
    NamespaceScheme, PipelineLayoutRecipe, Recipe, RecipeKey, RecipeKind, RenderPassBuild,
    RenderPassRecipe, SamplerRecipe, ShaderModuleRecipe,
};
use pcstore::vulkan::ash::{self, vk};
use pcstore::vulkan::{
    application_label, Label, LoadOutcome, SaveOutcome, VulkanContext, VulkanOptions,
};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use recipe_support::{create_scene, scene_pipeline_count, Creator, Recorder, SceneOptions};
use trials::{ChildScenario, Trials};
use vk_harness::DRIVER_NAMES;

const CHILD_FLAG: &str = "--pcstore-child";
const IDENTITY: &[u8] = b"recipe_vulkan\0pcstore recipe test\0\x01\0\0\0\0\0\0\0\0\0";

static VALIDATION_ERRORS: AtomicU64 = AtomicU64::new(0);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == WORKER_ARG) {
        // A replay worker, below it the test layer that breaks chosen pipelines.
        let get_instance_proc_addr =
            break_hook::install(vk_harness::system_get_instance_proc_addr());
        // SAFETY: the loader's entry point, wrapped by the test layer.
        std::process::exit(unsafe { run_worker(get_instance_proc_addr) });
    }
    if let Some(at) = args.iter().position(|a| a == CHILD_FLAG) {
        let scenario = args.get(at + 1).expect("scenario name");
        let dir = PathBuf::from(args.get(at + 2).expect("scenario folder"));
        let summary = match scenario.as_str() {
            "record" => record(&dir),
            "replay" => replay(&dir),
            "replay-twice" => replay_twice(&dir),
            "replay-isolated" => replay_isolated(&dir),
            "replay-in-process" => replay_in_process(&dir),
            other => panic!("unknown scenario {other}"),
        };
        let errors = VALIDATION_ERRORS.load(Ordering::SeqCst);
        assert_eq!(errors, 0, "{errors} validation errors (see stderr)");
        println!("{summary}; 0 validation errors");
        return;
    }
    let base = std::env::temp_dir().join(format!("pcstore-recipe-vulkan-{}", std::process::id()));
    let step = |driver: usize, scenario: &'static str| ChildScenario {
        driver,
        scenario,
        dir: base.join(DRIVER_NAMES[driver]),
        xdg_cache: base.join("xdg"),
    };
    let mut plan = Vec::new();
    for driver in 0..DRIVER_NAMES.len() {
        plan.push((step(driver, "record"), None));
        plan.push((step(driver, "replay"), Some(step(driver, "record"))));
        plan.push((step(driver, "replay-twice"), Some(step(driver, "record"))));
        plan.push((
            step(driver, "replay-isolated"),
            Some(step(driver, "record")),
        ));
        plan.push((
            step(driver, "replay-in-process"),
            Some(step(driver, "record")),
        ));
    }
    let mut trials = Trials::from_args();
    trials.add_child_scenarios(CHILD_FLAG, plan);
    trials.run_and_exit(|| {
        let _ = std::fs::remove_dir_all(&base);
    });
}

// ---------------------------------------------------------------------------------------------
// The driver: an API 1.3 instance with validation, and what each driver's scene uses.

unsafe extern "system" fn count_messages(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    _user: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes valid callback data with a NUL-terminated message for the call.
    let message = unsafe {
        data.as_ref()
            .and_then(|d| (!d.p_message.is_null()).then(|| CStr::from_ptr(d.p_message)))
            .map(|m| m.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
        VALIDATION_ERRORS.fetch_add(1, Ordering::SeqCst);
        eprintln!("VALIDATION ERROR: {message}");
    } else {
        eprintln!("validation warning: {message}");
    }
    vk::FALSE
}

struct Instance {
    instance: ash::Instance,
    debug_utils: ash::ext::debug_utils::Instance,
    messenger: vk::DebugUtilsMessengerEXT,
    physical_device: vk::PhysicalDevice,
    queue_family: u32,
}

impl Instance {
    fn new() -> Self {
        // SAFETY: a valid GIPA from the system loader.
        let entry = unsafe {
            ash::Entry::from_static_fn(ash::StaticFn {
                get_instance_proc_addr: vk_harness::system_get_instance_proc_addr(),
            })
        };
        let app = vk::ApplicationInfo::default()
            .application_name(c"pcstore recipe test")
            .api_version(vk::API_VERSION_1_3);
        let layers = [c"VK_LAYER_KHRONOS_validation".as_ptr()];
        let extensions = [ash::ext::debug_utils::NAME.as_ptr()];
        let mut messenger_info = vk::DebugUtilsMessengerCreateInfoEXT::default()
            .message_severity(
                vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                    | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING,
            )
            .message_type(
                vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                    | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION,
            )
            .pfn_user_callback(Some(count_messages));
        let info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layers)
            .enabled_extension_names(&extensions)
            .push_next(&mut messenger_info);
        // SAFETY: valid create info; destroyed in Drop.
        let instance = unsafe { entry.create_instance(&info, None) }
            .expect("vkCreateInstance with VK_LAYER_KHRONOS_validation");
        let debug_utils = ash::ext::debug_utils::Instance::new(&entry, &instance);
        // SAFETY: valid instance and create info.
        let messenger = unsafe { debug_utils.create_debug_utils_messenger(&messenger_info, None) }
            .expect("messenger");
        // SAFETY: valid instance.
        let physical_device = *unsafe { instance.enumerate_physical_devices() }
            .expect("physical devices")
            .first()
            .expect("no physical device: is VK_DRIVER_FILES pointing at a driver?");
        // SAFETY: valid physical device.
        let families =
            unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
        let queue_family = families
            .iter()
            .position(|f| {
                f.queue_flags
                    .contains(vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE)
            })
            .expect("graphics and compute queue family") as u32;
        Self {
            instance,
            debug_utils,
            messenger,
            physical_device,
            queue_family,
        }
    }

    /// The smallest subgroup size compute may require.
    fn min_subgroup_size(&self) -> u32 {
        let mut vulkan13 = vk::PhysicalDeviceVulkan13Properties::default();
        let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut vulkan13);
        // SAFETY: valid physical device and chain.
        unsafe {
            self.instance
                .get_physical_device_properties2(self.physical_device, &mut properties)
        };
        assert!(vulkan13
            .required_subgroup_size_stages
            .contains(vk::ShaderStageFlags::COMPUTE));
        vulkan13.min_subgroup_size
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: every device of this instance was destroyed before.
        unsafe {
            self.debug_utils
                .destroy_debug_utils_messenger(self.messenger, None);
            self.instance.destroy_instance(None);
        }
    }
}

fn driver_name() -> String {
    std::env::var("PCSTORE_TEST_DRIVER").expect("PCSTORE_TEST_DRIVER")
}

/// The scene each driver runs: what it lacks is left out by name, never by probing.
fn scene_options(subgroup_size: u32) -> SceneOptions {
    let lavapipe = match driver_name().as_str() {
        "lavapipe" => true,
        "swiftshader" => false,
        other => panic!("unknown driver {other}"),
    };
    SceneOptions {
        subgroup_size,
        min_max_reduction: lavapipe,
        partially_bound: !lavapipe,
        divisors: lavapipe,
        tessellation: lavapipe,
        color_write: lavapipe,
    }
}

/// Creates the device the scene needs, as an application would, and records it.
fn create_device(instance: &Instance, options: &SceneOptions) -> (ash::Device, DeviceRecipe) {
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
    let priorities = [1.0f32];
    let queues = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(instance.queue_family)
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
    assert!(recipe.unrecognized.is_empty(), "{:?}", recipe.unrecognized);
    // SAFETY: valid physical device and create-info; destroyed by the caller.
    let device = unsafe {
        instance
            .instance
            .create_device(instance.physical_device, &info, None)
    }
    .expect("vkCreateDevice with the scene's features");
    (device, recipe)
}

// ---------------------------------------------------------------------------------------------
// Recording: the scene created on the driver, recorded as the layer will.

/// Objects to destroy, in reverse creation order.
#[derive(Default)]
struct Created {
    pipelines: Vec<vk::Pipeline>,
    render_passes: Vec<vk::RenderPass>,
    pipeline_layouts: Vec<vk::PipelineLayout>,
    set_layouts: Vec<vk::DescriptorSetLayout>,
    samplers: Vec<vk::Sampler>,
    modules: Vec<vk::ShaderModule>,
}

impl Created {
    fn destroy(self, device: &ash::Device) {
        // SAFETY: objects of `device`, none in use.
        unsafe {
            for pipeline in self.pipelines {
                device.destroy_pipeline(pipeline, None);
            }
            for render_pass in self.render_passes {
                device.destroy_render_pass(render_pass, None);
            }
            for layout in self.pipeline_layouts {
                device.destroy_pipeline_layout(layout, None);
            }
            for layout in self.set_layouts {
                device.destroy_descriptor_set_layout(layout, None);
            }
            for sampler in self.samplers {
                device.destroy_sampler(sampler, None);
            }
            for module in self.modules {
                device.destroy_shader_module(module, None);
            }
        }
    }
}

struct OnDriver<'a> {
    device: &'a ash::Device,
    recorder: Recorder,
    created: Created,
}

impl Creator for OnDriver<'_> {
    recipe_support::objects_created_and_recorded!(created);
    fn compute_pipelines(&mut self, infos: &[vk::ComputePipelineCreateInfo<'_>]) {
        // SAFETY: a valid create-info from the scene, on the live device with its features.
        let pipelines = unsafe {
            self.device
                .create_compute_pipelines(vk::PipelineCache::null(), infos, None)
        }
        .map_err(|(_, error)| error)
        .expect("compute pipelines");
        self.created.pipelines.extend(pipelines);
        for info in infos {
            // SAFETY: a create-info the driver just accepted, still valid.
            unsafe { self.recorder.compute_pipeline(info) }.expect("recorded");
        }
    }
    fn graphics_pipelines(&mut self, infos: &[vk::GraphicsPipelineCreateInfo<'_>]) {
        // SAFETY: a valid create-info from the scene, on the live device with its features.
        let pipelines = unsafe {
            self.device
                .create_graphics_pipelines(vk::PipelineCache::null(), infos, None)
        }
        .map_err(|(_, error)| error)
        .expect("graphics pipelines");
        self.created.pipelines.extend(pipelines);
        for info in infos {
            // SAFETY: a create-info the driver just accepted, still valid.
            unsafe { self.recorder.graphics_pipeline(info) }.expect("recorded");
        }
    }
}

fn cache_target() -> CacheTarget {
    CacheTarget {
        key: PipelineFingerprint::of(b"pcstore recipe test cache"),
        namespace: IDENTITY.to_vec(),
        scheme: NamespaceScheme::WithDeviceName,
    }
}

fn record(dir: &Path) -> String {
    let instance = Instance::new();
    let options = scene_options(instance.min_subgroup_size());
    let (device, device_recipe) = create_device(&instance, &options);
    let mut driver = OnDriver {
        device: &device,
        recorder: Recorder::default(),
        created: Created::default(),
    };
    create_scene(&mut driver, &options);
    let OnDriver {
        recorder, created, ..
    } = driver;
    created.destroy(&device);
    // SAFETY: nothing of the device is in use.
    unsafe { device.destroy_device(None) };
    assert_eq!(recorder.pipelines.len(), scene_pipeline_count(&options));

    // Into the store, as the layer will put them.
    let store = DiskCache::new(dir.join("store")).expect("disk store");
    let mut bytes_total = 0;
    for (key, bytes) in &recorder.recipes {
        bytes_total += bytes.len();
        store
            .try_put(key.fingerprint(), bytes.clone())
            .expect("put recipe");
    }
    let device_key = device_recipe.key();
    store
        .try_put(device_key.fingerprint(), device_recipe.to_bytes())
        .expect("put device");
    let mut application = ApplicationRecord::new(IDENTITY.to_vec(), cache_target());
    for pipeline in &recorder.pipelines {
        application.insert(device_key, *pipeline);
    }
    store
        .try_put(
            application.store_key().fingerprint(),
            application.to_bytes(),
        )
        .expect("put application");
    let mut catalog = Catalog::default();
    catalog.applications.insert(application.store_key());
    store
        .try_put(Catalog::store_key().fingerprint(), catalog.to_bytes())
        .expect("put catalog");
    store.flush().expect("flush");
    format!(
        "{} objects recorded as {} recipes ({bytes_total} bytes), {} distinct pipelines",
        recorder.objects,
        recorder.recipes.len(),
        application.pipelines[&device_key].len()
    )
}

// ---------------------------------------------------------------------------------------------
// Replay: a fresh process rebuilds everything from the store.

/// The recipe stored under `key`, checked against the key.
fn fetch(store: &dyn PipelineCacheStore, key: &RecipeKey) -> Vec<u8> {
    let bytes = store
        .get(&key.fingerprint())
        .expect("a referenced recipe is stored");
    assert_eq!(RecipeKey::of(&bytes), *key, "stored bytes match their key");
    bytes
}

/// Every recipe `roots` need, by kind, following references.
fn closure(store: &DiskCache, roots: &BTreeSet<RecipeKey>) -> BTreeMap<RecipeKey, AnyRecipe> {
    let mut found = BTreeMap::new();
    let mut pending: Vec<RecipeKey> = roots.iter().copied().collect();
    while let Some(key) = pending.pop() {
        if found.contains_key(&key) {
            continue;
        }
        let recipe = AnyRecipe::from_bytes(&fetch(store, &key)).expect("parses");
        pending.extend(recipe.references());
        found.insert(key, recipe);
    }
    found
}

fn replay(dir: &Path) -> String {
    let store = DiskCache::new(dir.join("store")).expect("disk store");
    let catalog = Catalog::from_bytes(
        &store
            .get(&Catalog::store_key().fingerprint())
            .expect("catalog stored"),
    )
    .expect("catalog parses");
    assert_eq!(catalog.applications.len(), 1);
    let application_key = *catalog.applications.first().expect("one application");
    let application = ApplicationRecord::from_bytes(
        &store
            .get(&application_key.fingerprint())
            .expect("application stored"),
    )
    .expect("application parses");
    assert_eq!(application.store_key(), application_key);
    assert_eq!(application.identity, IDENTITY);
    let (device_key, pipeline_keys) = application
        .pipelines
        .iter()
        .next()
        .expect("one device recorded");
    let device_recipe = DeviceRecipe::from_bytes(&fetch(&store, device_key)).expect("device");

    let instance = Instance::new();
    let priorities = [1.0f32];
    let queues = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(instance.queue_family)
        .queue_priorities(&priorities)];
    let device_build = device_recipe.build().expect("device build");
    // SAFETY: valid physical device; the create-info lives as long as `device_build`.
    let device = unsafe {
        instance.instance.create_device(
            instance.physical_device,
            &device_build.create_info(&queues),
            None,
        )
    }
    .expect("vkCreateDevice from the device recipe");

    let recipes = closure(&store, pipeline_keys);
    let mut handles = HandleMap::default();
    let mut keys = KeyMap::new();
    let mut created = Created::default();
    let mut same_keys = 0;
    let mut check = |key: &RecipeKey, again: Vec<u8>| {
        assert_eq!(
            RecipeKey::of(&again),
            *key,
            "a replayed object recorded differently"
        );
        same_keys += 1;
    };
    let of_kind = |kind: RecipeKind| {
        recipes
            .iter()
            .filter(move |(_, recipe)| recipe.kind() == kind)
    };
    // SAFETY: every creation and capture below reads a create-info from a builder alive for
    // the call, on the live replay device; handles come from this device.
    unsafe {
        for (key, recipe) in of_kind(RecipeKind::ShaderModule) {
            let AnyRecipe::ShaderModule(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build().expect("build");
            let handle = device
                .create_shader_module(build.create_info(), None)
                .expect("module");
            created.modules.push(handle);
            handles.shader_modules.insert(*key, handle);
            keys.insert_shader_module(handle, *key);
            check(
                key,
                ShaderModuleRecipe::capture(build.create_info())
                    .expect("again")
                    .to_bytes(),
            );
        }
        for (key, recipe) in of_kind(RecipeKind::Sampler) {
            let AnyRecipe::Sampler(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build();
            let handle = device
                .create_sampler(build.create_info(), None)
                .expect("sampler");
            created.samplers.push(handle);
            handles.samplers.insert(*key, handle);
            keys.insert_sampler(handle, *key);
            check(
                key,
                SamplerRecipe::capture(build.create_info())
                    .expect("again")
                    .to_bytes(),
            );
        }
        for (key, recipe) in of_kind(RecipeKind::DescriptorSetLayout) {
            let AnyRecipe::DescriptorSetLayout(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build(&handles).expect("build");
            let handle = device
                .create_descriptor_set_layout(build.create_info(), None)
                .expect("set layout");
            created.set_layouts.push(handle);
            handles.descriptor_set_layouts.insert(*key, handle);
            keys.insert_descriptor_set_layout(handle, *key);
            let again = DescriptorSetLayoutRecipe::capture(build.create_info(), &keys);
            check(key, again.expect("again").to_bytes());
        }
        for (key, recipe) in of_kind(RecipeKind::PipelineLayout) {
            let AnyRecipe::PipelineLayout(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build(&handles).expect("build");
            let handle = device
                .create_pipeline_layout(build.create_info(), None)
                .expect("layout");
            created.pipeline_layouts.push(handle);
            handles.pipeline_layouts.insert(*key, handle);
            keys.insert_pipeline_layout(handle, *key);
            let again = PipelineLayoutRecipe::capture(build.create_info(), &keys);
            check(key, again.expect("again").to_bytes());
        }
        for (key, recipe) in of_kind(RecipeKind::RenderPass) {
            let AnyRecipe::RenderPass(recipe) = recipe else {
                unreachable!()
            };
            let (handle, again) = match recipe.build().expect("build") {
                RenderPassBuild::V1(build) => (
                    device.create_render_pass(build.create_info(), None),
                    RenderPassRecipe::capture(build.create_info()),
                ),
                RenderPassBuild::V2(build) => (
                    device.create_render_pass2(build.create_info(), None),
                    RenderPassRecipe::capture2(build.create_info()),
                ),
            };
            let handle = handle.expect("render pass");
            created.render_passes.push(handle);
            handles.render_passes.insert(*key, handle);
            keys.insert_render_pass(handle, recipe);
            check(key, again.expect("again").to_bytes());
        }
        for (key, recipe) in of_kind(RecipeKind::ComputePipeline) {
            let AnyRecipe::ComputePipeline(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build(&handles).expect("build");
            let pipeline = device
                .create_compute_pipelines(vk::PipelineCache::null(), &[*build.create_info()], None)
                .map_err(|(_, error)| error)
                .expect("compute pipeline");
            created.pipelines.extend(pipeline);
            let again = ComputePipelineRecipe::capture(build.create_info(), &keys);
            check(key, again.expect("again").recipe.to_bytes());
        }
        for (key, recipe) in of_kind(RecipeKind::GraphicsPipeline) {
            let AnyRecipe::GraphicsPipeline(recipe) = recipe else {
                unreachable!()
            };
            let build = recipe.build(&handles).expect("build");
            let pipeline = device
                .create_graphics_pipelines(vk::PipelineCache::null(), &[*build.create_info()], None)
                .map_err(|(_, error)| error)
                .expect("graphics pipeline");
            created.pipelines.extend(pipeline);
            let again = GraphicsPipelineRecipe::capture(build.create_info(), &keys);
            check(key, again.expect("again").recipe.to_bytes());
        }
    }
    let pipelines = created.pipelines.len();
    assert_eq!(
        pipelines,
        pipeline_keys.len(),
        "every recorded pipeline replayed"
    );
    assert_eq!(same_keys, recipes.len());
    created.destroy(&device);
    // SAFETY: nothing of the device is in use.
    unsafe { device.destroy_device(None) };
    drop(device_build);
    format!(
        "{} recipes replayed ({pipelines} pipelines) on a device from its recipe; every rebuilt \
         create-info recorded the same key",
        recipes.len()
    )
}

// ---------------------------------------------------------------------------------------------
// The replayer (pcstore::recipe::replay): in process, and in crash-isolated workers.

/// The application record `record` stored, and its pipelines.
fn recorded_application(store: &dyn PipelineCacheStore) -> (RecipeKey, ApplicationRecord) {
    let key = ApplicationRecord::store_key_for(IDENTITY, &cache_target());
    let bytes = store.get(&key.fingerprint()).expect("application stored");
    (key, ApplicationRecord::from_bytes(&bytes).expect("parses"))
}

/// Every pipeline created twice into one cache, in process: the second time, SwiftShader's
/// creation feedback must report a hit in the application cache for every one (the rebuilt
/// state is identical each time, down to what the driver hashes). (The first pass may hit
/// too: pipelines of the scene that differ only in state SwiftShader does not compile in.)
fn replay_twice(dir: &Path) -> String {
    let store = DiskCache::new(dir.join("store")).expect("disk store");
    let (_, application) = recorded_application(&store);
    let (device_key, pipelines) = application.pipelines.iter().next().expect("one device");
    let device_recipe = DeviceRecipe::from_bytes(&fetch(&store, device_key)).expect("device");
    let (recipes, unavailable) = RecipeSet::fetch(&store, pipelines.iter().copied());
    assert!(unavailable.is_empty(), "{unavailable:?}");
    // SAFETY: the loader's entry point.
    let instance = unsafe {
        ReplayInstance::with_validation(
            vk_harness::system_get_instance_proc_addr(),
            device_recipe.api_version,
            0,
            true,
        )
    }
    .expect("instance with validation");
    let device = instance
        .create_device(Some(&device_recipe))
        .expect("the recorded device");
    assert!(device.creation_feedback, "Vulkan 1.3 has creation feedback");
    let cache = device.create_cache(&[]).expect("cache");
    let mut replayer = PipelineReplayer::new(&device, &recipes);
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut hits = 0;
        for pipeline in pipelines {
            // SAFETY: a live device and a cache only this thread uses.
            let created = unsafe { replayer.create(pipeline, cache) }.expect("replayed");
            assert_eq!(created.result, vk::Result::SUCCESS, "{pipeline}");
            assert!(created.cache_hit.is_some(), "feedback is valid");
            hits += usize::from(created.cache_hit == Some(true));
        }
        passes.push(hits);
    }
    // SAFETY: nothing is in use.
    unsafe {
        replayer.destroy();
        device.device.destroy_pipeline_cache(cache, None);
        device.destroy();
    }
    assert_eq!(
        instance.validation_errors(),
        0,
        "validation errors (see stderr)"
    );
    assert!(
        passes[0] < pipelines.len(),
        "the first pass compiled something"
    );
    // lavapipe (Mesa 22.3 up to 26.2) keeps no pipelines in its cache and never reports a hit;
    // SwiftShader does, within one process.
    if driver_name() == "swiftshader" {
        assert_eq!(
            passes[1],
            pipelines.len(),
            "the second replay into the same cache hits for every pipeline"
        );
    }
    format!(
        "{} pipelines replayed twice into one cache: {} hits, then {}",
        pipelines.len(),
        passes[0],
        passes[1]
    )
}

/// Workers of this binary under the test layer of tests/support/break_hook.rs, which aborts
/// in one chosen pipeline and hangs in another: the replay completes every other pipeline,
/// records the two as bad, saves the cache where the application's next launch loads it; a
/// second replay skips the two, and one with `if_needed` has nothing left to do.
fn replay_isolated(dir: &Path) -> String {
    let store: Arc<dyn PipelineCacheStore> =
        Arc::new(DiskCache::new(dir.join("store")).expect("disk store"));
    let (application_key, application) = recorded_application(store.as_ref());
    let (device_key, pipelines) = application.pipelines.iter().next().expect("one device");
    let device_recipe =
        DeviceRecipe::from_bytes(&fetch(store.as_ref(), device_key)).expect("device");
    let all: Vec<RecipeKey> = pipelines.iter().copied().collect();
    let (aborting, hanging) = (all[0], all[all.len() / 2]);
    // Read by the test layer in the workers, which inherit the environment.
    std::env::set_var("PCSTORE_TEST_ABORT_PIPELINE", aborting.to_string());
    std::env::set_var("PCSTORE_TEST_HANG_PIPELINE", hanging.to_string());
    let mut options = ReplayOptions::new(WorkerCommand::current_exe().expect("own path"));
    options.workers = 2;
    // The workers' validation errors are counted in the summary, required to be zero.
    options.validation = true;
    // The hang is only detected by this timeout; every real pipeline here takes milliseconds.
    options.pipeline_timeout = Duration::from_secs(10);
    let get_instance_proc_addr = vk_harness::system_get_instance_proc_addr();
    let replay = |options: &ReplayOptions| {
        let mut steps: Vec<ReplayProgress> = Vec::new();
        // SAFETY: the loader's entry point; the workers (this binary) run on the same loader.
        let summary = unsafe {
            replay_application(
                &store,
                get_instance_proc_addr,
                &application_key,
                options,
                &mut |step| steps.push(*step),
            )
        }
        .expect("replay");
        assert!(
            summary.driver_failed.is_empty()
                && summary.unbuildable.is_empty()
                && summary.unsupported.is_empty(),
            "{summary:?}"
        );
        assert_eq!(summary.validation_errors, 0, "{summary:?}");
        (summary, steps)
    };

    let (first, steps) = replay(&options);
    assert_eq!(first.recorded, all.len());
    assert_eq!(first.crashed, [aborting], "{first:?}");
    assert_eq!(first.timed_out, [hanging], "{first:?}");
    assert_eq!(first.created, all.len() - 2, "{first:?}");
    // Restarted only while pipelines were left, so one or two (which died last is timing).
    assert!((1..=2).contains(&first.worker_restarts), "{first:?}");
    assert_eq!(first.saves.len(), 1);
    assert_eq!(first.saves[0].outcome, SaveOutcome::Stored);
    assert!(steps.windows(2).all(|pair| pair[0].done <= pair[1].done));
    let last = steps.last().expect("progress reported");
    assert_eq!((last.done, last.total), (all.len(), all.len()));

    let (second, _) = replay(&options);
    assert_eq!(second.skipped_bad, 2, "{second:?}");
    assert!(
        second.crashed.is_empty() && second.timed_out.is_empty(),
        "{second:?}"
    );
    assert_eq!(second.created, all.len() - 2);
    assert_eq!(second.worker_restarts, 0);

    options.if_needed = true;
    // Nothing new: no worker may even start (workers otherwise start early, beside the
    // replaying process's own setup). One that cannot be started fails the replay if tried.
    options.worker.program = dir.join("no-such-worker");
    let (third, steps) = replay(&options);
    assert_eq!(third.already_replayed, all.len() - 2, "{third:?}");
    assert_eq!(third.skipped_bad, 2);
    assert_eq!(third.created, 0);
    assert!(third.saves.is_empty() && steps.is_empty(), "{third:?}");

    // The next launch: the application's cache key on this driver holds the replayed cache.
    // SAFETY: the loader's entry point.
    let instance =
        unsafe { ReplayInstance::new(get_instance_proc_addr, device_recipe.api_version, 0) }
            .expect("instance");
    let device = instance.create_device(None).expect("device");
    let target = cache_target();
    // SAFETY: the device and instance outlive the context.
    let context = unsafe {
        VulkanContext::new(
            Arc::clone(&store),
            instance.device_info(&device),
            VulkanOptions {
                namespace: target.namespace_for(instance.device_name()),
                ..VulkanOptions::default()
            },
        )
    }
    .expect("context");
    // SAFETY: a live device.
    let (cache, load) = unsafe { context.load_pipeline_cache(&target.key, None) }.expect("load");
    assert_eq!(load.outcome, LoadOutcome::Hit, "{load:?}");
    // The replay's save labelled the identity with the recorded application, not with the
    // process that replayed (tools show it, staleness is judged by it).
    let application = application_label(IDENTITY);
    assert_eq!(application, "recipe_vulkan (pcstore recipe test)");
    let label = store
        .get(&Label::key(context.identity(), &application))
        .and_then(|bytes| Label::from_bytes(&bytes))
        .expect("the replay labelled the identity with the recorded application");
    assert_eq!(label.application, application);
    drop(context);
    // SAFETY: nothing is in use.
    unsafe {
        device.device.destroy_pipeline_cache(cache, None);
        device.destroy();
    }
    format!(
        "{} pipelines: {} replayed by workers, 1 abort and 1 hang isolated and marked bad \
         ({} worker restarts); then {} replayed with both skipped; then nothing to do; the \
         next launch loads a warm cache",
        all.len(),
        first.created,
        first.worker_restarts,
        second.created
    )
}

/// The in-process replay an engine runs during a loading screen: cancelled after two
/// pipelines it saves those two; the next run (`if_needed`) does only the rest.
fn replay_in_process(dir: &Path) -> String {
    // A store of its own: replay-isolated replays into the recorded one.
    let recorded = DiskCache::new(dir.join("store")).expect("disk store");
    let store: Arc<dyn PipelineCacheStore> = Arc::new(pcstore::InMemoryPipelineCache::new());
    let (application_key, application) = recorded_application(&recorded);
    let (device_key, pipelines) = application.pipelines.iter().next().expect("one device");
    // Copied with what they refer to, as a remote tier or a bundle would bring them.
    let mut pending: Vec<RecipeKey> = vec![application_key, *device_key];
    pending.extend(pipelines.iter().copied());
    while let Some(key) = pending.pop() {
        let bytes = recorded.get(&key.fingerprint()).expect("stored");
        if let Ok(recipe) = AnyRecipe::from_bytes(&bytes) {
            pending.extend(recipe.references());
        }
        store.put(key.fingerprint(), bytes);
    }
    let get_instance_proc_addr = vk_harness::system_get_instance_proc_addr();
    let cancel = AtomicBool::new(false);
    let options = InProcessOptions {
        validation: true,
        ..InProcessOptions::default()
    };
    // SAFETY: the loader's entry point.
    let first = unsafe {
        replay_application_in_process(
            &store,
            get_instance_proc_addr,
            &application_key,
            &options,
            &mut |step| {
                if step.done == 2 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &|| cancel.load(Ordering::Relaxed),
        )
    }
    .expect("replay");
    assert_eq!(first.created, 2, "{first:?}");
    assert_eq!(first.cancelled, pipelines.len() - 2, "{first:?}");
    assert_eq!(first.saves.len(), 1);
    assert_eq!(first.validation_errors, 0, "{first:?}");
    cancel.store(false, Ordering::Relaxed);
    let mut steps = 0;
    // SAFETY: as above.
    let second = unsafe {
        replay_application_in_process(
            &store,
            get_instance_proc_addr,
            &application_key,
            &options,
            &mut |_| steps += 1,
            &|| cancel.load(Ordering::Relaxed),
        )
    }
    .expect("replay");
    assert_eq!(second.already_replayed, 2, "{second:?}");
    assert_eq!(second.created, pipelines.len() - 2, "{second:?}");
    assert_eq!((second.cancelled, steps), (0, pipelines.len() - 2));
    assert_eq!(second.validation_errors, 0, "{second:?}");
    format!(
        "in process: cancelled after {} of {} pipelines, the next run did the other {}",
        first.created,
        pipelines.len(),
        second.created
    )
}
