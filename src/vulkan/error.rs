//! Errors of the Vulkan adapter: only what leaves the caller without a usable cache.
//!
//! Bad stored data is never an error: a load always yields a cache (empty when the stored
//! blob is unusable) and says why in its [`LoadInfo`](super::LoadInfo).

use std::ffi::CStr;
use std::fmt;

use ash::vk;

/// Why the adapter could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VulkanError {
    /// A handle or function pointer in the [`DeviceInfo`](super::DeviceInfo) is null.
    InvalidDeviceInfo(&'static str),
    /// The engine's loader does not provide this entry point.
    MissingEntryPoint(&'static CStr),
    /// A Vulkan call failed (out of memory, device lost...).
    Call {
        /// The Vulkan function.
        function: &'static str,
        /// What it returned.
        result: vk::Result,
    },
}

impl fmt::Display for VulkanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidDeviceInfo(what) => write!(f, "device info: {what} is null"),
            Self::MissingEntryPoint(name) => {
                write!(
                    f,
                    "the Vulkan loader does not provide {}",
                    name.to_string_lossy()
                )
            }
            Self::Call { function, result } => write!(f, "{function} failed: {result}"),
        }
    }
}

impl std::error::Error for VulkanError {}
