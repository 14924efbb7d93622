//! The remote tier against misbehaving servers: small HTTP servers written here on std
//! `TcpListener` (loopback only), each failing in one way. Every failure must be a miss (never
//! bytes that were not put), counted under the right figure, and within the deadline.
#![cfg(feature = "remote")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use pcstore::remote::{
    Clock, RemoteAuth, RemoteCache, RemoteOptions, RequestFailure, ENVELOPE_OVERHEAD,
};
use pcstore::{Lookup, PipelineCacheStore, PipelineFingerprint, PutError};

/// Upper bound for anything a test server does, so a broken test cannot hang CI.
const SERVER_LIFETIME: Duration = Duration::from_secs(30);

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Handler = dyn Fn(&Request, &mut TcpStream, &AtomicBool) -> bool + Send + Sync;

/// A loopback HTTP/1.1 server; `handler` answers each request and returns whether to keep the
/// connection open.
struct LoopbackServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    acceptor: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    fn start(
        handler: impl Fn(&Request, &mut TcpStream, &AtomicBool) -> bool + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let acceptor = {
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
            thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIFETIME {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
                            let handler = Arc::clone(&handler);
                            thread::spawn(move || serve(stream, &*handler, &stop, &requests));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Self {
            port,
            stop,
            requests,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler, stop: &AtomicBool, requests: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..1000 {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        requests.fetch_add(1, Ordering::SeqCst);
        if !handler(&request, &mut writer, stop) {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body).is_ok()
}

/// Holds the connection without answering until the server stops (or 10 s).
fn hang(stop: &AtomicBool) -> bool {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(5));
    }
    false
}

/// A clock that moves only when the test says so: cooldowns and TTLs without sleeping.
#[derive(Debug)]
struct ManualClock {
    start: Instant,
    start_wall: SystemTime,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            start_wall: SystemTime::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    fn advance(&self, by: Duration) {
        *self.elapsed.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock()
    }

    fn wall(&self) -> SystemTime {
        self.start_wall + *self.elapsed.lock()
    }
}

/// How a dripping server frames the body it sends at 3 bytes a second.
#[derive(Clone, Copy, Debug)]
enum Drip {
    /// `Transfer-Encoding: chunked`, one 1-byte chunk at a time.
    Chunked,
    /// No length: the body ends when the connection closes.
    UntilClose,
    /// `Content-Length: 60 MiB`, which would allow 6.5 s at the rate floor.
    Declares60MiB,
}

/// Answers at once, then sends the body at 3 B/s until the client goes away (or 10 s).
fn drip(stream: &mut TcpStream, stop: &AtomicBool, framing: Drip) -> bool {
    let head = match framing {
        Drip::Chunked => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned(),
        Drip::UntilClose => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned(),
        Drip::Declares60MiB => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 60 << 20),
    };
    if stream.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(10) {
        let byte: &[u8] = match framing {
            Drip::Chunked => b"1\r\nx\r\n",
            Drip::UntilClose | Drip::Declares60MiB => b"x",
        };
        if stream.write_all(byte).is_err() {
            break;
        }
        // The fault itself: 3 bytes a second.
        thread::sleep(Duration::from_millis(333));
    }
    false
}

/// How the storing server damages what it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serve {
    Intact,
    /// Declares the full length, sends half, closes.
    CutShort,
    /// Declares and sends only the first half.
    HalfBody,
    /// Serves the body stored under another path.
    OtherKeysBody,
    /// One payload byte flipped.
    FlippedByte,
    /// No Content-Length: the body, then 1 MiB of zeros, then close.
    Endless,
    /// The body 1 KiB at a time, 20 ms apart.
    SlowDrip,
}

/// A minimal Bazel-layout server that stores PUT bodies in memory and serves them back,
/// damaged as `mode` says.
struct StoringServer {
    server: LoopbackServer,
    stored: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    mode: Arc<Mutex<Serve>>,
    puts: Arc<AtomicUsize>,
}

