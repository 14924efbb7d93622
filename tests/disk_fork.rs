//! A store used on both sides of `fork()` without exec (prefork servers, test runners,
//! zygote-style launchers): a helper process (this test binary, re-executed, so the fork does
//! not happen inside the test harness) opens a store, puts and flushes, forks; parent and child
//! each put and flush 300 more entries at the same time. Every entry either side was told is
//! flushed must be found by a fresh opener, and the child closing its copy of the store must
//! leave the parent's segment locked (still the parent's to append to).

mod disk_support;

use std::io::Write;
use std::process::{Command, Stdio};

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore};

const CHILD_ENV: &str = "PCSTORE_DISK_FORK_CHILD";
const TEST_NAME: &str = "a_store_used_on_both_sides_of_fork_keeps_every_acknowledged_entry";
const BEFORE_FORK: u64 = 50;
const PER_SIDE: u64 = 300;

fn len_of(k: u64) -> usize {
    64 + (k * 193 % 2000) as usize
}

/// Puts `keys`, flushes, and prints `A <key>` for each once the flush succeeded (exit 4 if it
/// fails).
fn put_and_flush(cache: &DiskCache, keys: std::ops::Range<u64>) {
    for k in keys.clone() {
        cache
            .try_put(key(k), payload(k, 1, len_of(k)))
            .expect("put");
    }
    if cache.flush().is_err() {
        std::process::exit(4);
    }
    let mut out = std::io::stdout().lock();
    for k in keys {
        writeln!(out, "A {k}").expect("stdout");
    }
    out.flush().expect("stdout");
}

/// Whether another open file description holds an exclusive lock on the file at `path`.
fn exclusively_locked(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).expect("open segment");
    // SAFETY: flock only reads its integer arguments; `file` outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// The helper: puts and flushes, forks, and both sides go on with the same handle; then prints
/// whether the parent's segment is still locked (`L held` or `L lost`). Exits 2 if fork fails,
/// 3 if the child failed.
fn run_forking_process(dir: &str) -> ! {
    let cache = DiskCache::new(dir).expect("open");
    put_and_flush(&cache, 0..BEFORE_FORK);
    std::io::stdout().flush().expect("stdout");
    // SAFETY: fork has no memory-safety preconditions. This process runs only this thread's
    // work now (the harness's main thread just waits for it), and the child keeps to what
    // this test needs.
    let child = unsafe { libc::fork() };
    if child < 0 {
        std::process::exit(2);
    }
    if child == 0 {
        assert!(
            cache.get(&key(0)) == Some(payload(0, 1, len_of(0))),
            "the child reads what the parent flushed"
        );
        put_and_flush(&cache, 1000..1000 + PER_SIDE);
        drop(cache);
        // SAFETY: _exit ends this forked process at once, without running the parent's exit
        // handlers (the test harness's) a second time.
        unsafe { libc::_exit(0) };
    }
    put_and_flush(&cache, 2000..2000 + PER_SIDE);
    let mut status = 0;
    // SAFETY: waitpid writes the child's status into `status`, which outlives the call.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    if waited != child || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        std::process::exit(3);
    }
    // The child has closed its copy of the store: this process still appends to its segment,
    // which must still be locked, or compactions elsewhere would take it as finished.
    let own_suffix = format!("-{:08x}.log", std::process::id());
    let own: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(&own_suffix))
        .collect();
    let held = own.iter().any(|path| exclusively_locked(path));
    println!("L {}", if held { "held" } else { "lost" });
    drop(cache);
    std::process::exit(0);
}

#[test]
fn a_store_used_on_both_sides_of_fork_keeps_every_acknowledged_entry() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_forking_process(&dir);
    }
    let dir = ScratchDir::new("fork");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "--nocapture", "--test-threads=1", TEST_NAME])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the forking helper");
    assert!(
        output.status.success(),
        "the forking helper failed (3: the child failed, 4: a flush failed): {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acknowledged: Vec<u64> = stdout
        .lines()
        .filter_map(|line| line.split("A ").nth(1)?.trim().parse().ok())
        .collect();
    assert_eq!(acknowledged.len() as u64, BEFORE_FORK + 2 * PER_SIDE);
    let cache = DiskCache::new(dir.path()).expect("fresh opener");
    let lost: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|&k| cache.get(&key(k)) != Some(payload(k, 1, len_of(k))))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    assert!(
        stdout.contains("L held"),
        "the child's close released the parent's lock on the segment it still appends to"
    );
}
