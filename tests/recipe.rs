//! Recipes without a driver: recording a varied scene of create-infos built in Rust, the round
//! trip of every kind, rebuilding (rebuilt create-infos record the same recipes), what is not
//! recorded and why, deduplication, parser robustness, application records.

#[path = "../fuzz/recipe_harness.rs"]
mod recipe_harness;
mod recipe_support;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use pcstore::recipe::replay::RecipeSet;
use pcstore::recipe::{
    stored_application_record, stored_catalog, AnyRecipe, ApplicationRecord, BuildError,
    CacheTarget, Catalog, ComputePipelineRecipe, DescriptorSetLayoutRecipe, DeviceRecipe,
    GraphicsPipelineRecipe, HandleMap, KeyMap, NamespaceScheme, NotRecorded, ParseError,
    PipelineLayoutRecipe, Recipe, RecipeKey, RecipeKind, RecipeRecorder, RenderPassApi,
    RenderPassBuild, RenderPassRecipe, SamplerRecipe, ShaderModuleRecipe,
};
use pcstore::vulkan::ash::vk::{self, Handle};
use pcstore::{
    InMemoryPipelineCache, LayeredOptions, LayeredPipelineCache, PipelineCacheStore,
    PipelineFingerprint, WritePolicy,
};
use proptest::prelude::*;
use recipe_support::{
    create_scene, scene_pipeline_count, words, Creator, RecordingOnly, SceneOptions,
};

fn recorded_scene() -> RecordingOnly {
    let mut scene = RecordingOnly::default();
    create_scene(&mut scene, &SceneOptions::everything());
    scene
}

/// The scene's recipes, recorded once for the tests that only read them.
fn scene_recipes() -> &'static Vec<Vec<u8>> {
    static RECIPES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    RECIPES.get_or_init(|| recorded_scene().recorder.recipes.into_values().collect())
}

fn kinds(scene: &RecordingOnly) -> Vec<RecipeKind> {
    scene
        .recorder
        .parsed()
        .iter()
        .map(|(_, recipe)| recipe.kind())
        .collect()
}

#[test]
fn every_object_of_the_scene_is_recorded_and_round_trips() {
    let scene = recorded_scene();
    let recorder = &scene.recorder;
    assert_eq!(
        recorder.pipelines.len(),
        scene_pipeline_count(&SceneOptions::everything())
    );
    let kinds = kinds(&scene);
    let count = |kind| kinds.iter().filter(|found| **found == kind).count();
    assert_eq!(
        count(RecipeKind::ShaderModule),
        7,
        "8 modules, 2 with one SPIR-V"
    );
    assert_eq!(count(RecipeKind::Sampler), 3);
    assert_eq!(count(RecipeKind::DescriptorSetLayout), 2);
    assert_eq!(count(RecipeKind::PipelineLayout), 2);
    assert_eq!(count(RecipeKind::RenderPass), 3);
    assert_eq!(
        count(RecipeKind::ComputePipeline),
        2,
        "3 pipelines, the derivative = C1"
    );
    assert_eq!(count(RecipeKind::GraphicsPipeline), 6);
    for (key, bytes) in &recorder.recipes {
        assert_eq!(RecipeKey::of(bytes), *key);
        let parsed = AnyRecipe::from_bytes(bytes).expect("parses");
        assert_eq!(parsed.to_bytes(), *bytes, "serialize -> parse -> serialize");
        for reference in parsed.references() {
            assert!(
                recorder.recipes.contains_key(&reference),
                "{:?} refers to a recipe that was not recorded",
                parsed.kind()
            );
        }
    }
}

#[test]
fn identical_objects_share_one_recipe_and_pipelines_share_references() {
    let scene = recorded_scene();
    let recorder = &scene.recorder;
    // Two objects repeat an earlier recipe (a module, a compute pipeline): the stored set is
    // smaller than what was created.
    assert_eq!(recorder.objects, recorder.recipes.len() + 2);
    let pipelines = &recorder.pipelines;
    assert_eq!(
        pipelines[0], pipelines[2],
        "the derivative records as its base"
    );
    let compute: Vec<ComputePipelineRecipe> = pipelines[..2]
        .iter()
        .map(|key| Recipe::from_bytes(&recorder.recipes[key]).expect("compute"))
        .collect();
    assert_eq!(
        compute[0].stage.module, compute[1].stage.module,
        "two module handles with one SPIR-V are one recipe"
    );
    assert_eq!(compute[0].layout, compute[1].layout);
    assert_ne!(
        compute[0].stage.specialization,
        compute[1].stage.specialization
    );
    assert!(!compute[0]
        .flags
        .contains(vk::PipelineCreateFlags::DERIVATIVE));
    let graphics: Vec<GraphicsPipelineRecipe> = pipelines[3..]
        .iter()
        .map(|key| Recipe::from_bytes(&recorder.recipes[key]).expect("graphics"))
        .collect();
    let layouts: BTreeSet<_> = graphics.iter().map(|pipeline| pipeline.layout).collect();
    assert_eq!(
        layouts.len(),
        1,
        "every graphics pipeline names one layout recipe"
    );
    let vertex_modules: BTreeSet<_> = graphics
        .iter()
        .map(|pipeline| pipeline.stages[0].module)
        .collect();
    assert_eq!(vertex_modules.len(), 1);
}

#[test]
fn recorded_state_is_what_the_application_passed_where_vulkan_reads_it() {
    let scene = recorded_scene();
    let recorder = &scene.recorder;
    let graphics: Vec<GraphicsPipelineRecipe> = recorder.pipelines[3..]
        .iter()
        .map(|key| Recipe::from_bytes(&recorder.recipes[key]).expect("graphics"))
        .collect();
    let first = &graphics[0];
    let vertex = first.vertex_input.as_ref().expect("vertex input");
    assert_eq!(vertex.bindings.len(), 3);
    assert_eq!(vertex.bindings[2].input_rate, vk::VertexInputRate::INSTANCE);
    let divisors = vertex.divisors.as_ref().expect("divisors");
    assert_eq!(
        (divisors.divisors[0].binding, divisors.divisors[0].divisor),
        (2, 3)
    );
    let rasterization = first.rasterization.as_ref().expect("rasterization");
    assert!(rasterization
        .depth_clip
        .as_ref()
        .is_some_and(|clip| clip.enable));
    assert_eq!(
        rasterization.line.as_ref().map(|line| line.mode),
        Some(vk::LineRasterizationModeKHR::RECTANGULAR)
    );
    assert_eq!(
        first
            .multisample
            .as_ref()
            .and_then(|ms| ms.sample_mask.clone()),
        Some(vec![0xb])
    );
    assert_eq!(
        first
            .viewport
            .as_ref()
            .and_then(|v| v.viewports.as_ref())
            .map(Vec::len),
        Some(1)
    );
    assert!(first.depth_stencil.is_some());
    // Subpass 1 has no depth attachment: its depth-stencil state is not recorded.
    assert!(graphics[1].depth_stencil.is_none());
    let dynamic_viewport = graphics[1].viewport.as_ref().expect("viewport state");
    assert_eq!(dynamic_viewport.viewport_count, 1);
    assert!(dynamic_viewport.viewports.is_none());
    assert!(dynamic_viewport.depth_clip_control.is_some());
    // Dynamic rendering with formats and depth-stencil.
    match &graphics[2].target {
        pcstore::recipe::RenderTarget::Dynamic(formats) => {
            assert_eq!(formats.color_formats.len(), 2);
            assert_eq!(formats.depth_format, vk::Format::D32_SFLOAT_S8_UINT);
        }
        other => panic!("expected dynamic rendering, got {other:?}"),
    }
    let tessellation = graphics[5].tessellation.as_ref().expect("tessellation");
    assert_eq!(tessellation.patch_control_points, 3);
    assert_eq!(
        tessellation
            .domain_origin
            .as_ref()
            .map(|origin| origin.origin),
        Some(vk::TessellationDomainOrigin::LOWER_LEFT)
    );
}

