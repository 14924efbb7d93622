//! File-system failures: a full disk (ENOSPC on a 1 MiB tmpfs), a read-only file system, a path
//! that cannot be a directory. Errors are reported and counted; nothing panics, nothing already
//! stored is damaged, and gets keep working.
//!
//! The tmpfs tests mount file systems and so need root. Under `CI=true` they fail when mounting
//! is impossible; elsewhere they say so and return.

mod disk_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use disk_support::{key, payload, ScratchDir};
use pcstore::{DiskCache, PipelineCacheStore, PutError};

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _parent: ScratchDir,
}

impl Tmpfs {
    fn mount(tag: &str, size: &str) -> Option<Self> {
        let parent = ScratchDir::new(tag);
        let path = parent.path().join("mnt");
        std::fs::create_dir_all(&path).expect("mkdir mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status();
        match status {
            Ok(status) if status.success() => Some(Self {
                path,
                _parent: parent,
            }),
            other => {
                let ci = std::env::var("CI").is_ok_and(|value| value == "true");
                assert!(!ci, "cannot mount a tmpfs under CI (needs root): {other:?}");
                eprintln!("skipping: cannot mount a tmpfs here (needs root): {other:?}");
                None
            }
        }
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn blob(k: u64) -> Vec<u8> {
    payload(k, 1, 64 * 1024)
}

#[test]
fn a_full_disk_refuses_puts_and_keeps_what_is_stored() {
    let Some(fs) = Tmpfs::mount("enospc", "1m") else {
        return;
    };
    let root = fs.path.join("cache");
    let cache = DiskCache::new(&root).expect("open on tmpfs");
    let mut accepted = Vec::new();
    let mut full = None;
    for k in 0..64u64 {
        match cache.try_put(key(k), blob(k)) {
            Ok(()) => accepted.push(k),
            Err(PutError::Io(err)) => {
                full = Some(err);
                break;
            }
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    let err = full.expect("a 1 MiB file system fills up");
    assert_eq!(err.raw_os_error(), Some(libc_enospc()), "{err}");
    assert!(!accepted.is_empty());
    // More puts keep failing cleanly; gets of what was stored keep working.
    for k in 100..105u64 {
        assert!(matches!(
            cache.try_put(key(k), blob(k)),
            Err(PutError::Io(_))
        ));
    }
    for &k in &accepted {
        assert!(cache.get(&key(k)) == Some(blob(k)), "key {k}");
    }
    let metrics = cache.metrics();
    assert!(metrics.rejected_puts >= 6);
    assert_eq!(metrics.entries, accepted.len() as u64);
    let report = cache.durability_report();
    assert!(report.io_errors >= 6);
    assert!(report.last_error.is_some());
    // What was accepted becomes durable: flush works (tmpfs needs no new blocks for it).
    cache.flush().expect("flush of accepted puts");
    drop(cache);
    let reopened = DiskCache::new(&root).expect("reopen full store");
    for &k in &accepted {
        assert!(
            reopened.get(&key(k)) == Some(blob(k)),
            "key {k} after reopen"
        );
    }
    assert_eq!(
        reopened.metrics().corrupt_dropped,
        0,
        "failed puts left no damage"
    );
}

fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}

#[test]
fn a_read_only_file_system_serves_gets_and_refuses_puts() {
    let Some(fs) = Tmpfs::mount("erofs", "4m") else {
        return;
    };
    let root = fs.path.join("cache");
    {
        let cache = DiskCache::new(&root).expect("open");
        for k in 0..4u64 {
            cache.try_put(key(k), blob(k)).expect("put");
        }
        cache.flush().expect("flush");
    }
    fs.remount_read_only();
    let cache = DiskCache::new(&root).expect("a read-only file system still opens");
    for k in 0..4u64 {
        assert!(cache.get(&key(k)) == Some(blob(k)), "key {k}");
    }
    match cache.try_put(key(9), blob(9)) {
        Err(PutError::Io(err)) => assert_eq!(err.raw_os_error(), Some(30), "EROFS: {err}"),
        other => panic!("expected an EROFS error, got {other:?}"),
    }
    assert!(cache.flush().is_ok(), "nothing accepted, nothing to flush");
    let err = cache.compact().expect_err("compaction cannot write");
    assert_eq!(err.raw_os_error(), Some(30), "{err}");
    assert_eq!(cache.metrics().rejected_puts, 1);
}

#[test]
fn a_path_that_cannot_be_a_directory_is_a_clear_error() {
    let dir = ScratchDir::new("notdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let err = DiskCache::new(Path::new(&file).join("cache")).expect_err("not a directory");
    let io: std::io::Error = err.into();
    assert!(io.to_string().contains("create directory"), "{io}");
}
