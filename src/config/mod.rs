//! Every environment variable pcstore reads, parsed here and nowhere else, with one grammar;
//! and the default store built from them (`pcs_store_open_default` and the Vulkan layer open
//! the same one).
//!
//! README.md ("Configuration") has the table of every variable: meaning, grammar, default and
//! who reads it. In short: `PCSTORE_DIR`, `PCSTORE_MAX_SIZE` (a size above 0),
//! `PCSTORE_DISABLE` (a boolean), `PCSTORE_REMOTE_URL`, `PCSTORE_REMOTE_TOKEN`,
//! `PCSTORE_REMOTE_KEY`, `PCSTORE_REMOTE_READ_ONLY` (a boolean), `PCSTORE_BUNDLES` (up to 8
//! paths separated by `:`), `PCSTORE_BUNDLE_KEY` (64 hex digits), `PCSTORE_STALE_AFTER` (a
//! duration above 0, or `never`) for the default store, plus the layer's `PCSTORE_LOG` (a
//! boolean), `PCSTORE_LOG_FILE` (a path), `PCSTORE_SAVE_INTERVAL_MS`, `PCSTORE_LAYER_APP_CACHES`
//! (a boolean), `PCSTORE_RECORD` (a boolean) and `PCSTORE_LAYER_FEEDBACK` (`all`, `sampled` or
//! `off`); `XDG_CACHE_HOME` and `HOME` for the default
//! directory.
//!
//! Grammar (`grammar`): sizes are a whole number with an optional `K`, `M`, `G` or `T`
//! (binary units; `KB`, `KiB` mean the same), case-insensitive, spaces allowed before the unit
//! (`1 G` = 1 GiB); booleans are `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`,
//! case-insensitive; durations are a whole number and a unit `s`, `m`, `h` or `d` (`30d`). A
//! variable that is unset, empty or only whitespace takes its default. A
//! value that does not parse is a [`ConfigError`] naming the variable and the value (secrets are
//! never shown): `pcs_store_open_default` refuses to open with it, the Vulkan layer reports it
//! once on stderr and uses the default (an application must keep running).

mod bundles;
mod default_store;
mod grammar;
#[cfg(feature = "layer")]
mod layer;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::disk::DEFAULT_STALE_AFTER;

pub(crate) use bundles::BundleSettings;
pub use bundles::MAX_BUNDLES;
#[cfg(feature = "layer")]
pub(crate) use default_store::DiskOutcome;
pub(crate) use default_store::{DefaultStoreError, StorePlan};
#[cfg(feature = "layer")]
pub(crate) use layer::{FeedbackMeasurement, LayerSettings};

/// `PCSTORE_DIR`.
pub(crate) const DIR: &str = "PCSTORE_DIR";
/// `PCSTORE_MAX_SIZE`.
pub(crate) const MAX_SIZE: &str = "PCSTORE_MAX_SIZE";
/// `PCSTORE_DISABLE`.
pub(crate) const DISABLE: &str = "PCSTORE_DISABLE";
/// `PCSTORE_REMOTE_URL`.
pub(crate) const REMOTE_URL: &str = "PCSTORE_REMOTE_URL";
/// `PCSTORE_REMOTE_TOKEN`.
pub(crate) const REMOTE_TOKEN: &str = "PCSTORE_REMOTE_TOKEN";
/// `PCSTORE_REMOTE_KEY`.
pub(crate) const REMOTE_KEY: &str = "PCSTORE_REMOTE_KEY";
/// `PCSTORE_REMOTE_READ_ONLY`.
pub(crate) const REMOTE_READ_ONLY: &str = "PCSTORE_REMOTE_READ_ONLY";
/// `PCSTORE_STALE_AFTER`.
pub(crate) const STALE_AFTER: &str = "PCSTORE_STALE_AFTER";

/// Where values come from: [`process_env`] in the library, a fixed map in tests (no test ever
/// races another over the process environment).
pub(crate) type Vars<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment as a [`Vars`]. Reading it while another thread calls `setenv` is
/// undefined behaviour in C, which is why callers read it once, at start-up.
pub(crate) fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// A variable that is set but cannot be used. Its text names the variable, shows the value
/// (unless it is a secret) and says what was expected.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    /// `None` for secrets.
    value: Option<String>,
    problem: &'static str,
}

impl ConfigError {
    /// The variable's name, e.g. `PCSTORE_MAX_SIZE`.
    #[must_use]
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value:?} {}", self.variable, self.problem),
            None => write!(f, "{} {}", self.variable, self.problem),
        }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigError({self})")
    }
}

impl std::error::Error for ConfigError {}

