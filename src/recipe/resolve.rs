//! The two maps between handles and recipes: handles to keys while recording (a create-info
//! names other objects by handle, its recipe names them by key), keys to live handles while
//! rebuilding.

use std::collections::HashMap;

use ash::vk;

use super::key::RecipeKey;
use super::render_pass::{RenderPassRecipe, SubpassUse};

/// Handles to recipe keys, for recording: the recorder keeps one entry per live object it
/// recorded. A handle without an entry makes whatever refers to it not recorded.
pub trait RecipeKeys {
    /// The key of the module recorded for `module`.
    fn shader_module(&self, module: vk::ShaderModule) -> Option<RecipeKey>;
    /// The key of the sampler recorded for `sampler`.
    fn sampler(&self, sampler: vk::Sampler) -> Option<RecipeKey>;
    /// The key of the set layout recorded for `layout`.
    fn descriptor_set_layout(&self, layout: vk::DescriptorSetLayout) -> Option<RecipeKey>;
    /// The key of the pipeline layout recorded for `layout`.
    fn pipeline_layout(&self, layout: vk::PipelineLayout) -> Option<RecipeKey>;
    /// The key of the render pass recorded for `render_pass`, and what its subpass `subpass`
    /// uses (which decides whether a pipeline's depth-stencil and blend states are read at all).
    fn render_pass(
        &self,
        render_pass: vk::RenderPass,
        subpass: u32,
    ) -> Option<(RecipeKey, SubpassUse)>;
}

/// A plain [`RecipeKeys`]: hash maps filled by the caller.
#[derive(Clone, Debug, Default)]
pub struct KeyMap {
    shader_modules: HashMap<vk::ShaderModule, RecipeKey>,
    samplers: HashMap<vk::Sampler, RecipeKey>,
    descriptor_set_layouts: HashMap<vk::DescriptorSetLayout, RecipeKey>,
    pipeline_layouts: HashMap<vk::PipelineLayout, RecipeKey>,
    render_passes: HashMap<vk::RenderPass, (RecipeKey, Vec<SubpassUse>)>,
}

impl KeyMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `module`'s key.
    pub fn insert_shader_module(&mut self, module: vk::ShaderModule, key: RecipeKey) {
        self.shader_modules.insert(module, key);
    }

    /// Records `sampler`'s key.
    pub fn insert_sampler(&mut self, sampler: vk::Sampler, key: RecipeKey) {
        self.samplers.insert(sampler, key);
    }

    /// Records `layout`'s key.
    pub fn insert_descriptor_set_layout(
        &mut self,
        layout: vk::DescriptorSetLayout,
        key: RecipeKey,
    ) {
        self.descriptor_set_layouts.insert(layout, key);
    }

    /// Records `layout`'s key.
    pub fn insert_pipeline_layout(&mut self, layout: vk::PipelineLayout, key: RecipeKey) {
        self.pipeline_layouts.insert(layout, key);
    }

    /// Records `render_pass`'s recipe (its key and what each subpass uses).
    pub fn insert_render_pass(&mut self, render_pass: vk::RenderPass, recipe: &RenderPassRecipe) {
        let uses = (0..recipe.subpasses.len())
            .filter_map(|index| recipe.subpass_use(index as u32))
            .collect();
        self.render_passes
            .insert(render_pass, (super::key::Recipe::key(recipe), uses));
    }
}

impl KeyMap {
    /// Forgets `module` (its object was not recorded: a handle the driver reuses must not
    /// keep the key of the object it named before).
    pub fn remove_shader_module(&mut self, module: vk::ShaderModule) {
        self.shader_modules.remove(&module);
    }

    /// Forgets `sampler`.
    pub fn remove_sampler(&mut self, sampler: vk::Sampler) {
        self.samplers.remove(&sampler);
    }

    /// Forgets `layout`.
    pub fn remove_descriptor_set_layout(&mut self, layout: vk::DescriptorSetLayout) {
        self.descriptor_set_layouts.remove(&layout);
    }

