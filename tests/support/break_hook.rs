//! A test layer below pcstore's replay worker that breaks the driver on purpose: it records
//! every object the worker creates (as the layer will, through tests/recipe_support's
//! `Recorder`), and when a pipeline's recipe key is the one named in
//! `PCSTORE_TEST_ABORT_PIPELINE` it aborts the process inside `vkCreate*Pipelines`; when it is
//! the one in `PCSTORE_TEST_HANG_PIPELINE` it never returns. Installed like a layer: the worker
//! is handed [`install`]'s `vkGetInstanceProcAddr` instead of the loader's.

use std::ffi::{c_char, CStr};
use std::sync::{Mutex, OnceLock};

use pcstore::recipe::RecipeKey;
use pcstore::vulkan::ash::vk;
use pcstore::PipelineFingerprint;

use crate::recipe_support::Recorder;

static REAL_GET_INSTANCE_PROC_ADDR: OnceLock<vk::PFN_vkGetInstanceProcAddr> = OnceLock::new();
static REAL_GET_DEVICE_PROC_ADDR: OnceLock<vk::PFN_vkGetDeviceProcAddr> = OnceLock::new();
static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

/// The chosen pipelines: (abort at, hang at).
fn targets() -> &'static (Option<RecipeKey>, Option<RecipeKey>) {
    static TARGETS: OnceLock<(Option<RecipeKey>, Option<RecipeKey>)> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let key = |name| {
            std::env::var(name).ok().map(|hex| {
                RecipeKey(PipelineFingerprint::from_hex(&hex).expect("a recipe key in hex"))
            })
        };
        (
            key("PCSTORE_TEST_ABORT_PIPELINE"),
            key("PCSTORE_TEST_HANG_PIPELINE"),
        )
    })
}

/// Wraps the loader's `vkGetInstanceProcAddr`; returns the one to hand to the worker.
pub fn install(real: vk::PFN_vkGetInstanceProcAddr) -> vk::PFN_vkGetInstanceProcAddr {
    REAL_GET_INSTANCE_PROC_ADDR.get_or_init(|| real);
    *RECORDER.lock().unwrap() = Some(Recorder::default());
    get_instance_proc_addr
}

/// Breaks the driver if `key` is a chosen pipeline.
fn break_at(key: RecipeKey) {
    let (abort_at, hang_at) = targets();
    if *abort_at == Some(key) {
        eprintln!("break_hook: aborting in pipeline {key}");
        std::process::abort();
    }
    if *hang_at == Some(key) {
        eprintln!("break_hook: hanging in pipeline {key}");
        loop {
            std::thread::park();
        }
    }
}

fn with_recorder<T>(f: impl FnOnce(&mut Recorder) -> T) -> T {
    f(RECORDER.lock().unwrap().as_mut().expect("installed"))
}

/// `f` as the untyped pointer `vkGet*ProcAddr` returns.
fn void_fn<T: Copy>(f: T) -> vk::PFN_vkVoidFunction {
    assert_eq!(
        std::mem::size_of::<T>(),
        std::mem::size_of::<unsafe extern "system" fn()>()
    );
    // SAFETY: T is a function-pointer type (size checked); the caller casts it back to the
    // type of the name it asked for, which is T.
    Some(unsafe { std::mem::transmute_copy::<T, unsafe extern "system" fn()>(&f) })
}

unsafe extern "system" fn get_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let real = REAL_GET_INSTANCE_PROC_ADDR.get().expect("installed");
    // SAFETY: the caller passes a NUL-terminated name (Vulkan contract).
    if unsafe { CStr::from_ptr(name) } == c"vkGetDeviceProcAddr" {
        // SAFETY: forwarding the caller's valid arguments to the loader.
        let pointer = unsafe { real(instance, name) }?;
        // SAFETY: the loader returned this for vkGetDeviceProcAddr.
        REAL_GET_DEVICE_PROC_ADDR.get_or_init(|| unsafe { std::mem::transmute(pointer) });
        let hooked: vk::PFN_vkGetDeviceProcAddr = get_device_proc_addr;
        return void_fn(hooked);
    }
    // SAFETY: forwarding the caller's valid arguments to the loader.
    unsafe { real(instance, name) }
}

/// The driver's function for the name a hook stands for.
macro_rules! real {
    ($device:expr, $name:literal, $ty:ty) => {{
        let gdpa = REAL_GET_DEVICE_PROC_ADDR
            .get()
            .expect("resolved before use");
        // SAFETY: a live device and a NUL-terminated name; the loader returns this name's
        // function, whose type is $ty.
        let pointer = unsafe { gdpa($device, $name.as_ptr()) }.expect($name.to_str().unwrap());
        // SAFETY: as above.
        unsafe { std::mem::transmute::<unsafe extern "system" fn(), $ty>(pointer) }
    }};
}