/// A handle for every key: what a replayer's map holds once it created every object.
fn fake_handles(scene: &RecordingOnly) -> HandleMap {
    let mut handles = HandleMap::default();
    for (index, (key, recipe)) in scene.recorder.parsed().into_iter().enumerate() {
        let raw = 0x9000 + index as u64;
        match recipe.kind() {
            RecipeKind::ShaderModule => {
                handles
                    .shader_modules
                    .insert(key, vk::ShaderModule::from_raw(raw));
            }
            RecipeKind::Sampler => {
                handles.samplers.insert(key, vk::Sampler::from_raw(raw));
            }
            RecipeKind::DescriptorSetLayout => {
                handles
                    .descriptor_set_layouts
                    .insert(key, vk::DescriptorSetLayout::from_raw(raw));
            }
            RecipeKind::PipelineLayout => {
                handles
                    .pipeline_layouts
                    .insert(key, vk::PipelineLayout::from_raw(raw));
            }
            RecipeKind::RenderPass => {
                handles
                    .render_passes
                    .insert(key, vk::RenderPass::from_raw(raw));
            }
            _ => {}
        }
    }
    handles
}

/// The keys a recorder would give the replayer's handles.
fn keys_of(handles: &HandleMap, scene: &RecordingOnly) -> KeyMap {
    let mut keys = KeyMap::new();
    for (key, module) in &handles.shader_modules {
        keys.insert_shader_module(*module, *key);
    }
    for (key, sampler) in &handles.samplers {
        keys.insert_sampler(*sampler, *key);
    }
    for (key, layout) in &handles.descriptor_set_layouts {
        keys.insert_descriptor_set_layout(*layout, *key);
    }
    for (key, layout) in &handles.pipeline_layouts {
        keys.insert_pipeline_layout(*layout, *key);
    }
    for (key, render_pass) in &handles.render_passes {
        let recipe = RenderPassRecipe::from_bytes(&scene.recorder.recipes[key]).expect("parses");
        keys.insert_render_pass(*render_pass, &recipe);
    }
    keys
}

/// Rebuilds `recipe` and records the rebuilt create-info again.
fn rerecord(recipe: &AnyRecipe, handles: &HandleMap, keys: &KeyMap) -> Vec<u8> {
    // SAFETY: every capture reads a create-info from a builder that lives through the call.
    unsafe {
        match recipe {
            AnyRecipe::ShaderModule(recipe) => {
                let build = recipe.build().expect("build");
                ShaderModuleRecipe::capture(build.create_info()).map(|r| r.to_bytes())
            }
            AnyRecipe::Sampler(recipe) => {
                let build = recipe.build();
                SamplerRecipe::capture(build.create_info()).map(|r| r.to_bytes())
            }
            AnyRecipe::DescriptorSetLayout(recipe) => {
                let build = recipe.build(handles).expect("build");
                DescriptorSetLayoutRecipe::capture(build.create_info(), keys).map(|r| r.to_bytes())
            }
            AnyRecipe::PipelineLayout(recipe) => {
                let build = recipe.build(handles).expect("build");
                PipelineLayoutRecipe::capture(build.create_info(), keys).map(|r| r.to_bytes())
            }
            AnyRecipe::RenderPass(recipe) => match recipe.build().expect("build") {
                RenderPassBuild::V1(build) => {
                    RenderPassRecipe::capture(build.create_info()).map(|r| r.to_bytes())
                }
                RenderPassBuild::V2(build) => {
                    RenderPassRecipe::capture2(build.create_info()).map(|r| r.to_bytes())
                }
            },
            AnyRecipe::ComputePipeline(recipe) => {
                let build = recipe.build(handles).expect("build");
                ComputePipelineRecipe::capture(build.create_info(), keys)
                    .map(|captured| captured.recipe.to_bytes())
            }
            AnyRecipe::GraphicsPipeline(recipe) => {
                let build = recipe.build(handles).expect("build");
                GraphicsPipelineRecipe::capture(build.create_info(), keys)
                    .map(|captured| captured.recipe.to_bytes())
            }
            other => panic!("not an object recipe: {:?}", other.kind()),
        }
    }
    .expect("a rebuilt create-info is recorded again")
}

#[test]
fn rebuilt_create_infos_record_the_same_recipes() {
    let scene = recorded_scene();
    let handles = fake_handles(&scene);
    let keys = keys_of(&handles, &scene);
    let mut checked = 0;
    for (key, recipe) in scene.recorder.parsed() {
        let again = rerecord(&recipe, &handles, &keys);
        assert_eq!(
            RecipeKey::of(&again),
            key,
            "{:?} changed through build and capture",
            recipe.kind()
        );
        checked += 1;
    }
    assert_eq!(checked, scene.recorder.recipes.len());
}

#[test]
fn render_pass_v1_multiview_and_aspects_fold_into_the_v2_fields() {
    let scene = recorded_scene();
    let passes: Vec<RenderPassRecipe> = scene
        .recorder
        .parsed()
        .into_iter()
        .filter_map(|(_, recipe)| match recipe {
            AnyRecipe::RenderPass(pass) => Some(pass),
            _ => None,
        })
        .collect();
    let multiview = passes
        .iter()
        .find(|pass| pass.subpasses.iter().any(|subpass| subpass.view_mask != 0))
        .expect("the multiview pass");
    assert_eq!(multiview.api, RenderPassApi::V1);
    assert_eq!(multiview.subpasses[0].view_mask, 0b11);
    assert_eq!(multiview.correlated_view_masks, [0b11]);
    let two = passes
        .iter()
        .find(|pass| pass.subpasses.len() == 2)
        .expect("the two-subpass pass");
    assert_eq!(
        two.subpasses[1].input_attachments[0].aspect_mask,
        vk::ImageAspectFlags::COLOR
    );
    assert_eq!(two.subpasses[1].preserve_attachments, [1]);
    let msaa = passes
        .iter()
        .find(|pass| pass.api == RenderPassApi::V2)
        .expect("the v2 pass");
    let subpass = &msaa.subpasses[0];
    assert!(subpass.resolve_attachments.is_some());
    assert!(subpass.depth_stencil_resolve.is_some());
    assert!(subpass
        .depth_stencil_attachment
        .as_ref()
        .is_some_and(|r| r.stencil_layout.is_some()));
    assert!(msaa.attachments[2].stencil_layouts.is_some());
}

fn layout_keys() -> (KeyMap, vk::PipelineLayout, vk::ShaderModule) {
    let mut keys = KeyMap::new();
    let layout = vk::PipelineLayout::from_raw(7);
    let module = vk::ShaderModule::from_raw(8);
    keys.insert_pipeline_layout(layout, RecipeKey::of(b"layout"));
    keys.insert_shader_module(module, RecipeKey::of(b"module"));
    (keys, layout, module)
}

