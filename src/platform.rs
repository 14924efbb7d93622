//! Operating-system specifics behind the disk tier, in one place so other platforms can follow.
//!
//! Everything here is Unix (Linux first): advisory `flock` locks, `fdatasync`/`fsync`,
//! `O_NOFOLLOW` opens with private modes, positioned vectored I/O, file identities and owners,
//! and [`Directory`]: names inside one opened directory reached through its descriptor.
//! Files are always opened with `O_CLOEXEC` (the standard library's default), so a child
//! process never inherits a lock.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Mode of every file the disk tier creates: the owner only.
const FILE_MODE: u32 = 0o600;
/// Mode of every directory the disk tier creates: the owner only.
const DIR_MODE: u32 = 0o700;

/// Creates `path` and missing parents with mode 0700 (existing directories keep their mode: the
/// caller checks them, see [`Directory::status`]).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

fn flock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock only reads its integer arguments; the descriptor is owned by `file`,
        // which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Takes an exclusive `flock` if nobody holds one; `Ok(false)` if somebody does.
///
/// `flock` locks belong to the open file description and vanish when its last descriptor
/// closes, so a process killed while holding one never blocks anybody.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    flock(file, libc::LOCK_EX | libc::LOCK_NB)
}

/// Takes a shared `flock` if nobody holds an exclusive one; `Ok(false)` otherwise.
pub fn try_lock_shared(file: &File) -> io::Result<bool> {
    flock(file, libc::LOCK_SH | libc::LOCK_NB)
}

/// Tries for an exclusive `flock` for up to `wait`, polling; `Ok(false)` if it stayed taken.
pub fn lock_exclusive_within(file: &File, wait: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + wait;
    loop {
        if try_lock_exclusive(file)? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Releases this descriptor's `flock`.
pub fn unlock(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_UN).map(|_| ())
}

/// Whether some other open file description holds an exclusive lock on `file` (a live writer).
/// Probes with a shared lock and drops it at once.
pub fn is_write_locked(file: &File) -> io::Result<bool> {
    if try_lock_shared(file)? {
        unlock(file)?;
        Ok(false)
    } else {
        Ok(true)
    }
}

/// `fdatasync`: the file's data and the metadata needed to read it back reach the disk.
pub fn sync_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// Starts writeback of `len` bytes at `offset` without waiting for it (`sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`), so a later `fdatasync` finds less to write. Durability still comes
/// only from [`sync_data`]; errors here are reported there too, so callers may ignore them.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "range out of bounds",
        ));
    };
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is owned by
    // `file`, which outlives the call.
    let rc = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere there is no portable early-writeback call: the next `fdatasync` does all the work.
#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Ok(())
}

/// Stops reads through `file` from updating the file's access time (`O_NOATIME`, which only the
/// file's owner may set). pcstore keeps access times of its own; with `relatime`, a read after a
/// write would otherwise update the inode, which needs a journal handle and can wait for another
/// file's `fdatasync` to commit. Best effort: where it cannot be set, reads stay as they were.
#[cfg(target_os = "linux")]
pub fn skip_access_time(file: &File) {
    // SAFETY: F_GETFL and F_SETFL take and return integer flags only; the descriptor is owned
    // by `file`, which outlives both calls.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NOATIME);
        }
    }
}

/// Elsewhere access times are left to the mount options.
#[cfg(not(target_os = "linux"))]
pub fn skip_access_time(_file: &File) {}

/// `fsync` of a directory, so names created, renamed or removed in it survive power loss.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)?;
    dir.sync_all()
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
pub fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

/// Reads `head` then `body` from `offset` with as few `preadv` calls as the kernel allows
/// (one, normally), so a record header and its payload arrive in one system call.
pub fn read_two_exact_at(
    file: &File,
    head: &mut [u8],
    body: &mut [u8],
    offset: u64,
) -> io::Result<()> {
    let total = head.len() + body.len();
    transfer_all(
        total,
        offset,
        io::ErrorKind::UnexpectedEof,
        |done, position| {
            let (iov, count) = remaining_iovecs_mut(head, body, done);
            // SAFETY: `iov` holds `count` valid (pointer, length) pairs into `head`/`body`, which are
            // exclusively borrowed for the duration of the call.
            unsafe { libc::preadv(file.as_raw_fd(), iov.as_ptr(), count, position) }
        },
    )
}

