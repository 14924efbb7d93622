//! [`RemoteCache`]: the shared tier as a [`PipelineCacheStore`].

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::breaker::{BreakerChange, CircuitBreaker, Health};
use super::breaker_file::BreakerFile;
use super::clock::{Clock, SystemClock};
use super::envelope;
use super::error::{RemoteError, RequestFailure};
use super::http::{Download, HttpClient};
use super::metrics::{bump, RemoteCounters, RemoteMetrics};
use super::miss_memory::MissMemory;
use super::options::RemoteOptions;
use super::upload::{run_worker, FlushReport, Job, QueueFull, UploadQueue};
use crate::config::{self, RemoteSettings};
use crate::diagnostics::Throttle;
use crate::fingerprint::PipelineFingerprint;
use crate::metrics::{Counter, MetricsRecorder, Op, PipelineCacheMetrics};
use crate::store::{Lookup, PipelineCacheStore, PutError};

/// A pipeline cache on an HTTP server speaking the Bazel remote-cache layout
/// (`GET`/`PUT {base_url}/ac/{64 hex digits}`): bazel-remote, nginx WebDAV, ccache's servers.
///
/// - `get` makes at most one request, bounded by the options' deadlines; any failure, a
///   404, or a body that fails the envelope check is a miss (never an error, never bad bytes).
/// - `put` only queues: a background worker uploads; a full queue refuses the put.
/// - `flush` waits (up to `flush_deadline`) for the uploads queued before it and fails if any
///   of them, or any earlier unreported one, did not reach the server.
/// - After a connection error, timeout or 5xx the circuit breaker stops all requests for a
///   cooldown (see [`RemoteOptions::breaker_cooldown`]); with [`RemoteOptions::state_dir`]
///   other processes learn of it too.
///
/// Thread-safe. Dropping it stops the worker after its current upload; uploads still queued are
/// abandoned, so call `flush` first if they matter. Credentials are never logged or displayed:
/// its log records (target `pcstore::remote`: the breaker opening and closing, failed requests,
/// damaged entries, dropped uploads) name the server by its URL without user or password.
pub struct RemoteCache {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    options: RemoteOptions,
    breaker: CircuitBreaker,
    misses: MissMemory,
    queue: UploadQueue,
    metrics: MetricsRecorder,
    counters: RemoteCounters,
}

impl RemoteCache {
    /// A cache on `base_url` (e.g. `http://cache.studio:8080` or `http://u:p@host/prefix`)
    /// with default options.
    ///
    /// # Errors
    /// See [`Self::with_options`].
    pub fn new(base_url: &str) -> Result<Self, RemoteError> {
        Self::with_options(base_url, RemoteOptions::default())
    }

    /// A cache on `base_url` with `options`. No request is made here: a server that is down
    /// shows up as misses later, not as an error now.
    ///
    /// # Errors
    /// A malformed URL, `https://` without the `remote-tls` feature, an out-of-range option,
    /// or a failure to start the upload worker thread.
    pub fn with_options(base_url: &str, options: RemoteOptions) -> Result<Self, RemoteError> {
        Self::with_clock(base_url, options, Arc::new(SystemClock))
    }

