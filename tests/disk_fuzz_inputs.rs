//! Runs the fuzz harness (`fuzz/harness.rs`, also the cargo-fuzz target's body) over inputs made
//! by mutating real segment and index files, so CI exercises it without a fuzzing engine.

mod disk_support;
#[path = "../fuzz/harness.rs"]
mod harness;

use disk_support::{key, payload, Rng, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore};

/// A real segment (without its 32-byte header) and its index.
fn seed_files() -> (Vec<u8>, Vec<u8>) {
    let dir = ScratchDir::new("fuzz-seed");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        for k in 0..12u64 {
            cache
                .try_put(key(k), payload(k, 1, 16 + (k as usize * 53) % 400))
                .expect("put");
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
    (segment[32..].to_vec(), index)
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
        let with_header = round % 8 != 0;
        let with_index = round % 3 != 0 && segment.len() <= u16::MAX as usize;
        let mut input = vec![u8::from(with_header) | (u8::from(with_index) << 1)];
        if with_index {
            input.extend_from_slice(&(segment.len() as u16).to_le_bytes());
        }
        input.extend_from_slice(&segment);
        if with_index {
            input.extend_from_slice(&index);
        }
        harness::open_store_from_bytes(&input);
    }
    // Pure noise, too.
    for _ in 0..100 {
        let input: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        harness::open_store_from_bytes(&input);
    }
}
