//! A store touches nothing it does not own (issue 10, finding 2): files whose names pcstore does
//! not generate survive every open, compaction and cleanup; a non-empty directory that is not a
//! store is refused, never "repaired"; a store of a release before the marker is adopted and
//! marked; processes creating one new store at the same moment all succeed.

mod disk_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use disk_support::{age, key, payload, snapshot, ScratchDir};
use pcstore::{DiskCache, DiskCacheError, DiskCacheOptions, PipelineCacheStore, Refusal};

const MARKER: &str = "pcstore.tag";
const MARKER_FIRST_LINE: &str = "pcstore disk store, format family 1";

fn options(max_bytes: u64) -> DiskCacheOptions {
    DiskCacheOptions {
        max_bytes,
        ..DiskCacheOptions::default()
    }
}

fn read_only() -> DiskCacheOptions {
    DiskCacheOptions {
        read_only: true,
        ..DiskCacheOptions::default()
    }
}

/// The reproduction: `PCSTORE_DIR` names an existing directory of someone's files,
/// older than the 2 s grace period for temp files.
fn write_the_users_files(dir: &Path) {
    for (name, content) in [
        ("movie.idx", &b"an index of a movie"[..]),
        ("tmp-upload.part", b"half an upload"),
        ("notes.txt", b"notes"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        age(&path);
    }
}

#[test]
fn a_directory_of_other_files_is_refused_and_nothing_in_it_is_touched() {
    let dir = ScratchDir::new("not-a-store");
    write_the_users_files(dir.path());
    let before = snapshot(dir.path());
    for opts in [DiskCacheOptions::default(), read_only()] {
        let err = DiskCache::with_options(dir.path(), opts).expect_err("not a store: refused");
        match &err {
            DiskCacheError::DirectoryRefused {
                path,
                reason: Refusal::NotAStore { example },
            } => {
                assert_eq!(path, dir.path());
                assert!(
                    ["movie.idx", "tmp-upload.part", "notes.txt"].contains(&example.as_str()),
                    "{example}"
                );
            }
            other => panic!("expected a NotAStore refusal, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("not a pcstore store") && text.contains("PCSTORE_DIR"),
            "{text}"
        );
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            snapshot(dir.path()),
            before,
            "the user's files are untouched"
        );
    }
    // As the issue ran it: the per-user store with PCSTORE_DIR, in a process of its own.
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "open_the_user_cache_as_a_child",
        ])
        .env(CHILD_ENV, "user-cache")
        .env("PCSTORE_DIR", dir.path())
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "child: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the user's files are untouched"
    );
}

const CHILD_ENV: &str = "PCSTORE_DISK_FOREIGN_CHILD";
const READY: &str = "pcstore-child-ready";

/// Child side of the tests here (does nothing when run as a plain test): `user-cache` opens the
/// per-user store and exits 0 if it was refused as not a store; `create:DIR:GO:K` says it is
/// ready, waits for the file GO, creates the store DIR, puts key K and flushes.
#[test]
fn open_the_user_cache_as_a_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    if spec == "user-cache" {
        match DiskCache::in_user_cache() {
            Err(DiskCacheError::DirectoryRefused {
                reason: Refusal::NotAStore { .. },
                ..
            }) => std::process::exit(0),
            other => {
                eprintln!("expected a refusal, got {other:?}");
                std::process::exit(1);
            }
        }
    }
    let mut parts = spec.splitn(4, ':');
    assert_eq!(parts.next(), Some("create"));
    let (root, go, k) = (
        parts.next().expect("dir"),
        parts.next().expect("go file"),
        parts.next().expect("key").parse::<u64>().expect("key"),
    );
    println!("{READY}");
    // A parent that died never writes the go file: do not spin forever then.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !Path::new(go).exists() {
        if std::time::Instant::now() > give_up {
            std::process::exit(3);
        }
        std::thread::yield_now();
    }
    let cache = match DiskCache::new(root) {
        Ok(cache) => cache,
        Err(err) => {
            eprintln!("open: {err}");
            std::process::exit(2);
        }
    };
    cache.try_put(key(k), payload(k, 1, 100)).expect("put");
    cache.flush().expect("flush");
    std::process::exit(0);
}

