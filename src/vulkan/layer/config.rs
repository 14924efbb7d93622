//! The layer's settings, read once per process from the environment.
//!
//! - `PCSTORE_DIR`: the store's directory (default: the per-user cache, see
//!   [`crate::disk::user_cache_dir`]);
//! - `PCSTORE_MAX_SIZE`: budget of the store in bytes, with an optional `K`, `M` or `G` suffix
//!   (binary units); default: the disk tier's default;
//! - `PCSTORE_REMOTE_URL` (and the remote tier's other variables, read by
//!   `RemoteCache::from_env`): a shared tier below the disk, when built with feature `remote`;
//! - `PCSTORE_LOG`: any value but empty or `0` prints one line per load and save to stderr;
//! - `PCSTORE_SAVE_INTERVAL_MS`: how often a device's cache is saved while it grows (default
//!   10 000, at least 50);
//! - `PCSTORE_LAYER_ENABLE` / `PCSTORE_LAYER_DISABLE`: read by the loader from the implicit
//!   manifest, not by this module.

use std::path::PathBuf;
use std::time::Duration;

use once_cell::sync::Lazy;

/// The process's layer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LayerConfig {
    /// Explicit store directory, if any.
    pub dir: Option<PathBuf>,
    /// Store budget in bytes, if given and valid.
    pub max_size: Option<u64>,
    /// Log loads and saves to stderr.
    pub log: bool,
    /// Cadence of background saves.
    pub save_interval: Duration,
}

const DEFAULT_SAVE_INTERVAL_MS: u64 = 10_000;
const MIN_SAVE_INTERVAL_MS: u64 = 50;

impl LayerConfig {
    /// Reads the settings through `var` (the environment in the layer, a map in tests).
    /// Unparsable values fall back to the defaults: a typo must never break the application.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let interval_ms = non_empty("PCSTORE_SAVE_INTERVAL_MS")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_SAVE_INTERVAL_MS)
            .max(MIN_SAVE_INTERVAL_MS);
        Self {
            dir: non_empty("PCSTORE_DIR").map(PathBuf::from),
            max_size: non_empty("PCSTORE_MAX_SIZE").and_then(|value| parse_size(&value)),
            log: non_empty("PCSTORE_LOG").is_some_and(|value| value.trim() != "0"),
            save_interval: Duration::from_millis(interval_ms),
        }
    }
}

/// The settings of this process, read on first use.
pub(super) fn config() -> &'static LayerConfig {
    static CONFIG: Lazy<LayerConfig> =
        Lazy::new(|| LayerConfig::from_vars(|name| std::env::var(name).ok()));
    &CONFIG
}

/// `123`, `64K`, `512M`, `2G` (case-insensitive, binary units) to bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 10),
        (at, 'm' | 'M') => (&text[..at], 20),
        (at, 'g' | 'G') => (&text[..at], 30),
        _ => (text, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> LayerConfig {
        LayerConfig::from_vars(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let config = from(&[]);
        assert_eq!(config.dir, None);
        assert_eq!(config.max_size, None);
        assert!(!config.log);
        assert_eq!(config.save_interval, Duration::from_secs(10));
    }

    #[test]
    fn reads_every_variable() {
        let config = from(&[
            ("PCSTORE_DIR", "/tmp/x"),
            ("PCSTORE_MAX_SIZE", "64M"),
            ("PCSTORE_LOG", "1"),
            ("PCSTORE_SAVE_INTERVAL_MS", "250"),
        ]);
        assert_eq!(config.dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(config.max_size, Some(64 << 20));
        assert!(config.log);
        assert_eq!(config.save_interval, Duration::from_millis(250));
    }

    #[test]
    fn sizes_and_bad_values() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size(" 1G "), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("99999999999999G"), None);
        let config = from(&[
            ("PCSTORE_MAX_SIZE", "x"),
            ("PCSTORE_LOG", "0"),
            ("PCSTORE_SAVE_INTERVAL_MS", "1"),
        ]);
        assert_eq!(config.max_size, None);
        assert!(!config.log);
        assert_eq!(config.save_interval, Duration::from_millis(50));
    }
}