    /// Like [`Self::with_options`], with the breaker's cooldowns and the miss memory's TTL
    /// read from `clock` (network deadlines always use real time). For tests that step
    /// through cooldowns without sleeping, and engines that run on their own time.
    ///
    /// # Errors
    /// See [`Self::with_options`].
    pub fn with_clock(
        base_url: &str,
        options: RemoteOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RemoteError> {
        options.validate()?;
        let http = HttpClient::new(base_url, options.clone())?;
        let shared = options
            .state_dir
            .as_deref()
            .map(|dir| BreakerFile::new(dir, http.base()));
        let inner = Arc::new(Inner {
            breaker: CircuitBreaker::new(
                options.breaker_cooldown,
                options.breaker_max_cooldown,
                Arc::clone(&clock),
                shared,
            ),
            misses: MissMemory::new(options.miss_ttl, clock),
            http,
            queue: UploadQueue::new(options.upload_queue_len, options.upload_queue_bytes),
            metrics: MetricsRecorder::new(),
            counters: RemoteCounters::default(),
            options,
        });
        if inner.breaker.is_open() {
            log::info!(
                target: "pcstore::remote",
                "remote cache {}: another process found it unreachable; no requests until its \
                 cooldown ends",
                inner.http.base()
            );
        }
        if !inner.options.read_only {
            let worker = Arc::clone(&inner);
            thread::Builder::new()
                .name("pcstore-upload".into())
                .spawn(move || run_worker(&worker.queue, |job| worker.upload(job)))
                .map_err(RemoteError::Spawn)?;
        }
        Ok(Self { inner })
    }

    /// The cache named by `PCSTORE_REMOTE_URL`, with [`RemoteOptions::from_env`];
    /// `Ok(None)` when that variable is unset or empty.
    ///
    /// # Errors
    /// As [`Self::with_options`], or [`RemoteError::InvalidEnv`] for a variable that is not
    /// valid UTF-8 or does not parse.
    pub fn from_env() -> Result<Option<Self>, RemoteError> {
        match RemoteSettings::from_vars(&config::process_env).map_err(RemoteError::InvalidEnv)? {
            Some(remote) => {
                Self::with_options(&remote.url, RemoteOptions::from_settings(&remote.env)).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Checks `base_url` as [`Self::with_options`] does, without opening anything (no thread,
    /// no request).
    ///
    /// # Errors
    /// [`RemoteError::InvalidUrl`] or [`RemoteError::TlsNotEnabled`], as `with_options` would.
    pub fn check_url(base_url: &str) -> Result<(), RemoteError> {
        HttpClient::new(base_url, RemoteOptions::default()).map(|_| ())
    }

    /// The options this cache was opened with.
    #[must_use]
    pub fn options(&self) -> &RemoteOptions {
        &self.inner.options
    }

    /// Waits up to `deadline` for the uploads queued before this call and reports failures
    /// since the previous report. Counted in `flushes` / `flush_errors` like `flush`.
    #[must_use]
    pub fn flush_within(&self, deadline: Duration) -> FlushReport {
        let started = Instant::now();
        let report = self.inner.queue.wait_for_queued(started + deadline);
        let metrics = &self.inner.metrics;
        metrics.inc(Counter::Flushes);
        if !report.is_complete() {
            metrics.inc(Counter::FlushErrors);
        }
        metrics.record_latency(Op::Flush, started.elapsed());
        report
    }

    /// Asks the server (`HEAD`) whether it holds an entry for `fp`, e.g. so a CI writer can
    /// skip blobs the farm already uploaded. Unverified: a later `get` may still find the
    /// entry corrupt. Not counted as a lookup; failures are counted and feed the breaker.
    ///
    /// # Errors
    /// The request failed, or was not made because the breaker is open.
    pub fn contains(&self, fp: &PipelineFingerprint) -> Result<bool, RequestFailure> {
        let inner = &self.inner;
        if !inner.breaker.allow() {
            inner.counters.failure(RequestFailure::BreakerOpen);
            return Err(RequestFailure::BreakerOpen);
        }
        let outcome = inner.http.head(fp);
        match outcome {
            Ok(_) => inner.record_health(Health::Answered, None),
            Err(failure) => inner.note_failure(failure),
        }
        outcome
    }

    /// The remote tier's own figures: failures by kind, breaker, queue, wire bytes.
    #[must_use]
    pub fn remote_metrics(&self) -> RemoteMetrics {
        let inner = &self.inner;
        inner
            .counters
            .snapshot(inner.breaker.is_open(), inner.queue.len() as u64)
    }
}

impl Inner {
    /// A lookup as `get` counts it; `damaged` as in [`Self::fetch`].
    fn counted_fetch(&self, fp: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        // Every lookup is timed: next to a network request the clock costs nothing.
        let probe = self.metrics.start_get_timed();
        let found = self.fetch(fp, damaged);
        self.metrics
            .record_lookup(probe, found.as_ref().map(Vec::len));
        found
    }

    /// One lookup; every failure is a miss. Sets `damaged` when the server's entry failed its
    /// check (then it is remembered as a miss, so it is not downloaded again for a while).
    fn fetch(&self, fp: &PipelineFingerprint, damaged: &mut bool) -> Option<Vec<u8>> {
        if self.misses.recently_missed(fp) {
            bump(&self.counters.remembered_misses, 1);
            return None;
        }
        if !self.breaker.allow() {
            bump(&self.counters.breaker_skips, 1);
            return None;
        }
        let download = match self.http.get(fp) {
            Ok(download) => download,
            Err(failure) => {
                self.note_failure(failure);
                return None;
            }
        };
        self.record_health(Health::Answered, None);
        let body = match download {
            Download::Missing => {
                self.misses.remember(*fp);
                return None;
            }
            Download::Oversized => Err(envelope::EnvelopeError::TooLarge),
            Download::Body(body) => {
                bump(&self.counters.bytes_downloaded, body.len() as u64);
                envelope::open(
                    body,
                    fp,
                    self.options.secret_key.as_ref(),
                    self.options.max_blob_bytes,
                )
            }
        };
        if let Err(err) = &body {
            *damaged = true;
            log::warn!(
                target: "pcstore::remote",
                "remote cache {}: entry {fp} failed its envelope check ({err:?}); dropped",
                self.http.base()
            );
            self.metrics.inc(Counter::CorruptDropped);
            // Do not download the same bad entry again on the next frame.
            self.misses.remember(*fp);
        }
        body.ok()
    }

    /// The worker's upload of one job.
    fn upload(&self, job: &Job) -> Result<(), RequestFailure> {
        let outcome = self.try_upload(job);
        match outcome {
            Ok(()) => bump(&self.counters.uploads, 1),
            Err(_) => bump(&self.counters.upload_failures, 1),
        }
        outcome
    }

    fn try_upload(&self, job: &Job) -> Result<(), RequestFailure> {
        if !self.breaker.allow() {
            self.counters.failure(RequestFailure::BreakerOpen);
            return Err(RequestFailure::BreakerOpen);
        }
        let body = envelope::seal(&job.fp, &job.payload, self.options.secret_key.as_ref());
        let started = Instant::now();
        let outcome = self.http.put(&job.fp, &body);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counters.upload_latency.record(ns);
        match outcome {
            Ok(()) => {
                self.record_health(Health::Answered, None);
                bump(&self.counters.bytes_uploaded, body.len() as u64);
            }
            Err(failure) => self.note_failure(failure),
        }
        outcome
    }

    /// Counts a failed request and tells the breaker.
    fn note_failure(&self, failure: RequestFailure) {
        self.counters.failure(failure);
        let health = if failure.server_unhealthy() {
            Health::Failed
        } else {
            Health::Answered
        };
        self.record_health(health, Some(failure));
    }

    /// Tells the breaker how a request went, and logs what that changed: an opening or a
    /// closing always, other failures at most every few seconds (a misconfigured server
    /// answering 403 to every request must not flood the engine's log).
    fn record_health(&self, health: Health, failure: Option<RequestFailure>) {
        static FAILURES: Throttle = Throttle::new();
        let base = self.http.base();
        match self.breaker.record(health) {
            Some(BreakerChange::Opened { cooldown }) => {
                bump(&self.counters.breaker_openings, 1);
                let why = failure.map_or_else(String::new, |failure| format!("{failure}; "));
                log::warn!(
                    target: "pcstore::remote",
                    "remote cache {base}: {why}no requests for {} s",
                    cooldown.as_secs()
                );
            }
            Some(BreakerChange::Closed) => log::info!(
                target: "pcstore::remote",
                "remote cache {base} answers again; requests resume"
            ),
            None => {
                if let Some(failure) = failure {
                    if let Some(unreported) = FAILURES.permit() {
                        log::warn!(
                            target: "pcstore::remote",
                            "remote cache {base}: {failure}{unreported}"
                        );
                    }
                }
            }
        }
    }
}

impl Drop for RemoteCache {
    fn drop(&mut self) {
        self.inner.queue.shut_down();
    }
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl PipelineCacheStore for RemoteCache {
    fn get(&self, fp: &PipelineFingerprint) -> Option<Vec<u8>> {
        self.inner.counted_fetch(fp, &mut false)
    }

    fn lookup(&self, fp: &PipelineFingerprint) -> Lookup {
        let mut damaged = false;
        match self.inner.counted_fetch(fp, &mut damaged) {
            Some(blob) => Lookup::Hit(Arc::new(blob)),
            None if damaged => Lookup::Corrupt,
            None => Lookup::Miss,
        }
    }

    fn put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) {
        let _ = self.try_put_arc(fp, Arc::new(artifact));
    }

    fn try_put(&self, fp: PipelineFingerprint, artifact: Vec<u8>) -> Result<(), PutError> {
        self.try_put_arc(fp, Arc::new(artifact))
    }

    /// Queues the upload and returns at once; the `Arc` is held until uploaded.
    fn try_put_arc(&self, fp: PipelineFingerprint, artifact: Arc<Vec<u8>>) -> Result<(), PutError> {
        let started = Instant::now();
        let inner = &self.inner;
        let len = artifact.len();
        let outcome = if inner.options.read_only {
            Err(PutError::ReadOnly)
        } else if len as u64 > inner.options.max_blob_bytes {
            Err(PutError::TooLarge {
                len: len as u64,
                max: inner.options.max_blob_bytes,
            })
        } else {
            inner.queue.push(fp, artifact).map_err(|full| {
                bump(&inner.counters.queue_drops, 1);
                let why = match full {
                    QueueFull::Entries => "upload queue full (entries)",
                    QueueFull::Bytes => "upload queue full (bytes)",
                };
                static DROPS: Throttle = Throttle::new();
                if let Some(unreported) = DROPS.permit() {
                    log::warn!(
                        target: "pcstore::remote",
                        "remote cache {}: {why}, upload dropped{unreported}",
                        inner.http.base()
                    );
                }
                PutError::Dropped(why)
            })
        };
        if outcome.is_ok() {
            inner.misses.forget(&fp);
        }
        inner.metrics.record_put(started, len, outcome.is_ok());
        outcome
    }

    /// Waits up to `flush_deadline` for queued uploads. `Err` (kind `TimedOut` if uploads were
    /// still unfinished, `Other` if some failed) when anything queued did not reach the server.
    fn flush(&self) -> io::Result<()> {
        let report = self.flush_within(self.inner.options.flush_deadline);
        if report.is_complete() {
            return Ok(());
        }
        let kind = if report.unfinished > 0 {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::Other
        };
        let first = report
            .failures
            .first()
            .map(|(fp, why)| format!("; first: {fp}: {why}"))
            .unwrap_or_default();
        Err(io::Error::new(
            kind,
            format!(
                "remote cache: {} uploads failed, {} unfinished{first}",
                report.failed, report.unfinished
            ),
        ))
    }

    fn metrics(&self) -> PipelineCacheMetrics {
        self.inner.metrics.snapshot(0, 0)
    }
}
