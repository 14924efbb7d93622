//! The names pcstore gives files in a store directory, and the one test of whether a name is its
//! own: [`classify`].
//!
//! The disk tier only ever opens, locks, replaces or deletes a name `classify` recognises (and
//! only a file this user owns, see `dir.rs`); any other name in its directory is left alone,
//! whatever it looks like. The names are generated here too, next to their patterns, so the two
//! cannot drift apart.

use crate::platform;

/// What a name pcstore owns is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    /// `seg-<id>-<pid>.log`: a segment.
    Segment,
    /// `seg-<id>-<pid>.idx`: the index of the segment with the same stem.
    Index,
    /// `tmp-<id>-<pid>`, `tmp-<id>-<pid>.idx`, `tmp-<id>-<pid>.tag`: a segment, index or marker
    /// being written, locked by its writer; removed by an opener once unlocked and old.
    Temp,
    /// A file with a fixed role that the disk tier never deletes (the lock, the marker, other
    /// tiers' state files).
    Kept,
}

/// The lock file serialising compactions (and repairs) across processes.
pub const LOCK_FILE: &str = "compact.lock";
/// The file that says "this directory is a pcstore store" (its content: see `dir.rs`).
pub const MARKER_FILE: &str = "pcstore.tag";

/// Prefix of segment and index names.
pub const SEGMENT_PREFIX: &str = "seg-";
/// Suffix of segment names.
pub const SEGMENT_SUFFIX: &str = ".log";
/// Suffix of index names (same stem as the segment).
pub const INDEX_SUFFIX: &str = ".idx";
/// Prefix of files being written.
pub const TEMP_PREFIX: &str = "tmp-";
/// Suffix of a marker being written.
const MARKER_TEMP_SUFFIX: &str = ".tag";

/// The stem of generated names: `<id: 16 hex digits>-<process id: 8 hex digits>`.
const STEM: &[usize] = &[16, 8];

/// A name pattern: `prefix`, then dash-separated groups of lowercase hex digits of the lengths
/// in `hex_groups` (none for a fixed name), then `suffix`.
struct Pattern {
    prefix: &'static str,
    hex_groups: &'static [usize],
    suffix: &'static str,
    kind: Owned,
}

/// Every name pcstore creates in a store directory, and nothing else (FORMAT.md lists them).
/// A file another tier keeps in the store directory is one more row, of kind [`Owned::Kept`].
const OWNED_NAMES: &[Pattern] = &[
    Pattern::new(SEGMENT_PREFIX, STEM, SEGMENT_SUFFIX, Owned::Segment),
    Pattern::new(SEGMENT_PREFIX, STEM, INDEX_SUFFIX, Owned::Index),
    Pattern::new(TEMP_PREFIX, STEM, "", Owned::Temp),
    Pattern::new(TEMP_PREFIX, STEM, INDEX_SUFFIX, Owned::Temp),
    Pattern::new(TEMP_PREFIX, STEM, MARKER_TEMP_SUFFIX, Owned::Temp),
    Pattern::new(LOCK_FILE, &[], "", Owned::Kept),
    Pattern::new(MARKER_FILE, &[], "", Owned::Kept),
    // The remote tier's breaker state shared between processes (src/remote/breaker_file.rs).
    Pattern::new("remote-", &[16], ".state", Owned::Kept),
];

impl Pattern {
    const fn new(
        prefix: &'static str,
        hex_groups: &'static [usize],
        suffix: &'static str,
        kind: Owned,
    ) -> Self {
        Self {
            prefix,
            hex_groups,
            suffix,
            kind,
        }
    }

    fn matches(&self, name: &str) -> bool {
        let Some(middle) = name
            .strip_prefix(self.prefix)
            .and_then(|rest| rest.strip_suffix(self.suffix))
        else {
            return false;
        };
        if self.hex_groups.is_empty() {
            return middle.is_empty();
        }
        let mut groups = middle.split('-');
        self.hex_groups.iter().all(|&digits| {
            groups.next().is_some_and(|group| {
                group.len() == digits
                    && group
                        .bytes()
                        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
            })
        }) && groups.next().is_none()
    }
}