#[test]
fn files_that_are_not_pcstore_names_survive_opens_compactions_and_cleanup() {
    let dir = ScratchDir::new("strangers");
    let root = dir.path().join("store");
    let budget = 256 << 10;
    {
        let cache = DiskCache::with_options(&root, options(budget)).expect("open");
        for k in 0..10u64 {
            cache.try_put(key(k), payload(k, 1, 3000)).expect("put");
        }
        cache.flush().expect("flush");
    }
    let own = snapshot(&root);
    write_the_users_files(&root);
    // Near misses of pcstore's own names: none of them is pcstore's.
    for name in [
        "seg-1.log",
        "seg-0000000000000ABC-00000001.idx",
        "seg-0000000000000001-00000001.log.bak",
        "seg-00000000000000001-00000001.idx",
        "tmp-0000000000000001-00000001.part",
        "tmp-0000000000000001-00000001.idx.part",
        "compact.lock.old",
    ] {
        let path = root.join(name);
        std::fs::write(&path, format!("not pcstore's: {name}")).expect("write");
        age(&path);
    }
    // A directory under a temp name is not a file pcstore could have left.
    let odd_dir = root.join("tmp-0000000000000002-00000001");
    std::fs::create_dir(&odd_dir).expect("mkdir");
    std::fs::write(odd_dir.join("inside"), b"kept").expect("write");
    let strangers: Vec<(String, Vec<u8>)> = snapshot(&root)
        .into_iter()
        .filter(|(name, _)| !own.contains_key(name))
        .collect();
    assert_eq!(strangers.len(), 10);

    for round in 0..3u64 {
        let cache = DiskCache::with_options(&root, options(budget)).expect("open");
        // Enough to go over the budget: compactions run (in the background and here).
        for k in 0..120u64 {
            let _ = cache.try_put(key(100 + k), payload(100 + k, round, 3000));
        }
        cache.flush().expect("flush");
        cache.compact().expect("compact");
        assert!(
            cache.durability_report().compactions > 0,
            "round {round}: compacted"
        );
        drop(cache);
        let now = snapshot(&root);
        for (name, content) in &strangers {
            assert!(
                now.get(name) == Some(content),
                "round {round}: {name} changed or deleted"
            );
        }
        assert_eq!(
            std::fs::read(odd_dir.join("inside")).expect("still there"),
            b"kept"
        );
    }
}

#[test]
fn a_store_of_an_earlier_release_is_adopted_and_marked() {
    let dir = ScratchDir::new("adopt");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        cache.try_put(key(1), payload(1, 1, 500)).expect("put");
        cache.flush().expect("flush");
    }
    // What an earlier release leaves: no marker; a stale temp file of a writer that died.
    std::fs::remove_file(dir.path().join(MARKER)).expect("an earlier release wrote no marker");
    let stale = dir.path().join("tmp-0000000000000001-00000001");
    std::fs::write(&stale, vec![0; 100]).expect("write");
    age(&stale);

    let reader = DiskCache::with_options(dir.path(), read_only()).expect("read-only open");
    assert_eq!(reader.get(&key(1)), Some(payload(1, 1, 500)));
    drop(reader);
    assert!(
        !dir.path().join(MARKER).exists(),
        "a read-only open writes nothing, not even the marker"
    );
    assert!(stale.exists());

    let cache = DiskCache::new(dir.path()).expect("an earlier release's store keeps working");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 500)));
    let marker = std::fs::read_to_string(dir.path().join(MARKER)).expect("adopted: marked");
    assert_eq!(marker.lines().next(), Some(MARKER_FIRST_LINE));
    assert!(!stale.exists(), "its own leftovers are still cleaned up");
    assert_eq!(cache.durability_report().io_errors, 0);
}

#[test]
fn a_new_store_is_marked_and_a_foreign_marker_is_refused() {
    let dir = ScratchDir::new("marker");
    let root = dir.path().join("new");
    drop(DiskCache::new(&root).expect("create"));
    let marker = root.join(MARKER);
    let text = std::fs::read_to_string(&marker).expect("a new store has the marker");
    assert_eq!(text.lines().next(), Some(MARKER_FIRST_LINE));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&marker).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // An empty existing directory becomes a store as well.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    drop(DiskCache::new(&empty).expect("an empty directory is fine"));
    assert!(empty.join(MARKER).exists());

    std::fs::write(&marker, "some other program's tag\n").expect("write");
    let before = snapshot(&root);
    for opts in [DiskCacheOptions::default(), read_only()] {
        match DiskCache::with_options(&root, opts) {
            Err(DiskCacheError::DirectoryRefused {
                reason: Refusal::BadMarker,
                ..
            }) => {}
            other => panic!("expected a BadMarker refusal, got {other:?}"),
        }
    }
    assert_eq!(snapshot(&root), before);
}

#[test]
fn processes_creating_one_new_store_at_once_all_succeed() {
    const CHILDREN: u64 = 6;
    let dir = ScratchDir::new("create-race");
    for round in 0..4 {
        let root = dir.path().join(format!("store-{round}"));
        let go = dir.path().join(format!("go-{round}"));
        let mut children: Vec<_> = (0..CHILDREN)
            .map(|k| {
                Command::new(std::env::current_exe().expect("test binary"))
                    .args([
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                        "open_the_user_cache_as_a_child",
                    ])
                    .env(
                        CHILD_ENV,
                        format!("create:{}:{}:{k}", root.display(), go.display()),
                    )
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        // Start them together: each has said it is ready before the go file appears.
        for child in &mut children {
            let mut reader = BufReader::new(child.stdout.as_mut().expect("stdout"));
            let mut line = String::new();
            // libtest prints its own lines around the test's, even on the same line.
            while !line.contains(READY) {
                line.clear();
                let read = reader.read_line(&mut line).expect("read");
                assert!(read > 0, "a child ended before it was ready");
            }
        }
        std::fs::write(&go, b"").expect("go");
        for child in children {
            let output = child.wait_with_output().expect("wait");
            assert!(
                output.status.success(),
                "round {round}: a creator failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let cache = DiskCache::new(&root).expect("open");
        for k in 0..CHILDREN {
            assert_eq!(cache.get(&key(k)), Some(payload(k, 1, 100)), "key {k}");
        }
        let marker = std::fs::read_to_string(root.join(MARKER)).expect("marked");
        assert_eq!(marker.lines().next(), Some(MARKER_FIRST_LINE));
    }
}
