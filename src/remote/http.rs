//! The HTTP side: Bazel-layout URLs, auth headers, deadlines, and sorting failures into kinds.
//!
//! Every request has one deadline that moves with the bytes received: the whole exchange
//! (connecting, sending, the response headers, the body) must end by
//! `start + base_deadline + deadline_per_mib × bytes received so far` (for a `PUT`, by
//! `start + base_deadline + deadline_per_mib × bytes sent`). So the first byte must come within
//! `base_deadline`, and a body that stops keeping up with the rate floor fails as soon as it
//! falls behind, whatever length it declared: a server that drips a 60 MiB body at 3 B/s costs
//! `base_deadline`, not the 6.5 s a 60 MiB body would be allowed. Connecting is further bounded
//! by `connect_timeout`, and bodies by `max_blob_bytes`.
//!
//! The deadline is enforced on every wait for the socket: [`DeadlineConnector`] wraps each
//! connection's transport and shortens each wait to the calling thread's deadline
//! ([`REQUEST_DEADLINE`]; ureq runs a request on the calling thread). ureq's own timeouts are
//! fixed when a request starts and cannot follow the bytes received. Per-phase timeouts rather
//! than ureq's `timeout_global`/`timeout_per_call`: measured on loopback nginx, either of those
//! adds ~65 µs to every request (a 4 KiB GET goes from 45 µs to 110 µs).

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ureq::http::Uri;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    time::Duration as TransportDuration, Buffers, ConnectionDetails, Connector, DefaultConnector,
    NextTimeout, Transport,
};
use ureq::Agent;

use super::envelope::HEADER_LEN;
use super::error::{RemoteError, RequestFailure};
use super::options::{RemoteAuth, RemoteOptions};
use crate::fingerprint::PipelineFingerprint;

thread_local! {
    /// When the request running on this thread must be over; `None` between requests.
    static REQUEST_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of one request on this thread, set for the guard's life.
struct RequestDeadline {
    started: Instant,
}

impl RequestDeadline {
    /// Starts a request that must end by `started + allowed` (until moved by [`Self::allow`]).
    fn start(started: Instant, allowed: Duration) -> Self {
        REQUEST_DEADLINE.with(|deadline| deadline.set(Some(started + allowed)));
        Self { started }
    }

    /// Moves the deadline to `start + allowed`.
    fn allow(&self, allowed: Duration) {
        REQUEST_DEADLINE.with(|deadline| deadline.set(Some(self.started + allowed)));
    }
}

impl Drop for RequestDeadline {
    fn drop(&mut self) {
        REQUEST_DEADLINE.with(|deadline| deadline.set(None));
    }
}

/// Wraps every connection's transport in a [`DeadlineTransport`].
#[derive(Debug)]
struct DeadlineConnector;

impl<In: Transport> Connector<In> for DeadlineConnector {
    type Out = DeadlineTransport<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(DeadlineTransport))
    }
}

/// A transport whose every wait ends by the calling thread's [`REQUEST_DEADLINE`].
#[derive(Debug)]
struct DeadlineTransport<T>(T);

/// `timeout`, shortened to what is left of this thread's request deadline.
fn within_request_deadline(mut timeout: NextTimeout) -> NextTimeout {
    if let Some(deadline) = REQUEST_DEADLINE.with(Cell::get) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < *timeout.after {
            timeout.after = TransportDuration::Exact(left);
            timeout.reason = ureq::Timeout::Global;
        }
    }
    timeout
}

