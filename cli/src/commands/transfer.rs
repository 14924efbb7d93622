//! `pcstore export` and `pcstore import`: between a store and a bundle file.

use std::path::PathBuf;

use anyhow::Context;
use pcstore::bundle::BundleWriter;
use pcstore::recipe::union_with_stored;
use pcstore::PipelineCacheStore;
use serde::Serialize;

use super::bundle::{open, signing_key, Trust};
use super::Outcome;
use crate::output::{bytes, hex, Output};
use crate::store::{self, describe_all, Access, Filter};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The bundle to write (replaced atomically if it exists).
    out: PathBuf,
    #[command(flatten)]
    filter: Filter,
    /// Sign with this Ed25519 private key: 32 bytes, raw or as 64 hex digits.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The bundle to read.
    bundle: PathBuf,
    #[command(flatten)]
    trust: Trust,
}

#[derive(Serialize)]
struct Exported {
    path: PathBuf,
    entries: u64,
    payload_bytes: u64,
    file_len: u64,
    signer: Option<String>,
    /// Entries left out: gone (another process compacted them away) or failing their check
    /// between listing and reading.
    skipped: u64,
}

#[derive(Serialize)]
struct Imported {
    imported: u64,
    imported_bytes: u64,
    /// Keys whose payload failed its check in the bundle.
    corrupt: Vec<String>,
    /// Keys the store refused (too large, over budget), with the reason.
    refused: Vec<(String, String)>,
}

pub fn export(out: &Output, dir: Option<PathBuf>, args: ExportArgs) -> anyhow::Result<Outcome> {
    args.filter.check()?;
    let key = args.sign.as_deref().map(signing_key).transpose()?;
    let store = store::open(dir, Access::Look)?;
    let mut chosen: Vec<_> = describe_all(&store)
        .into_iter()
        .filter(|item| args.filter.keeps(item))
        .map(|item| item.entry.key)
        .collect();
    // Key order: the bundle's index is sorted, and a reader's layout check at open then runs
    // over payloads already in order.
    chosen.sort_unstable();
    let bar = out.progress(chosen.len() as u64, "exporting");
    let mut writer = BundleWriter::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut skipped = 0;
    for key in chosen {
        // Read as an inspection: exporting does not make every entry look recently used.
        match store.peek(&key) {
            Some(payload) => writer.add(key, &payload)?,
            None => skipped += 1,
        }
        bar.inc(1);
    }
    let info = match &key {
        Some(key) => writer.finish_signed(key)?,
        None => writer.finish()?,
    };
    bar.finish_and_clear();
    let exported = Exported {
        path: args.out,
        entries: info.entries,
        payload_bytes: info.payload_bytes,
        file_len: info.file_len,
        signer: info.signer.map(|key| hex(&key)),
        skipped,
    };
    out.emit(&exported, || {
        let mut text = format!(
            "wrote {}: {} entries, {}",
            exported.path.display(),
            exported.entries,
            bytes(exported.file_len)
        );
        if let Some(signer) = &exported.signer {
            text += &format!(", signed by {signer}");
        }
        if exported.skipped > 0 {
            text += &format!(
                " ({} left out: gone or corrupt since listed)",
                exported.skipped
            );
        }
        text + "\n"
    });
    Ok(Outcome::Done)
}

pub fn import(out: &Output, dir: Option<PathBuf>, args: ImportArgs) -> anyhow::Result<Outcome> {
    let bundle = open(&args.bundle, &args.trust)?;
    let store = store::open(dir, Access::Add)?;
    let bar = out.progress(bundle.entries().len() as u64, "importing");
    let mut imported = Imported {
        imported: 0,
        imported_bytes: 0,
        corrupt: Vec::new(),
        refused: Vec::new(),
    };
    for entry in bundle.entries() {
        match bundle.get(&entry.key) {
            Some(payload) => {
                // A catalog or application record adds to the store's own (recordings made
                // here stay listed for `pcstore replay`).
                let payload = union_with_stored(payload, || store.get(&entry.key));
                let len = payload.len() as u64;
                match store.try_put(entry.key, payload) {
                    Ok(()) => {
                        imported.imported += 1;
                        imported.imported_bytes += len;
                    }
                    Err(err) => imported.refused.push((entry.key.to_hex(), err.to_string())),
                }
            }
            None => imported.corrupt.push(entry.key.to_hex()),
        }
        bar.inc(1);
    }
    store.flush().context("flushing the store")?;
    bar.finish_and_clear();
    out.emit(&imported, || {
        let mut text = format!(
            "imported {} entries ({})\n",
            imported.imported,
            bytes(imported.imported_bytes)
        );
        for key in &imported.corrupt {
            text += &format!("corrupt in the bundle: {key}\n");
        }
        for (key, reason) in &imported.refused {
            text += &format!("refused by the store: {key}: {reason}\n");
        }
        text
    });
    let failed = imported.corrupt.len() + imported.refused.len();
    Ok(if failed == 0 {
        Outcome::Done
    } else {
        Outcome::Failed(format!(
            "{failed} entries not imported ({} corrupt in the bundle, {} refused by the store)",
            imported.corrupt.len(),
            imported.refused.len()
        ))
    })
}