/// Writes `head` then `body` at `offset` with `pwritev`, so a payload is never copied to sit
/// behind its header.
pub fn write_two_all_at(file: &File, head: &[u8], body: &[u8], offset: u64) -> io::Result<()> {
    let total = head.len() + body.len();
    transfer_all(total, offset, io::ErrorKind::WriteZero, |done, position| {
        let (iov, count) = remaining_iovecs(head, body, done);
        // SAFETY: `iov` holds `count` valid (pointer, length) pairs into `head`/`body`, which are
        // borrowed for the duration of the call; pwritev only reads them.
        unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), count, position) }
    })
}

/// Repeats a positioned transfer until `total` bytes from `offset` are moved: `call(done,
/// position)` moves bytes from `done` bytes in and returns the count, or -1 with `errno` set.
/// Interrupted calls are retried; a call that moves nothing is `at_zero`.
fn transfer_all(
    total: usize,
    offset: u64,
    at_zero: io::ErrorKind,
    mut call: impl FnMut(usize, libc::off_t) -> isize,
) -> io::Result<()> {
    let mut done = 0usize;
    while done < total {
        let position = offset
            .checked_add(done as u64)
            .and_then(|p| libc::off_t::try_from(p).ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        let n = call(done, position);
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(at_zero.into());
        }
        done += n as usize;
    }
    Ok(())
}

/// Writes all of `buf` at `offset`.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

fn remaining_iovecs(head: &[u8], body: &[u8], done: usize) -> ([libc::iovec; 2], libc::c_int) {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty, empty];
    let mut count = 0;
    let parts: [&[u8]; 2] = if done < head.len() {
        [&head[done..], body]
    } else {
        [&body[done - head.len()..], &[]]
    };
    for part in parts {
        if !part.is_empty() {
            iov[count] = libc::iovec {
                iov_base: part.as_ptr() as *mut libc::c_void,
                iov_len: part.len(),
            };
            count += 1;
        }
    }
    (iov, count as libc::c_int)
}

fn remaining_iovecs_mut(
    head: &mut [u8],
    body: &mut [u8],
    done: usize,
) -> ([libc::iovec; 2], libc::c_int) {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty, empty];
    let mut count = 0;
    let head_len = head.len();
    let parts: [&mut [u8]; 2] = if done < head_len {
        [&mut head[done..], body]
    } else {
        [&mut body[done - head_len..], &mut []]
    };
    for part in parts {
        if !part.is_empty() {
            iov[count] = libc::iovec {
                iov_base: part.as_mut_ptr().cast(),
                iov_len: part.len(),
            };
            count += 1;
        }
    }
    (iov, count as libc::c_int)
}

/// The first offset at or after `from` where `file` holds data (`lseek(SEEK_DATA)`), or `None`
/// if only a hole (or the end) follows. Lets a scan for records skip the holes of a sparse
/// file instead of reading them: a crafted file can claim terabytes that occupy nothing.
#[cfg(target_os = "linux")]
pub fn next_data(file: &File, from: u64) -> io::Result<Option<u64>> {
    let Ok(offset) = libc::off64_t::try_from(from) else {
        return Ok(None);
    };
    // SAFETY: lseek64 only reads its integer arguments; the descriptor is owned by `file`,
    // which outlives the call. (The file position it moves is not used: reads are positioned.)
    let found = unsafe { libc::lseek64(file.as_raw_fd(), offset, libc::SEEK_DATA) };
    if found >= 0 {
        return Ok(Some(found as u64));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENXIO) => Ok(None),
        // A file system without hole reporting: treat everything as data.
        Some(libc::EINVAL) => Ok(Some(from)),
        _ => Err(err),
    }
}

/// Elsewhere every byte is treated as data.
#[cfg(not(target_os = "linux"))]
pub fn next_data(_file: &File, from: u64) -> io::Result<Option<u64>> {
    Ok(Some(from))
}

