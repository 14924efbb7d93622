//! `pcs_set_log_callback`: pcstore's messages in a C engine's own log.
//!
//! pcstore's diagnostics are records of the `log` facade (src/diagnostics.rs). The first
//! callback installed makes [`CallbackLogger`] the facade's logger (this library carries its own
//! copy of `log`, so in a C host nobody else can hold that place); in a Rust host that installed
//! a logger of its own first, pcstore's records go to that logger and this function refuses.
//!
//! Delivery holds a read lock on the installed callback for the whole call, and replacing or
//! removing it takes the write lock: so once `pcs_set_log_callback` has returned, the callback
//! it replaced is never called again (the call waits for calls in flight to finish).

use std::cell::Cell;
use std::ffi::{c_char, c_void, CString};

use once_cell::sync::OnceCell;
use parking_lot::RwLock;

use super::result::{pcs_result, FfiError, FfiResult};

/// Severity of a message given to a `pcs_log_callback`, most severe first (the values are
/// fixed; a level is delivered when it is at most the `min_level` given to
/// `pcs_set_log_callback`).
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pcs_log_level {
    /// pcstore cannot do its job: the disk store cannot be used, so nothing this process
    /// compiles persists.
    PCS_LOG_ERROR = 1,
    /// Something went wrong and was handled: a damaged entry dropped, puts dropped, an I/O
    /// error, the remote cache unreachable (its requests stop for a while).
    PCS_LOG_WARN = 2,
    /// A repair or a recovery: a crashed writer's torn tail cut, the remote cache answering
    /// again.
    PCS_LOG_INFO = 3,
    /// Details for investigating: stores opened and what they hold.
    PCS_LOG_DEBUG = 4,
}

impl pcs_log_level {
    fn from_raw(level: i32) -> Option<Self> {
        [
            Self::PCS_LOG_ERROR,
            Self::PCS_LOG_WARN,
            Self::PCS_LOG_INFO,
            Self::PCS_LOG_DEBUG,
        ]
        .into_iter()
        .find(|known| *known as i32 == level)
    }

    fn filter(self) -> log::LevelFilter {
        match self {
            Self::PCS_LOG_ERROR => log::LevelFilter::Error,
            Self::PCS_LOG_WARN => log::LevelFilter::Warn,
            Self::PCS_LOG_INFO => log::LevelFilter::Info,
            Self::PCS_LOG_DEBUG => log::LevelFilter::Debug,
        }
    }

    /// The level a record is delivered at; `None` for `trace`, which is never delivered.
    fn of(level: log::Level) -> Option<Self> {
        match level {
            log::Level::Error => Some(Self::PCS_LOG_ERROR),
            log::Level::Warn => Some(Self::PCS_LOG_WARN),
            log::Level::Info => Some(Self::PCS_LOG_INFO),
            log::Level::Debug => Some(Self::PCS_LOG_DEBUG),
            log::Level::Trace => None,
        }
    }
}

