//! The on-disk format, version 2, and what it reads of version 1 (FORMAT.md describes both for
//! humans; this file is the truth).
//!
//! All integers are little-endian. A store directory holds segment files `seg-*.log`, each
//! optionally with a sealed index `seg-*.idx`, a `compact.lock`, the marker `pcstore.tag` and
//! transient `tmp-*` files (`names.rs` has the exact names).
//!
//! Every format version of this family starts segments with [`SEGMENT_MAGIC`] and indexes with
//! [`INDEX_MAGIC`], each followed by its version (u32): that much is all a version may assume
//! of another's files ([`declared_version`]), and files of another version are never read,
//! rewritten or removed.
//!
//! Segment header (32 bytes): magic `PCSTSEG\0` | version u32 | header length u32 |
//! segment id u64 | check u64 (first 8 bytes of BLAKE3 over bytes 0..24).
//!
//! Record (104-byte header + payload): magic `PCR1` | kind u8 | encoding u8 | 2 zero bytes |
//! payload length u64 | key [32] | BLAKE3(value) [32] | stamp u64 | access u64 | check u64 (BLAKE3
//! over bytes 0..96). The encoding ([`Encoding`]) says whether the payload is the value or holds
//! it compressed; version 1 has none (the byte is zero), which is the only difference between
//! the two versions' records, so a version-2 build reads version-1 segments as they are and
//! rewrites them as version 2 when it compacts them.
//!
//! Index (72-byte header + 72-byte entries): magic `PCSTIDX\0` | version u32 | entry length u32 |
//! segment length u64 | entry count u64 | segment id u64 | BLAKE3(entries) [32]; each entry:
//! kind u8 | 7 zero bytes | key [32] | record offset u64 | payload length u64 | stamp u64 | access u64.

use crate::codec::{Reader, Writer};
pub use crate::compression::Encoding;
use crate::fingerprint::PipelineFingerprint;

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PCSTSEG\0";
/// Magic at the start of every index file.
pub const INDEX_MAGIC: [u8; 8] = *b"PCSTIDX\0";
/// Magic at the start of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"PCR1";
/// The format version this code writes.
pub const FORMAT_VERSION: u32 = 2;
/// The version before record compression: read, compacted into [`FORMAT_VERSION`], never
/// written (an index of one of its segments excepted: that repeats its segment's version).
pub const FORMAT_VERSION_1: u32 = 1;

/// Whether this code reads (and so may index, compact and remove) files of `version`.
pub fn is_readable(version: u32) -> bool {
    version == FORMAT_VERSION || version == FORMAT_VERSION_1
}

/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Bytes in a record header.
pub const RECORD_HEADER_LEN: usize = 104;
/// Bytes in an index header.
pub const INDEX_HEADER_LEN: usize = 72;
/// Bytes in one index entry.
pub const INDEX_ENTRY_LEN: usize = 72;
/// Bytes per (key, access) pair in a touch record's payload.
pub const TOUCH_LEN: usize = 40;
/// Most (key, access) pairs in one touch record. Writers split larger batches; readers skip a
/// record claiming more without reading it (recency is advisory, and a fixed cap bounds what a
/// crafted header can make a reader allocate: 2.5 MiB).
pub const MAX_TOUCH_PAIRS: usize = 1 << 16;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A blob stored under a key.
    Put = 1,
    /// A batch of (key, access time) pairs: recency recorded by readers, written at flush.
    Touch = 2,
}

impl RecordKind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Put),
            2 => Some(Self::Touch),
            _ => None,
        }
    }
}

fn check_of(bytes: &[u8]) -> u64 {
    let hash = blake3::hash(bytes);
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Bytes every format version of this family begins its segments and indexes with: the magic
/// (8) and the version (u32).
pub const FAMILY_PREFIX_LEN: usize = 12;

/// The version a file starting with `magic` declares, or `None` if `bytes` does not start with
/// `magic` and a version.
pub fn declared_version(bytes: &[u8], magic: &[u8; 8]) -> Option<u32> {
    let mut fields = Reader::new(bytes);
    if fields.array::<8>()? != *magic {
        return None;
    }
    fields.u32()
}

/// Why a segment header was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Damaged: it does not start with the family's magic and a version (every version writes
    /// them before the segment gets its name), or it says a version this code reads and fails
    /// that version's checks.
    Garbage,
    /// A segment of another format version: another build's, not this one's to judge.
    OtherVersion(u32),
}