/// Device and inode of an open file.
pub fn file_identity(file: &File) -> io::Result<(u64, u64)> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// Device and inode of the file at `path`, not following a final symlink.
pub fn path_identity(path: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Modification time of `path` in nanoseconds (a cheap "did the directory change" probe).
pub fn modified_ns(path: &Path) -> io::Result<i128> {
    let meta = std::fs::metadata(path)?;
    Ok(i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()))
}

/// Forks counted by the `pthread_atfork` child handler (see [`fork_generation`]).
static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COUNT_FORKS: std::sync::Once = std::sync::Once::new();

/// Runs in the child right after `fork()`: one atomic add, safe there even if the parent had
/// other threads.
extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A number that changes in a process created by `fork()` (without exec) after the first call
/// in its parent: how a process tells that state it holds was inherited. An atomic load once
/// the first call has registered a `pthread_atfork` child handler.
#[cfg(target_os = "linux")]
pub fn fork_generation() -> u64 {
    COUNT_FORKS.call_once(|| {
        // SAFETY: the handler is a plain function of this library that only does an atomic add.
        // (glibc unregisters it if this library is unloaded.) Registration fails only for want
        // of memory; forks then go unnoticed, as they did before this existed.
        let _ = unsafe {
            libc::pthread_atfork(
                None,
                None,
                Some(count_fork_in_child as unsafe extern "C" fn()),
            )
        };
    });
    FORKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Elsewhere forks are not noticed.
#[cfg(not(target_os = "linux"))]
pub fn fork_generation() -> u64 {
    0
}

/// Device and inode of what `path` leads to, following symlinks.
pub fn target_identity(path: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// The current process id.
pub fn process_id() -> u32 {
    std::process::id()
}

/// The effective user id: who owns the files this process creates, and whose files it trusts.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The user owning an open file.
pub fn file_owner(file: &File) -> io::Result<u32> {
    Ok(file.metadata()?.uid())
}

/// Most symlinks followed while resolving one path (Linux's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The symlinks met while resolving `path` the way the kernel does (each link's target resolved
/// in turn, `..` taken after the links before it), with their owners, in the order met.
/// Resolution stops quietly at the first component that does not exist: what follows it is
/// not there to be a link. A relative path starts at the current directory.
///
/// # Errors
/// The OS error of a `lstat` or `readlink` (not `NotFound`), or `ELOOP` past 40 links.
pub fn symlinks_on_path(path: &Path) -> io::Result<Vec<(PathBuf, u32)>> {
    let mut resolved = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir()?
    };
    let mut pending: Vec<OsString> = components_of(path);
    pending.reverse(); // a stack: the next component last
    let mut links = Vec::new();
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => break,
            Err(err) => return Err(err),
        };
        if !meta.file_type().is_symlink() {
            resolved = candidate;
            continue;
        }
        if links.len() == MAX_SYMLINK_HOPS {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let target = std::fs::read_link(&candidate)?;
        links.push((candidate, meta.uid()));
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        pending.extend(components_of(&target).into_iter().rev());
    }
    Ok(links)
}

/// The names and `..` steps of `path` (the root and `.` dropped).
fn components_of(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// What `fstat` says about a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirStatus {
    /// Owning user.
    pub owner: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Device and inode.
    pub identity: (u64, u64),
}

/// One opened directory. Operations on names inside it go through its descriptor (`openat`,
/// `unlinkat`, `renameat`, `fstatat`), so once it is opened and checked, a directory swapped in
/// at the same path (or a symlink on the way changed) is never followed.
#[derive(Debug)]
pub struct Directory {
    fd: OwnedFd,
}