    /// Forgets `layout`.
    pub fn remove_pipeline_layout(&mut self, layout: vk::PipelineLayout) {
        self.pipeline_layouts.remove(&layout);
    }

    /// Forgets `render_pass`.
    pub fn remove_render_pass(&mut self, render_pass: vk::RenderPass) {
        self.render_passes.remove(&render_pass);
    }
}

impl RecipeKeys for KeyMap {
    fn shader_module(&self, module: vk::ShaderModule) -> Option<RecipeKey> {
        self.shader_modules.get(&module).copied()
    }
    fn sampler(&self, sampler: vk::Sampler) -> Option<RecipeKey> {
        self.samplers.get(&sampler).copied()
    }
    fn descriptor_set_layout(&self, layout: vk::DescriptorSetLayout) -> Option<RecipeKey> {
        self.descriptor_set_layouts.get(&layout).copied()
    }
    fn pipeline_layout(&self, layout: vk::PipelineLayout) -> Option<RecipeKey> {
        self.pipeline_layouts.get(&layout).copied()
    }
    fn render_pass(
        &self,
        render_pass: vk::RenderPass,
        subpass: u32,
    ) -> Option<(RecipeKey, SubpassUse)> {
        let (key, uses) = self.render_passes.get(&render_pass)?;
        Some((*key, *uses.get(subpass as usize)?))
    }
}

/// Recipe keys to live handles, for rebuilding: the replayer creates each referenced object
/// first and keeps its handle here.
pub trait RecipeHandles {
    /// The live module created from recipe `key`.
    fn shader_module(&self, key: &RecipeKey) -> Option<vk::ShaderModule>;
    /// The live sampler created from recipe `key`.
    fn sampler(&self, key: &RecipeKey) -> Option<vk::Sampler>;
    /// The live set layout created from recipe `key`.
    fn descriptor_set_layout(&self, key: &RecipeKey) -> Option<vk::DescriptorSetLayout>;
    /// The live pipeline layout created from recipe `key`.
    fn pipeline_layout(&self, key: &RecipeKey) -> Option<vk::PipelineLayout>;
    /// The live render pass created from recipe `key`.
    fn render_pass(&self, key: &RecipeKey) -> Option<vk::RenderPass>;
}

/// A plain [`RecipeHandles`]: hash maps filled by the caller.
#[derive(Clone, Debug, Default)]
pub struct HandleMap {
    /// Modules by recipe key.
    pub shader_modules: HashMap<RecipeKey, vk::ShaderModule>,
    /// Samplers by recipe key.
    pub samplers: HashMap<RecipeKey, vk::Sampler>,
    /// Set layouts by recipe key.
    pub descriptor_set_layouts: HashMap<RecipeKey, vk::DescriptorSetLayout>,
    /// Pipeline layouts by recipe key.
    pub pipeline_layouts: HashMap<RecipeKey, vk::PipelineLayout>,
    /// Render passes by recipe key.
    pub render_passes: HashMap<RecipeKey, vk::RenderPass>,
}

impl RecipeHandles for HandleMap {
    fn shader_module(&self, key: &RecipeKey) -> Option<vk::ShaderModule> {
        self.shader_modules.get(key).copied()
    }
    fn sampler(&self, key: &RecipeKey) -> Option<vk::Sampler> {
        self.samplers.get(key).copied()
    }
    fn descriptor_set_layout(&self, key: &RecipeKey) -> Option<vk::DescriptorSetLayout> {
        self.descriptor_set_layouts.get(key).copied()
    }
    fn pipeline_layout(&self, key: &RecipeKey) -> Option<vk::PipelineLayout> {
        self.pipeline_layouts.get(key).copied()
    }
    fn render_pass(&self, key: &RecipeKey) -> Option<vk::RenderPass> {
        self.render_passes.get(key).copied()
    }
}
