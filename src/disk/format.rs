//! The on-disk format, version 1 (FORMAT.md describes it for humans; this file is the truth).
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
//! Record (104-byte header + payload): magic `PCR1` | kind u8 | 3 zero bytes | payload length u64 |
//! key [32] | BLAKE3(payload) [32] | stamp u64 | access u64 | check u64 (BLAKE3 over bytes 0..96).
//!
//! Index (72-byte header + 72-byte entries): magic `PCSTIDX\0` | version u32 | entry length u32 |
//! segment length u64 | entry count u64 | segment id u64 | BLAKE3(entries) [32]; each entry:
//! kind u8 | 7 zero bytes | key [32] | record offset u64 | payload length u64 | stamp u64 | access u64.

use crate::codec::{Reader, Writer};
use crate::fingerprint::PipelineFingerprint;

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PCSTSEG\0";
/// Magic at the start of every index file.
pub const INDEX_MAGIC: [u8; 8] = *b"PCSTIDX\0";
/// Magic at the start of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"PCR1";
/// The only format version this code reads or writes.
pub const FORMAT_VERSION: u32 = 1;

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
    /// them before the segment gets its name), or it says version 1 and fails version 1's
    /// checks.
    Garbage,
    /// A segment of another format version: another build's, not this one's to judge.
    OtherVersion(u32),
}

/// Encodes a segment header for segment `id`.
pub fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = Writer::with_capacity(SEGMENT_HEADER_LEN);
    out.bytes(&SEGMENT_MAGIC)
        .u32(FORMAT_VERSION)
        .u32(SEGMENT_HEADER_LEN as u32)
        .u64(id);
    let check = check_of(out.as_slice());
    out.u64(check);
    out.finish()
        .try_into()
        .expect("a segment header is 32 bytes")
}