impl Directory {
    /// Opens the directory `path` leads to (following symlinks; the caller checks them with
    /// [`symlinks_on_path`]).
    ///
    /// # Errors
    /// The OS error (`ENOTDIR` if it is not a directory).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(path)?;
        Ok(Self { fd: file.into() })
    }

    /// Owner, mode and identity of the opened directory itself.
    pub fn status(&self) -> io::Result<DirStatus> {
        let meta = self.borrow_file(File::metadata)?;
        Ok(DirStatus {
            owner: meta.uid(),
            mode: meta.mode() & 0o7777,
            identity: (meta.dev(), meta.ino()),
        })
    }

    /// Runs `f` on the descriptor viewed as a `File`, without giving it up.
    fn borrow_file<T>(&self, f: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        // SAFETY: the `File` is built over our descriptor and wrapped in `ManuallyDrop`, so it
        // never closes it; `self` (which owns the descriptor) outlives the borrow.
        let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd.as_raw_fd()) });
        f(&file)
    }

    /// `openat` relative to this directory; `name` must be a single path component.
    fn open_at(&self, name: &OsStr, flags: libc::c_int) -> io::Result<File> {
        let name = single_component(name)?;
        loop {
            // SAFETY: `name` is a valid NUL-terminated string that outlives the call; the
            // directory descriptor is owned by `self`; the mode argument is read only with
            // O_CREAT, as the variadic openat expects.
            let fd = unsafe {
                libc::openat(
                    self.fd.as_raw_fd(),
                    name.as_ptr(),
                    flags | libc::O_CLOEXEC,
                    FILE_MODE as libc::c_uint,
                )
            };
            if fd >= 0 {
                // SAFETY: openat just returned this descriptor to us; nothing else owns it.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Creates a new file `name` (failing if the name exists), read-write, mode 0600, not
    /// following a symlink.
    pub fn create_new_file(&self, name: &OsStr) -> io::Result<File> {
        self.open_at(
            name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        )
    }

    /// Opens the existing regular file `name` without following a symlink; anything else (a
    /// FIFO, a device, a directory) is refused without blocking on it.
    pub fn open_file(&self, name: &OsStr, writable: bool) -> io::Result<File> {
        let access = if writable {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
        let file = self.open_at(name, access | libc::O_NOFOLLOW | libc::O_NONBLOCK)?;
        require_regular(file)
    }

    /// Opens (creating if needed, mode 0600) the regular file `name`, used only for locking.
    pub fn open_lock_file(&self, name: &OsStr) -> io::Result<File> {
        let file = self.open_at(
            name,
            libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )?;
        require_regular(file)
    }

    /// The owner of entry `name` (not following a symlink), or `None` if there is none.
    pub fn entry_owner(&self, name: &OsStr) -> io::Result<Option<u32>> {
        let name = single_component(name)?;
        // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `name` is NUL-terminated and outlives the call; `stat` is a valid, writable
        // `struct stat`; the directory descriptor is owned by `self`.
        let rc = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                &mut stat,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc == 0 {
            return Ok(Some(stat.st_uid));
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::NotFound {
            Ok(None)
        } else {
            Err(err)
        }
    }

    /// Renames `from` to `to` inside this directory (replacing `to` if it exists).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (single_component(from)?, single_component(to)?);
        let dir = self.fd.as_raw_fd();
        // SAFETY: both names are NUL-terminated and outlive the call; `dir` is owned by `self`.
        let rc = unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Removes the file `name` (never a directory).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        let name = single_component(name)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; the descriptor is ours.
        let rc = unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `fsync` of the directory, so names created, renamed or removed in it survive power loss.
    pub fn sync(&self) -> io::Result<()> {
        self.borrow_file(File::sync_all)
    }

    /// The names in the directory (without `.` and `..`), in no particular order.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        // A fresh open file description of the same directory: its own read position, so
        // listings on several threads never disturb each other.
        let listing = self.open_at(OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY)?;
        let raw = std::os::fd::IntoRawFd::into_raw_fd(listing);
        // SAFETY: `raw` is an open directory descriptor nobody else owns; on success the stream
        // owns it (closed with it by `DirStream`), on failure it is closed here.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let err = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `raw` is still ours to close, exactly once.
            unsafe { libc::close(raw) };
            return Err(err);
        }
        let stream = DirStream(stream);
        let mut names = Vec::new();
        loop {
            // SAFETY: errno is thread-local; clearing it tells end-of-directory (NULL, errno 0)
            // from an error (NULL, errno set), as readdir documents.
            unsafe { *errno_location() = 0 };
            // SAFETY: `stream.0` is a valid, open DIR stream used by this thread only.
            let entry = unsafe { libc::readdir(stream.0) };
            if entry.is_null() {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(0) | None => Ok(names),
                    Some(_) => Err(err),
                };
            }
            // SAFETY: readdir returned a valid entry whose `d_name` is NUL-terminated; it stays
            // valid until the next readdir on this stream, and is copied out before that.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                names.push(OsStr::from_bytes(bytes).to_owned());
            }
        }
    }
}

