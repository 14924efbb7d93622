//! The Vulkan layer's own variables: `PCSTORE_LOG`, `PCSTORE_LOG_FILE`,
//! `PCSTORE_SAVE_INTERVAL_MS`, `PCSTORE_LAYER_APP_CACHES`, `PCSTORE_RECORD`,
//! `PCSTORE_LAYER_FEEDBACK`.

use std::path::PathBuf;
use std::time::Duration;

use super::{grammar, ConfigError, Reader, Vars};

/// `PCSTORE_LOG`.
const LOG: &str = "PCSTORE_LOG";
/// `PCSTORE_LOG_FILE`.
const LOG_FILE: &str = "PCSTORE_LOG_FILE";
/// `PCSTORE_SAVE_INTERVAL_MS`.
const SAVE_INTERVAL_MS: &str = "PCSTORE_SAVE_INTERVAL_MS";
/// `PCSTORE_LAYER_APP_CACHES`.
const APP_CACHES: &str = "PCSTORE_LAYER_APP_CACHES";
/// `PCSTORE_RECORD`.
const RECORD: &str = "PCSTORE_RECORD";
/// `PCSTORE_LAYER_FEEDBACK`.
const FEEDBACK: &str = "PCSTORE_LAYER_FEEDBACK";

/// `PCSTORE_LAYER_FEEDBACK`: which pipeline creations the layer asks the driver for creation
/// feedback on (see `crate::layer` feedback.rs for what each costs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FeedbackMeasurement {
    /// `all`: every creation.
    All,
    /// `sampled` (the default): every creation is counted, the driver's feedback is asked for
    /// on a deterministic sample of them.
    Sampled,
    /// `off`: none; the layer neither counts nor records runs.
    Off,
}

impl FeedbackMeasurement {
    fn parse(text: &str) -> Result<Self, &'static str> {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Self::All),
            "sampled" => Ok(Self::Sampled),
            "off" => Ok(Self::Off),
            _ => Err("is not one of all, sampled, off"),
        }
    }
}

/// The Vulkan layer's own variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerSettings {
    /// Write the layer's log lines (`PCSTORE_LOG`; when unset, on if `PCSTORE_LOG_FILE` is set).
    pub log: bool,
    /// `PCSTORE_LOG_FILE`: where the lines go (appended); stderr when unset.
    pub log_file: Option<PathBuf>,
    /// `PCSTORE_SAVE_INTERVAL_MS`, raised to [`MIN_SAVE_INTERVAL`].
    pub save_interval: Duration,
    /// `PCSTORE_LAYER_APP_CACHES` (default on): seed the application's own empty caches and
    /// keep what they gathered.
    pub app_caches: bool,
    /// `PCSTORE_RECORD` (default on; `0` turns it off): record recipes of the pipelines
    /// applications create. On by default because a pipeline already recorded costs well under
    /// issue 13's 1 µs per creation (BENCHMARKS.md, "Recipes"); a boolean like `PCSTORE_LOG`.
    pub record: bool,
    /// `PCSTORE_LAYER_FEEDBACK` (default `sampled`).
    pub feedback: FeedbackMeasurement,
}

/// Default of `PCSTORE_SAVE_INTERVAL_MS`.
const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(10);
/// Shortest save period: saving more often than this costs the driver more than it protects.
const MIN_SAVE_INTERVAL: Duration = Duration::from_millis(50);

