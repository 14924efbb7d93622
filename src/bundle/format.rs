//! The bundle file layout (FORMAT.md, "Bundle format, version 2", which also says what this
//! code reads of version 1): encoding and checking, no I/O. Every field goes through
//! [`crate::codec`], in the order of FORMAT.md's tables.
//!
//! Version 2 adds compressed payloads (the disk tier's scheme, [`crate::compression`]): an
//! index entry's byte 33, zero in version 1, names the payload's encoding. Nothing else
//! changed, so version-1 bundles (already shipped with games) are read as they are.

use super::BundleError;
use crate::codec::{Reader, Writer};
pub use crate::compression::Encoding;
use crate::fingerprint::PipelineFingerprint;

/// First eight bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"PCSTBDL\0";
/// The format version this library writes.
pub const VERSION: u32 = 2;
/// The version before compressed payloads: still read.
pub const VERSION_1: u32 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 88;
/// Bytes of one index entry.
pub const ENTRY_LEN: usize = 88;
/// Bytes of the signature block: the signer's public key, then the signature.
pub const SIGNATURE_BLOCK_LEN: usize = 32 + 64;
/// Header flag: a signature block follows the index.
const FLAG_SIGNED: u32 = 1;
/// Header bytes covered by the header's check.
const CHECKED_LEN: usize = HEADER_LEN - 8;
/// Domain separation: a signature over a bundle header can never be replayed as a signature
/// over anything else the same key signs, nor the other way round.
const SIGNATURE_CONTEXT: &[u8] = b"pcstore bundle signature v1\0";

/// Entry kind of a blob put into a store under its key (the only kind of version 1).
pub const KIND_BLOB: u8 = 1;

/// One index entry: where a key's payload lies and what its value must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleEntry {
    /// The key the payload is stored under.
    pub key: PipelineFingerprint,
    /// What the payload is ([`KIND_BLOB`]).
    pub kind: u8,
    /// How the payload holds the value (always stored in version 1).
    pub encoding: Encoding,
    /// Offset of the payload from the start of the file.
    pub offset: u64,
    /// Payload bytes, as stored (compressed or not).
    pub len: u64,
    /// BLAKE3 of the value: the payload once decoded, the bytes a lookup returns.
    pub hash: [u8; 32],
}

/// The fixed header at offset 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format version ([`VERSION`], or [`VERSION_1`] for a bundle read).
    pub version: u32,
    /// A signature block follows the index.
    pub signed: bool,
    /// Index entries.
    pub entry_count: u64,
    /// Offset of the index (= end of the records, which start right after the header).
    pub index_offset: u64,
    /// Bytes of the whole file.
    pub file_len: u64,
    /// BLAKE3 of the index bytes.
    pub index_hash: [u8; 32],
}

impl Header {
    /// Bytes of the index (checked against overflow when decoded).
    pub fn index_len(&self) -> u64 {
        self.entry_count * ENTRY_LEN as u64
    }

