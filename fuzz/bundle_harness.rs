//! The open-a-bundle-from-arbitrary-bytes harness, shared by the cargo-fuzz target
//! (`fuzz_targets/open_bundle.rs`) and by the test that runs it over mutated real bundles
//! (`tests/bundle_fuzz_inputs.rs`).
//!
//! Input layout: byte 0 holds flags (bit 0: require the signature of the test studio key, the
//! one that signed the seeds' signed bundle); the rest is the bundle file. Oracle: opening
//! either refuses the file or gives a store whose every lookup returns nothing or exactly the
//! bytes its index entry locates in the file (decompressed, if the entry says so), with a
//! matching BLAKE3, never other bytes; and nothing panics, whatever the file claims.

use std::sync::atomic::{AtomicU64, Ordering};

use pcstore::bundle::{BundleOptions, BundleSigningKey, BundleStore};
use pcstore::compression::{self, Encoding};
use pcstore::PipelineCacheStore;

pub fn open_bundle_from_bytes(data: &[u8]) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let flags = data.first().copied().unwrap_or(0);
    let file = data.get(1..).unwrap_or(&[]);
    let path = std::env::temp_dir().join(format!(
        "pcstore-fuzz-bundle-{}-{}.pcsb",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, file).expect("write scratch bundle");
    let options = BundleOptions {
        public_key: (flags & 1 != 0)
            .then(|| BundleSigningKey::from_secret_bytes(&[0x5a; 32]).public_key()),
        ..Default::default()
    };
    let opened = BundleStore::open_with_options(&path, options);
    let _ = std::fs::remove_file(&path);
    let Ok(store) = opened else {
        return;
    };
    for entry in store.entries() {
        if let Some(bytes) = store.get(&entry.key) {
            let start = entry.offset as usize;
            let located = file.get(start..start + entry.len as usize);
            let value = match entry.encoding {
                Encoding::Stored => located.map(<[u8]>::to_vec),
                Encoding::Zstd => {
                    located.and_then(|stored| compression::decompress(stored, bytes.len() as u64))
                }
            };
            assert_eq!(
                Some(bytes.clone()),
                value,
                "returned bytes the index does not locate"
            );
            assert_eq!(blake3::hash(&bytes).as_bytes(), &entry.hash);
        }
    }
}
