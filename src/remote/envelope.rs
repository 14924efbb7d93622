//! The self-checking wrapper around every blob stored on the remote server.
//!
//! A shared server is written by many machines and read by many more, so nothing it returns is
//! trusted: a download is used only if its magic, version, mode, key, length and hash all check
//! out. The hash covers the header as well as the payload, so an envelope cannot be re-labelled
//! under another key; in keyed mode it is `blake3::keyed_hash` with a studio secret, so a client
//! that can PUT but does not know the secret cannot make other machines accept its bytes.
//!
//! Layout ([`HEADER_LEN`] bytes, then the payload):
//! `magic[8] · version u32 · mode u32 · key[32] · payload_len u64 · hash[32]`,
//! where `hash = H(header without hash ‖ payload)` and `H` is BLAKE3, keyed in keyed mode.
//! FORMAT.md ("pcstore remote envelope") documents it for people; a test below holds that page
//! to the bytes written here.

use crate::codec::{Reader, Writer};
use crate::fingerprint::PipelineFingerprint;

/// Identifies a pcstore remote envelope.
const MAGIC: [u8; 8] = *b"PCSREMOT";
/// Bumped when the layout changes; older envelopes are then misses, never misread.
const VERSION: u32 = 1;
/// `mode` for a plain BLAKE3 hash.
const MODE_PLAIN: u32 = 0;
/// `mode` for a BLAKE3 keyed hash under the studio secret.
const MODE_KEYED: u32 = 1;

const HASHED_HEADER_LEN: usize = 8 + 4 + 4 + 32 + 8;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = HASHED_HEADER_LEN + 32;

/// Why a downloaded body was refused. Every variant is counted as `corrupt_dropped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Shorter than the header, or shorter or longer than the header says.
    Length,
    /// Not a pcstore envelope, or one from another layout version.
    Format,
    /// Written in the other mode (keyed vs plain) than this client reads.
    Mode,
    /// Stored under another key than the one asked for.
    WrongKey,
    /// The hash does not match: corrupted, or forged without the secret.
    Hash,
    /// The payload is larger than this client accepts.
    TooLarge,
}

/// Wraps `payload` for storage under `fp`; `secret` selects keyed mode.
pub(crate) fn seal(fp: &PipelineFingerprint, payload: &[u8], secret: Option<&[u8; 32]>) -> Vec<u8> {
    let mode = if secret.is_some() {
        MODE_KEYED
    } else {
        MODE_PLAIN
    };
    let mut out = Writer::with_capacity(HEADER_LEN + payload.len());
    out.bytes(&MAGIC)
        .u32(VERSION)
        .u32(mode)
        .bytes(&fp.0)
        .u64(payload.len() as u64);
    let hash = digest(out.as_slice(), payload, secret);
    out.bytes(&hash).bytes(payload);
    out.finish()
}

/// Checks a downloaded envelope and returns the payload (the body minus its header).
///
/// `max_payload` bounds what is accepted; the body is consumed either way.
pub(crate) fn open(
    mut body: Vec<u8>,
    fp: &PipelineFingerprint,
    secret: Option<&[u8; 32]>,
    max_payload: u64,
) -> Result<Vec<u8>, EnvelopeError> {
    if body.len() < HEADER_LEN {
        return Err(EnvelopeError::Length);
    }
    let (header, payload) = body.split_at(HEADER_LEN);
    let mut fields = Reader::new(header);
    let field = "HEADER_LEN bytes hold every field";
    if fields.array::<8>().expect(field) != MAGIC || fields.u32().expect(field) != VERSION {
        return Err(EnvelopeError::Format);
    }
    let expected_mode = if secret.is_some() {
        MODE_KEYED
    } else {
        MODE_PLAIN
    };
    if fields.u32().expect(field) != expected_mode {
        return Err(EnvelopeError::Mode);
    }
    if fields.array::<32>().expect(field) != fp.0 {
        return Err(EnvelopeError::WrongKey);
    }
    let declared_len = fields.u64().expect(field);
    if declared_len > max_payload {
        return Err(EnvelopeError::TooLarge);
    }
    if declared_len != payload.len() as u64 {
        return Err(EnvelopeError::Length);
    }
    let stored_hash = blake3::Hash::from_bytes(fields.array::<32>().expect(field));
    let hash = digest(&header[..HASHED_HEADER_LEN], payload, secret);
    // A constant-time comparison: in keyed mode the hash is a MAC.
    if blake3::Hash::from(hash) != stored_hash {
        return Err(EnvelopeError::Hash);
    }
    body.drain(..HEADER_LEN);
    Ok(body)
}