impl StoringServer {
    fn start() -> Self {
        let stored: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let mode = Arc::new(Mutex::new(Serve::Intact));
        let puts = Arc::new(AtomicUsize::new(0));
        let server = {
            let (stored, mode, puts) = (Arc::clone(&stored), Arc::clone(&mode), Arc::clone(&puts));
            LoopbackServer::start(move |request, stream, _| {
                if request.method == "PUT" {
                    puts.fetch_add(1, Ordering::SeqCst);
                    stored
                        .lock()
                        .insert(request.path.clone(), request.body.clone());
                    return respond(stream, 201, b"");
                }
                let stored = stored.lock();
                let Some(body) = stored.get(&request.path).cloned() else {
                    return respond(stream, 404, b"");
                };
                match *mode.lock() {
                    Serve::Intact => respond(stream, 200, &body),
                    Serve::CutShort => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(&body[..body.len() / 2]);
                        false
                    }
                    Serve::HalfBody => respond(stream, 200, &body[..body.len() / 2]),
                    Serve::OtherKeysBody => {
                        let other = stored
                            .iter()
                            .find(|(path, _)| **path != request.path)
                            .map(|(_, other)| other.clone())
                            .expect("a second entry is stored");
                        respond(stream, 200, &other)
                    }
                    Serve::FlippedByte => {
                        let mut body = body;
                        let last = body.len() - 1;
                        body[last] ^= 0x01;
                        respond(stream, 200, &body)
                    }
                    Serve::Endless => {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                        let _ = stream.write_all(&body);
                        let _ = stream.write_all(&vec![0u8; 1 << 20]);
                        false
                    }
                    Serve::SlowDrip => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = stream.write_all(head.as_bytes());
                        for chunk in body.chunks(1024) {
                            if stream.write_all(chunk).is_err() {
                                return false;
                            }
                            thread::sleep(Duration::from_millis(20));
                        }
                        true
                    }
                }
            })
        };
        Self {
            server,
            stored,
            mode,
            puts,
        }
    }

    fn set_mode(&self, mode: Serve) {
        *self.mode.lock() = mode;
    }
}

fn fp(n: u32) -> PipelineFingerprint {
    PipelineFingerprint::of(&n.to_le_bytes())
}

fn blob(n: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(n) as u8)
        .collect()
}

/// Fast-failing options for tests: no miss memory, short deadlines and cooldowns.
fn test_options() -> RemoteOptions {
    RemoteOptions {
        connect_timeout: Duration::from_millis(200),
        base_deadline: Duration::from_millis(300),
        miss_ttl: Duration::ZERO,
        flush_deadline: Duration::from_secs(10),
        breaker_cooldown: Duration::from_millis(100),
        breaker_max_cooldown: Duration::from_millis(400),
        ..RemoteOptions::default()
    }
}

