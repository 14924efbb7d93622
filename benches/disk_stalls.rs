//! Disk tier: how long `put` and `get` on other threads wait while a compaction runs
//! (`cargo bench --bench disk_stalls`, about a minute; `PCSTORE_BENCH_RUNS` sets the runs per
//! size, default 3).
//!
//! One handle fills a store (100k × 2 KiB, then 1M × 100 B), so its own active segment is large
//! (its index is what a rotation or a compaction writes), and keeps it open. Then one thread
//! compacts it (`compact()`: every finished segment is rewritten) while two others each do one
//! operation every 200 µs, as a game's threads would: one puts new entries (of the same size),
//! one gets random stored ones. Each operation is timed on its own thread; the figures are the
//! 99.9th percentile and the worst of those that ran while the compaction did. The worst put of
//! the fill (which includes segment rotations) is printed too.
//!
//! The paced threads sleep between operations, so on a loaded machine they wake with priority:
//! what they measure is waiting for the store (locks, I/O on their own thread), not for a CPU.
//! The machine is shared, so compare runs of one session, and read ranges.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

const PACE: Duration = Duration::from_micros(200);

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-disk-stalls");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn key(n: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(&n.to_le_bytes())
}

fn blob(n: u64, len: usize) -> Arc<Vec<u8>> {
    let mut x = n ^ 0x9E37_79B9_7F4A_7C15;
    let mut bytes = vec![0u8; len];
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    Arc::new(bytes)
}

/// Nanoseconds this thread has spent waiting for a CPU while runnable (the second field of
/// `/proc/thread-self/schedstat`): time the machine, not the store, took from an operation.
struct RunQueueClock(std::fs::File);

impl RunQueueClock {
    fn new() -> Self {
        Self(std::fs::File::open("/proc/thread-self/schedstat").expect("schedstat"))
    }

    fn waited_ns(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 96];
        let len = self.0.read_at(&mut buf, 0).expect("read schedstat");
        let text = std::str::from_utf8(&buf[..len]).expect("text");
        text.split_whitespace()
            .nth(1)
            .and_then(|field| field.parse().ok())
            .expect("run-queue wait")
    }
}

/// Latencies of one kind of operation on one thread, in nanoseconds: as measured, and without
/// the time the thread waited for a CPU meanwhile.
struct Latencies {
    run_queue: RunQueueClock,
    measured: Vec<u64>,
    on_store: Vec<u64>,
}

impl Latencies {
    /// For the calling thread.
    fn new() -> Self {
        Self {
            run_queue: RunQueueClock::new(),
            measured: Vec::new(),
            on_store: Vec::new(),
        }
    }

    fn time<T>(&mut self, op: impl FnOnce() -> T) -> T {
        let waited = self.run_queue.waited_ns();
        let start = Instant::now();
        let result = op();
        let elapsed = start.elapsed().as_nanos() as u64;
        let waited = self.run_queue.waited_ns() - waited;
        self.measured.push(elapsed);
        self.on_store.push(elapsed.saturating_sub(waited));
        result
    }

    fn summary(self) -> Summary {
        Summary {
            ops: self.measured.len(),
            measured: percentiles(self.measured),
            on_store: percentiles(self.on_store),
        }
    }
}

/// (p99.9, worst) in milliseconds.
fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let n = ns.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let rank = (n * 999).div_ceil(1000).max(1) - 1;
    (ns[rank] as f64 / 1e6, ns[n - 1] as f64 / 1e6)
}

struct Summary {
    ops: usize,
    measured: (f64, f64),
    on_store: (f64, f64),
}

struct Run {
    fill: Summary,
    compaction: Duration,
    puts: Summary,
    gets: Summary,
    hashes: Summary,
}

fn run(entries: u64, size: usize) -> Run {
    let dir = scratch();
    let cache = DiskCache::new(&dir).expect("open");
    let mut fill = Latencies::new();
    for n in 0..entries {
        let value = blob(n, size);
        fill.time(|| cache.try_put_arc(key(n), value)).expect("put");
    }
    cache.flush().expect("flush");

    let done = AtomicBool::new(false);
    let (compaction, puts, gets, hashes) = std::thread::scope(|scope| {
        let putter = scope.spawn(|| {
            let mut latencies = Latencies::new();
            let mut n = entries;
            while !done.load(Ordering::Relaxed) {
                let value = blob(n, size);
                let _ = latencies.time(|| cache.try_put_arc(key(n), value));
                n += 1;
                std::thread::sleep(PACE);
            }
            latencies
        });
        let getter = scope.spawn(|| {
            let mut latencies = Latencies::new();
            let mut x = 0x2545_F491_4F6C_DD1Du64;
            while !done.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let found = latencies.time(|| cache.get(&key(x % entries)));
                assert!(found.is_some_and(|found| found.len() == size));
                std::thread::sleep(PACE);
            }
            latencies
        });
        // The floor: the same pacing, timing a BLAKE3 of one entry's size (no lock, no I/O).
        let hasher = scope.spawn(|| {
            let mut latencies = Latencies::new();
            let value = blob(0, size);
            while !done.load(Ordering::Relaxed) {
                latencies.time(|| std::hint::black_box(blake3::hash(&value)));
                std::thread::sleep(PACE);
            }
            latencies
        });
        // Let the threads reach their loops before the compaction starts.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        cache.compact().expect("compact");
        let compaction = start.elapsed();
        done.store(true, Ordering::Relaxed);
        (
            compaction,
            putter.join().expect("putter"),
            getter.join().expect("getter"),
            hasher.join().expect("hasher"),
        )
    });
    drop(cache);
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        fill: fill.summary(),
        compaction,
        puts: puts.summary(),
        gets: gets.summary(),
        hashes: hashes.summary(),
    }
}

fn main() {
    let runs: usize = std::env::var("PCSTORE_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    println!("latency in ms: p99.9 / worst as measured; [p99.9 / worst] without run-queue waits");
    println!(
        "{:<13} {:>21} {:>8} | {:>6} {:>29} | {:>6} {:>29} | {:>29}",
        "store", "fill: put", "compact", "puts", "put", "gets", "get", "hash (floor)"
    );
    let cell = |s: &Summary| {
        format!(
            "{:.2} / {:.2} [{:.2} / {:.2}]",
            s.measured.0, s.measured.1, s.on_store.0, s.on_store.1
        )
    };
    for (entries, size, label) in [
        (100_000, 2048, "100k x 2 KiB"),
        (1_000_000, 100, "1M x 100 B"),
    ] {
        for _ in 0..runs {
            let run = run(entries, size);
            println!(
                "{:<13} {:>21} {:>6.0}ms | {:>6} {:>29} | {:>6} {:>29} | {:>29}",
                label,
                format!("{:.1} [{:.1}]", run.fill.measured.1, run.fill.on_store.1),
                run.compaction.as_secs_f64() * 1e3,
                run.puts.ops,
                cell(&run.puts),
                run.gets.ops,
                cell(&run.gets),
                cell(&run.hashes),
            );
        }
    }
}
