//! The store most engines want, assembled in one place for `pcs_store_open_default` and the
//! Vulkan layer alike: memory over the per-user disk store over the remote tier.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{BundleSettings, RemoteSettings, Settings};
use crate::bundle::{BundleOptions, BundleStore};
use crate::diagnostics;
use crate::disk::{DiskCache, DiskCacheOptions};
use crate::layered::{
    BackgroundLayers, LayeredOptions, LayeredPipelineCache, PromotePolicy, WritePolicy,
};
use crate::memory::{InMemoryPipelineCache, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
use crate::store::PipelineCacheStore;

/// What the default store is made of, decided from [`Settings`] without touching anything.
///
/// The memory tier's budgets: [`DEFAULT_MAX_ENTRIES`] (65,536) entries, the count
/// `pcs_store_open_memory` defaults to (bookkeeping is about 100 bytes an entry, so bytes, not
/// entries, bound its footprint; the layer keeps one blob per device), and
/// [`DEFAULT_MAX_BYTES`] (256 MiB) or the disk budget if smaller: it holds what this process
/// read or wrote, a part of the disk store, and a user who lowers `PCSTORE_MAX_SIZE` to bound
/// pcstore's footprint gets that bound in memory too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StorePlan {
    /// Entry budget of the memory tier.
    pub memory_max_entries: usize,
    /// Byte budget of the memory tier.
    pub memory_max_bytes: u64,
    /// The disk tier.
    pub disk: DiskPlan,
    /// The remote tier, if one is named (never with `PCSTORE_DISABLE`).
    pub remote: Option<RemoteSettings>,
    /// Read-only bundles under the disk tier (`PCSTORE_BUNDLES`; none with `PCSTORE_DISABLE`,
    /// which means memory only).
    pub bundles: BundleSettings,
}

/// The disk tier of a [`StorePlan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DiskPlan {
    /// A store in this directory.
    Directory {
        /// Where.
        dir: PathBuf,
        /// Budgets.
        options: DiskCacheOptions,
    },
    /// `PCSTORE_DISABLE`: no disk.
    Disabled,
    /// None of `PCSTORE_DIR`, `XDG_CACHE_HOME` or `HOME` is set.
    NoDirectory,
}

/// A default store, opened, with what became of its disk tier (for the layer's log).
#[cfg_attr(not(feature = "layer"), allow(dead_code))] // only the layer logs the tiers
pub(crate) struct DefaultStore {
    /// The store: the memory tier alone, or the layers over it.
    pub store: Arc<dyn PipelineCacheStore>,
    /// What became of the disk tier.
    pub disk: DiskOutcome,
    /// Whether the remote tier is part of the store.
    pub remote: bool,
}

/// What became of the disk tier of a [`DefaultStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DiskOutcome {
    /// The store in this directory is part of the default store.
    Open(PathBuf),
    /// `PCSTORE_DISABLE`.
    Disabled,
    /// It could not be used (the reason); the default store works without it.
    Unavailable(String),
}

/// Why a default store could not be opened. Only the remote tier can refuse: a disk that cannot
/// be used leaves a working store without it.
#[derive(Debug)]
pub(crate) enum DefaultStoreError {
    /// `PCSTORE_REMOTE_URL` is unusable (e.g. not `http://`), or the upload thread could not
    /// start.
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteError),
    /// `PCSTORE_REMOTE_URL` is set but this build has no remote tier.
    #[cfg(not(feature = "remote"))]
    RemoteNotBuilt,
}

impl fmt::Display for DefaultStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "remote")]
            Self::Remote(error) => write!(f, "PCSTORE_REMOTE_URL: {error}"),
            #[cfg(not(feature = "remote"))]
            Self::RemoteNotBuilt => f.write_str(
                "PCSTORE_REMOTE_URL is set but this libpcstore was built without the `remote` \
                 feature",
            ),
        }
    }
}

impl StorePlan {
    /// The plan `settings` call for.
    pub fn new(settings: &Settings) -> Self {
        let mut disk_options = DiskCacheOptions::default();
        if let Some(max_size) = settings.max_size {
            disk_options.max_bytes = max_size;
        }
        disk_options.stale_after = settings.stale_after;
        let memory_max_bytes = DEFAULT_MAX_BYTES.min(disk_options.max_bytes);
        let disk = match &settings.dir {
            _ if settings.disable => DiskPlan::Disabled,
            Some(dir) => DiskPlan::Directory {
                dir: dir.clone(),
                options: disk_options,
            },
            None => DiskPlan::NoDirectory,
        };
        Self {
            memory_max_entries: DEFAULT_MAX_ENTRIES,
            memory_max_bytes,
            disk,
            remote: settings.remote.clone().filter(|_| !settings.disable),
            bundles: if settings.disable {
                BundleSettings::default()
            } else {
                settings.bundles.clone()
            },
        }
    }

