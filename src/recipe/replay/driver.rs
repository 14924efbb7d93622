//! The replay's own Vulkan objects: an instance and device made from recipes, and the
//! in-process creation of recorded pipelines on them.

use std::ffi::{c_void, CStr};
use std::io::Write as _;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use ash::vk;

use super::error::ReplayError;
use super::set::RecipeSet;
use crate::recipe::any::AnyRecipe;
use crate::recipe::device::DeviceRecipe;
use crate::recipe::key::RecipeKey;
use crate::recipe::render_pass::RenderPassBuild;
use crate::recipe::resolve::HandleMap;
use crate::vulkan::DeviceInfo;

/// An instance on the program's loader and the physical device a replay runs on.
pub struct ReplayInstance {
    get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    instance: ash::Instance,
    physical_device: vk::PhysicalDevice,
    queue_family: u32,
    api_version: u32,
    device_api_version: u32,
    device_name: Vec<u8>,
    /// With validation: the messenger counting its errors (destroyed before the instance).
    validation: Option<Validation>,
}

/// `VK_LAYER_KHRONOS_validation` on a replay's instance: a debug-utils messenger counting the
/// errors it reports (and printing them to stderr).
struct Validation {
    debug_utils: ash::ext::debug_utils::Instance,
    messenger: vk::DebugUtilsMessengerEXT,
    /// Boxed: the layer calls back with its address, which must not move with the instance.
    errors: Box<AtomicU64>,
}

/// The layer's callback: counts errors in the `AtomicU64` at `user`, prints them.
unsafe extern "system" fn count_validation_error(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user: *mut c_void,
) -> vk::Bool32 {
    if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
        // SAFETY: `user` is the boxed counter of the instance the messenger belongs to, alive
        // until after the messenger and the instance are destroyed.
        if let Some(errors) = unsafe { user.cast::<AtomicU64>().as_ref() } {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the layer passes valid callback data whose message is NUL-terminated and
        // valid for the call.
        let message = unsafe {
            data.as_ref()
                .filter(|data| !data.p_message.is_null())
                .map(|data| CStr::from_ptr(data.p_message).to_string_lossy())
        };
        // A callback must not unwind into the layer: a failed write is dropped.
        let _ = writeln!(
            std::io::stderr(),
            "pcstore replay: validation error: {}",
            message.as_deref().unwrap_or("(no message)")
        );
    }
    vk::FALSE
}

impl ReplayInstance {
    /// Creates an instance of `api_version` (the recorded application's; 0 means 1.0) through
    /// `get_instance_proc_addr` and picks physical device `device_index` in the loader's order.
    ///
    /// # Errors
    /// [`ReplayError::Vulkan`] when the instance cannot be created or devices enumerated,
    /// [`ReplayError::NoPhysicalDevice`], [`ReplayError::NoQueueFamily`].
    ///
    /// # Safety
    /// `get_instance_proc_addr` must be a loader's (or a layer chain's) valid entry point.
    pub unsafe fn new(
        get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
        api_version: u32,
        device_index: usize,
    ) -> Result<Self, ReplayError> {
        // SAFETY: as this function's contract.
        unsafe { Self::with_validation(get_instance_proc_addr, api_version, device_index, false) }
    }

