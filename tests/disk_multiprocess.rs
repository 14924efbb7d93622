//! Several processes (this test binary, re-executed) sharing one directory: mixed get/put/flush
//! while eviction and compaction run, entries flushed by one process visible to another, and
//! writers that open, put, flush and close over and over while another process compacts in a
//! loop, losing nothing they were told was flushed.

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
    // slack (`DiskCacheOptions::max_bytes`): an eighth of the budget, plus per writer its
    // segment (64 KiB here), one check interval (16 KiB here) and one entry, plus the copies a
    // running compaction made of one segment it has not deleted yet (64 KiB here, one entry,
    // and their index: a few dozen bytes per copied entry, 4 KiB is ample).
    let slack = BUDGET / 8
        + WORKERS * ((64 << 10) + (16 << 10) + 12_100)
        + ((64 << 10) + 12_100 + (4 << 10));
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

const SOAK_ENV: &str = "PCSTORE_DISK_SOAK_CHILD";
const SOAK_TEST: &str = "flushed_entries_survive_a_compactor_running_in_a_loop";
const SOAK_WRITERS: u64 = 3;
const SOAK_ROUNDS: u64 = 120;
const SOAK_PUTS_PER_ROUND: u64 = 4;

fn soak_len(k: u64) -> usize {
    200 + (k * 977 % 3000) as usize
}

/// A soak child. `compact:<dir>:<stop file>` compacts in a loop until the stop file exists
/// (exit 5 if a compaction fails), then prints how many it ran; `write:<writer>:<dir>` opens the store, puts, flushes and
/// closes it, `SOAK_ROUNDS` times, printing `A <key>` for every put a successful flush covered
/// (exit 4 if a flush fails).
fn run_soak_child(spec: &str) -> ! {
    let mut parts = spec.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("compact"), Some(dir), Some(stop)) => {
            let cache = DiskCache::new(dir).expect("compactor open");
            while !std::path::Path::new(stop).exists() {
                if cache.compact().is_err() {
                    std::process::exit(5);
                }
            }
            println!("compactions {}", cache.durability_report().compactions);
        }
        (Some("write"), Some(writer), Some(dir)) => {
            let writer: u64 = writer.parse().expect("writer");
            for round in 0..SOAK_ROUNDS {
                let cache = DiskCache::new(dir).expect("writer open");
                let keys: Vec<u64> = (0..SOAK_PUTS_PER_ROUND)
                    .map(|j| (writer * SOAK_ROUNDS + round) * SOAK_PUTS_PER_ROUND + j)
                    .collect();
                for &k in &keys {
                    cache
                        .try_put(key(k), payload(k, 1, soak_len(k)))
                        .expect("put");
                }
                if cache.flush().is_err() {
                    std::process::exit(4);
                }
                for k in keys {
                    println!("A {k}");
                }
            }
        }
        _ => panic!("bad soak spec {spec}"),
    }
    std::process::exit(0);
}

fn spawn_soak(spec: String, stdout: Stdio) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "--nocapture", "--test-threads=1", SOAK_TEST])
        .env(SOAK_ENV, spec)
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn soak child")
}

/// Writers finish their segments all the time while another process compacts in a loop: each
/// compaction finds segments whose writer appended, flushed and closed moments ago. Every entry
/// a writer was told is flushed must be there afterwards, byte for byte. (The budget is far
/// above what is written: nothing is evicted.)
#[test]
fn flushed_entries_survive_a_compactor_running_in_a_loop() {
    if let Ok(spec) = std::env::var(SOAK_ENV) {
        run_soak_child(&spec);
    }
    let dir = ScratchDir::new("soak");
    let store = dir.path().join("store");
    let stop = dir.path().join("stop");
    DiskCache::new(&store).expect("create store");
    let compactor = spawn_soak(
        format!("compact:{}:{}", store.display(), stop.display()),
        Stdio::piped(),
    );
    let writers: Vec<_> = (0..SOAK_WRITERS)
        .map(|w| spawn_soak(format!("write:{w}:{}", store.display()), Stdio::piped()))
        .collect();
    let mut acknowledged = Vec::new();
    for writer in writers {
        let output = writer.wait_with_output().expect("wait writer");
        assert!(output.status.success(), "writer failed: {}", output.status);
        acknowledged.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| line.split("A ").nth(1)?.trim().parse::<u64>().ok()),
        );
    }
    std::fs::write(&stop, b"").expect("stop the compactor");
    let compactor = compactor.wait_with_output().expect("wait compactor");
    assert!(
        compactor.status.success(),
        "compactor failed: {}",
        compactor.status
    );
    assert_eq!(
        acknowledged.len() as u64,
        SOAK_WRITERS * SOAK_ROUNDS * SOAK_PUTS_PER_ROUND
    );
    let cache = DiskCache::new(&store).expect("reopen");
    let lost: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|&k| cache.get(&key(k)) != Some(payload(k, 1, soak_len(k))))
        .collect();
    assert!(lost.is_empty(), "flushed entries lost: {lost:?}");
    let compactions: u64 = String::from_utf8_lossy(&compactor.stdout)
        .lines()
        .find_map(|line| line.split("compactions ").nth(1)?.trim().parse().ok())
        .expect("the compactor reports its compactions");
    assert!(
        compactions >= 10,
        "only {compactions} compactions ran alongside the writers"
    );
}