    /// The plan with `hook` naming the disk tier's stale entries (a front end gives the Vulkan
    /// adapter's; the core cannot read identities out of values).
    #[cfg(feature = "vulkan")]
    pub fn with_stale_entries(mut self, hook: crate::disk::StaleHook) -> Self {
        if let DiskPlan::Directory { options, .. } = &mut self.disk {
            options.stale_entries = Some(hook);
        }
        self
    }

    /// Opens the store. The remote URL is checked first (that makes no request and touches
    /// nothing), so a bad one is refused before any disk work; a disk tier that cannot be used is
    /// left out, and the store works from memory (and the remote tier). That is an error record
    /// (target `pcstore::config`) at every open, and, while no logger listens, one
    /// `pcstore: ...` line on stderr per process: a fallback is worth one line, not one per store
    /// opened, and a silent one would leave a user wondering why nothing persists.
    ///
    /// The remote tier is a background layer ([`BackgroundLayers`]): no caller waits on the
    /// network for more than its small bounds, and it shares its breaker's state with other
    /// processes in the disk store's directory (when there is one), so a server found dead is
    /// skipped by the processes started after it.
    pub fn open(self) -> Result<DefaultStore, DefaultStoreError> {
        if let Some(remote) = &self.remote {
            check_remote(remote)?;
        }
        self.assemble(true)
    }

    /// Opens the store without its remote tier; never fails.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))] // only the layer falls back
    pub fn open_local(self) -> DefaultStore {
        match self.assemble(false) {
            Ok(store) => store,
            Err(_) => unreachable!("only the remote tier can fail, and it is left out"),
        }
    }

    fn assemble(self, with_remote: bool) -> Result<DefaultStore, DefaultStoreError> {
        let memory: Arc<dyn PipelineCacheStore> = Arc::new(InMemoryPipelineCache::with_limits(
            self.memory_max_entries,
            self.memory_max_bytes,
        ));
        let mut tiers = vec![memory];
        let disk = match self.disk {
            DiskPlan::Disabled => DiskOutcome::Disabled,
            DiskPlan::NoDirectory => {
                DiskOutcome::Unavailable(crate::disk::DiskCacheError::NoCacheDirectory.to_string())
            }
            DiskPlan::Directory { dir, options } => match DiskCache::with_options(&dir, options) {
                Ok(disk) => {
                    tiers.push(Arc::new(disk));
                    DiskOutcome::Open(dir)
                }
                Err(error) => DiskOutcome::Unavailable(error.to_string()),
            },
        };
        if let DiskOutcome::Unavailable(why) = &disk {
            static PRINTED: AtomicBool = AtomicBool::new(false);
            diagnostics::error_or_stderr_once(
                "pcstore::config",
                &PRINTED,
                &format!(
                    "the disk store cannot be used ({why}); this process caches without it, \
                     nothing is kept on this machine"
                ),
            );
        }
        let writable = tiers.len();
        tiers.extend(open_bundles(&self.bundles));
        let local_tiers = tiers.len();
        // The breaker's shared state goes only into a directory the disk tier accepted as ours.
        let state_dir = match &disk {
            DiskOutcome::Open(dir) => Some(dir.clone()),
            _ => None,
        };
        let remote = match &self.remote {
            Some(remote) if with_remote => Some(open_remote(remote, state_dir)?),
            _ => None,
        };
        let with_remote = remote.is_some();
        tiers.extend(remote);
        let store: Arc<dyn PipelineCacheStore> = if tiers.len() == 1 {
            tiers.remove(0)
        } else {
            let mut options = LayeredOptions {
                background: with_remote.then(|| BackgroundLayers::starting_at(local_tiers)),
                ..LayeredOptions::default()
            };
            if local_tiers > writable {
                (options.write, options.promote_into) =
                    around_bundles(writable, local_tiers, tiers.len());
            }
            Arc::new(LayeredPipelineCache::with_options(tiers, options))
        };
        Ok(DefaultStore {
            store,
            disk,
            remote: with_remote,
        })
    }
}