/// Encodes a segment header for segment `id` of this code's version.
pub fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    encode_segment_header_of(FORMAT_VERSION, id)
}

/// Encodes a segment header of `version` (both versions share the layout).
fn encode_segment_header_of(version: u32, id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = Writer::with_capacity(SEGMENT_HEADER_LEN);
    out.bytes(&SEGMENT_MAGIC)
        .u32(version)
        .u32(SEGMENT_HEADER_LEN as u32)
        .u64(id);
    let check = check_of(out.as_slice());
    out.u64(check);
    out.finish()
        .try_into()
        .expect("a segment header is 32 bytes")
}

/// Decodes a segment header from the first bytes of a segment (up to [`SEGMENT_HEADER_LEN`],
/// fewer if the file is shorter), returning the segment id and version.
///
/// A header of either readable version is fully determined by its version and id, so it is
/// accepted only if it is exactly what the encoder writes for them (header length and check
/// included).
pub fn decode_segment_header(bytes: &[u8]) -> Result<(u64, u32), HeaderError> {
    let version = match declared_version(bytes, &SEGMENT_MAGIC) {
        None => return Err(HeaderError::Garbage),
        Some(version) if is_readable(version) => version,
        Some(other) => return Err(HeaderError::OtherVersion(other)),
    };
    let mut fields = Reader::new(bytes);
    let id = (|| {
        fields.take(FAMILY_PREFIX_LEN)?; // magic and version, read above
        fields.u32()?; // header length
        fields.u64()
    })()
    .ok_or(HeaderError::Garbage)?;
    if bytes.get(..SEGMENT_HEADER_LEN) != Some(&encode_segment_header_of(version, id)[..]) {
        return Err(HeaderError::Garbage);
    }
    Ok((id, version))
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the record holds.
    pub kind: RecordKind,
    /// How the payload holds the value: always [`Encoding::Stored`] for touches and in
    /// version-1 segments.
    pub encoding: Encoding,
    /// Payload bytes following the header (as stored, compressed or not).
    pub payload_len: u64,
    /// The key (all zero for touch records).
    pub key: PipelineFingerprint,
    /// BLAKE3 of the value: the payload once decoded, the bytes a read hands back.
    pub payload_hash: [u8; 32],
    /// Version order: of two records for one key, the larger stamp wins.
    pub stamp: u64,
    /// Last access time (nanoseconds since the Unix epoch) known when written.
    pub access: u64,
}

impl RecordHeader {
    /// Encodes this header with its check.
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut out = Writer::with_capacity(RECORD_HEADER_LEN);
        out.bytes(&RECORD_MAGIC)
            .u8(self.kind as u8)
            .u8(self.encoding as u8)
            .zeros(2)
            .u64(self.payload_len)
            .bytes(&self.key.0)
            .bytes(&self.payload_hash)
            .u64(self.stamp)
            .u64(self.access);
        let check = check_of(out.as_slice());
        out.u64(check);
        out.finish()
            .try_into()
            .expect("a record header is 104 bytes")
    }

    /// Decodes a header of a segment of `version`; `None` if the magic, kind, encoding, padding
    /// or check is wrong (it must be exactly what [`RecordHeader::encode`] writes for its
    /// fields, and only puts of version 2 may be compressed).
    pub fn decode(bytes: &[u8; RECORD_HEADER_LEN], version: u32) -> Option<Self> {
        Self::decode_unchecked(bytes, version).filter(|header| header.encode() == *bytes)
    }

    /// Decodes a header without its check, for the read path only: there the caller compares
    /// the key and length with the index (which came from checked headers) and the value's
    /// BLAKE3 with the hash field, and damage cannot make a value match a 256-bit hash, so the
    /// check would only repeat what that comparison proves. (A damaged encoding byte at worst
    /// makes the reader decompress a stored payload, bounded by its largest entry like any
    /// compressed one, and miss.)
    pub fn decode_unchecked(bytes: &[u8; RECORD_HEADER_LEN], version: u32) -> Option<Self> {
        let mut fields = Reader::new(bytes);
        if fields.array::<4>()? != RECORD_MAGIC {
            return None;
        }
        let kind = RecordKind::from_byte(fields.u8()?)?;
        let encoding = Encoding::from_byte(fields.u8()?)?;
        let may_compress = kind == RecordKind::Put && version != FORMAT_VERSION_1;
        if encoding != Encoding::Stored && !may_compress {
            return None;
        }
        fields.zeros(2)?;
        Some(Self {
            kind,
            encoding,
            payload_len: fields.u64()?,
            key: PipelineFingerprint(fields.array()?),
            payload_hash: fields.array()?,
            stamp: fields.u64()?,
            access: fields.u64()?,
        })
        // The check (8 bytes) follows: see `decode`.
    }

    /// Header plus payload bytes.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + self.payload_len
    }
}

