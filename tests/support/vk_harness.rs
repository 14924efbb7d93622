//! A minimal engine for the Vulkan tests, demo and benchmark: loads the system libvulkan the way
//! an engine does (dlopen + vkGetInstanceProcAddr), creates an instance with the Khronos
//! validation layer and an error-counting messenger, one device, and sets of compute and
//! graphics pipelines from the committed SPIR-V in tests/shaders.
//!
//! Shared by tests/vulkan.rs, examples/vulkan_demo.rs and benches/vulkan.rs through `#[path]`.
#![allow(dead_code)] // each includer uses a different part

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

use pcstore::vulkan::ash::{self, vk};
use pcstore::vulkan::DeviceInfo;

/// Validation errors reported to the messenger in this process.
static VALIDATION_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Validation warnings (printed, not failing).
static VALIDATION_WARNINGS: AtomicU64 = AtomicU64::new(0);

/// Validation errors seen so far by this process.
pub fn validation_errors() -> u64 {
    VALIDATION_ERRORS.load(Ordering::SeqCst)
}

/// Validation warnings seen so far by this process.
pub fn validation_warnings() -> u64 {
    VALIDATION_WARNINGS.load(Ordering::SeqCst)
}

const COMPUTE_SPV: &[u8] = include_bytes!("../shaders/fill.comp.spv");
const VERTEX_SPV: &[u8] = include_bytes!("../shaders/triangle.vert.spv");
const FRAGMENT_SPV: &[u8] = include_bytes!("../shaders/triangle.frag.spv");

/// The API version the harness asks for (capped by the device's in pcstore).
pub const API_VERSION: u32 = vk::API_VERSION_1_2;

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
    } else if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::WARNING) {
        VALIDATION_WARNINGS.fetch_add(1, Ordering::SeqCst);
        eprintln!("validation warning: {message}");
    }
    vk::FALSE
}

/// libvulkan's `vkGetInstanceProcAddr`, loaded with dlopen like an engine's loader would.
pub fn system_get_instance_proc_addr() -> vk::PFN_vkGetInstanceProcAddr {
    // SAFETY: dlopen/dlsym with NUL-terminated names; the library stays loaded for the
    // process's life (never dlclosed), so the returned pointer stays valid.
    unsafe {
        let library = libc::dlopen(
            c"libvulkan.so.1".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL,
        );
        assert!(
            !library.is_null(),
            "libvulkan.so.1 not found: install libvulkan1 (scripts/install-deps.sh)"
        );
        let symbol = libc::dlsym(library, c"vkGetInstanceProcAddr".as_ptr());
        assert!(
            !symbol.is_null(),
            "libvulkan.so.1 lacks vkGetInstanceProcAddr"
        );
        std::mem::transmute::<*mut c_void, vk::PFN_vkGetInstanceProcAddr>(symbol)
    }
}

/// One instance, physical device and device, with validation enabled.
pub struct Harness {
    pub entry: ash::Entry,
    pub instance: ash::Instance,
    debug_utils: ash::ext::debug_utils::Instance,
    messenger: vk::DebugUtilsMessengerEXT,
    pub physical_device: vk::PhysicalDevice,
    pub device: ash::Device,
    pub queue_family: u32,
    pub get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    compute_module: vk::ShaderModule,
    vertex_module: vk::ShaderModule,
    fragment_module: vk::ShaderModule,
    layout: vk::PipelineLayout,
    render_pass: vk::RenderPass,
}

impl Harness {
    /// Creates everything on the first physical device the loader offers (tests select the
    /// driver with `VK_DRIVER_FILES`), with validation. Panics with a clear message when
    /// anything is missing.
    pub fn new() -> Self {
        Self::with_validation(true)
    }