/// Opens the bundles `settings` names, in order; a bundle refused (missing, damaged, unsigned
/// or signed by another key when a key is configured) is left out with one line on stderr.
fn open_bundles(settings: &BundleSettings) -> Vec<Arc<dyn PipelineCacheStore>> {
    let options = BundleOptions {
        public_key: settings.public_key,
        ..BundleOptions::default()
    };
    settings
        .paths
        .iter()
        .filter_map(
            |path| match BundleStore::open_with_options(path, options.clone()) {
                Ok(bundle) => Some(Arc::new(bundle) as Arc<dyn PipelineCacheStore>),
                Err(error) => {
                    // In the engine's log when it installed one; otherwise the first refusal
                    // of the process on stderr.
                    static PRINTED: AtomicBool = AtomicBool::new(false);
                    diagnostics::error_or_stderr_once(
                        "pcstore::config",
                        &PRINTED,
                        &format!("PCSTORE_BUNDLES: {} is left out: {error}", path.display()),
                    );
                    None
                }
            },
        )
        .collect()
}

/// Write and promotion policies for tiers `[0, writable)` (memory, disk) over bundles
/// `[writable, bundles_end)` over a remote tier (if `len` is past them): puts go to every tier
/// but the bundles; a bundle hit is copied into memory only (the bundle already is on local
/// disk: a copy would only spend the disk budget); a disk hit into memory; a remote hit into
/// memory and disk, not into the read-only bundles.
fn around_bundles(writable: usize, bundles_end: usize, len: usize) -> (WritePolicy, PromotePolicy) {
    let written: Vec<usize> = (0..writable).chain(bundles_end..len).collect();
    let promote = (0..len)
        .map(|tier| match tier {
            0 => Vec::new(),
            _ if tier < bundles_end => vec![0],
            _ => (0..writable).collect(),
        })
        .collect();
    (
        WritePolicy::Layers(written),
        PromotePolicy::PerLayer(promote),
    )
}

#[cfg(feature = "remote")]
fn remote_options(
    remote: &RemoteSettings,
    state_dir: Option<PathBuf>,
) -> crate::remote::RemoteOptions {
    crate::remote::RemoteOptions {
        state_dir,
        ..crate::remote::RemoteOptions::from_settings(&remote.env)
    }
}

/// Refuses a remote URL the remote tier would refuse, without opening it.
#[cfg(feature = "remote")]
fn check_remote(remote: &RemoteSettings) -> Result<(), DefaultStoreError> {
    crate::remote::RemoteCache::check_url(&remote.url).map_err(DefaultStoreError::Remote)
}

#[cfg(feature = "remote")]
fn open_remote(
    remote: &RemoteSettings,
    state_dir: Option<PathBuf>,
) -> Result<Arc<dyn PipelineCacheStore>, DefaultStoreError> {
    let options = remote_options(remote, state_dir);
    let cache = crate::remote::RemoteCache::with_options(&remote.url, options)
        .map_err(DefaultStoreError::Remote)?;
    Ok(Arc::new(cache))
}

#[cfg(not(feature = "remote"))]
fn check_remote(_: &RemoteSettings) -> Result<(), DefaultStoreError> {
    Err(DefaultStoreError::RemoteNotBuilt)
}