/// Encodes a touch payload.
pub fn encode_touches(touches: &[(PipelineFingerprint, u64)]) -> Vec<u8> {
    let mut out = Writer::with_capacity(touches.len() * TOUCH_LEN);
    for (key, access) in touches {
        out.bytes(&key.0).u64(*access);
    }
    out.finish()
}

/// Decodes a touch payload (whose hash the caller has checked); `None` if its length is wrong.
pub fn decode_touches(payload: &[u8]) -> Option<Vec<(PipelineFingerprint, u64)>> {
    if payload.len() % TOUCH_LEN != 0 {
        return None;
    }
    let mut fields = Reader::new(payload);
    let mut touches = Vec::with_capacity(payload.len() / TOUCH_LEN);
    while !fields.is_at_end() {
        touches.push((PipelineFingerprint(fields.array()?), fields.u64()?));
    }
    Some(touches)
}

/// One entry of a segment's index: where a record is, without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// What the record holds; for touches, `offset`, `payload_len` and `stamp` are zero.
    pub kind: RecordKind,
    /// The key.
    pub key: PipelineFingerprint,
    /// Offset of the record header in the segment.
    pub offset: u64,
    /// Payload bytes.
    pub payload_len: u64,
    /// Version order.
    pub stamp: u64,
    /// Last access time known.
    pub access: u64,
}

impl IndexEntry {
    /// The entry of the put record at `offset` whose header is `header`.
    pub fn put(header: &RecordHeader, offset: u64) -> Self {
        Self {
            kind: RecordKind::Put,
            key: header.key,
            offset,
            payload_len: header.payload_len,
            stamp: header.stamp,
            access: header.access,
        }
    }

    /// The entry of one (key, access time) pair of a touch record.
    pub fn touch(key: PipelineFingerprint, access: u64) -> Self {
        Self {
            kind: RecordKind::Touch,
            key,
            offset: 0,
            payload_len: 0,
            stamp: 0,
            access,
        }
    }
}

/// Bytes of an index of `entries` entries.
pub fn index_len(entries: usize) -> u64 {
    (INDEX_HEADER_LEN + INDEX_ENTRY_LEN * entries) as u64
}

/// Encodes an index for a segment of `version` and `segment_len` bytes whose header names
/// `segment_id` (an index repeats its segment's version: a version-1 build reads the index of a
/// version-1 segment this code rewrote).
pub fn encode_index<'a>(
    version: u32,
    segment_id: u64,
    segment_len: u64,
    entries: impl IntoIterator<Item = &'a IndexEntry>,
) -> Vec<u8> {
    let entries = entries.into_iter();
    let mut body = Writer::with_capacity(entries.size_hint().0 * INDEX_ENTRY_LEN);
    let mut count = 0u64;
    for entry in entries {
        body.u8(entry.kind as u8)
            .zeros(7)
            .bytes(&entry.key.0)
            .u64(entry.offset)
            .u64(entry.payload_len)
            .u64(entry.stamp)
            .u64(entry.access);
        count += 1;
    }
    let body = body.finish();
    let mut out = Writer::with_capacity(INDEX_HEADER_LEN + body.len());
    out.bytes(&INDEX_MAGIC)
        .u32(version)
        .u32(INDEX_ENTRY_LEN as u32)
        .u64(segment_len)
        .u64(count)
        .u64(segment_id)
        .bytes(blake3::hash(&body).as_bytes())
        .bytes(&body);
    out.finish()
}

/// What an index header says, once checked against the segment it claims to describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexHeader {
    /// Entries that follow the header.
    pub entry_count: u64,
    /// BLAKE3 of the entries.
    pub entries_hash: [u8; 32],
}

impl IndexHeader {
    /// Bytes of the entries that follow the header.
    pub fn body_len(&self) -> u64 {
        // Cannot overflow: `decode_index_header` bounds the count by `max_index_entries`.
        self.entry_count * INDEX_ENTRY_LEN as u64
    }
}

