//! Several processes (this test binary, re-executed) sharing one directory: mixed get/put/flush
//! while eviction and compaction run, and entries flushed by one process visible to another.

mod disk_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use disk_support::{decode_payload, dir_bytes, key, payload, Rng, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PutError};

const CHILD_ENV: &str = "PCSTORE_DISK_MULTI_CHILD";
const BUDGET: u64 = 1 << 20;
const WORKERS: u64 = 4;
const KEYS: u64 = 400;

fn options() -> DiskCacheOptions {
    DiskCacheOptions {
        max_bytes: BUDGET,
        ..DiskCacheOptions::default()
    }
}

fn len_of(k: u64, v: u64) -> usize {
    16 + ((k * 131 + v * 7) % 12_000) as usize
}

/// A worker: `ops` mixed operations on shared keys. Exits 3 on wrong bytes, 4 on a failed
/// flush, 6 on a failed put, 7 if its marker is refused for 10 s.
fn run_worker(spec: &str) -> ! {
    let mut parts = spec.split(':');
    let worker: u64 = parts.next().expect("worker").parse().expect("worker");
    let ops: u64 = parts.next().expect("ops").parse().expect("ops");
    let dir = parts.next().expect("dir");
    let cache = DiskCache::with_options(dir, options()).expect("worker open");
    let mut rng = Rng(worker + 1);
    for op in 0..ops {
        let k = rng.below(KEYS);
        match rng.below(10) {
            0..=4 => {
                let v = worker * 1_000_000 + op;
                match cache.try_put(key(k), payload(k, v, len_of(k, v))) {
                    // Refused while compaction catches up with four writers: allowed.
                    Ok(()) | Err(PutError::Dropped(_)) => {}
                    Err(_) => std::process::exit(6),
                }
            }
            5..=8 => {
                if let Some(bytes) = cache.get(&key(k)) {
                    match decode_payload(&bytes) {
                        Some((dk, v)) if dk == k && bytes.len() == len_of(k, v) => {}
                        _ => std::process::exit(3),
                    }
                }
            }
            _ => {
                if cache.flush().is_err() {
                    std::process::exit(4);
                }
            }
        }
    }
    // Cross-process visibility of this worker's own marker key.
    let marker = 1_000_000 + worker;
    let mut attempts = 0;
    while cache.try_put(key(marker), payload(marker, 1, 100)).is_err() {
        attempts += 1;
        if attempts > 2000 {
            std::process::exit(7);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if cache.flush().is_err() {
        std::process::exit(4);
    }
    println!("done");
    std::process::exit(0);
}

fn spawn(spec: String) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "--nocapture", "--test-threads=1", TEST_NAME])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker")
}

const TEST_NAME: &str = "processes_share_a_directory_while_it_is_evicted";

#[test]
fn processes_share_a_directory_while_it_is_evicted() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_worker(&spec);
    }
    let dir = ScratchDir::new("multi");
    // The observer is open before the workers write anything.
    let observer = DiskCache::with_options(dir.path(), options()).expect("open observer");
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|w| spawn(format!("{w}:3000:{}", dir.path().display())))
        .collect();
    // Sample the directory size while they run: it stays within the budget plus the documented
    // slack (an eighth of the budget, plus per writer its segment (64 KiB here), one check
    // interval (16 KiB here) and one entry).
    let slack = BUDGET / 8 + WORKERS * ((64 << 10) + (16 << 10) + 12_100);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak = 0;
    loop {
        peak = peak.max(dir_bytes(dir.path()));
        let mut all_done = true;
        for worker in &mut workers {
            if worker.try_wait().expect("poll worker").is_none() {
                all_done = false;
            }
        }
        if all_done {
            break;
        }
        assert!(Instant::now() < deadline, "workers did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    for worker in workers {
        let status = worker.wait_with_output().expect("wait").status;
        assert_eq!(status.code(), Some(0), "worker failed: {status}");
    }
    assert!(peak <= BUDGET + slack, "peak {peak} > {BUDGET} + {slack}");
    // An entry flushed by another process (started after the observer opened and indexed
    // the directory) is visible to the observer's get. Nobody writes now, so nothing evicts it.
    let late = spawn(format!("99:0:{}", dir.path().display()));
    let status = late.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(0), "late worker failed: {status}");
    let marker = 1_000_000 + 99;
    assert!(
        observer.get(&key(marker)) == Some(payload(marker, 1, 100)),
        "marker flushed by another process not visible"
    );
    // Everything present is exactly some version that was put; after a compaction the budget
    // holds strictly.
    observer.compact().expect("compact");
    assert!(dir_bytes(dir.path()) <= BUDGET, "{}", dir_bytes(dir.path()));
    let mut present = 0;
    for k in 0..KEYS {
        if let Some(bytes) = observer.get(&key(k)) {
            let (dk, v) = decode_payload(&bytes).expect("self-consistent");
            assert_eq!(dk, k);
            assert_eq!(bytes.len(), len_of(k, v));
            present += 1;
        }
    }
    assert!(present > 0);
    let metrics = observer.metrics();
    assert_eq!(metrics.corrupt_dropped, 0);
}
