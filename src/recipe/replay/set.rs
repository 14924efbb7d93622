//! The recipes a set of pipelines needs, fetched from a store and checked against their keys.

use std::collections::{BTreeMap, VecDeque};

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

    /// The pipelines of `pipelines` the set holds, in the order to create them: those with
    /// the same shader modules (in stage order), then layout and render pass, next to each
    /// other; ties by key. Key order (a hash) scatters each shader's pipelines over the whole
    /// replay; grouped, the driver (and the CPU's caches) stay on one shader's variants:
    /// measured on lavapipe (benches/replay_throughput.rs), about 12% less time creating.
    pub fn creation_order(
        &self,
        pipelines: impl IntoIterator<Item = RecipeKey>,
    ) -> VecDeque<RecipeKey> {
        let mut held: Vec<(Vec<RecipeKey>, RecipeKey)> = pipelines
            .into_iter()
            .filter_map(|pipeline| Some((self.get(&pipeline)?.references(), pipeline)))
            .collect();
        held.sort_unstable();
        held.into_iter().map(|(_, pipeline)| pipeline).collect()
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

#[cfg(test)]
mod tests {
    use ash::vk;

    use super::*;
    use crate::recipe::compute::ComputePipelineRecipe;
    use crate::recipe::stage::{ShaderStage, Specialization, SpecializationMapEntry};

    /// A compute pipeline of `module` whose one specialization constant is `variant`.
    fn pipeline(module: RecipeKey, variant: u32) -> AnyRecipe {
        AnyRecipe::ComputePipeline(ComputePipelineRecipe {
            flags: vk::PipelineCreateFlags::empty(),
            stage: ShaderStage {
                flags: vk::PipelineShaderStageCreateFlags::empty(),
                stage: vk::ShaderStageFlags::COMPUTE,
                module,
                entry_point: b"main".to_vec(),
                specialization: Some(Specialization {
                    map_entries: vec![SpecializationMapEntry {
                        constant_id: 0,
                        offset: 0,
                        size: 4,
                    }],
                    data: variant.to_le_bytes().to_vec(),
                }),
                required_subgroup_size: None,
            },
            layout: RecipeKey::of(b"layout"),
        })
    }

    #[test]
    fn creation_order_puts_the_pipelines_of_one_shader_together() {
        let modules = [b"module a", b"module b", b"module c"].map(|m| RecipeKey::of(m));
        let mut set = RecipeSet::default();
        for variant in 0..20 {
            for module in modules {
                let recipe = pipeline(module, variant);
                set.recipes
                    .insert(RecipeKey::of(&recipe.to_bytes()), recipe);
            }
        }
        let absent = RecipeKey::of(b"no such pipeline");
        let all: Vec<RecipeKey> = set.recipes.keys().copied().collect();
        let order = set.creation_order(all.iter().copied().chain([absent]));

        assert_eq!(
            order.len(),
            all.len(),
            "every held pipeline once, the absent one left out"
        );
        let module_of = |key: &RecipeKey| match set.get(key) {
            Some(AnyRecipe::ComputePipeline(recipe)) => recipe.stage.module,
            other => panic!("not a compute pipeline: {other:?}"),
        };
        let changes = order
            .iter()
            .zip(order.iter().skip(1))
            .filter(|(a, b)| module_of(a) != module_of(b))
            .count();
        assert_eq!(changes, modules.len() - 1, "one run per shader module");
        let in_key_order = all
            .iter()
            .zip(all.iter().skip(1))
            .filter(|(a, b)| module_of(a) != module_of(b))
            .count();
        assert!(
            in_key_order > changes,
            "key order scatters them ({in_key_order} changes)"
        );
    }
}