/// Decodes a segment header from the first bytes of a segment (up to [`SEGMENT_HEADER_LEN`],
/// fewer if the file is shorter), returning the segment id.
///
/// A version-1 header is fully determined by its id, so it is accepted only if it is exactly
/// what [`encode_segment_header`] writes for that id (header length and check included).
pub fn decode_segment_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    match declared_version(bytes, &SEGMENT_MAGIC) {
        None => return Err(HeaderError::Garbage),
        Some(FORMAT_VERSION) => {}
        Some(other) => return Err(HeaderError::OtherVersion(other)),
    }
    let mut fields = Reader::new(bytes);
    let id = (|| {
        fields.take(FAMILY_PREFIX_LEN)?; // magic and version, read above
        fields.u32()?; // header length
        fields.u64()
    })()
    .ok_or(HeaderError::Garbage)?;
    if bytes.get(..SEGMENT_HEADER_LEN) != Some(&encode_segment_header(id)[..]) {
        return Err(HeaderError::Garbage);
    }
    Ok(id)
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the record holds.
    pub kind: RecordKind,
    /// Payload bytes following the header.
    pub payload_len: u64,
    /// The key (all zero for touch records).
    pub key: PipelineFingerprint,
    /// BLAKE3 of the payload.
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
            .zeros(3)
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

    /// Decodes a header; `None` if the magic, kind, padding or check is wrong (it must be
    /// exactly what [`RecordHeader::encode`] writes for its fields).
    pub fn decode(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<Self> {
        Self::decode_unchecked(bytes).filter(|header| header.encode() == *bytes)
    }

    /// Decodes a header without its check, for the read path only: there the caller compares
    /// the key and length with the index (which came from checked headers) and the payload's
    /// BLAKE3 with the hash field, and damage cannot make a payload match a 256-bit hash, so the
    /// check would only repeat what that comparison proves.
    pub fn decode_unchecked(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<Self> {
        let mut fields = Reader::new(bytes);
        if fields.array::<4>()? != RECORD_MAGIC {
            return None;
        }
        let kind = RecordKind::from_byte(fields.u8()?)?;
        fields.zeros(3)?;
        Some(Self {
            kind,
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

/// Encodes an index for a segment of `segment_len` bytes whose header names `segment_id`.
pub fn encode_index<'a>(
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
        .u32(FORMAT_VERSION)
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

/// Decodes an index header, checking it belongs to segment `segment_id` of `segment_len` bytes
/// and counts no more entries than such a segment can hold. `None` if anything is off (the
/// caller then scans the segment instead), decided before a single entry is read.
pub fn decode_index_header(
    bytes: &[u8; INDEX_HEADER_LEN],
    segment_id: u64,
    segment_len: u64,
) -> Option<IndexHeader> {
    let mut fields = Reader::new(bytes);
    let field = "72 bytes hold every field";
    let magic = fields.array::<8>().expect(field);
    let version = fields.u32().expect(field);
    let entry_len = fields.u32().expect(field);
    let described_len = fields.u64().expect(field);
    let entry_count = fields.u64().expect(field);
    let described_id = fields.u64().expect(field);
    let entries_hash = fields.array::<32>().expect(field);
    if magic != INDEX_MAGIC
        || version != FORMAT_VERSION
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
            payload_len: 1234,
            key: PipelineFingerprint::of(b"k"),
            payload_hash: *blake3::hash(b"payload").as_bytes(),
            stamp: 42,
            access: 43,
        };
        let bytes = header.encode();
        assert_eq!(RecordHeader::decode(&bytes), Some(header));
        for bit in 0..RECORD_HEADER_LEN * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(RecordHeader::decode(&flipped), None, "bit {bit}");
        }
    }

    /// The layouts as FORMAT.md's tables give them, offset by offset.
    #[test]
    fn headers_are_laid_out_as_format_md_says() {
        let segment = encode_segment_header(0x0123_4567_89ab_cdef);
        assert_eq!(&segment[0..8], b"PCSTSEG\0");
        assert_eq!(segment[8..12], 1u32.to_le_bytes());
        assert_eq!(segment[12..16], 32u32.to_le_bytes());
        assert_eq!(segment[16..24], 0x0123_4567_89ab_cdefu64.to_le_bytes());
        assert_eq!(
            segment[24..32],
            blake3::hash(&segment[..24]).as_bytes()[..8]
        );

        let header = RecordHeader {
            kind: RecordKind::Touch,
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
        let index = encode_index(5, 0x99, &[entry]);
        assert_eq!(&index[0..8], b"PCSTIDX\0");
        assert_eq!(index[8..12], 1u32.to_le_bytes());
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
        assert_eq!(decode_segment_header(&bytes), Ok(7));
        // Version 1 cut short or failing its check: damaged.
        assert_eq!(
            decode_segment_header(&bytes[..20]),
            Err(HeaderError::Garbage)
        );
        let mut flipped = bytes;
        flipped[20] ^= 1;
        assert_eq!(decode_segment_header(&flipped), Err(HeaderError::Garbage));
        // Another version, whatever follows its first 12 bytes (even nothing): not ours.
        bytes[8] = 2;
        assert_eq!(
            decode_segment_header(&bytes),
            Err(HeaderError::OtherVersion(2))
        );
        assert_eq!(
            decode_segment_header(&bytes[..12]),
            Err(HeaderError::OtherVersion(2))
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
            declared_version(&encode_index(1, 0, &[]), &INDEX_MAGIC),
            Some(1)
        );
    }

    /// Decodes a whole index the way `segment::read_index` does, from bytes in memory.
    fn decode_index(bytes: &[u8], segment_id: u64, segment_len: u64) -> Option<Vec<IndexEntry>> {
        let header = decode_index_header(
            bytes.get(..INDEX_HEADER_LEN)?.try_into().ok()?,
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
        let bytes = encode_index(9, len, &entries);
        assert_eq!(decode_index(&bytes, 9, len), Some(entries));
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
        let mut bytes = encode_index(3, len, &entries);
        let header: [u8; INDEX_HEADER_LEN] = bytes[..INDEX_HEADER_LEN].try_into().expect("72");
        assert_eq!(
            decode_index_header(&header, 3, len).map(|h| h.entry_count),
            Some(1000)
        );
        // One more entry than 40 bytes per entry allows is refused from the header alone.
        bytes[24..32].copy_from_slice(&1001u64.to_le_bytes());
        let header: [u8; INDEX_HEADER_LEN] = bytes[..INDEX_HEADER_LEN].try_into().expect("72");
        assert_eq!(decode_index_header(&header, 3, len), None);
        // However long a segment claims to be, the body length cannot overflow.
        assert!(max_index_entries(u64::MAX)
            .checked_mul(INDEX_ENTRY_LEN as u64)
            .is_some());
    }
}
