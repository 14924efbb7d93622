//! pcstore's envelope around a stored pipeline-cache blob: 128 bytes in front of the driver's
//! blob (magic, version, length, BLAKE3, scoped key, device identity). The layout, the order of
//! the checks and the versioning are in FORMAT.md ("pcstore Vulkan envelope"), which a test
//! below holds to the bytes written here.
//!
//! The scoped key already derives from the whole identity (driver strings and namespace
//! included), so a matching key proves the blob was written for this identity; the plain
//! identity fields are kept too, so a foreign blob can be told apart from a damaged one.

use std::fmt;

use crate::codec::{Reader, Writer};
use crate::fingerprint::{DeviceIdentity, PipelineFingerprint};

/// Bytes before the payload.
pub const ENVELOPE_HEADER_LEN: usize = 128;

const MAGIC: [u8; 8] = *b"pcsVKpc\0";
const FORMAT_VERSION: u32 = 1;
/// Offset of the identity fields (vendorID onwards): bytes that differ there, in an envelope
/// whose payload checks, mean another device, not damage.
const IDENTITY_AT: usize = 88;
/// Offset of the reserved (zero) bytes.
const RESERVED_AT: usize = 121;

/// Why stored bytes are not a usable envelope for this key and device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than the envelope header (the length found).
    Truncated(usize),
    /// Does not start with pcstore's magic.
    BadMagic,
    /// An envelope format or header length this build does not read.
    UnsupportedVersion(u32),
    /// The payload length field disagrees with the bytes present.
    LengthMismatch {
        /// Length the header states.
        stated: u64,
        /// Payload bytes present.
        present: u64,
    },
    /// The payload's BLAKE3 differs from the one recorded.
    HashMismatch,
    /// Stored under another key (a store returned the wrong entry).
    KeyMismatch,
    /// Written for another device, driver or process bitness.
    IdentityMismatch,
}

impl EnvelopeError {
    /// True when the bytes are intact but belong to another device or driver build.
    #[must_use]
    pub fn is_device_mismatch(&self) -> bool {
        matches!(self, Self::IdentityMismatch)
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(len) => write!(f, "envelope of {len} bytes is truncated"),
            Self::BadMagic => f.write_str("not a pcstore pipeline-cache envelope"),
            Self::UnsupportedVersion(v) => write!(f, "envelope format {v} is not supported"),
            Self::LengthMismatch { stated, present } => {
                write!(
                    f,
                    "envelope states {stated} payload bytes, {present} present"
                )
            }
            Self::HashMismatch => f.write_str("payload does not match its BLAKE3"),
            Self::KeyMismatch => f.write_str("envelope was stored under another key"),
            Self::IdentityMismatch => f.write_str("envelope was written for another device"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Wraps a driver blob for storage under `stored_key` (see
/// [`VulkanContext::stored_key`](super::VulkanContext::stored_key)) on the device `identity`
/// describes: the bytes a save writes. For tools that import blobs, and tests.
#[must_use]
pub fn seal_envelope(
    payload: &[u8],
    stored_key: &PipelineFingerprint,
    identity: &DeviceIdentity,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + payload.len());
    out.resize(ENVELOPE_HEADER_LEN, 0);
    out.extend_from_slice(payload);
    seal_in_place(
        &mut out,
        blake3::hash(payload).as_bytes(),
        stored_key,
        identity,
    );
    out
}

/// Checks stored bytes as a load does (everything but the cache header) and returns the
/// payload.
///
/// # Errors
/// The first check that fails.
pub fn open_envelope<'a>(
    stored: &'a [u8],
    stored_key: &PipelineFingerprint,
    identity: &DeviceIdentity,
) -> Result<&'a [u8], EnvelopeError> {
    open(stored, stored_key, identity).map(|(payload, _)| payload)
}

/// The device fields an envelope header records (FORMAT.md, bytes 88 to 121).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeDevice {
    /// `vendorID`.
    pub vendor_id: u32,
    /// `deviceID`.
    pub device_id: u32,
    /// `driverVersion`.
    pub driver_version: u32,
    /// `VkDriverId`, 0 when the driver reports none.
    pub driver_id: u32,
    /// `pipelineCacheUUID`.
    pub pipeline_cache_uuid: [u8; 16],
    /// Pointer size of the writing process.
    pub pointer_size: u8,
}

/// The device fields of the envelope `stored` begins with (at least its 128-byte header), read
/// without checking the payload: for tools that group a store's entries by device. `None` when
/// the bytes do not begin with an envelope header of this format version.
pub fn envelope_device(stored: &[u8]) -> Option<EnvelopeDevice> {
    let header = stored.get(..ENVELOPE_HEADER_LEN)?;
    let mut fields = Reader::new(header);
    let reserved_clear = header[RESERVED_AT..].iter().all(|&b| b == 0);
    if fields.array::<8>()? != MAGIC
        || fields.u32()? != FORMAT_VERSION
        || fields.u32()? as usize != ENVELOPE_HEADER_LEN
        || !reserved_clear
    {
        return None;
    }
    let mut fields = Reader::new(&header[IDENTITY_AT..RESERVED_AT]);
    Some(EnvelopeDevice {
        vendor_id: fields.u32()?,
        device_id: fields.u32()?,
        driver_version: fields.u32()?,
        driver_id: fields.u32()?,
        pipeline_cache_uuid: fields.array::<16>()?,
        pointer_size: fields.u8()?,
    })
}