/// The directory of the per-user disk store: `$PCSTORE_DIR`, else `$XDG_CACHE_HOME/pcstore`
/// (a relative `XDG_CACHE_HOME` is ignored, as the XDG specification says), else
/// `$HOME/.cache/pcstore`; `None` when none of them is set.
#[must_use]
pub fn user_cache_dir() -> Option<PathBuf> {
    cache_dir(&process_env)
}

/// The disk budget the default store uses: `PCSTORE_MAX_SIZE`, else the disk tier's default
/// (1 GiB). For tools that report a store's size against its budget.
///
/// # Errors
/// `PCSTORE_MAX_SIZE` is set but not a usable size.
pub fn disk_budget() -> Result<u64, ConfigError> {
    let mut reader = Reader::new(&process_env);
    let max_size = reader.parsed(MAX_SIZE, budget);
    match reader.errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(max_size.unwrap_or(crate::disk::DiskCacheOptions::default().max_bytes)),
    }
}

/// The stale period the default store and the layer use: `PCSTORE_STALE_AFTER`, else 30 days;
/// `None` for `never` (nothing is stale). For tools that prune or report stale identities as
/// the library's compaction does.
///
/// # Errors
/// `PCSTORE_STALE_AFTER` is set but not a usable period.
pub fn stale_after() -> Result<Option<Duration>, ConfigError> {
    let mut reader = Reader::new(&process_env);
    let period = read_stale_after(&mut reader);
    match reader.errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(period),
    }
}

/// Parses a stale period in the grammar of `PCSTORE_STALE_AFTER` (`30d`, `12h`, `never`), for
/// tools that take one as an argument: `None` for `never`.
///
/// # Errors
/// What is wrong with `text` ("is not a duration: ...", or a period of 0).
pub fn parse_stale_period(text: &str) -> Result<Option<Duration>, &'static str> {
    stale_period(text)
}

/// `PCSTORE_STALE_AFTER`, else the disk tier's default (30 days).
fn read_stale_after(reader: &mut Reader) -> Option<Duration> {
    reader
        .parsed(STALE_AFTER, stale_period)
        .unwrap_or(Some(DEFAULT_STALE_AFTER))
}

/// Parses a size in the grammar of `PCSTORE_MAX_SIZE` (`512M`, `2 GiB`, `1048576`), for tools
/// that take sizes as arguments.
///
/// # Errors
/// What is wrong with `text` ("is not a size: a whole number of bytes with ...").
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    grammar::size(text)
}

fn cache_dir(vars: Vars) -> Option<PathBuf> {
    let reader = Reader::new(vars);
    if let Some(dir) = reader.raw(DIR) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = reader.raw("XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Some(xdg.join("pcstore"));
        }
    }
    reader
        .raw("HOME")
        .map(|home| PathBuf::from(home).join(".cache").join("pcstore"))
}

/// What the default store is built from (see [`StorePlan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The disk directory ([`user_cache_dir`]'s rule), if the environment names one.
    pub dir: Option<PathBuf>,
    /// `PCSTORE_MAX_SIZE`, if set.
    pub max_size: Option<u64>,
    /// `PCSTORE_DISABLE`.
    pub disable: bool,
    /// The remote tier, when `PCSTORE_REMOTE_URL` is set.
    pub remote: Option<RemoteSettings>,
    /// `PCSTORE_BUNDLES` and `PCSTORE_BUNDLE_KEY`.
    pub bundles: BundleSettings,
    /// `PCSTORE_STALE_AFTER`: how long an identity may go unseen before compaction evicts its
    /// entries first (default 30 days); `None` (`never`): nothing is stale.
    pub stale_after: Option<Duration>,
}

impl Settings {
    /// Reads the default store's variables; the first unusable one is an error.
    pub fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let (settings, errors) = Self::from_vars_lenient(vars);
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(settings),
        }
    }

    /// Reads the default store's variables; unusable ones take their defaults and are returned
    /// for reporting.
    pub fn from_vars_lenient(vars: Vars) -> (Self, Vec<ConfigError>) {
        let mut reader = Reader::new(vars);
        let max_size = reader.parsed(MAX_SIZE, budget);
        let disable = reader.parsed(DISABLE, grammar::boolean).unwrap_or(false);
        let remote = RemoteSettings::read(&mut reader);
        let bundles = BundleSettings::read(&mut reader);
        let stale_after = read_stale_after(&mut reader);
        let settings = Self {
            dir: cache_dir(vars),
            max_size,
            disable,
            remote,
            bundles,
            stale_after,
        };
        (settings, reader.errors)
    }
}

/// The remote tier named by `PCSTORE_REMOTE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RemoteSettings {
    /// The base URL (may hold credentials: never shown).
    pub url: String,
    /// The remote tier's other variables.
    pub env: RemoteEnv,
}

