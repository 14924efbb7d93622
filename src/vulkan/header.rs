//! The `VkPipelineCacheHeaderVersionOne` check: the last gate before a driver sees a byte.
//!
//! Every pipeline-cache blob starts with this 32-byte little-endian header (Vulkan spec,
//! "Pipeline Cache Header"): headerSize, headerVersion, vendorID, deviceID, pipelineCacheUUID.
//! Drivers are supposed to check it themselves; several do not (or crash doing so), so pcstore
//! checks it against the device the cache is created on.

use std::fmt;

use crate::codec::{Reader, Writer};

/// Size of `VkPipelineCacheHeaderVersionOne`, the smallest valid blob.
pub const HEADER_V1_LEN: usize = 32;

/// `VK_PIPELINE_CACHE_HEADER_VERSION_ONE`.
pub const HEADER_VERSION_ONE: u32 = 1;

/// The device fields a pipeline-cache header must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheHeaderExpectation {
    /// `VkPhysicalDeviceProperties::vendorID`.
    pub vendor_id: u32,
    /// `VkPhysicalDeviceProperties::deviceID`.
    pub device_id: u32,
    /// `VkPhysicalDeviceProperties::pipelineCacheUUID`.
    pub pipeline_cache_uuid: [u8; 16],
}

/// Why a blob is not a valid pipeline cache for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than the 32-byte header (the length found).
    Truncated(usize),
    /// `headerSize` below 32 or beyond the blob (the value found).
    BadHeaderSize(u32),
    /// `headerVersion` is not 1 (the value found).
    BadHeaderVersion(u32),
    /// `vendorID` differs from the device's (the value found).
    VendorMismatch(u32),
    /// `deviceID` differs from the device's (the value found).
    DeviceMismatch(u32),
    /// `pipelineCacheUUID` differs from the device's.
    UuidMismatch,
}

