//! What a load or save did, in values a C layer can expose as they are (`#[repr(i32)]`,
//! explicit discriminants that never change meaning).

use ash::vk;

use super::envelope::EnvelopeError;
use super::header::HeaderError;

/// How a load ended. Every outcome hands back a usable cache; only `Hit` has stored data in it.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadOutcome {
    /// The stored blob passed every check and the driver accepted it.
    Hit = 0,
    /// Nothing stored under this key for this device: an empty cache.
    Miss = 1,
    /// The stored bytes were damaged (envelope, hash, length or cache header), or the store
    /// found its copy damaged and dropped it ([`Rejection::StoreCorrupt`]): an empty cache.
    Corrupt = 2,
    /// The stored blob is intact but made for another device or driver build: an empty cache.
    DeviceMismatch = 3,
    /// The driver returned an error for the checked data; retried without data.
    DriverRefused = 4,
    /// The stored blob is larger than [`VulkanOptions::max_blob_bytes`](super::VulkanOptions): an
    /// empty cache.
    TooLarge = 5,
}

/// The precise check that turned a stored blob away (`None` for hits and misses).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Nothing was rejected.
    None = 0,
    /// Shorter than pcstore's envelope header.
    EnvelopeTruncated = 1,
    /// Not pcstore's envelope magic.
    EnvelopeMagic = 2,
    /// An envelope format this build does not read.
    EnvelopeVersion = 3,
    /// The envelope's payload length disagrees with the bytes present.
    EnvelopeLength = 4,
    /// The payload does not match the envelope's BLAKE3.
    EnvelopeHash = 5,
    /// The envelope names another key.
    EnvelopeKey = 6,
    /// The envelope's identity fields name another device, driver or bitness.
    EnvelopeIdentity = 7,
    /// The payload is shorter than `VkPipelineCacheHeaderVersionOne`.
    HeaderTruncated = 8,
    /// `headerSize` below 32 or beyond the payload.
    HeaderSize = 9,
    /// `headerVersion` is not `VK_PIPELINE_CACHE_HEADER_VERSION_ONE`.
    HeaderVersion = 10,
    /// The header's vendorID is not the device's.
    HeaderVendor = 11,
    /// The header's deviceID is not the device's.
    HeaderDevice = 12,
    /// The header's pipelineCacheUUID is not the device's.
    HeaderUuid = 13,
    /// Larger than the configured cap.
    TooLarge = 14,
    /// `vkCreatePipelineCache` failed with the data (see [`LoadInfo::driver_result`]).
    DriverError = 15,
    /// The store held an entry under this key but its own check (the disk tier's or a bundle's
    /// BLAKE3, the remote tier's envelope) failed: it was dropped and counted in the store's
    /// `corrupt_dropped`. A later load misses or, until the tier removes the entry, reports it
    /// again; the next save replaces it.
    StoreCorrupt = 16,
}

impl Rejection {
    /// The load outcome this rejection leads to.
    #[must_use]
    pub fn outcome(self) -> LoadOutcome {
        match self {
            Self::None => LoadOutcome::Hit,
            Self::EnvelopeIdentity | Self::HeaderVendor | Self::HeaderDevice | Self::HeaderUuid => {
                LoadOutcome::DeviceMismatch
            }
            Self::TooLarge => LoadOutcome::TooLarge,
            Self::DriverError => LoadOutcome::DriverRefused,
            _ => LoadOutcome::Corrupt,
        }
    }
}

impl From<EnvelopeError> for Rejection {
    fn from(err: EnvelopeError) -> Self {
        match err {
            EnvelopeError::Truncated(_) => Self::EnvelopeTruncated,
            EnvelopeError::BadMagic => Self::EnvelopeMagic,
            EnvelopeError::UnsupportedVersion(_) => Self::EnvelopeVersion,
            EnvelopeError::LengthMismatch { .. } => Self::EnvelopeLength,
            EnvelopeError::HashMismatch => Self::EnvelopeHash,
            EnvelopeError::KeyMismatch => Self::EnvelopeKey,
            EnvelopeError::IdentityMismatch => Self::EnvelopeIdentity,
        }
    }
}

impl From<HeaderError> for Rejection {
    fn from(err: HeaderError) -> Self {
        match err {
            HeaderError::Truncated(_) => Self::HeaderTruncated,
            HeaderError::BadHeaderSize(_) => Self::HeaderSize,
            HeaderError::BadHeaderVersion(_) => Self::HeaderVersion,
            HeaderError::VendorMismatch(_) => Self::HeaderVendor,
            HeaderError::DeviceMismatch(_) => Self::HeaderDevice,
            HeaderError::UuidMismatch => Self::HeaderUuid,
        }
    }
}