    /// [`ReplayInstance::new`], with `VK_LAYER_KHRONOS_validation` and `VK_EXT_debug_utils`
    /// enabled when `validation` is set: every validation error on the instance and its
    /// devices is printed to stderr and counted in [`ReplayInstance::validation_errors`].
    ///
    /// # Errors
    /// As [`ReplayInstance::new`]; with `validation`, [`ReplayError::Vulkan`] also when the
    /// validation layer is not installed (`VK_ERROR_LAYER_NOT_PRESENT`).
    ///
    /// # Safety
    /// As [`ReplayInstance::new`].
    pub unsafe fn with_validation(
        get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
        api_version: u32,
        device_index: usize,
        validation: bool,
    ) -> Result<Self, ReplayError> {
        let api_version = api_version.max(vk::API_VERSION_1_0);
        // SAFETY: a valid entry point (caller).
        let entry = unsafe {
            ash::Entry::from_static_fn(ash::StaticFn {
                get_instance_proc_addr,
            })
        };
        let application = vk::ApplicationInfo::default()
            .application_name(c"pcstore replay")
            .api_version(api_version);
        let errors = Box::new(AtomicU64::new(0));
        let mut messenger_info = vk::DebugUtilsMessengerCreateInfoEXT::default()
            .message_severity(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR)
            .message_type(
                vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                    | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION,
            )
            .pfn_user_callback(Some(count_validation_error))
            .user_data(std::ptr::from_ref::<AtomicU64>(&errors).cast_mut().cast());
        let layers = [c"VK_LAYER_KHRONOS_validation".as_ptr()];
        let extensions = [ash::ext::debug_utils::NAME.as_ptr()];
        let mut info = vk::InstanceCreateInfo::default().application_info(&application);
        if validation {
            // The chained messenger also covers vkCreateInstance and vkDestroyInstance.
            info = info
                .enabled_layer_names(&layers)
                .enabled_extension_names(&extensions)
                .push_next(&mut messenger_info);
        }
        // SAFETY: a valid create-info; destroyed in Drop.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(ReplayError::vulkan("vkCreateInstance"))?;
        let destroy = |error| {
            // SAFETY: nothing else was created on the instance.
            unsafe { instance.destroy_instance(None) };
            error
        };
        let validation = if validation {
            let debug_utils = ash::ext::debug_utils::Instance::new(&entry, &instance);
            // SAFETY: a live instance with VK_EXT_debug_utils; the messenger's user data (the
            // boxed counter) outlives it (destroyed first in Drop).
            let messenger =
                unsafe { debug_utils.create_debug_utils_messenger(&messenger_info, None) }
                    .map_err(ReplayError::vulkan("vkCreateDebugUtilsMessengerEXT"))
                    .map_err(destroy)?;
            Some(Validation {
                debug_utils,
                messenger,
                errors,
            })
        } else {
            None
        };
        let destroy = |error| {
            if let Some(validation) = &validation {
                // SAFETY: the messenger of the live instance, destroyed once.
                unsafe {
                    validation
                        .debug_utils
                        .destroy_debug_utils_messenger(validation.messenger, None);
                }
            }
            destroy(error)
        };
        // SAFETY: a live instance.
        let devices = unsafe { instance.enumerate_physical_devices() }
            .map_err(ReplayError::vulkan("vkEnumeratePhysicalDevices"))
            .map_err(destroy)?;
        let Some(&physical_device) = devices.get(device_index) else {
            return Err(destroy(ReplayError::NoPhysicalDevice(device_index)));
        };
        // SAFETY: a physical device of the live instance.
        let (families, properties) = unsafe {
            (
                instance.get_physical_device_queue_family_properties(physical_device),
                instance.get_physical_device_properties(physical_device),
            )
        };
        let Some(queue_family) = families.iter().position(|family| {
            family
                .queue_flags
                .intersects(vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE)
        }) else {
            return Err(destroy(ReplayError::NoQueueFamily));
        };
        // SAFETY: deviceName is NUL-terminated within its array (Vulkan contract).
        let device_name = unsafe { CStr::from_ptr(properties.device_name.as_ptr()) }
            .to_bytes()
            .to_vec();
        Ok(Self {
            get_instance_proc_addr,
            instance,
            physical_device,
            queue_family: queue_family as u32,
            api_version,
            device_api_version: properties.api_version,
            device_name,
            validation,
        })
    }

    /// Validation errors reported so far on this instance and its devices (0 without
    /// validation).
    pub fn validation_errors(&self) -> u64 {
        self.validation
            .as_ref()
            .map_or(0, |validation| validation.errors.load(Ordering::Relaxed))
    }

    /// `VkPhysicalDeviceProperties::deviceName`.
    pub fn device_name(&self) -> &[u8] {
        &self.device_name
    }