impl LayerSettings {
    /// Reads the layer's variables; unusable ones take their defaults and are returned for
    /// reporting.
    pub fn from_vars_lenient(vars: Vars) -> (Self, Vec<ConfigError>) {
        let mut reader = Reader::new(vars);
        let log_file = reader.raw(LOG_FILE).map(PathBuf::from);
        let settings = Self {
            // Naming a file asks for the lines; `PCSTORE_LOG=0` still turns them off.
            log: reader
                .parsed(LOG, grammar::boolean)
                .unwrap_or(log_file.is_some()),
            log_file,
            save_interval: reader
                .parsed(SAVE_INTERVAL_MS, grammar::whole_number)
                .map_or(DEFAULT_SAVE_INTERVAL, Duration::from_millis)
                .max(MIN_SAVE_INTERVAL),
            app_caches: reader.parsed(APP_CACHES, grammar::boolean).unwrap_or(true),
            record: reader.parsed(RECORD, grammar::boolean).unwrap_or(true),
            feedback: reader
                .parsed(FEEDBACK, FeedbackMeasurement::parse)
                .unwrap_or(FeedbackMeasurement::Sampled),
        };
        (settings, reader.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::vars;
    use super::*;

    #[test]
    fn defaults_values_and_bad_values() {
        let (layer, errors) = LayerSettings::from_vars_lenient(&vars(&[]));
        assert_eq!(errors, []);
        assert_eq!(
            layer,
            LayerSettings {
                log: false,
                log_file: None,
                save_interval: Duration::from_secs(10),
                app_caches: true,
                record: true,
                feedback: FeedbackMeasurement::Sampled,
            }
        );
        let (layer, errors) = LayerSettings::from_vars_lenient(&vars(&[
            ("PCSTORE_LOG", "on"),
            ("PCSTORE_SAVE_INTERVAL_MS", "250"),
            ("PCSTORE_RECORD", "0"),
        ]));
        assert_eq!(errors, []);
        assert!(layer.log && !layer.record);
        assert_eq!(layer.save_interval, Duration::from_millis(250));

        let (layer, errors) = LayerSettings::from_vars_lenient(&vars(&[
            ("PCSTORE_LOG", "verbose"),
            ("PCSTORE_SAVE_INTERVAL_MS", "10s"),
        ]));
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "PCSTORE_LOG=\"verbose\" is not a boolean: use 1, true, yes or on; 0, false, no \
                 or off",
                "PCSTORE_SAVE_INTERVAL_MS=\"10s\" is not a whole number",
            ]
        );
        assert_eq!(
            layer,
            LayerSettings {
                log: false,
                log_file: None,
                save_interval: Duration::from_secs(10),
                app_caches: true,
                record: true,
                feedback: FeedbackMeasurement::Sampled,
            }
        );
        let (layer, _) =
            LayerSettings::from_vars_lenient(&vars(&[("PCSTORE_SAVE_INTERVAL_MS", "1")]));
        assert_eq!(layer.save_interval, Duration::from_millis(50));
        let (layer, errors) =
            LayerSettings::from_vars_lenient(&vars(&[("PCSTORE_LAYER_APP_CACHES", "0")]));
        assert_eq!((layer.app_caches, errors.len()), (false, 0));
    }

    #[test]
    fn feedback_measurement_has_three_settings() {
        for (text, expected) in [
            ("all", FeedbackMeasurement::All),
            (" Sampled ", FeedbackMeasurement::Sampled),
            ("OFF", FeedbackMeasurement::Off),
        ] {
            let (layer, errors) =
                LayerSettings::from_vars_lenient(&vars(&[("PCSTORE_LAYER_FEEDBACK", text)]));
            assert_eq!((layer.feedback, errors.len()), (expected, 0), "{text:?}");
        }
        let (layer, errors) =
            LayerSettings::from_vars_lenient(&vars(&[("PCSTORE_LAYER_FEEDBACK", "1")]));
        assert_eq!(layer.feedback, FeedbackMeasurement::Sampled);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["PCSTORE_LAYER_FEEDBACK=\"1\" is not one of all, sampled, off"]
        );
    }

    #[test]
    fn a_log_file_turns_the_lines_on_unless_pcstore_log_says_off() {
        let file = ("PCSTORE_LOG_FILE", "/tmp/pcstore layer.log");
        for (pairs, log) in [
            (vec![file], true),
            (vec![file, ("PCSTORE_LOG", "0")], false),
            (vec![file, ("PCSTORE_LOG", "yes")], true),
            (vec![("PCSTORE_LOG_FILE", "  "), ("PCSTORE_LOG", "1")], true),
        ] {
            let (layer, errors) = LayerSettings::from_vars_lenient(&vars(&pairs));
            assert_eq!(errors, [], "{pairs:?}");
            assert_eq!(layer.log, log, "{pairs:?}");
        }
        let (layer, _) = LayerSettings::from_vars_lenient(&vars(&[file]));
        assert_eq!(
            layer.log_file,
            Some(PathBuf::from("/tmp/pcstore layer.log"))
        );
        let (blank, _) = LayerSettings::from_vars_lenient(&vars(&[("PCSTORE_LOG_FILE", "  ")]));
        assert_eq!((blank.log, blank.log_file), (false, None), "blank is unset");
        // A bad PCSTORE_LOG is reported and falls back to what the file implies.
        let (layer, errors) =
            LayerSettings::from_vars_lenient(&vars(&[file, ("PCSTORE_LOG", "loud")]));
        assert_eq!(errors.len(), 1);
        assert!(layer.log);
    }
}
