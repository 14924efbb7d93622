//! The bounded upload queue and the background worker that drains it.
//!
//! `put` must never wait for the network, so it only appends to this queue (a lock, a push,
//! a notify). When the queue is full the new put is refused and counted: the caller learns it
//! through `try_put`, while an older, already accepted upload is never silently lost.
//! Uploads complete in queue order (one worker), so "everything queued before the flush is
//! done" is one sequence number.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::error::RequestFailure;
use crate::fingerprint::PipelineFingerprint;

/// Failures kept by name per flush report; more are only counted.
const KEPT_FAILURES: usize = 64;

/// One upload waiting for the worker.
pub(crate) struct Job {
    seq: u64,
    pub(crate) fp: PipelineFingerprint,
    pub(crate) payload: Arc<Vec<u8>>,
}

/// Why a put could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueFull {
    /// `upload_queue_len` uploads are already waiting.
    Entries,
    /// The bytes waiting would exceed `upload_queue_bytes`.
    Bytes,
}

/// What a flush found: uploads that failed since the last report, and those still unfinished.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Failed uploads since the previous report (the first 64 by name).
    pub failures: Vec<(PipelineFingerprint, RequestFailure)>,
    /// How many uploads failed since the previous report (may exceed `failures.len()`).
    pub failed: u64,
    /// Uploads queued before the flush that were still waiting or in flight at its deadline.
    pub unfinished: u64,
}

impl FlushReport {
    /// Everything queued before the flush reached the server.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.unfinished == 0
    }
}

struct State {
    jobs: VecDeque<Job>,
    queued_bytes: u64,
    /// Sequence number of the most recently queued job (jobs are numbered from 1).
    last_queued: u64,
    /// Every job numbered up to this one has been attempted.
    done_through: u64,
    report: FlushReport,
    shutdown: bool,
}

/// A bounded FIFO of uploads shared by the callers and the worker. Thread-safe.
pub(crate) struct UploadQueue {
    state: Mutex<State>,
    work_ready: Condvar,
    work_done: Condvar,
    max_len: usize,
    max_bytes: u64,
}

impl UploadQueue {
    pub(crate) fn new(max_len: usize, max_bytes: u64) -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::with_capacity(max_len.min(1024)),
                queued_bytes: 0,
                last_queued: 0,
                done_through: 0,
                report: FlushReport::default(),
                shutdown: false,
            }),
            work_ready: Condvar::new(),
            work_done: Condvar::new(),
            max_len,
            max_bytes,
        }
    }

    /// Queues an upload, or refuses it if the queue is full. Never blocks on the network.
    pub(crate) fn push(
        &self,
        fp: PipelineFingerprint,
        payload: Arc<Vec<u8>>,
    ) -> Result<(), QueueFull> {
        let len = payload.len() as u64;
        let mut state = self.state.lock();
        if state.jobs.len() >= self.max_len {
            return Err(QueueFull::Entries);
        }
        if state.queued_bytes.saturating_add(len) > self.max_bytes {
            return Err(QueueFull::Bytes);
        }
        state.last_queued += 1;
        let seq = state.last_queued;
        state.queued_bytes += len;
        state.jobs.push_back(Job { seq, fp, payload });
        drop(state);
        self.work_ready.notify_one();
        Ok(())
    }

    /// Uploads waiting (not counting one in flight).
    pub(crate) fn len(&self) -> usize {
        self.state.lock().jobs.len()
    }

    /// The worker's side: the next job, waiting for one; `None` once shut down.
    pub(crate) fn pop(&self) -> Option<Job> {
        let mut state = self.state.lock();
        loop {
            if state.shutdown {
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                state.queued_bytes -= job.payload.len() as u64;
                return Some(job);
            }
            self.work_ready.wait(&mut state);
        }
    }

    /// The worker's side: `job` was attempted with this outcome.
    pub(crate) fn complete(&self, job: &Job, outcome: Result<(), RequestFailure>) {
        let mut state = self.state.lock();
        state.done_through = job.seq;
        if let Err(failure) = outcome {
            state.report.failed += 1;
            if state.report.failures.len() < KEPT_FAILURES {
                state.report.failures.push((job.fp, failure));
            }
        }
        drop(state);
        self.work_done.notify_all();
    }

    /// Waits until every job queued before this call has been attempted, or `deadline`.
    /// Returns (and clears) the failures since the previous report.
    pub(crate) fn wait_for_queued(&self, deadline: Instant) -> FlushReport {
        let mut state = self.state.lock();
        let target = state.last_queued;
        while state.done_through < target && !state.shutdown {
            if self.work_done.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        let mut report = std::mem::take(&mut state.report);
        report.unfinished = target.saturating_sub(state.done_through);
        report
    }

    /// Stops the worker after its current job; jobs still waiting are abandoned.
    pub(crate) fn shut_down(&self) {
        self.state.lock().shutdown = true;
        self.work_ready.notify_all();
        self.work_done.notify_all();
    }
}

/// The worker loop: uploads jobs one by one until the queue shuts down.
pub(crate) fn run_worker(
    queue: &UploadQueue,
    mut upload: impl FnMut(&Job) -> Result<(), RequestFailure>,
) {
    while let Some(job) = queue.pop() {
        let outcome = upload(&job);
        queue.complete(&job, outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn fp(n: u8) -> PipelineFingerprint {
        PipelineFingerprint::of(&[n])
    }

    #[test]
    fn refuses_beyond_length_and_bytes() {
        let queue = UploadQueue::new(2, 10);
        queue.push(fp(1), Arc::new(vec![0; 4])).unwrap();
        assert_eq!(
            queue.push(fp(2), Arc::new(vec![0; 7])),
            Err(QueueFull::Bytes)
        );
        queue.push(fp(3), Arc::new(vec![0; 6])).unwrap();
        assert_eq!(
            queue.push(fp(4), Arc::new(vec![0; 1])),
            Err(QueueFull::Entries)
        );
        assert_eq!(queue.len(), 2);
        let job = queue.pop().unwrap();
        assert_eq!(job.fp, fp(1), "first in, first out");
        queue.push(fp(5), Arc::new(vec![0; 4])).unwrap();
    }

    #[test]
    fn flush_waits_for_earlier_jobs_and_reports_failures_once() {
        let queue = Arc::new(UploadQueue::new(16, 1 << 20));
        for n in 0..5 {
            queue.push(fp(n), Arc::new(vec![n; 8])).unwrap();
        }
        let worker = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                run_worker(&queue, |job| {
                    std::thread::sleep(Duration::from_millis(5));
                    if job.fp == fp(3) {
                        Err(RequestFailure::ServerError)
                    } else {
                        Ok(())
                    }
                })
            })
        };
        let report = queue.wait_for_queued(Instant::now() + Duration::from_secs(10));
        assert_eq!(report.unfinished, 0);
        assert_eq!(report.failed, 1);
        assert_eq!(report.failures, vec![(fp(3), RequestFailure::ServerError)]);
        assert!(!report.is_complete());
        let again = queue.wait_for_queued(Instant::now() + Duration::from_secs(10));
        assert!(again.is_complete(), "failures are reported once: {again:?}");
        queue.shut_down();
        worker.join().unwrap();
    }

    #[test]
    fn flush_gives_up_at_its_deadline() {
        let queue = UploadQueue::new(16, 1 << 20);
        queue.push(fp(1), Arc::new(vec![1])).unwrap();
        queue.push(fp(2), Arc::new(vec![2])).unwrap();
        let started = Instant::now();
        let report = queue.wait_for_queued(started + Duration::from_millis(30));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(report.unfinished, 2);
    }
}