/// Receives one pcstore message: `user_data` as given to `pcs_set_log_callback`, the
/// `pcs_log_level` as an `int32_t`, the part of pcstore it comes from (`"pcstore::disk"`,
/// `"pcstore::remote"`, `"pcstore::bundle"`, `"pcstore::config"`, `"pcstore::layer"`...), and the
/// message, one line without a trailing newline. Both strings are NUL-terminated UTF-8 valid
/// only during the call (copy what you keep). Messages never contain credentials (the remote
/// cache is named by its URL without user and password; tokens and keys are never shown).
///
/// Called on whichever thread logs, several at once: it must be thread-safe, should return
/// quickly, and must not unwind (no C++ exception may leave it). The thread may be inside a
/// store operation, holding that store's locks: the callback must not call pcstore's store
/// functions (copy the message and act on it later), nor `pcs_set_log_callback` (refused from
/// inside a callback); anything pcstore would log on that thread meanwhile is dropped.
#[allow(non_camel_case_types)]
pub type pcs_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: i32,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// Routes pcstore's messages at `min_level` and more severe (a `pcs_log_level`) to `callback`
/// with `user_data`, replacing any callback set before; a NULL `callback` removes it (then
/// `min_level` and `user_data` are ignored). Without a callback pcstore's messages go nowhere,
/// except the few a user must not miss (an unusable disk store), which are printed once on
/// stderr as `pcstore: ...` while no callback (or other logger) is installed.
///
/// Callable at any time from any thread, also while other threads log. When it returns, the
/// callback it replaced or removed is never called again: it waits for calls of it in flight on
/// other threads. (So do not call it while holding a lock your callback takes.)
///
/// Returns `PCS_OK`; `PCS_ERR_INVALID_ARGUMENT` for a `min_level` that is not a
/// `pcs_log_level`, or a call from inside a log callback (it would wait for itself);
/// `PCS_ERR_UNSUPPORTED` when pcstore is linked into a Rust program that installed its own
/// `log` logger (pcstore's records go to that logger). Nothing changes on an error.
///
/// # Safety
/// `callback`, when not NULL, must be safe to call as described in `pcs_log_callback` with
/// `user_data`, from any thread, until this function has returned from replacing or removing
/// it.
#[no_mangle]
pub unsafe extern "C" fn pcs_set_log_callback(
    min_level: i32,
    callback: pcs_log_callback,
    user_data: *mut c_void,
) -> pcs_result {
    super::ffi_boundary!("pcs_set_log_callback", || -> FfiResult {
        if IN_CALLBACK.with(Cell::get) {
            return Err(FfiError::invalid(
                "called from inside a log callback, where it would wait for itself",
            ));
        }
        let installed = match callback {
            None => None,
            Some(function) => {
                let level = pcs_log_level::from_raw(min_level).ok_or_else(|| {
                    FfiError::invalid(format!(
                        "`min_level` {min_level} is not a pcs_log_level (1 = PCS_LOG_ERROR ... \
                         4 = PCS_LOG_DEBUG)"
                    ))
                })?;
                if !install_logger() {
                    return Err(FfiError::new(
                        pcs_result::PCS_ERR_UNSUPPORTED,
                        "this program installed its own Rust `log` logger: pcstore's messages go \
                         there",
                    ));
                }
                Some(Installed {
                    function,
                    user_data: UserData(user_data),
                    max: level.filter(),
                })
            }
        };
        let max = installed
            .as_ref()
            .map_or(log::LevelFilter::Off, |installed| installed.max);
        // Waits for calls of the old callback in flight.
        let mut slot = CALLBACK.write();
        if installed.is_some() || LOGGER_INSTALLED.get() == Some(&true) {
            // Only while pcstore's logger is the facade's: a Rust host's level stays its own.
            log::set_max_level(max);
        }
        *slot = installed;
        Ok(pcs_result::PCS_OK)
    })
}

/// The callback and what it was installed with.
struct Installed {
    function: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    user_data: UserData,
    max: log::LevelFilter,
}

/// The caller's pointer, handed back untouched.
struct UserData(*mut c_void);

// SAFETY: pcstore never dereferences it; `pcs_set_log_callback`'s contract makes the callback
// (which receives it) callable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above; it is only copied.
unsafe impl Sync for UserData {}

static CALLBACK: RwLock<Option<Installed>> = RwLock::new(None);

/// `Some(true)` once [`CallbackLogger`] is the facade's logger, `Some(false)` when another one
/// was there first.
static LOGGER_INSTALLED: OnceCell<bool> = OnceCell::new();