    /// The header's bytes, check included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut writer = Writer::with_capacity(HEADER_LEN);
        writer
            .bytes(&MAGIC)
            .u32(self.version)
            .u32(HEADER_LEN as u32)
            .u32(ENTRY_LEN as u32)
            .u32(if self.signed { FLAG_SIGNED } else { 0 })
            .u64(self.entry_count)
            .u64(self.index_offset)
            .u64(self.file_len)
            .bytes(&self.index_hash);
        let check = blake3::hash(writer.as_slice());
        writer.bytes(&check.as_bytes()[..8]);
        writer
            .finish()
            .try_into()
            .expect("the header layout is HEADER_LEN bytes")
    }

    /// Decodes the first bytes of a file (all of them if it is shorter than a header).
    ///
    /// # Errors
    /// [`BundleError::NotABundle`], [`BundleError::Truncated`] (shorter than a header),
    /// [`BundleError::UnsupportedVersion`], or [`BundleError::HeaderCorrupt`] (failed check,
    /// unknown lengths or flags, or a layout that does not add up; in particular any entry
    /// count whose index would not fit the declared file is refused here, before anything is
    /// allocated for it).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let truncated = BundleError::Truncated {
            expected: HEADER_LEN as u64,
            actual: bytes.len() as u64,
        };
        if bytes.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(bytes) {
                truncated
            } else {
                BundleError::NotABundle
            });
        }
        let mut reader = Reader::new(bytes);
        if reader.array::<8>() != Some(MAGIC) {
            return Err(BundleError::NotABundle);
        }
        // The version decides the rest of the layout, so it is read before anything is checked.
        let Some(version) = reader.u32() else {
            return Err(truncated);
        };
        if version != VERSION && version != VERSION_1 {
            return Err(BundleError::UnsupportedVersion { found: version });
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated);
        }
        let check = blake3::hash(&bytes[..CHECKED_LEN]);
        if bytes[CHECKED_LEN..HEADER_LEN] != check.as_bytes()[..8] {
            return Err(BundleError::HeaderCorrupt("check mismatch"));
        }
        let fields = (|| {
            Some((
                reader.u32()?,
                reader.u32()?,
                reader.u32()?,
                reader.u64()?,
                reader.u64()?,
                reader.u64()?,
                reader.array::<32>()?,
            ))
        })();
        let (header_len, entry_len, flags, entry_count, index_offset, file_len, index_hash) =
            fields.expect("a whole header was present");
        if header_len as usize != HEADER_LEN || entry_len as usize != ENTRY_LEN {
            return Err(BundleError::HeaderCorrupt("unknown header or entry length"));
        }
        if flags & !FLAG_SIGNED != 0 {
            return Err(BundleError::HeaderCorrupt("unknown flags"));
        }
        let header = Self {
            version,
            signed: flags & FLAG_SIGNED != 0,
            entry_count,
            index_offset,
            file_len,
            index_hash,
        };
        let signature_len = if header.signed {
            SIGNATURE_BLOCK_LEN as u64
        } else {
            0
        };
        let end = entry_count
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|index_len| index_offset.checked_add(index_len))
            .and_then(|index_end| index_end.checked_add(signature_len));
        if index_offset < HEADER_LEN as u64 || end != Some(file_len) {
            return Err(BundleError::HeaderCorrupt("layout does not add up"));
        }
        Ok(header)
    }

    /// What a signature signs: a context string and this header (which holds the BLAKE3 of the
    /// index, which holds the BLAKE3 of every payload; payloads tile the records exactly), so
    /// it covers every byte before the signature block while checking it costs no more than
    /// reading the header.
    pub fn signed_message(encoded: &[u8; HEADER_LEN]) -> Vec<u8> {
        let mut writer = Writer::with_capacity(SIGNATURE_CONTEXT.len() + HEADER_LEN);
        writer.bytes(SIGNATURE_CONTEXT).bytes(encoded);
        writer.finish()
    }
}

/// Appends one index entry.
pub fn encode_entry(writer: &mut Writer, entry: &BundleEntry) {
    writer
        .bytes(&entry.key.0)
        .u8(entry.kind)
        .u8(entry.encoding as u8)
        .zeros(6)
        .u64(entry.offset)
        .u64(entry.len)
        .bytes(&entry.hash);
}

