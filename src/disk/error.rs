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
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Io { source, .. } => source.kind(),
            Self::ReadOnly => io::ErrorKind::PermissionDenied,
            Self::NoCacheDirectory | Self::DirectoryChanged { .. } => io::ErrorKind::NotFound,
        }
    }

    /// The raw OS error number, if this came from the OS (e.g. `ENOSPC`, `EROFS`, `EACCES`).
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