fn digest(hashed_header: &[u8], payload: &[u8], secret: Option<&[u8; 32]>) -> [u8; 32] {
    let mut hasher = match secret {
        Some(key) => blake3::Hasher::new_keyed(key),
        None => blake3::Hasher::new(),
    };
    hasher.update(hashed_header);
    hasher.update(payload);
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> PipelineFingerprint {
        PipelineFingerprint::of(&[n])
    }

    #[test]
    fn round_trips_plain_and_keyed() {
        let secret = [7u8; 32];
        for payload in [&b""[..], b"x", &[0xAB; 5000]] {
            let sealed = seal(&fp(1), payload, None);
            assert_eq!(sealed.len(), HEADER_LEN + payload.len());
            assert_eq!(open(sealed, &fp(1), None, 1 << 20).unwrap(), payload);
            let keyed = seal(&fp(1), payload, Some(&secret));
            assert_eq!(
                open(keyed, &fp(1), Some(&secret), 1 << 20).unwrap(),
                payload
            );
        }
    }

    #[test]
    fn format_md_documents_the_bytes_written() {
        let payload = b"payload bytes";
        let secret = [7u8; 32];
        for (sealed, mode, hasher) in [
            (seal(&fp(1), payload, None), 0u32, blake3::Hasher::new()),
            (
                seal(&fp(1), payload, Some(&secret)),
                1,
                blake3::Hasher::new_keyed(&secret),
            ),
        ] {
            let (header, body) = sealed.split_at(HEADER_LEN);
            assert_eq!(body, payload);
            let hash = hasher
                .clone()
                .update(&header[..56])
                .update(payload)
                .finalize();
            crate::codec::assert_documented_layout(
                "pcstore remote envelope",
                "Header (88 bytes)",
                header,
                &[
                    ("magic `PCSREMOT`", b"PCSREMOT"),
                    ("format version = 1", &1u32.to_le_bytes()),
                    ("mode: 0 = plain, 1 = keyed", &mode.to_le_bytes()),
                    ("key (the one in the URL)", &fp(1).0),
                    ("payload length", &(payload.len() as u64).to_le_bytes()),
                    (
                        "hash of bytes 0..56 followed by the payload",
                        hash.as_bytes(),
                    ),
                ],
            );
        }
    }

    #[test]
    fn refuses_every_kind_of_damage() {
        let sealed = seal(&fp(1), b"payload bytes", None);
        assert_eq!(
            open(sealed.clone(), &fp(2), None, 100),
            Err(EnvelopeError::WrongKey)
        );
        assert_eq!(
            open(sealed[..sealed.len() - 1].to_vec(), &fp(1), None, 100),
            Err(EnvelopeError::Length)
        );
        assert_eq!(
            open(sealed[..10].to_vec(), &fp(1), None, 100),
            Err(EnvelopeError::Length)
        );
        assert_eq!(
            open(sealed.clone(), &fp(1), None, 5),
            Err(EnvelopeError::TooLarge)
        );
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(open(longer, &fp(1), None, 100), Err(EnvelopeError::Length));
        // Every single flipped bit anywhere is caught.
        for index in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[index] ^= 0x10;
            assert!(open(flipped, &fp(1), None, 100).is_err(), "byte {index}");
        }
    }

    #[test]
    fn relabelling_under_another_key_is_caught_by_the_hash() {
        let mut sealed = seal(&fp(1), b"payload", None);
        sealed[16..48].copy_from_slice(&fp(2).0);
        assert_eq!(open(sealed, &fp(2), None, 100), Err(EnvelopeError::Hash));
    }

    #[test]
    fn keyed_mode_rejects_forgeries_and_plain_envelopes() {
        let secret = [7u8; 32];
        let plain = seal(&fp(1), b"payload", None);
        assert_eq!(
            open(plain.clone(), &fp(1), Some(&secret), 100),
            Err(EnvelopeError::Mode)
        );
        // A forger who knows the layout but not the secret.
        let forged = seal(&fp(1), b"evil", Some(&[8u8; 32]));
        assert_eq!(
            open(forged, &fp(1), Some(&secret), 100),
            Err(EnvelopeError::Hash)
        );
        let keyed = seal(&fp(1), b"payload", Some(&secret));
        assert_eq!(open(keyed, &fp(1), None, 100), Err(EnvelopeError::Mode));
    }
}
