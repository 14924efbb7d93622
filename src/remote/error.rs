//! Errors of the remote tier: why it could not be set up, and why one request failed.

use std::fmt;
use std::io;

/// Why a [`RemoteCache`](super::RemoteCache) could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteError {
    /// The base URL is not `http://host[:port][/path]` (or `https://` with `remote-tls`).
    InvalidUrl(String),
    /// An `https://` URL, but pcstore was built without the `remote-tls` feature.
    TlsNotEnabled,
    /// An option is out of range; the text names it.
    InvalidOption(&'static str),
    /// An environment variable is set but unusable; the error names it and, unless it is a
    /// secret, its value.
    InvalidEnv(crate::config::ConfigError),
    /// The upload worker thread could not be started.
    Spawn(io::Error),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid remote cache URL: {why}"),
            Self::TlsNotEnabled => {
                f.write_str("https:// needs pcstore built with the `remote-tls` feature")
            }
            Self::InvalidOption(what) => write!(f, "invalid remote option: {what}"),
            Self::InvalidEnv(error) => error.fmt(f),
            Self::Spawn(err) => write!(f, "could not start the upload worker: {err}"),
        }
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(err) => Some(err),
            Self::InvalidEnv(err) => Some(err),
            _ => None,
        }
    }
}

/// Why one request to the server failed. Each kind has its own counter in
/// [`RemoteMetrics`](super::RemoteMetrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestFailure {
    /// Could not connect (refused, unreachable, name not found, connect timeout).
    Connect,
    /// Connected, but the server did not answer within the deadline.
    Timeout,
    /// The server answered 5xx.
    ServerError,
    /// The server refused the request (4xx other than a GET's 404), e.g. 401/403/413.
    Rejected,
    /// The exchange broke: a malformed response, a body cut short, a reset connection.
    Protocol,
    /// Not attempted: the circuit breaker is holding requests back.
    BreakerOpen,
}

impl RequestFailure {
    /// Whether this failure says the server is down or overloaded (opens the breaker).
    pub(crate) fn server_unhealthy(self) -> bool {
        matches!(self, Self::Connect | Self::Timeout | Self::ServerError)
    }
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::ServerError => "server error (5xx)",
            Self::Rejected => "request rejected (4xx)",
            Self::Protocol => "broken exchange",
            Self::BreakerOpen => "skipped: circuit breaker open",
        })
    }
}
