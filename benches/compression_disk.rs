//! The disk tier with and without record compression: `cargo bench --bench compression_disk`.
//!
//! Uses only the public API that format version 1 already had, so the same file measures a
//! version-1 build (copy it, with `compression_support/`, into a checkout of the last
//! version-1 commit and run it there: BENCHMARKS.md gives the figures of both in one session).
//!
//! Two sets of values, each put under distinct keys into a fresh store, then flushed, then every
//! key read once (page cache warm, as a game's second launch), medians of 5 runs:
//! - compressible: the x86-64 code pieces and SPIR-V modules of `benches/compression.rs`'s
//!   corpus, four times over under different keys (about 13 MB);
//! - random: 200 pieces of 64 KiB that do not compress (the worst case: version 2 tries and
//!   stores them as they are).
//!
//! Reported: put+flush and get throughput in MB/s of values, and the bytes the store holds on
//! disk afterwards.

mod compression_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compression_support::{corpora, random_pieces};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PipelineFingerprint};

const RUNS: usize = 5;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-compression")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn measure(name: &str, values: &[Vec<u8>]) {
    let total: usize = values.iter().map(Vec::len).sum();
    let keys: Vec<PipelineFingerprint> = (0..values.len())
        .map(|i| PipelineFingerprint::of(&(i as u64).to_le_bytes()))
        .collect();
    let mut puts = Vec::new();
    let mut gets = Vec::new();
    let mut disk_bytes = 0;
    for run in 0..RUNS {
        let dir = scratch(&format!("{name}-{run}"));
        let options = DiskCacheOptions {
            max_bytes: 1 << 30,
            ..DiskCacheOptions::default()
        };
        let cache = DiskCache::with_options(&dir, options.clone()).expect("open");
        let start = Instant::now();
        for (key, value) in keys.iter().zip(values) {
            cache.try_put(*key, value.clone()).expect("put");
        }
        cache.flush().expect("flush");
        puts.push(start.elapsed());
        disk_bytes = cache.durability_report().disk_bytes;
        drop(cache);
        let cache = DiskCache::with_options(&dir, options).expect("reopen");
        let start = Instant::now();
        for key in &keys {
            assert!(std::hint::black_box(cache.get(key)).is_some());
        }
        gets.push(start.elapsed());
        drop(cache);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "| {name} | {} | {total} | {disk_bytes} | {:.0} | {:.0} |",
        values.len(),
        mb_per_s(total, median(puts)),
        mb_per_s(total, median(gets)),
    );
}

fn main() {
    let mut compressible = Vec::new();
    for corpus in corpora() {
        if corpus.name.starts_with("x86") || corpus.name.starts_with("SPIR-V") {
            compressible.extend(corpus.items);
        }
    }
    let compressible: Vec<Vec<u8>> = (0..4).flat_map(|_| compressible.clone()).collect();
    println!("| values | count | value bytes | bytes on disk | put+flush MB/s | get MB/s |");
    println!("|---|---|---|---|---|---|");
    measure("compressible (x86 code, SPIR-V)", &compressible);
    measure("random", &random_pieces(200));
}
