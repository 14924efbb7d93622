//! Crash safety: a child process (this test binary, re-executed) puts, reads, flushes and
//! compacts a store until it is killed with SIGKILL at a random moment; the parent then reopens
//! the store and checks every entry byte for byte, and that every entry the child reported
//! flushed is there.

mod disk_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use disk_support::{decode_payload, dir_bytes, key, payload, Rng, ScratchDir};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PutError};

const CHILD_ENV: &str = "PCSTORE_DISK_CRASH_CHILD";
const KEYS_PER_ROUND: u64 = 48;
const OPS_PER_CHILD: u64 = 200_000;

/// One operation of the child's deterministic script.
#[derive(Clone, Copy, Debug)]
enum Step {
    Put { k: u64, len: usize },
    Get { k: u64 },
    Flush,
    Compact,
}

/// The script of round `round`: the same seed gives the same steps in parent and child.
fn script(round: u64) -> impl Iterator<Item = Step> {
    let mut rng = Rng(0xC0FFEE ^ round.wrapping_mul(0x1234_5678_9ABC));
    (0..OPS_PER_CHILD).map(move |_| {
        let k = round * 1000 + rng.below(KEYS_PER_ROUND);
        match rng.below(100) {
            0..=54 => {
                let len = match rng.below(10) {
                    0 => 64 * 1024 + rng.below(256 * 1024) as usize,
                    1..=3 => 4096 + rng.below(16 * 1024) as usize,
                    _ => 16 + rng.below(2000) as usize,
                };
                Step::Put { k, len }
            }
            55..=79 => Step::Get { k },
            80..=96 => Step::Flush,
            _ => Step::Compact,
        }
    })
}

fn options(max_bytes: u64) -> DiskCacheOptions {
    DiskCacheOptions {
        max_bytes,
        ..DiskCacheOptions::default()
    }
}

/// The child: runs the script, printing `F <step>` after each successful flush. Exits 3 if a
/// read ever returns wrong bytes.
fn run_child(spec: &str) -> ! {
    let mut parts = spec.split(':');
    let round: u64 = parts.next().expect("round").parse().expect("round");
    let max_bytes: u64 = parts.next().expect("budget").parse().expect("budget");
    let dir = parts.next().expect("dir");
    let cache = DiskCache::with_options(dir, options(max_bytes)).expect("child open");
    let mut puts: HashMap<u64, (u64, usize)> = HashMap::new();
    for (index, step) in script(round).enumerate() {
        let index = index as u64;
        match step {
            Step::Put { k, len } => {
                match cache.try_put(key(k), payload(k, index, len)) {
                    Ok(()) => {
                        puts.insert(k, (index, len));
                    }
                    // Refused while compaction catches up (small budget only).
                    Err(PutError::Dropped(_)) if max_bytes < 1 << 30 => {}
                    Err(err) => panic!("child put: {err}"),
                }
            }
            Step::Get { k } => {
                let got = cache.get(&key(k));
                if max_bytes >= 1 << 30 {
                    // No eviction: a get sees exactly this process's latest put of the key.
                    let expected = puts.get(&k).map(|&(v, len)| payload(k, v, len));
                    if got != expected {
                        std::process::exit(3);
                    }
                } else if let Some(bytes) = got {
                    if decode_payload(&bytes).map(|(dk, _)| dk) != Some(k) {
                        std::process::exit(3);
                    }
                }
            }
            Step::Flush => {
                if cache.flush().is_ok() {
                    println!("F {index}");
                }
            }
            Step::Compact => cache.compact().expect("child compact"),
        }
    }
    std::process::exit(0);
}

/// What the parent knows about the versions of one key.
#[derive(Default)]
struct KeyHistory {
    /// Every version put: version -> length.
    versions: HashMap<u64, usize>,
    /// The newest version put before the last reported flush.
    flushed: Option<u64>,
}

