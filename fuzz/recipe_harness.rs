//! The parse-arbitrary-bytes harness for recipes, shared by the cargo-fuzz target
//! (`fuzz_targets/parse_recipe.rs`) and tests/recipe.rs, which runs it over mutated real
//! recipes so CI exercises it without a fuzzing engine.
//!
//! Input layout: byte 0 picks the header (bit 7 clear: magic, kind = the low four bits,
//! version 1, then the rest as the body, so the fuzzer spends its time in bodies; bit 7 set:
//! the rest is taken whole, header included). Oracle: parsing never panics; an accepted input
//! re-serializes to exactly its own bytes; building an accepted object recipe (every key
//! resolving to a made-up handle) returns a create-info or an error, never panics.

use pcstore::recipe::{AnyRecipe, RecipeHandles, RecipeKey};
use pcstore::vulkan::ash::vk::{self, Handle};

/// Every key resolves to one made-up handle: lets any parsed recipe be built.
pub struct AnyHandle;

impl RecipeHandles for AnyHandle {
    fn shader_module(&self, _: &RecipeKey) -> Option<vk::ShaderModule> {
        Some(vk::ShaderModule::from_raw(1))
    }
    fn sampler(&self, _: &RecipeKey) -> Option<vk::Sampler> {
        Some(vk::Sampler::from_raw(2))
    }
    fn descriptor_set_layout(&self, _: &RecipeKey) -> Option<vk::DescriptorSetLayout> {
        Some(vk::DescriptorSetLayout::from_raw(3))
    }
    fn pipeline_layout(&self, _: &RecipeKey) -> Option<vk::PipelineLayout> {
        Some(vk::PipelineLayout::from_raw(4))
    }
    fn render_pass(&self, _: &RecipeKey) -> Option<vk::RenderPass> {
        Some(vk::RenderPass::from_raw(5))
    }
}

/// The recipe bytes a fuzz input stands for.
pub fn recipe_bytes(data: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = data.split_first() else {
        return Vec::new();
    };
    if first & 0x80 != 0 {
        return rest.to_vec();
    }
    let mut bytes = b"PCRC".to_vec();
    bytes.extend_from_slice(&[first & 0x0f, 1, 0, 0]);
    bytes.extend_from_slice(rest);
    bytes
}

/// Runs the oracle on the recipe `bytes`.
pub fn check_recipe(bytes: &[u8]) {
    let Ok(recipe) = AnyRecipe::from_bytes(bytes) else {
        return;
    };
    assert_eq!(
        recipe.to_bytes(),
        bytes,
        "accepted input re-serializes to itself"
    );
    match &recipe {
        AnyRecipe::ShaderModule(recipe) => drop(recipe.build()),
        AnyRecipe::Sampler(recipe) => drop(recipe.build()),
        AnyRecipe::DescriptorSetLayout(recipe) => drop(recipe.build(&AnyHandle)),
        AnyRecipe::PipelineLayout(recipe) => drop(recipe.build(&AnyHandle)),
        AnyRecipe::RenderPass(recipe) => drop(recipe.build()),
        AnyRecipe::ComputePipeline(recipe) => drop(recipe.build(&AnyHandle)),
        AnyRecipe::GraphicsPipeline(recipe) => drop(recipe.build(&AnyHandle)),
        AnyRecipe::Device(recipe) => drop(recipe.build()),
        _ => {}
    }
}

/// The fuzz target's body.
pub fn parse_recipe(data: &[u8]) {
    check_recipe(&recipe_bytes(data));
}
