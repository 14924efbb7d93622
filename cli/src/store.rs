//! Opening the store a command works on, and describing its entries (kind, device) from the
//! first bytes of each.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use pcstore::disk::{DiskCacheOptions, DiskEntry};
use pcstore::recipe::{recipe_kind, RecipeKind};
use pcstore::vulkan::{envelope_device, EnvelopeDevice, ENVELOPE_HEADER_LEN};
use pcstore::DiskCache;
use serde::Serialize;

use crate::output::hex;

/// What a command does to the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only looks: opened read-only (nothing created, locked for writing or repaired).
    Look,
    /// Removes chosen entries: writable, with a budget no store reaches, so the compaction
    /// that removes them evicts nothing else.
    Remove,
    /// Adds entries, as an application would: writable, under the configured budget
    /// (`PCSTORE_MAX_SIZE`).
    Add,
}

/// The directory a command works on: `--dir`, else the default store's.
pub fn directory(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match dir {
        Some(dir) => Ok(dir),
        None => pcstore::config::user_cache_dir().ok_or_else(|| {
            anyhow!("no store directory: set PCSTORE_DIR, XDG_CACHE_HOME or HOME, or pass --dir")
        }),
    }
}

/// Opens the store in `dir` for `access`.
pub fn open(dir: Option<PathBuf>, access: Access) -> anyhow::Result<DiskCache> {
    let dir = directory(dir)?;
    if access == Access::Look && !dir.is_dir() {
        bail!("no store at {}", dir.display());
    }
    let options = match access {
        Access::Look => DiskCacheOptions {
            read_only: true,
            ..DiskCacheOptions::default()
        },
        Access::Remove => DiskCacheOptions {
            max_bytes: 1 << 60,
            ..DiskCacheOptions::default()
        },
        Access::Add => DiskCacheOptions {
            max_bytes: pcstore::config::disk_budget()?,
            ..DiskCacheOptions::default()
        },
    };
    DiskCache::with_options(&dir, options).with_context(|| format!("opening {}", dir.display()))
}

/// What an entry holds, told from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A driver's pipeline-cache blob in pcstore's Vulkan envelope.
    PipelineCache,
    /// A recipe of a Vulkan object.
    Recipe(RecipeKind),
    /// Anything else an engine put.
    Other,
}

impl Kind {
    fn of(head: &[u8]) -> Self {
        if envelope_device(head).is_some() {
            Kind::PipelineCache
        } else if let Ok((kind, _)) = recipe_kind(head) {
            Kind::Recipe(kind)
        } else {
            Kind::Other
        }
    }

    /// `pipeline-cache`, `recipe` or `other`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PipelineCache => "pipeline-cache",
            Kind::Recipe(_) => "recipe",
            Kind::Other => "other",
        }
    }

    /// `pipeline-cache`, `recipe:ShaderModule`, ...
    pub fn detail(self) -> String {
        match self {
            Kind::Recipe(kind) => format!("recipe:{kind:?}"),
            other => other.name().to_owned(),
        }
    }
}

/// The device a pipeline-cache entry was written for (its envelope's fields), with a short id
/// to name it on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Device {
    /// First 12 hex digits of the BLAKE3 of the fields below: what `--identity` takes.
    pub id: String,
    pub vendor_id: u32,
    pub device_id: u32,
    pub driver_version: u32,
    pub driver_id: u32,
    pub pipeline_cache_uuid: String,
    pub pointer_size: u8,
}

impl Device {
    fn of(fields: &EnvelopeDevice) -> Self {
        let hash = blake3::Hasher::new()
            .update(&fields.vendor_id.to_le_bytes())
            .update(&fields.device_id.to_le_bytes())
            .update(&fields.driver_version.to_le_bytes())
            .update(&fields.driver_id.to_le_bytes())
            .update(&fields.pipeline_cache_uuid)
            .update(&[fields.pointer_size])
            .finalize();
        Self {
            id: hex(&hash.as_bytes()[..6]),
            vendor_id: fields.vendor_id,
            device_id: fields.device_id,
            driver_version: fields.driver_version,
            driver_id: fields.driver_id,
            pipeline_cache_uuid: hex(&fields.pipeline_cache_uuid),
            pointer_size: fields.pointer_size,
        }
    }

    /// `vendor 0x10005 device 0x0 driver 1 (id 1a2b3c4d5e6f)`.
    pub fn describe(&self) -> String {
        format!(
            "vendor {:#x} device {:#x} driver {:#x} ({}-bit) id {}",
            self.vendor_id,
            self.device_id,
            self.driver_version,
            u32::from(self.pointer_size) * 8,
            self.id
        )
    }

    /// Whether `--identity ID` names this device: its id or a prefix of it (at least 4 hex
    /// digits, any case).
    pub fn matches(&self, id: &str) -> bool {
        id.len() >= 4 && self.id.starts_with(&id.to_ascii_lowercase())
    }
}

/// An entry with what its first bytes say.
#[derive(Clone, Debug)]
pub struct Described {
    pub entry: DiskEntry,
    pub kind: Kind,
    pub device: Option<Device>,
}

/// Every entry of `store`, described (one small read each; entries whose record cannot be
/// read are `Other`: `verify` says why).
pub fn describe_all(store: &DiskCache) -> Vec<Described> {
    store
        .entries()
        .into_iter()
        .map(|entry| {
            let head = store
                .entry_head(&entry, ENVELOPE_HEADER_LEN)
                .unwrap_or_default();
            let device = envelope_device(&head).map(|fields| Device::of(&fields));
            Described {
                kind: Kind::of(&head),
                device,
                entry,
            }
        })
        .collect()
}

/// Which entries a command applies to: `--identity`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Filter {
    /// Only entries written for this device: its id as `pcstore info` shows it (or a prefix
    /// of at least 4 hex digits).
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
}

impl Filter {
    /// Whether `described` passes.
    pub fn keeps(&self, described: &Described) -> bool {
        match &self.identity {
            Some(id) => described.device.as_ref().is_some_and(|d| d.matches(id)),
            None => true,
        }
    }

    /// Whether any filter is given.
    pub fn is_set(&self) -> bool {
        self.identity.is_some()
    }

    /// Refuses an `--identity` that could never match.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(id) = &self.identity {
            if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("--identity {id:?}: expected at least 4 hex digits of a device id (pcstore info lists them)");
            }
        }
        Ok(())
    }
}
