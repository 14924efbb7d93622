//! Reading the grow-only records (application records, the catalog) from a store of several
//! tiers: every tier's copy, united.
//!
//! A stack answers a lookup with its first copy, which for these records is the wrong answer:
//! once a machine has recorded an application, its disk copy would hide the record in a bundle
//! below it (a game patch's new pipelines) or on a remote tier, and a replay would rebuild only
//! what this machine saw. The records are sets whose merge is a union (see `application`), so
//! a reader unites the copies instead of choosing one.
//!
//! Both readers are thread-safe as the store is, and block as long as
//! [`PipelineCacheStore::get_every_copy`] does (a stack's background tiers within its lookup
//! wait): call them off the frame path, as the recorder's background reads and a replay's
//! start do.

use super::application::{ApplicationRecord, Catalog};
use super::key::{ParseError, Recipe, RecipeKey};
use crate::store::PipelineCacheStore;

/// The application record at `key`, united from every copy the store holds
/// ([`PipelineCacheStore::get_every_copy`]); `None` when it holds none. A copy of another
/// identity or cache target than the first parsed copy's is left out (the key is derived
/// from both, so only damage or forgery puts one there).
///
/// # Errors
/// The first copy's [`ParseError`] when the store holds copies and none of them parses.
pub fn stored_application_record(
    store: &dyn PipelineCacheStore,
    key: &RecipeKey,
) -> Result<Option<ApplicationRecord>, ParseError> {
    united(store, key, |union: &mut ApplicationRecord, copy| {
        if union.identity == copy.identity && union.cache == copy.cache {
            union.merge(&copy);
        }
    })
}

/// The catalog, united from every copy the store holds; `None` when it holds none.
///
/// # Errors
/// The first copy's [`ParseError`] when the store holds copies and none of them parses.
pub fn stored_catalog(store: &dyn PipelineCacheStore) -> Result<Option<Catalog>, ParseError> {
    united(store, &Catalog::store_key(), |union: &mut Catalog, copy| {
        union.merge(&copy);
    })
}

/// Every copy at `key` that parses, joined into the first; a copy that does not parse is
/// skipped while another one does.
fn united<T: Recipe>(
    store: &dyn PipelineCacheStore,
    key: &RecipeKey,
    join: impl Fn(&mut T, T),
) -> Result<Option<T>, ParseError> {
    let mut union: Option<T> = None;
    let mut first_error = None;
    for copy in store.get_every_copy(&key.fingerprint()) {
        match T::from_bytes(&copy) {
            Ok(parsed) => match &mut union {
                Some(union) => join(union, parsed),
                None => union = Some(parsed),
            },
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match (union, first_error) {
        (None, Some(error)) => Err(error),
        (union, _) => Ok(union),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::recipe::{CacheTarget, NamespaceScheme};
    use crate::{InMemoryPipelineCache, LayeredPipelineCache, PipelineFingerprint};

    fn cache_target() -> CacheTarget {
        CacheTarget {
            key: PipelineFingerprint::of(b"cache"),
            namespace: b"game".to_vec(),
            scheme: NamespaceScheme::WithDeviceName,
        }
    }

    fn record(identity: &[u8], pipelines: &[&[u8]]) -> ApplicationRecord {
        let mut record = ApplicationRecord::new(identity.to_vec(), cache_target());
        for pipeline in pipelines {
            record.insert(RecipeKey::of(b"device"), RecipeKey::of(pipeline));
        }
        record
    }

    fn pipelines(record: &ApplicationRecord) -> Vec<RecipeKey> {
        record.pipelines.values().flatten().copied().collect()
    }

    /// Memory over "this machine's disk" over "a patch's bundle": three tiers as a stack.
    fn stack() -> (LayeredPipelineCache, [Arc<InMemoryPipelineCache>; 3]) {
        let tiers = [0; 3].map(|_| Arc::new(InMemoryPipelineCache::new()));
        let layered = LayeredPipelineCache::new(
            tiers
                .iter()
                .map(|tier| Arc::clone(tier) as Arc<dyn PipelineCacheStore>)
                .collect(),
        );
        (layered, tiers)
    }

    #[test]
    fn a_record_in_a_faster_tier_does_not_hide_a_slower_tiers_pipelines() {
        let (layered, [_, disk, bundle]) = stack();
        let local = record(b"game", &[b"seen here"]);
        let key = ApplicationRecord::store_key_for(&local.identity, &local.cache);
        disk.put(key.fingerprint(), local.to_bytes());
        bundle.put(
            key.fingerprint(),
            record(b"game", &[b"seen here", b"new in the patch"]).to_bytes(),
        );
        let united = stored_application_record(&layered, &key)
            .expect("parses")
            .expect("stored");
        let mut expected = pipelines(&record(b"game", &[b"seen here", b"new in the patch"]));
        expected.sort();
        assert_eq!(pipelines(&united), expected);
        // Reading promoted nothing: the disk's copy is still its own.
        assert_eq!(disk.get(&key.fingerprint()), Some(local.to_bytes()));
    }

    #[test]
    fn damaged_and_foreign_copies_are_left_out_and_nothing_is_none() {
        let (layered, [memory, disk, bundle]) = stack();
        let ours = record(b"game", &[b"a"]);
        let key = ApplicationRecord::store_key_for(&ours.identity, &ours.cache);
        assert_eq!(stored_application_record(&layered, &key), Ok(None));
        memory.put(key.fingerprint(), b"not a record".to_vec());
        assert!(stored_application_record(&layered, &key).is_err());
        disk.put(key.fingerprint(), ours.to_bytes());
        bundle.put(
            key.fingerprint(),
            record(b"another game", &[b"b"]).to_bytes(),
        );
        let united = stored_application_record(&layered, &key)
            .expect("one copy parses")
            .expect("stored");
        assert_eq!(united, ours);
    }

    #[test]
    fn catalogs_of_every_tier_are_united() {
        let (layered, [_, disk, bundle]) = stack();
        assert_eq!(stored_catalog(&layered), Ok(None));
        let catalog = |names: &[&[u8]]| Catalog {
            applications: names.iter().map(|name| RecipeKey::of(name)).collect(),
        };
        disk.put(
            Catalog::store_key().fingerprint(),
            catalog(&[b"played here"]).to_bytes(),
        );
        bundle.put(
            Catalog::store_key().fingerprint(),
            catalog(&[b"shipped"]).to_bytes(),
        );
        assert_eq!(
            stored_catalog(&layered),
            Ok(Some(catalog(&[b"played here", b"shipped"])))
        );
    }
}
