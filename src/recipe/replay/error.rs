//! Why a replay, or one pipeline of it, could not be done.

use std::fmt;
use std::io;

use ash::vk;

use crate::recipe::error::BuildError;
use crate::recipe::key::{ParseError, RecipeKey};
use crate::vulkan::VulkanError;

/// Why a replay step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// A Vulkan call failed.
    Vulkan {
        /// The function.
        function: &'static str,
        /// What it returned.
        result: vk::Result,
    },
    /// The adapter failed (loading or saving the application's cache).
    Adapter(VulkanError),
    /// No physical device at the index asked for.
    NoPhysicalDevice(usize),
    /// No queue family with graphics or compute on the physical device.
    NoQueueFamily,
    /// A recipe is not in the store.
    MissingRecipe(RecipeKey),
    /// The bytes stored under a key are not the recipe of that key, or do not parse.
    BadRecipe {
        /// Where they were stored.
        key: RecipeKey,
        /// Why they were refused (`None`: they parse but hash to another key).
        error: Option<ParseError>,
    },
    /// A recipe of another kind where a pipeline (or a dependency) was expected.
    WrongKind(RecipeKey),
    /// A recipe that cannot be turned into a create-info.
    Build {
        /// The recipe.
        key: RecipeKey,
        /// Why.
        error: BuildError,
    },
    /// Starting, feeding or reading a worker process failed, or workers kept dying outside
    /// pipeline creation (while starting or saving).
    Worker(String),
    /// The store failed to make the result durable.
    Io(io::Error),
}

impl ReplayError {
    pub(crate) fn vulkan(function: &'static str) -> impl FnOnce(vk::Result) -> Self {
        move |result| Self::Vulkan { function, result }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vulkan { function, result } => write!(f, "{function} failed: {result}"),
            Self::Adapter(error) => write!(f, "{error}"),
            Self::NoPhysicalDevice(index) => write!(f, "no physical device {index}"),
            Self::NoQueueFamily => write!(f, "no graphics or compute queue family"),
            Self::MissingRecipe(key) => write!(f, "recipe {key} is not in the store"),
            Self::BadRecipe { key, error: None } => {
                write!(f, "the bytes stored as recipe {key} have another key")
            }
            Self::BadRecipe {
                key,
                error: Some(error),
            } => write!(f, "recipe {key} does not parse: {error:?}"),
            Self::WrongKind(key) => write!(f, "recipe {key} is not of the kind referred to"),
            Self::Build { key, error } => write!(f, "recipe {key} cannot be built: {error}"),
            Self::Worker(message) => write!(f, "replay worker: {message}"),
            Self::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<VulkanError> for ReplayError {
    fn from(error: VulkanError) -> Self {
        Self::Adapter(error)
    }
}
