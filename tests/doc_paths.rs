//! Every file of this repository that a comment in `src/` names (`tests/...`, `scripts/...`,
//! ...) exists: a doc that sends a reader to a file that is not there (as
//! `src/ffi/version.rs` once did with `tests/ffi_header.rs`) is caught when the file is
//! renamed or removed, not by the next reader.

use std::path::{Path, PathBuf};

/// Folders at the repository's root whose files the sources cite.
const CITED_FOLDERS: [&str; 8] = [
    "tests/",
    "scripts/",
    "benches/",
    "examples/",
    "bindings/",
    "fuzz/",
    "include/",
    "packaging/",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The paths `text` cites: a cited folder at the start of a word, then path characters, without
/// trailing punctuation.
fn cited_paths(text: &str) -> Vec<&str> {
    let mut cited = Vec::new();
    for folder in CITED_FOLDERS {
        for (at, _) in text.match_indices(folder) {
            let starts_word = !matches!(
                text[..at].chars().next_back(),
                Some(c) if c.is_alphanumeric() || "_-./".contains(c)
            );
            if !starts_word {
                continue;
            }
            let len = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
                .unwrap_or(text.len() - at);
            cited.push(text[at..at + len].trim_end_matches('.'));
        }
    }
    cited
}

#[test]
fn every_path_cited_in_src_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "found the sources: {files:?}");
    let mut missing = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for cited in cited_paths(&text) {
            if !root.join(cited).exists() {
                missing.push(format!(
                    "{}: {cited}",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(missing.is_empty(), "cited but missing: {missing:#?}");
}

#[test]
fn cited_paths_are_found_whole_and_only_at_word_starts() {
    assert_eq!(
        cited_paths(
            "see `tests/ffi_version.rs`, and scripts/test.sh. target/tests/x and my_tests/y"
        ),
        ["tests/ffi_version.rs", "scripts/test.sh"]
    );
}
