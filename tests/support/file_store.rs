//! A deliberately small file-backed store for the Vulkan tests and demo: one file per key,
//! written to a temporary name and renamed. It exists so a second process can read what the
//! first one saved before pcstore's DiskCache is available; it has no budget, no locking and no
//! fsync, and must not be mistaken for the real disk tier.
#![allow(dead_code)] // each includer uses a different part

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pcstore::{PipelineCacheStore, PipelineFingerprint, PutError};

/// One file per key under a folder.
pub struct FileStore {
    dir: PathBuf,
    puts: AtomicU64,
}

impl FileStore {
    /// Uses (and creates) `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("create store folder");
        Self {
            dir: dir.to_path_buf(),
            puts: AtomicU64::new(0),
        }
    }

    /// Where the blob for a stored key lives (tests damage these files on purpose).
    pub fn path_of(&self, key: &PipelineFingerprint) -> PathBuf {
        self.dir.join(key.to_hex())
    }

    /// Puts accepted by this process.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::SeqCst)
    }
}

impl PipelineCacheStore for FileStore {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        std::fs::read(self.path_of(fp)).ok()
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put(fp, artifact);
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let temporary = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&temporary, &artifact)?;
        std::fs::rename(&temporary, self.path_of(&fp))?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
