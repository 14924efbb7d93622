//! Another user's directory, files and symlinks are not trusted (issue 10, finding 4); the
//! user's own symlinks keep working.
//!
//! The attacker is a second, non-root user (`pcstore-test`, created with `useradd` when missing)
//! running real processes (`/bin/sh`, `cp`, `ln`, `flock`) through
//! `CommandExt::{uid, gid}`; the victim is this test process. That needs root: under `CI=true`
//! (CI runs as root) a test fails when it cannot create or switch to the user; elsewhere it says
//! why and returns.

mod disk_support;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use disk_support::{key, payload, snapshot, ScratchDir};
use pcstore::{DiskCache, DiskCacheError, DiskCacheOptions, PipelineCacheStore, Refusal};

const OTHER_USER: &str = "pcstore-test";

#[derive(Clone, Copy, Debug)]
struct User {
    uid: u32,
    gid: u32,
}

/// The second user, created if missing; `None` (outside CI only) when that is impossible here.
fn other_user() -> Option<User> {
    static USER: OnceLock<Option<User>> = OnceLock::new();
    *USER.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|value| value == "true");
        let unavailable = |why: String| {
            assert!(!ci, "{why}; under CI=true this test must run");
            eprintln!("skipping: {why}");
            None
        };
        if id(&["-u"]) != Some(0) {
            return unavailable("needs root to create and switch to a second user".into());
        }
        if lookup().is_none() {
            // Another test process may create it at the same moment: look again either way.
            let _ = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home"])
                .args(["--shell", "/usr/sbin/nologin", OTHER_USER])
                .stdin(Stdio::null())
                .status();
        }
        lookup().or_else(|| unavailable(format!("cannot create the user {OTHER_USER}")))
    })
}

fn lookup() -> Option<User> {
    Some(User {
        uid: id(&["-u", OTHER_USER])?,
        gid: id(&["-g", OTHER_USER])?,
    })
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> Option<u32> {
    let output = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

fn this_uid() -> u32 {
    id(&["-u"]).expect("id -u")
}

/// A shell command run by `user` as a separate process (`$1`... are `args`).
fn as_user(user: User, script: &str, args: &[&Path]) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args.iter().map(|path| path.as_os_str()))
        .uid(user.uid)
        .gid(user.gid)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    command
}