#[test]
fn an_unknown_pnext_structure_makes_the_object_not_recorded_naming_it() {
    let (keys, layout, module) = layout_keys();
    let stage = vk::PipelineShaderStageCreateInfo::default()
        .stage(vk::ShaderStageFlags::COMPUTE)
        .module(module)
        .name(c"main");
    let mut robustness = vk::PipelineRobustnessCreateInfoEXT::default();
    let info = vk::ComputePipelineCreateInfo::default()
        .stage(stage)
        .layout(layout)
        .push_next(&mut robustness);
    // SAFETY: a valid create-info.
    let error = unsafe { ComputePipelineRecipe::capture(&info, &keys) }.expect_err("refused");
    assert_eq!(
        error,
        NotRecorded::UnknownStructure {
            within: "VkComputePipelineCreateInfo",
            s_type: vk::StructureType::PIPELINE_ROBUSTNESS_CREATE_INFO_EXT,
        }
    );
    assert_eq!(
        error.structure_type(),
        Some(vk::StructureType::PIPELINE_ROBUSTNESS_CREATE_INFO_EXT)
    );

    // Deep in a state: the whole pipeline is refused, naming where.
    let mut order = vk::PipelineRasterizationStateRasterizationOrderAMD::default();
    let rasterization = vk::PipelineRasterizationStateCreateInfo::default()
        .line_width(1.0)
        .push_next(&mut order);
    let stages = [stage.stage(vk::ShaderStageFlags::VERTEX)];
    let formats = [vk::Format::R8G8B8A8_UNORM];
    let mut rendering =
        vk::PipelineRenderingCreateInfo::default().color_attachment_formats(&formats);
    let graphics = vk::GraphicsPipelineCreateInfo::default()
        .stages(&stages)
        .rasterization_state(&rasterization)
        .layout(layout)
        .push_next(&mut rendering);
    // SAFETY: a valid create-info.
    let error = unsafe { GraphicsPipelineRecipe::capture(&graphics, &keys) }.expect_err("refused");
    assert_eq!(
        error,
        NotRecorded::UnknownStructure {
            within: "VkPipelineRasterizationStateCreateInfo",
            s_type: vk::StructureType::PIPELINE_RASTERIZATION_STATE_RASTERIZATION_ORDER_AMD,
        }
    );

    // A sampler with a YCbCr conversion is not recordable yet.
    let mut conversion = vk::SamplerYcbcrConversionInfo::default();
    let sampler = vk::SamplerCreateInfo::default().push_next(&mut conversion);
    // SAFETY: a valid create-info.
    let error = unsafe { SamplerRecipe::capture(&sampler) }.expect_err("refused");
    assert_eq!(
        error.structure_type(),
        Some(vk::StructureType::SAMPLER_YCBCR_CONVERSION_INFO)
    );
    assert!(
        error.to_string().contains("SAMPLER_YCBCR_CONVERSION_INFO"),
        "{error}"
    );
}

#[test]
fn creation_feedback_is_ignored_and_no_compile_flags_are_dropped() {
    let (keys, layout, module) = layout_keys();
    let stage = vk::PipelineShaderStageCreateInfo::default()
        .stage(vk::ShaderStageFlags::COMPUTE)
        .module(module)
        .name(c"main");
    let plain = vk::ComputePipelineCreateInfo::default()
        .stage(stage)
        .layout(layout);
    let mut feedback_storage = vk::PipelineCreationFeedback::default();
    let mut feedback = vk::PipelineCreationFeedbackCreateInfo::default()
        .pipeline_creation_feedback(&mut feedback_storage);
    let probing = plain
        .flags(
            vk::PipelineCreateFlags::FAIL_ON_PIPELINE_COMPILE_REQUIRED
                | vk::PipelineCreateFlags::EARLY_RETURN_ON_FAILURE
                | vk::PipelineCreateFlags::DERIVATIVE,
        )
        .base_pipeline_handle(vk::Pipeline::from_raw(0x77))
        .push_next(&mut feedback);
    // SAFETY: valid create-infos.
    let (plain, probing) = unsafe {
        (
            ComputePipelineRecipe::capture(&plain, &keys).expect("plain"),
            ComputePipelineRecipe::capture(&probing, &keys).expect("probing"),
        )
    };
    assert_eq!(plain.recipe.to_bytes(), probing.recipe.to_bytes());

    let library = vk::ComputePipelineCreateInfo::default()
        .stage(stage)
        .layout(layout)
        .flags(vk::PipelineCreateFlags::LIBRARY_KHR);
    // SAFETY: a valid create-info.
    let error = unsafe { ComputePipelineRecipe::capture(&library, &keys) }.expect_err("refused");
    assert!(matches!(error, NotRecorded::Unsupported(_)), "{error}");
}

#[test]
fn a_handle_without_a_recipe_makes_the_object_not_recorded() {
    let (keys, _, module) = layout_keys();
    let info = vk::ComputePipelineCreateInfo::default()
        .stage(
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(module)
                .name(c"main"),
        )
        .layout(vk::PipelineLayout::from_raw(0xdead));
    // SAFETY: a valid create-info.
    let error = unsafe { ComputePipelineRecipe::capture(&info, &keys) }.expect_err("refused");
    assert_eq!(
        error,
        NotRecorded::UnknownHandle {
            kind: "VkPipelineLayout",
            raw: 0xdead
        }
    );
}

#[test]
fn a_module_given_inline_is_recorded_as_a_module_of_its_own() {
    let (keys, layout, _) = layout_keys();
    let code = words(recipe_support::COMPUTE_SPV);
    let mut inline = vk::ShaderModuleCreateInfo::default().code(&code);
    let info = vk::ComputePipelineCreateInfo::default()
        .stage(
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .name(c"main")
                .push_next(&mut inline),
        )
        .layout(layout);
    // SAFETY: a valid create-info.
    let captured = unsafe { ComputePipelineRecipe::capture(&info, &keys) }.expect("recorded");
    let standalone = vk::ShaderModuleCreateInfo::default().code(&code);
    // SAFETY: a valid create-info.
    let module = unsafe { ShaderModuleRecipe::capture(&standalone) }.expect("module");
    assert_eq!(captured.inline_modules, std::slice::from_ref(&module));
    assert_eq!(captured.recipe.stage.module, module.key());
}

/// An address whose read faults: a recorder that reads a state Vulkan ignores crashes here.
fn unreadable<T>() -> *const T {
    16usize as *const T
}