/// What [`VulkanContext::load_pipeline_cache`](super::VulkanContext::load_pipeline_cache) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadInfo {
    /// How the load ended.
    pub outcome: LoadOutcome,
    /// The check that failed, `Rejection::None` on a hit or miss.
    pub rejection: Rejection,
    /// Size of the stored entry found (envelope included); 0 on a miss, and when the store
    /// dropped a damaged entry ([`Rejection::StoreCorrupt`]).
    pub stored_bytes: u64,
    /// Bytes handed to the driver as `initialDataSize` in the cache returned (0 unless a hit).
    pub initial_data_bytes: u64,
    /// What `vkCreatePipelineCache` returned for the stored data; `SUCCESS` when no data was
    /// offered.
    pub driver_result: vk::Result,
    /// Wall time of the whole load, store lookup and driver call included.
    pub elapsed_ns: u64,
}

/// How a save ended. Only `Stored` wrote anything.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaveOutcome {
    /// The driver's blob was checked, sealed and accepted by the store.
    Stored = 0,
    /// The blob equals the one this context last loaded or saved for the key: no write.
    Unchanged = 1,
    /// The driver's blob failed the header check against its own device (shorter than its
    /// header, another UUID...): not stored, so it can never be handed back.
    DriverBlobInvalid = 2,
    /// The blob is larger than [`VulkanOptions::max_blob_bytes`](super::VulkanOptions).
    TooLarge = 3,
    /// The store refused the put (see its metrics); nothing was written.
    StoreRejected = 4,
}

/// What [`VulkanContext::save_pipeline_cache`](super::VulkanContext::save_pipeline_cache) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveInfo {
    /// How the save ended.
    pub outcome: SaveOutcome,
    /// Size of the driver's blob (0 when too large to fetch).
    pub driver_bytes: u64,
    /// Bytes handed to the store (envelope included), 0 unless stored.
    pub stored_bytes: u64,
    /// Wall time of the whole save.
    pub elapsed_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_maps_to_its_outcome() {
        let envelope = [
            (EnvelopeError::Truncated(3), LoadOutcome::Corrupt),
            (EnvelopeError::BadMagic, LoadOutcome::Corrupt),
            (EnvelopeError::UnsupportedVersion(9), LoadOutcome::Corrupt),
            (
                EnvelopeError::LengthMismatch {
                    stated: 1,
                    present: 2,
                },
                LoadOutcome::Corrupt,
            ),
            (EnvelopeError::HashMismatch, LoadOutcome::Corrupt),
            (EnvelopeError::KeyMismatch, LoadOutcome::Corrupt),
            (EnvelopeError::IdentityMismatch, LoadOutcome::DeviceMismatch),
        ];
        for (err, outcome) in envelope {
            assert_eq!(Rejection::from(err).outcome(), outcome, "{err:?}");
            assert_eq!(
                err.is_device_mismatch(),
                outcome == LoadOutcome::DeviceMismatch
            );
        }
        let header = [
            HeaderError::Truncated(20),
            HeaderError::BadHeaderSize(16),
            HeaderError::BadHeaderVersion(2),
            HeaderError::VendorMismatch(1),
            HeaderError::DeviceMismatch(1),
            HeaderError::UuidMismatch,
        ];
        for err in header {
            let expected = if err.is_device_mismatch() {
                LoadOutcome::DeviceMismatch
            } else {
                LoadOutcome::Corrupt
            };
            assert_eq!(Rejection::from(err).outcome(), expected, "{err:?}");
        }
        assert_eq!(Rejection::TooLarge.outcome(), LoadOutcome::TooLarge);
        assert_eq!(Rejection::StoreCorrupt.outcome(), LoadOutcome::Corrupt);
        assert_eq!(Rejection::DriverError.outcome(), LoadOutcome::DriverRefused);
    }

    #[test]
    fn c_visible_values_are_fixed() {
        assert_eq!(LoadOutcome::TooLarge as i32, 5);
        assert_eq!(SaveOutcome::StoreRejected as i32, 4);
        assert_eq!(Rejection::None as i32, 0);
        assert_eq!(Rejection::DriverError as i32, 15);
        assert_eq!(Rejection::StoreCorrupt as i32, 16);
    }
}