impl<T: Transport> Transport for DeadlineTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0
            .transmit_output(amount, within_request_deadline(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(within_request_deadline(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// A body that could not be accepted, distinct from a failed exchange: counted as corrupt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Download {
    /// 404.
    Missing,
    /// 2xx with this body (not yet verified).
    Body(Vec<u8>),
    /// 2xx, but the body is larger than any envelope this client accepts.
    Oversized,
}

/// A connection pool to one server plus what every request needs.
pub(crate) struct HttpClient {
    agent: Agent,
    /// `scheme://host[:port][/path]`, credentials removed.
    base: String,
    /// `{base}/ac/`.
    prefix: String,
    authorization: Option<String>,
    options: RemoteOptions,
}

impl HttpClient {
    pub(crate) fn new(base_url: &str, options: RemoteOptions) -> Result<Self, RemoteError> {
        let parsed = parse_base_url(base_url)?;
        let auth = options.auth.clone().or(parsed.credentials);
        let authorization = auth.map(|auth| match auth {
            RemoteAuth::Bearer(token) => format!("Bearer {token}"),
            RemoteAuth::Basic { user, password } => basic_authorization(&user, &password),
        });
        // Phase timeouts stay as a backstop; the request deadline is the one that bites.
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_per_read(Some(options.base_deadline))
            .timeout_per_write(Some(options.base_deadline))
            .timeout_send_request(Some(options.base_deadline))
            .timeout_recv_response(Some(options.base_deadline))
            .user_agent(concat!("pcstore/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = Agent::with_parts(
            config,
            DefaultConnector::default().chain(DeadlineConnector),
            DefaultResolver::default(),
        );
        Ok(Self {
            agent,
            prefix: format!("{}/ac/", parsed.base),
            base: parsed.base,
            authorization,
            options,
        })
    }

    /// The server's base URL without credentials.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, fp: &PipelineFingerprint) -> String {
        let mut url = String::with_capacity(self.prefix.len() + 64);
        url.push_str(&self.prefix);
        url.push_str(&fp.to_hex());
        url
    }

    /// `GET {base}/ac/{hex}`. The body is returned unverified.
    pub(crate) fn get(&self, fp: &PipelineFingerprint) -> Result<Download, RequestFailure> {
        let deadline = RequestDeadline::start(Instant::now(), self.options.base_deadline);
        let max_body = self
            .options
            .max_blob_bytes
            .saturating_add(HEADER_LEN as u64);
        let mut request = self.agent.get(self.url(fp));
        if let Some(value) = &self.authorization {
            request = request.header("Authorization", value);
        }
        let response = request.call().map_err(classify)?;
        let status = response.status().as_u16();
        let body = response.into_body();
        let failure = match status {
            200..=299 => None,
            404 => {
                drain(body, (&deadline, 0), &self.options);
                return Ok(Download::Missing);
            }
            500..=599 => Some(RequestFailure::ServerError),
            _ => Some(RequestFailure::Rejected),
        };
        if let Some(failure) = failure {
            drain(body, (&deadline, 0), &self.options);
            return Err(failure);
        }
        let declared = body.content_length();
        if declared.is_some_and(|len| len > max_body) {
            return Ok(Download::Oversized);
        }
        match read_body(
            body,
            declared.unwrap_or(0),
            max_body,
            (&deadline, 0),
            &self.options,
        )? {
            Some(bytes) => Ok(Download::Body(bytes)),
            None => Ok(Download::Oversized),
        }
    }

    /// `HEAD {base}/ac/{hex}`: whether the server holds an entry (unverified: a later `get`
    /// may still find it corrupt).
    pub(crate) fn head(&self, fp: &PipelineFingerprint) -> Result<bool, RequestFailure> {
        let _deadline = RequestDeadline::start(Instant::now(), self.options.base_deadline);
        let mut request = self.agent.head(self.url(fp));
        if let Some(value) = &self.authorization {
            request = request.header("Authorization", value);
        }
        let response = request.call().map_err(classify)?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            500..=599 => Err(RequestFailure::ServerError),
            _ => Err(RequestFailure::Rejected),
        }
    }

    /// `PUT {base}/ac/{hex}` with `Content-Length`. Any 2xx is success. The whole exchange has
    /// the deadline of a body of this length (its length is ours, not a peer's claim).
    pub(crate) fn put(&self, fp: &PipelineFingerprint, body: &[u8]) -> Result<(), RequestFailure> {
        let sent = body.len() as u64;
        let deadline = RequestDeadline::start(Instant::now(), self.options.deadline_for(sent));
        let mut request = self.agent.put(self.url(fp));
        if let Some(value) = &self.authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        drain(response.into_body(), (&deadline, sent), &self.options);
        match status {
            200..=299 => Ok(()),
            500..=599 => Err(RequestFailure::ServerError),
            _ => Err(RequestFailure::Rejected),
        }
    }
}

/// Reads a body of at most `limit` bytes, moving `deadline` to allow `already` (bytes the
/// exchange sent before) plus the bytes received; `Ok(None)` if it is longer. A declared length
/// reserves its memory up front (bounded by `limit`: a blob may truly be that large).
fn read_body(
    body: ureq::Body,
    expected: u64,
    limit: u64,
    (deadline, already): (&RequestDeadline, u64),
    options: &RemoteOptions,
) -> Result<Option<Vec<u8>>, RequestFailure> {
    let mut reader = body.into_reader();
    let mut bytes = Vec::with_capacity(expected.min(limit) as usize);
    let mut chunk = [0u8; 16 << 10];
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => return Ok(Some(bytes)),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(classify_io(&err)),
        };
        if bytes.len() as u64 + read as u64 > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk[..read]);
        deadline.allow(options.deadline_for(already.saturating_add(bytes.len() as u64)));
    }
}

/// Reads and discards a small answer body (a 404 page, a 201's text) so the connection goes
/// back to the pool: without this every request after a miss opens a new TCP connection
/// (+60 µs on loopback). A long body is abandoned, and its connection with it; a slow one ends
/// at the request's deadline like any other body.
fn drain(body: ureq::Body, deadline: (&RequestDeadline, u64), options: &RemoteOptions) {
    const DRAIN_LIMIT: u64 = 64 << 10;
    if body.content_length().is_some_and(|len| len <= DRAIN_LIMIT) {
        let _ = read_body(body, 0, DRAIN_LIMIT, deadline, options);
    }
}

fn classify(err: ureq::Error) -> RequestFailure {
    match err {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            RequestFailure::Connect
        }
        ureq::Error::Timeout(_) => RequestFailure::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => RequestFailure::Connect,
        ureq::Error::Io(err) => classify_io(&err),
        _ => RequestFailure::Protocol,
    }
}