#[test]
fn state_vulkan_ignores_is_never_read() {
    let (keys, layout, module) = layout_keys();
    let stages = [
        vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::VERTEX)
            .module(module)
            .name(c"main"),
        vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::FRAGMENT)
            .module(module)
            .name(c"main"),
    ];
    let rasterization = vk::PipelineRasterizationStateCreateInfo::default().line_width(1.0);
    let dynamic_states = [
        vk::DynamicState::VERTEX_INPUT_EXT,
        vk::DynamicState::VIEWPORT_WITH_COUNT,
        vk::DynamicState::SCISSOR,
        vk::DynamicState::SAMPLE_MASK_EXT,
        vk::DynamicState::COLOR_BLEND_ENABLE_EXT,
        vk::DynamicState::COLOR_BLEND_EQUATION_EXT,
        vk::DynamicState::COLOR_WRITE_MASK_EXT,
    ];
    let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
    let mut viewport = vk::PipelineViewportStateCreateInfo::default().scissor_count(1);
    viewport.p_viewports = unreadable();
    viewport.p_scissors = unreadable();
    let mut multisample = vk::PipelineMultisampleStateCreateInfo::default()
        .rasterization_samples(vk::SampleCountFlags::TYPE_1);
    multisample.p_sample_mask = unreadable();
    let blend = vk::PipelineColorBlendStateCreateInfo {
        attachment_count: 1,
        p_attachments: unreadable(),
        ..Default::default()
    };
    let formats = [vk::Format::R8G8B8A8_UNORM];
    let mut rendering =
        vk::PipelineRenderingCreateInfo::default().color_attachment_formats(&formats);
    let mut info = vk::GraphicsPipelineCreateInfo::default()
        .stages(&stages)
        .rasterization_state(&rasterization)
        .viewport_state(&viewport)
        .multisample_state(&multisample)
        .color_blend_state(&blend)
        .dynamic_state(&dynamic)
        .layout(layout)
        .push_next(&mut rendering);
    // No tessellation stage, no depth or stencil format, vertex input dynamic.
    info.p_vertex_input_state = unreadable();
    info.p_tessellation_state = unreadable();
    info.p_depth_stencil_state = unreadable();
    // SAFETY: valid wherever Vulkan reads the create-info.
    let recipe = unsafe { GraphicsPipelineRecipe::capture(&info, &keys) }
        .expect("recorded")
        .recipe;
    assert!(recipe.vertex_input.is_none());
    assert!(recipe.tessellation.is_none());
    assert!(recipe.depth_stencil.is_none());
    let viewport = recipe.viewport.as_ref().expect("viewport state");
    assert!(viewport.viewports.is_none() && viewport.scissors.is_none());
    assert!(recipe
        .multisample
        .as_ref()
        .expect("multisample")
        .sample_mask
        .is_none());
    let blend = recipe.color_blend.as_ref().expect("blend");
    assert_eq!((blend.attachment_count, &blend.attachments), (1, &None));

    // With static rasterizer discard nothing after rasterization is read either.
    let discard = vk::PipelineRasterizationStateCreateInfo::default()
        .rasterizer_discard_enable(true)
        .line_width(1.0);
    let mut discarding = info.rasterization_state(&discard);
    discarding.p_viewport_state = unreadable();
    discarding.p_multisample_state = unreadable();
    discarding.p_color_blend_state = unreadable();
    // SAFETY: valid wherever Vulkan reads the create-info.
    let recipe = unsafe { GraphicsPipelineRecipe::capture(&discarding, &keys) }
        .expect("recorded")
        .recipe;
    assert!(recipe.viewport.is_none() && recipe.multisample.is_none());
    assert!(recipe.color_blend.is_none());
}

#[test]
fn builders_refuse_recipes_whose_counts_disagree_with_their_lists() {
    let scene = recorded_scene();
    let handles = fake_handles(&scene);
    let key = scene.recorder.pipelines[3];
    let mut pipeline =
        GraphicsPipelineRecipe::from_bytes(&scene.recorder.recipes[&key]).expect("G1");
    pipeline.viewport.as_mut().expect("viewport").viewport_count = 2;
    assert!(matches!(
        pipeline.build(&handles),
        Err(BuildError::Inconsistent(_))
    ));
    let mut pipeline =
        GraphicsPipelineRecipe::from_bytes(&scene.recorder.recipes[&key]).expect("G1");
    let specialization = pipeline.stages[0]
        .specialization
        .get_or_insert_with(Default::default);
    specialization
        .map_entries
        .push(pcstore::recipe::SpecializationMapEntry {
            constant_id: 9,
            offset: 2,
            size: 4,
        });
    specialization.data = vec![0; 4];
    assert!(matches!(
        pipeline.build(&handles),
        Err(BuildError::Inconsistent(_))
    ));
    let pipeline = GraphicsPipelineRecipe::from_bytes(&scene.recorder.recipes[&key]).expect("G1");
    assert!(matches!(
        pipeline.build(&HandleMap::default()),
        Err(BuildError::MissingHandle { .. })
    ));
}

#[test]
fn truncated_and_bit_flipped_recipes_never_panic_and_accepted_ones_are_canonical() {
    let mut accepted_flips = 0;
    let mut inputs = 0;
    for bytes in scene_recipes() {
        for len in 0..bytes.len() {
            assert!(
                AnyRecipe::from_bytes(&bytes[..len]).is_err(),
                "a truncated recipe ({len} of {} bytes) parsed",
                bytes.len()
            );
        }
        // SPIR-V words are plain values: flipping bits past a module's first words tests
        // nothing the first words do not.
        let structured = match AnyRecipe::from_bytes(bytes) {
            Ok(AnyRecipe::ShaderModule(_)) => bytes.len().min(32),
            _ => bytes.len(),
        };
        let mut flipped = bytes.clone();
        for bit in 0..structured * 8 {
            flipped[bit / 8] ^= 1 << (bit % 8);
            recipe_harness::check_recipe(&flipped);
            accepted_flips += usize::from(AnyRecipe::from_bytes(&flipped).is_ok());
            flipped[bit / 8] ^= 1 << (bit % 8);
            inputs += 1;
        }
    }
    // Most flips land in values (any value parses); the rest must be refused.
    assert!(accepted_flips > 0 && accepted_flips < inputs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_inputs_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        recipe_harness::parse_recipe(&input);
    }

    #[test]
    fn spliced_recipes_never_panic(cut in 0usize..4000, splice in proptest::collection::vec(any::<u8>(), 0..64)) {
        // Real recipes with a random stretch replaced: deep, structurally plausible inputs.
        for bytes in scene_recipes() {
            let at = cut % (bytes.len() + 1);
            let mut spliced = bytes[..at].to_vec();
            spliced.extend_from_slice(&splice);
            spliced.extend_from_slice(&bytes[(at + splice.len()).min(bytes.len())..]);
            recipe_harness::check_recipe(&spliced);
        }
    }
}

#[test]
fn claimed_counts_never_size_an_allocation() {
    // A shader module claiming 2^32-1 words in a 12-byte body: refused without allocating.
    let mut bytes = b"PCRC\x01\x01\0\0".to_vec();
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    assert!(matches!(
        AnyRecipe::from_bytes(&bytes),
        Err(ParseError::Malformed {
            kind: RecipeKind::ShaderModule,
            ..
        })
    ));
}

#[test]
fn the_format_is_pinned_by_a_hand_written_recipe() {
    // FORMAT.md, "Recipes": a pipeline layout with one set layout and one push-constant range.
    let set = RecipeKey(PipelineFingerprint([7; 32]));
    let mut expected = b"PCRC".to_vec();
    expected.extend_from_slice(&[4, 1, 0, 0]); // kind 4 (pipeline layout), version 1
    expected.extend_from_slice(&0u32.to_le_bytes()); // flags
    expected.extend_from_slice(&2u32.to_le_bytes()); // two set layouts
    expected.push(1); // present
    expected.extend_from_slice(&[7; 32]);
    expected.push(0); // VK_NULL_HANDLE
    expected.extend_from_slice(&1u32.to_le_bytes()); // one range
    expected.extend_from_slice(&vk::ShaderStageFlags::VERTEX.as_raw().to_le_bytes());
    expected.extend_from_slice(&16u32.to_le_bytes());
    expected.extend_from_slice(&32u32.to_le_bytes());
    expected.push(0); // empty pNext chain
    let recipe = PipelineLayoutRecipe {
        flags: vk::PipelineLayoutCreateFlags::empty(),
        set_layouts: vec![Some(set), None],
        push_constant_ranges: vec![pcstore::recipe::PushConstantRange {
            stage_flags: vk::ShaderStageFlags::VERTEX,
            offset: 16,
            size: 32,
        }],
    };
    assert_eq!(recipe.to_bytes(), expected);
    assert_eq!(
        recipe.key().0,
        PipelineFingerprint::builder()
            .with(b"pcstore.recipe.v1")
            .with(&expected)
            .finish()
    );
}

fn feature_names() -> [&'static std::ffi::CStr; 3] {
    [
        c"VK_KHR_swapchain",
        c"VK_EXT_vertex_attribute_divisor",
        c"VK_KHR_swapchain",
    ]
}

