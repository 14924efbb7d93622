//! `pcstore info`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::output::{age, bytes, now_ns, Output};
use crate::store::{self, describe_all, Access, Device};

#[derive(Serialize)]
struct Info {
    dir: PathBuf,
    format_version: u32,
    disk_bytes: u64,
    budget_bytes: u64,
    segments: u64,
    entries: u64,
    payload_bytes: u64,
    /// By kind name: entries and payload bytes.
    kinds: BTreeMap<&'static str, Usage>,
    /// Devices of the pipeline-cache entries, most recently used first.
    identities: Vec<DeviceUsage>,
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
    entries: u64,
    bytes: u64,
    last_used_ns: u64,
}

pub fn run(out: &Output, dir: Option<PathBuf>) -> anyhow::Result<Outcome> {
    let dir = store::directory(dir)?;
    let store = store::open(Some(dir.clone()), Access::Look)?;
    let described = describe_all(&store);
    let report = store.durability_report();
    let mut kinds: BTreeMap<&'static str, Usage> = BTreeMap::new();
    let mut devices: BTreeMap<String, DeviceUsage> = BTreeMap::new();
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
                });
            usage.entries += 1;
            usage.bytes += item.entry.len;
            usage.last_used_ns = usage.last_used_ns.max(item.entry.last_used_ns);
        }
    }
    let mut identities: Vec<DeviceUsage> = devices.into_values().collect();
    identities.sort_by_key(|usage| std::cmp::Reverse(usage.last_used_ns));
    let info = Info {
        dir,
        format_version: pcstore::disk::FORMAT_VERSION,
        disk_bytes: report.disk_bytes,
        budget_bytes: pcstore::config::disk_budget()?,
        segments: report.segments,
        entries: described.len() as u64,
        payload_bytes: described.iter().map(|item| item.entry.len).sum(),
        kinds,
        identities,
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
                "  {}: {} entries, {}, last used {}",
                usage.device.describe(),
                usage.entries,
                bytes(usage.bytes),
                age(usage.last_used_ns, now)
            );
        }
    }
    text
}