fn classify_io(err: &io::Error) -> RequestFailure {
    // Errors raised inside ureq's body reader arrive wrapped in an io::Error.
    if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return match inner {
            ureq::Error::Timeout(_) => RequestFailure::Timeout,
            ureq::Error::Io(io) => classify_io(io),
            _ => RequestFailure::Protocol,
        };
    }
    match err.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::NotFound
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable => RequestFailure::Connect,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => RequestFailure::Timeout,
        _ => RequestFailure::Protocol,
    }
}

struct BaseUrl {
    /// `scheme://host[:port][/path]` without a trailing slash or credentials.
    base: String,
    credentials: Option<RemoteAuth>,
}

/// Splits a base URL into what requests are sent to and the Basic credentials it carries.
///
/// `http::Uri` (ureq's URI type) does the parsing, so a URL is refused here when a request
/// could never be made to it (a bad character, two ports, an empty host), not at the first
/// request. Schemes are case-insensitive (RFC 3986) and come out lowercase. A fragment, which
/// `http::Uri` drops silently, is refused like a query: neither has a place in a base URL.
fn parse_base_url(url: &str) -> Result<BaseUrl, RemoteError> {
    let invalid = |why: &str| RemoteError::InvalidUrl(why.to_owned());
    // The parse error says what is wrong without repeating the URL (it may hold a password).
    let uri: Uri = url
        .parse()
        .map_err(|err| invalid(&format!("malformed URL ({err})")))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(invalid("expected http://host[:port][/path]"));
    };
    match scheme {
        "http" => {}
        "https" if cfg!(feature = "remote-tls") => {}
        "https" => return Err(RemoteError::TlsNotEnabled),
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(invalid("a query or fragment has no place in a base URL"));
    }
    let (credentials, host) = match authority.as_str().rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let credentials = RemoteAuth::Basic {
                user: percent_decode(user).ok_or_else(|| invalid("bad %-escape in the user"))?,
                password: percent_decode(password)
                    .ok_or_else(|| invalid("bad %-escape in the password"))?,
            };
            (Some(credentials), host)
        }
        None => (None, authority.as_str()),
    };
    if host.is_empty() {
        return Err(invalid("missing or malformed host"));
    }
    Ok(BaseUrl {
        base: format!("{scheme}://{host}{}", uri.path().trim_end_matches('/')),
        credentials,
    })
}

/// Decodes a user or password from the URL; `None` for a `%` not followed by two hex digits
/// (which `percent_encoding` would keep as it is) or for bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let escapes_valid = text.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_valid {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// The `Authorization` value for HTTP Basic (RFC 7617): `user:password` in standard base64.
fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_is_rfc7617_base64() {
        // RFC 7617's example, then inputs of 1, 2, 3 and 4 bytes: two, one and no `=` of padding.
        assert_eq!(
            basic_authorization("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_authorization("", ""), "Basic Og==");
        assert_eq!(basic_authorization("f", ""), "Basic Zjo=");
        assert_eq!(basic_authorization("fo", ""), "Basic Zm86");
        assert_eq!(basic_authorization("fo", "o"), "Basic Zm86bw==");
    }

    #[test]
    fn parses_base_urls() {
        let url = parse_base_url("http://127.0.0.1:8080/cache/").unwrap();
        assert_eq!(url.base, "http://127.0.0.1:8080/cache");
        assert!(url.credentials.is_none());
        let url = parse_base_url("http://ci:p%40ss@cache.studio:9090").unwrap();
        assert_eq!(url.base, "http://cache.studio:9090");
        assert_eq!(url.credentials, basic("ci", "p@ss"));
        let url = parse_base_url("HTTP://u%3Ai:p%3A@[::1]:8080/a/b//").unwrap();
        assert_eq!(url.base, "http://[::1]:8080/a/b");
        assert_eq!(url.credentials, basic("u:i", "p:"));
        assert_invalid(&[
            "127.0.0.1:8080",
            "ftp://host/",
            "http:///path",
            "http://host/?q=1",
            "http://host/#part",
            "http://u:%zz@host",
            "http://u:%4@host",
            "http://u:%ff@host",
            "http://u:p@",
        ]);
        if !cfg!(feature = "remote-tls") {
            assert!(matches!(
                parse_base_url("https://host"),
                Err(RemoteError::TlsNotEnabled)
            ));
        }
    }

    #[test]
    fn urls_no_request_could_use_are_refused_up_front() {
        // The hand-written parser let these through, and every request to them failed later,
        // opening the breaker instead of telling the caller at construction.
        assert_invalid(&[
            "http://host:80:80/",
            "http://ho<st/",
            "http://h\u{f4}st/",
            "http://ho\u{1}st/",
            "http://host/pa th",
        ]);
    }

    fn assert_invalid(urls: &[&str]) {
        for url in urls {
            assert!(
                matches!(parse_base_url(url), Err(RemoteError::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    fn basic(user: &str, password: &str) -> Option<RemoteAuth> {
        Some(RemoteAuth::Basic {
            user: user.into(),
            password: password.into(),
        })
    }
}
