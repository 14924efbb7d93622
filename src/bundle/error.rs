//! Why a bundle could not be opened or written.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::fingerprint::PipelineFingerprint;

/// Why a bundle was refused at open, or could not be written.
///
/// A bundle is either accepted whole at open (header, index and signature all check) or
/// refused with one of these; damage inside a record's payload is found when that record is
/// read, and makes only that lookup a miss.
#[derive(Debug)]
#[non_exhaustive]
pub enum BundleError {
    /// An operating-system call failed on `path`.
    Io {
        /// What was being done ("open bundle", "read index", ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file does not start with the bundle magic.
    NotABundle,
    /// A bundle of a format version this library does not read (a newer tool wrote it).
    UnsupportedVersion {
        /// The version the file declares.
        found: u32,
    },
    /// The file is shorter than its header says (a copy or download cut short).
    Truncated {
        /// Bytes the header declares (or the header's own length, if even that is cut).
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The file is longer than its header says (something appended to it).
    TrailingBytes {
        /// Bytes the header declares.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The header fails its check or describes an impossible layout.
    HeaderCorrupt(&'static str),
    /// The index does not match the BLAKE3 the header holds.
    IndexCorrupt,
    /// An index entry is malformed: out of key order, of an unknown kind, or its payload lies
    /// outside the records or overlaps another's.
    BadEntry {
        /// The entry's position in the index (for overlaps and gaps: in payload order).
        position: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A public key is required and the bundle carries no signature.
    Unsigned,
    /// The bundle is signed, by another key than the one required.
    WrongKey {
        /// The public key the bundle says signed it.
        found: [u8; 32],
    },
    /// The signature does not verify: the bundle was changed after signing, or the signature
    /// block is damaged.
    BadSignature,
    /// The public key given in the options is not a valid Ed25519 public key.
    InvalidPublicKey,
    /// A writer was given the same key twice.
    DuplicateKey(PipelineFingerprint),
}

impl BundleError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, source } => {
                write!(f, "bundle: {op} {}: {source}", path.display())
            }
            Self::NotABundle => f.write_str("bundle: not a pcstore bundle (wrong magic)"),
            Self::UnsupportedVersion { found } => write!(
                f,
                "bundle: format version {found} is not supported (this library reads versions {} \
                 and {})",
                super::format::VERSION_1,
                super::format::VERSION
            ),
            Self::Truncated { expected, actual } => write!(
                f,
                "bundle: truncated: {actual} bytes where the header declares {expected}"
            ),
            Self::TrailingBytes { expected, actual } => write!(
                f,
                "bundle: {actual} bytes where the header declares {expected} (bytes appended)"
            ),
            Self::HeaderCorrupt(why) => write!(f, "bundle: corrupt header: {why}"),
            Self::IndexCorrupt => f.write_str("bundle: corrupt index (BLAKE3 mismatch)"),
            Self::BadEntry { position, reason } => {
                write!(f, "bundle: bad index entry {position}: {reason}")
            }
            Self::Unsigned => {
                f.write_str("bundle: unsigned, and a signature by the configured key is required")
            }
            Self::WrongKey { found } => write!(
                f,
                "bundle: signed by another key ({}) than the configured one",
                hex(found)
            ),
            Self::BadSignature => f.write_str(
                "bundle: the signature does not verify (changed after signing, or damaged)",
            ),
            Self::InvalidPublicKey => {
                f.write_str("bundle: the configured public key is not a valid Ed25519 key")
            }
            Self::DuplicateKey(key) => {
                write!(f, "bundle: key {} added twice", key.to_hex())
            }
        }
    }
}

impl std::error::Error for BundleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<BundleError> for io::Error {
    fn from(err: BundleError) -> Self {
        let kind = match &err {
            BundleError::Io { source, .. } => source.kind(),
            BundleError::InvalidPublicKey | BundleError::DuplicateKey(_) => {
                io::ErrorKind::InvalidInput
            }
            BundleError::UnsupportedVersion { .. } => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}
