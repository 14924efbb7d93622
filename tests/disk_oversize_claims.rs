//! Files that claim sizes they cannot have: a 100 GiB sparse index, and checked touch and put
//! headers claiming huge payloads in sparse segments. Opening, reading and compacting such a
//! store costs memory bounded by what can be true: a child process does all of it and reports
//! its peak RSS (getrusage), which must stay under 100 MB; crafted keys are misses, real entries
//! come back byte for byte, and the background compaction the claims set off completes.
//!
//! The child runs under a 4 GiB address-space limit, so an allocation sized by one of these
//! claims fails the same way on every machine (an abort) instead of depending on overcommit.

mod disk_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

const CHILD_ENV: &str = "PCSTORE_DISK_OVERSIZE_CHILD";
const TEST_NAME: &str = "claims_of_huge_sizes_cost_no_memory_and_read_as_misses";
const REAL_ENTRIES: u64 = 20;
const GIB: u64 = 1 << 30;
const PEAK_RSS_LIMIT: u64 = 100_000_000;

fn real_payload(k: u64) -> Vec<u8> {
    payload(k, 1, 1000 + k as usize * 10)
}

fn crafted_key(tag: &str) -> PipelineFingerprint {
    PipelineFingerprint::of(tag.as_bytes())
}

fn check_of(bytes: &[u8]) -> [u8; 8] {
    blake3::hash(bytes).as_bytes()[..8]
        .try_into()
        .expect("8 bytes")
}

/// A version-1 segment header (FORMAT.md).
fn segment_header(id: u64) -> Vec<u8> {
    let mut header = b"PCSTSEG\0".to_vec();
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&id.to_le_bytes());
    let check = check_of(&header);
    header.extend_from_slice(&check);
    header
}

/// A record header whose check is right (FORMAT.md): kind 1 = put, 2 = touch.
fn record_header(kind: u8, payload_len: u64, key: &PipelineFingerprint) -> Vec<u8> {
    let mut header = b"PCR1".to_vec();
    header.extend_from_slice(&[kind, 0, 0, 0]);
    header.extend_from_slice(&payload_len.to_le_bytes());
    header.extend_from_slice(&key.0);
    header.extend_from_slice(&[0xAB; 32]); // payload hash: the payload is a hole anyway
    header.extend_from_slice(&1u64.to_le_bytes()); // stamp
    header.extend_from_slice(&1u64.to_le_bytes()); // access
    let check = check_of(&header);
    header.extend_from_slice(&check);
    assert_eq!(header.len(), 104);
    header
}

/// Writes `parts` (offset, bytes) into a new file of `len` bytes, sparse everywhere else.
fn sparse_file(path: &Path, len: u64, parts: &[(u64, Vec<u8>)]) {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .expect("create crafted file");
    file.set_len(len).expect("extend sparse");
    for (offset, bytes) in parts {
        file.write_all_at(bytes, *offset)
            .expect("write crafted bytes");
    }
}

fn segment_name(id: u64) -> String {
    format!("seg-{id:016x}-00000001.log")
}

/// Real entries, flushed and closed: returns the path of their segment.
fn write_real_entries(dir: &Path) -> PathBuf {
    let cache = DiskCache::new(dir).expect("open");
    for k in 0..REAL_ENTRIES {
        cache.try_put(key(k), real_payload(k)).expect("put");
    }
    cache.flush().expect("flush");
    drop(cache);
    std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .expect("a segment")
}

/// A store whose claims add up to far more than its budget (so opening starts a background
/// compaction): its real segment's index replaced by a 100 GiB sparse file with a header that
/// names the segment, a segment with a touch record claiming 100 GiB, one with a put claiming
/// 100 GiB.
fn craft_huge_claims(dir: &Path) {
    let real = write_real_entries(dir);
    let bytes = std::fs::read(&real).expect("read segment");
    let id = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let index_path = real.with_extension("idx");
    std::fs::remove_file(&index_path).expect("remove real index");
    let index_len = 100 * GIB;
    let mut index_header = b"PCSTIDX\0".to_vec();
    index_header.extend_from_slice(&1u32.to_le_bytes());
    index_header.extend_from_slice(&72u32.to_le_bytes());
    index_header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    index_header.extend_from_slice(&((index_len - 72) / 72).to_le_bytes());
    index_header.extend_from_slice(&id.to_le_bytes());
    index_header.extend_from_slice(&[0u8; 32]);
    sparse_file(&index_path, index_len, &[(0, index_header)]);

    let claim = 100 * GIB;
    let touch = record_header(2, claim, &PipelineFingerprint([0; 32]));
    sparse_file(
        &dir.join(segment_name(1)),
        32 + 104 + claim,
        &[(0, segment_header(1)), (32, touch)],
    );
    let put = record_header(1, claim, &crafted_key("huge put"));
    sparse_file(
        &dir.join(segment_name(2)),
        32 + 104 + claim,
        &[(0, segment_header(2)), (32, put)],
    );
}

