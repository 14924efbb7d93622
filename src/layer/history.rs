//! The per-run history record (`crate::vulkan::History`): at `vkDestroyDevice`, what creation
//! feedback added up to on the device is appended to the application's history for the device
//! identity, and the store flushed, so `pcstore info` shows it after the process is gone.

use std::time::SystemTime;

use super::cache::DeviceCache;
use super::config::layer_log;
use super::device::DeviceData;
use crate::vulkan::Run;

/// Records the device's run in its history. Nothing is recorded without creation feedback, nor
/// for a device that created no pipeline (one created only to query the driver would push an
/// informative run out of the record). Failures are logged only.
pub(super) fn record(data: &DeviceData, cache: &DeviceCache) {
    if !data.feedback.available() {
        return;
    }
    let summary = data.creation.summary();
    if summary.created == 0 {
        return;
    }
    let run = Run {
        ended_ns: 0,
        pipelines: summary.created,
        hits: summary.hits,
        hit_ns: summary.hit_ns,
        miss_ns: summary.miss_ns,
    };
    let context = cache.context();
    match context.record_run(cache.application(), run, SystemTime::now()) {
        Ok(history) => {
            let flushed = context.store().flush().is_ok();
            layer_log!(
                Info,
                "device \"{}\": history: run {} recorded ({} of {} pipelines from cache; flush {})",
                data.name,
                history.last_run,
                summary.hits,
                summary.created,
                if flushed { "ok" } else { "failed" }
            );
        }
        Err(error) => {
            layer_log!(
                Warn,
                "device \"{}\": history not stored ({error})",
                data.name
            );
        }
    }
}