/// Writes the envelope header into `buffer[..ENVELOPE_HEADER_LEN]`; the rest of `buffer` is the
/// payload, whose BLAKE3 is `payload_hash`. Saves fetch the driver's blob straight behind the
/// reserved header, so sealing costs no copy of the blob.
pub(crate) fn seal_in_place(
    buffer: &mut [u8],
    payload_hash: &[u8; 32],
    scoped_key: &PipelineFingerprint,
    identity: &DeviceIdentity,
) {
    let payload_len = (buffer.len() - ENVELOPE_HEADER_LEN) as u64;
    buffer[..ENVELOPE_HEADER_LEN].copy_from_slice(&header_bytes(
        payload_len,
        payload_hash,
        scoped_key,
        identity,
    ));
}

/// Checks an envelope and returns its payload and the payload's BLAKE3.
///
/// Costs one BLAKE3 pass over the payload; checks are ordered so damaged bytes are reported as
/// damage (never as a device mismatch).
pub(crate) fn open<'a>(
    stored: &'a [u8],
    scoped_key: &PipelineFingerprint,
    identity: &DeviceIdentity,
) -> Result<(&'a [u8], [u8; 32]), EnvelopeError> {
    if stored.len() < ENVELOPE_HEADER_LEN {
        return Err(EnvelopeError::Truncated(stored.len()));
    }
    let (header, payload) = stored.split_at(ENVELOPE_HEADER_LEN);
    let mut fields = Reader::new(header);
    let field = "128 bytes hold every field";
    if fields.array::<8>().expect(field) != MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    let version = fields.u32().expect(field);
    let header_len = fields.u32().expect(field);
    // Reserved bytes set: a later format, or damage; either way not ours to read (and not a
    // device mismatch).
    let reserved_clear = header[RESERVED_AT..].iter().all(|&b| b == 0);
    if version != FORMAT_VERSION || header_len as usize != ENVELOPE_HEADER_LEN || !reserved_clear {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let stated = fields.u64().expect(field);
    if stated != payload.len() as u64 {
        return Err(EnvelopeError::LengthMismatch {
            stated,
            present: payload.len() as u64,
        });
    }
    let hash = *blake3::hash(payload).as_bytes();
    if fields.array::<32>().expect(field) != hash {
        return Err(EnvelopeError::HashMismatch);
    }
    let stored_key = fields.array::<32>().expect(field);
    let expected = header_bytes(stated, &hash, scoped_key, identity);
    if header[IDENTITY_AT..] != expected[IDENTITY_AT..] {
        return Err(EnvelopeError::IdentityMismatch);
    }
    if stored_key != scoped_key.0 {
        return Err(EnvelopeError::KeyMismatch);
    }
    Ok((payload, hash))
}

fn header_bytes(
    payload_len: u64,
    payload_hash: &[u8; 32],
    scoped_key: &PipelineFingerprint,
    identity: &DeviceIdentity,
) -> [u8; ENVELOPE_HEADER_LEN] {
    let mut header = Writer::with_capacity(ENVELOPE_HEADER_LEN);
    header
        .bytes(&MAGIC)
        .u32(FORMAT_VERSION)
        .u32(ENVELOPE_HEADER_LEN as u32)
        .u64(payload_len)
        .bytes(payload_hash)
        .bytes(&scoped_key.0);
    debug_assert_eq!(header.as_slice().len(), IDENTITY_AT);
    header
        .u32(identity.vendor_id)
        .u32(identity.device_id)
        .u32(identity.driver_version)
        .u32(identity.driver_id)
        .bytes(&identity.pipeline_cache_uuid)
        .u8(identity.pointer_size);
    debug_assert_eq!(header.as_slice().len(), RESERVED_AT);
    header.zeros(ENVELOPE_HEADER_LEN - RESERVED_AT);
    header
        .finish()
        .try_into()
        .expect("the fields above are 128 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            vendor_id: 0x1ae0,
            device_id: 0xc0de,
            driver_version: 5,
            driver_id: 10,
            pipeline_cache_uuid: [7; 16],
            pointer_size: 8,
            driver_info: b"SwiftShader\0".to_vec(),
            namespace: b"test".to_vec(),
        }
    }

    fn sealed(payload: &[u8]) -> (Vec<u8>, PipelineFingerprint) {
        let key = PipelineFingerprint::of(b"engine key").scoped(&identity());
        (seal_envelope(payload, &key, &identity()), key)
    }

    #[test]
    fn round_trips_any_payload() {
        for payload in [&b""[..], b"x", &[0x5a; 5000]] {
            let (stored, key) = sealed(payload);
            assert_eq!(stored.len(), ENVELOPE_HEADER_LEN + payload.len());
            let (opened, hash) = open(&stored, &key, &identity()).unwrap();
            assert_eq!(opened, payload);
            assert_eq!(hash, *blake3::hash(payload).as_bytes());
        }
    }

    #[test]
    fn envelope_device_reads_the_identity_fields_of_a_header_only() {
        let (stored, _) = sealed(b"driver blob");
        let id = identity();
        let expected = EnvelopeDevice {
            vendor_id: id.vendor_id,
            device_id: id.device_id,
            driver_version: id.driver_version,
            driver_id: id.driver_id,
            pipeline_cache_uuid: id.pipeline_cache_uuid,
            pointer_size: id.pointer_size,
        };
        // The header alone is enough: tools read only the head of each entry.
        assert_eq!(
            envelope_device(&stored[..ENVELOPE_HEADER_LEN]),
            Some(expected)
        );
        assert_eq!(envelope_device(&stored[..ENVELOPE_HEADER_LEN - 1]), None);
        let mut foreign = stored.clone();
        foreign[0] ^= 1;
        assert_eq!(envelope_device(&foreign), None);
        let mut later = stored;
        later[RESERVED_AT] = 1;
        assert_eq!(envelope_device(&later), None);
    }

    #[test]
    fn format_md_documents_the_bytes_written() {
        let payload = b"driver blob";
        let (stored, key) = sealed(payload);
        let id = identity();
        crate::codec::assert_documented_layout(
            "pcstore Vulkan envelope",
            "Header (128 bytes)",
            &stored[..ENVELOPE_HEADER_LEN],
            &[
                ("magic `pcsVKpc\\0`", b"pcsVKpc\0"),
                ("format version = 1", &1u32.to_le_bytes()),
                ("header length = 128", &128u32.to_le_bytes()),
                ("payload length", &(payload.len() as u64).to_le_bytes()),
                ("BLAKE3 of the payload", blake3::hash(payload).as_bytes()),
                ("scoped key the blob was stored under", &key.0),
                ("vendorID", &id.vendor_id.to_le_bytes()),
                ("deviceID", &id.device_id.to_le_bytes()),
                ("driverVersion", &id.driver_version.to_le_bytes()),
                (
                    "driverID (`VkDriverId`, 0 when the driver reports none)",
                    &id.driver_id.to_le_bytes(),
                ),
                ("pipelineCacheUUID", &id.pipeline_cache_uuid),
                ("pointer size of the writing process (4 or 8)", &[8]),
                ("zero", &[0; 7]),
            ],
        );
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let (stored, key) = sealed(&[0x11; 64]);
        for byte in 0..stored.len() {
            for bit in [0x01u8, 0x80] {
                let mut damaged = stored.clone();
                damaged[byte] ^= bit;
                let err = open(&damaged, &key, &identity()).unwrap_err();
                // Only the identity fields themselves can look like another device.
                let identity_field = (88..121).contains(&byte);
                assert_eq!(
                    err.is_device_mismatch(),
                    identity_field,
                    "flip at byte {byte}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn names_each_fault() {
        let (stored, key) = sealed(&[0x22; 40]);
        let id = identity();
        assert_eq!(
            open(&stored[..100], &key, &id),
            Err(EnvelopeError::Truncated(100))
        );
        assert_eq!(open(&[0u8; 200], &key, &id), Err(EnvelopeError::BadMagic));
        let mut version = stored.clone();
        version[8] = 2;
        assert_eq!(
            open(&version, &key, &id),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        assert_eq!(
            open(&stored[..stored.len() - 1], &key, &id),
            Err(EnvelopeError::LengthMismatch {
                stated: 40,
                present: 39
            })
        );
        let mut payload = stored.clone();
        *payload.last_mut().unwrap() ^= 1;
        assert_eq!(open(&payload, &key, &id), Err(EnvelopeError::HashMismatch));
        let other_key = PipelineFingerprint::of(b"other");
        assert_eq!(
            open(&stored, &other_key, &id),
            Err(EnvelopeError::KeyMismatch)
        );
        let newer_driver = DeviceIdentity {
            driver_version: 6,
            ..identity()
        };
        let err = open(&stored, &key, &newer_driver).unwrap_err();
        assert_eq!(err, EnvelopeError::IdentityMismatch);
        assert!(err.is_device_mismatch());
        let thirty_two_bit = DeviceIdentity {
            pointer_size: 4,
            ..identity()
        };
        assert_eq!(
            open(&stored, &key, &thirty_two_bit),
            Err(EnvelopeError::IdentityMismatch)
        );
    }
}