thread_local! {
    /// This thread is running a callback: its own records are dropped, and replacing the
    /// callback from here is refused.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Makes [`CallbackLogger`] the facade's logger unless another logger is; `false` then.
fn install_logger() -> bool {
    *LOGGER_INSTALLED.get_or_init(|| log::set_logger(&CallbackLogger).is_ok())
}

/// Forwards pcstore's own records (targets starting with `pcstore`) to the installed callback.
struct CallbackLogger;

/// Whether `target` is pcstore's, not another crate's in this library (a dependency's records
/// could name a server with its credentials).
fn is_pcstore(target: &str) -> bool {
    target == "pcstore" || target.starts_with("pcstore::")
}

impl log::Log for CallbackLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        is_pcstore(metadata.target())
            && pcs_log_level::of(metadata.level()).is_some()
            && !IN_CALLBACK.with(Cell::get)
            && CALLBACK
                .read()
                .as_ref()
                .is_some_and(|installed| metadata.level() <= installed.max)
    }

    fn log(&self, record: &log::Record<'_>) {
        let Some(level) = pcs_log_level::of(record.level()) else {
            return;
        };
        if !is_pcstore(record.target()) || IN_CALLBACK.with(Cell::get) {
            return;
        }
        let target = c_text(record.target().to_owned());
        let message = c_text(record.args().to_string());
        // A fair read lock: a waiting `pcs_set_log_callback` is not starved by threads that keep
        // logging. This thread holds no read lock already: the lock is held only around the
        // callback, and records from inside it return above.
        let slot = CALLBACK.read();
        let Some(installed) = slot.as_ref() else {
            return;
        };
        if record.level() > installed.max {
            return;
        }
        IN_CALLBACK.with(|inside| inside.set(true));
        // SAFETY: the contract of `pcs_set_log_callback`: callable from any thread with its
        // user data until replaced, which waits for this read lock; the strings live for the
        // call.
        unsafe {
            (installed.function)(
                installed.user_data.0,
                level as i32,
                target.as_ptr(),
                message.as_ptr(),
            );
        }
        IN_CALLBACK.with(|inside| inside.set(false));
    }

    fn flush(&self) {}
}