impl HeaderError {
    /// True when the blob is well-formed but made for another device or driver build.
    #[must_use]
    pub fn is_device_mismatch(&self) -> bool {
        matches!(
            self,
            Self::VendorMismatch(_) | Self::DeviceMismatch(_) | Self::UuidMismatch
        )
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(len) => write!(f, "pipeline cache of {len} bytes has no full header"),
            Self::BadHeaderSize(size) => write!(f, "pipeline cache headerSize {size} is invalid"),
            Self::BadHeaderVersion(v) => write!(f, "pipeline cache headerVersion {v} is not 1"),
            Self::VendorMismatch(v) => write!(f, "pipeline cache is for vendor {v:#x}"),
            Self::DeviceMismatch(d) => write!(f, "pipeline cache is for device {d:#x}"),
            Self::UuidMismatch => f.write_str("pipeline cache UUID differs from the device's"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// `VkPipelineCacheHeaderVersionOne`'s fields, in their order.
struct HeaderV1 {
    header_size: u32,
    header_version: u32,
    vendor_id: u32,
    device_id: u32,
    pipeline_cache_uuid: [u8; 16],
}

impl HeaderV1 {
    /// The header at the start of `blob`; `None` if `blob` is shorter.
    fn read(blob: &[u8]) -> Option<Self> {
        let mut fields = Reader::new(blob);
        Some(Self {
            header_size: fields.u32()?,
            header_version: fields.u32()?,
            vendor_id: fields.u32()?,
            device_id: fields.u32()?,
            pipeline_cache_uuid: fields.array()?,
        })
    }
}

/// Checks that `blob` starts with a version-one header made for `expected`'s device.
///
/// Structural faults are reported before identity faults, so a truncated or garbage blob is
/// never called a device mismatch.
///
/// # Errors
/// The first [`HeaderError`] found: a blob shorter than the header, a `headerSize` below the
/// header's or beyond the blob, a `headerVersion` other than one, then a vendor, device or
/// pipeline-cache UUID other than `expected`'s.
pub fn check_cache_header(
    blob: &[u8],
    expected: &CacheHeaderExpectation,
) -> Result<(), HeaderError> {
    let Some(HeaderV1 {
        header_size,
        header_version,
        vendor_id,
        device_id,
        pipeline_cache_uuid,
    }) = HeaderV1::read(blob)
    else {
        return Err(HeaderError::Truncated(blob.len()));
    };
    if (header_size as usize) < HEADER_V1_LEN || header_size as usize > blob.len() {
        return Err(HeaderError::BadHeaderSize(header_size));
    }
    if header_version != HEADER_VERSION_ONE {
        return Err(HeaderError::BadHeaderVersion(header_version));
    }
    if vendor_id != expected.vendor_id {
        return Err(HeaderError::VendorMismatch(vendor_id));
    }
    if device_id != expected.device_id {
        return Err(HeaderError::DeviceMismatch(device_id));
    }
    if pipeline_cache_uuid != expected.pipeline_cache_uuid {
        return Err(HeaderError::UuidMismatch);
    }
    Ok(())
}

/// Writes a version-one header for `expected`'s device (tests and benchmarks synthesize blobs
/// with it; pcstore itself only ever stores what a driver produced).
#[must_use]
pub fn write_cache_header(expected: &CacheHeaderExpectation) -> [u8; HEADER_V1_LEN] {
    let mut header = Writer::with_capacity(HEADER_V1_LEN);
    header
        .u32(HEADER_V1_LEN as u32)
        .u32(HEADER_VERSION_ONE)
        .u32(expected.vendor_id)
        .u32(expected.device_id)
        .bytes(&expected.pipeline_cache_uuid);
    header
        .finish()
        .try_into()
        .expect("the fields above are 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE: CacheHeaderExpectation = CacheHeaderExpectation {
        vendor_id: 0x10005,
        device_id: 0,
        pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
    };

    fn valid(extra: usize) -> Vec<u8> {
        let mut blob = write_cache_header(&DEVICE).to_vec();
        blob.extend(std::iter::repeat_n(0xAB, extra));
        blob
    }

    #[test]
    fn accepts_header_only_and_longer_blobs() {
        assert_eq!(check_cache_header(&valid(0), &DEVICE), Ok(()));
        assert_eq!(check_cache_header(&valid(1000), &DEVICE), Ok(()));
        let mut larger_header = valid(16);
        larger_header[0..4].copy_from_slice(&48u32.to_le_bytes());
        assert_eq!(check_cache_header(&larger_header, &DEVICE), Ok(()));
    }

    #[test]
    fn rejects_every_structural_fault() {
        for len in [0, 1, 20, 31] {
            assert_eq!(
                check_cache_header(&valid(0)[..len], &DEVICE),
                Err(HeaderError::Truncated(len))
            );
        }
        for size in [0u32, 20, 31, 33, u32::MAX] {
            let mut blob = valid(0);
            blob[0..4].copy_from_slice(&size.to_le_bytes());
            assert_eq!(
                check_cache_header(&blob, &DEVICE),
                Err(HeaderError::BadHeaderSize(size))
            );
        }
        for version in [0u32, 2, 0x0100_0000] {
            let mut blob = valid(0);
            blob[4..8].copy_from_slice(&version.to_le_bytes());
            assert_eq!(
                check_cache_header(&blob, &DEVICE),
                Err(HeaderError::BadHeaderVersion(version))
            );
        }
        assert_eq!(
            check_cache_header(&[0u8; 64], &DEVICE),
            Err(HeaderError::BadHeaderSize(0))
        );
    }

    #[test]
    fn rejects_other_devices() {
        let mut vendor = valid(0);
        vendor[8] ^= 1;
        let mut device = valid(0);
        device[12] ^= 1;
        for byte in 16..32 {
            let mut uuid = valid(0);
            uuid[byte] ^= 0x80;
            assert_eq!(
                check_cache_header(&uuid, &DEVICE),
                Err(HeaderError::UuidMismatch)
            );
        }
        let vendor_err = check_cache_header(&vendor, &DEVICE).unwrap_err();
        assert_eq!(vendor_err, HeaderError::VendorMismatch(0x10004));
        assert!(vendor_err.is_device_mismatch());
        assert_eq!(
            check_cache_header(&device, &DEVICE),
            Err(HeaderError::DeviceMismatch(1))
        );
        assert!(!HeaderError::Truncated(3).is_device_mismatch());
    }
}
