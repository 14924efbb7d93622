//! What is recorded per application, and the catalog of applications.
//!
//! Unlike object recipes these records are not content-addressed: each lives at a key derived
//! from what it is about ([`ApplicationRecord::store_key`], [`Catalog::store_key`]), not
//! from its bytes ([`Recipe::key`](super::Recipe::key) of a record names one version of it) and grows as runs
//! record more. Their contents are grow-only sets, and [`ApplicationRecord::merge`] /
//! [`Catalog::merge`] are set unions (commutative, associative, idempotent), so the protocol is:
//! a recorder reads the record at its store key (a miss is an empty record), adds what its run
//! created, and puts the merged record back; a reader holding several versions (a local and a
//! remote tier) merges them. Two processes racing on one record can drop each other's latest
//! additions from the stored copy until one of them puts again; an addition lost that way
//! comes back the next time a run creates that pipeline (the recorder adds whatever the record
//! it read does not hold), so records converge instead of needing a lock across machines.

use std::collections::{BTreeMap, BTreeSet};

use super::key::{impl_recipe, recipe_kind, Recipe, RecipeKey, RecipeKind};
use super::wire::{recipe_struct, Wire};
use crate::codec::{Reader, Writer};
use crate::fingerprint::PipelineFingerprint;

/// How the namespace of the pipeline cache an application feeds is formed on each device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NamespaceScheme {
    /// The namespace as given (an engine's `VulkanOptions::namespace`). Wire: 1.
    Exact,
    /// The namespace, a NUL, then the device name (lavapipe's identity is too weak without the
    /// name). Wire: 2.
    WithDeviceName,
    /// The namespace, a NUL, the device name, a NUL, then this digest of the device's
    /// configuration (the layer's device cache: two configurations of one application
    /// compile different pipelines, see `layer::device_configuration_digest`). Wire: 3, then
    /// the 32 bytes.
    WithDeviceNameAndConfiguration([u8; 32]),
}

impl Wire for NamespaceScheme {
    const MIN_LEN: usize = 1;
    fn put(&self, out: &mut Writer) {
        match self {
            Self::Exact => out.u8(1),
            Self::WithDeviceName => out.u8(2),
            Self::WithDeviceNameAndConfiguration(configuration) => out.u8(3).bytes(configuration),
        };
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        match input.u8()? {
            1 => Some(Self::Exact),
            2 => Some(Self::WithDeviceName),
            3 => Some(Self::WithDeviceNameAndConfiguration(input.array()?)),
            _ => None,
        }
    }
}

recipe_struct! {
    /// The pipeline cache an application's pipelines feed: what a replay must save its result
    /// under so the application's next launch loads it.
    pub struct CacheTarget {
        /// The unscoped key passed to the adapter's load and save (the layer's device-cache
        /// key, or the engine's key).
        pub key: PipelineFingerprint,
        /// The adapter's namespace (the layer: the application identity).
        pub namespace: Vec<u8>,
        /// How the namespace is completed per device.
        pub scheme: NamespaceScheme,
    }
}

impl CacheTarget {
    /// The namespace the adapter uses on a device named `device_name`.
    #[must_use]
    pub fn namespace_for(&self, device_name: &[u8]) -> Vec<u8> {
        let mut namespace = self.namespace.clone();
        match &self.scheme {
            NamespaceScheme::Exact => {}
            NamespaceScheme::WithDeviceName => {
                namespace.push(0);
                namespace.extend_from_slice(device_name);
            }
            NamespaceScheme::WithDeviceNameAndConfiguration(configuration) => {
                namespace.push(0);
                namespace.extend_from_slice(device_name);
                namespace.push(0);
                namespace.extend_from_slice(configuration);
            }
        }
        namespace
    }
}

recipe_struct! {
    /// Everything recorded for one application feeding one pipeline cache.
    pub struct ApplicationRecord {
        /// The application's identity: the bytes the layer separates applications by
        /// (executable name, then NUL, application name, NUL, its version as 4 little-endian
        /// bytes, NUL, engine name, NUL, engine version).
        pub identity: Vec<u8>,
        /// The cache its pipelines feed.
        pub cache: CacheTarget,
        /// Recorded pipelines by the device recipe they were created on: the keys of compute
        /// and graphics pipeline recipes, ascending.
        pub pipelines: BTreeMap<RecipeKey, BTreeSet<RecipeKey>>,
    }
}

impl_recipe!(ApplicationRecord, Application, 1);

impl ApplicationRecord {
    /// An empty record for `identity` and `cache`.
    #[must_use]
    pub fn new(identity: Vec<u8>, cache: CacheTarget) -> Self {
        Self {
            identity,
            cache,
            pipelines: BTreeMap::new(),
        }
    }

