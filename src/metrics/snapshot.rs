//! What a store reports: a snapshot of its counters and latency percentiles.

/// A snapshot of one store's counters and latency figures.
///
/// `lookups == hits + misses` always holds in a snapshot. For a layered store the figures count
/// logical operations on the whole stack (a miss in memory followed by a disk hit is one lookup,
/// one hit); each layer's own figures stay available from that layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineCacheMetrics {
    /// `get`/`get_arc` calls.
    pub lookups: u64,
    /// Lookups that returned a blob.
    pub hits: u64,
    /// Lookups that returned nothing.
    pub misses: u64,
    /// Puts accepted.
    pub puts: u64,
    /// Puts refused (too large, read-only, queue full, I/O error).
    pub rejected_puts: u64,
    /// Entries removed to stay within budget.
    pub evictions: u64,
    /// Bytes of the entries counted in `evictions`.
    pub evicted_bytes: u64,
    /// `flush` calls.
    pub flushes: u64,
    /// `flush` calls that failed.
    pub flush_errors: u64,
    /// Bytes of blobs held now.
    pub cached_bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// Blob bytes returned by hits.
    pub bytes_read: u64,
    /// Blob bytes accepted by puts.
    pub bytes_written: u64,
    /// Stored blobs found corrupt (hash mismatch, torn record, bad envelope) and dropped.
    pub corrupt_dropped: u64,
    /// Latency of `get`/`get_arc` (sampled).
    pub get_latency: LatencySummary,
    /// Latency of `put`/`try_put`, as seen by the caller.
    pub put_latency: LatencySummary,
    /// Latency of `flush`.
    pub flush_latency: LatencySummary,
}

impl PipelineCacheMetrics {
    /// Hits per million lookups, 0 when there were no lookups.
    #[must_use]
    pub fn hit_rate_ppm(&self) -> u32 {
        self.try_hit_rate_ppm().unwrap_or(0)
    }

    /// Hits per million lookups, or why there is no such figure.
    ///
    /// # Errors
    /// [`HitRateError::NoLookups`] before the first lookup; [`HitRateError::Inconsistent`] when
    /// the snapshot counts more hits than lookups.
    pub fn try_hit_rate_ppm(&self) -> Result<u32, HitRateError> {
        if self.lookups == 0 {
            return Err(HitRateError::NoLookups);
        }
        if self.hits > self.lookups {
            return Err(HitRateError::Inconsistent {
                hits: self.hits,
                lookups: self.lookups,
            });
        }
        let ppm = u128::from(self.hits) * 1_000_000 / u128::from(self.lookups);
        Ok(ppm as u32)
    }
}

/// Why [`PipelineCacheMetrics::try_hit_rate_ppm`] has no figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitRateError {
    /// No lookups yet.
    NoLookups,
    /// More hits than lookups: a hand-built or merged snapshot that does not add up.
    Inconsistent {
        /// Hits in the snapshot.
        hits: u64,
        /// Lookups in the snapshot.
        lookups: u64,
    },
}

impl std::fmt::Display for HitRateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoLookups => f.write_str("no lookups yet"),
            Self::Inconsistent { hits, lookups } => {
                write!(f, "{hits} hits exceed {lookups} lookups")
            }
        }
    }
}

impl std::error::Error for HitRateError {}

/// Percentiles of one operation's latency, in nanoseconds.
///
/// Percentiles are bucket upper bounds (at most 12.5 % above the true value, never above
/// `max_ns`); `max_ns` is exact. All zero when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Operations timed.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Slowest.
    pub max_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_reports_missing_and_inconsistent_figures() {
        let empty = PipelineCacheMetrics::default();
        assert_eq!(empty.hit_rate_ppm(), 0);
        assert_eq!(empty.try_hit_rate_ppm(), Err(HitRateError::NoLookups));
        let odd = PipelineCacheMetrics {
            lookups: 1,
            hits: 2,
            ..Default::default()
        };
        assert!(matches!(
            odd.try_hit_rate_ppm(),
            Err(HitRateError::Inconsistent { .. })
        ));
        let huge = PipelineCacheMetrics {
            lookups: u64::MAX,
            hits: u64::MAX,
            ..Default::default()
        };
        assert_eq!(huge.hit_rate_ppm(), 1_000_000);
    }
}
