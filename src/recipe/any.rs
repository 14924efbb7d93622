//! A recipe of any kind, for code that handles recipes without knowing their kind in advance
//! (tools, the replayer walking references, the fuzz target).

use super::application::{ApplicationRecord, Catalog};
use super::compute::ComputePipelineRecipe;
use super::device::DeviceRecipe;
use super::graphics::GraphicsPipelineRecipe;
use super::key::{recipe_kind, ParseError, Recipe, RecipeKey, RecipeKind};
use super::layout::{DescriptorSetLayoutRecipe, PipelineLayoutRecipe};
use super::render_pass::RenderPassRecipe;
use super::replay::ReplayRecord;
use super::sampler::SamplerRecipe;
use super::shader::ShaderModuleRecipe;

/// One recipe of any kind.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AnyRecipe {
    /// [`RecipeKind::ShaderModule`].
    ShaderModule(ShaderModuleRecipe),
    /// [`RecipeKind::Sampler`].
    Sampler(SamplerRecipe),
    /// [`RecipeKind::DescriptorSetLayout`].
    DescriptorSetLayout(DescriptorSetLayoutRecipe),
    /// [`RecipeKind::PipelineLayout`].
    PipelineLayout(PipelineLayoutRecipe),
    /// [`RecipeKind::RenderPass`].
    RenderPass(RenderPassRecipe),
    /// [`RecipeKind::ComputePipeline`].
    ComputePipeline(ComputePipelineRecipe),
    /// [`RecipeKind::GraphicsPipeline`] (boxed: far larger than the other kinds).
    GraphicsPipeline(Box<GraphicsPipelineRecipe>),
    /// [`RecipeKind::Device`].
    Device(DeviceRecipe),
    /// [`RecipeKind::Application`].
    Application(ApplicationRecord),
    /// [`RecipeKind::Catalog`].
    Catalog(Catalog),
    /// [`RecipeKind::Replay`].
    Replay(ReplayRecord),
}

impl AnyRecipe {
    /// Parses a recipe of whatever kind its header names.
    ///
    /// # Errors
    /// Any [`ParseError`] but [`ParseError::WrongKind`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        Ok(match recipe_kind(bytes)?.0 {
            RecipeKind::ShaderModule => Self::ShaderModule(Recipe::from_bytes(bytes)?),
            RecipeKind::Sampler => Self::Sampler(Recipe::from_bytes(bytes)?),
            RecipeKind::DescriptorSetLayout => {
                Self::DescriptorSetLayout(Recipe::from_bytes(bytes)?)
            }
            RecipeKind::PipelineLayout => Self::PipelineLayout(Recipe::from_bytes(bytes)?),
            RecipeKind::RenderPass => Self::RenderPass(Recipe::from_bytes(bytes)?),
            RecipeKind::ComputePipeline => Self::ComputePipeline(Recipe::from_bytes(bytes)?),
            RecipeKind::GraphicsPipeline => {
                Self::GraphicsPipeline(Box::new(Recipe::from_bytes(bytes)?))
            }
            RecipeKind::Device => Self::Device(Recipe::from_bytes(bytes)?),
            RecipeKind::Application => Self::Application(Recipe::from_bytes(bytes)?),
            RecipeKind::Catalog => Self::Catalog(Recipe::from_bytes(bytes)?),
            RecipeKind::Replay => Self::Replay(Recipe::from_bytes(bytes)?),
        })
    }

    /// The recipe's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::ShaderModule(recipe) => recipe.to_bytes(),
            Self::Sampler(recipe) => recipe.to_bytes(),
            Self::DescriptorSetLayout(recipe) => recipe.to_bytes(),
            Self::PipelineLayout(recipe) => recipe.to_bytes(),
            Self::RenderPass(recipe) => recipe.to_bytes(),
            Self::ComputePipeline(recipe) => recipe.to_bytes(),
            Self::GraphicsPipeline(recipe) => recipe.to_bytes(),
            Self::Device(recipe) => recipe.to_bytes(),
            Self::Application(recipe) => recipe.to_bytes(),
            Self::Catalog(recipe) => recipe.to_bytes(),
            Self::Replay(recipe) => recipe.to_bytes(),
        }
    }

    /// The recipe's kind.
    #[must_use]
    pub fn kind(&self) -> RecipeKind {
        match self {
            Self::ShaderModule(_) => RecipeKind::ShaderModule,
            Self::Sampler(_) => RecipeKind::Sampler,
            Self::DescriptorSetLayout(_) => RecipeKind::DescriptorSetLayout,
            Self::PipelineLayout(_) => RecipeKind::PipelineLayout,
            Self::RenderPass(_) => RecipeKind::RenderPass,
            Self::ComputePipeline(_) => RecipeKind::ComputePipeline,
            Self::GraphicsPipeline(_) => RecipeKind::GraphicsPipeline,
            Self::Device(_) => RecipeKind::Device,
            Self::Application(_) => RecipeKind::Application,
            Self::Catalog(_) => RecipeKind::Catalog,
            Self::Replay(_) => RecipeKind::Replay,
        }
    }

    /// The keys of the recipes this one refers to (what must be fetched and created first).
    #[must_use]
    pub fn references(&self) -> Vec<RecipeKey> {
        match self {
            // A replay record's keys name pipelines, not what must exist first.
            Self::ShaderModule(_)
            | Self::Sampler(_)
            | Self::RenderPass(_)
            | Self::Device(_)
            | Self::Replay(_) => Vec::new(),
            Self::DescriptorSetLayout(recipe) => recipe.references().copied().collect(),
            Self::PipelineLayout(recipe) => recipe.references().copied().collect(),
            Self::ComputePipeline(recipe) => recipe.references().copied().collect(),
            Self::GraphicsPipeline(recipe) => recipe.references().copied().collect(),
            Self::Application(record) => record.references().copied().collect(),
            Self::Catalog(catalog) => catalog.applications.iter().copied().collect(),
        }
    }
}