    /// Creates a device with one queue and the extensions and features of `recipe` (none for
    /// a bare device, enough to merge and save caches).
    ///
    /// # Errors
    /// [`ReplayError::Build`] when the recipe holds a feature structure this build cannot lay
    /// out; [`ReplayError::Vulkan`] when the driver refuses the device (it lacks an extension
    /// or feature the application had).
    pub fn create_device(
        &self,
        recipe: Option<&DeviceRecipe>,
    ) -> Result<ReplayDevice<'_>, ReplayError> {
        let build = recipe
            .map(DeviceRecipe::build)
            .transpose()
            .map_err(|error| ReplayError::Build {
                key: recipe
                    .map(crate::recipe::key::Recipe::key)
                    .unwrap_or_default(),
                error,
            })?;
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(self.queue_family)
            .queue_priorities(&priorities)];
        let info = match &build {
            Some(build) => build.create_info(&queues),
            None => vk::DeviceCreateInfo::default().queue_create_infos(&queues),
        };
        // SAFETY: a physical device of the live instance; the create-info and the storage it
        // points into live through the call.
        let device = unsafe {
            self.instance
                .create_device(self.physical_device, &info, None)
        }
        .map_err(ReplayError::vulkan("vkCreateDevice"))?;
        let feedback_extension = recipe.is_some_and(|recipe| {
            recipe
                .extensions
                .iter()
                .any(|name| name.as_slice() == b"VK_EXT_pipeline_creation_feedback")
        });
        let creation_feedback = feedback_extension
            || self.api_version.min(self.device_api_version) >= vk::API_VERSION_1_3;
        Ok(ReplayDevice {
            device,
            creation_feedback,
            _instance: PhantomData,
        })
    }

    /// The [`DeviceInfo`] of `device` for the adapter, with the instance's API version (so the
    /// identity, and every key scoped to it, is the one the recorded application had).
    pub fn device_info(&self, device: &ReplayDevice<'_>) -> DeviceInfo {
        DeviceInfo {
            instance: self.instance.handle(),
            physical_device: self.physical_device,
            device: device.device.handle(),
            get_instance_proc_addr: self.get_instance_proc_addr,
            api_version: self.api_version,
        }
    }
}

impl Drop for ReplayInstance {
    fn drop(&mut self) {
        // SAFETY: no device of the instance is left: each ReplayDevice borrows the instance,
        // and is destroyed explicitly or leaked (never dropped into use after this). The
        // messenger goes first; its counter (boxed in `self`) outlives both.
        unsafe {
            if let Some(validation) = &self.validation {
                validation
                    .debug_utils
                    .destroy_debug_utils_messenger(validation.messenger, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}

/// A device created by [`ReplayInstance::create_device`], borrowing the instance; destroy
/// with [`ReplayDevice::destroy`].
pub struct ReplayDevice<'i> {
    /// The device.
    pub device: ash::Device,
    /// Whether pipelines may carry `VkPipelineCreationFeedbackCreateInfo` (Vulkan 1.3 or
    /// `VK_EXT_pipeline_creation_feedback`).
    pub creation_feedback: bool,
    _instance: PhantomData<&'i ReplayInstance>,
}

impl ReplayDevice<'_> {
    /// Creates a pipeline cache with `data` as initial data (none when empty).
    ///
    /// # Errors
    /// [`ReplayError::Vulkan`] when the driver refuses.
    pub fn create_cache(&self, data: &[u8]) -> Result<vk::PipelineCache, ReplayError> {
        let mut info = vk::PipelineCacheCreateInfo::default();
        if !data.is_empty() {
            info = info.initial_data(data);
        }
        // SAFETY: a live device; `data` lives through the call.
        unsafe { self.device.create_pipeline_cache(&info, None) }
            .map_err(ReplayError::vulkan("vkCreatePipelineCache"))
    }

    /// Destroys the device.
    ///
    /// # Safety
    /// Nothing created on it may still exist or be in use.
    pub unsafe fn destroy(self) {
        // SAFETY: nothing of the device is left (caller).
        unsafe { self.device.destroy_device(None) };
    }
}

/// What creating one pipeline did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineCreated {
    /// What `vkCreate*Pipelines` returned.
    pub result: vk::Result,
    /// Whether creation feedback said the pipeline came from the given cache
    /// (`APPLICATION_PIPELINE_CACHE_HIT_BIT`); `None` without valid feedback.
    pub cache_hit: Option<bool>,
}

/// Creates recorded pipelines on one device: every module, sampler, layout and render pass a
/// pipeline refers to is created from its recipe the first time it is needed and kept for the
/// next pipelines; the pipeline itself is destroyed right after creation (what a replay wants
/// is what the driver put in the cache).
pub struct PipelineReplayer<'a> {
    device: &'a ReplayDevice<'a>,
    recipes: &'a RecipeSet,
    handles: HandleMap,
}

