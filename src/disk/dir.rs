//! The store directory: opened once, checked, then used through its descriptor.
//!
//! What pcstore trusts (FORMAT.md, "Ownership"):
//! - the directory belongs to this user (the effective uid) and neither group nor others may
//!   write in it; every symlink on the way to it belongs to this user or root (a store moved to
//!   another disk behind the user's own symlink works; a link another user planted does not);
//! - it carries the marker (`pcstore.tag`), or holds nothing but names pcstore generates (a
//!   store of a release before the marker, or a new empty directory), and then a writable open
//!   adds the marker; a directory holding anything else is refused, never cleaned up;
//! - the marker and `compact.lock` belong to this user (they govern the whole store);
//! - any other file is opened, replaced or removed only if its name is pcstore's own and it
//!   belongs to this user: another user's segment is never read (its entries are never
//!   returned), locked or removed; the store goes on without it.
//!
//! Files are reached through the directory's descriptor, so a directory swapped in at the same
//! path after the checks is not followed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::clock::wall_clock_ns;
use super::error::{DiskCacheError, Refusal};
use super::names::{self, Owned, LOCK_FILE, MARKER_FILE};
use super::report::Stats;
use crate::platform;

/// The marker's first line: names the format family (every format version of this layout of
/// names and headers). The lines after it are for people and are not checked.
const MARKER_MAGIC_LINE: &str = "pcstore disk store, format family 1";

/// The marker's full text.
const MARKER_TEXT: &str = "pcstore disk store, format family 1\n\
    # A pipeline cache written by pcstore: every file in this directory is pcstore's own\n\
    # (FORMAT.md names them). Delete the whole directory to clear the cache.\n";

/// Bytes of the marker read when checking it (its magic line is what matters).
const MARKER_READ_LIMIT: u64 = 256;

/// A file owned by another user, met where only this user's files are trusted.
#[derive(Debug)]
pub struct NotOwned {
    path: PathBuf,
    owner: u32,
    uid: u32,
}

impl std::fmt::Display for NotOwned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} belongs to uid {}, not to this user (uid {}): not trusted, left alone",
            self.path.display(),
            self.owner,
            self.uid
        )
    }
}

impl std::error::Error for NotOwned {}

/// An opened and checked store directory.
#[derive(Debug)]
pub struct StoreDir {
    /// The path as given (messages; "does the path still lead here").
    path: PathBuf,
    handle: platform::Directory,
    /// The effective uid when opened: the owner of everything trusted.
    uid: u32,
    /// Device and inode of the directory opened.
    identity: (u64, u64),
}

/// How a store directory is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Never write anything, not even the marker.
    ReadOnly,
    /// Create the directory if missing, and mark it.
    Write,
    /// Write the marker if missing, but do not create the directory.
    WriteExisting,
}

impl StoreDir {
    /// Opens the store directory at `path` and checks that pcstore may use it (see the module
    /// documentation), writing the marker where one is due.
    ///
    /// Returns the directory and, separately, a failure to write the marker: that one does not
    /// stop the store (a store of an earlier release on a read-only file system still reads),
    /// the caller reports it.
    ///
    /// # Errors
    /// [`DiskCacheError::DirectoryRefused`] when pcstore may not use it;
    /// [`DiskCacheError::Io`] when it cannot be created, opened or listed.
    pub fn open(
        path: &Path,
        access: Access,
    ) -> Result<(Self, Option<DiskCacheError>), DiskCacheError> {
        let uid = platform::effective_uid();
        let refuse = |reason| DiskCacheError::DirectoryRefused {
            path: path.to_path_buf(),
            reason,
        };
        if access == Access::Write {
            // Before creating anything: never create directories through another user's link.
            check_symlinks(path, uid).map_err(refuse)?;
            platform::create_private_dir(path)
                .map_err(|err| DiskCacheError::io("create directory", path, err))?;
        }
        check_symlinks(path, uid).map_err(refuse)?;
        let io_error = |err| DiskCacheError::io("open directory", path, err);
        let handle = platform::Directory::open(path).map_err(io_error)?;
        let status = handle.status().map_err(io_error)?;
        if status.owner != uid {
            return Err(refuse(Refusal::NotOwned {
                owner: status.owner,
                uid,
            }));
        }
        if status.mode & 0o022 != 0 {
            return Err(refuse(Refusal::WritableByOthers { mode: status.mode }));
        }
        for name in [LOCK_FILE, MARKER_FILE] {
            match handle.entry_owner(OsStr::new(name)).map_err(io_error)? {
                Some(owner) if owner != uid => {
                    return Err(refuse(Refusal::ForeignFile {
                        name: name.to_owned(),
                        owner,
                        uid,
                    }))
                }
                _ => {}
            }
        }
        let dir = Self {
            path: path.to_path_buf(),
            handle,
            uid,
            identity: status.identity,
        };
        let marker_error = dir.check_marker(access != Access::ReadOnly)?;
        Ok((dir, marker_error))
    }