/// Decodes `count` index entries (`bytes` is exactly the index) of a bundle of `version` whose
/// payloads must lie in `records` (offsets from the start of the file).
///
/// # Errors
/// [`BundleError::BadEntry`]: bytes left over or missing, a non-zero reserved byte, an unknown
/// kind or encoding (version 1 has none but stored), keys not strictly ascending (so also no
/// key twice), or a payload outside `records`.
pub fn decode_index(
    bytes: &[u8],
    version: u32,
    count: u64,
    records: std::ops::Range<u64>,
) -> Result<Vec<BundleEntry>, BundleError> {
    let mut reader = Reader::new(bytes);
    let bad = |position: usize, reason| BundleError::BadEntry {
        position: position as u64,
        reason,
    };
    let count = reader
        .count_within(count, ENTRY_LEN)
        .filter(|count| count * ENTRY_LEN == bytes.len())
        .ok_or(bad(0, "index length does not match the entry count"))?;
    let mut entries: Vec<BundleEntry> = Vec::with_capacity(count);
    for position in 0..count {
        let entry = (|| {
            let key = PipelineFingerprint(reader.array()?);
            let kind = reader.u8()?;
            let encoding = reader.u8()?;
            let reserved_zero = reader.zeros(6).is_some();
            let entry = BundleEntry {
                key,
                kind,
                encoding: match Encoding::from_byte(encoding) {
                    Some(encoding) if version != VERSION_1 || encoding == Encoding::Stored => {
                        encoding
                    }
                    _ => return Some(Err(encoding)),
                },
                offset: reader.u64()?,
                len: reader.u64()?,
                hash: reader.array()?,
            };
            Some(Ok((entry, reserved_zero)))
        })();
        let Ok((entry, reserved_zero)) = entry.expect("count_within checked the length") else {
            return Err(bad(position, "unknown encoding"));
        };
        if !reserved_zero {
            return Err(bad(position, "reserved bytes are not zero"));
        }
        if entry.kind != KIND_BLOB {
            return Err(bad(position, "unknown kind"));
        }
        if entries.last().is_some_and(|last| last.key >= entry.key) {
            return Err(bad(position, "keys out of order or repeated"));
        }
        let inside = entry.offset >= records.start
            && entry
                .offset
                .checked_add(entry.len)
                .is_some_and(|end| end <= records.end);
        if !inside {
            return Err(bad(position, "payload outside the records"));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Checks that the payloads tile `records` exactly: no two overlap and no byte is left out, so
/// every byte of the file is covered by a hash the signed header commits to.
///
/// # Errors
/// [`BundleError::BadEntry`] naming the position in payload order where an overlap or a gap
/// starts.
pub fn check_tiling(
    entries: &[BundleEntry],
    records: std::ops::Range<u64>,
) -> Result<(), BundleError> {
    let mut spans: Vec<(u64, u64)> = entries.iter().map(|e| (e.offset, e.len)).collect();
    // Writers lay payloads out in key order, so this is usually already sorted (and then cheap).
    spans.sort_unstable();
    let mut expected = records.start;
    for (position, (offset, len)) in spans.into_iter().enumerate() {
        if offset != expected {
            return Err(BundleError::BadEntry {
                position: position as u64,
                reason: if offset < expected {
                    "payload overlaps another"
                } else {
                    "bytes between payloads belong to no entry"
                },
            });
        }
        // decode_index checked that offset + len stays within the records.
        expected = offset + len;
    }
    if expected != records.end {
        return Err(BundleError::BadEntry {
            position: entries.len() as u64,
            reason: "bytes after the last payload belong to no entry",
        });
    }
    Ok(())
}

/// The signature block's two fields.
pub fn decode_signature_block(bytes: &[u8]) -> Option<([u8; 32], [u8; 64])> {
    let mut reader = Reader::new(bytes);
    let block = (reader.array()?, reader.array()?);
    reader.is_at_end().then_some(block)
}

/// The signature block's bytes.
pub fn encode_signature_block(public_key: &[u8; 32], signature: &[u8; 64]) -> Vec<u8> {
    let mut writer = Writer::with_capacity(SIGNATURE_BLOCK_LEN);
    writer.bytes(public_key).bytes(signature);
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            signed: true,
            entry_count: 2,
            index_offset: HEADER_LEN as u64 + 10,
            file_len: (HEADER_LEN + 10 + 2 * ENTRY_LEN + SIGNATURE_BLOCK_LEN) as u64,
            index_hash: [7; 32],
        }
    }

    #[test]
    fn headers_round_trip_and_every_short_prefix_is_truncated() {
        let bytes = header().encode();
        assert_eq!(Header::decode(&bytes).unwrap(), header());
        for cut in 0..HEADER_LEN {
            let err = Header::decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, BundleError::Truncated { expected: 88, actual } if actual == cut as u64),
                "{cut}: {err}"
            );
        }
    }

    #[test]
    fn a_claimed_count_beyond_the_declared_layout_is_refused() {
        for entry_count in [3, 1_000_000_000_000, u64::MAX / ENTRY_LEN as u64, u64::MAX] {
            let bytes = Header {
                entry_count,
                ..header()
            }
            .encode();
            let err = Header::decode(&bytes).unwrap_err();
            assert!(matches!(err, BundleError::HeaderCorrupt(_)), "{err}");
        }
    }

    #[test]
    fn foreign_magic_and_versions_are_named() {
        let mut bytes = header().encode();
        bytes[0] = b'X';
        assert!(matches!(
            Header::decode(&bytes),
            Err(BundleError::NotABundle)
        ));
        assert!(matches!(
            Header::decode(b"ELF"),
            Err(BundleError::NotABundle)
        ));
        let mut bytes = header().encode();
        bytes[8] = 3;
        assert!(matches!(
            Header::decode(&bytes),
            Err(BundleError::UnsupportedVersion { found: 3 })
        ));
    }

    fn entry(key: u8, offset: u64, len: u64) -> BundleEntry {
        BundleEntry {
            key: PipelineFingerprint([key; 32]),
            kind: KIND_BLOB,
            encoding: Encoding::Stored,
            offset,
            len,
            hash: [0; 32],
        }
    }

    fn index(entries: &[BundleEntry]) -> Vec<u8> {
        let mut writer = Writer::default();
        for entry in entries {
            encode_entry(&mut writer, entry);
        }
        writer.finish()
    }

    #[test]
    fn index_entries_round_trip_and_are_checked() {
        let good = [entry(1, 100, 5), entry(2, 105, 0), entry(3, 105, 7)];
        let bytes = index(&good);
        assert_eq!(bytes.len(), 3 * ENTRY_LEN);
        assert_eq!(decode_index(&bytes, VERSION, 3, 100..112).unwrap(), good);
        check_tiling(&good, 100..112).unwrap();

        let reason = |entries: &[BundleEntry], count: u64| match decode_index(
            &index(entries),
            VERSION,
            count,
            100..112,
        ) {
            Err(BundleError::BadEntry { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(&good, 4),
            "index length does not match the entry count"
        );
        assert_eq!(
            reason(&[entry(2, 100, 1), entry(1, 101, 1)], 2),
            "keys out of order or repeated"
        );
        assert_eq!(
            reason(&[entry(1, 100, 1), entry(1, 101, 1)], 2),
            "keys out of order or repeated"
        );
        assert_eq!(
            reason(&[entry(1, 110, 3)], 1),
            "payload outside the records"
        );
        assert_eq!(reason(&[entry(1, 99, 1)], 1), "payload outside the records");
        assert_eq!(
            reason(&[entry(1, 100, u64::MAX)], 1),
            "payload outside the records"
        );
        let mut odd = entry(1, 100, 1);
        odd.kind = 9;
        assert_eq!(reason(&[odd], 1), "unknown kind");
        // The encoding byte (33): compressed is an encoding of version 2 only; 2 is none.
        let compressed = BundleEntry {
            encoding: Encoding::Zstd,
            ..entry(1, 100, 1)
        };
        let bytes = index(&[compressed]);
        assert_eq!(bytes[32..40], [1, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode_index(&bytes, VERSION, 1, 100..112).unwrap(),
            [compressed]
        );
        for (version, byte) in [(VERSION_1, 1), (VERSION, 2)] {
            let mut bytes = index(&[entry(1, 100, 1)]);
            bytes[33] = byte;
            assert!(matches!(
                decode_index(&bytes, version, 1, 100..112),
                Err(BundleError::BadEntry {
                    reason: "unknown encoding",
                    ..
                })
            ));
        }
        let mut reserved = index(&[entry(1, 100, 1)]);
        reserved[35] = 1;
        assert!(matches!(
            decode_index(&reserved, VERSION, 1, 100..112),
            Err(BundleError::BadEntry {
                reason: "reserved bytes are not zero",
                ..
            })
        ));
    }

    #[test]
    fn payloads_must_tile_the_records() {
        let tiling = |entries: &[BundleEntry]| match check_tiling(entries, 100..110) {
            Ok(()) => "ok",
            Err(BundleError::BadEntry { reason, .. }) => reason,
            Err(other) => panic!("{other}"),
        };
        assert_eq!(tiling(&[entry(1, 105, 5), entry(2, 100, 5)]), "ok");
        assert_eq!(
            tiling(&[entry(1, 100, 6), entry(2, 105, 5)]),
            "payload overlaps another"
        );
        assert_eq!(
            tiling(&[entry(1, 100, 5), entry(2, 100, 5)]),
            "payload overlaps another"
        );
        assert_eq!(
            tiling(&[entry(1, 100, 4), entry(2, 105, 5)]),
            "bytes between payloads belong to no entry"
        );
        assert_eq!(
            tiling(&[entry(1, 100, 5)]),
            "bytes after the last payload belong to no entry"
        );
        assert_eq!(
            tiling(&[]),
            "bytes after the last payload belong to no entry"
        );
        assert!(check_tiling(&[], 100..100).is_ok());
    }

    #[test]
    fn signature_blocks_round_trip() {
        let block = encode_signature_block(&[1; 32], &[2; 64]);
        assert_eq!(block.len(), SIGNATURE_BLOCK_LEN);
        assert_eq!(decode_signature_block(&block), Some(([1; 32], [2; 64])));
        assert_eq!(decode_signature_block(&block[1..]), None);
        assert_eq!(
            decode_signature_block(&[block.clone(), vec![0]].concat()),
            None
        );
    }
}
