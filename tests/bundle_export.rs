//! Exporting a disk store into a bundle: every entry byte for byte, filters, signatures, and
//! an export that leaves the store's recency alone.

mod bundle_support;

use bundle_support::{key, payload, signing_key, ScratchDir};
use pcstore::bundle::{export_disk_cache, BundleOptions, BundleStore};
use pcstore::{DiskCache, PipelineCacheStore};

fn filled_store(dir: &std::path::Path, count: u64) -> DiskCache {
    let disk = DiskCache::new(dir).expect("open disk store");
    for k in 0..count {
        disk.try_put(key(k), payload(k, (k as usize * 131) % 5000))
            .expect("put");
    }
    disk.flush().expect("flush");
    disk
}

#[test]
fn disk_store_to_bundle_round_trips_every_entry_byte_for_byte() {
    let dir = ScratchDir::new("export");
    // Written by one process, exported through another handle (as `pcstore export` would).
    drop(filled_store(&dir.path().join("store"), 300));
    let disk = DiskCache::new(dir.path().join("store")).expect("reopen");
    let path = dir.path().join("export.pcsb");
    let report = export_disk_cache(&disk, &path, |_| true, None).expect("export");
    assert_eq!((report.bundle.entries, report.skipped), (300, 0));

    let bundle = BundleStore::open(&path).expect("open the export");
    for k in 0..300 {
        let expected = payload(k, (k as usize * 131) % 5000);
        assert_eq!(bundle.get(&key(k)), Some(expected), "entry {k}");
    }
    assert_eq!(bundle.metrics().corrupt_dropped, 0);
    assert_eq!(
        bundle.info().payload_bytes,
        (0..300).map(|k| (k * 131) % 5000).sum::<u64>()
    );
}

#[test]
fn exports_can_be_filtered_and_signed() {
    let dir = ScratchDir::new("export-filtered");
    let disk = filled_store(&dir.path().join("store"), 50);
    let path = dir.path().join("even.pcsb");
    let evens: Vec<_> = (0..50).step_by(2).map(key).collect();
    let studio = signing_key(9);
    let report =
        export_disk_cache(&disk, &path, |k| evens.contains(k), Some(&studio)).expect("export");
    assert_eq!(report.bundle.entries, 25);
    assert_eq!(report.bundle.signer, Some(studio.public_key()));
    let bundle = BundleStore::open_with_options(
        &path,
        BundleOptions {
            public_key: Some(studio.public_key()),
            ..Default::default()
        },
    )
    .expect("the studio's key opens it");
    for k in 0..50u64 {
        assert_eq!(bundle.get(&key(k)).is_some(), k % 2 == 0, "entry {k}");
    }
}

#[test]
fn exporting_does_not_count_as_using_the_entries() {
    // Reads that count as uses are written back as a touch record at the next flush; an
    // export must leave eviction's view of what is hot alone, so nothing may be written.
    let dir = ScratchDir::new("export-recency");
    let disk = filled_store(&dir.path().join("store"), 40);
    let before = disk.durability_report().disk_bytes;
    let lookups = disk.metrics().lookups;
    export_disk_cache(&disk, dir.path().join("all.pcsb"), |_| true, None).expect("export");
    disk.flush().expect("flush");
    assert_eq!(
        disk.durability_report().disk_bytes,
        before,
        "no touch record written"
    );
    assert_eq!(disk.metrics().lookups, lookups, "no lookups counted");

    // What an ordinary read does, for contrast: the same flush then records the uses.
    assert!(disk.get(&key(1)).is_some());
    disk.flush().expect("flush");
    assert!(disk.durability_report().disk_bytes > before);
}

#[test]
fn a_failed_export_leaves_the_target_alone() {
    let dir = ScratchDir::new("export-fail");
    let disk = filled_store(&dir.path().join("store"), 3);
    let missing = dir.path().join("no/such/dir/out.pcsb");
    assert!(export_disk_cache(&disk, &missing, |_| true, None).is_err());
    assert!(!missing.exists());
}
