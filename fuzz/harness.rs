//! The open-from-arbitrary-bytes harness, shared by the cargo-fuzz target and by the test that
//! runs it over many generated inputs (`tests/disk_fuzz_inputs.rs`).
//!
//! Input layout: byte 0 holds flags, then come the optional bytes the flags ask for, in this
//! order, then the segment's bytes (and the index's):
//! - bit 0: start the segment with a valid header;
//! - bit 2: one byte `e`: the segment file is extended with a hole to at least 2^(e % 41) bytes,
//!   so records can claim payloads that lie "within the file" without occupying anything;
//! - bit 3: one byte: the same for the index file;
//! - bit 1: a u16 split point: the bytes after it become the segment's index file;
//! - bit 4: every record header found in the segment bytes (by its magic) gets a valid check, so
//!   fuzzed kinds, keys and (oversize) payload lengths reach the code behind the check;
//! - bit 5: the index gets a valid header for the segment as written (id, length, entry count,
//!   entries hash), so fuzzed entries reach the code behind those checks;
//! - bit 6: the headers of bits 0 and 5 say format version 1 (whose records are never
//!   compressed) instead of version 2.
//!
//! Oracle: the store opens, and every blob it returns for a key is the value of a record in
//! the input with that key and a matching BLAKE3 (its payload, hole bytes read as zeros, or
//! that payload decompressed if the record says it is compressed), never other bytes;
//! it still accepts, flushes and returns a new put (after compacting away what the claims made
//! it think it holds, if need be), and opens again. Memory sized by a claim aborts the process:
//! the test runs in one process, and `scripts/fuzz-disk.sh` caps single allocations.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint, PutError};

const SEGMENT: &str = "seg-0000000000000001-00000001.log";
const INDEX: &str = "seg-0000000000000001-00000001.idx";
const RECORD_HEADER: usize = 104;
const INDEX_HEADER: usize = 72;
const INDEX_ENTRY: usize = 72;

/// First 8 bytes of BLAKE3, the check field of segment and record headers.
fn check_of(bytes: &[u8]) -> [u8; 8] {
    blake3::hash(bytes).as_bytes()[..8]
        .try_into()
        .expect("8 bytes")
}

/// A valid segment header of `version` (1 or 2; written here from FORMAT.md, so it also pins
/// the format).
fn segment_header(version: u32, id: u64) -> Vec<u8> {
    let mut header = b"PCSTSEG\0".to_vec();
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&id.to_le_bytes());
    let check = check_of(&header);
    header.extend_from_slice(&check);
    header
}

/// Offsets of everything that looks like a record header (by its magic) in `segment`.
fn record_magics(segment: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..segment.len().saturating_sub(RECORD_HEADER - 1))
        .filter(|&offset| &segment[offset..offset + 4] == b"PCR1")
}

/// Recomputes the check of every record header in `segment` (FORMAT.md: BLAKE3 of bytes 0..96).
fn fix_record_checks(segment: &mut [u8]) {
    let offsets: Vec<usize> = record_magics(segment).collect();
    for offset in offsets {
        let check = check_of(&segment[offset..offset + 96]);
        segment[offset + 96..offset + RECORD_HEADER].copy_from_slice(&check);
    }
}

/// Makes `index` a valid index header of `version` for segment 1 of `segment_len` bytes, over
/// the whole entries it has.
fn fix_index_header(index: &mut Vec<u8>, version: u32, segment_len: u64) {
    index.resize(index.len().max(INDEX_HEADER), 0);
    let count = (index.len() - INDEX_HEADER) / INDEX_ENTRY;
    index.truncate(INDEX_HEADER + count * INDEX_ENTRY);
    let hash = *blake3::hash(&index[INDEX_HEADER..]).as_bytes();
    index[..8].copy_from_slice(b"PCSTIDX\0");
    index[8..12].copy_from_slice(&version.to_le_bytes());
    index[12..16].copy_from_slice(&(INDEX_ENTRY as u32).to_le_bytes());
    index[16..24].copy_from_slice(&segment_len.to_le_bytes());
    index[24..32].copy_from_slice(&(count as u64).to_le_bytes());
    index[32..40].copy_from_slice(&1u64.to_le_bytes());
    index[40..72].copy_from_slice(&hash);
}

/// Keys named by anything that looks like a record header in `segment`.
fn candidate_keys(segment: &[u8]) -> Vec<PipelineFingerprint> {
    record_magics(segment)
        .take(64)
        .map(|offset| {
            let key: [u8; 32] = segment[offset + 16..offset + 48].try_into().expect("32");
            PipelineFingerprint(key)
        })
        .collect()
}

