//! The layer's settings, read once per process from the environment by [`crate::config`] (the
//! variables and their grammar are documented there and in README.md): the default store's
//! (`PCSTORE_DIR`, `PCSTORE_MAX_SIZE`, `PCSTORE_DISABLE`, `PCSTORE_REMOTE_*`), exactly as
//! `pcs_store_open_default` reads them, plus the layer's own `PCSTORE_LOG`, `PCSTORE_LOG_FILE`,
//! `PCSTORE_SAVE_INTERVAL_MS`, `PCSTORE_LAYER_APP_CACHES`, `PCSTORE_RECORD` and
//! `PCSTORE_LAYER_FEEDBACK`.
//!
//! A value that does not parse is reported once on stderr and replaced by its default: a typo
//! must never break the application. [`layer_log!`] writes the layer's messages through one
//! process-wide [`LineSink`]: `log` records for a host that listens, and the lines `PCSTORE_LOG`
//! asks for on stderr or in `PCSTORE_LOG_FILE`. (`PCSTORE_LAYER_ENABLE` /
//! `PCSTORE_LAYER_DISABLE` are read by the loader from the implicit manifest, not here.)

use std::path::PathBuf;
use std::time::Duration;

use once_cell::sync::Lazy;

pub(super) use crate::config::FeedbackMeasurement;
use crate::config::{self, ConfigError, LayerSettings, Settings, StorePlan, Vars};
use crate::diagnostics::line_sink::LineSink;

/// The process's layer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LayerConfig {
    /// What the shared store is made of.
    pub store: StorePlan,
    /// Write the layer's log lines (`PCSTORE_LOG`).
    pub log: bool,
    /// Where they go (`PCSTORE_LOG_FILE`, appended); stderr when `None`.
    pub log_file: Option<PathBuf>,
    /// Cadence of background saves.
    pub save_interval: Duration,
    /// Seed the application's own empty caches and keep what they gathered
    /// (`PCSTORE_LAYER_APP_CACHES`).
    pub app_caches: bool,
    /// Record recipes (`PCSTORE_RECORD`; on unless set to a false boolean, e.g. `0`).
    pub record: bool,
    /// Which creations get the driver's creation feedback (`PCSTORE_LAYER_FEEDBACK`).
    pub feedback: FeedbackMeasurement,
}

impl LayerConfig {
    /// Reads the settings through `vars`; unusable values take their defaults and are returned
    /// for reporting.
    pub fn from_vars(vars: Vars) -> (Self, Vec<ConfigError>) {
        let (store, mut errors) = Settings::from_vars_lenient(vars);
        let (layer, layer_errors) = LayerSettings::from_vars_lenient(vars);
        errors.extend(layer_errors);
        let config = Self {
            // Compaction evicts the entries of a driver updated away first.
            store: StorePlan::new(&store)
                .with_stale_entries(crate::vulkan::StaleIdentities::hook()),
            log: layer.log,
            log_file: layer.log_file,
            save_interval: layer.save_interval,
            app_caches: layer.app_caches,
            record: layer.record,
            feedback: layer.feedback,
        };
        (config, errors)
    }
}

/// The settings of this process, read on first use; unusable values are reported then.
pub(super) fn config() -> &'static LayerConfig {
    static CONFIG: Lazy<LayerConfig> = Lazy::new(|| {
        let (config, errors) = LayerConfig::from_vars(&config::process_env);
        for error in errors {
            eprintln!("pcstore: {error}; the Vulkan layer uses the default");
        }
        config
    });
    &CONFIG
}

/// The layer's log of this process, opened on first use as the settings say (a log file is
/// opened once and shared by every instance and device).
pub(super) fn sink() -> &'static LineSink {
    static SINK: Lazy<LineSink> = Lazy::new(|| {
        let config = config();
        LineSink::open(config.log, config.log_file.as_deref())
    });
    &SINK
}

/// Logs one layer message at a `log::Level` (`Info` for what the layer did, `Warn` for what it
/// could not do): `layer_log!(Warn, "save failed: {error}")`.
macro_rules! layer_log {
    ($level:ident, $($arg:tt)*) => {
        $crate::layer::config::sink().line(log::Level::$level, format_args!($($arg)*))
    };
}
pub(super) use layer_log;

/// What the layer's store is made of given the variables `vars`.
#[cfg(test)]
pub(crate) fn store_plan(vars: Vars) -> StorePlan {
    LayerConfig::from_vars(vars).0.store
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::vars;

    #[test]
    fn bad_values_are_returned_for_reporting_and_defaulted() {
        let (config, errors) = LayerConfig::from_vars(&vars(&[
            ("PCSTORE_DIR", "/tmp/x"),
            ("PCSTORE_MAX_SIZE", "0"),
            ("PCSTORE_LOG", "1"),
            ("PCSTORE_SAVE_INTERVAL_MS", "soon"),
        ]));
        assert_eq!(
            errors.iter().map(ConfigError::variable).collect::<Vec<_>>(),
            ["PCSTORE_MAX_SIZE", "PCSTORE_SAVE_INTERVAL_MS"]
        );
        let (defaults, _) = LayerConfig::from_vars(&vars(&[("PCSTORE_DIR", "/tmp/x")]));
        assert_eq!(
            config.store, defaults.store,
            "PCSTORE_MAX_SIZE=0 stores nothing: default"
        );
        assert!(config.log);
        assert_eq!(config.save_interval, Duration::from_secs(10));
    }
}
