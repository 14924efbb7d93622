//! `pcstore prune` and `pcstore clear`: removals, through the store's compaction (safe while
//! other processes use the store).

use std::path::PathBuf;

use pcstore::disk::DiskEntry;
use serde::Serialize;

use super::Outcome;
use crate::output::{bytes, now_ns, Output};
use crate::store::{self, describe_all, stale_devices, stale_period, Access, Filter, StalePeriod};

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove entries not used for this long (`30d`, `12h`, `90min`).
    #[arg(long, value_name = "AGE")]
    older_than: Option<humantime::Duration>,
    /// Remove least recently used entries until the entries left hold at most this many
    /// payload bytes (`2G`, `512M`: the grammar of PCSTORE_MAX_SIZE).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    max_size: Option<u64>,
    /// Devices not seen for this long (by their labels and their entries' last use: a driver
    /// updated away) go first, whatever else is asked (`30d`, `12h`, or `never`; default:
    /// PCSTORE_STALE_AFTER, else 30d, as the library's compaction).
    #[arg(long, value_name = "AGE")]
    stale_after: Option<StalePeriod>,
    /// Narrows what may be removed; alone, removes every entry it keeps.
    #[command(flatten)]
    filter: Filter,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// "Now" for --older-than, in ns since the epoch (tests and reproducible scripts).
    #[arg(long, hide = true, value_name = "NS")]
    now_ns: Option<u64>,
}

#[derive(clap::Args, Debug)]
pub struct ClearArgs {
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
}

fn size(text: &str) -> Result<u64, String> {
    pcstore::config::parse_size(text).map_err(|problem| format!("{text:?} {problem}"))
}

#[derive(Serialize)]
struct Removal {
    dry_run: bool,
    /// Entries chosen for removal, and their payload bytes.
    chosen: u64,
    chosen_bytes: u64,
    removed: u64,
    removed_bytes: u64,
    /// Keys chosen but still there: in a segment another process still writes or has not
    /// flushed (a later prune gets them).
    remaining: Vec<String>,
}

pub fn prune(out: &Output, dir: Option<PathBuf>, args: PruneArgs) -> anyhow::Result<Outcome> {
    args.filter.check()?;
    let nanos = |age: humantime::Duration| u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
    let now = args.now_ns.unwrap_or_else(now_ns);
    let stale_after = stale_period(args.stale_after)?;
    let store = store::open(dir, access(args.dry_run))?;
    let described = describe_all(&store);
    let stale = stale_devices(&store, &described, now, stale_after);
    let total: u64 = described.iter().map(|item| item.entry.len).sum();
    let (mut candidates, _): (Vec<_>, Vec<_>) = described
        .into_iter()
        .partition(|item| args.filter.keeps(item));
    let of_stale_device = |item: &crate::store::Described| {
        item.device
            .as_ref()
            .is_some_and(|device| stale.contains(&device.id))
    };
    // Stale devices first, then least recently used first.
    candidates.sort_by_key(|item| {
        (
            !of_stale_device(item),
            item.entry.last_used_ns,
            item.entry.version,
        )
    });
    let mut chosen: Vec<DiskEntry> = Vec::new();
    let mut left = total;
    let everything_filtered =
        args.filter.is_set() && args.older_than.is_none() && args.max_size.is_none();
    let cutoff = args.older_than.map(|age| now.saturating_sub(nanos(age)));
    for item in candidates {
        let old = cutoff.is_some_and(|cutoff| item.entry.last_used_ns < cutoff);
        let too_much = args.max_size.is_some_and(|max| left > max);
        if everything_filtered || of_stale_device(&item) || old || too_much {
            left -= item.entry.len;
            chosen.push(item.entry);
        }
    }
    remove(out, &store, chosen, args.dry_run)
}

pub fn clear(out: &Output, dir: Option<PathBuf>, args: ClearArgs) -> anyhow::Result<Outcome> {
    let store = store::open(dir, access(args.dry_run))?;
    let everything = store.entries();
    remove(out, &store, everything, args.dry_run)
}

fn access(dry_run: bool) -> Access {
    if dry_run {
        Access::Look
    } else {
        Access::Remove
    }
}

fn remove(
    out: &Output,
    store: &pcstore::DiskCache,
    chosen: Vec<DiskEntry>,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let chosen_bytes = chosen.iter().map(|entry| entry.len).sum();
    let mut removal = Removal {
        dry_run,
        chosen: chosen.len() as u64,
        chosen_bytes,
        removed: 0,
        removed_bytes: 0,
        remaining: Vec::new(),
    };
    if !dry_run && !chosen.is_empty() {
        let report = store.remove(&chosen)?;
        removal.removed = report.removed;
        removal.removed_bytes = report.removed_bytes;
        removal.remaining = report
            .remaining
            .iter()
            .map(|entry| entry.key.to_hex())
            .collect();
    }
    out.emit(&removal, || {
        if removal.dry_run {
            format!(
                "would remove {} entries ({})\n",
                removal.chosen,
                bytes(removal.chosen_bytes)
            )
        } else {
            let mut text = format!(
                "removed {} entries ({})\n",
                removal.removed,
                bytes(removal.removed_bytes)
            );
            if !removal.remaining.is_empty() {
                text += &format!(
                    "{} entries are in segments other processes still write: run again once they close the store\n",
                    removal.remaining.len()
                );
            }
            text
        }
    });
    Ok(Outcome::Done)
}
