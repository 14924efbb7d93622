//! `pcstore verify [--repair]`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::output::{bytes, Output};
use crate::store::{self, Access};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove the corrupt entries (through a compaction: safe while other processes use the
    /// store; entries in a segment another process still writes stay until it is finished).
    #[arg(long)]
    repair: bool,
}

#[derive(Serialize)]
struct Verified {
    checked: u64,
    intact_bytes: u64,
    corrupt: Vec<Corrupt>,
    /// With `--repair`: what was removed, and the keys still there.
    repair: Option<Repair>,
}

#[derive(Serialize)]
struct Corrupt {
    key: String,
    len: u64,
    segment: String,
}

#[derive(Serialize)]
struct Repair {
    removed: u64,
    remaining: Vec<String>,
}

pub fn run(out: &Output, dir: Option<PathBuf>, args: Args) -> anyhow::Result<Outcome> {
    let access = if args.repair {
        Access::Remove
    } else {
        Access::Look
    };
    let store = store::open(dir, access)?;
    let bar = out.progress(store.entries().len() as u64, "verifying");
    let report = store.verify(|_, _| bar.inc(1));
    bar.finish_and_clear();
    let repair = if args.repair && !report.corrupt.is_empty() {
        let removal = store.remove(&report.corrupt)?;
        Some(Repair {
            removed: removal.removed,
            remaining: removal
                .remaining
                .iter()
                .map(|entry| entry.key.to_hex())
                .collect(),
        })
    } else {
        None
    };
    let verified = Verified {
        checked: report.checked,
        intact_bytes: report.intact_bytes,
        corrupt: report
            .corrupt
            .iter()
            .map(|entry| Corrupt {
                key: entry.key.to_hex(),
                len: entry.len,
                segment: entry.segment_name.clone(),
            })
            .collect(),
        repair,
    };
    out.emit(&verified, || text(&verified));
    let unrepaired = match &verified.repair {
        Some(repair) => repair.remaining.len(),
        None => verified.corrupt.len(),
    };
    Ok(if unrepaired == 0 {
        Outcome::Done
    } else if args.repair {
        Outcome::Failed(format!(
            "{unrepaired} corrupt entries left: their segment is still written by another process"
        ))
    } else {
        Outcome::Failed(format!(
            "{unrepaired} corrupt entries (pcstore verify --repair removes them)"
        ))
    })
}

fn text(verified: &Verified) -> String {
    let mut text = String::new();
    for corrupt in &verified.corrupt {
        let _ = writeln!(
            text,
            "corrupt {} ({}, in {})",
            corrupt.key,
            bytes(corrupt.len),
            corrupt.segment
        );
    }
    let _ = writeln!(
        text,
        "checked {} entries: {} intact ({}), {} corrupt",
        verified.checked,
        verified.checked - verified.corrupt.len() as u64,
        bytes(verified.intact_bytes),
        verified.corrupt.len()
    );
    if let Some(repair) = &verified.repair {
        let _ = writeln!(
            text,
            "removed {} corrupt entries, {} left",
            repair.removed,
            repair.remaining.len()
        );
    }
    text
}
