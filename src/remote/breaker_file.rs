//! The circuit breaker's state shared with other processes through one small file, so that a
//! dead server costs one process a timeout, not every process that starts after it.
//!
//! The file is `remote-<16 hex>.state` in the disk store's directory (the hex digits: the first
//! 8 bytes of BLAKE3 of the server's base URL without credentials), mode 0600, one line:
//! `pcstore-remote-state 1 <written> <open until> <cooldown>` (Unix milliseconds, Unix
//! milliseconds, milliseconds; see FORMAT.md). It is written when a breaker opens and removed
//! when a request succeeds after a failure; a new process reads it once, when its remote tier is
//! created.
//!
//! Its contents are untrusted: it is read only if it is a regular file owned by this user
//! (never through a symlink, never a FIFO), at most [`MAX_FILE_BYTES`] are read, and it must
//! parse exactly. A record written in the future (the wall clock went backwards since) or
//! claiming a cooldown longer than this process's own maximum is ignored, so a stale or crafted
//! file can hold requests back for at most `breaker_max_cooldown`. Every failure to read or
//! write it only loses the sharing: the in-process breaker works the same without it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::platform;

/// The first word of the line: what the file is and its version.
const MAGIC: &str = "pcstore-remote-state 1";
/// Longer files are not ours (a valid line is under 80 bytes).
const MAX_FILE_BYTES: u64 = 128;

/// What another process recorded about the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Remembered {
    /// How long from now requests stay held back.
    pub(crate) open_for: Duration,
    /// The cooldown that opened it (doubles from here after a failed probe).
    pub(crate) cooldown: Duration,
}

/// The shared state file of one server.
#[derive(Debug)]
pub(crate) struct BreakerFile {
    path: PathBuf,
}

impl BreakerFile {
    /// The file for the server at `base` (a URL without credentials) in `dir`.
    pub(crate) fn new(dir: &Path, base: &str) -> Self {
        Self {
            path: dir.join(file_name(base)),
        }
    }

    /// An open breaker another process recorded, if the file is valid and still open at
    /// `now`; `max_cooldown` bounds what is believed.
    pub(crate) fn read(&self, now: SystemTime, max_cooldown: Duration) -> Option<Remembered> {
        let file = platform::open_owned_file(&self.path, false).ok()?;
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .ok()?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return None;
        }
        let record = parse(&text)?;
        let now = unix_ms(now)?;
        let max_ms = u64::try_from(max_cooldown.as_millis()).unwrap_or(u64::MAX);
        let believable = record.written <= now
            && record.open_until >= record.written
            && record.open_until - record.written <= max_ms
            && record.cooldown <= max_ms;
        if !believable || record.open_until <= now {
            return None;
        }
        Some(Remembered {
            open_for: Duration::from_millis(record.open_until - now),
            cooldown: Duration::from_millis(record.cooldown),
        })
    }

    /// Records that the breaker opened at `now` for `cooldown`.
    pub(crate) fn record_open(&self, now: SystemTime, cooldown: Duration) {
        let Some(written) = unix_ms(now) else {
            return;
        };
        let cooldown_ms = u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX);
        let line = format!(
            "{MAGIC} {written} {} {cooldown_ms}\n",
            written.saturating_add(cooldown_ms)
        );
        // A file someone else planted under the name (another user's, a link, a FIFO) is left
        // alone, as on reading.
        match platform::open_owned_file(&self.path, false) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return,
        }
        // Replaced whole, never truncated and rewritten in place: a process starting meanwhile,
        // or the next one after this one is killed, reads the old line or the new one, not an
        // empty file.
        let _ = platform::replace_owned_file(&self.path, line.as_bytes());
    }

    /// Forgets the failure: the server answered.
    pub(crate) fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `remote-<16 hex>.state`: the name the state of the server at `base` is kept under.
pub(crate) fn file_name(base: &str) -> String {
    let hash = blake3::hash(base.as_bytes());
    let mut name = String::with_capacity(29);
    name.push_str("remote-");
    for byte in &hash.as_bytes()[..8] {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".state");
    name
}

struct Record {
    written: u64,
    open_until: u64,
    cooldown: u64,
}

fn parse(text: &str) -> Option<Record> {
    let rest = text.strip_suffix('\n')?.strip_prefix(MAGIC)?;
    let mut fields = rest.strip_prefix(' ')?.split(' ');
    let mut number = || -> Option<u64> {
        let field = fields.next()?;
        // Digits only: no sign, no spaces, no leading `+` that `parse` would accept.
        if field.is_empty() || field.len() > 20 || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        field.parse().ok()
    };
    let record = Record {
        written: number()?,
        open_until: number()?,
        cooldown: number()?,
    };
    fields.next().is_none().then_some(record)
}