/// A writer puts two blobs on `server`; returns their keys and contents.
fn seed(server: &StoringServer, options: RemoteOptions) -> [(PipelineFingerprint, Vec<u8>); 2] {
    let writer = RemoteCache::with_options(&server.server.url(), options).unwrap();
    let entries = [(fp(1), blob(1, 4096)), (fp(2), blob(2, 4096))];
    for (key, value) in &entries {
        writer.try_put(*key, value.clone()).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(server.stored.lock().len(), 2);
    entries
}

#[test]
fn intact_round_trip_through_a_loopback_server() {
    let server = StoringServer::start();
    let [(key, value), _] = seed(&server, test_options());
    let path = format!("/ac/{}", key.to_hex());
    let stored_len = server.stored.lock()[&path].len();
    assert_eq!(stored_len, value.len() + ENVELOPE_OVERHEAD);

    let reader = RemoteCache::with_options(&server.server.url(), test_options()).unwrap();
    assert_eq!(reader.get(&key), Some(value.clone()));
    assert_eq!(reader.get(&fp(99)), None, "404 is a miss");
    let metrics = reader.metrics();
    assert_eq!((metrics.lookups, metrics.hits, metrics.misses), (2, 1, 1));
    assert_eq!(metrics.bytes_read, value.len() as u64);
    assert_eq!(metrics.corrupt_dropped, 0);
    assert_eq!(metrics.get_latency.samples, 2);
    let remote = reader.remote_metrics();
    assert_eq!(remote.bytes_downloaded, stored_len as u64);
    assert_eq!(remote.breaker_openings, 0);
}

#[test]
fn damaged_bodies_are_misses_and_counted() {
    let server = StoringServer::start();
    let [(key, _), _] = seed(&server, test_options());

    for (mode, corrupt, protocol) in [
        (Serve::HalfBody, 1, 0),
        (Serve::OtherKeysBody, 1, 0),
        (Serve::FlippedByte, 1, 0),
        (Serve::CutShort, 0, 1),
    ] {
        server.set_mode(mode);
        let reader = RemoteCache::with_options(&server.server.url(), test_options()).unwrap();
        let expected = if corrupt == 1 {
            Lookup::Corrupt
        } else {
            Lookup::Miss // a broken exchange says nothing about the entry
        };
        assert_eq!(reader.lookup(&key), expected, "{mode:?}");
        let metrics = reader.metrics();
        assert_eq!(metrics.misses, 1, "{mode:?}");
        assert_eq!(metrics.hits, 0, "{mode:?}");
        assert_eq!(metrics.corrupt_dropped, corrupt, "{mode:?}");
        let remote = reader.remote_metrics();
        assert_eq!(remote.protocol_errors, protocol, "{mode:?}");
        assert_eq!(
            remote.breaker_openings, 0,
            "{mode:?}: the server did answer"
        );
    }
}

#[test]
fn oversized_bodies_are_refused_with_or_without_a_length() {
    let server = StoringServer::start();
    let [(key, _), _] = seed(&server, test_options());
    let small = RemoteOptions {
        max_blob_bytes: 1024,
        ..test_options()
    };
    for mode in [Serve::Intact, Serve::Endless] {
        server.set_mode(mode);
        let reader = RemoteCache::with_options(&server.server.url(), small.clone()).unwrap();
        assert_eq!(reader.get(&key), None, "{mode:?}");
        assert_eq!(reader.metrics().corrupt_dropped, 1, "{mode:?}");
        // Reading stops at the limit: never the whole 1 MiB tail.
        assert!(reader.remote_metrics().bytes_downloaded <= 1024 + ENVELOPE_OVERHEAD as u64);
    }
}

#[test]
fn a_slow_drip_body_times_out_within_its_deadline() {
    let server = StoringServer::start();
    let writer = RemoteCache::with_options(&server.server.url(), test_options()).unwrap();
    writer.try_put(fp(3), blob(3, 64 << 10)).unwrap();
    writer.flush().unwrap();
    server.set_mode(Serve::SlowDrip);
    let reader = RemoteCache::with_options(&server.server.url(), test_options()).unwrap();
    let started = Instant::now();
    assert_eq!(reader.get(&fp(3)), None);
    let elapsed = started.elapsed();
    // The whole drip takes ~1.3 s; the deadline grows with the bytes received, to at most
    // 300 ms + 6.25 ms for all 64 KiB.
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let remote = reader.remote_metrics();
    assert_eq!(remote.timeouts, 1);
    assert_eq!(remote.breaker_openings, 1);
    assert_eq!(reader.metrics().hits, 0);
}

#[test]
fn connection_refused_is_a_quick_miss_and_opens_the_breaker() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cache =
        RemoteCache::with_options(&format!("http://127.0.0.1:{port}"), test_options()).unwrap();
    let started = Instant::now();
    assert_eq!(cache.get(&fp(1)), None);
    assert!(started.elapsed() < Duration::from_secs(2));
    let remote = cache.remote_metrics();
    assert_eq!(remote.connect_errors, 1);
    assert_eq!(remote.breaker_openings, 1);
    assert!(remote.breaker_open);
    assert_eq!(cache.get(&fp(1)), None);
    let remote = cache.remote_metrics();
    assert_eq!(remote.connect_errors, 1, "no second attempt while open");
    assert_eq!(remote.breaker_skips, 1);
    assert_eq!(cache.metrics().misses, 2);
}