/// `text` as a C string; a NUL inside (from a path, say) becomes U+FFFD rather than cutting it.
fn c_text(text: String) -> CString {
    CString::new(text).unwrap_or_else(|err| {
        let cleaned = String::from_utf8_lossy(&err.into_vec()).replace('\0', "\u{fffd}");
        CString::new(cleaned).expect("no NUL left")
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::ffi::CStr;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;
    use crate::scratch::Scratch;

    /// One message as a callback received it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct Message {
        pub level: i32,
        pub target: String,
        pub text: String,
    }

    /// Serialises the tests that install callbacks (there is one callback per process).
    static EXCLUSIVE: Mutex<()> = Mutex::new(());

    unsafe extern "C" fn collect(
        user_data: *mut c_void,
        level: i32,
        target: *const c_char,
        message: *const c_char,
    ) {
        // SAFETY: `user_data` is the `Mutex<Vec<Message>>` a test keeps alive while installed;
        // the strings are valid NUL-terminated UTF-8 for the call.
        unsafe {
            let messages = &*user_data.cast::<Mutex<Vec<Message>>>();
            messages.lock().push(Message {
                level,
                target: CStr::from_ptr(target).to_str().expect("UTF-8").to_owned(),
                text: CStr::from_ptr(message).to_str().expect("UTF-8").to_owned(),
            });
        }
    }

    /// Installs `callback` at `level` with `user_data`.
    ///
    /// # Safety
    /// As `pcs_set_log_callback`: `callback` may be called with `user_data` until removed.
    unsafe fn install(
        level: pcs_log_level,
        callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
        user_data: *mut c_void,
    ) {
        // SAFETY: forwarded contract.
        let result = unsafe { pcs_set_log_callback(level as i32, Some(callback), user_data) };
        assert_eq!(result, pcs_result::PCS_OK);
    }

    /// Removes the callback.
    fn remove() {
        // SAFETY: removing needs nothing.
        let result = unsafe { pcs_set_log_callback(0, None, std::ptr::null_mut()) };
        assert_eq!(result, pcs_result::PCS_OK);
    }

    /// Runs `body` with a callback at `min_level` installed, and returns the messages it
    /// received (from every thread: tests running alongside may add their own). Other tests
    /// that install callbacks wait.
    pub(crate) fn capture(min_level: pcs_log_level, body: impl FnOnce()) -> Vec<Message> {
        let _exclusive = EXCLUSIVE.lock();
        let messages = Mutex::new(Vec::new());
        // SAFETY: `collect` matches the contract; `messages` outlives the installation, which
        // ends below before it is dropped.
        unsafe {
            install(
                min_level,
                collect,
                std::ptr::from_ref(&messages).cast_mut().cast(),
            );
        }
        body();
        remove();
        messages.into_inner()
    }

    #[test]
    fn levels_filter_and_a_removed_callback_hears_nothing() {
        let warned = capture(pcs_log_level::PCS_LOG_WARN, || {
            log::warn!(target: "pcstore::test", "a warning {}", 1);
            log::info!(target: "pcstore::test", "an info line");
            log::error!(target: "pcstore::test", "an error");
            log::warn!(target: "another_crate", "not pcstore's");
        });
        let ours: Vec<_> = warned
            .iter()
            .filter(|m| m.target == "pcstore::test")
            .cloned()
            .collect();
        assert_eq!(
            ours,
            [
                Message {
                    level: pcs_log_level::PCS_LOG_WARN as i32,
                    target: "pcstore::test".into(),
                    text: "a warning 1".into(),
                },
                Message {
                    level: pcs_log_level::PCS_LOG_ERROR as i32,
                    target: "pcstore::test".into(),
                    text: "an error".into(),
                },
            ]
        );
        assert!(warned.iter().all(|m| is_pcstore(&m.target)), "{warned:?}");
        let debug = capture(pcs_log_level::PCS_LOG_DEBUG, || {
            log::debug!(target: "pcstore::test", "details");
            log::trace!(target: "pcstore::test", "never delivered");
        });
        assert!(debug
            .iter()
            .any(|m| m.text == "details" && m.level == pcs_log_level::PCS_LOG_DEBUG as i32));
        assert!(!debug.iter().any(|m| m.text == "never delivered"));
        // Removed (by `capture`): the facade is off, nothing reaches any callback.
        assert_eq!(log::max_level(), log::LevelFilter::Off);
        assert!(!crate::diagnostics::listening());
    }

    fn from<'a>(messages: &'a [Message], target: &str) -> Vec<&'a Message> {
        messages.iter().filter(|m| m.target == target).collect()
    }

    #[test]
    #[cfg_attr(miri, ignore)] // files: Miri isolates the program
    fn a_damaged_disk_entry_is_reported_as_a_repair() {
        use crate::{DiskCache, PipelineCacheStore, PipelineFingerprint};
        let scratch = Scratch::new("logging-repair");
        let key = PipelineFingerprint::of(b"damaged");
        let payload = b"a payload that will be damaged on disk".to_vec();
        let disk = DiskCache::new(&scratch.0).expect("open");
        disk.try_put(key, payload.clone()).expect("put");
        disk.flush().expect("flush");
        drop(disk);
        let mut damaged = 0;
        for entry in std::fs::read_dir(&scratch.0).expect("list") {
            let path = entry.expect("entry").path();
            let mut bytes = std::fs::read(&path).expect("read");
            if let Some(at) = bytes.windows(payload.len()).position(|w| w == payload) {
                bytes[at] ^= 1;
                std::fs::write(&path, bytes).expect("write");
                damaged += 1;
            }
        }
        assert_eq!(damaged, 1, "the payload is in one segment");
        let messages = capture(pcs_log_level::PCS_LOG_DEBUG, || {
            let disk = DiskCache::new(&scratch.0).expect("reopen");
            assert_eq!(disk.get(&key), None);
        });
        let disk_messages = from(&messages, "pcstore::disk");
        let root = scratch.0.display().to_string();
        assert!(
            disk_messages
                .iter()
                .any(|m| m.level == pcs_log_level::PCS_LOG_WARN as i32
                    && m.text.starts_with(&root)
                    && m.text.contains(&format!("dropped a damaged entry ({key})"))),
            "{disk_messages:?}"
        );
        assert!(
            disk_messages
                .iter()
                .any(|m| m.level == pcs_log_level::PCS_LOG_DEBUG as i32
                    && m.text == format!("{root}: opened, 1 entries")),
            "{disk_messages:?}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)] // files: Miri isolates the program
    fn the_default_store_reports_a_refused_disk_to_the_callback() {
        use crate::config::tests::vars;
        use crate::config::{Settings, StorePlan};
        let scratch = Scratch::new("logging-refused");
        std::fs::write(scratch.0.join("a-file"), b"not a directory").expect("blocker");
        let dir = scratch.0.join("a-file").join("store");
        let pairs = [("PCSTORE_DIR", dir.to_str().expect("UTF-8"))];
        let settings = Settings::from_vars(&vars(&pairs)).expect("valid");
        let open = || {
            StorePlan::new(&settings)
                .open()
                .map_err(|error| error.to_string())
                .expect("a memory store")
        };
        let messages = capture(pcs_log_level::PCS_LOG_ERROR, || drop(open()));
        let config = from(&messages, "pcstore::config");
        assert_eq!(config.len(), 1, "{messages:?}");
        assert_eq!(config[0].level, pcs_log_level::PCS_LOG_ERROR as i32);
        assert!(
            config[0]
                .text
                .starts_with("the disk store cannot be used (")
                && config[0].text.contains("a-file"),
            "{config:?}"
        );
        // Every open is reported again (stderr had it once at most, to nobody listening).
        let again = capture(pcs_log_level::PCS_LOG_WARN, || drop(open()));
        assert_eq!(from(&again, "pcstore::config").len(), 1);
    }

    #[cfg(feature = "remote")]
    #[test]
    #[cfg_attr(miri, ignore)] // sockets: Miri isolates the program
    fn remote_messages_never_show_credentials() {
        use std::time::Duration;

        use crate::remote::{RemoteAuth, RemoteCache, RemoteOptions};
        use crate::{PipelineCacheStore, PipelineFingerprint};
        let options = RemoteOptions {
            connect_timeout: Duration::from_millis(100),
            flush_deadline: Duration::from_secs(2),
            secret_key: Some(RemoteOptions::secret_from_text("studio key sesame")),
            ..RemoteOptions::default()
        };
        let messages = capture(pcs_log_level::PCS_LOG_DEBUG, || {
            // Nothing listens on port 1: connecting fails at once and opens the breaker.
            let in_url =
                RemoteCache::with_options("http://ci:hunter2@127.0.0.1:1/cache", options.clone())
                    .expect("a remote tier");
            let token = RemoteCache::with_options(
                "http://127.0.0.1:1/token",
                RemoteOptions {
                    auth: Some(RemoteAuth::Bearer("tok-s3cret".into())),
                    ..options.clone()
                },
            )
            .expect("a remote tier");
            for cache in [&in_url, &token] {
                let key = PipelineFingerprint::of(b"k");
                assert_eq!(cache.get(&key), None);
                cache.try_put(key, b"v".to_vec()).expect("queued");
                assert!(cache.flush().is_err(), "the upload cannot succeed");
            }
        });
        let remote = from(&messages, "pcstore::remote");
        for base in ["http://127.0.0.1:1/cache", "http://127.0.0.1:1/token"] {
            assert!(
                remote
                    .iter()
                    .any(|m| m.level == pcs_log_level::PCS_LOG_WARN as i32
                        && m.text
                            .starts_with(&format!("remote cache {base}: could not connect"))
                        && m.text.contains("no requests for 30 s")),
                "the breaker opening for {base}: {remote:?}"
            );
        }
        for message in &messages {
            for secret in ["hunter2", "ci:", "tok-s3cret", "sesame"] {
                assert!(!message.text.contains(secret), "{secret} in {message:?}");
            }
        }
    }

    #[test]
    fn bad_levels_are_refused_and_nothing_changes() {
        let _exclusive = EXCLUSIVE.lock();
        for level in [0, 5, -1] {
            // SAFETY: refused before the callback is stored.
            let result =
                unsafe { pcs_set_log_callback(level, Some(collect), std::ptr::null_mut()) };
            assert_eq!(result, pcs_result::PCS_ERR_INVALID_ARGUMENT, "{level}");
        }
        assert!(CALLBACK.read().is_none());
    }

    #[test]
    fn a_nul_inside_a_message_does_not_cut_it() {
        assert_eq!(
            c_text("a\0b".into()).to_str().unwrap(),
            "a\u{fffd}b",
            "the rest of the message survives"
        );
    }

    static RETIRED: AtomicBool = AtomicBool::new(false);
    static LATE_CALLS: AtomicUsize = AtomicUsize::new(0);
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Counts a call, and a late one if it runs (starts, or is still running) after its removal
    /// returned.
    unsafe extern "C" fn watch(_: *mut c_void, _: i32, _: *const c_char, _: *const c_char) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let late = || RETIRED.load(Ordering::SeqCst);
        let mut was_late = late();
        // A long call: a removal that did not wait for calls in flight returns meanwhile.
        for _ in 0..50 {
            std::thread::yield_now();
        }
        was_late |= late();
        if was_late {
            LATE_CALLS.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // a 100-round race stress: hours under Miri
    fn a_replaced_callback_is_never_called_after_the_replacement_returned() {
        let _exclusive = EXCLUSIVE.lock();
        let stop = Arc::new(AtomicBool::new(false));
        let loggers: Vec<_> = (0..2)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        log::warn!(target: "pcstore::test", "busy");
                    }
                })
            })
            .collect();
        for _ in 0..100 {
            RETIRED.store(false, Ordering::SeqCst);
            let calls_before = CALLS.load(Ordering::SeqCst);
            // SAFETY: `watch` is callable from any thread at any time.
            unsafe { install(pcs_log_level::PCS_LOG_WARN, watch, std::ptr::null_mut()) };
            while CALLS.load(Ordering::SeqCst) < calls_before + 3 {
                std::thread::yield_now();
            }
            remove();
            RETIRED.store(true, Ordering::SeqCst);
        }
        stop.store(true, Ordering::Relaxed);
        for logger in loggers {
            logger.join().unwrap();
        }
        assert_eq!(LATE_CALLS.load(Ordering::SeqCst), 0);
    }

    unsafe extern "C" fn replace_from_inside(
        user_data: *mut c_void,
        _: i32,
        _: *const c_char,
        _: *const c_char,
    ) {
        // SAFETY: `user_data` is the test's `Mutex<Option<pcs_result>>`, alive while installed;
        // the nested call is refused before it touches anything.
        unsafe {
            let result = pcs_set_log_callback(0, None, std::ptr::null_mut());
            *(*user_data.cast::<Mutex<Option<pcs_result>>>()).lock() = Some(result);
            // Logging from inside a callback is dropped, not delivered recursively.
            log::warn!(target: "pcstore::test", "from inside");
        }
    }

    #[test]
    fn a_callback_cannot_replace_itself_or_log_into_itself() {
        let _exclusive = EXCLUSIVE.lock();
        let seen = Mutex::new(None);
        // SAFETY: the callback uses `seen`, which outlives the installation.
        unsafe {
            install(
                pcs_log_level::PCS_LOG_WARN,
                replace_from_inside,
                std::ptr::from_ref(&seen).cast_mut().cast(),
            );
        }
        log::warn!(target: "pcstore::test", "trigger");
        remove();
        assert_eq!(
            seen.into_inner(),
            Some(pcs_result::PCS_ERR_INVALID_ARGUMENT)
        );
    }
}
