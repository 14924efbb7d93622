//! What every part of one open store shares: its directory, options and limits, its clock,
//! its metrics and its report counters. All of it is either fixed at open or synchronised
//! inside, so the parts (view, writer, compactor) hold it by `Arc` and need no lock of theirs
//! to use it.

use std::path::Path;

use super::clock::Clock;
use super::dir::StoreRoot;
use super::options::{DiskCacheOptions, Limits};
use super::report::Stats;
use crate::metrics::MetricsRecorder;

/// The shared context of one open store (see the module documentation).
pub struct StoreContext {
    root: StoreRoot,
    options: DiskCacheOptions,
    limits: Limits,
    metrics: MetricsRecorder,
    stats: Stats,
    clock: Clock,
}

impl StoreContext {
    pub fn new(root: StoreRoot, options: DiskCacheOptions) -> Self {
        Self {
            root,
            limits: Limits::new(&options),
            options,
            metrics: MetricsRecorder::new(),
            stats: Stats::default(),
            clock: Clock::default(),
        }
    }

    /// The store directory.
    pub fn root(&self) -> &StoreRoot {
        &self.root
    }

    /// The store directory's path, as given.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn options(&self) -> &DiskCacheOptions {
        &self.options
    }

    pub fn read_only(&self) -> bool {
        self.options.read_only
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn metrics(&self) -> &MetricsRecorder {
        &self.metrics
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Counts an I/O error in the report (see [`Stats::record_error`]).
    pub fn record_error(&self, err: &dyn std::fmt::Display) {
        log::warn!(target: "pcstore::disk", "{}: {err}", self.path().display());
        self.stats.record_error(err);
    }
}