fn unix_ms(time: SystemTime) -> Option<u64> {
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const MAX: Duration = Duration::from_secs(600);

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pcstore-breaker-file-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn name_is_the_documented_pattern() {
        let name = file_name("http://cache.studio:9090");
        assert_eq!(name.len(), "remote-".len() + 16 + ".state".len());
        assert!(name.starts_with("remote-") && name.ends_with(".state"));
        assert!(name[7..23]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(name, file_name("http://cache.studio:9091"));
    }

    #[test]
    fn round_trips_and_expires() {
        let dir = temp_dir("round-trip");
        let file = BreakerFile::new(&dir, "http://a");
        let now = SystemTime::now();
        assert_eq!(file.read(now, MAX), None, "no file: nothing remembered");
        file.record_open(now, Duration::from_secs(30));
        let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let later = now + Duration::from_secs(10);
        let remembered = file.read(later, MAX).expect("still open");
        assert_eq!(remembered.cooldown, Duration::from_secs(30));
        assert!(remembered.open_for <= Duration::from_secs(20));
        assert!(remembered.open_for >= Duration::from_millis(19_998));
        assert_eq!(file.read(now + Duration::from_secs(31), MAX), None);
        file.clear();
        assert!(!file.path.exists());
        file.clear();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reader racing a writer (as a process starting while another records a failure) sees
    /// no file or a whole line, never an empty or partial one.
    #[test]
    fn a_reader_never_sees_a_partly_written_file() {
        let dir = temp_dir("racing");
        let file = BreakerFile::new(&dir, "http://a");
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || seen == 0 {
                    match std::fs::read_to_string(&file.path) {
                        Ok(text) => {
                            assert!(parse(&text).is_some(), "read a partial file: {text:?}");
                            seen += 1;
                        }
                        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::NotFound),
                    }
                }
            });
            for round in 0..2000u64 {
                let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + round);
                file.record_open(now, Duration::from_millis(30_000 + round % 2000 * 1000));
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| *name != *file.path.file_name().unwrap())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_clock_that_went_backwards_or_an_overlong_claim_is_ignored() {
        let dir = temp_dir("backwards");
        let file = BreakerFile::new(&dir, "http://a");
        let now = SystemTime::now();
        file.record_open(now, Duration::from_secs(30));
        // The wall clock was set back an hour after the record was written.
        assert_eq!(file.read(now - Duration::from_secs(3600), MAX), None);
        // A cooldown longer than this process would ever use.
        file.record_open(now, Duration::from_secs(3600));
        assert_eq!(file.read(now, MAX), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crafted_contents_are_ignored() {
        let dir = temp_dir("crafted");
        let file = BreakerFile::new(&dir, "http://a");
        let now = unix_ms(SystemTime::now()).unwrap();
        let until = now + 10_000;
        let good = format!("{MAGIC} {now} {until} 30000\n");
        std::fs::write(&file.path, &good).unwrap();
        assert!(
            file.read(SystemTime::now(), MAX).is_some(),
            "the valid line"
        );
        for bad in [
            String::new(),
            good.trim_end().to_owned(),
            good.replace("state 1", "state 2"),
            format!("{MAGIC} {now} {until}\n"),
            format!("{MAGIC} {now} {until} 30000 7\n"),
            format!("{MAGIC} +{now} {until} 30000\n"),
            format!("{MAGIC} {now} {until} -1\n"),
            format!("{MAGIC}  {now} {until} 30000\n"),
            format!("{MAGIC} {now} 99999999999999999999999 30000\n"),
            format!("{good}{}", "x".repeat(200)),
            "\u{0}".repeat(64),
        ] {
            std::fs::write(&file.path, &bad).unwrap();
            assert_eq!(file.read(SystemTime::now(), MAX), None, "{bad:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn symlinks_and_fifos_are_never_followed_or_written() {
        let dir = temp_dir("links");
        let file = BreakerFile::new(&dir, "http://a");
        let target = dir.join("target");
        let now = unix_ms(SystemTime::now()).unwrap();
        let valid = format!("{MAGIC} {now} {} 30000\n", now + 10_000);
        std::fs::write(&target, &valid).unwrap();
        std::os::unix::fs::symlink(&target, &file.path).unwrap();
        assert_eq!(
            file.read(SystemTime::now(), MAX),
            None,
            "read through a link"
        );
        file.record_open(SystemTime::now(), Duration::from_secs(30));
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            valid,
            "written through a link"
        );
        std::fs::remove_file(&file.path).unwrap();
        let fifo = std::ffi::CString::new(file.path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(
            file.read(SystemTime::now(), MAX),
            None,
            "a FIFO does not block"
        );
        file.record_open(SystemTime::now(), Duration::from_secs(30));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_users_file_is_neither_believed_nor_overwritten() {
        let dir = temp_dir("owner");
        let file = BreakerFile::new(&dir, "http://a");
        let now = unix_ms(SystemTime::now()).unwrap();
        let planted = format!("{MAGIC} {now} {} 30000\n", now + 10_000);
        std::fs::write(&file.path, &planted).unwrap();
        // `nobody`: changing a file's owner needs root.
        if let Err(error) = std::os::unix::fs::chown(&file.path, Some(65534), Some(65534)) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root and must run this check: chown failed: {error}"
            );
            eprintln!("skipped: chown to another user needs root ({error})");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        assert_eq!(file.read(SystemTime::now(), MAX), None);
        file.record_open(SystemTime::now(), Duration::from_secs(60));
        assert_eq!(std::fs::read_to_string(&file.path).unwrap(), planted);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