/// A `DIR *` closed on drop.
struct DirStream(*mut libc::DIR);

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream came from a successful fdopendir and is closed exactly once.
        unsafe { libc::closedir(self.0) };
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns a pointer to this thread's errno; no arguments.
    unsafe { libc::__errno_location() }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns a pointer to this thread's errno; no arguments.
    unsafe { libc::__error() }
}

/// `name` as a C string, if it is one plain file name (no `/`, not empty, no NUL).
fn single_component(name: &OsStr) -> io::Result<CString> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single file name",
        ));
    }
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

fn require_regular(file: File) -> io::Result<File> {
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Opens a small private file that must be a regular file owned by this process's effective
/// user, creating it (mode 0600) when `create` is set: never follows a symlink at the last
/// component, never blocks on a FIFO, never trusts a file someone else planted.
#[cfg(feature = "remote")]
pub fn open_owned_file(path: &Path, create: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.uid() != effective_uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "owned by another user",
        ));
    }
    Ok(file)
}

/// Replaces `path` with a file (mode 0600) holding `bytes`: written under a name of this
/// process's beside it (`<path>.<pid>.tmp`) and renamed over it, so a reader sees the old
/// contents or the new, never a part. The rename replaces whatever entry has the name; callers
/// check first what they may replace ([`open_owned_file`]). Not synced: for small shared
/// state that may be lost with the machine, not torn. A process killed between the write and
/// the rename leaves its temporary file, which its pid's next write replaces.
///
/// # Errors
/// Creating, writing or renaming the temporary file failed (it is removed then).
#[cfg(feature = "remote")]
pub fn replace_owned_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", process_id()));
    let temp = PathBuf::from(temp);
    // A leftover of an earlier process with this pid.
    let _ = std::fs::remove_file(&temp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Opens `path` for appending, creating it (mode 0600: logs name paths and keys) if missing:
/// for a log file the user named.
#[cfg(feature = "layer")]
pub fn open_append_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Opens an existing regular file read-only, following symlinks (a shipped file may be linked
/// into place by a package or a launcher); anything else (a FIFO, a device, a directory) is
/// refused without blocking on it.
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Creates a new file (failing if the name exists), read-write, mode 0644 before the umask:
/// for files made to be shipped and read by other users (bundles), unlike the store's own.
pub fn create_new_shared_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Takes this process's standard output for a private protocol: returns a file on the original
/// stdout and points descriptor 1 at stderr, so whatever else writes to stdout (a driver or a
/// layer printing diagnostics) lands on stderr instead of corrupting the protocol.
pub fn take_stdout_for_protocol() -> io::Result<File> {
    // SAFETY: dup only reads its integer argument; the new descriptor is owned below.
    let duplicate = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3) };
    if duplicate < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `duplicate` is a descriptor this call just created and nobody else owns.
    let protocol = File::from(unsafe { OwnedFd::from_raw_fd(duplicate) });
    // SAFETY: dup2 only reads its integer arguments; both are open descriptors of this process.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(protocol)
}

/// Lowers this process's scheduling priority by `steps` nice levels (background work such as
/// replay workers must not take the CPU from a game or a desktop). Best effort: a failure
/// leaves the priority as it was.
pub fn lower_priority(steps: i32) {
    // SAFETY: getpriority/setpriority read only their integer arguments; `who` 0 is this process.
    unsafe {
        *errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        if current == -1 && *errno_location() != 0 {
            return;
        }
        libc::setpriority(libc::PRIO_PROCESS, 0, (current + steps).min(19));
    }
}
