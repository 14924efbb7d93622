//! The per-run history record (`crate::vulkan::History`): at `vkDestroyDevice`, what creation
//! feedback added up to on the device is appended to the application's history for the device
//! identity and made durable, so `pcstore info` shows it after the process is gone.

use std::time::SystemTime;

use super::cache::DeviceCache;
use super::config::layer_log;
use super::device::DeviceData;
use crate::vulkan::Run;

/// Records the device's run in its history, then closes the layer's cache (its final save),
/// and flushes the store unless that save just did. One flush per destruction at most: each
/// waits for the remote tier (bounded), and a dead server must not cost `vkDestroyDevice` that
/// wait twice.
///
/// # Safety
/// As [`DeviceCache::close`]: the device is live and no other thread uses `cache` any more.
pub(super) unsafe fn close_recording_run(data: &DeviceData, cache: &DeviceCache) {
    let recorded = record(data, cache);
    // SAFETY: the caller's guarantees.
    let flushed = unsafe { cache.close() };
    if recorded && !flushed && cache.context().store().flush().is_err() {
        layer_log!(Warn, "device \"{}\": history flush failed", data.name);
    }
}

/// Appends the device's run to its history (durable at the next flush); whether it did. Nothing
/// is recorded without creation feedback or with `PCSTORE_LAYER_FEEDBACK=off`, nor for a device
/// that measured no pipeline (one created only to query the driver would push an informative
/// run out of the record). The run says how many pipelines were created and how many of them
/// measured (all with `all`, a sample with `sampled`). Failures are logged only.
fn record(data: &DeviceData, cache: &DeviceCache) -> bool {
    if !data.feedback.available() {
        return false;
    }
    let summary = data.creation.summary();
    if summary.measured == 0 {
        return false;
    }
    let run = Run {
        ended_ns: 0,
        pipelines: summary.measured,
        hits: summary.hits,
        hit_ns: summary.hit_ns,
        miss_ns: summary.miss_ns,
        created: summary.created,
    };
    match cache
        .context()
        .record_run(cache.application(), run, SystemTime::now())
    {
        Ok(history) => {
            layer_log!(
                Info,
                "device \"{}\": history: run {} recorded ({} of {} measured creations from cache, \
                 {} pipelines created)",
                data.name,
                history.last_run,
                summary.hits,
                summary.measured,
                summary.created
            );
            true
        }
        Err(error) => {
            layer_log!(
                Warn,
                "device \"{}\": history not stored ({error})",
                data.name
            );
            false
        }
    }
}