/// What `name` is, if it is exactly a name pcstore generates; `None` for anything else.
pub fn classify(name: &str) -> Option<Owned> {
    OWNED_NAMES
        .iter()
        .find(|pattern| pattern.matches(name))
        .map(|pattern| pattern.kind)
}

/// `<id>-<this process id>`, in lowercase hex.
fn stem(id: u64) -> String {
    format!("{id:016x}-{:08x}", platform::process_id())
}

/// The name of this process's segment `id`.
pub fn segment(id: u64) -> String {
    format!("{SEGMENT_PREFIX}{}{SEGMENT_SUFFIX}", stem(id))
}

/// The name of the index of segment `segment_name` (a name [`classify`] calls a segment).
pub fn index_of(segment_name: &str) -> String {
    let stem = segment_name
        .strip_suffix(SEGMENT_SUFFIX)
        .unwrap_or(segment_name);
    format!("{stem}{INDEX_SUFFIX}")
}

/// The name of the segment index `index_name` belongs to (a name [`classify`] calls an index).
pub fn segment_of_index(index_name: &str) -> String {
    let stem = index_name.strip_suffix(INDEX_SUFFIX).unwrap_or(index_name);
    format!("{stem}{SEGMENT_SUFFIX}")
}

/// The temp name segment `id` is created under.
pub fn segment_temp(id: u64) -> String {
    format!("{TEMP_PREFIX}{}", stem(id))
}

/// A temp name an index is written under (`id`: unique within this process).
pub fn index_temp(id: u64) -> String {
    format!("{TEMP_PREFIX}{}{INDEX_SUFFIX}", stem(id))
}

/// A temp name the marker is written under (`id`: unique within this process).
pub fn marker_temp(id: u64) -> String {
    format!("{TEMP_PREFIX}{}{MARKER_TEMP_SUFFIX}", stem(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_recognised_as_what_they_are() {
        let id = 0x0123_4567_89ab_cdef;
        let segment_name = segment(id);
        assert_eq!(classify(&segment_name), Some(Owned::Segment));
        assert_eq!(classify(&index_of(&segment_name)), Some(Owned::Index));
        assert_eq!(classify(&segment_temp(id)), Some(Owned::Temp));
        assert_eq!(classify(&index_temp(u64::MAX)), Some(Owned::Temp));
        assert_eq!(classify(&marker_temp(0)), Some(Owned::Temp));
        assert_eq!(classify(LOCK_FILE), Some(Owned::Kept));
        assert_eq!(classify(MARKER_FILE), Some(Owned::Kept));
        assert_eq!(classify("remote-0123456789abcdef.state"), Some(Owned::Kept));
        assert_eq!(
            index_of("seg-0000000000000001-00000002.log"),
            "seg-0000000000000001-00000002.idx"
        );
        assert_eq!(segment_of_index(&index_of(&segment_name)), segment_name);
    }

    #[test]
    fn anything_else_is_not_ours() {
        for name in [
            "movie.idx",
            "tmp-upload.part",
            "notes.txt",
            "seg-1.log",
            "seg-.log",
            "seg-0000000000000001-00000001.log.bak",
            "seg-0000000000000001-00000001",
            "seg-00000000000000001-00000001.log",
            "seg-000000000000001-00000001.log",
            "seg-0000000000000001-0000001.log",
            "seg-0000000000000001-00000001-0.log",
            "seg-000000000000000G-00000001.log",
            "seg-0000000000000ABC-00000001.idx",
            "seg-+000000000000001-00000001.log",
            "tmp-0000000000000001-00000001.part",
            "tmp-0000000000000001-00000001.idx.part",
            "tmp-0000000000000001",
            "tmp-",
            "compact.lock.old",
            "xcompact.lock",
            "pcstore.tag~",
            "remote-0123456789abcdef.state.tmp",
            "remote-0123456789ABCDEF.state",
            "remote-123.state",
            "",
        ] {
            assert_eq!(classify(name), None, "{name:?}");
        }
    }
}
