//! pcstore's messages: where they go and how often.
//!
//! Every diagnostic is a record of the [`log`] facade at a target starting with `pcstore`
//! (`pcstore::disk`, `pcstore::remote`, `pcstore::bundle`, `pcstore::config`, `pcstore::layer`):
//! store repairs (damaged entries dropped, torn tails cut, damaged segments removed), I/O errors
//! the disk tier records, dropped puts, the remote tier's breaker opening and closing, failed
//! requests, and what the default store had to leave out. Errors a function returns to its
//! caller are not logged as well: the caller decides what they are worth.
//!
//! Who receives them:
//! - a Rust host with its own logger (`env_logger`, `tracing-log`...) gets them there, filtered
//!   by its own rules: pcstore never installs a logger behind a Rust host's back;
//! - a C or C++ host calls `pcs_set_log_callback`, which installs pcstore's own logger (the
//!   library carries its own copy of the `log` crate, so in a C host nobody else can) and
//!   forwards pcstore's records to the callback;
//! - nobody: the records go nowhere, except the few a user must not miss (an unusable disk
//!   store), which [`error_or_stderr_once`] prints once on stderr instead: a game's stderr is
//!   not its log, but silence would be worse.
//!
//! [`Throttle`] keeps a recurring problem (every put refused while compaction catches up, every
//! request to a misconfigured server) from flooding the host's log. The Vulkan layer's
//! `PCSTORE_LOG` lines go through `line_sink::LineSink`: a record like every other, plus the
//! line on stderr or in `PCSTORE_LOG_FILE` when the user asked for it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

/// Whether any logger listens to pcstore: a Rust host's logger, or a C host's callback (either
/// sets the `log` facade's maximum level above `Off`; the facade starts at `Off`).
pub(crate) fn listening() -> bool {
    log::max_level() != log::LevelFilter::Off
}

/// Logs an error the user must see, and prints it once per `printed` flag as
/// `pcstore: <message>` on stderr when no logger listens.
pub(crate) fn error_or_stderr_once(target: &str, printed: &AtomicBool, message: &str) {
    log::error!(target: target, "{message}");
    if !listening() && !printed.swap(true, Ordering::Relaxed) {
        eprintln!("pcstore: {message}");
    }
}

/// Reports a recurring problem at most once per [`Throttle::PERIOD`], with the count of the
/// occurrences in between. Lock-free; one per call site (a `static`), shared by every store of
/// the process.
pub(crate) struct Throttle {
    /// Nanoseconds since [`process_clock`]'s start before which nothing is reported.
    next_report_ns: AtomicU64,
    unreported: AtomicU64,
}

/// Occurrences a report stands for beyond itself; `Display`s as ` (N more since the last
/// report)`, or nothing when there were none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unreported(pub u64);

impl fmt::Display for Unreported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            count => write!(f, " ({count} more since the last report)"),
        }
    }
}

impl Throttle {
    /// Shortest time between two reports of one problem.
    pub(crate) const PERIOD: Duration = Duration::from_secs(10);

    pub(crate) const fn new() -> Self {
        Self {
            next_report_ns: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }

    /// `Some` when this occurrence is to be reported (with the count of those that were not
    /// since the last report), `None` when it is only counted.
    pub(crate) fn permit(&self) -> Option<Unreported> {
        self.permit_at(process_clock())
    }

    fn permit_at(&self, now_ns: u64) -> Option<Unreported> {
        let next = self.next_report_ns.load(Ordering::Relaxed);
        let period = Self::PERIOD.as_nanos() as u64;
        if now_ns < next
            || self
                .next_report_ns
                .compare_exchange(next, now_ns + period, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.unreported.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Unreported(self.unreported.swap(0, Ordering::Relaxed)))
    }
}

/// Nanoseconds since the first call in this process (monotonic).
fn process_clock() -> u64 {
    static START: OnceCell<Instant> = OnceCell::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(feature = "layer")]
pub(crate) mod line_sink {
    use std::fmt;
    use std::fs::File;
    use std::io::Write;
    use std::path::Path;

    /// Where the Vulkan layer's `PCSTORE_LOG` lines go.
    #[derive(Debug)]
    enum Output {
        /// `PCSTORE_LOG` is off: records only.
        Nowhere,
        Stderr,
        /// `PCSTORE_LOG_FILE`, opened for appending (lines of several processes interleave
        /// whole: each is one `write` to an `O_APPEND` file).
        File(File),
    }