impl<'a> PipelineReplayer<'a> {
    /// A replayer creating the pipelines of `recipes` on `device`.
    pub fn new(device: &'a ReplayDevice<'a>, recipes: &'a RecipeSet) -> Self {
        Self {
            device,
            recipes,
            handles: HandleMap::default(),
        }
    }

    /// Creates the pipeline of recipe `pipeline` (a compute or graphics pipeline recipe in the
    /// set) with `cache`, creating what it refers to first; destroys it again.
    ///
    /// # Errors
    /// [`ReplayError::MissingRecipe`] / [`ReplayError::WrongKind`] / [`ReplayError::Build`] for
    /// a recipe that is not there or cannot be built, [`ReplayError::Vulkan`] when a
    /// dependency cannot be created. A pipeline the driver refuses is not an error: see
    /// [`PipelineCreated::result`].
    ///
    /// # Safety
    /// The device must be alive; `cache` must be null or a live cache of the device that no
    /// other thread uses during the call.
    pub unsafe fn create(
        &mut self,
        pipeline: &RecipeKey,
        cache: vk::PipelineCache,
    ) -> Result<PipelineCreated, ReplayError> {
        let recipe = self
            .recipes
            .get(pipeline)
            .ok_or(ReplayError::MissingRecipe(*pipeline))?;
        for reference in recipe.references() {
            self.ensure(&reference)?;
        }
        let build_error = |error| ReplayError::Build {
            key: *pipeline,
            error,
        };
        let mut stage_feedback = [vk::PipelineCreationFeedback::default(); 8];
        let mut feedback = vk::PipelineCreationFeedback::default();
        let device = &self.device.device;
        let created = match recipe {
            AnyRecipe::ComputePipeline(recipe) => {
                let build = recipe.build(&self.handles).map_err(build_error)?;
                let mut info = *build.create_info();
                let mut feedback_info = vk::PipelineCreationFeedbackCreateInfo::default()
                    .pipeline_creation_feedback(&mut feedback)
                    .pipeline_stage_creation_feedbacks(&mut stage_feedback[..1]);
                if self.device.creation_feedback {
                    feedback_info.p_next = info.p_next;
                    info.p_next = std::ptr::from_ref(&feedback_info).cast();
                }
                // SAFETY: a create-info built from checked recipes on this device; its storage
                // (`build`, the feedback structures) lives through the call.
                unsafe { device.create_compute_pipelines(cache, &[info], None) }
            }
            AnyRecipe::GraphicsPipeline(recipe) => {
                let build = recipe.build(&self.handles).map_err(build_error)?;
                let mut info = *build.create_info();
                let stages = (info.stage_count as usize).min(stage_feedback.len());
                let mut feedback_info = vk::PipelineCreationFeedbackCreateInfo::default()
                    .pipeline_creation_feedback(&mut feedback)
                    .pipeline_stage_creation_feedbacks(&mut stage_feedback[..stages]);
                // The per-stage array must hold one entry per stage: without room, no feedback.
                if self.device.creation_feedback && stages == info.stage_count as usize {
                    feedback_info.p_next = info.p_next;
                    info.p_next = std::ptr::from_ref(&feedback_info).cast();
                }
                // SAFETY: as for compute.
                unsafe { device.create_graphics_pipelines(cache, &[info], None) }
            }
            _ => return Err(ReplayError::WrongKind(*pipeline)),
        };
        let result = match created {
            Ok(pipelines) => {
                for pipeline in pipelines {
                    // SAFETY: just created, never used.
                    unsafe { device.destroy_pipeline(pipeline, None) };
                }
                vk::Result::SUCCESS
            }
            Err((pipelines, result)) => {
                for pipeline in pipelines.into_iter().filter(|p| *p != vk::Pipeline::null()) {
                    // SAFETY: as above.
                    unsafe { device.destroy_pipeline(pipeline, None) };
                }
                result
            }
        };
        let valid = feedback
            .flags
            .contains(vk::PipelineCreationFeedbackFlags::VALID);
        Ok(PipelineCreated {
            result,
            cache_hit: (self.device.creation_feedback && valid).then(|| {
                feedback
                    .flags
                    .contains(vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT)
            }),
        })
    }

