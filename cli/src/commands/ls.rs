//! `pcstore ls`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::output::{age, bytes, now_ns, Output};
use crate::store::{self, describe_all, label_text, Access, Device, Filter};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    filter: Filter,
}

#[derive(Serialize)]
struct Listed {
    key: String,
    kind: String,
    len: u64,
    last_used_ns: u64,
    /// The record's version stamp (ns since the epoch when it was written).
    version: u64,
    segment: String,
    /// In a segment another process still appends to or has not flushed.
    in_use: bool,
    device: Option<Device>,
    /// What its label says (driver · device · application).
    label: Option<String>,
}

pub fn run(out: &Output, dir: Option<PathBuf>, args: Args) -> anyhow::Result<Outcome> {
    args.filter.check()?;
    let store = store::open(dir, Access::Look)?;
    let mut listed: Vec<Listed> = describe_all(&store)
        .into_iter()
        .filter(|item| args.filter.keeps(item))
        .map(|item| Listed {
            key: item.entry.key.to_hex(),
            kind: item.kind.detail(),
            len: item.entry.len,
            last_used_ns: item.entry.last_used_ns,
            version: item.entry.version,
            segment: item.entry.segment_name,
            in_use: item.entry.in_use,
            device: item.device,
            label: item.label.as_ref().map(label_text),
        })
        .collect();
    // Most recently used first.
    listed.sort_by(|a, b| b.last_used_ns.cmp(&a.last_used_ns).then(a.key.cmp(&b.key)));
    out.emit(&listed, || {
        let now = now_ns();
        let mut text = String::new();
        for item in &listed {
            let device = match (&item.label, &item.device) {
                (Some(label), _) => label.clone(),
                (None, Some(device)) => device.describe(),
                (None, None) => String::new(),
            };
            let line = format!(
                "{}  {:<24} {:>10}  {:<14} {}",
                &item.key[..16],
                item.kind,
                bytes(item.len),
                age(item.last_used_ns, now),
                device
            );
            let _ = writeln!(text, "{}", line.trim_end());
        }
        text
    });
    Ok(Outcome::Done)
}
