//! Building a bundle from a disk store (what `pcstore export` does).

use std::path::Path;

use super::{BundleError, BundleInfo, BundleSigningKey, BundleWriter};
use crate::disk::DiskCache;
use crate::fingerprint::PipelineFingerprint;

/// What [`export_disk_cache`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportReport {
    /// The bundle written.
    pub bundle: BundleInfo,
    /// Selected entries left out because they vanished (evicted or compacted away by another
    /// process) or failed their check between listing and reading.
    pub skipped: u64,
}

/// Writes a bundle at `path` holding every entry of `disk` whose key `keep` selects (`|_|
/// true` for all), signed with `signing_key` if one is given.
///
/// Entries are read as [`DiskCache::peek`] reads them: verified, and without counting as a use,
/// so exporting does not make every entry look recently used to eviction. Other processes may
/// keep using the store meanwhile. Payloads are written in key order, so a reader's layout
/// check at open runs over presorted payloads.
///
/// # Errors
/// [`BundleError::Io`] when the bundle cannot be written (the target is then unchanged).
pub fn export_disk_cache(
    disk: &DiskCache,
    path: impl AsRef<Path>,
    mut keep: impl FnMut(&PipelineFingerprint) -> bool,
    signing_key: Option<&BundleSigningKey>,
) -> Result<ExportReport, BundleError> {
    let mut keys = disk.keys();
    keys.retain(|key| keep(key));
    keys.sort_unstable();
    let mut writer = BundleWriter::create(path)?;
    let mut skipped = 0;
    for key in keys {
        match disk.peek(&key) {
            Some(payload) => writer.add(key, &payload)?,
            None => skipped += 1,
        }
    }
    let bundle = match signing_key {
        Some(key) => writer.finish_signed(key)?,
        None => writer.finish()?,
    };
    Ok(ExportReport { bundle, skipped })
}
