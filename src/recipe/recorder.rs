//! Recording what an application or engine creates into a store: the recipes, the
//! application record and the catalog, so a replay finds everything on any machine.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;

use ash::vk;
use parking_lot::{Mutex, RwLock};

use super::application::{ApplicationRecord, CacheTarget, Catalog};
use super::compute::ComputePipelineRecipe;
use super::device::DeviceRecipe;
use super::error::NotRecorded;
use super::graphics::GraphicsPipelineRecipe;
use super::key::{encode_recipe_into, Recipe, RecipeKey};
use super::layout::{DescriptorSetLayoutRecipe, PipelineLayoutRecipe};
use super::render_pass::RenderPassRecipe;
use super::resolve::KeyMap;
use super::sampler::SamplerRecipe;
use super::shader::ShaderModuleRecipe;
use super::stage::Captured;
use super::stored::{stored_application_record, stored_catalog};
use super::wire::Wire;
use crate::store::PipelineCacheStore;

/// Records one application's (or engine's) objects on one device into a store.
///
/// Call the method for each object right after the driver created it (pipelines: for each
/// create-info the driver accepted), then [`RecipeRecorder::flush`] from time to time (at a
/// cache save, at shutdown) to publish the application record and catalog.
///
/// - Recipes go to the store through its non-blocking `put`, each once per recorder.
/// - An object that cannot be recorded completely is not recorded at all: the method says why
///   ([`NotRecorded`]), the reason is counted per unknown `sType`, and pipelines referring to
///   it are not recorded either. Its handle is forgotten, so a handle the driver reuses never
///   names the object it named before (every create of a kind must therefore go through the
///   recorder; destroys need not).
///
/// Thread-safe: objects may be recorded from any threads at once.
///
/// A pipeline created again (the common case: every launch creates the same pipelines) costs
/// its capture and serialization into a per-thread buffer, then one fast hash and one lookup of
/// those bytes: no BLAKE3, no store access, no allocation for the bytes. The lookup compares the
/// recipe's bytes themselves, not a hash of them, so two create-infos that differ in anything
/// the recipe records are never taken as one; handles are already replaced by the keys of what
/// they named when created, so a handle the driver reuses for another object gives other bytes.
pub struct RecipeRecorder {
    store: Arc<dyn PipelineCacheStore>,
    identity: Vec<u8>,
    cache: CacheTarget,
    device: RecipeKey,
    keys: RwLock<KeyMap>,
    /// Recipes put by this recorder.
    stored: Mutex<HashSet<RecipeKey>>,
    /// Pipelines recorded since the last flush.
    new_pipelines: Mutex<BTreeSet<RecipeKey>>,
    /// Every pipeline this recorder recorded: its recipe's bytes, and their key. The bytes are
    /// the pipeline recipe alone (~0.5-2 KiB; modules and layouts are referred to by key).
    pipelines: RwLock<HashMap<Box<[u8]>, RecipeKey, foldhash::fast::RandomState>>,
    /// Objects not recorded, by the unknown `sType` that stopped them (0: another reason).
    not_recorded: Mutex<BTreeMap<i32, u64>>,
    /// The application record and catalog `flush` adds to.
    published: Mutex<Published>,
}

/// What `flush` adds the new pipelines to. Both records are read from the store in the
/// background from the recorder's creation on: each read that misses locally may wait on a
/// remote tier (up to the layered store's lookup bound), and the layer flushes inside
/// `vkDestroyDevice`, which must not wait on a network. After the first flush, the records as
/// this recorder put them. Another process's additions made after the read are not seen
/// (the union is read-modify-write across processes in any case); every run of an
/// application records all the pipelines it creates, so the next run publishes them again.
enum Published {
    /// Being read (`None`: a reader thread could not be started; read at the first flush).
    Reading(
        Option<JoinHandle<ApplicationRecord>>,
        Option<JoinHandle<Catalog>>,
    ),
    /// Read, or as last put.
    Read(ApplicationRecord, Catalog),
}