    /// Creates the object of recipe `key` and what it refers to, unless created before.
    fn ensure(&mut self, key: &RecipeKey) -> Result<(), ReplayError> {
        if self.is_created(key) {
            return Ok(());
        }
        let recipe = self
            .recipes
            .get(key)
            .ok_or(ReplayError::MissingRecipe(*key))?;
        for reference in recipe.references() {
            self.ensure(&reference)?;
        }
        let build_error = |error| ReplayError::Build { key: *key, error };
        let device = &self.device.device;
        // SAFETY: every create-info below is built from a checked recipe with handles of this
        // device created before, and lives through its call; the device is alive (caller of
        // `create`).
        unsafe {
            match recipe {
                AnyRecipe::ShaderModule(recipe) => {
                    let build = recipe.build().map_err(build_error)?;
                    let handle = device
                        .create_shader_module(build.create_info(), None)
                        .map_err(ReplayError::vulkan("vkCreateShaderModule"))?;
                    self.handles.shader_modules.insert(*key, handle);
                }
                AnyRecipe::Sampler(recipe) => {
                    let build = recipe.build();
                    let handle = device
                        .create_sampler(build.create_info(), None)
                        .map_err(ReplayError::vulkan("vkCreateSampler"))?;
                    self.handles.samplers.insert(*key, handle);
                }
                AnyRecipe::DescriptorSetLayout(recipe) => {
                    let build = recipe.build(&self.handles).map_err(build_error)?;
                    let handle = device
                        .create_descriptor_set_layout(build.create_info(), None)
                        .map_err(ReplayError::vulkan("vkCreateDescriptorSetLayout"))?;
                    self.handles.descriptor_set_layouts.insert(*key, handle);
                }
                AnyRecipe::PipelineLayout(recipe) => {
                    let build = recipe.build(&self.handles).map_err(build_error)?;
                    let handle = device
                        .create_pipeline_layout(build.create_info(), None)
                        .map_err(ReplayError::vulkan("vkCreatePipelineLayout"))?;
                    self.handles.pipeline_layouts.insert(*key, handle);
                }
                AnyRecipe::RenderPass(recipe) => {
                    let handle = match recipe.build().map_err(build_error)? {
                        RenderPassBuild::V1(build) => device
                            .create_render_pass(build.create_info(), None)
                            .map_err(ReplayError::vulkan("vkCreateRenderPass"))?,
                        RenderPassBuild::V2(build) => device
                            .create_render_pass2(build.create_info(), None)
                            .map_err(ReplayError::vulkan("vkCreateRenderPass2"))?,
                    };
                    self.handles.render_passes.insert(*key, handle);
                }
                _ => return Err(ReplayError::WrongKind(*key)),
            }
        }
        Ok(())
    }

    fn is_created(&self, key: &RecipeKey) -> bool {
        let handles = &self.handles;
        handles.shader_modules.contains_key(key)
            || handles.samplers.contains_key(key)
            || handles.descriptor_set_layouts.contains_key(key)
            || handles.pipeline_layouts.contains_key(key)
            || handles.render_passes.contains_key(key)
    }

    /// Destroys every object the replayer created.
    ///
    /// # Safety
    /// The device must be alive, and no pipeline creation using the objects in flight.
    pub unsafe fn destroy(self) {
        let device = &self.device.device;
        let handles = self.handles;
        // SAFETY: objects this replayer created on the live device, no longer used (caller).
        unsafe {
            for (_, render_pass) in handles.render_passes {
                device.destroy_render_pass(render_pass, None);
            }
            for (_, layout) in handles.pipeline_layouts {
                device.destroy_pipeline_layout(layout, None);
            }
            for (_, layout) in handles.descriptor_set_layouts {
                device.destroy_descriptor_set_layout(layout, None);
            }
            for (_, sampler) in handles.samplers {
                device.destroy_sampler(sampler, None);
            }
            for (_, module) in handles.shader_modules {
                device.destroy_shader_module(module, None);
            }
        }
    }
}