    /// Where the record of `identity` feeding `cache` is stored.
    #[must_use]
    pub fn store_key_for(identity: &[u8], cache: &CacheTarget) -> RecipeKey {
        let mut target = Writer::default();
        cache.put(&mut target);
        RecipeKey::named(&[b"application", identity, target.as_slice()])
    }

    /// Where this record is stored (not the hash of its contents: it grows in place).
    #[must_use]
    pub fn store_key(&self) -> RecipeKey {
        Self::store_key_for(&self.identity, &self.cache)
    }

    /// Adds a pipeline created on `device`; whether it was new.
    pub fn insert(&mut self, device: RecipeKey, pipeline: RecipeKey) -> bool {
        self.pipelines.entry(device).or_default().insert(pipeline)
    }

    /// Adds everything `other` holds (a record of the same application and cache).
    pub fn merge(&mut self, other: &ApplicationRecord) {
        for (device, pipelines) in &other.pipelines {
            self.pipelines
                .entry(*device)
                .or_default()
                .extend(pipelines.iter().copied());
        }
    }

    /// Device and pipeline recipes this record refers to.
    pub fn references(&self) -> impl Iterator<Item = &RecipeKey> {
        self.pipelines
            .iter()
            .flat_map(|(device, pipelines)| std::iter::once(device).chain(pipelines))
    }
}

recipe_struct! {
    /// The keys of every application record: how a replay of "all applications" finds them
    /// in a store that cannot list its keys (a remote cache).
    #[derive(Default)]
    pub struct Catalog {
        /// Application record keys, ascending.
        pub applications: BTreeSet<RecipeKey>,
    }
}

impl_recipe!(Catalog, Catalog, 1);

impl Catalog {
    /// Where the catalog is stored.
    #[must_use]
    pub fn store_key() -> RecipeKey {
        RecipeKey::named(&[b"catalog"])
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Catalog) {
        self.applications.extend(other.applications.iter().copied());
    }
}

/// What to store under an entry's key when `incoming` arrives for it from elsewhere (an import
/// of a bundle): catalogs and application records are lists kept under fixed keys that only
/// grow, so one of those meets the store's own (`stored`, read only for these two kinds) as
/// their union; anything else is `incoming` (every other entry is content-addressed or belongs
/// to one driver: the same key means the same thing). Bytes that do not parse are not merged.
#[must_use]
pub fn union_with_stored(incoming: Vec<u8>, stored: impl FnOnce() -> Option<Vec<u8>>) -> Vec<u8> {
    let Ok((kind @ (RecipeKind::Catalog | RecipeKind::Application), _)) = recipe_kind(&incoming)
    else {
        return incoming;
    };
    let Some(stored) = stored() else {
        return incoming;
    };
    if kind == RecipeKind::Catalog {
        if let (Ok(mut union), Ok(arriving)) =
            (Catalog::from_bytes(&stored), Catalog::from_bytes(&incoming))
        {
            union.merge(&arriving);
            return union.to_bytes();
        }
    } else if let (Ok(mut union), Ok(arriving)) = (
        ApplicationRecord::from_bytes(&stored),
        ApplicationRecord::from_bytes(&incoming),
    ) {
        if union.identity == arriving.identity && union.cache == arriving.cache {
            union.merge(&arriving);
            return union.to_bytes();
        }
    }
    incoming
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(identity: &[u8], pipelines: &[&[u8]]) -> ApplicationRecord {
        let cache = CacheTarget {
            key: PipelineFingerprint::of(b"cache"),
            namespace: identity.to_vec(),
            scheme: NamespaceScheme::WithDeviceName,
        };
        let mut record = ApplicationRecord::new(identity.to_vec(), cache);
        for pipeline in pipelines {
            record.insert(RecipeKey::of(b"device"), RecipeKey::of(pipeline));
        }
        record
    }

    #[test]
    fn only_lists_of_the_same_kind_and_application_are_united() {
        let ours = record(b"game", &[b"a"]).to_bytes();
        let theirs = record(b"game", &[b"b"]).to_bytes();
        let united = union_with_stored(theirs.clone(), || Some(ours.clone()));
        assert_eq!(
            ApplicationRecord::from_bytes(&united).unwrap(),
            record(b"game", &[b"a", b"b"])
        );
        // Another application's record (a key collision cannot happen, but bytes are bytes),
        // a stored catalog, damaged bytes, or no entry: the incoming bytes as they are.
        let other = record(b"other", &[b"c"]).to_bytes();
        let catalog = Catalog::default().to_bytes();
        for stored in [Some(other), Some(catalog), Some(vec![1, 2, 3]), None] {
            assert_eq!(union_with_stored(theirs.clone(), || stored.clone()), theirs);
        }
        // Entries of other kinds never read what is stored.
        let blob = b"a driver blob".to_vec();
        let unread = union_with_stored(blob.clone(), || panic!("read for a blob"));
        assert_eq!(unread, blob);
    }
}