    /// Like [`Harness::new`]; without validation for benchmarks (the layer adds its own cost to
    /// every call and would blur the ratios measured).
    pub fn with_validation(validation: bool) -> Self {
        let get_instance_proc_addr = system_get_instance_proc_addr();
        // SAFETY: a valid GIPA from the system loader.
        let entry = unsafe {
            ash::Entry::from_static_fn(ash::StaticFn {
                get_instance_proc_addr,
            })
        };
        let app = vk::ApplicationInfo::default()
            .application_name(c"pcstore-vulkan-test")
            .api_version(API_VERSION);
        let layers: &[*const std::ffi::c_char] = if validation {
            &[c"VK_LAYER_KHRONOS_validation".as_ptr()]
        } else {
            &[]
        };
        let extensions = [ash::ext::debug_utils::NAME.as_ptr()];
        let mut messenger_info = vk::DebugUtilsMessengerCreateInfoEXT::default()
            .message_severity(
                vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                    | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING,
            )
            .message_type(
                vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                    | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                    | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
            )
            .pfn_user_callback(Some(count_messages));
        let instance_info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(layers)
            .enabled_extension_names(&extensions)
            .push_next(&mut messenger_info);
        // SAFETY: valid create info; the instance is destroyed in Drop.
        let instance = unsafe { entry.create_instance(&instance_info, None) }.unwrap_or_else(|e| {
            panic!(
                "vkCreateInstance with VK_LAYER_KHRONOS_validation failed: {e} \
                 (install vulkan-validationlayers and a driver; see scripts/vulkan-drivers.sh)"
            )
        });
        let debug_utils = ash::ext::debug_utils::Instance::new(&entry, &instance);
        // SAFETY: valid instance and create info.
        let messenger = unsafe { debug_utils.create_debug_utils_messenger(&messenger_info, None) }
            .expect("vkCreateDebugUtilsMessengerEXT");
        // SAFETY: valid instance.
        let physical_devices =
            unsafe { instance.enumerate_physical_devices() }.expect("vkEnumeratePhysicalDevices");
        let physical_device = *physical_devices
            .first()
            .expect("no Vulkan physical device: is VK_DRIVER_FILES pointing at a driver?");
        // SAFETY: valid physical device.
        let families =
            unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
        let queue_family = families
            .iter()
            .position(|f| {
                f.queue_flags
                    .contains(vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE)
            })
            .expect("no graphics+compute queue family") as u32;
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queues);
        // SAFETY: valid physical device and create info; destroyed in Drop.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .expect("vkCreateDevice");
        let module = |spv: &[u8]| {
            let words = ash::util::read_spv(&mut std::io::Cursor::new(spv)).expect("SPIR-V");
            let info = vk::ShaderModuleCreateInfo::default().code(&words);
            // SAFETY: valid device and SPIR-V words.
            unsafe { device.create_shader_module(&info, None) }.expect("vkCreateShaderModule")
        };
        let compute_module = module(COMPUTE_SPV);
        let vertex_module = module(VERTEX_SPV);
        let fragment_module = module(FRAGMENT_SPV);
        // SAFETY: valid device; empty layout.
        let layout = unsafe {
            device.create_pipeline_layout(&vk::PipelineLayoutCreateInfo::default(), None)
        }
        .expect("vkCreatePipelineLayout");
        let attachments = [vk::AttachmentDescription::default()
            .format(vk::Format::R8G8B8A8_UNORM)
            .samples(vk::SampleCountFlags::TYPE_1)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::STORE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)];
        let color_refs = [vk::AttachmentReference::default()
            .attachment(0)
            .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
        let subpasses = [vk::SubpassDescription::default()
            .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
            .color_attachments(&color_refs)];
        let render_pass_info = vk::RenderPassCreateInfo::default()
            .attachments(&attachments)
            .subpasses(&subpasses);
        // SAFETY: valid device and create info.
        let render_pass = unsafe { device.create_render_pass(&render_pass_info, None) }
            .expect("vkCreateRenderPass");
        Self {
            entry,
            instance,
            debug_utils,
            messenger,
            physical_device,
            device,
            queue_family,
            get_instance_proc_addr,
            compute_module,
            vertex_module,
            fragment_module,
            layout,
            render_pass,
        }
    }

    /// What pcstore needs, with `get_instance_proc_addr` possibly a test hook wrapping the
    /// system loader's.
    pub fn device_info(&self, get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr) -> DeviceInfo {
        DeviceInfo {
            instance: self.instance.handle(),
            physical_device: self.physical_device,
            device: self.device.handle(),
            get_instance_proc_addr,
            api_version: API_VERSION,
        }
    }

    /// The device's properties.
    pub fn properties(&self) -> vk::PhysicalDeviceProperties {
        // SAFETY: valid physical device.
        unsafe {
            self.instance
                .get_physical_device_properties(self.physical_device)
        }
    }

    /// One compute pipeline per seed (specialization constant 0), created with `cache`.
    pub fn compute_pipelines(&self, cache: vk::PipelineCache, seeds: &[u32]) -> Vec<vk::Pipeline> {
        let entries = [vk::SpecializationMapEntry {
            constant_id: 0,
            offset: 0,
            size: 4,
        }];
        let data: Vec<[u8; 4]> = seeds.iter().map(|s| s.to_le_bytes()).collect();
        let specializations: Vec<vk::SpecializationInfo<'_>> = data
            .iter()
            .map(|bytes| {
                vk::SpecializationInfo::default()
                    .map_entries(&entries)
                    .data(bytes)
            })
            .collect();
        let infos: Vec<vk::ComputePipelineCreateInfo<'_>> = specializations
            .iter()
            .map(|specialization| {
                vk::ComputePipelineCreateInfo::default()
                    .stage(
                        vk::PipelineShaderStageCreateInfo::default()
                            .stage(vk::ShaderStageFlags::COMPUTE)
                            .module(self.compute_module)
                            .name(c"main")
                            .specialization_info(specialization),
                    )
                    .layout(self.layout)
            })
            .collect();
        // SAFETY: valid device, cache and create infos (all borrowed data alive).
        unsafe { self.device.create_compute_pipelines(cache, &infos, None) }
            .map_err(|(_, e)| e)
            .expect("vkCreateComputePipelines")
    }

    /// One graphics pipeline per tint (fragment specialization constant 0), created with `cache`.
    pub fn graphics_pipelines(&self, cache: vk::PipelineCache, tints: &[f32]) -> Vec<vk::Pipeline> {
        let entries = [vk::SpecializationMapEntry {
            constant_id: 0,
            offset: 0,
            size: 4,
        }];
        let data: Vec<[u8; 4]> = tints.iter().map(|t| t.to_le_bytes()).collect();
        let specializations: Vec<vk::SpecializationInfo<'_>> = data
            .iter()
            .map(|bytes| {
                vk::SpecializationInfo::default()
                    .map_entries(&entries)
                    .data(bytes)
            })
            .collect();
        let stages: Vec<[vk::PipelineShaderStageCreateInfo<'_>; 2]> = specializations
            .iter()
            .map(|specialization| {
                [
                    vk::PipelineShaderStageCreateInfo::default()
                        .stage(vk::ShaderStageFlags::VERTEX)
                        .module(self.vertex_module)
                        .name(c"main"),
                    vk::PipelineShaderStageCreateInfo::default()
                        .stage(vk::ShaderStageFlags::FRAGMENT)
                        .module(self.fragment_module)
                        .name(c"main")
                        .specialization_info(specialization),
                ]
            })
            .collect();
        let vertex_input = vk::PipelineVertexInputStateCreateInfo::default();
        let input_assembly = vk::PipelineInputAssemblyStateCreateInfo::default()
            .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
        let viewport = vk::PipelineViewportStateCreateInfo::default()
            .viewport_count(1)
            .scissor_count(1);
        let rasterization = vk::PipelineRasterizationStateCreateInfo::default()
            .polygon_mode(vk::PolygonMode::FILL)
            .cull_mode(vk::CullModeFlags::NONE)
            .front_face(vk::FrontFace::COUNTER_CLOCKWISE)
            .line_width(1.0);
        let multisample = vk::PipelineMultisampleStateCreateInfo::default()
            .rasterization_samples(vk::SampleCountFlags::TYPE_1);
        let blend_attachments = [vk::PipelineColorBlendAttachmentState::default()
            .color_write_mask(vk::ColorComponentFlags::RGBA)];
        let blend =
            vk::PipelineColorBlendStateCreateInfo::default().attachments(&blend_attachments);
        let dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
        let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
        let infos: Vec<vk::GraphicsPipelineCreateInfo<'_>> = stages
            .iter()
            .map(|stages| {
                vk::GraphicsPipelineCreateInfo::default()
                    .stages(stages)
                    .vertex_input_state(&vertex_input)
                    .input_assembly_state(&input_assembly)
                    .viewport_state(&viewport)
                    .rasterization_state(&rasterization)
                    .multisample_state(&multisample)
                    .color_blend_state(&blend)
                    .dynamic_state(&dynamic)
                    .layout(self.layout)
                    .render_pass(self.render_pass)
                    .subpass(0)
            })
            .collect();
        // SAFETY: valid device, cache and create infos (all borrowed data alive).
        unsafe { self.device.create_graphics_pipelines(cache, &infos, None) }
            .map_err(|(_, e)| e)
            .expect("vkCreateGraphicsPipelines")
    }

    /// Destroys pipelines made by this harness.
    pub fn destroy_pipelines(&self, pipelines: Vec<vk::Pipeline>) {
        for pipeline in pipelines {
            // SAFETY: pipelines of this device, not in use.
            unsafe { self.device.destroy_pipeline(pipeline, None) };
        }
    }

    /// Destroys a pipeline cache of this device.
    pub fn destroy_cache(&self, cache: vk::PipelineCache) {
        // SAFETY: a cache of this device, not in use.
        unsafe { self.device.destroy_pipeline_cache(cache, None) };
    }

    /// An empty pipeline cache created directly through ash (not through pcstore).
    pub fn empty_cache(&self) -> vk::PipelineCache {
        // SAFETY: valid device; no initial data.
        unsafe {
            self.device
                .create_pipeline_cache(&vk::PipelineCacheCreateInfo::default(), None)
        }
        .expect("vkCreatePipelineCache")
    }

    /// A pipeline cache's data, fetched directly through ash.
    pub fn cache_data(&self, cache: vk::PipelineCache) -> Vec<u8> {
        // SAFETY: a cache of this device.
        unsafe { self.device.get_pipeline_cache_data(cache) }.expect("vkGetPipelineCacheData")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // SAFETY: every object was created by this harness and nothing uses it any more.
        unsafe {
            self.device.device_wait_idle().ok();
            self.device.destroy_render_pass(self.render_pass, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            self.device.destroy_shader_module(self.compute_module, None);
            self.device.destroy_shader_module(self.vertex_module, None);
            self.device
                .destroy_shader_module(self.fragment_module, None);
            self.device.destroy_device(None);
            self.debug_utils
                .destroy_debug_utils_messenger(self.messenger, None);
            self.instance.destroy_instance(None);
        }
    }
}

/// A CPU Vulkan driver the tests run on: its name and ICD manifest.
pub struct Driver {
    pub name: &'static str,
    pub icd: std::path::PathBuf,
}

/// The CPU drivers the Vulkan tests run on, in the order [`drivers`] returns them: trial names
/// need them before (and without) the drivers being found.
pub const DRIVER_NAMES: [&str; 2] = ["lavapipe", "swiftshader"];

/// Both CPU drivers, from `PCSTORE_TEST_LAVAPIPE_ICD` / `PCSTORE_TEST_SWIFTSHADER_ICD` (set by
/// `scripts/vulkan-drivers.sh`) or their usual places. Panics when one is missing: a Vulkan test
/// without its driver fails, it never skips.
pub fn drivers() -> Vec<Driver> {
    use std::path::{Path, PathBuf};
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let find = |name: &'static str, variable: &str, default: PathBuf| {
        let icd = std::env::var_os(variable).map_or(default, PathBuf::from);
        assert!(
            icd.is_file(),
            "{name} Vulkan driver not found at {} (set {variable}, or run \
             `eval \"$(bash scripts/vulkan-drivers.sh)\"` after scripts/install-deps.sh)",
            icd.display()
        );
        Driver { name, icd }
    };
    let [lavapipe, swiftshader] = DRIVER_NAMES;
    vec![
        find(
            lavapipe,
            "PCSTORE_TEST_LAVAPIPE_ICD",
            PathBuf::from("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"),
        ),
        find(
            swiftshader,
            "PCSTORE_TEST_SWIFTSHADER_ICD",
            manifest.join("target/swiftshader/pcstore_swiftshader_icd.json"),
        ),
    ]
}
