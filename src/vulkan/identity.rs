//! Reading a device's identity: what a pipeline-cache blob is valid for.

use std::ffi::c_char;

use ash::vk;

use super::dispatch::DeviceFns;
use crate::fingerprint::DeviceIdentity;

/// Builds the identity of a device from its properties.
///
/// `vulkan12` supplies driverID, driverName and driverInfo where Vulkan 1.2 is available
/// (`driver_info` = driverName, a NUL, driverInfo); without it those stay zero and empty. The
/// pointer size is this process's. Pure: usable by engines that already queried properties.
#[must_use]
pub fn device_identity_from_properties(
    properties: &vk::PhysicalDeviceProperties,
    vulkan12: Option<&vk::PhysicalDeviceVulkan12Properties<'_>>,
    namespace: &[u8],
) -> DeviceIdentity {
    let (driver_id, driver_info) = match vulkan12 {
        Some(v12) => {
            let mut info = c_chars_until_nul(&v12.driver_name).to_vec();
            info.push(0);
            info.extend_from_slice(c_chars_until_nul(&v12.driver_info));
            (v12.driver_id.as_raw() as u32, info)
        }
        None => (0, Vec::new()),
    };
    DeviceIdentity {
        vendor_id: properties.vendor_id,
        device_id: properties.device_id,
        driver_version: properties.driver_version,
        driver_id,
        pipeline_cache_uuid: properties.pipeline_cache_uuid,
        pointer_size: DeviceIdentity::HOST_POINTER_SIZE,
        driver_info,
        namespace: namespace.to_vec(),
    }
}

/// The device name from its properties (for logs and demos).
pub(crate) fn device_name(properties: &vk::PhysicalDeviceProperties) -> String {
    String::from_utf8_lossy(c_chars_until_nul(&properties.device_name)).into_owned()
}

/// Queries a physical device's properties, with the Vulkan 1.2 ones when both the
/// application's API version and the device's allow them (chaining a 1.2 structure otherwise
/// is invalid usage that validation layers report).
///
/// # Safety
/// `fns` must have been loaded for the instance owning `physical_device`, and
/// `application_api_version` must not exceed the instance's `VkApplicationInfo::apiVersion`.
pub(crate) unsafe fn query_properties(
    fns: &DeviceFns,
    physical_device: vk::PhysicalDevice,
    application_api_version: u32,
) -> (vk::PhysicalDeviceProperties, Option<DriverProperties>) {
    let mut properties = vk::PhysicalDeviceProperties::default();
    // SAFETY: valid physical device (caller), properly sized output struct.
    unsafe { (fns.get_physical_device_properties)(physical_device, &mut properties) };
    let effective = properties.api_version.min(application_api_version);
    let vulkan12 = match fns.get_physical_device_properties2 {
        Some(get_properties2) if effective >= vk::API_VERSION_1_2 => {
            let mut v12 = vk::PhysicalDeviceVulkan12Properties::default();
            let mut properties2 = vk::PhysicalDeviceProperties2::default().push_next(&mut v12);
            // SAFETY: both the application and the device use Vulkan >= 1.2, so the 1.2
            // structure is a valid pNext; the chain lives for the call.
            unsafe { get_properties2(physical_device, &mut properties2) };
            Some(DriverProperties {
                driver_id: v12.driver_id,
                driver_name: v12.driver_name,
                driver_info: v12.driver_info,
            })
        }
        _ => None,
    };
    (properties, vulkan12)
}

/// The driver fields of `VkPhysicalDeviceVulkan12Properties`, owned (no pNext lifetime).
pub(crate) struct DriverProperties {
    pub driver_id: vk::DriverId,
    pub driver_name: [c_char; vk::MAX_DRIVER_NAME_SIZE],
    pub driver_info: [c_char; vk::MAX_DRIVER_INFO_SIZE],
}

impl DriverProperties {
    pub(crate) fn as_vulkan12(&self) -> vk::PhysicalDeviceVulkan12Properties<'static> {
        vk::PhysicalDeviceVulkan12Properties {
            driver_id: self.driver_id,
            driver_name: self.driver_name,
            driver_info: self.driver_info,
            ..Default::default()
        }
    }
}

/// The bytes of a fixed-size C string field up to its first NUL (all of it if none).
fn c_chars_until_nul(chars: &[c_char]) -> &[u8] {
    // SAFETY: c_char and u8 have the same size and alignment; same length.
    let bytes = unsafe { std::slice::from_raw_parts(chars.as_ptr().cast::<u8>(), chars.len()) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars<const N: usize>(text: &str) -> [c_char; N] {
        let mut out = [0 as c_char; N];
        for (slot, byte) in out.iter_mut().zip(text.bytes()) {
            *slot = byte as c_char;
        }
        out
    }

    fn lavapipe() -> vk::PhysicalDeviceProperties {
        vk::PhysicalDeviceProperties {
            vendor_id: 0x10005,
            device_id: 0,
            driver_version: 1,
            pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
            ..Default::default()
        }
    }

    #[test]
    fn fills_every_field() {
        let v12 = vk::PhysicalDeviceVulkan12Properties {
            driver_id: vk::DriverId::MESA_LLVMPIPE,
            driver_name: chars("llvmpipe"),
            driver_info: chars("Mesa 22.3.6 (LLVM 15.0.6)"),
            ..Default::default()
        };
        let identity = device_identity_from_properties(&lavapipe(), Some(&v12), b"engine");
        assert_eq!(identity.vendor_id, 0x10005);
        assert_eq!(identity.driver_version, 1);
        assert_eq!(identity.driver_id, 13);
        assert_eq!(identity.pipeline_cache_uuid, *b"val-22.3.6\0\0\0\0\0\0");
        assert_eq!(identity.pointer_size as usize, std::mem::size_of::<usize>());
        assert_eq!(identity.driver_info, b"llvmpipe\0Mesa 22.3.6 (LLVM 15.0.6)");
        assert_eq!(identity.namespace, b"engine");
    }

    #[test]
    fn driver_strings_alone_change_the_key() {
        // lavapipe keeps UUID and version across Mesa builds; only driverInfo tells them apart.
        let old = vk::PhysicalDeviceVulkan12Properties {
            driver_info: chars("Mesa 22.3.6"),
            ..Default::default()
        };
        let new = vk::PhysicalDeviceVulkan12Properties {
            driver_info: chars("Mesa 22.3.7"),
            ..Default::default()
        };
        let key = crate::PipelineFingerprint::of(b"k");
        let a = device_identity_from_properties(&lavapipe(), Some(&old), b"");
        let b = device_identity_from_properties(&lavapipe(), Some(&new), b"");
        assert_ne!(key.scoped(&a), key.scoped(&b));
        let without = device_identity_from_properties(&lavapipe(), None, b"");
        assert_eq!((without.driver_id, without.driver_info.len()), (0, 0));
    }

    #[test]
    fn unterminated_strings_are_taken_whole() {
        let full = [b'x' as c_char; 8];
        assert_eq!(c_chars_until_nul(&full), b"xxxxxxxx");
    }
}
