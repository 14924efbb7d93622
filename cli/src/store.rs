//! Opening the store a command works on, and describing its entries (kind, device) from the
//! first bytes of each.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use pcstore::disk::{DiskCacheOptions, DiskEntry, EntryHead, StaleEntries};
use pcstore::recipe::{recipe_kind, RecipeKind};
use pcstore::vulkan::{
    envelope_device, EnvelopeDevice, History, Label, StaleIdentities, ENVELOPE_HEADER_LEN,
};
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

/// Largest entry the tool reads (and a removal's compaction keeps): above the library's default
/// (64 MiB), since an application may have raised its own limit, and `verify` must not call
/// such an entry corrupt nor `prune` evict it unasked. Still a bound: one entry is read whole.
const TOOL_MAX_ENTRY_BYTES: u64 = 1 << 30;

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
    // Only an import may create a store: looking at or removing from a mistyped path must
    // not leave a new empty store there.
    if access != Access::Add && !dir.is_dir() {
        bail!("no store at {}", dir.display());
    }
    let options = match access {
        Access::Look => DiskCacheOptions {
            read_only: true,
            max_entry_bytes: TOOL_MAX_ENTRY_BYTES,
            ..DiskCacheOptions::default()
        },
        Access::Remove => DiskCacheOptions {
            max_bytes: 1 << 60,
            max_entry_bytes: TOOL_MAX_ENTRY_BYTES,
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
    /// A label record: who a device's entries belong to.
    Label,
    /// A history record: an application's last runs on a device, with driver-reported hits.
    History,
    /// Anything else an engine put.
    Other,
}

impl Kind {
    fn of(head: &[u8]) -> Self {
        if envelope_device(head).is_some() {
            Kind::PipelineCache
        } else if Label::is_label(head) {
            Kind::Label
        } else if History::is_history(head) {
            Kind::History
        } else if let Ok((kind, _)) = recipe_kind(head) {
            Kind::Recipe(kind)
        } else {
            Kind::Other
        }
    }

    /// `pipeline-cache`, `recipe`, `label`, `history` or `other`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PipelineCache => "pipeline-cache",
            Kind::Recipe(_) => "recipe",
            Kind::Label => "label",
            Kind::History => "history",
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
    /// The device of a pipeline-cache entry or a label.
    pub device: Option<Device>,
    /// A label: the record itself. A pipeline-cache entry: the label naming it (its cache
    /// key), else the most recently seen label of its device.
    pub label: Option<Label>,
    /// A history: the record itself.
    pub history: Option<History>,
}

impl Described {
    /// Whether its label names it: the label itself, or the entry its cache key names.
    fn named_by_label(&self) -> bool {
        self.label
            .as_ref()
            .is_some_and(|label| self.kind == Kind::Label || label.cache_key == self.entry.key)
    }
}

/// Every entry of `store`, described (one small read each, and a verified read of each label
/// and history; entries whose record cannot be read are `Other`: `verify` says why).
pub fn describe_all(store: &DiskCache) -> Vec<Described> {
    let mut described: Vec<Described> = store
        .entries()
        .into_iter()
        .map(|entry| {
            let head = store
                .entry_head(&entry, ENVELOPE_HEADER_LEN)
                .unwrap_or_default();
            let kind = Kind::of(&head);
            let label = (kind == Kind::Label)
                .then(|| store.peek(&entry.key).and_then(|b| Label::from_bytes(&b)))
                .flatten();
            let history = (kind == Kind::History)
                .then(|| store.peek(&entry.key).and_then(|b| History::from_bytes(&b)))
                .flatten();
            let fields = envelope_device(&head)
                .or(label.as_ref().map(|label| label.device))
                .or(history.as_ref().map(|history| history.device));
            let unreadable = (kind == Kind::Label && label.is_none())
                || (kind == Kind::History && history.is_none());
            Described {
                kind: if unreadable { Kind::Other } else { kind },
                device: fields.map(|fields| Device::of(&fields)),
                label,
                history,
                entry,
            }
        })
        .collect();
    // Labels by the key they name, and each device's most recently seen label.
    let mut by_key: HashMap<pcstore::PipelineFingerprint, Label> = HashMap::new();
    let mut by_device: HashMap<String, Label> = HashMap::new();
    for item in &described {
        if let (Some(label), Some(device)) = (&item.label, &item.device) {
            by_key.insert(label.cache_key, label.clone());
            let newest = by_device
                .entry(device.id.clone())
                .or_insert_with(|| label.clone());
            if label.last_seen_ns > newest.last_seen_ns {
                *newest = label.clone();
            }
        }
    }
    for item in &mut described {
        if item.kind == Kind::PipelineCache {
            item.label = by_key.get(&item.entry.key).cloned().or_else(|| {
                let device = item.device.as_ref()?;
                by_device.get(&device.id).cloned()
            });
        }
    }
    described
}

/// One line naming what a label says: `llvmpipe · Mesa 22.3.6 · llvmpipe (LLVM 15.0.6) · vkcube`.
pub fn label_text(label: &Label) -> String {
    format!(
        "{} · {} · {}",
        label.driver(),
        label.device_name,
        label.application
    )
}

/// How long a device may go unseen before it is stale: `--stale-after` if given (`Some`, whose
/// `None` is `never`), else what the library's compaction uses (`PCSTORE_STALE_AFTER`, else 30
/// days), read by the library's own function so the tool and the library cannot disagree.
pub fn stale_period(given: Option<StalePeriod>) -> anyhow::Result<Option<Duration>> {
    match given {
        Some(StalePeriod(period)) => Ok(period),
        None => Ok(pcstore::config::stale_after()?),
    }
}

/// A `--stale-after` value, in the grammar of `PCSTORE_STALE_AFTER`: a duration, or `never`.
#[derive(Clone, Copy, Debug)]
pub struct StalePeriod(pub Option<Duration>);

impl std::str::FromStr for StalePeriod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        pcstore::config::parse_stale_period(text)
            .map(StalePeriod)
            .map_err(|problem| format!("{text:?} {problem}"))
    }
}