#[test]
fn a_server_that_never_answers_costs_one_deadline() {
    let server = LoopbackServer::start(|_, _, stop| hang(stop));
    let cache = RemoteCache::with_options(&server.url(), test_options()).unwrap();
    let started = Instant::now();
    assert_eq!(cache.get(&fp(1)), None);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(cache.remote_metrics().timeouts, 1);
    let started = Instant::now();
    assert_eq!(cache.get(&fp(1)), None);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "breaker open: no wait"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn server_errors_open_the_breaker_which_backs_off_then_probes() {
    let healthy = Arc::new(AtomicBool::new(false));
    let server = {
        let healthy = Arc::clone(&healthy);
        LoopbackServer::start(move |_, stream, _| {
            if healthy.load(Ordering::SeqCst) {
                respond(stream, 404, b"")
            } else {
                respond(stream, 503, b"overloaded")
            }
        })
    };
    let clock = ManualClock::new();
    let options = RemoteOptions {
        breaker_cooldown: Duration::from_secs(30),
        breaker_max_cooldown: Duration::from_secs(600),
        ..test_options()
    };
    let cache = RemoteCache::with_clock(&server.url(), options, clock.clone()).unwrap();
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 1);
    assert_eq!(cache.remote_metrics().server_errors, 1);
    assert_eq!(cache.remote_metrics().breaker_openings, 1);
    for _ in 0..5 {
        assert_eq!(cache.get(&fp(1)), None);
    }
    assert_eq!(server.requests(), 1, "open: nothing reaches the server");

    clock.advance(Duration::from_secs(30));
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 2, "one probe after the cooldown");
    assert_eq!(
        cache.remote_metrics().breaker_openings,
        2,
        "failed probe reopens"
    );

    clock.advance(Duration::from_secs(59));
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 2, "the cooldown doubled to 60 s");

    healthy.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 3, "the probe after the longer cooldown");
    assert!(
        !cache.remote_metrics().breaker_open,
        "a good answer closes it"
    );
    assert_eq!(cache.get(&fp(2)), None);
    assert_eq!(server.requests(), 4);
    assert_eq!(cache.remote_metrics().server_errors, 2);
}

/// Finding: a server sending its body at 3 B/s held a default `get` for 6.7–6.9 s (the deadline
/// was sized for the declared or largest body, and checked only in total), and again at every
/// breaker probe.
#[test]
fn a_dripping_body_is_a_miss_within_one_second_however_it_is_framed() {
    let defaults = RemoteOptions::default();
    for framing in [Drip::Chunked, Drip::UntilClose, Drip::Declares60MiB] {
        let server = LoopbackServer::start(move |_, stream, stop| drip(stream, stop, framing));
        let clock = ManualClock::new();
        let cache =
            RemoteCache::with_clock(&server.url(), defaults.clone(), clock.clone()).unwrap();
        let started = Instant::now();
        assert_eq!(cache.get(&fp(1)), None);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{framing:?}: {elapsed:?}");
        let remote = cache.remote_metrics();
        assert_eq!(remote.timeouts, 1, "{framing:?}: {remote:?}");
        assert!(remote.breaker_open, "{framing:?}");
        assert_eq!(cache.get(&fp(2)), None);
        assert_eq!(
            server.requests(),
            1,
            "{framing:?}: held back while cooling down"
        );

        // The probe after the cooldown is bounded the same way, then the server is left alone
        // for twice as long.
        clock.advance(defaults.breaker_cooldown);
        let started = Instant::now();
        assert_eq!(cache.get(&fp(3)), None);
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(1),
            "{framing:?} probe: {elapsed:?}"
        );
        assert_eq!(server.requests(), 2, "{framing:?}: one probe");
        assert_eq!(cache.remote_metrics().breaker_openings, 2, "{framing:?}");
        clock.advance(defaults.breaker_cooldown.saturating_mul(2) - Duration::from_millis(1));
        assert_eq!(cache.get(&fp(4)), None);
        assert_eq!(
            server.requests(),
            2,
            "{framing:?}: the doubled cooldown holds"
        );
        assert_eq!(cache.metrics().hits, 0);
    }
}

