//! Segments other handles create become visible on a file system with coarse directory
//! timestamps: a loop-mounted ext2 image, whose directory mtimes tick every 4 ms (as ext4's did
//! before Linux 6.13). A reader misses in a tight loop on one thread while, round after round,
//! a writer handle starts a new segment, puts one entry and flushes; each entry must become
//! visible to the reader. A miss that trusted an mtime read in the same tick as the new
//! segment's rename would never list the directory again, and the entry would stay invisible.
//!
//! Needs root (mkfs.ext2 from e2fsprogs, a loop mount). Under `CI=true` it fails when it cannot
//! mount; elsewhere it says so and returns.

mod disk_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore};

const ROUNDS: u64 = 80;
/// How long an entry may stay invisible before the round fails: the store promises a new
/// segment is listed within a second even when the mtime cannot tell; this is ten times that.
const VISIBLE_WITHIN: Duration = Duration::from_secs(10);

/// An ext2 image loop-mounted for one test, unmounted on drop.
struct Ext2 {
    mount_point: PathBuf,
    _scratch: ScratchDir,
}

impl Ext2 {
    fn mount() -> Option<Self> {
        let scratch = ScratchDir::new("ext2");
        let image = scratch.path().join("image");
        let mount_point = scratch.path().join("mnt");
        std::fs::create_dir_all(&mount_point).expect("mkdir mount point");
        std::fs::File::create(&image)
            .and_then(|file| file.set_len(64 << 20))
            .expect("create image");
        // 256-byte inodes: nanosecond fields, so the coarseness seen is the timestamp clock's.
        let made = Command::new("mkfs.ext2")
            .args(["-q", "-F", "-I", "256"])
            .arg(&image)
            .status();
        let mounted = made.as_ref().is_ok_and(|status| status.success()).then(|| {
            Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&mount_point)
                .status()
        });
        match mounted {
            Some(Ok(status)) if status.success() => Some(Self {
                mount_point,
                _scratch: scratch,
            }),
            other => {
                let why = format!("mkfs.ext2: {made:?}, mount -o loop: {other:?}");
                let ci = std::env::var("CI").is_ok_and(|value| value == "true");
                assert!(!ci, "cannot loop-mount an ext2 image under CI: {why}");
                eprintln!("skipping: cannot loop-mount an ext2 image here (needs root): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.mount_point
    }
}

impl Drop for Ext2 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

#[test]
fn new_segments_become_visible_despite_coarse_directory_timestamps() {
    let Some(fs) = Ext2::mount() else {
        return;
    };
    let root = fs.path().join("cache");
    let reader = Arc::new(DiskCache::new(&root).expect("open reader"));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let reader = Arc::clone(&reader);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let absent = key(u64::MAX);
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(reader.get(&absent), None);
            }
        })
    };
    // Failures are collected, not raised here: the poller must stop and the reader close before
    // the file system can be unmounted.
    let mut failure = None;
    for round in 0..ROUNDS {
        // A handle of its own (its own descriptors and locks, as another process has): its
        // first put creates a segment. It stays open through the check, so nothing else
        // changes the directory meanwhile.
        let writer = DiskCache::new(&root).expect("open writer");
        writer
            .try_put(key(round), payload(round, 1, 200))
            .expect("put");
        writer.flush().expect("flush");
        let started = Instant::now();
        let mut found = reader.get(&key(round));
        while found.is_none() && started.elapsed() < VISIBLE_WITHIN {
            std::thread::sleep(Duration::from_millis(1));
            found = reader.get(&key(round));
        }
        if found != Some(payload(round, 1, 200)) {
            failure = Some(match found {
                None => format!(
                    "round {round}: an entry flushed in a new segment stayed invisible to the \
                     reader for {VISIBLE_WITHIN:?}"
                ),
                Some(_) => format!("round {round}: wrong bytes"),
            });
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().expect("poller");
    drop(reader);
    if let Some(failure) = failure {
        panic!("{failure}");
    }
}