fn run_as(user: User, script: &str, args: &[&Path]) {
    let output: Output = as_user(user, script, args)
        .output()
        .expect("run as the other user");
    assert!(
        output.status.success(),
        "as {OTHER_USER}: {script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A scratch directory both users can enter, with `shared` in it: world-writable and sticky,
/// like /tmp.
fn arena(tag: &str) -> (ScratchDir, PathBuf) {
    let scratch = ScratchDir::new(tag);
    chmod(scratch.path(), 0o755);
    let shared = scratch.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir shared");
    chmod(&shared, 0o1777);
    (scratch, shared)
}

/// A real store in `dir` holding `entries`, closed; returns its segment and index, readable by
/// anyone (what an attacker copies).
fn forge(dir: &Path, entries: &[(u64, Vec<u8>)]) -> (PathBuf, PathBuf) {
    {
        let cache = DiskCache::new(dir).expect("open");
        for (k, bytes) in entries {
            cache.try_put(key(*k), bytes.clone()).expect("put");
        }
        cache.flush().expect("flush");
    }
    chmod(dir, 0o755);
    let segment = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension() == Some(OsStr::new("log")))
        .expect("a segment");
    let index = segment.with_extension("idx");
    chmod(&segment, 0o644);
    chmod(&index, 0o644);
    (segment, index)
}

fn evil(k: u64) -> Vec<u8> {
    format!("planted by {OTHER_USER} for key {k}").into_bytes()
}

fn refusal(result: Result<DiskCache, DiskCacheError>) -> Refusal {
    match result {
        Err(DiskCacheError::DirectoryRefused { reason, .. }) => reason,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the store opened"),
    }
}

#[test]
fn another_users_open_directory_is_refused_untouched() {
    let Some(user) = other_user() else {
        return;
    };
    let (scratch, shared) = arena("foreign-dir");
    let (segment, index) = forge(&scratch.path().join("forge"), &[(1, evil(1))]);
    let store = shared.join("store");
    run_as(
        user,
        r#"mkdir -m 0777 "$1" && cp "$2" "$3" "$1"/"#,
        &[&store, &segment, &index],
    );
    let before = snapshot(&store);
    for read_only in [false, true] {
        let options = DiskCacheOptions {
            read_only,
            ..DiskCacheOptions::default()
        };
        let reason = refusal(DiskCache::with_options(&store, options));
        assert_eq!(
            reason,
            Refusal::NotOwned {
                owner: user.uid,
                uid: this_uid()
            }
        );
        assert_eq!(
            snapshot(&store),
            before,
            "nothing read into, created in or removed"
        );
    }
    // Owned by the other user but writable only by them: still not ours.
    run_as(user, r#"chmod 0755 "$1""#, &[&store]);
    assert!(matches!(
        refusal(DiskCache::new(&store)),
        Refusal::NotOwned { .. }
    ));
    let text = DiskCache::new(&store).expect_err("refused").to_string();
    assert!(text.contains(&format!("uid {}", user.uid)), "{text}");
}

#[test]
fn another_users_file_in_our_directory_is_never_trusted() {
    let Some(user) = other_user() else {
        return;
    };
    let (scratch, _) = arena("planted");
    let victim = scratch.path().join("victim");
    {
        let cache = DiskCache::new(&victim).expect("open");
        cache.try_put(key(1), payload(1, 1, 300)).expect("put");
        cache.flush().expect("flush");
    }
    // Forged after the victim's put: its version of key 1 has the newer stamp.
    let (segment, index) = forge(
        &scratch.path().join("forge"),
        &[(1, evil(1)), (77, evil(77))],
    );
    // For a while the directory was open to everyone, and the other user planted a segment.
    chmod(&victim, 0o777);
    run_as(user, r#"cp "$2" "$3" "$1"/"#, &[&victim, &segment, &index]);
    chmod(&victim, 0o700);
    let planted: Vec<PathBuf> = [&segment, &index]
        .iter()
        .map(|path| victim.join(path.file_name().expect("name")))
        .collect();
    let planted_bytes: Vec<Vec<u8>> = planted
        .iter()
        .map(|path| std::fs::read(path).expect("planted"))
        .collect();

    for round in 0..2 {
        let cache = DiskCache::new(&victim).expect("our directory still opens");
        assert_eq!(
            cache.get(&key(1)),
            Some(payload(1, 1, 300)),
            "round {round}: the planted version is never returned"
        );
        assert_eq!(cache.get(&key(77)), None, "round {round}: planted entry");
        let report = cache.durability_report();
        let error = report.last_error.expect("the foreign file is reported");
        assert!(
            error.contains(&format!("belongs to uid {}", user.uid)),
            "{error}"
        );
        cache.compact().expect("compact");
        cache.try_put(key(2), payload(2, 1, 300)).expect("put");
        cache.flush().expect("flush");
        drop(cache);
        for (path, bytes) in planted.iter().zip(&planted_bytes) {
            let meta = std::fs::metadata(path).expect("another user's file is left alone");
            assert_eq!(meta.uid(), user.uid);
            assert!(
                std::fs::read(path).expect("read") == *bytes,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn another_users_compact_lock_is_refused_not_waited_on() {
    let Some(user) = other_user() else {
        return;
    };
    let (scratch, _) = arena("foreign-lock");
    let victim = scratch.path().join("victim");
    let cache = DiskCache::new(&victim).expect("open");
    cache.try_put(key(1), payload(1, 1, 300)).expect("put");
    cache.flush().expect("flush");
    // While the directory is open to everyone, the other user replaces compact.lock with their
    // own (mode 0600) and holds it locked for as long as they like.
    chmod(&victim, 0o777);
    let mut holder = as_user(
        user,
        r#"rm -f "$1/compact.lock" && umask 077 && exec flock -o "$1/compact.lock" sh -c 'echo held; read _ || true'"#,
        &[&victim],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .expect("spawn the lock holder");
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "held", "the other user holds compact.lock");
    chmod(&victim, 0o700);

    // Compaction says why it cannot run instead of waiting and doing nothing, again and again.
    match cache.compact() {
        Err(DiskCacheError::DirectoryRefused {
            reason: Refusal::ForeignFile { name, owner, .. },
            ..
        }) => {
            assert_eq!(name, "compact.lock");
            assert_eq!(owner, user.uid);
        }
        other => panic!("expected a refusal naming compact.lock, got {other:?}"),
    }
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 300)), "reads go on");
    drop(cache);
    // A new opener refuses the store outright (the default store then runs in memory).
    match refusal(DiskCache::new(&victim)) {
        Refusal::ForeignFile { name, owner, uid } => {
            assert_eq!(
                (name.as_str(), owner, uid),
                ("compact.lock", user.uid, this_uid())
            );
        }
        other => panic!("expected ForeignFile, got {other:?}"),
    }
    drop(holder.stdin.take()); // the holder's `read` ends: it lets go
    assert!(holder.wait().expect("wait").success());
    assert!(
        std::fs::metadata(victim.join("compact.lock"))
            .expect("left alone")
            .uid()
            == user.uid,
        "another user's file is never removed"
    );
}

#[test]
fn another_users_symlink_is_refused() {
    let Some(user) = other_user() else {
        return;
    };
    let (scratch, shared) = arena("foreign-link");
    // The victim's real store, which the other user's link points at.
    let real = scratch.path().join("real");
    {
        let cache = DiskCache::new(&real).expect("open");
        cache.try_put(key(1), payload(1, 1, 100)).expect("put");
        cache.flush().expect("flush");
    }
    let link = shared.join("pcstore");
    run_as(user, r#"ln -s "$2" "$1""#, &[&link, &real]);
    let before = snapshot(&real);
    match refusal(DiskCache::new(&link)) {
        Refusal::ForeignSymlink {
            link: found,
            owner,
            uid,
        } => {
            assert_eq!(found, link);
            assert_eq!((owner, uid), (user.uid, this_uid()));
        }
        other => panic!("expected ForeignSymlink, got {other:?}"),
    }
    // Also when the link is only part of the way (a directory below it).
    let deeper = link.join("sub");
    assert!(matches!(
        refusal(DiskCache::new(&deeper)),
        Refusal::ForeignSymlink { .. }
    ));
    assert!(
        !real.join("sub").exists(),
        "nothing created through their link"
    );
    assert_eq!(snapshot(&real), before);
}

#[test]
fn a_store_behind_the_users_own_symlinks_works() {
    // No second user needed: the player moved the cache to a bigger disk,
    // `~/.cache -> ../cachedisk` and `cachedisk/pcstore -> /mnt/big/pcstore`.
    let scratch = ScratchDir::new("own-links");
    let big = scratch.path().join("mnt/big/pcstore");
    std::fs::create_dir_all(&big).expect("mkdir");
    chmod(&big, 0o700);
    let home = scratch.path().join("home");
    std::fs::create_dir_all(home.join("../cachedisk")).expect("mkdir");
    std::os::unix::fs::symlink("../cachedisk", home.join(".cache")).expect("symlink");
    std::os::unix::fs::symlink(&big, scratch.path().join("cachedisk/pcstore")).expect("symlink");
    let through_links = home.join(".cache/pcstore");
    {
        let cache = DiskCache::new(&through_links).expect("open through own symlinks");
        cache.try_put(key(1), payload(1, 1, 100)).expect("put");
        cache.flush().expect("flush");
    }
    assert!(
        big.join("pcstore.tag").exists(),
        "the store lives at the target"
    );
    let cache = DiskCache::new(&through_links).expect("reopen");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 100)));
    cache.compact().expect("compact");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 100)));
    // A link created where the store is to be (the directory does not exist yet).
    let fresh_target = scratch.path().join("mnt/big/fresh");
    std::os::unix::fs::symlink(&fresh_target, scratch.path().join("cachedisk/fresh"))
        .expect("symlink");
    std::fs::create_dir(&fresh_target).expect("mkdir");
    chmod(&fresh_target, 0o700);
    drop(DiskCache::new(home.join(".cache/fresh")).expect("open"));
    assert!(fresh_target.join("pcstore.tag").exists());
}

#[test]
fn a_directory_others_may_write_in_is_refused_until_fixed() {
    let scratch = ScratchDir::new("open-mode");
    let store = scratch.path().join("store");
    {
        let cache = DiskCache::new(&store).expect("open");
        cache.try_put(key(1), payload(1, 1, 100)).expect("put");
        cache.flush().expect("flush");
    }
    for mode in [0o777, 0o770, 0o702, 0o1777] {
        chmod(&store, mode);
        let before = snapshot(&store);
        let err = DiskCache::new(&store).expect_err("others may write: refused");
        let text = err.to_string();
        match err {
            DiskCacheError::DirectoryRefused {
                reason: Refusal::WritableByOthers { mode: found },
                ..
            } => assert_eq!(found, mode),
            other => panic!("expected WritableByOthers, got {other:?}"),
        }
        assert!(text.contains("chmod go-w"), "{text}");
        assert_eq!(snapshot(&store), before);
    }
    chmod(&store, 0o750); // group may read: fine
    let cache = DiskCache::new(&store).expect("fixed");
    assert_eq!(cache.get(&key(1)), Some(payload(1, 1, 100)));
}
