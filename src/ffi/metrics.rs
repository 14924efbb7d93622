//! `pcs_metrics`: a store's counters and latency figures as an extensible C struct.

use super::handles::{version_1_size, write_extensible, Extensible};
use super::result::{pcs_result, FfiResult};
use super::store::{arg_store, pcs_store};
use crate::metrics::{LatencySummary, PipelineCacheMetrics};

/// Percentiles of one operation's latency, in nanoseconds (bucket upper bounds, at most 12.5 %
/// above the true value; `max_ns` is exact). All zero when nothing was timed.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_latency_summary {
    /// Operations timed (memory-tier gets are sampled, one in 128 per thread).
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Slowest.
    pub max_ns: u64,
}

impl From<LatencySummary> for pcs_latency_summary {
    fn from(summary: LatencySummary) -> Self {
        let LatencySummary {
            samples,
            p50_ns,
            p99_ns,
            max_ns,
        } = summary;
        Self {
            samples,
            p50_ns,
            p99_ns,
            max_ns,
        }
    }
}

/// A snapshot of a store's counters: the same fields, under the same names, as the Rust
/// `PipelineCacheMetrics`. `lookups == hits + misses` always holds. For a layered store the
/// figures count whole-stack operations (a memory miss then a disk hit is one lookup, one hit).
///
/// Extensible output struct: fields are only ever appended. Set `struct_size =
/// sizeof(pcs_cache_metrics)` before the call; the library fills as many bytes as both sides
/// know and sets `struct_size` to that count.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pcs_cache_metrics {
    /// In: `sizeof(pcs_cache_metrics)` as the caller was compiled. Out: bytes filled.
    pub struct_size: usize,
    /// Gets (`pcs_get`, `pcs_get_blob`; a size query counts).
    pub lookups: u64,
    /// Lookups that found a blob.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Puts accepted.
    pub puts: u64,
    /// Puts refused (too large, read-only, queue full, I/O error).
    pub rejected_puts: u64,
    /// Entries removed to stay within budget.
    pub evictions: u64,
    /// Bytes of the entries counted in `evictions`.
    pub evicted_bytes: u64,
    /// `pcs_flush` calls.
    pub flushes: u64,
    /// `pcs_flush` calls that failed.
    pub flush_errors: u64,
    /// Blob bytes held now.
    pub cached_bytes: u64,
    /// Blobs held now.
    pub entries: u64,
    /// Blob bytes returned by hits.
    pub bytes_read: u64,
    /// Blob bytes accepted by puts.
    pub bytes_written: u64,
    /// Stored blobs found corrupt and dropped.
    pub corrupt_dropped: u64,
    /// Latency of gets (sampled).
    pub get_latency: pcs_latency_summary,
    /// Latency of puts as seen by the caller.
    pub put_latency: pcs_latency_summary,
    /// Latency of flushes.
    pub flush_latency: pcs_latency_summary,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, only integers.
unsafe impl Extensible for pcs_cache_metrics {
    const MIN_SIZE: usize = version_1_size!(pcs_cache_metrics, flush_latency, lp64 = 216);
}

impl From<PipelineCacheMetrics> for pcs_cache_metrics {
    /// Destructures without `..`, so a counter added to the core fails to compile here until
    /// it is appended to the C struct too.
    fn from(metrics: PipelineCacheMetrics) -> Self {
        let PipelineCacheMetrics {
            lookups,
            hits,
            misses,
            puts,
            rejected_puts,
            evictions,
            evicted_bytes,
            flushes,
            flush_errors,
            cached_bytes,
            entries,
            bytes_read,
            bytes_written,
            corrupt_dropped,
            get_latency,
            put_latency,
            flush_latency,
        } = metrics;
        Self {
            struct_size: std::mem::size_of::<Self>(),
            lookups,
            hits,
            misses,
            puts,
            rejected_puts,
            evictions,
            evicted_bytes,
            flushes,
            flush_errors,
            cached_bytes,
            entries,
            bytes_read,
            bytes_written,
            corrupt_dropped,
            get_latency: get_latency.into(),
            put_latency: put_latency.into(),
            flush_latency: flush_latency.into(),
        }
    }
}

/// Writes a snapshot of `store`'s counters to `*out` (see `pcs_cache_metrics` for
/// `struct_size`). Cheap enough to call once a frame; thread-safe.
///
/// Returns `PCS_OK`; `PCS_ERR_NULL_ARGUMENT`; `PCS_ERR_INVALID_ARGUMENT` when
/// `out->struct_size` is smaller than the first published struct or absurdly large (then
/// nothing is written).
///
/// # Safety
/// `store` is a live store handle; `out` is valid for reads and writes of `out->struct_size`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_metrics(
    store: *mut pcs_store,
    out: *mut pcs_cache_metrics,
) -> pcs_result {
    super::ffi_boundary!("pcs_metrics", || -> FfiResult {
        // SAFETY: forwarded contract.
        let store = unsafe { arg_store(store) }?;
        let snapshot = pcs_cache_metrics::from(store.metrics());
        // SAFETY: forwarded contract.
        unsafe { write_extensible(out, &snapshot, "out") }?;
        Ok(pcs_result::PCS_OK)
    })
}
