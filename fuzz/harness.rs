//! The open-from-arbitrary-bytes harness, shared by the cargo-fuzz target and by the test that
//! runs it over many generated inputs (`tests/disk_fuzz_inputs.rs`).
//!
//! Input layout: byte 0 holds flags (bit 0: start the segment with a valid header; bit 1: the
//! bytes after the split point, given by bytes 1..3, become the segment's index file). Oracle:
//! the store opens, and every blob it returns for a key is the payload of a record in the input
//! with that key and a matching BLAKE3, never other bytes; it still accepts, flushes and returns
//! a new put, and opens again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

const SEGMENT: &str = "seg-0000000000000001-00000001.log";
const INDEX: &str = "seg-0000000000000001-00000001.idx";
const RECORD_HEADER: usize = 104;

/// A valid version-1 segment header (written here from FORMAT.md, so it also pins the format).
fn segment_header(id: u64) -> Vec<u8> {
    let mut header = b"PCSTSEG\0".to_vec();
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&id.to_le_bytes());
    let check = blake3::hash(&header);
    header.extend_from_slice(&check.as_bytes()[..8]);
    header
}

/// Keys named by anything that looks like a record header in `segment`.
fn candidate_keys(segment: &[u8]) -> Vec<PipelineFingerprint> {
    let mut keys = Vec::new();
    for offset in 0..segment.len().saturating_sub(RECORD_HEADER - 1) {
        if &segment[offset..offset + 4] == b"PCR1" && keys.len() < 64 {
            let key: [u8; 32] = segment[offset + 16..offset + 48].try_into().expect("32");
            keys.push(PipelineFingerprint(key));
        }
    }
    keys
}

/// Whether `bytes` is the payload of some record for `key` in `segment`, with a matching hash.
fn is_recorded_payload(segment: &[u8], key: &PipelineFingerprint, bytes: &[u8]) -> bool {
    let hash = blake3::hash(bytes);
    (0..segment.len().saturating_sub(RECORD_HEADER - 1)).any(|offset| {
        let header = &segment[offset..offset + RECORD_HEADER];
        let start = offset + RECORD_HEADER;
        &header[..4] == b"PCR1"
            && header[16..48] == key.0
            && header[48..80] == hash.as_bytes()[..]
            && segment.get(start..start + bytes.len()) == Some(bytes)
    })
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

fn run(dir: &PathBuf, data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or(&[]);
    let (segment_part, index_part) = if flags & 2 != 0 && rest.len() >= 2 {
        let split = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let split = split.min(body.len());
        (&body[..split], Some(&body[split..]))
    } else {
        (rest, None)
    };
    let mut segment = if flags & 1 != 0 {
        segment_header(1)
    } else {
        Vec::new()
    };
    segment.extend_from_slice(segment_part);
    std::fs::write(dir.join(SEGMENT), &segment).expect("write segment");
    if let Some(index) = index_part {
        std::fs::write(dir.join(INDEX), index).expect("write index");
    }

    let cache = DiskCache::new(dir).expect("a store with damaged files still opens");
    for key in candidate_keys(&segment) {
        if let Some(bytes) = cache.get(&key) {
            assert!(
                is_recorded_payload(&segment, &key, &bytes),
                "returned bytes that no intact record holds"
            );
        }
    }
    let fresh = PipelineFingerprint::of(b"pcstore fuzz fresh key");
    cache
        .try_put(fresh, b"fresh".to_vec())
        .expect("puts work after opening damaged files");
    cache
        .flush()
        .expect("flush works after opening damaged files");
    assert_eq!(cache.get(&fresh).as_deref(), Some(&b"fresh"[..]));
    drop(cache);
    let again = DiskCache::new(dir).expect("reopen");
    assert_eq!(again.get(&fresh).as_deref(), Some(&b"fresh"[..]));
}