    /// The Vulkan layer's log: every line is a `log` record (target `pcstore::layer`), so a host
    /// with a logger or a log callback sees it, and, when `PCSTORE_LOG` is on, also the line
    /// `pcstore-layer: <text>` on stderr or appended to `PCSTORE_LOG_FILE`. The layer runs
    /// inside applications that know nothing of pcstore, so its own switch must work without
    /// any logger.
    #[derive(Debug)]
    pub(crate) struct LineSink {
        output: Output,
    }

    impl LineSink {
        /// The sink `PCSTORE_LOG` (`enabled`) and `PCSTORE_LOG_FILE` (`file`) ask for. A file
        /// that cannot be opened (created mode 0600 if missing) leaves the lines on stderr,
        /// which then says why, once.
        pub(crate) fn open(enabled: bool, file: Option<&Path>) -> Self {
            let output = match file {
                _ if !enabled => Output::Nowhere,
                None => Output::Stderr,
                Some(path) => match crate::platform::open_append_file(path) {
                    Ok(file) => Output::File(file),
                    Err(err) => {
                        eprintln!(
                            "pcstore: PCSTORE_LOG_FILE={:?} cannot be opened ({err}); the Vulkan \
                             layer logs to stderr",
                            path.display()
                        );
                        Output::Stderr
                    }
                },
            };
            Self { output }
        }

        /// Logs one line at `level`.
        pub(crate) fn line(&self, level: log::Level, args: fmt::Arguments<'_>) {
            log::log!(target: "pcstore::layer", level, "{args}");
            let text = || format!("pcstore-layer: {args}\n");
            // A line that cannot be written is lost: the application must never notice.
            let _ = match &self.output {
                Output::Nowhere => Ok(()),
                Output::Stderr => std::io::stderr().lock().write_all(text().as_bytes()),
                Output::File(file) => {
                    let mut file: &File = file;
                    file.write_all(text().as_bytes())
                }
            };
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn lines_go_where_pcstore_log_says() {
            let scratch = crate::scratch::Scratch::new("line-sink");
            let dir = &scratch.0;
            let path = dir.join("layer.log");
            std::fs::write(&path, "earlier run\n").unwrap();

            let sink = LineSink::open(true, Some(&path));
            sink.line(log::Level::Info, format_args!("store at {}", "/x"));
            sink.line(log::Level::Warn, format_args!("save failed"));
            drop(sink);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                "earlier run\npcstore-layer: store at /x\npcstore-layer: save failed\n",
                "appended, one line each, after what was there"
            );
            use std::os::unix::fs::PermissionsExt;
            let fresh = dir.join("fresh.log");
            LineSink::open(true, Some(&fresh)).line(log::Level::Info, format_args!("x"));
            let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "a new log file is private");

            // Off: nothing written even with a file named.
            let off = dir.join("off.log");
            LineSink::open(false, Some(&off)).line(log::Level::Info, format_args!("x"));
            assert!(!off.exists());
            assert!(matches!(
                LineSink::open(false, None).output,
                Output::Nowhere
            ));
            // On without a file, or with one that cannot be opened: stderr.
            assert!(matches!(LineSink::open(true, None).output, Output::Stderr));
            let unopenable = dir.join("no-such-dir").join("layer.log");
            assert!(matches!(
                LineSink::open(true, Some(&unopenable)).output,
                Output::Stderr
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_reports_once_per_period_with_the_count_in_between() {
        let throttle = Throttle::new();
        let period = Throttle::PERIOD.as_nanos() as u64;
        let start = 5_000;
        assert_eq!(throttle.permit_at(start), Some(Unreported(0)));
        assert_eq!(throttle.permit_at(start + 1), None);
        assert_eq!(throttle.permit_at(start + period - 1), None);
        assert_eq!(
            throttle.permit_at(start + period),
            Some(Unreported(2)),
            "the next report, counting the two held back"
        );
        assert_eq!(throttle.permit_at(start + 3 * period), Some(Unreported(0)));
        assert_eq!(Unreported(0).to_string(), "");
        assert_eq!(Unreported(2).to_string(), " (2 more since the last report)");
    }

    #[test]
    fn concurrent_occurrences_are_reported_once_and_counted() {
        let throttle = Throttle::new();
        let reported = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        if throttle.permit_at(1).is_some() {
                            reported.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(reported.load(Ordering::Relaxed), 1);
        let period = Throttle::PERIOD.as_nanos() as u64;
        assert_eq!(throttle.permit_at(1 + period), Some(Unreported(3999)));
    }
}