impl RemoteSettings {
    /// The remote tier `PCSTORE_REMOTE_URL` names (`None` when unset), with its other
    /// variables; the first unusable one is an error.
    #[cfg(feature = "remote")]
    pub fn from_vars(vars: Vars) -> Result<Option<Self>, ConfigError> {
        let mut reader = Reader::new(vars);
        let remote = Self::read(&mut reader);
        match reader.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(remote),
        }
    }

    fn read(reader: &mut Reader) -> Option<Self> {
        // The other variables matter only with a URL: without one they are not read, so a
        // stale token or flag cannot stop a store that never uses them.
        let url = reader.text(REMOTE_URL, Secrecy::Shown)?;
        Some(Self {
            url,
            env: RemoteEnv::read(reader),
        })
    }
}

impl fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("url", &"<redacted>")
            .field("env", &self.env)
            .finish()
    }
}

/// `PCSTORE_REMOTE_TOKEN`, `PCSTORE_REMOTE_KEY`, `PCSTORE_REMOTE_READ_ONLY`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct RemoteEnv {
    /// Bearer token.
    pub token: Option<String>,
    /// Studio secret for keyed envelopes.
    pub key: Option<String>,
    /// Never upload.
    pub read_only: bool,
}

impl RemoteEnv {
    /// Reads the remote tier's variables other than the URL; the first unusable one is an
    /// error.
    #[cfg(feature = "remote")]
    pub fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let mut reader = Reader::new(vars);
        let env = Self::read(&mut reader);
        match reader.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(env),
        }
    }

    fn read(reader: &mut Reader) -> Self {
        Self {
            token: reader.text(REMOTE_TOKEN, Secrecy::Secret),
            key: reader.text(REMOTE_KEY, Secrecy::Secret),
            read_only: reader
                .parsed(REMOTE_READ_ONLY, grammar::boolean)
                .unwrap_or(false),
        }
    }
}

impl fmt::Debug for RemoteEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("RemoteEnv")
            .field("token", &shown(&self.token))
            .field("key", &shown(&self.key))
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// A budget: a size above 0 (a budget of 0 would silently store nothing).
fn budget(text: &str) -> Result<u64, &'static str> {
    match grammar::size(text)? {
        0 => Err("is not a usable budget: 0 would store nothing (unset it for the default)"),
        bytes => Ok(bytes),
    }
}