/// The most index entries a segment of `segment_len` bytes can have: every entry stands for a
/// put record (at least a 104-byte header) or a touch pair (40 bytes), so an index can never
/// count more than one entry per [`TOUCH_LEN`] bytes of records.
pub fn max_index_entries(segment_len: u64) -> u64 {
    let entries = segment_len.saturating_sub(SEGMENT_HEADER_LEN as u64) / TOUCH_LEN as u64;
    entries.min(u64::MAX / INDEX_ENTRY_LEN as u64)
}

/// Decodes an index header, checking it belongs to segment `segment_id` of `version` and
/// `segment_len` bytes and counts no more entries than such a segment can hold. `None` if
/// anything is off (the caller then scans the segment instead), decided before a single entry
/// is read.
pub fn decode_index_header(
    bytes: &[u8; INDEX_HEADER_LEN],
    version: u32,
    segment_id: u64,
    segment_len: u64,
) -> Option<IndexHeader> {
    let mut fields = Reader::new(bytes);
    let field = "72 bytes hold every field";
    let magic = fields.array::<8>().expect(field);
    let described_version = fields.u32().expect(field);
    let entry_len = fields.u32().expect(field);
    let described_len = fields.u64().expect(field);
    let entry_count = fields.u64().expect(field);
    let described_id = fields.u64().expect(field);
    let entries_hash = fields.array::<32>().expect(field);
    if magic != INDEX_MAGIC
        || described_version != version
        || entry_len as usize != INDEX_ENTRY_LEN
        || described_len != segment_len
        || described_id != segment_id
        || entry_count > max_index_entries(segment_len)
    {
        return None;
    }
    Some(IndexHeader {
        entry_count,
        entries_hash,
    })
}