/// The capacity of a pipeline's bytes buffer a thread keeps for its next pipeline; a buffer
/// grown beyond it by a rare huge recipe (kilobytes of specialization data) is freed.
const PIPELINE_BYTES_KEPT: usize = 64 * 1024;

thread_local! {
    /// Each thread's buffer for the bytes of the pipeline it is recording, reused from one
    /// pipeline to the next (taken while in use, so a reentrant call gets a fresh one).
    static PIPELINE_BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl std::fmt::Debug for RecipeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipeRecorder")
            .field("device", &self.device)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl RecipeRecorder {
    /// A recorder for the application `identity` (the bytes that tell applications apart,
    /// see [`ApplicationRecord::identity`]) whose pipelines feed `cache`, on a device
    /// created as `device` says. Puts the device recipe, and starts reading the stored
    /// application record and catalog on two short-lived threads of their own, so that
    /// [`RecipeRecorder::flush`] need not wait on a remote tier.
    pub fn new(
        store: Arc<dyn PipelineCacheStore>,
        identity: Vec<u8>,
        cache: CacheTarget,
        device: &DeviceRecipe,
    ) -> Self {
        let device_key = device.key();
        store.put(device_key.fingerprint(), device.to_bytes());
        let application_key = ApplicationRecord::store_key_for(&identity, &cache);
        let reading = Published::Reading(
            background({
                let (store, identity, cache) =
                    (Arc::clone(&store), identity.clone(), cache.clone());
                move || stored_application(store.as_ref(), application_key, identity, cache)
            }),
            background({
                let store = Arc::clone(&store);
                move || catalog_or_empty(store.as_ref())
            }),
        );
        Self {
            store,
            identity,
            cache,
            device: device_key,
            keys: RwLock::new(KeyMap::new()),
            stored: Mutex::new(HashSet::new()),
            new_pipelines: Mutex::new(BTreeSet::new()),
            pipelines: RwLock::new(HashMap::default()),
            not_recorded: Mutex::new(BTreeMap::new()),
            published: Mutex::new(reading),
        }
    }

    /// Where this recorder's application record is stored (what a replay is given).
    pub fn application_key(&self) -> RecipeKey {
        ApplicationRecord::store_key_for(&self.identity, &self.cache)
    }

    /// Objects not recorded so far, by the unknown `sType` that stopped them (`None`: a
    /// handle without a recipe or an unsupported create-info).
    pub fn not_recorded(&self) -> Vec<(Option<vk::StructureType>, u64)> {
        self.not_recorded
            .lock()
            .iter()
            .map(|(raw, count)| {
                (
                    (*raw != 0).then(|| vk::StructureType::from_raw(*raw)),
                    *count,
                )
            })
            .collect()
    }

    /// Puts `bytes` unless this recorder did before; returns their key.
    fn put(&self, bytes: Vec<u8>) -> RecipeKey {
        let key = RecipeKey::of(&bytes);
        if self.stored.lock().insert(key) {
            self.store.put(key.fingerprint(), bytes);
        }
        key
    }

    /// Counts a refusal; logs the first of each `sType`.
    fn refused(&self, why: NotRecorded) -> NotRecorded {
        let raw = why.structure_type().map_or(0, vk::StructureType::as_raw);
        let mut counts = self.not_recorded.lock();
        let count = counts.entry(raw).or_default();
        if *count == 0 && raw != 0 {
            eprintln!("pcstore: not recording objects with {why}");
        }
        *count += 1;
        why
    }

    /// Records a shader module.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateShaderModule`.
    pub unsafe fn shader_module(
        &self,
        handle: vk::ShaderModule,
        info: &vk::ShaderModuleCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        match unsafe { ShaderModuleRecipe::capture(info) } {
            Ok(recipe) => {
                let key = self.put(recipe.to_bytes());
                self.keys.write().insert_shader_module(handle, key);
                Ok(key)
            }
            Err(why) => {
                self.keys.write().remove_shader_module(handle);
                Err(self.refused(why))
            }
        }
    }

    /// Records a sampler.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateSampler`.
    pub unsafe fn sampler(
        &self,
        handle: vk::Sampler,
        info: &vk::SamplerCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        match unsafe { SamplerRecipe::capture(info) } {
            Ok(recipe) => {
                let key = self.put(recipe.to_bytes());
                self.keys.write().insert_sampler(handle, key);
                Ok(key)
            }
            Err(why) => {
                self.keys.write().remove_sampler(handle);
                Err(self.refused(why))
            }
        }
    }

    /// Records a descriptor set layout.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely (including an
    /// immutable sampler that was not recorded).
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateDescriptorSetLayout`.
    pub unsafe fn descriptor_set_layout(
        &self,
        handle: vk::DescriptorSetLayout,
        info: &vk::DescriptorSetLayoutCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { DescriptorSetLayoutRecipe::capture(info, &*self.keys.read()) };
        match captured {
            Ok(recipe) => {
                let key = self.put(recipe.to_bytes());
                self.keys.write().insert_descriptor_set_layout(handle, key);
                Ok(key)
            }
            Err(why) => {
                self.keys.write().remove_descriptor_set_layout(handle);
                Err(self.refused(why))
            }
        }
    }

    /// Records a pipeline layout.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreatePipelineLayout`.
    pub unsafe fn pipeline_layout(
        &self,
        handle: vk::PipelineLayout,
        info: &vk::PipelineLayoutCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { PipelineLayoutRecipe::capture(info, &*self.keys.read()) };
        match captured {
            Ok(recipe) => {
                let key = self.put(recipe.to_bytes());
                self.keys.write().insert_pipeline_layout(handle, key);
                Ok(key)
            }
            Err(why) => {
                self.keys.write().remove_pipeline_layout(handle);
                Err(self.refused(why))
            }
        }
    }

    /// Records a render pass created with `vkCreateRenderPass`.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateRenderPass`.
    pub unsafe fn render_pass(
        &self,
        handle: vk::RenderPass,
        info: &vk::RenderPassCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { RenderPassRecipe::capture(info) };
        self.record_render_pass(handle, captured)
    }

    /// Records a render pass created with `vkCreateRenderPass2`.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateRenderPass2`.
    pub unsafe fn render_pass2(
        &self,
        handle: vk::RenderPass,
        info: &vk::RenderPassCreateInfo2<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { RenderPassRecipe::capture2(info) };
        self.record_render_pass(handle, captured)
    }

    fn record_render_pass(
        &self,
        handle: vk::RenderPass,
        captured: Result<RenderPassRecipe, NotRecorded>,
    ) -> Result<RecipeKey, NotRecorded> {
        match captured {
            Ok(recipe) => {
                let key = self.put(recipe.to_bytes());
                self.keys.write().insert_render_pass(handle, &recipe);
                Ok(key)
            }
            Err(why) => {
                self.keys.write().remove_render_pass(handle);
                Err(self.refused(why))
            }
        }
    }

    /// Records a compute pipeline the driver created from `info`.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateComputePipelines`.
    pub unsafe fn compute_pipeline(
        &self,
        info: &vk::ComputePipelineCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { ComputePipelineRecipe::capture(info, &*self.keys.read()) };
        self.record_pipeline(captured)
    }

    /// Records a graphics pipeline the driver created from `info`.
    ///
    /// # Errors
    /// [`NotRecorded`] when the create-info cannot be recorded completely.
    ///
    /// # Safety
    /// `info` must be valid by Vulkan's rules for `vkCreateGraphicsPipelines`.
    pub unsafe fn graphics_pipeline(
        &self,
        info: &vk::GraphicsPipelineCreateInfo<'_>,
    ) -> Result<RecipeKey, NotRecorded> {
        // SAFETY: a valid create-info (caller).
        let captured = unsafe { GraphicsPipelineRecipe::capture(info, &*self.keys.read()) };
        self.record_pipeline(captured)
    }

    fn record_pipeline<T: Recipe + Wire>(
        &self,
        captured: Result<Captured<T>, NotRecorded>,
    ) -> Result<RecipeKey, NotRecorded> {
        let captured = captured.map_err(|why| self.refused(why))?;
        let bytes =
            encode_recipe_into(T::KIND, T::VERSION, &captured.recipe, PIPELINE_BYTES.take());
        let key = self.pipeline_key(&bytes, &captured.inline_modules);
        if bytes.capacity() <= PIPELINE_BYTES_KEPT {
            PIPELINE_BYTES.set(bytes);
        }
        Ok(key)
    }

    /// The key of the pipeline recipe `bytes`: found among the pipelines recorded before, or
    /// computed, and the recipe put (with the modules its create-info gave inline).
    fn pipeline_key(&self, bytes: &[u8], inline_modules: &[ShaderModuleRecipe]) -> RecipeKey {
        if let Some(key) = self.pipelines.read().get(bytes) {
            return *key;
        }
        for module in inline_modules {
            self.put(module.to_bytes());
        }
        let key = self.put(bytes.to_vec());
        if self.pipelines.write().insert(bytes.into(), key).is_none() {
            self.new_pipelines.lock().insert(key);
        }
        key
    }

    /// Publishes the pipelines recorded since the last flush: adds them to the stored
    /// application record (read in the background since the recorder was created; a miss or
    /// damaged copy counts as empty), puts it back, and adds the application to the catalog
    /// the same way (both are grow-only sets, see [`ApplicationRecord`]). Does nothing when
    /// nothing is new. Waits only for reads still under way (bounded by the store's own lookup
    /// bound). The store's own `flush` makes it durable.
    pub fn flush(&self) {
        let new: BTreeSet<RecipeKey> = std::mem::take(&mut *self.new_pipelines.lock());
        if new.is_empty() {
            return;
        }
        let key = self.application_key();
        let mut published = self.published.lock();
        if let Published::Reading(record, catalog) = &mut *published {
            let record = joined(record.take()).unwrap_or_else(|| {
                stored_application(
                    self.store.as_ref(),
                    key,
                    self.identity.clone(),
                    self.cache.clone(),
                )
            });
            let catalog =
                joined(catalog.take()).unwrap_or_else(|| catalog_or_empty(self.store.as_ref()));
            *published = Published::Read(record, catalog);
        }
        let Published::Read(record, catalog) = &mut *published else {
            unreachable!("read just above");
        };
        for pipeline in new {
            record.insert(self.device, pipeline);
        }
        self.store.put(key.fingerprint(), record.to_bytes());
        if catalog.applications.insert(key) {
            self.store
                .put(Catalog::store_key().fingerprint(), catalog.to_bytes());
        }
    }
}

/// Runs `read` on a thread of its own; `None` when no thread can be started.
fn background<T: Send + 'static>(
    read: impl FnOnce() -> T + Send + 'static,
) -> Option<JoinHandle<T>> {
    std::thread::Builder::new()
        .name("pcstore-recipe-read".into())
        .spawn(read)
        .ok()
}

/// What a background read gave (`None`: no thread, or it panicked).
fn joined<T>(reader: Option<JoinHandle<T>>) -> Option<T> {
    reader.and_then(|reader| reader.join().ok())
}

/// The application record stored under `key` for `identity` and `cache`; empty when missing,
/// damaged or another application's.
fn stored_application(
    store: &dyn PipelineCacheStore,
    key: RecipeKey,
    identity: Vec<u8>,
    cache: CacheTarget,
) -> ApplicationRecord {
    stored_application_record(store, &key)
        .ok()
        .flatten()
        .filter(|stored| stored.identity == identity && stored.cache == cache)
        .unwrap_or_else(|| ApplicationRecord::new(identity, cache))
}

/// The stored catalog; empty when missing or damaged.
fn catalog_or_empty(store: &dyn PipelineCacheStore) -> Catalog {
    stored_catalog(store).ok().flatten().unwrap_or_default()
}
