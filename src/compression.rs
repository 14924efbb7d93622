//! Record compression, shared by the disk tier (format version 2) and bundles (format version 2).
//!
//! A value is stored compressed only when that saves at least a tenth of its bytes: what does
//! not compress (random data, already compressed blobs) is stored as it is, and the reader pays
//! nothing for it. A compressed payload is `value length u64 ‖ zstd frame` (FORMAT.md). The
//! BLAKE3 a record or bundle entry carries is always that of the value, the bytes handed back,
//! so a reader checks what it returns, whatever the encoding.
//!
//! zstd at level 1, chosen by `benches/compression.rs` (BENCHMARKS.md, "Compression"): on the
//! SPIR-V, recipes and x86 code measured it stores 20–35 % fewer bytes than lz4_flex, which
//! decompresses 2–5 × faster; the complaint this serves is caches that grow to tens of
//! gigabytes, and a hit's decompression (a fraction of a millisecond for a 64 KiB blob) is
//! small next to the pipeline compile it saves. Level 3 stores at most 5 % less for 40 %
//! slower compression on the putting thread.
//!
//! Decompression trusts nothing it reads: the declared value length must be at most what the
//! caller can accept (the store's largest entry), the output buffer is allocated fallibly for
//! that length and never grows, and the frame must fill it exactly.

use std::borrow::Cow;
use std::cell::RefCell;

/// How a payload holds its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The payload is the value.
    Stored = 0,
    /// The payload is the value's length (u64) and a zstd frame of it.
    Zstd = 1,
}

impl Encoding {
    /// The encoding a format byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Stored),
            1 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// zstd level: the fastest of the standard levels (see the module documentation).
const LEVEL: i32 = 1;

/// Bytes of the value length in front of a zstd frame.
const LENGTH_PREFIX: usize = 8;

/// Values shorter than this are stored as they are without trying: a frame's own header and the
/// length prefix (about 20 bytes) leave too little to gain.
const MIN_COMPRESSED_VALUE: usize = 64;

thread_local! {
    /// One compression and one decompression context per thread: creating one costs more than
    /// compressing or decompressing a small value.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// The payload to store for `value`: compressed if that saves at least a tenth, else the value
/// itself.
pub fn encode(value: &[u8]) -> (Encoding, Cow<'_, [u8]>) {
    if value.len() < MIN_COMPRESSED_VALUE {
        return (Encoding::Stored, Cow::Borrowed(value));
    }
    let worth_it = value.len() - value.len() / 10;
    let compressed = COMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        // A frame that does not fit is not worth storing: zstd gives up as soon as it knows.
        let mut frame = Vec::with_capacity(worth_it - LENGTH_PREFIX);
        slot.as_mut()?.compress_to_buffer(value, &mut frame).ok()?;
        let mut payload = Vec::with_capacity(LENGTH_PREFIX + frame.len());
        payload.extend_from_slice(&(value.len() as u64).to_le_bytes());
        payload.extend_from_slice(&frame);
        Some(payload)
    });
    match compressed {
        Some(payload) => (Encoding::Zstd, Cow::Owned(payload)),
        None => (Encoding::Stored, Cow::Borrowed(value)),
    }
}

/// The value a payload of `encoding` holds, or `None` if it is malformed or declares a value
/// longer than `max_value_len` (then nothing is allocated for it).
pub fn decode(encoding: Encoding, payload: Vec<u8>, max_value_len: u64) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Stored => Some(payload),
        Encoding::Zstd => decompress(&payload, max_value_len),
    }
}

/// The value a [`Encoding::Zstd`] payload holds (see [`decode`]).
pub fn decompress(payload: &[u8], max_value_len: u64) -> Option<Vec<u8>> {
    let (prefix, frame) = payload.split_first_chunk::<LENGTH_PREFIX>()?;
    let value_len = u64::from_le_bytes(*prefix);
    if value_len > max_value_len {
        return None;
    }
    let value_len = usize::try_from(value_len).ok()?;
    let mut value = Vec::new();
    value.try_reserve_exact(value_len).ok()?;
    let written = DECOMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        // Writes into the reserved capacity only: a frame decoding to more is an error.
        slot.as_mut()?.decompress_to_buffer(frame, &mut value).ok()
    })?;
    (written == value_len && value.len() == value_len).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressible(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 7) as u8).collect()
    }

    fn random(len: usize) -> Vec<u8> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn compressible_values_round_trip_compressed() {
        let value = compressible(10_000);
        let (encoding, payload) = encode(&value);
        assert_eq!(encoding, Encoding::Zstd);
        assert!(payload.len() < value.len() / 10);
        assert_eq!(decode(encoding, payload.into_owned(), 10_000), Some(value));
    }

    #[test]
    fn values_that_save_less_than_a_tenth_are_stored_as_they_are() {
        for value in [random(10_000), compressible(63), Vec::new()] {
            let (encoding, payload) = encode(&value);
            assert_eq!(encoding, Encoding::Stored);
            assert_eq!(&*payload, &value[..]);
        }
        // Half random, half zeros: saves well over a tenth.
        let mut half = random(5_000);
        half.extend(std::iter::repeat_n(0, 5_000));
        assert_eq!(encode(&half).0, Encoding::Zstd);
    }

    #[test]
    fn a_declared_length_beyond_the_limit_is_refused_unread() {
        let value = compressible(10_000);
        let payload = encode(&value).1.into_owned();
        assert_eq!(decode(Encoding::Zstd, payload.clone(), 9_999), None);
        // A length claiming far more than the frame holds: refused by the limit, before any
        // allocation; within the limit, refused because the frame does not fill it.
        let mut lying = payload.clone();
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(Encoding::Zstd, lying, 64 << 20), None);
        let mut short = payload.clone();
        short[..8].copy_from_slice(&20_000u64.to_le_bytes());
        assert_eq!(decode(Encoding::Zstd, short, 64 << 20), None);
        // A length below what the frame holds: the output would overflow, refused.
        let mut long = payload;
        long[..8].copy_from_slice(&5_000u64.to_le_bytes());
        assert_eq!(decode(Encoding::Zstd, long, 64 << 20), None);
    }

    #[test]
    fn damaged_frames_are_refused_not_trusted() {
        let value = compressible(10_000);
        let payload = encode(&value).1.into_owned();
        assert_eq!(decode(Encoding::Zstd, payload[..7].to_vec(), 1 << 20), None);
        assert_eq!(
            decode(
                Encoding::Zstd,
                payload[..payload.len() - 1].to_vec(),
                1 << 20
            ),
            None
        );
        for at in 8..payload.len() {
            let mut flipped = payload.clone();
            flipped[at] ^= 0x40;
            // Either refused or some other bytes: the caller's BLAKE3 check decides those.
            if let Some(out) = decode(Encoding::Zstd, flipped, 1 << 20) {
                assert_eq!(out.len(), 10_000);
            }
        }
    }
}