/// A stale period: a duration above 0 (0 would make every labelled identity stale at once), or
/// `never` / `off` for none.
fn stale_period(text: &str) -> Result<Option<Duration>, &'static str> {
    if ["never", "off"].contains(&text.trim().to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    match grammar::duration(text)? {
        Duration::ZERO => Err(
            "is not a usable stale period: 0 would make every identity stale \
                               (use never to turn it off)",
        ),
        period => Ok(Some(period)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrecy {
    Shown,
    Secret,
}

/// Reads variables through [`Vars`], collecting the errors.
struct Reader<'a> {
    vars: Vars<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn new(vars: Vars<'a>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    /// The value, unless unset, empty or only whitespace.
    fn raw(&self, name: &str) -> Option<OsString> {
        (self.vars)(name)
            .filter(|value| !value.as_encoded_bytes().iter().all(u8::is_ascii_whitespace))
    }

    /// The value as UTF-8 text; otherwise an error.
    fn text(&mut self, name: &'static str, secrecy: Secrecy) -> Option<String> {
        match self.raw(name)?.into_string() {
            Ok(text) => Some(text),
            Err(raw) => {
                self.errors.push(ConfigError {
                    variable: name,
                    value: (secrecy == Secrecy::Shown).then(|| raw.to_string_lossy().into_owned()),
                    problem: "is not valid UTF-8",
                });
                None
            }
        }
    }

    /// The value through `parse`; otherwise an error.
    fn parsed<T>(
        &mut self,
        name: &'static str,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Option<T> {
        let text = self.text(name, Secrecy::Shown)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.errors.push(ConfigError {
                    variable: name,
                    value: Some(text),
                    problem,
                });
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    /// A [`Vars`] over fixed pairs.
    pub(crate) fn vars<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn nothing_set_means_every_default() {
        let (settings, errors) = Settings::from_vars_lenient(&vars(&[]));
        assert_eq!(errors, []);
        assert_eq!(
            settings,
            Settings {
                dir: None,
                max_size: None,
                disable: false,
                remote: None,
                bundles: BundleSettings::default(),
                stale_after: Some(Duration::from_secs(30 * 86_400)),
            }
        );
    }

    #[test]
    fn every_variable_is_read() {
        let pairs = [
            ("PCSTORE_DIR", "/tmp/x"),
            ("PCSTORE_MAX_SIZE", "1 G"),
            ("PCSTORE_DISABLE", "false"),
            ("PCSTORE_REMOTE_URL", "http://u:p@cache:9090"),
            ("PCSTORE_REMOTE_TOKEN", "hunter2"),
            ("PCSTORE_REMOTE_KEY", "open sesame"),
            ("PCSTORE_REMOTE_READ_ONLY", "TRUE"),
            ("PCSTORE_STALE_AFTER", "12h"),
        ];
        let settings = Settings::from_vars(&vars(&pairs)).expect("valid");
        assert_eq!(settings.stale_after, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(settings.dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(settings.max_size, Some(1 << 30));
        assert!(!settings.disable, "PCSTORE_DISABLE=false must not disable");
        let remote = settings.remote.expect("a remote tier");
        assert_eq!(remote.url, "http://u:p@cache:9090");
        assert_eq!(remote.env.token.as_deref(), Some("hunter2"));
        assert_eq!(remote.env.key.as_deref(), Some("open sesame"));
        assert!(remote.env.read_only, "PCSTORE_REMOTE_READ_ONLY=TRUE");
        let shown = format!("{remote:?}");
        assert!(
            !shown.contains("u:p") && !shown.contains("hunter2") && !shown.contains("sesame"),
            "{shown}"
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value_and_take_the_default() {
        let pairs = [
            ("PCSTORE_MAX_SIZE", "0"),
            ("PCSTORE_DISABLE", "maybe"),
            ("PCSTORE_REMOTE_URL", "http://cache"),
            ("PCSTORE_REMOTE_READ_ONLY", "2"),
            ("PCSTORE_STALE_AFTER", "0d"),
        ];
        let (settings, errors) = Settings::from_vars_lenient(&vars(&pairs));
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "PCSTORE_MAX_SIZE=\"0\" is not a usable budget: 0 would store nothing (unset it \
                 for the default)",
                "PCSTORE_DISABLE=\"maybe\" is not a boolean: use 1, true, yes or on; 0, false, \
                 no or off",
                "PCSTORE_REMOTE_READ_ONLY=\"2\" is not a boolean: use 1, true, yes or on; 0, \
                 false, no or off",
                "PCSTORE_STALE_AFTER=\"0d\" is not a usable stale period: 0 would make every \
                 identity stale (use never to turn it off)",
            ]
        );
        assert_eq!(settings.stale_after, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(settings.max_size, None);
        assert!(!settings.disable);
        assert!(!settings.remote.expect("remote").env.read_only);
        let strict = Settings::from_vars(&vars(&pairs)).expect_err("refused");
        assert_eq!(strict.variable(), "PCSTORE_MAX_SIZE");
    }

    #[test]
    fn never_turns_the_stale_period_off() {
        for never in ["never", " OFF "] {
            let settings =
                Settings::from_vars(&vars(&[("PCSTORE_STALE_AFTER", never)])).expect("valid");
            assert_eq!(settings.stale_after, None, "{never:?}");
        }
    }

    #[test]
    fn secrets_are_never_shown_and_blank_values_are_unset() {
        let invalid = OsString::from_vec(vec![b's', 0xff]);
        let source = |name: &str| match name {
            "PCSTORE_REMOTE_URL" => Some(OsString::from("http://cache")),
            "PCSTORE_REMOTE_TOKEN" => Some(invalid.clone()),
            "PCSTORE_MAX_SIZE" | "PCSTORE_DIR" => Some(OsString::from("  \t")),
            _ => None,
        };
        let (settings, errors) = Settings::from_vars_lenient(&source);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["PCSTORE_REMOTE_TOKEN is not valid UTF-8"]
        );
        assert_eq!((settings.dir, settings.max_size), (None, None));
        // Without a URL the remote variables are not read at all.
        let (_, errors) = Settings::from_vars_lenient(&|name: &str| {
            (name == "PCSTORE_REMOTE_READ_ONLY").then(|| OsString::from("perhaps"))
        });
        assert_eq!(errors, []);
    }

    #[test]
    fn the_directory_follows_pcstore_dir_then_xdg_then_home() {
        let all = [
            ("PCSTORE_DIR", "/explicit"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(cache_dir(&vars(&all)), Some(PathBuf::from("/explicit")));
        assert_eq!(
            cache_dir(&vars(&all[1..])),
            Some(PathBuf::from("/xdg/pcstore"))
        );
        assert_eq!(
            cache_dir(&vars(&[
                ("XDG_CACHE_HOME", "relative"),
                ("HOME", "/home/u")
            ])),
            Some(PathBuf::from("/home/u/.cache/pcstore"))
        );
        assert_eq!(cache_dir(&vars(&[("HOME", "")])), None);
        let non_utf8 = OsString::from_vec(b"/data/\xff".to_vec());
        assert_eq!(
            cache_dir(&|name: &str| (name == "PCSTORE_DIR").then(|| non_utf8.clone())),
            Some(PathBuf::from(non_utf8.clone())),
            "paths need not be UTF-8"
        );
    }
}
