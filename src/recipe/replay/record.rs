//! What replays did for one application on one driver, kept in the store next to the recipes.

use std::collections::BTreeSet;

use crate::fingerprint::PipelineFingerprint;
use crate::recipe::key::{impl_recipe, RecipeKey};
use crate::recipe::wire::recipe_struct;

recipe_struct! {
    /// The pipelines of one device recipe of one application that were replayed into one
    /// saved cache (one driver identity), and those that broke the driver there.
    ///
    /// Stored like the application record: at a key derived from what it is about
    /// ([`ReplayRecord::store_key_for`]), grow-only, merged by union.
    #[derive(Default)]
    pub struct ReplayRecord {
        /// Pipeline recipes created into the saved cache, ascending.
        pub replayed: BTreeSet<RecipeKey>,
        /// Pipeline recipes that crashed the driver, exceeded the per-pipeline timeout or made
        /// the driver fail: never tried again on this driver identity. Ascending.
        pub bad: BTreeSet<RecipeKey>,
    }
}

impl_recipe!(ReplayRecord, Replay, 1);

impl ReplayRecord {
    /// Where the record is kept for the cache stored at `saved_cache` (the scoped key the
    /// adapter saves the application's cache under on this driver: it names the driver
    /// identity, the application's namespace and its cache key), the application record
    /// `application` and the device recipe `device`.
    pub fn store_key_for(
        saved_cache: &PipelineFingerprint,
        application: &RecipeKey,
        device: &RecipeKey,
    ) -> RecipeKey {
        RecipeKey::named(&[
            b"replay",
            &saved_cache.0,
            &application.fingerprint().0,
            &device.fingerprint().0,
        ])
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &ReplayRecord) {
        self.replayed.extend(other.replayed.iter().copied());
        self.bad.extend(other.bad.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::key::Recipe;

    #[test]
    fn records_round_trip_and_merge_as_unions() {
        let key = |n: u8| RecipeKey(PipelineFingerprint([n; 32]));
        let mut first = ReplayRecord::default();
        first.replayed.insert(key(1));
        first.bad.insert(key(2));
        let mut second = ReplayRecord::default();
        second.replayed.insert(key(3));
        second.merge(&first);
        assert_eq!(
            second.replayed.iter().copied().collect::<Vec<_>>(),
            [key(1), key(3)]
        );
        assert_eq!(second.bad.iter().copied().collect::<Vec<_>>(), [key(2)]);
        let bytes = second.to_bytes();
        assert_eq!(ReplayRecord::from_bytes(&bytes), Ok(second.clone()));
        assert_eq!(ReplayRecord::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        let saved = PipelineFingerprint([9; 32]);
        assert_ne!(
            ReplayRecord::store_key_for(&saved, &key(1), &key(2)),
            ReplayRecord::store_key_for(&saved, &key(2), &key(1)),
        );
    }
}