/// Whether `bytes` is the value of some record for `key` in `segment` (its payload: the written
/// bytes, then zeros up to `file_len`; decompressed if its encoding byte says zstd), with a
/// matching hash.
fn is_recorded_payload(
    segment: &[u8],
    file_len: u64,
    key: &PipelineFingerprint,
    bytes: &[u8],
) -> bool {
    let hash = blake3::hash(bytes);
    let file_len = file_len.max(segment.len() as u64);
    record_magics(segment).any(|offset| {
        let header = &segment[offset..offset + RECORD_HEADER];
        let start = offset + RECORD_HEADER;
        let written = &segment[start.min(segment.len())..];
        if header[16..48] != key.0 || header[48..80] != hash.as_bytes()[..] {
            return false;
        }
        if header[5] == 1 {
            // A compressed payload: no store returns one longer than its largest entry.
            let stored_len = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
            if stored_len > 64 << 20 || start as u64 + stored_len > file_len {
                return false;
            }
            let mut stored = written[..written.len().min(stored_len as usize)].to_vec();
            stored.resize(stored_len as usize, 0);
            return pcstore::compression::decompress(&stored, bytes.len() as u64).as_deref()
                == Some(bytes);
        }
        start as u64 + bytes.len() as u64 <= file_len
            && bytes
                .iter()
                .enumerate()
                .all(|(at, byte)| written.get(at).copied().unwrap_or(0) == *byte)
    })
}

/// The length 2^(e % 41) a size byte asks a file to be extended to (up to 1 TiB).
fn extension(byte: u8) -> u64 {
    1 << (byte % 41)
}

pub fn open_store_from_bytes(data: &[u8]) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pcstore-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    // Private whatever the umask: a store refuses a directory others may write in.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod scratch dir");
    run(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `bytes` to `path`, then extends the file with a hole to `extend_to` if that is longer
/// (a file system that cannot hold such a length keeps what was written).
fn write_file(path: &std::path::Path, bytes: &[u8], extend_to: Option<u64>) -> u64 {
    std::fs::write(path, bytes).expect("write file");
    let mut len = bytes.len() as u64;
    if let Some(target) = extend_to.filter(|&target| target > len) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open to extend");
        if file.set_len(target).is_ok() {
            len = target;
        }
    }
    len
}

fn run(dir: &PathBuf, data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut take = |wanted: bool| -> Option<u8> {
        let (&byte, tail) = rest.split_first().filter(|_| wanted)?;
        rest = tail;
        Some(byte)
    };
    let segment_extension = take(flags & 4 != 0).map(extension);
    let index_extension = take(flags & 8 != 0).map(extension);
    let (segment_part, index_part) = if flags & 2 != 0 && rest.len() >= 2 {
        let split = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let split = split.min(body.len());
        (&body[..split], Some(&body[split..]))
    } else {
        (rest, None)
    };
    let version = if flags & 64 != 0 { 1 } else { 2 };
    let mut segment = if flags & 1 != 0 {
        segment_header(version, 1)
    } else {
        Vec::new()
    };
    segment.extend_from_slice(segment_part);
    if flags & 16 != 0 {
        fix_record_checks(&mut segment);
    }
    let segment_len = write_file(&dir.join(SEGMENT), &segment, segment_extension);
    if let Some(index) = index_part {
        let mut index = index.to_vec();
        if flags & 32 != 0 {
            fix_index_header(&mut index, version, segment_len);
        }
        write_file(&dir.join(INDEX), &index, index_extension);
    }

    let cache = DiskCache::new(dir).expect("a store with damaged files still opens");
    for key in candidate_keys(&segment) {
        if let Some(bytes) = cache.get(&key) {
            assert!(
                is_recorded_payload(&segment, segment_len, &key, &bytes),
                "returned bytes that no intact record holds"
            );
        }
    }
    let fresh = PipelineFingerprint::of(b"pcstore fuzz fresh key");
    let mut put = cache.try_put(fresh, b"fresh".to_vec());
    if let Err(PutError::Dropped(_)) = put {
        // The files claim more than the budget: a compaction evicts the claims.
        cache
            .compact()
            .expect("compaction works after opening damaged files");
        put = cache.try_put(fresh, b"fresh".to_vec());
    }
    put.expect("puts work after opening damaged files");
    cache
        .flush()
        .expect("flush works after opening damaged files");
    assert_eq!(cache.get(&fresh).as_deref(), Some(&b"fresh"[..]));
    drop(cache);
    let again = DiskCache::new(dir).expect("reopen");
    assert_eq!(again.get(&fresh).as_deref(), Some(&b"fresh"[..]));
}
