//! `pcstore info`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::output::{age, bytes, now_ns, Output};
use pcstore::vulkan::History;

use crate::store::{self, describe_all, stale_devices, stale_period, Access, Device, Kind};

#[derive(Serialize)]
struct Info {
    dir: PathBuf,
    format_version: u32,
    disk_bytes: u64,
    budget_bytes: u64,
    segments: u64,
    /// When the last compaction (by any process) completed, ns since the epoch; null if none
    /// is recorded.
    last_compaction_ns: Option<u64>,
    entries: u64,
    payload_bytes: u64,
    /// By kind name: entries and payload bytes.
    kinds: BTreeMap<&'static str, Usage>,
    /// Devices of the pipeline-cache entries and labels, most recently used first.
    identities: Vec<DeviceUsage>,
    /// Devices whose labels say they were not seen for the stale period (PCSTORE_STALE_AFTER,
    /// else 30 days, as the library's compaction; a driver updated away): what
    /// `pcstore prune` removes first.
    stale_identities: Vec<String>,
}

#[derive(Clone, Copy, Default, Serialize)]
struct Usage {
    entries: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct DeviceUsage {
    #[serde(flatten)]
    device: Device,
    /// Its pipeline-cache entries and their payload bytes.
    entries: u64,
    bytes: u64,
    last_used_ns: u64,
    /// What its labels say, one per application.
    labels: Vec<LabelInfo>,
    /// Its applications' recent runs, as the driver reported them.
    histories: Vec<HistoryInfo>,
    stale: bool,
}

#[derive(Serialize)]
struct LabelInfo {
    application: String,
    driver: String,
    device_name: String,
    first_seen_ns: u64,
    last_seen_ns: u64,
}

/// One application's history on a device (FORMAT.md, "pcstore history record").
#[derive(Serialize)]
struct HistoryInfo {
    application: String,
    /// The number of the newest run (runs ever recorded; only the last 32 are kept).
    last_run: u64,
    /// The runs kept, oldest first.
    runs: Vec<RunInfo>,
}

#[derive(Serialize)]
struct RunInfo {
    run: u64,
    ended_ns: u64,
    /// Pipelines created with valid creation feedback (the measured ones).
    pipelines: u64,
    /// Pipelines created, measured or not (more than `pipelines` when the layer sampled).
    created: u64,
    /// Of those, reported by the driver as served from the pipeline cache.
    hits: u64,
    /// Driver-measured creation time, all measured pipelines, of the hits and of the others (ns).
    creation_ns: u64,
    hit_ns: u64,
    miss_ns: u64,
}

impl HistoryInfo {
    fn of(history: &History) -> Self {
        let runs = history
            .runs
            .iter()
            .enumerate()
            .map(|(index, run)| RunInfo {
                run: history.run_number(index),
                ended_ns: run.ended_ns,
                pipelines: run.pipelines,
                created: run.created,
                hits: run.hits,
                creation_ns: run.creation_ns(),
                hit_ns: run.hit_ns,
                miss_ns: run.miss_ns,
            })
            .collect();
        Self {
            application: history.application.clone(),
            last_run: history.last_run,
            runs,
        }
    }