#[test]
fn rejected_credentials_are_counted_but_do_not_open_the_breaker() {
    let server = LoopbackServer::start(|request, stream, _| {
        match request.headers.get("authorization").map(String::as_str) {
            Some("Bearer right") => respond(stream, 404, b""),
            _ => respond(stream, 401, b""),
        }
    });
    let wrong = RemoteOptions {
        auth: Some(RemoteAuth::Bearer("wrong".into())),
        ..test_options()
    };
    let cache = RemoteCache::with_options(&server.url(), wrong).unwrap();
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(cache.get(&fp(1)), None);
    let remote = cache.remote_metrics();
    assert_eq!(remote.rejected, 2);
    assert_eq!(remote.breaker_openings, 0);
    let right = RemoteOptions {
        auth: Some(RemoteAuth::Bearer("right".into())),
        ..test_options()
    };
    let cache = RemoteCache::with_options(&server.url(), right).unwrap();
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(cache.remote_metrics().rejected, 0);
    assert_eq!(server.requests(), 3);
}

#[test]
fn put_returns_at_once_while_the_server_hangs() {
    let server = LoopbackServer::start(|_, _, stop| hang(stop));
    let options = RemoteOptions {
        upload_queue_len: 4,
        ..test_options()
    };
    let cache = RemoteCache::with_options(&server.url(), options).unwrap();
    let mut accepted = 0;
    let mut dropped = 0;
    for n in 0..10 {
        let started = Instant::now();
        match cache.try_put(fp(n), blob(n, 4096)) {
            Ok(()) => accepted += 1,
            Err(PutError::Dropped(_)) => dropped += 1,
            Err(other) => panic!("unexpected {other}"),
        }
        // A generous bound (for a loaded CI machine) next to the 300 ms the hanging server
        // costs each upload.
        assert!(started.elapsed() < Duration::from_millis(150));
    }
    // The worker holds one upload in flight; the queue holds 4 more.
    assert!((4..=5).contains(&accepted), "{accepted}");
    assert_eq!(accepted + dropped, 10);
    let metrics = cache.metrics();
    assert_eq!(metrics.puts, accepted);
    assert_eq!(metrics.rejected_puts, dropped);
    assert_eq!(cache.remote_metrics().queue_drops, dropped);

    // The first upload times out and opens the breaker; the rest are skipped quickly.
    let report = cache.flush_within(Duration::from_secs(5));
    assert_eq!(report.unfinished, 0);
    assert_eq!(report.failed, accepted);
    assert_eq!(report.failures[0].1, RequestFailure::Timeout);
    assert!(report.failures[1..]
        .iter()
        .all(|(_, why)| *why == RequestFailure::BreakerOpen));
    assert_eq!(cache.metrics().flush_errors, 1);
    assert_eq!(cache.remote_metrics().upload_failures, accepted);
}

#[test]
fn flush_reports_failed_uploads() {
    let server = LoopbackServer::start(|request, stream, _| {
        if request.method == "PUT" {
            respond(stream, 413, b"too large")
        } else {
            respond(stream, 404, b"")
        }
    });
    let cache = RemoteCache::with_options(&server.url(), test_options()).unwrap();
    cache.try_put(fp(1), blob(1, 100)).unwrap();
    let error = cache.flush().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Other);
    assert!(error.to_string().contains("1 uploads failed"), "{error}");
    assert_eq!(cache.remote_metrics().rejected, 1);
    assert!(cache.flush().is_ok(), "the failure was reported once");
}