/// A store within its budget (so nothing evicts the claims by size alone) with one segment
/// holding a touch record claiming 256 MiB and then a put claiming 512 MiB: more than the
/// entry limit (64 MiB), less than the budget.
fn craft_moderate_claims(dir: &Path) {
    write_real_entries(dir);
    let touch_claim = 256 << 20;
    let put_claim = 512 << 20;
    let put_at = 32 + 104 + touch_claim;
    sparse_file(
        &dir.join(segment_name(3)),
        put_at + 104 + put_claim,
        &[
            (0, segment_header(3)),
            (
                32,
                record_header(2, touch_claim, &PipelineFingerprint([0; 32])),
            ),
            (
                put_at,
                record_header(1, put_claim, &crafted_key("moderate put")),
            ),
        ],
    );
}

fn check_entries(cache: &DiskCache, crafted: &str, when: &str) {
    for k in 0..REAL_ENTRIES {
        assert!(
            cache.get(&key(k)) == Some(real_payload(k)),
            "{when}: real entry {k}"
        );
    }
    assert_eq!(cache.get(&crafted_key(crafted)), None, "{when}: {crafted}");
}

/// The child: opens and reads both stores, lets the background compaction finish in the first
/// and forces one in the second, then prints its peak RSS.
fn run_child(spec: &str) -> ! {
    let (huge, moderate) = spec.split_once('\n').expect("two directories");
    let limit = libc::rlimit {
        rlim_cur: 4 * GIB,
        rlim_max: 4 * GIB,
    };
    // SAFETY: setrlimit reads the struct it is given, which lives across the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit");

    let cache = DiskCache::new(huge).expect("open the store with huge claims");
    check_entries(&cache, "huge put", "after open");
    let started = Instant::now();
    while cache.durability_report().compactions == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the background compaction did not finish: {:?}",
            cache.durability_report()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    check_entries(&cache, "huge put", "after the background compaction");
    drop(cache);

    let cache = DiskCache::new(moderate).expect("open the store with moderate claims");
    check_entries(&cache, "moderate put", "after open");
    cache.compact().expect("compact");
    check_entries(&cache, "moderate put", "after compaction");
    drop(cache);
    let reopened = DiskCache::new(moderate).expect("reopen");
    check_entries(&reopened, "moderate put", "after reopening");
    drop(reopened);

    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given, which lives across the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    println!("peak_rss_kib {}", usage.ru_maxrss);
    std::process::exit(0);
}

#[test]
fn claims_of_huge_sizes_cost_no_memory_and_read_as_misses() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
    let scratch = ScratchDir::new("oversize");
    let huge = scratch.path().join("huge");
    let moderate = scratch.path().join("moderate");
    std::fs::create_dir_all(&huge).expect("mkdir");
    std::fs::create_dir_all(&moderate).expect("mkdir");
    craft_huge_claims(&huge);
    craft_moderate_claims(&moderate);

    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "--nocapture", "--test-threads=1", TEST_NAME])
        .env(
            CHILD_ENV,
            format!("{}\n{}", huge.display(), moderate.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "the child failed (an abort is an allocation sized by a claim): {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let peak_kib: u64 = stdout
        .lines()
        .find_map(|line| line.split("peak_rss_kib ").nth(1))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in the child's output: {stdout}"));
    assert!(
        peak_kib * 1024 < PEAK_RSS_LIMIT,
        "peak RSS {peak_kib} KiB is not under {PEAK_RSS_LIMIT} bytes"
    );
    eprintln!("child peak RSS: {peak_kib} KiB");
}
