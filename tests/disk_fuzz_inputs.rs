//! Runs the fuzz harness (`fuzz/harness.rs`, also the cargo-fuzz target's body) over inputs made
//! by mutating real segment and index files, and over oversize claims behind valid checks in
//! files extended by holes, so CI exercises it without a fuzzing engine.

mod disk_support;
#[path = "../fuzz/harness.rs"]
mod harness;

use disk_support::{key, payload, Rng, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore};

/// A compressible value: `payload(k, 1, 16)` repeated up to `len` bytes.
fn repetitive(k: u64, len: usize) -> Vec<u8> {
    payload(k, 1, 16).into_iter().cycle().take(len).collect()
}

/// A real segment (without its 32-byte header) and its index; a third of its puts compressed.
fn seed_files() -> (Vec<u8>, Vec<u8>) {
    let dir = ScratchDir::new("fuzz-seed");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        for k in 0..12u64 {
            let len = 16 + (k as usize * 53) % 400;
            let value = if k % 3 == 1 {
                repetitive(k, len + 200)
            } else {
                payload(k, 1, len)
            };
            cache.try_put(key(k), value).expect("put");
        }
        for k in 0..3u64 {
            assert!(cache.get(&key(k)).is_some());
        }
        cache.flush().expect("flush");
    }
    let mut segment = Vec::new();
    let mut index = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("log") => segment = std::fs::read(&path).expect("read"),
            Some("idx") => index = std::fs::read(&path).expect("read"),
            _ => {}
        }
    }
    assert!(segment.len() > 32 && !index.is_empty());
    let body = segment[32..].to_vec();
    assert!(
        record_offsets(&body).iter().any(|&at| body[at + 5] == 1),
        "compressed records in the seed"
    );
    (body, index)
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                if !bytes.is_empty() {
                    let bit = rng.below(bytes.len() as u64 * 8);
                    bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
            }
        }
        1 => {
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.truncate(cut);
        }
        2 => {
            let at = rng.below(bytes.len() as u64 + 1) as usize;
            let junk: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            bytes.splice(at..at, junk);
        }
        3 => {
            // Duplicate a stretch (records repeated or overlapping).
            if !bytes.is_empty() {
                let from = rng.below(bytes.len() as u64) as usize;
                let len = rng.below((bytes.len() - from) as u64 + 1) as usize;
                let copy = bytes[from..from + len].to_vec();
                let at = rng.below(bytes.len() as u64 + 1) as usize;
                bytes.splice(at..at, copy);
            }
        }
        _ => {
            let start = rng.below(bytes.len() as u64 + 1) as usize;
            let end = (start + rng.below(64) as usize).min(bytes.len());
            for byte in &mut bytes[start..end] {
                *byte = rng.next() as u8;
            }
        }
    }
}

/// A harness input (layout in `fuzz/harness.rs`).
struct Input {
    with_header: bool,
    /// Size byte of the hole that extends the segment file (flag bit 2).
    segment_hole: Option<u8>,
    /// Size byte of the hole that extends the index file (flag bit 3).
    index_hole: Option<u8>,
    /// Give every record header a valid check (flag bit 4).
    fix_records: bool,
    /// Give the index a valid header (flag bit 5).
    fix_index: bool,
    /// The headers of flags 0 and 5 say version 1 (flag bit 6).
    version_1: bool,
    segment: Vec<u8>,
    index: Option<Vec<u8>>,
}

