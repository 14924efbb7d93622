//! Settings of the remote tier, with defaults a game can live with.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::RemoteError;
use crate::config::{self, RemoteEnv};

/// Holds a bearer token for `Authorization: Bearer ...`.
pub const ENV_TOKEN: &str = config::REMOTE_TOKEN;
/// Holds the studio secret for keyed envelopes (any non-empty text; see [`RemoteOptions::secret_key`]).
pub const ENV_KEY: &str = config::REMOTE_KEY;
/// A boolean (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case): open the remote tier
/// read-only.
pub const ENV_READ_ONLY: &str = config::REMOTE_READ_ONLY;
/// The base URL; read by [`RemoteCache::from_env`](super::RemoteCache::from_env).
pub const ENV_URL: &str = config::REMOTE_URL;

/// Context string for deriving a 32-byte key from the text in [`ENV_KEY`].
const KEY_DERIVATION_CONTEXT: &str = "pcstore 2026 remote envelope secret v1";

/// Credentials sent with every request. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP Basic.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for RemoteAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::Basic { user, .. } => {
                write!(f, "Basic {{ user: {user:?}, password: <redacted> }}")
            }
        }
    }
}

/// How a [`RemoteCache`](super::RemoteCache) talks to its server. Plain data; `Default` gives
/// the values documented on each field.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Longest wait for a TCP connection. Default 150 ms: a LAN server connects in under 1 ms.
    pub connect_timeout: Duration,
    /// Deadline of one whole request before any body byte counts: the first byte of the answer
    /// must arrive within it, and a request for a tiny blob ends by it. Default 500 ms.
    pub base_deadline: Duration,
    /// Added to `base_deadline` per MiB of body received (or sent): the rate floor, enforced as
    /// bytes arrive. Default 100 ms (10 MiB/s): a 16 MiB download has 2.1 s, and a body that
    /// falls behind the floor at any point ends the request then, whatever length it declared.
    pub deadline_per_mib: Duration,
    /// Never upload (most game clients only read; CI machines write). Default `false`.
    pub read_only: bool,
    /// Largest blob stored or accepted from the server. Default 64 MiB.
    pub max_blob_bytes: u64,
    /// Uploads waiting at most; a put beyond it is dropped and counted. Default 256.
    pub upload_queue_len: usize,
    /// Bytes waiting for upload at most; a put beyond it is dropped. Default 256 MiB.
    pub upload_queue_bytes: u64,
    /// Credentials; `None` uses the ones in the URL, if any. Default `None`.
    pub auth: Option<RemoteAuth>,
    /// Studio secret for keyed envelopes: only machines that know it can write entries that
    /// others accept. Readers and writers must agree. Default `None` (plain BLAKE3).
    pub secret_key: Option<[u8; 32]>,
    /// How long a remote miss is remembered so that repeated lookups skip the network.
    /// Zero disables. Default 10 s.
    pub miss_ttl: Duration,
    /// How long the `PipelineCacheStore::flush` of the remote tier waits for queued uploads.
    /// Default 10 s.
    pub flush_deadline: Duration,
    /// First cooldown after the server failed. Default 30 s.
    pub breaker_cooldown: Duration,
    /// Cap of the doubling cooldown. Default 10 min.
    pub breaker_max_cooldown: Duration,
    /// A directory where the breaker's state is shared with other processes (file
    /// `remote-<16 hex>.state`, see FORMAT.md), so a server found dead is skipped by every
    /// process started during the cooldown instead of costing each a timeout. The default
    /// stores use the disk store's directory. Default `None` (this process only).
    pub state_dir: Option<PathBuf>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(150),
            base_deadline: Duration::from_millis(500),
            deadline_per_mib: Duration::from_millis(100),
            read_only: false,
            max_blob_bytes: 64 << 20,
            upload_queue_len: 256,
            upload_queue_bytes: 256 << 20,
            auth: None,
            secret_key: None,
            miss_ttl: Duration::from_secs(10),
            flush_deadline: Duration::from_secs(10),
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(600),
            state_dir: None,
        }
    }
}

