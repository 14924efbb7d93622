//! Counters and latency figures, recorded without locks.
//!
//! Hot-path cost is the point here: a memory hit must cost tens of nanoseconds, so
//! - counters are striped per thread and summed on snapshot: a thread that owns a stripe alone
//!   (see `thread_slot.rs`) updates it with plain loads and stores, no atomic
//!   read-modify-write and no cache line shared with another thread; threads beyond that share
//!   one overflow stripe with atomic adds;
//! - `get` latency is sampled (one call in [`GET_SAMPLE_PERIOD`] per thread is timed), because
//!   reading the clock twice costs about as much as a memory hit; tiers whose lookups cost far
//!   more (disk, network) time every one; puts and flushes are all timed.
//!
//! Counters saturate at `u64::MAX` instead of wrapping.

mod histogram;
mod recorder;
mod snapshot;

pub use histogram::LatencyHistogram;
pub use recorder::{Counter, LookupProbe, MetricsRecorder, Op, GET_SAMPLE_PERIOD};
pub use snapshot::{HitRateError, LatencySummary, PipelineCacheMetrics};
