//! What label and history records share (FORMAT.md, "pcstore label record" and "pcstore
//! history record"): a key in the record kind's namespace over the whole device identity and
//! the application; a head of magic, version and the device fields an envelope records; and
//! texts as a u16 length and at most a kind's limit of bytes. One reader and one writer, so the
//! two formats cannot drift apart where they are meant to agree.

use super::envelope::EnvelopeDevice;
use crate::codec::{Reader, Writer};
use crate::fingerprint::{DeviceIdentity, PipelineFingerprint};

/// The key of the record of `identity` and `application` in the kind's `namespace`.
pub(super) fn record_key(
    namespace: &[u8],
    identity: &DeviceIdentity,
    application: &str,
) -> PipelineFingerprint {
    PipelineFingerprint::builder()
        .with(namespace)
        .with(&identity.vendor_id.to_le_bytes())
        .with(&identity.device_id.to_le_bytes())
        .with(&identity.driver_version.to_le_bytes())
        .with(&identity.driver_id.to_le_bytes())
        .with(&identity.pipeline_cache_uuid)
        .with(&[identity.pointer_size])
        .with(&identity.driver_info)
        .with(&identity.namespace)
        .with(application.as_bytes())
        .finish()
}

/// The device fields of `identity` as a record (and an envelope) keeps them.
pub(super) fn device_fields(identity: &DeviceIdentity) -> EnvelopeDevice {
    EnvelopeDevice {
        vendor_id: identity.vendor_id,
        device_id: identity.device_id,
        driver_version: identity.driver_version,
        driver_id: identity.driver_id,
        pipeline_cache_uuid: identity.pipeline_cache_uuid,
        pointer_size: identity.pointer_size,
    }
}

/// Writes a record's first 44 bytes: `magic`, `version`, 3 zeros, the device fields, 3 zeros.
pub(super) fn write_head(out: &mut Writer, magic: [u8; 4], version: u8, device: &EnvelopeDevice) {
    out.bytes(&magic)
        .u8(version)
        .zeros(3)
        .u32(device.vendor_id)
        .u32(device.device_id)
        .u32(device.driver_version)
        .u32(device.driver_id)
        .bytes(&device.pipeline_cache_uuid)
        .u8(device.pointer_size)
        .zeros(3);
}

/// Reads what [`write_head`] writes: `None` for another magic or version, non-zero padding
/// or too few bytes.
pub(super) fn read_head(input: &mut Reader, magic: [u8; 4], version: u8) -> Option<EnvelopeDevice> {
    if input.array::<4>()? != magic || input.u8()? != version {
        return None;
    }
    input.zeros(3)?;
    let device = EnvelopeDevice {
        vendor_id: input.u32()?,
        device_id: input.u32()?,
        driver_version: input.u32()?,
        driver_id: input.u32()?,
        pipeline_cache_uuid: input.array::<16>()?,
        pointer_size: input.u8()?,
    };
    input.zeros(3)?;
    Some(device)
}

/// Writes `text`, cut to `max` bytes (at most `u16::MAX`), after its length as a u16.
pub(super) fn write_text(out: &mut Writer, text: &[u8], max: usize) {
    let text = &text[..text.len().min(max).min(usize::from(u16::MAX))];
    out.u16(text.len() as u16).bytes(text);
}

/// Reads what [`write_text`] writes: `None` for a length above `max` (never written) or
/// too few bytes.
pub(super) fn read_text<'a>(input: &mut Reader<'a>, max: usize) -> Option<&'a [u8]> {
    let len = usize::from(input.u16()?);
    if len > max {
        return None;
    }
    input.take(len)
}