unsafe extern "system" fn get_device_proc_addr(
    device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let real = REAL_GET_DEVICE_PROC_ADDR
        .get()
        .expect("resolved before use");
    // SAFETY: the caller passes a NUL-terminated name (Vulkan contract).
    let wanted = unsafe { CStr::from_ptr(name) };
    match wanted.to_bytes() {
        b"vkCreateShaderModule" => void_fn(create_shader_module as vk::PFN_vkCreateShaderModule),
        b"vkCreateSampler" => void_fn(create_sampler as vk::PFN_vkCreateSampler),
        b"vkCreateDescriptorSetLayout" => {
            void_fn(create_descriptor_set_layout as vk::PFN_vkCreateDescriptorSetLayout)
        }
        b"vkCreatePipelineLayout" => {
            void_fn(create_pipeline_layout as vk::PFN_vkCreatePipelineLayout)
        }
        b"vkCreateRenderPass" => void_fn(create_render_pass as vk::PFN_vkCreateRenderPass),
        b"vkCreateRenderPass2" => void_fn(create_render_pass2 as vk::PFN_vkCreateRenderPass2),
        b"vkCreateComputePipelines" => {
            void_fn(create_compute_pipelines as vk::PFN_vkCreateComputePipelines)
        }
        b"vkCreateGraphicsPipelines" => {
            void_fn(create_graphics_pipelines as vk::PFN_vkCreateGraphicsPipelines)
        }
        // SAFETY: forwarding the caller's valid arguments to the loader.
        _ => unsafe { real(device, name) },
    }
}

/// One hook per object kind: create through the driver, then record what was created.
macro_rules! recording_hook {
    ($hook:ident, $name:literal, $pfn:ty, $info:ty, $handle:ty, $record:ident) => {
        unsafe extern "system" fn $hook(
            device: vk::Device,
            info: *const $info,
            allocator: *const vk::AllocationCallbacks<'_>,
            handle: *mut $handle,
        ) -> vk::Result {
            let real = real!(device, $name, $pfn);
            // SAFETY: forwarding the caller's valid arguments to the driver.
            let result = unsafe { real(device, info, allocator, handle) };
            if result == vk::Result::SUCCESS {
                // SAFETY: the create-info the driver just accepted and the handle it wrote.
                let recorded =
                    with_recorder(|recorder| unsafe { recorder.$record(*handle, &*info) });
                recorded.expect("a replayed object is recordable");
            }
            result
        }
    };
}

recording_hook!(
    create_shader_module,
    c"vkCreateShaderModule",
    vk::PFN_vkCreateShaderModule,
    vk::ShaderModuleCreateInfo<'_>,
    vk::ShaderModule,
    shader_module
);
recording_hook!(
    create_sampler,
    c"vkCreateSampler",
    vk::PFN_vkCreateSampler,
    vk::SamplerCreateInfo<'_>,
    vk::Sampler,
    sampler
);
recording_hook!(
    create_descriptor_set_layout,
    c"vkCreateDescriptorSetLayout",
    vk::PFN_vkCreateDescriptorSetLayout,
    vk::DescriptorSetLayoutCreateInfo<'_>,
    vk::DescriptorSetLayout,
    descriptor_set_layout
);
recording_hook!(
    create_pipeline_layout,
    c"vkCreatePipelineLayout",
    vk::PFN_vkCreatePipelineLayout,
    vk::PipelineLayoutCreateInfo<'_>,
    vk::PipelineLayout,
    pipeline_layout
);
recording_hook!(
    create_render_pass,
    c"vkCreateRenderPass",
    vk::PFN_vkCreateRenderPass,
    vk::RenderPassCreateInfo<'_>,
    vk::RenderPass,
    render_pass
);
recording_hook!(
    create_render_pass2,
    c"vkCreateRenderPass2",
    vk::PFN_vkCreateRenderPass2,
    vk::RenderPassCreateInfo2<'_>,
    vk::RenderPass,
    render_pass2
);

unsafe extern "system" fn create_compute_pipelines(
    device: vk::Device,
    cache: vk::PipelineCache,
    count: u32,
    infos: *const vk::ComputePipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: `count` valid create-infos (Vulkan contract).
    for info in unsafe { std::slice::from_raw_parts(infos, count as usize) } {
        // SAFETY: a valid create-info.
        let key = with_recorder(|recorder| unsafe { recorder.compute_pipeline(info) });
        break_at(key.expect("a replayed pipeline is recordable"));
    }
    let real = real!(
        device,
        c"vkCreateComputePipelines",
        vk::PFN_vkCreateComputePipelines
    );
    // SAFETY: forwarding the caller's valid arguments to the driver.
    unsafe { real(device, cache, count, infos, allocator, pipelines) }
}

unsafe extern "system" fn create_graphics_pipelines(
    device: vk::Device,
    cache: vk::PipelineCache,
    count: u32,
    infos: *const vk::GraphicsPipelineCreateInfo<'_>,
    allocator: *const vk::AllocationCallbacks<'_>,
    pipelines: *mut vk::Pipeline,
) -> vk::Result {
    // SAFETY: `count` valid create-infos (Vulkan contract).
    for info in unsafe { std::slice::from_raw_parts(infos, count as usize) } {
        // SAFETY: a valid create-info.
        let key = with_recorder(|recorder| unsafe { recorder.graphics_pipeline(info) });
        break_at(key.expect("a replayed pipeline is recordable"));
    }
    let real = real!(
        device,
        c"vkCreateGraphicsPipelines",
        vk::PFN_vkCreateGraphicsPipelines
    );
    // SAFETY: forwarding the caller's valid arguments to the driver.
    unsafe { real(device, cache, count, infos, allocator, pipelines) }
}