    /// `run 7: 412 of 415 pipelines from cache, creation 0.21 s (cold run 3: 9.80 s)` (or, for a
    /// sampled run, `run 7: 40 of 41 measured creations from cache (415 pipelines created),
    /// creation of the measured 0.02 s`): the newest run, and the newest run before it without a hit (what creation costs without the
    /// cache) when one is kept.
    fn summary(&self) -> Option<String> {
        let (last, earlier) = self.runs.split_last()?;
        let seconds = |ns: u64| ns as f64 / 1e9;
        // A sampled run says which part of it the figures are about.
        let mut text = if last.created > last.pipelines {
            format!(
                "run {}: {} of {} measured creations from cache ({} pipelines created), \
                 creation of the measured {:.2} s",
                last.run,
                last.hits,
                last.pipelines,
                last.created,
                seconds(last.creation_ns)
            )
        } else {
            format!(
                "run {}: {} of {} pipelines from cache, creation {:.2} s",
                last.run,
                last.hits,
                last.pipelines,
                seconds(last.creation_ns)
            )
        };
        if let Some(cold) = earlier.iter().rev().find(|run| run.hits == 0) {
            let _ = write!(
                text,
                " (cold run {}: {:.2} s)",
                cold.run,
                seconds(cold.creation_ns)
            );
        }
        Some(text)
    }
}

pub fn run(out: &Output, dir: Option<PathBuf>) -> anyhow::Result<Outcome> {
    let dir = store::directory(dir)?;
    let store = store::open(Some(dir.clone()), Access::Look)?;
    let described = describe_all(&store);
    let report = store.durability_report();
    let mut kinds: BTreeMap<&'static str, Usage> = BTreeMap::new();
    let mut devices: BTreeMap<String, DeviceUsage> = BTreeMap::new();
    let stale = stale_devices(&store, &described, now_ns(), stale_period(None)?);
    for item in &described {
        let usage = kinds.entry(item.kind.name()).or_default();
        usage.entries += 1;
        usage.bytes += item.entry.len;
        if let Some(device) = &item.device {
            let usage = devices
                .entry(device.id.clone())
                .or_insert_with(|| DeviceUsage {
                    device: device.clone(),
                    entries: 0,
                    bytes: 0,
                    last_used_ns: 0,
                    labels: Vec::new(),
                    histories: Vec::new(),
                    stale: stale.contains(&device.id),
                });
            usage.last_used_ns = usage.last_used_ns.max(item.entry.last_used_ns);
            match (&item.label, item.kind) {
                (Some(label), Kind::Label) => {
                    usage.last_used_ns = usage.last_used_ns.max(label.last_seen_ns);
                    usage.labels.push(LabelInfo {
                        application: label.application.clone(),
                        driver: label.driver(),
                        device_name: label.device_name.clone(),
                        first_seen_ns: label.first_seen_ns,
                        last_seen_ns: label.last_seen_ns,
                    });
                }
                (_, Kind::History) => {
                    if let Some(history) = &item.history {
                        usage.histories.push(HistoryInfo::of(history));
                    }
                }
                _ => {
                    usage.entries += 1;
                    usage.bytes += item.entry.len;
                }
            }
        }
    }
    let mut stale_identities: Vec<String> = stale.into_iter().collect();
    stale_identities.sort();
    let mut identities: Vec<DeviceUsage> = devices.into_values().collect();
    identities.sort_by_key(|usage| std::cmp::Reverse(usage.last_used_ns));
    let info = Info {
        dir,
        format_version: pcstore::disk::FORMAT_VERSION,
        disk_bytes: report.disk_bytes,
        budget_bytes: pcstore::config::disk_budget()?,
        segments: report.segments,
        last_compaction_ns: store.last_compaction_ns(),
        entries: described.len() as u64,
        payload_bytes: described.iter().map(|item| item.entry.len).sum(),
        kinds,
        identities,
        stale_identities,
    };
    out.emit(&info, || text(&info));
    Ok(Outcome::Done)
}

fn text(info: &Info) -> String {
    let now = now_ns();
    let mut text = String::new();
    let _ = writeln!(text, "store       {}", info.dir.display());
    let _ = writeln!(text, "format      version {}", info.format_version);
    let _ = writeln!(
        text,
        "size        {} of {} budget ({} segments)",
        bytes(info.disk_bytes),
        bytes(info.budget_bytes),
        info.segments
    );
    let _ = writeln!(
        text,
        "compacted   {}",
        info.last_compaction_ns
            .map_or_else(|| "never (none recorded)".to_owned(), |at| age(at, now))
    );
    let _ = writeln!(
        text,
        "entries     {} ({} of payload)",
        info.entries,
        bytes(info.payload_bytes)
    );
    for (kind, usage) in &info.kinds {
        let _ = writeln!(
            text,
            "  {kind:<16} {:>8} entries {:>12}",
            usage.entries,
            bytes(usage.bytes)
        );
    }
    if !info.identities.is_empty() {
        let _ = writeln!(text, "devices");
        for usage in &info.identities {
            let _ = writeln!(
                text,
                "  {}: {} entries, {}, last used {}{}",
                usage.device.describe(),
                usage.entries,
                bytes(usage.bytes),
                age(usage.last_used_ns, now),
                if usage.stale {
                    " (stale: prune removes it)"
                } else {
                    ""
                }
            );
            for label in &usage.labels {
                let _ = writeln!(
                    text,
                    "    {} · {} · {}: first seen {}, last seen {}",
                    label.driver,
                    label.device_name,
                    label.application,
                    age(label.first_seen_ns, now),
                    age(label.last_seen_ns, now)
                );
            }
            for history in &usage.histories {
                if let (Some(summary), Some(last)) = (history.summary(), history.runs.last()) {
                    let _ = writeln!(
                        text,
                        "    {}: {summary}, {}",
                        history.application,
                        age(last.ended_ns, now)
                    );
                }
            }
        }
    }
    text
}
