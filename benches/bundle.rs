//! Bundle tier benchmark: `cargo bench --bench bundle` (about 30 s after the build).
//!
//! In one run, on the same disk (under `target/`), warm page cache:
//! - open a bundle of 10k and 100k entries (header, index and signature read and checked),
//!   unsigned and signed, with payloads in key order (as an export writes them) and in another
//!   order (the layout check then sorts them), against opening a disk store holding the same
//!   entries, and against what checking every payload at open would add (reading and hashing
//!   all of them);
//! - get latency, every key once in a shuffled order: `BundleStore` against `DiskCache` on the
//!   same blobs, and the BLAKE3 of the same bytes (every hit of both is verified, so hashing is
//!   the floor).
//!
//! Figures are medians of a few repetitions; compare within one run only (the disk and CPUs are
//! shared and noisy).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pcstore::bundle::{BundleSigningKey, BundleStore, BundleWriter};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

const REPEATS: usize = 5;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-bundle")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn key(i: usize) -> PipelineFingerprint {
    PipelineFingerprint::of(&(i as u64).to_le_bytes())
}

fn blob(i: usize, size: usize) -> Vec<u8> {
    let mut x = i as u64 ^ 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Writes a bundle of `count` entries (signed or not), adding them in key order or not.
fn build(
    dir: &Path,
    count: usize,
    size: usize,
    signer: Option<&BundleSigningKey>,
    key_order: bool,
) -> Duration {
    let mut order: Vec<usize> = (0..count).collect();
    if key_order {
        order.sort_by_key(|&i| key(i));
    }
    let start = Instant::now();
    let mut writer = BundleWriter::create(dir.join("b.pcsb")).expect("create");
    for i in order {
        writer.add(key(i), &blob(i, size)).expect("add");
    }
    match signer {
        Some(signer) => writer.finish_signed(signer),
        None => writer.finish(),
    }
    .expect("finish");
    start.elapsed()
}

fn fill_disk(dir: &Path, count: usize, size: usize) {
    let disk = DiskCache::new(dir.join("disk")).expect("disk");
    for i in 0..count {
        disk.try_put(key(i), blob(i, size)).expect("put");
    }
    disk.flush().expect("flush");
}

struct OpenRow {
    count: usize,
    write: Duration,
    unsigned: Duration,
    signed: Duration,
    unordered: Duration,
    disk: Duration,
    verify_all: Duration,
}

fn bench_open(count: usize) -> OpenRow {
    let size = 64;
    let dir = scratch(&format!("open-{count}"));
    let signer = BundleSigningKey::from_secret_bytes(&[1; 32]);
    let signed_dir = dir.join("signed");
    let unordered_dir = dir.join("unordered");
    fs::create_dir_all(&signed_dir).expect("mkdir");
    fs::create_dir_all(&unordered_dir).expect("mkdir");
    let write = build(&dir, count, size, None, true);
    build(&signed_dir, count, size, Some(&signer), true);
    build(&unordered_dir, count, size, None, false);
    fill_disk(&dir, count, size);
    let time_open = |path: &Path| {
        median(
            (0..REPEATS)
                .map(|_| {
                    let start = Instant::now();
                    let store = BundleStore::open(path).expect("open");
                    let elapsed = start.elapsed();
                    assert_eq!(store.metrics().entries, count as u64);
                    elapsed
                })
                .collect(),
        )
    };
    let unsigned = time_open(&dir.join("b.pcsb"));
    let signed = time_open(&signed_dir.join("b.pcsb"));
    let unordered = time_open(&unordered_dir.join("b.pcsb"));
    let disk = median(
        (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                let disk = DiskCache::new(dir.join("disk")).expect("disk");
                let elapsed = start.elapsed();
                assert_eq!(disk.metrics().entries, count as u64);
                elapsed
            })
            .collect(),
    );
    // What verifying every payload at open would add: read and hash each one.
    let store = BundleStore::open(dir.join("b.pcsb")).expect("open");
    let verify_all = median(
        (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                for entry in store.entries() {
                    assert!(store.get(&entry.key).is_some());
                }
                start.elapsed()
            })
            .collect(),
    );
    OpenRow {
        count,
        write,
        unsigned,
        signed,
        unordered,
        disk,
        verify_all,
    }
}

struct GetRow {
    label: String,
    bundle: Duration,
    disk: Duration,
    hash: Duration,
    count: usize,
}

fn bench_get(count: usize, size: usize) -> GetRow {
    let dir = scratch(&format!("get-{size}"));
    build(&dir, count, size, None, true);
    fill_disk(&dir, count, size);
    let bundle = BundleStore::open(dir.join("b.pcsb")).expect("open");
    let disk = DiskCache::new(dir.join("disk")).expect("disk");
    // A fixed shuffle: lookups land all over the file, as a level load's do.
    let mut order: Vec<usize> = (0..count).collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let blobs: Vec<Vec<u8>> = (0..count.min(64)).map(|i| blob(i, size)).collect();
    let mut row = GetRow {
        label: format!("{count} x {} KiB", size / 1024),
        bundle: Duration::ZERO,
        disk: Duration::ZERO,
        hash: Duration::ZERO,
        count,
    };
    let (mut b, mut d, mut h) = (vec![], vec![], vec![]);
    for _ in 0..REPEATS {
        let start = Instant::now();
        for &i in &order {
            assert_eq!(bundle.get(&key(i)).expect("hit").len(), size);
        }
        b.push(start.elapsed());
        let start = Instant::now();
        for &i in &order {
            assert_eq!(disk.get(&key(i)).expect("hit").len(), size);
        }
        d.push(start.elapsed());
        let start = Instant::now();
        for i in 0..count {
            std::hint::black_box(blake3::hash(&blobs[i % blobs.len()]));
        }
        h.push(start.elapsed());
    }
    row.bundle = median(b);
    row.disk = median(d);
    row.hash = median(h);
    row
}

fn main() {
    let opens = [bench_open(10_000), bench_open(100_000)];
    println!("open (warm page cache, 64-byte payloads): ms, median of {REPEATS}");
    println!(
        "{:>8} {:>9} {:>9} {:>10} {:>7} {:>7} | {:>12} {:>7}",
        "entries", "unsigned", "signed", "unordered", "disk", "x disk", "+verify all", "write"
    );
    for row in &opens {
        println!(
            "{:>8} {:>9.2} {:>9.2} {:>10.2} {:>7.2} {:>7.1} | {:>12.2} {:>7.1}",
            row.count,
            ms(row.unsigned),
            ms(row.signed),
            ms(row.unordered),
            ms(row.disk),
            row.disk.as_secs_f64() / row.unsigned.as_secs_f64(),
            ms(row.verify_all),
            ms(row.write),
        );
    }
    let gets = [bench_get(10_000, 4 << 10), bench_get(1_000, 64 << 10)];
    println!();
    println!("get, every key once in shuffled order (warm page cache): mean µs per get, median of {REPEATS}");
    println!(
        "{:<16} {:>8} {:>8} {:>8} | {:>12}",
        "blobs", "bundle", "disk", "BLAKE3", "bundle/disk"
    );
    for row in &gets {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / row.count as f64;
        println!(
            "{:<16} {:>8.2} {:>8.2} {:>8.2} | {:>12.2}",
            row.label,
            per(row.bundle),
            per(row.disk),
            per(row.hash),
            row.bundle.as_secs_f64() / row.disk.as_secs_f64(),
        );
    }
    let _ = fs::remove_dir_all(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-bundle"));
}
