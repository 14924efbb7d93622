//! Errors of the disk tier.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a disk-cache operation failed. Every variant maps to an [`io::ErrorKind`] ([`Self::kind`])
/// so callers (the C layer) can classify it without matching on text.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiskCacheError {
    /// An operating-system call failed on `path`.
    Io {
        /// What was being done ("create directory", "sync segment", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The store was opened read-only and the operation would write.
    ReadOnly,
    /// No cache directory could be derived from the environment (`in_user_cache`).
    NoCacheDirectory,
    /// A file this process wrote vanished or was replaced (directory deleted or reset
    /// underneath): what was written to it is not durable.
    DirectoryChanged {
        /// The file found missing or replaced.
        path: PathBuf,
    },
    /// The directory is not one pcstore may use, and nothing in it was read, written or
    /// deleted: it belongs to another user or others may write in it, a symlink on the way
    /// belongs to another user, it holds files pcstore did not create, or another user wrote
    /// the files the whole store relies on. Callers that can do without the disk tier (the
    /// default store, the Vulkan layer) go on in memory and report this once.
    DirectoryRefused {
        /// The store directory as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: Refusal,
    },
}

/// Why a directory was refused ([`DiskCacheError::DirectoryRefused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The directory belongs to another user.
    NotOwned {
        /// Its owner's user id.
        owner: u32,
        /// This process's effective user id.
        uid: u32,
    },
    /// Group or others may write in the directory (they could plant or delete entries).
    WritableByOthers {
        /// Its permission bits.
        mode: u32,
    },
    /// A symlink on the way to the directory belongs to a user other than this one and root
    /// (whoever owns it decides where the store is).
    ForeignSymlink {
        /// The symlink.
        link: PathBuf,
        /// Its owner's user id.
        owner: u32,
        /// This process's effective user id.
        uid: u32,
    },
    /// The directory holds files pcstore did not create and has no pcstore marker: it is not
    /// a store, and pcstore never uses or cleans up what it did not create.
    NotAStore {
        /// One of the names pcstore does not recognise.
        example: String,
    },
    /// The marker (`pcstore.tag`) is not pcstore's marker of this format family: damaged, not
    /// a regular file, or written by an incompatible pcstore.
    BadMarker,
    /// A file the whole store relies on (the marker or `compact.lock`) belongs to another user.
    ForeignFile {
        /// Its name in the directory.
        name: String,
        /// Its owner's user id.
        owner: u32,
        /// This process's effective user id.
        uid: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOwned { owner, uid } => write!(
                f,
                "it belongs to uid {owner}, not to this user (uid {uid}); pcstore only uses a \
                 directory of its own: set PCSTORE_DIR to one"
            ),
            Self::WritableByOthers { mode } => write!(
                f,
                "its mode {mode:o} lets other users write in it; if the directory and \
                 everything in it are yours, `chmod go-w` it, else set PCSTORE_DIR elsewhere"
            ),
            Self::ForeignSymlink { link, owner, uid } => write!(
                f,
                "the symlink {} on the way belongs to uid {owner}, neither this user \
                 (uid {uid}) nor root; set PCSTORE_DIR to a path you control",
                link.display()
            ),
            Self::NotAStore { example } => write!(
                f,
                "it is not empty and not a pcstore store (it holds {example:?} and no \
                 pcstore.tag); pcstore never uses or cleans up a directory it did not create: \
                 set PCSTORE_DIR to an empty or new directory"
            ),
            Self::BadMarker => f.write_str(
                "its pcstore.tag is not the marker of this pcstore format family (damaged, or \
                 written by an incompatible pcstore); remove the directory to start afresh",
            ),
            Self::ForeignFile { name, owner, uid } => write!(
                f,
                "{name} in it belongs to uid {owner}, not to this user (uid {uid}): another \
                 user wrote into this store; remove the directory to start afresh"
            ),
        }
    }
}

impl DiskCacheError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The [`io::ErrorKind`] this error corresponds to.
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Io { source, .. } => source.kind(),
            Self::ReadOnly | Self::DirectoryRefused { .. } => io::ErrorKind::PermissionDenied,
            Self::NoCacheDirectory | Self::DirectoryChanged { .. } => io::ErrorKind::NotFound,
        }
    }

    /// The raw OS error number, if this came from the OS (e.g. `ENOSPC`, `EROFS`, `EACCES`).
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for DiskCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, source } => {
                write!(f, "disk cache: {op} {}: {source}", path.display())
            }
            Self::ReadOnly => f.write_str("disk cache: the store is read-only"),
            Self::NoCacheDirectory => f.write_str(
                "disk cache: none of PCSTORE_DIR, XDG_CACHE_HOME or HOME is set to a directory",
            ),
            Self::DirectoryChanged { path } => write!(
                f,
                "disk cache: {} was removed or replaced underneath; its unflushed writes are lost",
                path.display()
            ),
            Self::DirectoryRefused { path, reason } => write!(
                f,
                "disk cache: refusing to use {}: {reason}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DiskCacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<DiskCacheError> for io::Error {
    fn from(err: DiskCacheError) -> Self {
        io::Error::new(err.kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_os_errors_survive_conversion() {
        let full = DiskCacheError::io("append", "/x", io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(full.raw_os_error(), Some(libc::ENOSPC));
        let kind = full.kind();
        let converted = io::Error::from(full);
        assert_eq!(converted.kind(), kind);
        assert!(converted.to_string().contains("append /x"), "{converted}");
        assert!(converted
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DiskCacheError>())
            .is_some_and(|inner| inner.raw_os_error() == Some(libc::ENOSPC)));
        assert_eq!(
            DiskCacheError::ReadOnly.kind(),
            io::ErrorKind::PermissionDenied
        );
        let gone = DiskCacheError::DirectoryChanged { path: "/x".into() };
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert_eq!(gone.raw_os_error(), None);
    }
}
