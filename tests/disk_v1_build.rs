//! A real version-1 build and this one sharing a directory (issue 14, "Compression"): builds the
//! library of the last version-1 commit ([`V1_COMMIT`], taken from this repository's history)
//! into a small probe program, then checks both directions:
//! - a store the version-1 build wrote is read by this build and rewritten as version 2 when
//!   compacted;
//! - the version-1 build, opening a directory with version-2 segments, sees none of their
//!   entries, writes and compacts its own, and leaves every version-2 file byte for byte as it
//!   was (this build then still reads its entries and the version-1 build's).
//!
//! Needs `git` and the commit (a clone with history); builds with the version-1 release's own
//! `Cargo.lock` in `target/v1-probe` (its own target directory: about 200 MB and a minute the
//! first time). Without them it fails under `CI=true` and is skipped with a reason otherwise.

mod disk_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use disk_support::ScratchDir;
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};

/// The last commit of format version 1 (main before record compression).
const V1_COMMIT: &str = "0e4d514f8e738abdc4074173f4e4d26852c5ec90";

/// The probe program, built against the version-1 library. Keys are BLAKE3 of their names.
const PROBE_MAIN: &str = r#"
use pcstore::{DiskCache, PipelineCacheStore, PipelineFingerprint};
fn key(name: &str) -> PipelineFingerprint { PipelineFingerprint::of(name.as_bytes()) }
fn value(name: &str) -> Vec<u8> { format!("value of {name} ").repeat(64).into_bytes() }
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cache = DiskCache::new(&args[2]).expect("open");
    match args[1].as_str() {
        "write" => {
            for name in &args[3..] { cache.try_put(key(name), value(name)).expect("put"); }
            cache.flush().expect("flush");
        }
        "probe" => {
            let found = args[3..].iter().filter(|name| cache.get(&key(name)).is_some()).count();
            cache.try_put(key("v1 own"), value("v1 own")).expect("put");
            cache.flush().expect("flush");
            cache.compact().expect("compact");
            let own = cache.get(&key("v1 own")) == Some(value("v1 own"));
            println!("found {found} own {own}");
        }
        _ => panic!("write|probe"),
    }
}
"#;

fn key(name: &str) -> PipelineFingerprint {
    PipelineFingerprint::of(name.as_bytes())
}

/// What the probe puts under `name` (the same function as in [`PROBE_MAIN`]).
fn value(name: &str) -> Vec<u8> {
    format!("value of {name} ").repeat(64).into_bytes()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Fails under `CI=true`, else skips (returns `None`) with `reason` printed.
fn cannot(reason: String) -> Option<PathBuf> {
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot build the version-1 probe under CI: {reason}"
    );
    eprintln!("skipped: cannot build the version-1 probe: {reason}");
    None
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{command:?}: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Builds the probe against [`V1_COMMIT`]'s library; its path, or `None` when skipped.
fn v1_probe() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = target_dir().join("v1-probe");
    let source = work.join("pcstore-v1");
    let probe = work.join("probe");
    let built = (|| -> Result<PathBuf, String> {
        if !source.join("Cargo.toml").exists() {
            let _ = std::fs::remove_dir_all(&source);
            std::fs::create_dir_all(&source).map_err(|err| err.to_string())?;
            let archive = work.join("v1.tar");
            run(Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["archive", "--format=tar", "-o"])
                .arg(&archive)
                .arg(V1_COMMIT))?;
            run(Command::new("tar")
                .arg("-xf")
                .arg(&archive)
                .arg("-C")
                .arg(&source))?;
        }
        std::fs::create_dir_all(probe.join("src")).map_err(|err| err.to_string())?;
        std::fs::write(
            probe.join("Cargo.toml"),
            "[package]\nname = \"pcstore-v1-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\npcstore = { path = \"../pcstore-v1\", \
             default-features = false }\n\n[workspace]\n",
        )
        .map_err(|err| err.to_string())?;
        std::fs::write(probe.join("src/main.rs"), PROBE_MAIN).map_err(|err| err.to_string())?;
        // The version-1 release's own dependency versions.
        std::fs::copy(source.join("Cargo.lock"), probe.join("Cargo.lock"))
            .map_err(|err| err.to_string())?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        run(Command::new(cargo)
            .current_dir(&probe)
            .args(["build", "--quiet"])
            .env("CARGO_TARGET_DIR", work.join("target")))?;
        Ok(work.join("target/debug/pcstore-v1-probe"))
    })();
    match built {
        Ok(path) => Some(path),
        Err(reason) => cannot(reason),
    }
}

fn probe(binary: &Path, args: &[&str]) -> String {
    let output = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the version-1 probe");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Every segment and index in `dir`, with its bytes.
fn store_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.starts_with("seg-")
                .then(|| (name.clone(), std::fs::read(dir.join(&name)).expect("read")))
        })
        .collect()
}

fn version(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"))
}

#[test]
fn a_real_version_1_build_and_this_one_share_a_directory() {
    let Some(binary) = v1_probe() else {
        return;
    };
    let names: Vec<String> = (0..20).map(|i| format!("entry {i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();

    // Version 1 writes; this build reads it all and rewrites it as version 2 when compacting.
    let dir = ScratchDir::new("v1-build-writes");
    let path = dir.path().to_str().expect("utf-8 path");
    probe(&binary, &[&["write", path][..], &name_refs].concat());
    let written = store_files(dir.path());
    assert!(!written.is_empty());
    assert!(written.values().all(|bytes| version(bytes) == 1));
    let cache = DiskCache::new(dir.path()).expect("open a version-1 store");
    for name in &names {
        assert!(cache.get(&key(name)) == Some(value(name)), "{name}");
    }
    cache.compact().expect("compact");
    let compacted = store_files(dir.path());
    assert!(compacted.values().all(|bytes| version(bytes) == 2));
    let v1_bytes: usize = written.values().map(Vec::len).sum();
    let v2_bytes: usize = compacted.values().map(Vec::len).sum();
    assert!(v2_bytes * 2 < v1_bytes, "{v1_bytes} -> {v2_bytes}");
    for name in &names {
        assert!(cache.get(&key(name)) == Some(value(name)), "{name}");
    }
    drop(cache);

    // Version 2 writes; the version-1 build sees nothing of it, works, and deletes nothing.
    let dir = ScratchDir::new("v2-writes");
    let path = dir.path().to_str().expect("utf-8 path");
    {
        let cache = DiskCache::new(dir.path()).expect("open");
        for name in &names {
            cache.try_put(key(name), value(name)).expect("put");
        }
        cache.flush().expect("flush");
        cache.compact().expect("compact");
    }
    let before = store_files(dir.path());
    assert!(before.values().all(|bytes| version(bytes) == 2));
    assert!(before.keys().any(|name| name.ends_with(".idx")));
    assert_eq!(
        probe(&binary, &[&["probe", path][..], &name_refs].concat()).trim(),
        "found 0 own true"
    );
    let after = store_files(dir.path());
    for (name, bytes) in &before {
        assert!(
            after.get(name) == Some(bytes),
            "{name} deleted or changed by the version-1 build"
        );
    }
    assert!(
        after.values().any(|bytes| version(bytes) == 1),
        "the version-1 build wrote its own segment"
    );
    let cache = DiskCache::new(dir.path()).expect("reopen");
    for name in &names {
        assert!(cache.get(&key(name)) == Some(value(name)), "{name}");
    }
    assert!(cache.get(&key("v1 own")) == Some(value("v1 own")));
}
