//! The recipes a set of pipelines needs, fetched from a store and checked against their keys.

use std::collections::BTreeMap;

use super::error::ReplayError;
use crate::codec::{Reader, Writer};
use crate::recipe::any::AnyRecipe;
use crate::recipe::key::RecipeKey;
use crate::store::PipelineCacheStore;

/// Recipes by key, each checked to hash to its key, with every reference of every recipe
/// present.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipeSet {
    recipes: BTreeMap<RecipeKey, AnyRecipe>,
}

impl RecipeSet {
    /// The recipes `pipelines` need (each pipeline and what it refers to, transitively), and
    /// the pipelines left out because something they need is missing or damaged, with why.
    /// Shared dependencies are fetched once.
    pub fn fetch(
        store: &dyn PipelineCacheStore,
        pipelines: impl IntoIterator<Item = RecipeKey>,
    ) -> (Self, Vec<(RecipeKey, ReplayError)>) {
        let mut set = Self::default();
        let mut unavailable = Vec::new();
        for pipeline in pipelines {
            let mut fetched = BTreeMap::new();
            match set.fetch_closure(store, pipeline, &mut fetched) {
                Ok(()) => set.recipes.extend(fetched),
                Err(error) => unavailable.push((pipeline, error)),
            }
        }
        (set, unavailable)
    }

    /// Fetches `root` and what it refers to that neither `self` nor `fetched` holds yet.
    fn fetch_closure(
        &self,
        store: &dyn PipelineCacheStore,
        root: RecipeKey,
        fetched: &mut BTreeMap<RecipeKey, AnyRecipe>,
    ) -> Result<(), ReplayError> {
        let mut pending = vec![root];
        while let Some(key) = pending.pop() {
            if self.recipes.contains_key(&key) || fetched.contains_key(&key) {
                continue;
            }
            let bytes = store
                .get(&key.fingerprint())
                .ok_or(ReplayError::MissingRecipe(key))?;
            let recipe = parse_checked(&key, &bytes)?;
            pending.extend(recipe.references());
            fetched.insert(key, recipe);
        }
        Ok(())
    }

    /// The recipe of `key`.
    pub fn get(&self, key: &RecipeKey) -> Option<&AnyRecipe> {
        self.recipes.get(key)
    }

    /// How many recipes the set holds.
    pub fn len(&self) -> usize {
        self.recipes.len()
    }

    /// Whether the set holds no recipe.
    pub fn is_empty(&self) -> bool {
        self.recipes.is_empty()
    }

    /// The recipes' bytes, each length-prefixed: how the set travels to a worker.
    pub(crate) fn encode(&self, out: &mut Writer) {
        out.u32(self.recipes.len() as u32);
        for recipe in self.recipes.values() {
            let bytes = recipe.to_bytes();
            out.u32(bytes.len() as u32).bytes(&bytes);
        }
    }

    /// The set [`RecipeSet::encode`] wrote, every recipe checked again (keys are recomputed).
    pub(crate) fn decode(input: &mut Reader<'_>) -> Option<Self> {
        let count = input.u32()?;
        // A recipe is at least its 8-byte header after its 4-byte length.
        let count = input.count_within(u64::from(count), 12)?;
        let mut recipes = BTreeMap::new();
        for _ in 0..count {
            let length = input.u32()? as usize;
            let bytes = input.take(length)?;
            let recipe = AnyRecipe::from_bytes(bytes).ok()?;
            recipes.insert(RecipeKey::of(bytes), recipe);
        }
        Some(Self { recipes })
    }
}

/// The recipe stored under `key`, if its bytes hash to `key` and parse.
fn parse_checked(key: &RecipeKey, bytes: &[u8]) -> Result<AnyRecipe, ReplayError> {
    if RecipeKey::of(bytes) != *key {
        return Err(ReplayError::BadRecipe {
            key: *key,
            error: None,
        });
    }
    AnyRecipe::from_bytes(bytes).map_err(|error| ReplayError::BadRecipe {
        key: *key,
        error: Some(error),
    })
}
