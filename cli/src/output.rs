//! Printing: text for people or JSON, sizes and ages, progress bars.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Where results go: text or JSON on stdout, progress on stderr (text mode, on a terminal).
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `value` as JSON (in JSON mode) or `text()` (otherwise). A reader that went away
    /// (`pcstore ls | head`) ends the output quietly, as it would for any Unix tool; another
    /// write error is reported and fails the command.
    pub fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let output = if self.json {
            serde_json::to_string_pretty(value).expect("plain data serializes") + "\n"
        } else {
            text()
        };
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(output.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(err) => {
                eprintln!("pcstore: writing the output failed: {err}");
                std::process::exit(1);
            }
        }
    }

    /// A progress bar over `total` steps, drawn on stderr when it is a terminal and the output
    /// is text (indicatif hides it otherwise).
    pub fn progress(&self, total: u64, what: &'static str) -> ProgressBar {
        let target = if self.json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what);
        bar
    }
}

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

/// How long before `now_ns` the time `at_ns` was, in its largest whole unit: `3 days ago`.
pub fn age(at_ns: u64, now_ns: u64) -> String {
    let Some(elapsed) = now_ns.checked_sub(at_ns) else {
        return "just now".into();
    };
    let secs = Duration::from_nanos(elapsed).as_secs();
    let (count, unit) = match secs {
        0..=59 => return "just now".into(),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn ages_name_their_largest_unit() {
        let day = 86_400 * 1_000_000_000u64;
        let now = 100 * day;
        assert_eq!(age(now, now), "just now");
        assert_eq!(age(now + 5, now), "just now");
        assert_eq!(age(now - 61_000_000_000, now), "1 minute ago");
        assert_eq!(age(now - 2 * day - 5, now), "2 days ago");
    }
}
