//! Operating-system specifics behind the disk tier, in one place so other platforms can follow.
//!
//! Everything here is Unix (Linux first): advisory `flock` locks, `fdatasync`/`fsync`,
//! `O_NOFOLLOW` opens with private modes, positioned vectored I/O and file identities.
//! Files are always opened with `O_CLOEXEC` (the standard library's default), so a child
//! process never inherits a lock.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// Mode of every file the disk tier creates: the owner only.
const FILE_MODE: u32 = 0o600;
/// Mode of every directory the disk tier creates: the owner only.
const DIR_MODE: u32 = 0o700;

/// Creates `path` and missing parents with mode 0700 (existing directories keep their mode).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Creates a new file (failing if the name exists), read-write, mode 0600, not following a
/// symlink at the last component.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens an existing regular file without following a symlink at the last component; anything
/// else (a FIFO, a device, a directory) is refused without blocking on it.
pub fn open_file(path: &Path, writable: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Opens (creating if needed, mode 0600) a file used only for locking.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
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

/// The current process id.
pub fn process_id() -> u32 {
    std::process::id()
}