#[test]
fn a_device_records_its_extensions_and_known_features() {
    let names = feature_names();
    let pointers: Vec<_> = names.iter().map(|name| name.as_ptr()).collect();
    let core = vk::PhysicalDeviceFeatures::default()
        .sampler_anisotropy(true)
        .tessellation_shader(true);
    let mut vulkan12 = vk::PhysicalDeviceVulkan12Features::default()
        .timeline_semaphore(true)
        .descriptor_binding_partially_bound(true);
    let mut vulkan13 = vk::PhysicalDeviceVulkan13Features::default().dynamic_rendering(true);
    let mut divisor = vk::PhysicalDeviceVertexAttributeDivisorFeaturesKHR::default()
        .vertex_attribute_instance_rate_divisor(true);
    let mut unknown =
        vk::PhysicalDeviceCoherentMemoryFeaturesAMD::default().device_coherent_memory(true);
    let mut loader = vk::BaseOutStructure {
        s_type: vk::StructureType::LOADER_DEVICE_CREATE_INFO,
        ..Default::default()
    };
    let mut info = vk::DeviceCreateInfo::default()
        .enabled_extension_names(&pointers)
        .enabled_features(&core)
        .push_next(&mut vulkan13)
        .push_next(&mut divisor)
        .push_next(&mut unknown)
        .push_next(&mut vulkan12);
    // The loader's own link sits in the chain a layer sees.
    loader.p_next = info.p_next as *mut _;
    info.p_next = std::ptr::from_mut(&mut loader).cast();
    // SAFETY: a valid create-info.
    let recipe = unsafe { DeviceRecipe::capture(&info, vk::API_VERSION_1_3) }.expect("device");
    assert_eq!(recipe.api_version, vk::API_VERSION_1_3);
    assert_eq!(
        recipe.extensions,
        [
            b"VK_EXT_vertex_attribute_divisor".to_vec(),
            b"VK_KHR_swapchain".to_vec()
        ]
    );
    let types: Vec<_> = recipe
        .features
        .iter()
        .map(|feature| feature.s_type)
        .collect();
    assert_eq!(
        types,
        [
            vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
            vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
            vk::StructureType::PHYSICAL_DEVICE_FEATURES_2,
            vk::StructureType::PHYSICAL_DEVICE_VERTEX_ATTRIBUTE_DIVISOR_FEATURES_KHR,
        ],
        "ascending sType"
    );
    let core_enabled = &recipe.features[2].enabled;
    assert_eq!(core_enabled.len(), 55);
    assert_eq!(core_enabled.iter().filter(|on| **on).count(), 2);
    assert_eq!(
        recipe.unrecognized,
        [vk::StructureType::PHYSICAL_DEVICE_COHERENT_MEMORY_FEATURES_AMD]
    );

    let bytes = recipe.to_bytes();
    let parsed = DeviceRecipe::from_bytes(&bytes).expect("parses");
    assert_eq!(parsed.to_bytes(), bytes);
    let mut known = parsed.clone();
    known.unrecognized.clear();
    let build = known.build().expect("build");
    let rebuilt = build.create_info(&[]);
    // SAFETY: a valid create-info from the builder.
    let again = unsafe { DeviceRecipe::capture(&rebuilt, vk::API_VERSION_1_3) }.expect("again");
    assert_eq!(again, known, "build then capture gives the recipe back");
}

fn target() -> CacheTarget {
    CacheTarget {
        key: PipelineFingerprint::of(b"pcstore.vulkan-layer.device-cache.v1"),
        namespace: b"game\0Game\0\x01\0\0\0\0Engine\0\x02\0\0\0".to_vec(),
        scheme: NamespaceScheme::WithDeviceName,
    }
}

#[test]
fn application_records_grow_by_union_and_round_trip() {
    let identity = b"game\0Game\0\x01\0\0\0\0Engine\0\x02\0\0\0".to_vec();
    let device = RecipeKey::of(b"device");
    let pipelines: Vec<RecipeKey> = (0..5u8).map(|i| RecipeKey::of(&[i])).collect();
    let mut first_run = ApplicationRecord::new(identity.clone(), target());
    assert!(first_run.insert(device, pipelines[0]));
    assert!(first_run.insert(device, pipelines[1]));
    assert!(!first_run.insert(device, pipelines[1]), "already there");
    let mut second_run = ApplicationRecord::new(identity.clone(), target());
    second_run.insert(device, pipelines[1]);
    second_run.insert(device, pipelines[2]);
    second_run.insert(RecipeKey::of(b"other device"), pipelines[3]);

    let mut merged_one_way = first_run.clone();
    merged_one_way.merge(&second_run);
    let mut merged_other_way = second_run.clone();
    merged_other_way.merge(&first_run);
    assert_eq!(merged_one_way, merged_other_way, "merge is commutative");
    let mut twice = merged_one_way.clone();
    twice.merge(&second_run);
    assert_eq!(twice, merged_one_way, "merge is idempotent");
    assert_eq!(merged_one_way.pipelines[&device].len(), 3);
    assert_eq!(merged_one_way.references().count(), 2 + 4);

    let bytes = merged_one_way.to_bytes();
    let parsed = ApplicationRecord::from_bytes(&bytes).expect("parses");
    assert_eq!(parsed, merged_one_way);
    assert_eq!(parsed.to_bytes(), bytes);
    // Where it lives does not depend on what it holds.
    assert_eq!(first_run.store_key(), merged_one_way.store_key());
    assert_eq!(
        first_run.store_key(),
        ApplicationRecord::store_key_for(&identity, &target())
    );
    assert_ne!(
        first_run.store_key(),
        first_run.key(),
        "not content-addressed"
    );
    let mut engine = target();
    engine.scheme = NamespaceScheme::Exact;
    assert_ne!(
        ApplicationRecord::store_key_for(&identity, &engine),
        first_run.store_key(),
        "another cache, another record"
    );
    assert_eq!(
        target().namespace_for(b"llvmpipe"),
        [&identity[..], b"\0llvmpipe"].concat()
    );
    assert_eq!(engine.namespace_for(b"llvmpipe"), identity);
    // The layer's device cache: the device name, then the configuration digest, as
    // src/layer/cache.rs forms the namespace it loads under.
    let mut layer = target();
    layer.scheme = NamespaceScheme::WithDeviceNameAndConfiguration([7; 32]);
    assert_eq!(
        layer.namespace_for(b"llvmpipe"),
        [&identity[..], b"\0llvmpipe\0", &[7; 32]].concat()
    );
    let mut layer_record = ApplicationRecord::new(identity.clone(), layer.clone());
    layer_record.insert(device, pipelines[0]);
    let layer_bytes = layer_record.to_bytes();
    assert_eq!(
        ApplicationRecord::from_bytes(&layer_bytes).expect("parses"),
        layer_record
    );
    assert_ne!(
        ApplicationRecord::store_key_for(&identity, &layer),
        first_run.store_key(),
        "another configuration, another record"
    );

    let mut catalog = Catalog::default();
    catalog.applications.insert(first_run.store_key());
    let mut other = Catalog::default();
    other
        .applications
        .insert(RecipeKey::of(b"another application"));
    catalog.merge(&other);
    assert_eq!(catalog.applications.len(), 2);
    let bytes = catalog.to_bytes();
    assert_eq!(Catalog::from_bytes(&bytes).expect("parses"), catalog);
    assert_ne!(Catalog::store_key(), catalog.key());
}