#[test]
fn keyed_envelopes_cannot_be_forged_without_the_secret() {
    let server = StoringServer::start();
    let secret = RemoteOptions::secret_from_text("studio secret");
    let keyed = RemoteOptions {
        secret_key: Some(secret),
        ..test_options()
    };
    let writer = RemoteCache::with_options(&server.server.url(), keyed.clone()).unwrap();
    writer.try_put(fp(1), blob(1, 1000)).unwrap();
    writer.flush().unwrap();
    let reader = RemoteCache::with_options(&server.server.url(), keyed.clone()).unwrap();
    assert_eq!(reader.get(&fp(1)), Some(blob(1, 1000)));

    // Someone who can PUT but has another secret (or none) overwrites the entry.
    for forger_secret in [Some(RemoteOptions::secret_from_text("guess")), None] {
        let forger = RemoteCache::with_options(
            &server.server.url(),
            RemoteOptions {
                secret_key: forger_secret,
                ..test_options()
            },
        )
        .unwrap();
        forger.try_put(fp(1), b"evil".to_vec()).unwrap();
        forger.flush().unwrap();
        let reader = RemoteCache::with_options(&server.server.url(), keyed.clone()).unwrap();
        assert_eq!(reader.get(&fp(1)), None);
        assert_eq!(reader.metrics().corrupt_dropped, 1);
    }
    assert_eq!(server.puts.load(Ordering::SeqCst), 3);
}

#[test]
fn remembered_misses_skip_the_network() {
    let server = LoopbackServer::start(|_, stream, _| respond(stream, 404, b""));
    let clock = ManualClock::new();
    let options = RemoteOptions {
        miss_ttl: Duration::from_secs(10),
        ..test_options()
    };
    let cache = RemoteCache::with_clock(&server.url(), options, clock.clone()).unwrap();
    for _ in 0..10 {
        assert_eq!(cache.get(&fp(1)), None);
    }
    assert_eq!(server.requests(), 1);
    assert_eq!(cache.remote_metrics().remembered_misses, 9);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 1, "remembered until the TTL");
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 2, "forgotten after the TTL");
    // A put of the key makes it worth asking again at once (this server refuses the upload).
    cache.try_put(fp(1), blob(1, 10)).unwrap();
    assert!(cache.flush().is_err());
    assert_eq!(cache.get(&fp(1)), None);
    assert_eq!(server.requests(), 4, "the upload, then a new lookup");
}

#[cfg(feature = "remote-tls")]
#[test]
fn https_to_a_plain_http_server_is_a_quick_miss() {
    let server = StoringServer::start();
    let url = format!("https://127.0.0.1:{}", server.server.port);
    let cache = RemoteCache::with_options(&url, test_options()).unwrap();
    let started = Instant::now();
    assert_eq!(cache.get(&fp(1)), None);
    assert!(started.elapsed() < Duration::from_secs(2));
    let remote = cache.remote_metrics();
    assert_eq!(
        remote.connect_errors + remote.protocol_errors + remote.timeouts,
        1,
        "{remote:?}"
    );
}

#[test]
fn dropping_the_cache_never_waits_for_a_hanging_upload() {
    let server = LoopbackServer::start(|_, _, stop| hang(stop));
    let options = RemoteOptions {
        base_deadline: Duration::from_secs(5),
        ..test_options()
    };
    let cache = RemoteCache::with_options(&server.url(), options).unwrap();
    for n in 0..3 {
        cache.try_put(fp(n), blob(n, 4096)).unwrap();
    }
    // Let the worker get stuck in the first upload (the server never answers).
    let started = Instant::now();
    while server.requests() == 0 && started.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(server.requests(), 1);
    let started = Instant::now();
    drop(cache);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "drop waited {:?}",
        started.elapsed()
    );
}