impl fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("base_deadline", &self.base_deadline)
            .field("deadline_per_mib", &self.deadline_per_mib)
            .field("read_only", &self.read_only)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("upload_queue_len", &self.upload_queue_len)
            .field("upload_queue_bytes", &self.upload_queue_bytes)
            .field("auth", &self.auth)
            .field("secret_key", &self.secret_key.map(|_| "<redacted>"))
            .field("miss_ttl", &self.miss_ttl)
            .field("flush_deadline", &self.flush_deadline)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("breaker_max_cooldown", &self.breaker_max_cooldown)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl RemoteOptions {
    /// The defaults, overridden by the environment (parsed by [`crate::config`]):
    /// [`ENV_TOKEN`] sets bearer auth, [`ENV_KEY`] sets the secret (see
    /// [`Self::secret_from_text`]), [`ENV_READ_ONLY`] (a boolean) sets read-only. Unset or empty
    /// variables leave the default.
    ///
    /// # Errors
    /// [`RemoteError::InvalidEnv`] if a variable is not valid UTF-8 or [`ENV_READ_ONLY`] is not
    /// a boolean.
    pub fn from_env() -> Result<Self, RemoteError> {
        let env = RemoteEnv::from_vars(&config::process_env).map_err(RemoteError::InvalidEnv)?;
        Ok(Self::from_settings(&env))
    }

    /// The defaults, overridden by the remote tier's parsed variables.
    pub(crate) fn from_settings(env: &RemoteEnv) -> Self {
        Self {
            auth: env.token.clone().map(RemoteAuth::Bearer),
            secret_key: env.key.as_deref().map(Self::secret_from_text),
            read_only: env.read_only,
            ..Self::default()
        }
    }

    /// Derives the 32-byte envelope secret from any text (a passphrase or a hex string) with
    /// BLAKE3's key derivation, so every machine given the same text gets the same key.
    #[must_use]
    pub fn secret_from_text(text: &str) -> [u8; 32] {
        blake3::derive_key(KEY_DERIVATION_CONTEXT, text.as_bytes())
    }

    /// How long a request may have taken once `bytes` of body have arrived (or been sent).
    pub(crate) fn deadline_for(&self, bytes: u64) -> Duration {
        let per_mib = self.deadline_per_mib.as_nanos();
        let extra = per_mib.saturating_mul(u128::from(bytes)).div_ceil(1 << 20);
        self.base_deadline.saturating_add(Duration::from_nanos(
            u64::try_from(extra).unwrap_or(u64::MAX),
        ))
    }

    pub(crate) fn validate(&self) -> Result<(), RemoteError> {
        if self.connect_timeout.is_zero() {
            return Err(RemoteError::InvalidOption("connect_timeout must be > 0"));
        }
        if self.base_deadline.is_zero() {
            return Err(RemoteError::InvalidOption("base_deadline must be > 0"));
        }
        if self.upload_queue_len == 0 && !self.read_only {
            return Err(RemoteError::InvalidOption(
                "upload_queue_len must be > 0 unless read_only",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_scales_with_size() {
        let options = RemoteOptions::default();
        assert_eq!(options.deadline_for(0), Duration::from_millis(500));
        assert_eq!(options.deadline_for(1 << 20), Duration::from_millis(600));
        assert_eq!(options.deadline_for(16 << 20), Duration::from_millis(2100));
        assert!(options.deadline_for(u64::MAX) > Duration::from_secs(1 << 30));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let options = RemoteOptions {
            auth: Some(RemoteAuth::Basic {
                user: "ci".into(),
                password: "hunter2".into(),
            }),
            secret_key: Some(RemoteOptions::secret_from_text("studio secret")),
            ..RemoteOptions::default()
        };
        let text = format!("{options:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("\"ci\""), "{text}");
        let bearer = format!("{:?}", RemoteAuth::Bearer("tok-123".into()));
        assert!(!bearer.contains("tok-123"));
    }

    #[test]
    fn parsed_variables_set_auth_secret_and_read_only() {
        let options = RemoteOptions::from_settings(&RemoteEnv {
            token: Some("tok-123".into()),
            key: Some("studio".into()),
            read_only: true,
        });
        assert_eq!(options.auth, Some(RemoteAuth::Bearer("tok-123".into())));
        assert_eq!(
            options.secret_key,
            Some(RemoteOptions::secret_from_text("studio"))
        );
        assert!(options.read_only);
        assert_eq!(
            RemoteOptions::from_settings(&RemoteEnv::default()),
            RemoteOptions::default()
        );
    }

    #[test]
    fn secret_derivation_is_stable_and_distinct() {
        let a = RemoteOptions::secret_from_text("studio");
        assert_eq!(a, RemoteOptions::secret_from_text("studio"));
        assert_ne!(a, RemoteOptions::secret_from_text("studio2"));
    }
}