/// Devices not seen for `stale_after` before `now_ns`, by the rule the disk tier's compaction
/// evicts by ([`StaleIdentities`]: a device with a label whose newest "last seen", and whose
/// entries' last use, are all older than that; never one without a label, nor any with no
/// period, `never`), so `prune` and `info` say what compaction does. One small read of each
/// entry's first bytes.
pub fn stale_devices(
    store: &DiskCache,
    described: &[Described],
    now_ns: u64,
    stale_after: Option<Duration>,
) -> HashSet<String> {
    let Some(stale_after) = stale_after else {
        return HashSet::new();
    };
    let heads: Vec<EntryHead> = described
        .iter()
        .filter(|item| item.device.is_some())
        .map(|item| EntryHead {
            key: item.entry.key,
            last_used_ns: item.entry.last_used_ns,
            head: store
                .entry_head(&item.entry, StaleIdentities.head_len())
                .unwrap_or_default(),
        })
        .collect();
    let stale = StaleIdentities.stale_keys(&heads, now_ns, stale_after);
    described
        .iter()
        .filter(|item| stale.contains(&item.entry.key))
        .filter_map(|item| Some(item.device.as_ref()?.id.clone()))
        .collect()
}

/// Which entries a command applies to: `--identity`, `--app`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Filter {
    /// Only entries written for this device: its id as `pcstore info` shows it (or a prefix
    /// of at least 4 hex digits); its labels included.
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
    /// Only the labels and histories of this application (as `pcstore info` names it, or its
    /// executable name) and the pipeline caches its labels name.
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
}

impl Filter {
    /// Whether `described` passes.
    pub fn keeps(&self, described: &Described) -> bool {
        let identity = match &self.identity {
            Some(id) => described.device.as_ref().is_some_and(|d| d.matches(id)),
            None => true,
        };
        let app = match &self.app {
            Some(app) => {
                (described.named_by_label()
                    && described
                        .label
                        .as_ref()
                        .is_some_and(|label| app_matches(&label.application, app)))
                    || described
                        .history
                        .as_ref()
                        .is_some_and(|history| app_matches(&history.application, app))
            }
            None => true,
        };
        identity && app
    }

    /// Whether any filter is given.
    pub fn is_set(&self) -> bool {
        self.identity.is_some() || self.app.is_some()
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

/// Whether a label's or history's application (`game.x86_64 (My Game)`) is the one asked for: the whole
/// name, the executable or the name in parentheses.
fn app_matches(application: &str, asked: &str) -> bool {
    if application == asked {
        return true;
    }
    match application.split_once(" (") {
        Some((executable, name)) => executable == asked || name.strip_suffix(')') == Some(asked),
        None => false,
    }
}