#[test]
fn a_cyclic_chain_ends_the_walk_instead_of_looping() {
    let mut reduction = vk::SamplerReductionModeCreateInfo::default();
    reduction.p_next = std::ptr::from_ref(&reduction).cast();
    let info = vk::SamplerCreateInfo {
        p_next: std::ptr::from_ref(&reduction).cast(),
        ..Default::default()
    };
    // SAFETY: every link is a valid structure (the chain is only endless).
    let error = unsafe { SamplerRecipe::capture(&info) }.expect_err("refused");
    assert!(matches!(error, NotRecorded::Unsupported(_)), "{error}");
}

#[test]
fn a_device_chain_of_a_hundred_structures_is_recorded() {
    // Translation layers enable dozens of feature structures; the walk must not give up early.
    let mut links: Vec<vk::BaseOutStructure<'_>> = (0..100)
        .map(|index| vk::BaseOutStructure {
            s_type: vk::StructureType::from_raw(1_000_900_000 + index),
            ..Default::default()
        })
        .collect();
    let first = links.as_mut_ptr();
    for index in 0..links.len() - 1 {
        // SAFETY: both indexes are within `links`, which is not moved while linked.
        unsafe { (*first.add(index)).p_next = first.add(index + 1) };
    }
    let info = vk::DeviceCreateInfo {
        p_next: first.cast_const().cast(),
        ..Default::default()
    };
    // SAFETY: a valid chain of 100 structures.
    let recipe = unsafe { DeviceRecipe::capture(&info, 0) }.expect("recorded");
    assert_eq!(recipe.unrecognized.len(), 100);
}

/// The scene created with made-up handles, recorded by the library's `RecipeRecorder` into a
/// store (as an engine or the layer records).
struct IntoStore<'a> {
    recorder: &'a RecipeRecorder,
    next_handle: u64,
}

