//! Why an object is not recorded, and why a recipe cannot be rebuilt.

use std::fmt;

use ash::vk;

use super::key::RecipeKey;

/// Why an object's create-info was not recorded. Nothing is ever recorded partially: an
/// object whose state the recorder cannot describe completely is not recorded at all (and
/// neither is anything that refers to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotRecorded {
    /// A `pNext` structure the recorder does not know (so it cannot say what it changes).
    UnknownStructure {
        /// The Vulkan structure whose chain holds it.
        within: &'static str,
        /// Its `sType`.
        s_type: vk::StructureType,
    },
    /// A handle the recorder has no recipe for (created before recording started, or not
    /// recorded itself).
    UnknownHandle {
        /// The handle's type, e.g. `"VkShaderModule"`.
        kind: &'static str,
        /// Its raw value.
        raw: u64,
    },
    /// A create-info the format cannot describe yet, or one that breaks a rule the recorder
    /// relies on to read it.
    Unsupported(&'static str),
}

impl NotRecorded {
    /// The unknown `sType`, for counting and logging once per type.
    #[must_use]
    pub fn structure_type(&self) -> Option<vk::StructureType> {
        match self {
            Self::UnknownStructure { s_type, .. } => Some(*s_type),
            _ => None,
        }
    }
}

impl fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownStructure { within, s_type } => {
                write!(
                    f,
                    "unknown structure {s_type:?} in the pNext chain of {within}"
                )
            }
            Self::UnknownHandle { kind, raw } => {
                write!(f, "{kind} {raw:#x} has no recipe")
            }
            Self::Unsupported(what) => write!(f, "not recordable: {what}"),
        }
    }
}

impl std::error::Error for NotRecorded {}

/// Why create-info structures cannot be rebuilt from a recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The recipe refers to an object that has no live handle in the map given.
    MissingHandle {
        /// The handle's type, e.g. `"VkPipelineLayout"`.
        kind: &'static str,
        /// The key of the missing object.
        key: RecipeKey,
    },
    /// The recipe's fields contradict each other (e.g. a count that differs from its array's
    /// length): building it would hand the driver pointers to too few elements.
    Inconsistent(&'static str),
    /// A feature structure this build does not know how to lay out.
    UnknownFeatureStructure(vk::StructureType),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHandle { kind, key } => write!(f, "no live {kind} for recipe {key}"),
            Self::Inconsistent(what) => write!(f, "inconsistent recipe: {what}"),
            Self::UnknownFeatureStructure(s_type) => {
                write!(f, "unknown feature structure {s_type:?}")
            }
        }
    }
}

impl std::error::Error for BuildError {}
