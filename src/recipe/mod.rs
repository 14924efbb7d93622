//! Recipes: driver-independent, versioned descriptions of the Vulkan objects a pipeline is
//! built from (feature `vulkan`), so a pipeline recorded once can be recreated on any driver.
//!
//! A pipeline-cache blob is only good for the driver build that wrote it; a recipe (the
//! create-info with its SPIR-V) survives driver updates, new GPUs and fresh installs. Each
//! object kind has a recipe type: [`ShaderModuleRecipe`], [`SamplerRecipe`],
//! [`DescriptorSetLayoutRecipe`], [`PipelineLayoutRecipe`], [`RenderPassRecipe`],
//! [`ComputePipelineRecipe`], [`GraphicsPipelineRecipe`]; plus what a replay needs around
//! them: [`DeviceRecipe`] (extensions and features), [`ApplicationRecord`] (which pipelines an
//! application created, on which device, for which cache) and [`Catalog`].
//!
//! - **Recording**: `unsafe fn capture` reads an application's create-info (its pNext chain
//!   read-only) and names other objects by [`RecipeKey`] through a [`RecipeKeys`] map. A
//!   structure it does not know makes the object not recorded ([`NotRecorded`] names it);
//!   nothing is recorded partially. Handles never appear in a recipe. [`RecipeRecorder`]
//!   does all of it into a store for an engine or the layer: recipes, the application record
//!   and the catalog.
//! - **Format**: [`Recipe::to_bytes`] / [`Recipe::from_bytes`]: an 8-byte header (magic, kind,
//!   version) and a little-endian body (FORMAT.md, "Recipes"). Every accepted input
//!   re-serializes to exactly its own bytes; the parser never panics and allocates only in
//!   proportion to its input.
//! - **Keys**: [`Recipe::key`], the BLAKE3 (keyed by [`RECIPE_NAMESPACE`]) of the bytes: where
//!   the recipe is stored and how others refer to it, so identical modules and layouts are
//!   stored once. Not scoped to any driver.
//! - **Rebuilding**: `build` turns a recipe plus a [`RecipeHandles`] map (keys to the live
//!   objects a replayer created) into ash create-info structures that point into storage the
//!   returned value owns.
//! - **Replay**: [`replay`] rebuilds recorded pipelines on this driver, in crash-isolated
//!   worker processes, into the cache the application's next launch loads.
//!
//! The core never imports this module; it uses only `crate::codec` and
//! [`crate::fingerprint`] from the core.

mod any;
mod application;
mod compute;
mod device;
mod error;
mod graphics;
mod graphics_build;
mod key;
mod layout;
mod raw;
mod recorder;
mod render_pass;
pub mod replay;
mod resolve;
mod sampler;
mod shader;
mod stage;
mod stored;
mod wire;

pub use any::AnyRecipe;
pub use application::{
    union_with_stored, ApplicationRecord, CacheTarget, Catalog, NamespaceScheme,
};
pub use compute::{ComputePipelineBuild, ComputePipelineRecipe};
pub use device::{DeviceBuild, DeviceRecipe, FeatureStruct};
pub use error::{BuildError, NotRecorded};
pub use graphics::{
    ColorBlend, ColorBlendAttachment, ColorWrite, ConservativeRasterization, DepthClip,
    DepthClipControl, DepthStencil, DomainOrigin, DynamicStates, FragmentShadingRate,
    GraphicsPipelineRecipe, InputAssembly, LineRasterization, Multisample, ProvokingVertex,
    Rasterization, RasterizationStream, Rect2D, RenderTarget, RenderingFormats, StencilOpState,
    Tessellation, VertexAttribute, VertexBinding, VertexDivisor, VertexDivisors, VertexInput,
    Viewport, ViewportState,
};
pub use graphics_build::GraphicsPipelineBuild;
pub use key::{recipe_kind, ParseError, Recipe, RecipeKey, RecipeKind, RECIPE_NAMESPACE};
pub use layout::{
    DescriptorBinding, DescriptorSetLayoutBuild, DescriptorSetLayoutRecipe, PipelineLayoutBuild,
    PipelineLayoutRecipe, PushConstantRange,
};
pub use recorder::RecipeRecorder;
pub use render_pass::{
    Attachment, AttachmentReference, DepthStencilResolve, RenderPassApi, RenderPassBuild,
    RenderPassBuildV1, RenderPassBuildV2, RenderPassRecipe, StencilLayout, StencilLayouts, Subpass,
    SubpassDependency, SubpassUse,
};
pub use resolve::{HandleMap, KeyMap, RecipeHandles, RecipeKeys};
pub use sampler::{CustomBorderColor, SamplerBuild, SamplerRecipe, SamplerReduction};
pub use shader::{ShaderModuleBuild, ShaderModuleRecipe};
pub use stage::{
    Captured, RequiredSubgroupSize, ShaderStage, Specialization, SpecializationMapEntry,
};
pub use stored::{stored_application_record, stored_catalog};