recipe_support::creator_recording_with_made_up_handles!(IntoStore<'_>);

#[test]
fn the_recorder_stores_every_recipe_and_publishes_the_application() {
    let store: Arc<dyn PipelineCacheStore> = Arc::new(InMemoryPipelineCache::new());
    let device = DeviceRecipe {
        api_version: vk::API_VERSION_1_3,
        extensions: vec![b"VK_EXT_custom_border_color".to_vec()],
        features: Vec::new(),
        unrecognized: Vec::new(),
    };
    let recorder = RecipeRecorder::new(Arc::clone(&store), b"game".to_vec(), target(), &device);
    create_scene(
        &mut IntoStore {
            recorder: &recorder,
            next_handle: 0,
        },
        &SceneOptions::everything(),
    );
    let application_key = ApplicationRecord::store_key_for(b"game", &target());
    assert_eq!(recorder.application_key(), application_key);
    assert!(
        store.get(&application_key.fingerprint()).is_none(),
        "published by flush only"
    );
    recorder.flush();

    let expected = recorded_scene().recorder;
    let expected_pipelines: BTreeSet<RecipeKey> = expected.pipelines.iter().copied().collect();
    let stored = store
        .get(&application_key.fingerprint())
        .expect("application record");
    let record = ApplicationRecord::from_bytes(&stored).expect("parses");
    assert_eq!(record.identity, b"game");
    assert_eq!(record.pipelines.len(), 1);
    assert_eq!(record.pipelines[&device.key()], expected_pipelines);
    let catalog = Catalog::from_bytes(
        &store
            .get(&Catalog::store_key().fingerprint())
            .expect("catalog"),
    )
    .expect("parses");
    assert!(catalog.applications.contains(&application_key));
    assert_eq!(
        store.get(&device.key().fingerprint()),
        Some(device.to_bytes())
    );
    // Every recipe of the plain recorder is stored, and a replay finds all it needs.
    for (key, bytes) in &expected.recipes {
        assert_eq!(store.get(&key.fingerprint()).as_ref(), Some(bytes));
    }
    let (set, unavailable) = RecipeSet::fetch(store.as_ref(), expected_pipelines.iter().copied());
    assert!(unavailable.is_empty());
    assert!(set.len() > expected_pipelines.len());

    // A later run adds to the stored record instead of replacing it.
    let later = RecipeRecorder::new(Arc::clone(&store), b"game".to_vec(), target(), &device);
    let (_, layout, module) = layout_keys();
    // SAFETY: valid create-infos.
    unsafe {
        let code = [0x0723_0203u32, 0x0001_0000, 0, 1, 0];
        later
            .shader_module(module, &vk::ShaderModuleCreateInfo::default().code(&code))
            .expect("module");
        later
            .pipeline_layout(layout, &vk::PipelineLayoutCreateInfo::default())
            .expect("layout");
    }
    let stage = vk::PipelineShaderStageCreateInfo::default()
        .stage(vk::ShaderStageFlags::COMPUTE)
        .module(module)
        .name(c"main");
    let info = vk::ComputePipelineCreateInfo::default()
        .stage(stage)
        .layout(layout);
    // SAFETY: a valid create-info.
    let added = unsafe { later.compute_pipeline(&info) }.expect("pipeline");
    later.flush();
    let record = ApplicationRecord::from_bytes(
        &store
            .get(&application_key.fingerprint())
            .expect("application record"),
    )
    .expect("parses");
    assert_eq!(
        record.pipelines[&device.key()].len(),
        expected_pipelines.len() + 1
    );
    assert!(record.pipelines[&device.key()].contains(&added));

    // A handle the driver reuses for an object that is not recorded no longer names the old
    // recipe: the pipeline using it is not recorded, and the refusal is counted by sType.
    let mut unknown = vk::ShaderModuleValidationCacheCreateInfoEXT::default();
    let code = [0x0723_0203u32, 0x0001_0000, 0, 2, 0];
    let reused = vk::ShaderModuleCreateInfo::default()
        .code(&code)
        .push_next(&mut unknown);
    // SAFETY: a valid create-info.
    let refused = unsafe { later.shader_module(module, &reused) }.expect_err("not recorded");
    assert_eq!(
        refused.structure_type(),
        Some(vk::StructureType::SHADER_MODULE_VALIDATION_CACHE_CREATE_INFO_EXT)
    );
    // SAFETY: a valid create-info.
    let error = unsafe { later.compute_pipeline(&info) }.expect_err("not recorded");
    assert!(
        matches!(
            error,
            NotRecorded::UnknownHandle {
                kind: "VkShaderModule",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        later.not_recorded(),
        [
            (None, 1),
            (
                Some(vk::StructureType::SHADER_MODULE_VALIDATION_CACHE_CREATE_INFO_EXT),
                1
            )
        ]
    );
}

// A pipeline created again is found by its recipe's bytes without hashing them with BLAKE3
// (recorder.rs): the tests below change, behind the same pointers and handles of one
// create-info, each thing a shortcut could miss, and require a new pipeline every time.

/// What the tests change inside one graphics create-info they keep passing unchanged (same
/// pointers, same handles): a recorder that looked at addresses or handles only would miss it.
struct Knobs {
    specialization: [Cell<u32>; 2],
    blend: Cell<vk::PipelineColorBlendAttachmentState>,
    dynamic_states: [Cell<vk::DynamicState>; 2],
}

fn again_module() -> vk::ShaderModule {
    vk::ShaderModule::from_raw(0x51)
}

fn again_layout() -> vk::PipelineLayout {
    vk::PipelineLayout::from_raw(0x52)
}

/// Records a module whose SPIR-V ends in `word` under `again_module()`: a driver that
/// destroyed the previous module there and handed its handle out again.
fn create_again_module(recorder: &RecipeRecorder, word: u32) {
    let code = [0x0723_0203u32, 0x0001_0000, 0, word, 0];
    // SAFETY: a valid create-info.
    unsafe {
        recorder.shader_module(
            again_module(),
            &vk::ShaderModuleCreateInfo::default().code(&code),
        )
    }
    .expect("module recorded");
}

/// A recorder into a store of its own that knows `again_module()` (SPIR-V word 1) and
/// `again_layout()`.
fn again_recorder(identity: &[u8]) -> (Arc<dyn PipelineCacheStore>, RecipeRecorder) {
    let store: Arc<dyn PipelineCacheStore> = Arc::new(InMemoryPipelineCache::new());
    let recorder = again_recorder_in(&store, identity);
    (store, recorder)
}

/// As [`again_recorder`], into `store`.
fn again_recorder_in(store: &Arc<dyn PipelineCacheStore>, identity: &[u8]) -> RecipeRecorder {
    let device = DeviceRecipe {
        api_version: vk::API_VERSION_1_3,
        extensions: Vec::new(),
        features: Vec::new(),
        unrecognized: Vec::new(),
    };
    let recorder = RecipeRecorder::new(Arc::clone(store), identity.to_vec(), target(), &device);
    create_again_module(&recorder, 1);
    // SAFETY: a valid create-info.
    unsafe { recorder.pipeline_layout(again_layout(), &vk::PipelineLayoutCreateInfo::default()) }
        .expect("layout recorded");
    recorder
}

fn record_graphics(
    recorder: &RecipeRecorder,
    info: &vk::GraphicsPipelineCreateInfo<'_>,
) -> RecipeKey {
    // SAFETY: a valid create-info (with_graphics_pipeline).
    unsafe { recorder.graphics_pipeline(info) }.expect("pipeline recorded")
}

/// The pipelines in `recorder`'s application record, once flushed.
fn published(store: &dyn PipelineCacheStore, recorder: &RecipeRecorder) -> BTreeSet<RecipeKey> {
    recorder.flush();
    let bytes = store
        .get(&recorder.application_key().fingerprint())
        .expect("application record");
    let record = ApplicationRecord::from_bytes(&bytes).expect("parses");
    record.pipelines.into_values().flatten().collect()
}

/// Calls `body` with a graphics create-info (dynamic rendering, two stages specialized by
/// `knobs.specialization`, one blend attachment `knobs.blend`, dynamic states
/// `knobs.dynamic_states`) built once, and the knobs that change it in place.
fn with_graphics_pipeline(body: impl FnOnce(&vk::GraphicsPipelineCreateInfo<'_>, &Knobs)) {
    let knobs = Knobs {
        specialization: [Cell::new(1), Cell::new(2)],
        blend: Cell::new(
            vk::PipelineColorBlendAttachmentState::default()
                .color_write_mask(vk::ColorComponentFlags::RGBA),
        ),
        dynamic_states: [
            Cell::new(vk::DynamicState::VIEWPORT),
            Cell::new(vk::DynamicState::SCISSOR),
        ],
    };
    let entries = [
        vk::SpecializationMapEntry {
            constant_id: 0,
            offset: 0,
            size: 4,
        },
        vk::SpecializationMapEntry {
            constant_id: 1,
            offset: 4,
            size: 4,
        },
    ];
    let specialization = vk::SpecializationInfo {
        map_entry_count: 2,
        p_map_entries: entries.as_ptr(),
        data_size: 8,
        p_data: knobs.specialization.as_ptr().cast(),
        ..Default::default()
    };
    let stages = [
        vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::VERTEX)
            .module(again_module())
            .name(c"main")
            .specialization_info(&specialization),
        vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::FRAGMENT)
            .module(again_module())
            .name(c"main"),
    ];
    let vertex_input = vk::PipelineVertexInputStateCreateInfo::default();
    let input_assembly = vk::PipelineInputAssemblyStateCreateInfo::default()
        .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
    let viewport = vk::PipelineViewportStateCreateInfo::default()
        .viewport_count(1)
        .scissor_count(1);
    let rasterization = vk::PipelineRasterizationStateCreateInfo::default().line_width(1.0);
    let multisample = vk::PipelineMultisampleStateCreateInfo::default()
        .rasterization_samples(vk::SampleCountFlags::TYPE_1);
    // Raw pointers into the knobs (Cell<T> has the layout of T), so changes show through.
    let blend = vk::PipelineColorBlendStateCreateInfo {
        attachment_count: 1,
        p_attachments: knobs.blend.as_ptr(),
        ..Default::default()
    };
    let dynamic = vk::PipelineDynamicStateCreateInfo {
        dynamic_state_count: 2,
        p_dynamic_states: knobs.dynamic_states.as_ptr().cast(),
        ..Default::default()
    };
    let formats = [vk::Format::R8G8B8A8_UNORM];
    let mut rendering =
        vk::PipelineRenderingCreateInfo::default().color_attachment_formats(&formats);
    let info = vk::GraphicsPipelineCreateInfo::default()
        .stages(&stages)
        .vertex_input_state(&vertex_input)
        .input_assembly_state(&input_assembly)
        .viewport_state(&viewport)
        .rasterization_state(&rasterization)
        .multisample_state(&multisample)
        .color_blend_state(&blend)
        .dynamic_state(&dynamic)
        .layout(again_layout())
        .push_next(&mut rendering);
    body(&info, &knobs);
}

/// Records the create-info, records it again (the same key, nothing new), applies `change`
/// (to the create-info's contents or to what its handles name in the recorder), records it
/// once more: a new pipeline, with the key a fresh recorder gives the changed create-info,
/// and both pipelines in the application record. Then the change is undone and the first
/// pipeline is found again.
fn assert_change_is_a_new_pipeline(
    change: impl Fn(&Knobs, &RecipeRecorder),
    undo: impl Fn(&Knobs, &RecipeRecorder),
) {
    with_graphics_pipeline(|info, knobs| {
        let (store, recorder) = again_recorder(b"game");
        let before = record_graphics(&recorder, info);
        assert_eq!(record_graphics(&recorder, info), before, "recorded again");
        assert_eq!(
            published(store.as_ref(), &recorder),
            BTreeSet::from([before])
        );

        change(knobs, &recorder);
        let after = record_graphics(&recorder, info);
        assert_ne!(
            after, before,
            "the changed create-info is taken for the recorded one"
        );
        let (_, fresh) = again_recorder(b"game");
        change(knobs, &fresh);
        assert_eq!(
            after,
            record_graphics(&fresh, info),
            "the changed pipeline's own key"
        );
        assert_eq!(
            record_graphics(&recorder, info),
            after,
            "the changed one recorded again"
        );
        assert_eq!(
            published(store.as_ref(), &recorder),
            BTreeSet::from([before, after])
        );
        assert!(
            store.get(&after.fingerprint()).is_some(),
            "the changed pipeline's recipe is stored"
        );

        undo(knobs, &recorder);
        assert_eq!(
            record_graphics(&recorder, info),
            before,
            "back to the first"
        );
    });
}

#[test]
fn a_module_handle_reused_after_destroy_for_other_code_makes_a_new_pipeline() {
    assert_change_is_a_new_pipeline(
        |_, recorder| create_again_module(recorder, 2),
        |_, recorder| create_again_module(recorder, 1),
    );
}

#[test]
fn a_changed_specialization_constant_makes_a_new_pipeline() {
    assert_change_is_a_new_pipeline(
        |knobs, _| knobs.specialization[1].set(3),
        |knobs, _| knobs.specialization[1].set(2),
    );
}

#[test]
fn a_changed_blend_state_makes_a_new_pipeline() {
    let original = vk::PipelineColorBlendAttachmentState::default()
        .color_write_mask(vk::ColorComponentFlags::RGBA);
    assert_change_is_a_new_pipeline(
        |knobs, _| knobs.blend.set(original.blend_enable(true)),
        |knobs, _| knobs.blend.set(original),
    );
}

#[test]
fn a_changed_dynamic_state_makes_a_new_pipeline() {
    assert_change_is_a_new_pipeline(
        |knobs, _| knobs.dynamic_states[1].set(vk::DynamicState::LINE_WIDTH),
        |knobs, _| knobs.dynamic_states[1].set(vk::DynamicState::SCISSOR),
    );
}

#[test]
fn each_recorder_records_a_pipeline_another_recorded_on_the_same_thread() {
    with_graphics_pipeline(|info, _| {
        let (first_store, first) = again_recorder(b"game");
        let (second_store, second) = again_recorder(b"other game");
        let key = record_graphics(&first, info);
        assert_eq!(record_graphics(&second, info), key);
        assert_eq!(
            published(first_store.as_ref(), &first),
            BTreeSet::from([key])
        );
        assert_eq!(
            published(second_store.as_ref(), &second),
            BTreeSet::from([key])
        );
        assert!(second_store.get(&key.fingerprint()).is_some());
    });
}

#[test]
fn threads_recording_the_same_and_different_pipelines_at_once_each_get_their_own_key() {
    const VARIANTS: u32 = 6;
    const ROUNDS: u32 = 300;
    const THREADS: u32 = 4;
    // Each variant's key, from a fresh recorder on this thread.
    let mut expected = Vec::new();
    with_graphics_pipeline(|info, knobs| {
        for variant in 0..VARIANTS {
            knobs.specialization[0].set(variant);
            let (_, fresh) = again_recorder(b"game");
            expected.push(record_graphics(&fresh, info));
        }
    });
    assert_eq!(
        expected.iter().collect::<BTreeSet<_>>().len(),
        VARIANTS as usize
    );
    let (store, recorder) = again_recorder(b"game");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (recorder, expected) = (&recorder, &expected);
            scope.spawn(move || {
                with_graphics_pipeline(|info, knobs| {
                    for round in 0..ROUNDS {
                        // Threads walk the variants in different orders and meet on each.
                        let variant = (round * (thread + 1) + thread) % VARIANTS;
                        knobs.specialization[0].set(variant);
                        assert_eq!(
                            record_graphics(recorder, info),
                            expected[variant as usize],
                            "thread {thread}, round {round}, variant {variant}"
                        );
                    }
                });
            });
        }
    });
    assert_eq!(
        published(store.as_ref(), &recorder),
        expected.iter().copied().collect::<BTreeSet<_>>()
    );
}