#[cfg(not(feature = "remote"))]
fn open_remote(
    _: &RemoteSettings,
    _: Option<PathBuf>,
) -> Result<Arc<dyn PipelineCacheStore>, DefaultStoreError> {
    Err(DefaultStoreError::RemoteNotBuilt)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::vars;
    use super::*;
    use crate::scratch::Scratch;

    fn plan(pairs: &[(&str, &str)]) -> StorePlan {
        StorePlan::new(&Settings::from_vars(&vars(pairs)).expect("valid settings"))
    }

    #[test]
    fn one_set_of_budgets_follows_pcstore_max_size() {
        let default = plan(&[("PCSTORE_DIR", "/d")]);
        assert_eq!(
            default,
            StorePlan {
                memory_max_entries: 65_536,
                memory_max_bytes: 256 << 20,
                disk: DiskPlan::Directory {
                    dir: "/d".into(),
                    options: DiskCacheOptions::default(),
                },
                remote: None,
                bundles: BundleSettings::default(),
            }
        );
        let weekly = plan(&[("PCSTORE_DIR", "/d"), ("PCSTORE_STALE_AFTER", "7d")]);
        assert_eq!(
            weekly.disk,
            DiskPlan::Directory {
                dir: "/d".into(),
                options: DiskCacheOptions {
                    stale_after: Some(std::time::Duration::from_secs(7 * 86_400)),
                    ..DiskCacheOptions::default()
                },
            }
        );
        let small = plan(&[("PCSTORE_DIR", "/d"), ("PCSTORE_MAX_SIZE", "64 MiB")]);
        assert_eq!(small.memory_max_bytes, 64 << 20);
        assert_eq!(
            small.disk,
            DiskPlan::Directory {
                dir: "/d".into(),
                options: DiskCacheOptions {
                    max_bytes: 64 << 20,
                    ..DiskCacheOptions::default()
                },
            }
        );
    }

    #[test]
    fn disable_means_memory_only_and_false_means_false() {
        let remote = ("PCSTORE_REMOTE_URL", "http://127.0.0.1:1");
        for on in ["1", "true", "YES", "on"] {
            let disabled = plan(&[("PCSTORE_DIR", "/d"), ("PCSTORE_DISABLE", on), remote]);
            assert_eq!(disabled.disk, DiskPlan::Disabled, "{on}");
            assert_eq!(disabled.remote, None, "{on}");
        }
        for off in ["0", "false", "No", "OFF"] {
            let enabled = plan(&[("PCSTORE_DIR", "/d"), ("PCSTORE_DISABLE", off), remote]);
            assert!(
                matches!(enabled.disk, DiskPlan::Directory { .. }),
                "PCSTORE_DISABLE={off}"
            );
            assert!(enabled.remote.is_some(), "{off}");
        }
    }

    fn open(pairs: &[(&str, &str)]) -> DefaultStore {
        plan(pairs)
            .open()
            .map_err(|error| error.to_string())
            .expect("a store")
    }

    /// A bundle at `path` holding `entries`, signed with the secret `[seed; 32]`; returns the
    /// public key as hex.
    fn bundle(path: &Path, entries: &[(crate::PipelineFingerprint, &[u8])], seed: u8) -> String {
        let key = crate::bundle::BundleSigningKey::from_secret_bytes(&[seed; 32]);
        let mut writer = crate::bundle::BundleWriter::create(path).expect("create bundle");
        for (fp, payload) in entries {
            writer.add(*fp, payload).expect("add");
        }
        writer.finish_signed(&key).expect("finish");
        crate::PipelineFingerprint(key.public_key()).to_hex()
    }

    #[test]
    fn bundles_are_searched_in_order_under_the_disk_and_promoted_into_memory_only() {
        let scratch = Scratch::new("bundles");
        let (a, b, c) = (
            crate::PipelineFingerprint::of(b"a"),
            crate::PipelineFingerprint::of(b"b"),
            crate::PipelineFingerprint::of(b"c"),
        );
        let first = scratch.0.join("first.pcsb");
        let second = scratch.0.join("second.pcsb");
        let public = bundle(&first, &[(a, b"first a"), (b, b"first b")], 5);
        assert_eq!(
            bundle(&second, &[(b, b"second b"), (c, b"second c")], 5),
            public
        );
        let dir = scratch.0.join("store");
        let list = format!("{}:{}", first.display(), second.display());
        let vars = [
            ("PCSTORE_DIR", dir.to_str().expect("UTF-8")),
            ("PCSTORE_BUNDLES", list.as_str()),
            ("PCSTORE_BUNDLE_KEY", public.as_str()),
        ];
        let opened = open(&vars);
        assert_eq!(opened.store.get(&a), Some(b"first a".to_vec()));
        assert_eq!(
            opened.store.get(&b),
            Some(b"first b".to_vec()),
            "first listed wins"
        );
        assert_eq!(opened.store.get(&c), Some(b"second c".to_vec()));
        let fresh = crate::PipelineFingerprint::of(b"fresh");
        opened.store.try_put(fresh, b"new".to_vec()).expect("put");
        opened.store.flush().expect("flush");
        drop(opened);
        let disk = DiskCache::new(&dir).expect("disk");
        assert_eq!(
            disk.get(&fresh),
            Some(b"new".to_vec()),
            "puts reach the disk"
        );
        assert_eq!(disk.get(&a), None, "bundle hits are not copied to disk");
        assert_eq!(disk.get(&c), None);
        // The disk tier is searched before the bundles.
        disk.try_put(a, b"disk a".to_vec()).expect("put");
        disk.flush().expect("flush");
        drop(disk);
        assert_eq!(open(&vars).store.get(&a), Some(b"disk a".to_vec()));
    }

    #[test]
    fn a_bundle_signed_by_another_key_or_missing_is_left_out() {
        let scratch = Scratch::new("foreign-bundle");
        let a = crate::PipelineFingerprint::of(b"a");
        let foreign = scratch.0.join("foreign.pcsb");
        bundle(&foreign, &[(a, b"foreign a")], 6);
        let studio = crate::bundle::BundleSigningKey::from_secret_bytes(&[5; 32]).public_key();
        let studio = crate::PipelineFingerprint(studio).to_hex();
        let dir = scratch.0.join("store");
        let list = format!(
            "{}:{}",
            scratch.0.join("missing.pcsb").display(),
            foreign.display()
        );
        let opened = open(&[
            ("PCSTORE_DIR", dir.to_str().expect("UTF-8")),
            ("PCSTORE_BUNDLES", list.as_str()),
            ("PCSTORE_BUNDLE_KEY", studio.as_str()),
        ]);
        assert_eq!(opened.disk, DiskOutcome::Open(dir.clone()));
        assert_eq!(opened.store.get(&a), None);
        // Without a key, the same bundle serves (its signature still has to verify).
        let opened = open(&[
            ("PCSTORE_DIR", dir.to_str().expect("UTF-8")),
            ("PCSTORE_BUNDLES", foreign.to_str().expect("UTF-8")),
        ]);
        assert_eq!(opened.store.get(&a), Some(b"foreign a".to_vec()));
        // PCSTORE_DISABLE: memory only, no bundle either.
        let disabled = plan(&[
            ("PCSTORE_DISABLE", "1"),
            ("PCSTORE_BUNDLES", foreign.to_str().expect("UTF-8")),
        ]);
        assert_eq!(disabled.bundles, BundleSettings::default());
    }

    #[test]
    fn a_disabled_store_persists_nothing() {
        let scratch = Scratch::new("default-store-disabled");
        let dir = scratch.0.join("store");
        let dir = dir.to_str().expect("UTF-8");
        let key = crate::PipelineFingerprint::of(b"k");
        for round in 0..2 {
            let opened = open(&[("PCSTORE_DISABLE", "1"), ("PCSTORE_DIR", dir)]);
            assert_eq!(opened.disk, DiskOutcome::Disabled);
            assert!(!opened.remote);
            assert_eq!(opened.store.get(&key), None, "round {round}");
            opened
                .store
                .try_put(key, b"v".to_vec())
                .expect("memory put");
            opened.store.flush().expect("flush");
            assert_eq!(opened.store.get(&key), Some(b"v".to_vec()));
        }
        assert!(!Path::new(dir).exists(), "the disk directory was created");
    }

    #[test]
    fn an_unusable_disk_leaves_a_working_memory_store() {
        let scratch = Scratch::new("default-store-unusable");
        let blocker = scratch.0.join("a-file");
        std::fs::write(&blocker, b"not a directory").expect("blocker");
        let dir = blocker.join("store");
        let opened = open(&[("PCSTORE_DIR", dir.to_str().expect("UTF-8"))]);
        assert!(
            matches!(&opened.disk, DiskOutcome::Unavailable(why) if why.contains("a-file")),
            "{:?}",
            opened.disk
        );
        let key = crate::PipelineFingerprint::of(b"k");
        opened
            .store
            .try_put(key, b"v".to_vec())
            .expect("memory put");
        assert_eq!(opened.store.get(&key), Some(b"v".to_vec()));
        let nowhere = open(&[]);
        assert!(matches!(nowhere.disk, DiskOutcome::Unavailable(_)));
    }

    #[test]
    fn the_disk_store_persists_between_opens() {
        let scratch = Scratch::new("default-store-persists");
        let dir = scratch.0.join("store");
        let pairs = [("PCSTORE_DIR", dir.to_str().expect("UTF-8"))];
        let key = crate::PipelineFingerprint::of(b"k");
        let first = open(&pairs);
        assert_eq!(first.disk, DiskOutcome::Open(dir.clone()));
        first.store.try_put(key, b"v".to_vec()).expect("put");
        first.store.flush().expect("flush");
        drop(first);
        assert_eq!(open(&pairs).store.get(&key), Some(b"v".to_vec()));
    }

    #[cfg(feature = "remote")]
    #[test]
    fn a_bad_remote_url_is_refused_before_the_disk_is_touched() {
        let scratch = Scratch::new("default-store-bad-url");
        let dir = scratch.0.join("store");
        let refused = plan(&[
            ("PCSTORE_DIR", dir.to_str().expect("UTF-8")),
            ("PCSTORE_REMOTE_URL", "ftp://nowhere"),
        ])
        .open()
        .err()
        .expect("refused");
        assert!(
            refused.to_string().starts_with("PCSTORE_REMOTE_URL: "),
            "{refused}"
        );
        assert!(!dir.exists(), "the disk store was opened first");
    }
}