/// Decodes one index entry of a segment of `segment_len` bytes; `None` if it is malformed or
/// places a put outside the segment.
pub fn decode_index_entry(chunk: &[u8; INDEX_ENTRY_LEN], segment_len: u64) -> Option<IndexEntry> {
    let mut fields = Reader::new(chunk);
    let kind = RecordKind::from_byte(fields.u8()?)?;
    fields.zeros(7)?;
    let entry = IndexEntry {
        kind,
        key: PipelineFingerprint(fields.array()?),
        offset: fields.u64()?,
        payload_len: fields.u64()?,
        stamp: fields.u64()?,
        access: fields.u64()?,
    };
    let end = entry
        .offset
        .checked_add(RECORD_HEADER_LEN as u64)?
        .checked_add(entry.payload_len)?;
    if entry.kind == RecordKind::Put
        && (entry.offset < SEGMENT_HEADER_LEN as u64 || end > segment_len)
    {
        return None;
    }
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_headers_round_trip_and_reject_any_flipped_bit() {
        let header = RecordHeader {
            kind: RecordKind::Put,
            encoding: Encoding::Zstd,
            payload_len: 1234,
            key: PipelineFingerprint::of(b"k"),
            payload_hash: *blake3::hash(b"payload").as_bytes(),
            stamp: 42,
            access: 43,
        };
        let bytes = header.encode();
        assert_eq!(RecordHeader::decode(&bytes, FORMAT_VERSION), Some(header));
        for bit in 0..RECORD_HEADER_LEN * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                RecordHeader::decode(&flipped, FORMAT_VERSION),
                None,
                "bit {bit}"
            );
        }
    }

    /// Version 1 had no encoding byte (it was zero): a compressed record in a version-1
    /// segment, or a compressed touch, is damage, not data.
    #[test]
    fn only_version_2_puts_may_be_compressed() {
        let put = RecordHeader {
            kind: RecordKind::Put,
            encoding: Encoding::Zstd,
            payload_len: 20,
            key: PipelineFingerprint::of(b"k"),
            payload_hash: [1; 32],
            stamp: 1,
            access: 1,
        };
        assert_eq!(RecordHeader::decode(&put.encode(), FORMAT_VERSION_1), None);
        assert_eq!(
            RecordHeader::decode_unchecked(&put.encode(), FORMAT_VERSION_1),
            None
        );
        let stored = RecordHeader {
            encoding: Encoding::Stored,
            ..put
        };
        assert_eq!(
            RecordHeader::decode(&stored.encode(), FORMAT_VERSION_1),
            Some(stored)
        );
        let touch = RecordHeader {
            kind: RecordKind::Touch,
            ..put
        };
        assert_eq!(RecordHeader::decode(&touch.encode(), FORMAT_VERSION), None);
        let mut unknown = put.encode();
        unknown[5] = 2;
        assert_eq!(
            RecordHeader::decode_unchecked(&unknown, FORMAT_VERSION),
            None
        );
    }

    /// The layouts as FORMAT.md's tables give them, offset by offset.
    #[test]
    fn headers_are_laid_out_as_format_md_says() {
        let segment = encode_segment_header(0x0123_4567_89ab_cdef);
        assert_eq!(&segment[0..8], b"PCSTSEG\0");
        assert_eq!(segment[8..12], 2u32.to_le_bytes());
        assert_eq!(segment[12..16], 32u32.to_le_bytes());
        assert_eq!(segment[16..24], 0x0123_4567_89ab_cdefu64.to_le_bytes());
        assert_eq!(
            segment[24..32],
            blake3::hash(&segment[..24]).as_bytes()[..8]
        );

        let header = RecordHeader {
            kind: RecordKind::Touch,
            encoding: Encoding::Stored,
            payload_len: 0x1122,
            key: PipelineFingerprint([7; 32]),
            payload_hash: [9; 32],
            stamp: 0x3344,
            access: 0x5566,
        };
        let record = header.encode();
        assert_eq!(&record[0..4], b"PCR1");
        assert_eq!(record[4], 2);
        assert_eq!(record[5..8], [0, 0, 0]);
        let compressed = RecordHeader {
            kind: RecordKind::Put,
            encoding: Encoding::Zstd,
            ..header
        }
        .encode();
        assert_eq!(compressed[4..8], [1, 1, 0, 0]);
        assert_eq!(record[8..16], 0x1122u64.to_le_bytes());
        assert_eq!(record[16..48], [7; 32]);
        assert_eq!(record[48..80], [9; 32]);
        assert_eq!(record[80..88], 0x3344u64.to_le_bytes());
        assert_eq!(record[88..96], 0x5566u64.to_le_bytes());
        assert_eq!(record[96..104], blake3::hash(&record[..96]).as_bytes()[..8]);

        let put = RecordHeader {
            kind: RecordKind::Put,
            ..header
        };
        let entry = IndexEntry::put(&put, 0x7788);
        let index = encode_index(FORMAT_VERSION, 5, 0x99, &[entry]);
        assert_eq!(&index[0..8], b"PCSTIDX\0");
        assert_eq!(index[8..12], 2u32.to_le_bytes());
        assert_eq!(index[12..16], 72u32.to_le_bytes());
        assert_eq!(index[16..24], 0x99u64.to_le_bytes());
        assert_eq!(index[24..32], 1u64.to_le_bytes());
        assert_eq!(index[32..40], 5u64.to_le_bytes());
        assert_eq!(index[40..72], *blake3::hash(&index[72..]).as_bytes());
        let body = &index[72..];
        assert_eq!(body[0], 1);
        assert_eq!(body[1..8], [0; 7]);
        assert_eq!(body[8..40], [7; 32]);
        assert_eq!(body[40..48], 0x7788u64.to_le_bytes());
        assert_eq!(body[48..56], 0x1122u64.to_le_bytes());
        assert_eq!(body[56..64], 0x3344u64.to_le_bytes());
        assert_eq!(body[64..72], 0x5566u64.to_le_bytes());
    }

    #[test]
    fn segment_headers_of_other_versions_are_told_from_damage() {
        let mut bytes = encode_segment_header(7);
        assert_eq!(decode_segment_header(&bytes), Ok((7, 2)));
        let v1 = encode_segment_header_of(1, 7);
        assert_eq!(&v1[8..12], &1u32.to_le_bytes());
        assert_eq!(decode_segment_header(&v1), Ok((7, 1)));
        // A readable version cut short or failing its check: damaged.
        assert_eq!(
            decode_segment_header(&bytes[..20]),
            Err(HeaderError::Garbage)
        );
        let mut flipped = bytes;
        flipped[20] ^= 1;
        assert_eq!(decode_segment_header(&flipped), Err(HeaderError::Garbage));
        let mut v1_flipped = v1;
        v1_flipped[20] ^= 1;
        assert_eq!(
            decode_segment_header(&v1_flipped),
            Err(HeaderError::Garbage)
        );
        // Another version, whatever follows its first 12 bytes (even nothing): not ours.
        bytes[8] = 3;
        assert_eq!(
            decode_segment_header(&bytes),
            Err(HeaderError::OtherVersion(3))
        );
        assert_eq!(
            decode_segment_header(&bytes[..12]),
            Err(HeaderError::OtherVersion(3))
        );
        let mut v0 = bytes;
        v0[8] = 0;
        assert_eq!(
            decode_segment_header(&v0),
            Err(HeaderError::OtherVersion(0))
        );
        // Too short to say, or another magic: damaged.
        assert_eq!(
            decode_segment_header(&bytes[..11]),
            Err(HeaderError::Garbage)
        );
        let mut renamed = bytes;
        renamed[0] = b'X';
        assert_eq!(decode_segment_header(&renamed), Err(HeaderError::Garbage));
        assert_eq!(
            declared_version(&encode_index(FORMAT_VERSION, 1, 0, &[]), &INDEX_MAGIC),
            Some(2)
        );
    }

    /// Decodes a whole index the way `segment::read_index` does, from bytes in memory.
    fn decode_index(bytes: &[u8], segment_id: u64, segment_len: u64) -> Option<Vec<IndexEntry>> {
        let header = decode_index_header(
            bytes.get(..INDEX_HEADER_LEN)?.try_into().ok()?,
            FORMAT_VERSION,
            segment_id,
            segment_len,
        )?;
        let body = &bytes[INDEX_HEADER_LEN..];
        if body.len() as u64 != header.body_len()
            || blake3::hash(body).as_bytes() != &header.entries_hash
        {
            return None;
        }
        body.chunks_exact(INDEX_ENTRY_LEN)
            .map(|chunk| decode_index_entry(chunk.try_into().expect("72 bytes"), segment_len))
            .collect()
    }

    #[test]
    fn indexes_round_trip_and_bind_to_their_segment() {
        let entries = vec![IndexEntry {
            kind: RecordKind::Put,
            key: PipelineFingerprint::of(b"a"),
            offset: SEGMENT_HEADER_LEN as u64,
            payload_len: 10,
            stamp: 1,
            access: 2,
        }];
        let len = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 10) as u64;
        let bytes = encode_index(FORMAT_VERSION, 9, len, &entries);
        assert_eq!(decode_index(&bytes, 9, len), Some(entries.clone()));
        // An index repeats its segment's version: one of the other version does not match.
        let header: [u8; INDEX_HEADER_LEN] = bytes[..INDEX_HEADER_LEN].try_into().expect("72");
        assert_eq!(decode_index_header(&header, FORMAT_VERSION_1, 9, len), None);
        let v1 = encode_index(FORMAT_VERSION_1, 9, len, &entries);
        let header: [u8; INDEX_HEADER_LEN] = v1[..INDEX_HEADER_LEN].try_into().expect("72");
        assert!(decode_index_header(&header, FORMAT_VERSION_1, 9, len).is_some());
        assert_eq!(decode_index(&bytes, 8, len), None);
        assert_eq!(decode_index(&bytes, 9, len + 1), None);
        let mut corrupt = bytes.clone();
        *corrupt.last_mut().expect("non-empty") ^= 1;
        assert_eq!(decode_index(&corrupt, 9, len), None);
    }

    #[test]
    fn an_index_header_cannot_count_more_entries_than_its_segment_holds() {
        let len = (SEGMENT_HEADER_LEN + 40 * 1000) as u64;
        let entries: Vec<IndexEntry> = (0..1000u64)
            .map(|at| IndexEntry {
                kind: RecordKind::Touch,
                key: PipelineFingerprint::of(&at.to_le_bytes()),
                offset: 0,
                payload_len: 0,
                stamp: 0,
                access: at,
            })
            .collect();
        let mut bytes = encode_index(FORMAT_VERSION, 3, len, &entries);
        let header: [u8; INDEX_HEADER_LEN] = bytes[..INDEX_HEADER_LEN].try_into().expect("72");
        assert_eq!(
            decode_index_header(&header, FORMAT_VERSION, 3, len).map(|h| h.entry_count),
            Some(1000)
        );
        // One more entry than 40 bytes per entry allows is refused from the header alone.
        bytes[24..32].copy_from_slice(&1001u64.to_le_bytes());
        let header: [u8; INDEX_HEADER_LEN] = bytes[..INDEX_HEADER_LEN].try_into().expect("72");
        assert_eq!(decode_index_header(&header, FORMAT_VERSION, 3, len), None);
        // However long a segment claims to be, the body length cannot overflow.
        assert!(max_index_entries(u64::MAX)
            .checked_mul(INDEX_ENTRY_LEN as u64)
            .is_some());
    }
}
