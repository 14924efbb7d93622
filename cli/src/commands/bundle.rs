//! `pcstore bundle info|verify|public-key`, and opening bundles and keys for `export`/`import`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use pcstore::bundle::{BundleOptions, BundleSigningKey, BundleStore};
use pcstore::{PipelineCacheStore, PipelineFingerprint};
use serde::Serialize;

use super::Outcome;
use crate::output::{bytes, hex, Output};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// What a bundle holds and who signed it (opening checks its header, index and signature).
    Info(BundleArgs),
    /// Open a bundle and read and check every payload; exits 1 if anything fails.
    Verify(BundleArgs),
    /// Print the public key of a signing key file (what clients are given to check bundles).
    PublicKey {
        /// The private key: 32 bytes, raw or as 64 hex digits (e.g. `head -c 32 /dev/urandom`).
        key: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    /// The bundle file.
    file: PathBuf,
    #[command(flatten)]
    trust: Trust,
}

/// Which signatures a bundle must carry.
#[derive(clap::Args, Debug, Default)]
pub struct Trust {
    /// Accept only bundles signed with this Ed25519 public key (64 hex digits); unsigned and
    /// otherwise signed bundles are refused.
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,
}

/// Opens `file` under `trust`.
pub fn open(file: &Path, trust: &Trust) -> anyhow::Result<BundleStore> {
    let public_key = trust
        .public_key
        .as_deref()
        .map(|text| {
            PipelineFingerprint::from_hex(text.trim())
                .map(|key| key.0)
                .with_context(|| format!("--public-key {text:?}: expected 64 hex digits"))
        })
        .transpose()?;
    let options = BundleOptions {
        public_key,
        ..BundleOptions::default()
    };
    BundleStore::open_with_options(file, options)
        .with_context(|| format!("{} refused", file.display()))
}

/// Reads a signing key file: 32 raw bytes, or 64 hex digits (surrounding whitespace allowed).
pub fn signing_key(path: &Path) -> anyhow::Result<BundleSigningKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let secret: [u8; 32] = match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(raw) => raw,
        Err(_) => {
            let text = std::str::from_utf8(&bytes).unwrap_or_default().trim();
            match PipelineFingerprint::from_hex(text) {
                Ok(key) => key.0,
                Err(_) => bail!(
                    "{}: a signing key is 32 bytes, raw or as 64 hex digits",
                    path.display()
                ),
            }
        }
    };
    Ok(BundleSigningKey::from_secret_bytes(&secret))
}

#[derive(Serialize)]
struct Described {
    path: PathBuf,
    entries: u64,
    payload_bytes: u64,
    file_len: u64,
    /// Hex of the public key that signed it, if signed.
    signer: Option<String>,
}

#[derive(Serialize)]
struct Verified {
    #[serde(flatten)]
    bundle: Described,
    /// Payloads read and intact.
    intact: u64,
    /// Keys whose payload does not match its BLAKE3 (or could not be read).
    corrupt: Vec<String>,
    /// Keys of entries larger than a store serves (64 MiB), not read.
    oversized: Vec<String>,
}

pub fn run(out: &Output, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Info(args) => {
            let bundle = open(&args.file, &args.trust)?;
            let described = describe(&bundle);
            out.emit(&described, || text(&described));
            Ok(Outcome::Done)
        }
        Command::Verify(args) => verify(out, &args),
        Command::PublicKey { key } => {
            let public = hex(&signing_key(&key)?.public_key());
            out.emit(&serde_json::json!({ "public_key": public }), || {
                format!("{public}\n")
            });
            Ok(Outcome::Done)
        }
    }
}

fn describe(bundle: &BundleStore) -> Described {
    let info = bundle.info();
    Described {
        path: bundle.path().to_path_buf(),
        entries: info.entries,
        payload_bytes: info.payload_bytes,
        file_len: info.file_len,
        signer: info.signer.map(|key| hex(&key)),
    }
}

fn text(bundle: &Described) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "bundle   {}", bundle.path.display());
    let _ = writeln!(
        text,
        "entries  {} ({} of payload, file {})",
        bundle.entries,
        bytes(bundle.payload_bytes),
        bytes(bundle.file_len)
    );
    let _ = writeln!(
        text,
        "signed   {}",
        bundle.signer.as_deref().unwrap_or("no")
    );
    text
}

fn verify(out: &Output, args: &BundleArgs) -> anyhow::Result<Outcome> {
    let bundle = open(&args.file, &args.trust)?;
    let max = BundleOptions::default().max_entry_bytes;
    let bar = out.progress(bundle.entries().len() as u64, "verifying");
    let mut verified = Verified {
        bundle: describe(&bundle),
        intact: 0,
        corrupt: Vec::new(),
        oversized: Vec::new(),
    };
    for entry in bundle.entries() {
        if entry.len > max {
            verified.oversized.push(entry.key.to_hex());
        } else if bundle.get(&entry.key).is_some() {
            verified.intact += 1;
        } else {
            verified.corrupt.push(entry.key.to_hex());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.emit(&verified, || {
        let mut text = text(&verified.bundle);
        for key in &verified.corrupt {
            let _ = writeln!(text, "corrupt  {key}");
        }
        for key in &verified.oversized {
            let _ = writeln!(text, "too large to serve  {key}");
        }
        let _ = writeln!(
            text,
            "checked  {} intact, {} corrupt, {} too large",
            verified.intact,
            verified.corrupt.len(),
            verified.oversized.len()
        );
        text
    });
    Ok(if verified.corrupt.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failed(format!(
            "{}: {} corrupt entries",
            args.file.display(),
            verified.corrupt.len()
        ))
    })
}
