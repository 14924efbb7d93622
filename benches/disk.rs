//! Disk tier benchmark: `cargo bench --bench disk` (about a minute).
//!
//! Side by side, on the same disk (under `target/`), in one run:
//! - put N blobs + one flush, for 4 KiB, 64 KiB and 1 MiB blobs, for pcstore's `DiskCache`, a
//!   one-file-per-key store done properly (temp file + fsync + rename, directory fsync at the
//!   end: the design pcstore replaces) and redb (one write transaction per flush batch);
//! - `dd`-style sequential write bandwidth (1 MiB writes + fdatasync) of the same bytes;
//! - get them all back with a warm page cache, against BLAKE3 hashing of the same bytes (every
//!   pcstore hit is verified, so hashing speed is the floor);
//! - open a store of 100k entries (cleanly closed, and left by a killed writer without index).
//!
//! Figures are medians of a few repetitions; compare ratios within one run only (the disk and
//! CPUs are shared and noisy).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
use redb::ReadableDatabase;

const REPEATS: usize = 5;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-disk")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn blobs(count: usize, size: usize) -> Vec<(PipelineFingerprint, Arc<Vec<u8>>)> {
    (0..count)
        .map(|i| {
            let key = PipelineFingerprint::of(&(i as u64).to_le_bytes());
            let mut blob = vec![0u8; size];
            let mut x = i as u64 ^ 0x9E37_79B9_7F4A_7C15;
            for chunk in blob.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            (key, Arc::new(blob))
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The one-file-per-key baseline, done properly.
struct FilePerKey {
    dir: PathBuf,
}

impl FilePerKey {
    fn put(&self, key: &PipelineFingerprint, blob: &[u8]) {
        let name = key.to_hex();
        let temp = self.dir.join(format!("{name}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .expect("create");
        file.write_all(blob).expect("write");
        file.sync_data().expect("fsync");
        fs::rename(&temp, self.dir.join(name)).expect("rename");
    }

    fn flush(&self) {
        File::open(&self.dir)
            .expect("dir")
            .sync_all()
            .expect("dir fsync");
    }

    fn get(&self, key: &PipelineFingerprint) -> Option<Vec<u8>> {
        fs::read(self.dir.join(key.to_hex())).ok()
    }
}

const TABLE: redb::TableDefinition<&[u8; 32], &[u8]> = redb::TableDefinition::new("blobs");

/// Every repetition's time for each contestant (same index = same repetition).
struct Row {
    label: String,
    bytes: u64,
    pcstore_put: Vec<Duration>,
    files_put: Vec<Duration>,
    redb_put: Vec<Duration>,
    sequential: Vec<Duration>,
    pcstore_get: Vec<Duration>,
    files_get: Vec<Duration>,
    redb_get: Vec<Duration>,
    hash: Vec<Duration>,
}

fn mb_per_s(bytes: u64, times: &[Duration]) -> f64 {
    bytes as f64 / median(times.to_vec()).as_secs_f64() / 1e6
}

/// Median over repetitions of `other / ours` time: how many times faster ours is. Ratios are
/// taken within a repetition, so a noisy moment slows both sides of it.
fn speedup(ours: &[Duration], other: &[Duration]) -> f64 {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(other)
        .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn bench_size(size: usize, count: usize) -> Row {
    let data = blobs(count, size);
    let mut row = Row {
        label: format!("{} x {} KiB", count, size / 1024),
        bytes: (size * count) as u64,
        pcstore_put: vec![],
        files_put: vec![],
        redb_put: vec![],
        sequential: vec![],
        pcstore_get: vec![],
        files_get: vec![],
        redb_get: vec![],
        hash: vec![],
    };
    for _ in 0..REPEATS {
        // dd-style sequential write of the same bytes
        let dir = scratch("sequential");
        let mut file = File::create(dir.join("seq")).expect("create");
        let all: Vec<u8> = data.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let start = Instant::now();
        for chunk in all.chunks(1 << 20) {
            file.write_all(chunk).expect("write");
        }
        file.sync_data().expect("fdatasync");
        row.sequential.push(start.elapsed());
        drop(all);

        // pcstore
        let dir = scratch("pcstore");
        let cache = DiskCache::new(&dir).expect("open");
        let start = Instant::now();
        for (key, blob) in &data {
            // try_put_arc: the blob is written from the caller's buffer, not copied first.
            cache.try_put_arc(*key, Arc::clone(blob)).expect("put");
        }
        cache.flush().expect("flush");
        row.pcstore_put.push(start.elapsed());
        let start = Instant::now();
        for (key, blob) in &data {
            let got = cache.get(key).expect("hit");
            assert_eq!(got.len(), blob.len());
        }
        row.pcstore_get.push(start.elapsed());
        drop(cache);

        // BLAKE3 over the same blobs: the floor of a verified read
        let start = Instant::now();
        for (_, blob) in &data {
            std::hint::black_box(blake3::hash(blob));
        }
        row.hash.push(start.elapsed());

        // one file per key
        let dir = scratch("files");
        let files = FilePerKey { dir };
        let start = Instant::now();
        for (key, blob) in &data {
            files.put(key, blob);
        }
        files.flush();
        row.files_put.push(start.elapsed());
        let start = Instant::now();
        for (key, blob) in &data {
            assert_eq!(files.get(key).expect("hit").len(), blob.len());
        }
        row.files_get.push(start.elapsed());

        // redb: one write transaction (one commit) per flush batch
        let dir = scratch("redb");
        let db = redb::Database::create(dir.join("db.redb")).expect("redb");
        let start = Instant::now();
        let txn = db.begin_write().expect("begin");
        {
            let mut table = txn.open_table(TABLE).expect("table");
            for (key, blob) in &data {
                table.insert(&key.0, blob.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
        row.redb_put.push(start.elapsed());
        let start = Instant::now();
        let read = db.begin_read().expect("read");
        let table = read.open_table(TABLE).expect("table");
        for (key, blob) in &data {
            let got = table
                .get(&key.0)
                .expect("get")
                .expect("hit")
                .value()
                .to_vec();
            assert_eq!(got.len(), blob.len());
        }
        row.redb_get.push(start.elapsed());
    }
    row
}

fn bench_open(entries: usize) -> (Duration, Duration) {
    let dir = scratch("open");
    {
        let cache = DiskCache::new(&dir).expect("open");
        for i in 0..entries {
            let key = PipelineFingerprint::of(&(i as u64).to_le_bytes());
            cache.try_put(key, vec![i as u8; 64]).expect("put");
        }
        cache.flush().expect("flush");
    }
    let mut clean = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let cache = DiskCache::new(&dir).expect("open");
        clean.push(start.elapsed());
        assert_eq!(cache.metrics().entries, entries as u64);
    }
    // A killed writer leaves no index: the next opener scans the records (and writes the
    // index, so only the first open pays).
    let mut scanned = Vec::new();
    for _ in 0..3 {
        for entry in fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "idx") {
                fs::remove_file(path).expect("rm idx");
            }
        }
        let start = Instant::now();
        let cache = DiskCache::new(&dir).expect("open");
        scanned.push(start.elapsed());
        assert_eq!(cache.metrics().entries, entries as u64);
    }
    (median(clean), median(scanned))
}

fn main() {
    // Keep N small: the whole run stays around a minute on a shared machine.
    let rows = [
        bench_size(4 << 10, 2000),
        bench_size(64 << 10, 400),
        bench_size(1 << 20, 32),
    ];
    println!("put N + one flush: MB/s (median of {REPEATS}); speed-up = median per-repetition time ratio");
    println!(
        "{:<16} {:>8} {:>9} {:>7} {:>11} | {:>10} {:>7} {:>10}",
        "blobs", "pcstore", "file/key", "redb", "sequential", "x file/key", "x redb", "x seq"
    );
    for row in &rows {
        println!(
            "{:<16} {:>8.0} {:>9.0} {:>7.0} {:>11.0} | {:>10.2} {:>7.2} {:>10.2}",
            row.label,
            mb_per_s(row.bytes, &row.pcstore_put),
            mb_per_s(row.bytes, &row.files_put),
            mb_per_s(row.bytes, &row.redb_put),
            mb_per_s(row.bytes, &row.sequential),
            speedup(&row.pcstore_put, &row.files_put),
            speedup(&row.pcstore_put, &row.redb_put),
            speedup(&row.pcstore_put, &row.sequential),
        );
    }
    println!();
    println!("get all back, warm page cache: MB/s (median of {REPEATS})");
    println!(
        "{:<16} {:>8} {:>9} {:>7} {:>11} | {:>17}",
        "blobs", "pcstore", "file/key", "redb", "BLAKE3", "pcstore time/hash"
    );
    for row in &rows {
        println!(
            "{:<16} {:>8.0} {:>9.0} {:>7.0} {:>11.0} | {:>17.2}",
            row.label,
            mb_per_s(row.bytes, &row.pcstore_get),
            mb_per_s(row.bytes, &row.files_get),
            mb_per_s(row.bytes, &row.redb_get),
            mb_per_s(row.bytes, &row.hash),
            speedup(&row.hash, &row.pcstore_get),
        );
    }
    let (clean, scanned) = bench_open(100_000);
    println!();
    println!(
        "open 100k entries: {:.1} ms with indexes, {:.1} ms scanning (after a killed writer)",
        clean.as_secs_f64() * 1e3,
        scanned.as_secs_f64() * 1e3
    );
    let _ = fs::remove_dir_all(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-disk"));
}