    /// The path the directory was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still leads to this directory (not deleted, replaced or re-pointed).
    pub fn still_at_path(&self) -> bool {
        platform::target_identity(&self.path).ok() == Some(self.identity)
    }

    /// The marker is there and right, or the directory holds only pcstore's names (then marked
    /// when `writable`); else the directory is refused.
    fn check_marker(&self, writable: bool) -> Result<Option<DiskCacheError>, DiskCacheError> {
        let refuse = |reason| DiskCacheError::DirectoryRefused {
            path: self.path.clone(),
            reason,
        };
        match self.open_owned(MARKER_FILE, false) {
            Ok(file) => {
                let mut text = Vec::new();
                file.take(MARKER_READ_LIMIT)
                    .read_to_end(&mut text)
                    .map_err(|err| DiskCacheError::io("read marker", self.marker_path(), err))?;
                let first_line = text.split(|&byte| byte == b'\n').next().unwrap_or(&[]);
                if first_line == MARKER_MAGIC_LINE.as_bytes() {
                    Ok(None)
                } else {
                    Err(refuse(Refusal::BadMarker))
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let names = self
                    .handle
                    .names()
                    .map_err(|err| DiskCacheError::io("list directory", &self.path, err))?;
                let stranger = names
                    .iter()
                    .find(|name| name.to_str().and_then(names::classify).is_none());
                if let Some(stranger) = stranger {
                    return Err(refuse(Refusal::NotAStore {
                        example: stranger.to_string_lossy().into_owned(),
                    }));
                }
                if !writable {
                    return Ok(None);
                }
                Ok(self
                    .write_marker()
                    .err()
                    .map(|err| DiskCacheError::io("write marker", self.marker_path(), err)))
            }
            Err(err) if owner_refused(&err).is_some() => Err(refuse(Refusal::ForeignFile {
                name: MARKER_FILE.to_owned(),
                owner: owner_refused(&err).unwrap_or_default(),
                uid: self.uid,
            })),
            Err(err)
                if err.kind() == io::ErrorKind::InvalidInput
                    || err.raw_os_error() == Some(libc::ELOOP) =>
            {
                Err(refuse(Refusal::BadMarker)) // a symlink, directory or FIFO under its name
            }
            Err(err) => Err(DiskCacheError::io("open marker", self.marker_path(), err)),
        }
    }

    fn marker_path(&self) -> PathBuf {
        self.path.join(MARKER_FILE)
    }

    /// Writes the marker atomically (temp file, synced, renamed into place): concurrent
    /// creators each rename an identical marker, so all of them succeed.
    fn write_marker(&self) -> io::Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = names::marker_temp(wall_clock_ns().wrapping_add(unique));
        let file = self.create_new(&temp)?;
        let result = (|| {
            platform::try_lock_exclusive(&file)?;
            platform::write_all_at(&file, MARKER_TEXT.as_bytes(), 0)?;
            platform::sync_data(&file)?;
            self.rename(&temp, MARKER_FILE)?;
            self.handle.sync()
        })();
        if result.is_err() {
            let _ = self.handle.remove_file(OsStr::new(&temp));
        }
        result
    }

    /// Opens the existing regular file `name` if it belongs to this user; another user's file
    /// is an error of kind `PermissionDenied` that [`owner_refused`] recognises.
    ///
    /// # Errors
    /// That one; or the OS error (`NotFound`, `ELOOP` for a symlink, `InvalidInput` for
    /// anything but a regular file).
    pub fn open_owned(&self, name: &str, writable: bool) -> io::Result<File> {
        let file = self.handle.open_file(OsStr::new(name), writable)?;
        self.require_owned(name, platform::file_owner(&file)?)?;
        Ok(file)
    }