/// A memory store whose lookups are counted, and fail the test while `dead` is set: a remote
/// tier that stopped answering after the recorder started.
#[derive(Default)]
struct DyingStore {
    inner: InMemoryPipelineCache,
    lookups: AtomicUsize,
    dead: AtomicBool,
}

impl PipelineCacheStore for DyingStore {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        assert!(
            !self.dead.load(Ordering::SeqCst),
            "a lookup on a dead store"
        );
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.get(fp)
    }
    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        self.inner.put(fp, artifact);
    }
}

/// Finding: the layer flushes its recorder inside `vkDestroyDevice`, and the flush read the
/// application record and the catalog there, each read waiting on a remote tier that does
/// not answer. The recorder reads them from its creation on, in the background: its flush
/// asks the store nothing, and still publishes the union with what was stored before.
#[test]
fn flush_publishes_the_union_without_asking_the_store() {
    let dying = Arc::new(DyingStore::default());
    let store: Arc<dyn PipelineCacheStore> = dying.clone();
    with_graphics_pipeline(|info, knobs| {
        let earlier = again_recorder_in(&store, b"game");
        let first = record_graphics(&earlier, info);
        earlier.flush();

        let later = again_recorder_in(&store, b"game");
        // Both recorders' two background reads (application record, catalog) are done.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while dying.lookups.load(Ordering::SeqCst) < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "background reads never ran"
            );
            std::thread::yield_now();
        }
        knobs.specialization[0].set(7);
        let second = record_graphics(&later, info);
        dying.dead.store(true, Ordering::SeqCst);
        later.flush();
        dying.dead.store(false, Ordering::SeqCst);
        assert_eq!(
            published(store.as_ref(), &later),
            BTreeSet::from([first, second])
        );
    });
}

/// A player's machine: its own store over a game patch's bundle (a read-only layer below).
/// The machine recorded the game before the patch; the patch ships a record with more
/// pipelines and a catalog naming another application. This machine's copies must not hide
/// the patch's: a recorder's flush publishes the union, and a replay reads it.
#[test]
fn a_local_record_does_not_hide_a_bundled_one_from_the_recorder_or_the_replay() {
    with_graphics_pipeline(|info, _| {
        let local = Arc::new(InMemoryPipelineCache::new());
        let bundle = Arc::new(InMemoryPipelineCache::new());
        let store: Arc<dyn PipelineCacheStore> = Arc::new(LayeredPipelineCache::with_options(
            vec![
                Arc::clone(&local) as Arc<dyn PipelineCacheStore>,
                Arc::clone(&bundle) as Arc<dyn PipelineCacheStore>,
            ],
            LayeredOptions {
                write: WritePolicy::Layers(vec![0]),
                ..Default::default()
            },
        ));
        let key = ApplicationRecord::store_key_for(b"game", &target());
        let device = RecipeKey::of(b"a device");
        let mut played_here = ApplicationRecord::new(b"game".to_vec(), target());
        played_here.insert(device, RecipeKey::of(b"played here"));
        local.put(key.fingerprint(), played_here.to_bytes());
        local.put(
            Catalog::store_key().fingerprint(),
            Catalog {
                applications: BTreeSet::from([key]),
            }
            .to_bytes(),
        );
        let mut patched = ApplicationRecord::new(b"game".to_vec(), target());
        patched.insert(device, RecipeKey::of(b"played here"));
        patched.insert(device, RecipeKey::of(b"new in the patch"));
        bundle.put(key.fingerprint(), patched.to_bytes());
        let other_game = RecipeKey::of(b"another game's record");
        bundle.put(
            Catalog::store_key().fingerprint(),
            Catalog {
                applications: BTreeSet::from([other_game]),
            }
            .to_bytes(),
        );

        let catalog_applications = || {
            stored_catalog(store.as_ref())
                .expect("parses")
                .expect("stored")
                .applications
        };

        // What a replay reads before anything is recorded: the union.
        let read = stored_application_record(store.as_ref(), &key)
            .expect("parses")
            .expect("stored");
        let read: BTreeSet<RecipeKey> = read.pipelines.into_values().flatten().collect();
        assert_eq!(
            read,
            BTreeSet::from([
                RecipeKey::of(b"played here"),
                RecipeKey::of(b"new in the patch")
            ])
        );
        assert_eq!(catalog_applications(), BTreeSet::from([key, other_game]));

        // A run records one more pipeline; its flush keeps the patch's in this machine's copy.
        let recorder = again_recorder_in(&store, b"game");
        assert_eq!(recorder.application_key(), key);
        let recorded = record_graphics(&recorder, info);
        recorder.flush();
        let local_record =
            ApplicationRecord::from_bytes(&local.get(&key.fingerprint()).expect("local record"))
                .expect("parses");
        let local_pipelines: BTreeSet<RecipeKey> =
            local_record.pipelines.into_values().flatten().collect();
        assert_eq!(
            local_pipelines,
            BTreeSet::from([
                RecipeKey::of(b"played here"),
                RecipeKey::of(b"new in the patch"),
                recorded
            ])
        );
        // The catalog already named the game, so the flush did not put it again; read
        // through the stack it still names both.
        assert_eq!(catalog_applications(), BTreeSet::from([key, other_game]));
    });
}