/// Runs one child until killed after `kill_after`, returns the last flushed step (if any).
fn run_round(
    exe: &std::path::Path,
    dir: &std::path::Path,
    round: u64,
    budget: u64,
    kill_after: Duration,
) -> Option<u64> {
    let mut child = Command::new(exe)
        .args(["--exact", "--nocapture", "--test-threads=1", TEST_NAME])
        .env(CHILD_ENV, format!("{round}:{budget}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL child"); // std's kill sends SIGKILL
    let status = child.wait().expect("wait child");
    assert_ne!(status.code(), Some(3), "child read wrong bytes");
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.strip_prefix("F ").and_then(|n| n.trim().parse().ok()))
        .last()
}

const TEST_NAME: &str = "killed_writers_never_lose_flushed_entries_or_return_wrong_bytes";

fn check_store(
    dir: &std::path::Path,
    budget: u64,
    history: &HashMap<u64, KeyHistory>,
    require_flushed: bool,
) {
    let cache = DiskCache::with_options(dir, options(budget)).expect("reopen after kill");
    for (&k, known) in history {
        match cache.get(&key(k)) {
            Some(bytes) => {
                let (dk, v) = decode_payload(&bytes).expect("self-consistent payload");
                assert_eq!(dk, k, "bytes of another key");
                let len = known
                    .versions
                    .get(&v)
                    .copied()
                    .expect("a version that was put");
                assert_eq!(bytes.len(), len.max(16), "key {k} version {v}");
                if let Some(flushed) = known.flushed {
                    assert!(
                        v >= flushed || !require_flushed,
                        "key {k}: version {v} older than flushed {flushed}"
                    );
                }
            }
            None => assert!(
                known.flushed.is_none() || !require_flushed,
                "key {k}: flushed version {:?} lost",
                known.flushed
            ),
        }
    }
    assert_eq!(
        cache.metrics().corrupt_dropped,
        0,
        "a torn tail is truncated, not corrupt"
    );
}

fn record_round(
    history: &mut HashMap<u64, KeyHistory>,
    round: u64,
    flushed_at: Option<u64>,
    steps_run: u64,
) {
    for (index, step) in script(round).enumerate().take(steps_run as usize) {
        if let Step::Put { k, len } = step {
            let entry = history.entry(k).or_default();
            entry.versions.insert(index as u64, len);
            if flushed_at.is_some_and(|f| (index as u64) < f) {
                entry.flushed = Some(index as u64);
            }
        }
    }
}

#[test]
fn killed_writers_never_lose_flushed_entries_or_return_wrong_bytes() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut rng = Rng(0xDEAD_BEEF);
    // Rounds with the default budget (no eviction): flushed entries must all survive.
    let dir = ScratchDir::new("crash");
    let budget = 1 << 30;
    let mut history: HashMap<u64, KeyHistory> = HashMap::new();
    let mut flushes_seen = 0;
    for round in 0..40u64 {
        let kill_after = Duration::from_millis(30 + rng.below(300));
        let flushed = run_round(&exe, dir.path(), round, budget, kill_after);
        flushes_seen += u64::from(flushed.is_some());
        // The child cannot have run more steps than its whole script.
        record_round(&mut history, round, flushed, OPS_PER_CHILD);
        check_store(dir.path(), budget, &history, true);
    }
    assert!(
        flushes_seen >= 10,
        "children got to flush in only {flushes_seen} rounds"
    );

    // Rounds with a small budget: eviction and compaction run all the time; entries may be
    // evicted but never wrong, and the directory stays bounded once compacted.
    let small = ScratchDir::new("crash-evict");
    let budget = 1 << 20;
    let mut history: HashMap<u64, KeyHistory> = HashMap::new();
    for round in 100..115u64 {
        let kill_after = Duration::from_millis(30 + rng.below(300));
        let flushed = run_round(&exe, small.path(), round, budget, kill_after);
        record_round(&mut history, round, flushed, OPS_PER_CHILD);
        check_store(small.path(), budget, &history, false);
    }
    let cache = DiskCache::with_options(small.path(), options(budget)).expect("reopen");
    cache.compact().expect("compact");
    assert!(
        dir_bytes(small.path()) <= budget,
        "{} bytes on disk",
        dir_bytes(small.path())
    );
}