impl Input {
    fn plain(segment: Vec<u8>, index: Option<Vec<u8>>) -> Self {
        Self {
            with_header: true,
            segment_hole: None,
            index_hole: None,
            fix_records: false,
            fix_index: false,
            version_1: false,
            segment,
            index,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let index = self
            .index
            .as_ref()
            .filter(|_| self.segment.len() <= u16::MAX as usize);
        let flags = u8::from(self.with_header)
            | u8::from(index.is_some()) << 1
            | u8::from(self.segment_hole.is_some()) << 2
            | u8::from(self.index_hole.is_some()) << 3
            | u8::from(self.fix_records) << 4
            | u8::from(self.fix_index) << 5
            | u8::from(self.version_1) << 6;
        let mut out = vec![flags];
        out.extend(self.segment_hole);
        out.extend(self.index_hole);
        if index.is_some() {
            out.extend_from_slice(&(self.segment.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(&self.segment);
        if let Some(index) = index {
            out.extend_from_slice(index);
        }
        out
    }
}

/// Offsets of the record magics in `segment`.
fn record_offsets(segment: &[u8]) -> Vec<usize> {
    (0..segment.len().saturating_sub(103))
        .filter(|&at| &segment[at..at + 4] == b"PCR1")
        .collect()
}

/// A payload length no record of the seed has: up to 2^40, or near `u64::MAX`.
fn claim(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => u64::MAX - rng.below(1 << 20),
        _ => (1 << (20 + rng.below(21))) + rng.below(1 << 20),
    }
}

#[test]
fn the_fuzz_harness_holds_on_mutated_real_files() {
    let (segment, index) = seed_files();
    let mut rng = Rng(2026);
    for round in 0..400 {
        let mut segment = segment.clone();
        let mut index = index.clone();
        for _ in 0..1 + rng.below(3) {
            if rng.below(4) == 0 {
                mutate(&mut rng, &mut index);
            } else {
                mutate(&mut rng, &mut segment);
            }
        }
        let mut input = Input::plain(segment, (round % 3 != 0).then_some(index));
        input.with_header = round % 8 != 0;
        // Version 1 refuses the compressed records of the seed as damage.
        input.version_1 = round % 5 == 0;
        harness::open_store_from_bytes(&input.encode());
    }
    // Pure noise, too.
    for _ in 0..100 {
        let input: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        harness::open_store_from_bytes(&input);
    }
}

/// Records and index entries that claim sizes they cannot have, behind valid checks, in files
/// extended by holes so the claims lie "within the file": each must cost no more memory than
/// what is there (an allocation sized by a claim aborts this process).
#[test]
fn the_fuzz_harness_holds_on_oversize_claims() {
    let (segment, index) = seed_files();
    let records = record_offsets(&segment);
    let mut rng = Rng(1857);
    for round in 0..120 {
        let mut segment = segment.clone();
        let mut index = index.clone();
        let with_index = round % 2 == 0;
        if with_index {
            // Claims in the index: a put entry's payload length (entries start at 72, the
            // length field 48 bytes into a 72-byte entry), or the entry count itself.
            let entries = (index.len() - 72) / 72;
            let entry = 72 + 72 * rng.below(entries as u64) as usize;
            let at = if rng.below(3) == 0 { 24 } else { entry + 48 };
            index[at..at + 8].copy_from_slice(&claim(&mut rng).to_le_bytes());
        } else {
            // Claims in record headers: payload lengths, and kinds flipped between put and
            // touch (a touch claiming a huge list of pairs).
            for _ in 0..1 + rng.below(3) {
                let at = records[rng.below(records.len() as u64) as usize];
                segment[at + 8..at + 16].copy_from_slice(&claim(&mut rng).to_le_bytes());
                if rng.below(2) == 0 {
                    segment[at + 4] = 3 - segment[at + 4];
                }
                // Stored taken for compressed and the other way round: a compressed payload's
                // value length is a claim too.
                if rng.below(3) == 0 {
                    segment[at + 5] ^= 1;
                }
            }
        }
        let input = Input {
            with_header: true,
            segment_hole: Some(20 + rng.below(21) as u8),
            index_hole: (rng.below(4) == 0).then(|| 20 + rng.below(21) as u8),
            fix_records: !with_index,
            fix_index: with_index && round % 3 != 0,
            version_1: round % 7 == 0,
            segment,
            index: with_index.then_some(index),
        };
        harness::open_store_from_bytes(&input.encode());
    }
}

/// The fuzzer's seeds (`fuzz/seeds/open_store`, among them oversize claims in sparse files).
#[test]
fn the_fuzz_harness_holds_on_its_seeds() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/open_store");
    let mut count = 0;
    for entry in std::fs::read_dir(&seeds).expect("list seeds") {
        let input = std::fs::read(entry.expect("seed").path()).expect("read seed");
        harness::open_store_from_bytes(&input);
        count += 1;
    }
    assert!(count >= 4, "{count} seeds in {}", seeds.display());
}