    fn require_owned(&self, name: &str, owner: u32) -> io::Result<()> {
        if owner == self.uid {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            NotOwned {
                path: self.path.join(name),
                owner,
                uid: self.uid,
            },
        ))
    }

    /// Creates the new file `name` (mode 0600; fails if the name exists).
    ///
    /// # Errors
    /// The OS error (`AlreadyExists` if the name is taken).
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        self.handle.create_new_file(OsStr::new(name))
    }

    /// Renames `from` to `to` in this directory.
    ///
    /// # Errors
    /// The OS error.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.handle.rename(OsStr::new(from), OsStr::new(to))
    }

    /// Removes `name`, only if it is a name pcstore generates and the file belongs to this
    /// user (the one place the disk tier deletes anything).
    ///
    /// # Errors
    /// `InvalidInput` for a name pcstore does not generate, `NotFound`, another user's file (as
    /// in [`StoreDir::open_owned`]), or the OS error.
    pub fn remove_owned(&self, name: &str) -> io::Result<()> {
        if names::classify(name).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a pcstore name"),
            ));
        }
        match self.handle.entry_owner(OsStr::new(name))? {
            None => Err(io::ErrorKind::NotFound.into()),
            Some(owner) => {
                self.require_owned(name, owner)?;
                self.handle.remove_file(OsStr::new(name))
            }
        }
    }

    /// Opens (creating if needed) `compact.lock`.
    ///
    /// # Errors
    /// [`DiskCacheError::DirectoryRefused`] if another user's lock file took its place (it
    /// could hold compaction off forever); [`DiskCacheError::Io`] if it cannot be opened.
    pub fn open_lock(&self) -> Result<File, DiskCacheError> {
        let path = || self.path.join(LOCK_FILE);
        let file = self
            .handle
            .open_lock_file(OsStr::new(LOCK_FILE))
            .map_err(|err| DiskCacheError::io("open lock", path(), err))?;
        let owner = platform::file_owner(&file)
            .map_err(|err| DiskCacheError::io("open lock", path(), err))?;
        if owner != self.uid {
            return Err(DiskCacheError::DirectoryRefused {
                path: self.path.clone(),
                reason: Refusal::ForeignFile {
                    name: LOCK_FILE.to_owned(),
                    owner,
                    uid: self.uid,
                },
            });
        }
        Ok(file)
    }

    /// The names in the directory that pcstore generates, with what each is; every other name
    /// is left out (and so never touched).
    ///
    /// # Errors
    /// The OS error reading the directory.
    pub fn list(&self) -> io::Result<Vec<(String, Owned)>> {
        Ok(self
            .handle
            .names()?
            .into_iter()
            .filter_map(|name| {
                let name = name.into_string().ok()?;
                let kind = names::classify(&name)?;
                Some((name, kind))
            })
            .collect())
    }
}

/// The owner of the file `err` refused as another user's ([`StoreDir::open_owned`]), if that
/// is what it says.
pub fn owner_refused(err: &io::Error) -> Option<u32> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<NotOwned>())
        .map(|not_owned| not_owned.owner)
}

/// The store directory as opened, opened again (and checked again) when its path comes to lead
/// to another directory: deleted and re-created underneath by another process, say.
pub struct StoreRoot {
    path: PathBuf,
    read_only: bool,
    opened: RwLock<Arc<StoreDir>>,
}

impl StoreRoot {
    /// `dir`, just opened from `path`.
    pub fn new(path: PathBuf, dir: StoreDir, read_only: bool) -> Self {
        Self {
            path,
            read_only,
            opened: RwLock::new(Arc::new(dir)),
        }
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store directory as last opened.
    pub fn dir(&self) -> Arc<StoreDir> {
        Arc::clone(&self.opened.read())
    }

    /// The store directory, opened again if its path now leads to another one; when that fails
    /// (the path leads nowhere, or to a directory refused), the one opened before.
    pub fn current(&self, stats: &Stats) -> Arc<StoreDir> {
        let access = if self.read_only {
            Access::ReadOnly
        } else {
            Access::WriteExisting
        };
        self.reopened(access, stats).unwrap_or_else(|err| {
            if err.kind() != io::ErrorKind::NotFound {
                stats.record_error(&err);
            }
            self.dir()
        })
    }

    /// The directory to create a file in: the one opened, or if the path no longer leads to it,
    /// the directory at the path (created and marked anew if needed, and checked).
    ///
    /// # Errors
    /// As [`StoreDir::open`].
    pub fn for_writing(&self, stats: &Stats) -> Result<Arc<StoreDir>, DiskCacheError> {
        self.reopened(Access::Write, stats)
    }

    fn reopened(&self, access: Access, stats: &Stats) -> Result<Arc<StoreDir>, DiskCacheError> {
        let dir = self.dir();
        if dir.still_at_path() {
            return Ok(dir);
        }
        let (fresh, marker_error) = StoreDir::open(&self.path, access)?;
        if let Some(err) = marker_error {
            stats.record_error(&err);
        }
        let fresh = Arc::new(fresh);
        *self.opened.write() = Arc::clone(&fresh);
        Ok(fresh)
    }
}

/// Refuses a path with a symlink owned by anyone but this user and root.
fn check_symlinks(path: &Path, uid: u32) -> Result<(), Refusal> {
    // Unresolvable (a loop, no permission): opening it reports the error itself.
    let Ok(links) = platform::symlinks_on_path(path) else {
        return Ok(());
    };
    match links
        .into_iter()
        .find(|&(_, owner)| owner != uid && owner != 0)
    {
        Some((link, owner)) => Err(Refusal::ForeignSymlink { link, owner, uid }),
        None => Ok(()),
    }
}
