//! Driver-verified hits: `VK_EXT_pipeline_creation_feedback` (core in Vulkan 1.3) on every
//! graphics and compute pipeline the application creates, and what it adds up to per device.
//!
//! The driver reports, per pipeline, whether it was served from the pipeline cache it was
//! given (`APPLICATION_PIPELINE_CACHE_HIT`) and how long creation took. That is the only proof
//! that cached data was used rather than accepted and ignored, so the layer asks for it
//! wherever the device can give it ([`FeedbackSupport`]):
//! - where the application chained its own `VkPipelineCreationFeedbackCreateInfo`, the layer
//!   reads it after the call and leaves it alone;
//! - elsewhere the layer calls down with its own copies of the create infos, each with a
//!   feedback structure of the layer's in front of the application's `pNext` chain. The
//!   application's structures are never written (Vulkan lets the layer read them only).
//!
//! Ray-tracing pipelines are not instrumented: their creation can be deferred (the feedback
//! would be written after the call returns), and no CPU driver here has them to test with.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

use ash::vk;
use smallvec::SmallVec;

use super::config::{config, FeedbackMeasurement};
use crate::thread_slot;

/// Pipelines per call kept on the stack (more spill to the heap): engines create one or a few
/// at a time.
const INLINE: usize = 4;

/// Whether, and how, a device can report creation feedback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FeedbackSupport {
    /// Core: the device and the application both use Vulkan 1.3 or later.
    Core,
    /// The application enabled `VK_EXT_pipeline_creation_feedback` itself.
    EnabledByApplication,
    /// The layer enabled it at `vkCreateDevice` (the device supports it, the application did
    /// not ask for it). An extension that changes nothing unless its structure is chained.
    EnabledByLayer,
    /// Neither: the layer chains nothing and keeps no hit statistics for the device.
    Unavailable,
}

impl FeedbackSupport {
    /// Whether feedback structures may be chained on this device.
    pub fn available(self) -> bool {
        self != Self::Unavailable
    }
}

/// `VK_EXT_pipeline_creation_feedback`.
pub(super) const EXTENSION: &CStr = vk::EXT_PIPELINE_CREATION_FEEDBACK_NAME;

/// Decides how creation feedback is had on a device about to be created: `api_version` is the
/// lower of the application's (`VkApplicationInfo::apiVersion`, 0 meaning 1.0) and the
/// device's; `requested` the extensions the application enables; `supported` whether the
/// device offers the extension (asked only when needed).
pub(super) fn decide(
    api_version: u32,
    requested: &[&CStr],
    supported: impl FnOnce() -> bool,
) -> FeedbackSupport {
    if api_version >= vk::API_VERSION_1_3 {
        FeedbackSupport::Core
    } else if requested.contains(&EXTENSION) {
        FeedbackSupport::EnabledByApplication
    } else if supported() {
        FeedbackSupport::EnabledByLayer
    } else {
        FeedbackSupport::Unavailable
    }
}

/// Creations of a device measured one and all before sampling starts (`sampled`): the first
/// ones are the loading screen's and the ones a run's hit rate is about, and their driver
/// cost (~0.05–0.1 µs each on SwiftShader's cached path, against milliseconds for a real
/// compilation) is paid once per device. BENCHMARKS.md ("Vulkan layer") has the measurements.
pub(super) const SAMPLED_FIRST: u64 = 256;
/// After [`SAMPLED_FIRST`], one creation in this many (per thread) is measured: the measured
/// creation's extra ~0.1 µs spread over 64 is ~2 ns, well inside 2 % of a 1.3 µs cache hit.
pub(super) const SAMPLED_EVERY: u64 = 64;

/// Which creations of a device get the driver's creation feedback: the first `first`, then one
/// in `every` per thread. Deterministic (no random numbers): the same run measures the same
/// creations. An application's own feedback structure is read on every creation regardless
/// (the driver writes it anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sampling {
    pub first: u64,
    /// A power of two: which creations it picks is a mask, not a division, on every creation.
    pub every: u64,
}

impl Sampling {
    /// Every creation (`PCSTORE_LAYER_FEEDBACK=all`).
    pub const ALL: Self = Self {
        first: u64::MAX,
        every: 1,
    };
    /// `PCSTORE_LAYER_FEEDBACK=sampled`, the default.
    pub const SAMPLED: Self = Self {
        first: SAMPLED_FIRST,
        every: SAMPLED_EVERY,
    };

    /// The policy of a setting; `None` for `off`.
    pub fn of(setting: FeedbackMeasurement) -> Option<Self> {
        match setting {
            FeedbackMeasurement::All => Some(Self::ALL),
            FeedbackMeasurement::Sampled => Some(Self::SAMPLED),
            FeedbackMeasurement::Off => None,
        }
    }
}

/// One thread's share of a device's counters, on a cache line of its own: the thread that owns
/// its [`thread_slot`] index is the only writer, so counting needs no atomic read-modify-write
/// and no cache line moves between cores (threads without an index share the last stripe and
/// add atomically).
#[repr(align(64))]
#[derive(Debug, Default)]
struct Stripe {
    /// Pipelines created (every creation; the sampling clock of this thread).
    created: AtomicU64,
    /// Of those, with valid feedback read.
    measured: AtomicU64,
    /// Of the measured, served from the pipeline cache they were created with.
    hits: AtomicU64,
    /// Creation time of the measured hits, nanoseconds (driver-measured).
    hit_ns: AtomicU64,
    /// Creation time of the other measured creations.
    miss_ns: AtomicU64,
}

/// The stripe of threads without a [`thread_slot`] index.
const SHARED_STRIPE: usize = thread_slot::SLOTS;

/// What one call's creations added up to, added to a stripe at once.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    created: u64,
    measured: u64,
    hits: u64,
    hit_ns: u64,
    miss_ns: u64,
}

impl Tally {
    /// Counts one created pipeline, with what the driver reported if it was asked; feedback
    /// without `VALID` (the driver could not say) counts as not measured.
    fn count(&mut self, reported: Option<vk::PipelineCreationFeedback>) {
        self.created += 1;
        let Some(reported) = reported.filter(|reported| {
            reported
                .flags
                .contains(vk::PipelineCreationFeedbackFlags::VALID)
        }) else {
            return;
        };
        self.measured += 1;
        if reported
            .flags
            .contains(vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT)
        {
            self.hits += 1;
            self.hit_ns = self.hit_ns.saturating_add(reported.duration);
        } else {
            self.miss_ns = self.miss_ns.saturating_add(reported.duration);
        }
    }
}

/// What one device's pipeline creations added up to, as the driver reported them.
#[derive(Debug)]
pub(super) struct CreationStats {
    /// `None`: `PCSTORE_LAYER_FEEDBACK=off`.
    sampling: Option<Sampling>,
    /// Creations requested on the device while fewer than `sampling.first`; not written after.
    early: AtomicU64,
    /// Indexed by [`thread_slot::current`], [`SHARED_STRIPE`] for threads without an index.
    stripes: Box<[Stripe]>,
}

impl Default for CreationStats {
    /// As this process's settings say (`PCSTORE_LAYER_FEEDBACK`).
    fn default() -> Self {
        Self::new(Sampling::of(config().feedback))
    }
}

/// A copy of [`CreationStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CreationSummary {
    /// Whether feedback was asked for at all (`PCSTORE_LAYER_FEEDBACK` not `off`).
    pub measuring: bool,
    /// Pipelines created.
    pub created: u64,
    /// Of those, with valid driver feedback (all of them with `all`, a sample with `sampled`).
    pub measured: u64,
    /// Of the measured, served from the pipeline cache.
    pub hits: u64,
    /// Driver-measured creation time of the measured hits and of the other measured ones.
    pub hit_ns: u64,
    pub miss_ns: u64,
}

/// Adds `n` to a stripe's counter: a plain load and store for the stripe's only writer, an
/// atomic add on the shared stripe.
#[inline]
fn add_to(cell: &AtomicU64, n: u64, exclusive: bool) {
    if n == 0 {
    } else if exclusive {
        cell.store(
            cell.load(Ordering::Relaxed).saturating_add(n),
            Ordering::Relaxed,
        );
    } else {
        cell.fetch_add(n, Ordering::Relaxed);
    }
}

impl CreationStats {
    /// Counters for a device measured as `sampling` says (`None`: not at all).
    pub fn new(sampling: Option<Sampling>) -> Self {
        assert!(
            sampling.map_or(true, |sampling| sampling.every.is_power_of_two()),
            "a sampling period is a power of two"
        );
        Self {
            sampling,
            early: AtomicU64::new(0),
            stripes: (0..=SHARED_STRIPE).map(|_| Stripe::default()).collect(),
        }
    }

    /// Whether anything is measured or counted (`PCSTORE_LAYER_FEEDBACK` is not `off`).
    pub fn measuring(&self) -> bool {
        self.sampling.is_some()
    }

    /// This thread's stripe, and whether the thread is its only writer.
    /// The stripe of the thread whose slot is `thread_slot` ([`thread_slot::current`], which
    /// the caller already has: in the layer, a thread-local access is a `__tls_get_addr` call).
    fn stripe(&self, thread_slot: Option<usize>) -> (&Stripe, bool) {
        match thread_slot {
            Some(index) => (&self.stripes[index], true),
            None => (&self.stripes[SHARED_STRIPE], false),
        }
    }

    /// Whether a call creating `count` pipelines on `stripe` asks the driver for feedback:
    /// while the device's first `first` creations are not all requested, or when the call's
    /// creations on this stripe cover a multiple of `every`.
    fn samples(&self, stripe: &Stripe, count: u64) -> bool {
        let Some(sampling) = self.sampling else {
            return false;
        };
        if sampling.every <= 1 {
            return true;
        }
        // The shared counter is written only until the first creations are requested: after
        // that every thread only reads it, and its cache line stays in every core's cache.
        if self.early.load(Ordering::Relaxed) < sampling.first
            && self.early.fetch_add(count, Ordering::Relaxed) < sampling.first
        {
            return true;
        }
        let clock = stripe.created.load(Ordering::Relaxed);
        let last = clock.saturating_add(count - 1);
        // The largest multiple of `every` up to `last` (a power of two: see `Sampling`).
        last & !(sampling.every - 1) >= clock
    }

    fn add(&self, stripe: &Stripe, exclusive: bool, tally: &Tally) {
        add_to(&stripe.created, tally.created, exclusive);
        add_to(&stripe.measured, tally.measured, exclusive);
        add_to(&stripe.hits, tally.hits, exclusive);
        add_to(&stripe.hit_ns, tally.hit_ns, exclusive);
        add_to(&stripe.miss_ns, tally.miss_ns, exclusive);
    }

    pub fn summary(&self) -> CreationSummary {
        let mut summary = CreationSummary {
            measuring: self.measuring(),
            ..CreationSummary::default()
        };
        for stripe in self.stripes.iter() {
            let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
            summary.created = summary.created.saturating_add(load(&stripe.created));
            summary.measured = summary.measured.saturating_add(load(&stripe.measured));
            summary.hits = summary.hits.saturating_add(load(&stripe.hits));
            summary.hit_ns = summary.hit_ns.saturating_add(load(&stripe.hit_ns));
            summary.miss_ns = summary.miss_ns.saturating_add(load(&stripe.miss_ns));
        }
        summary
    }
}

impl std::fmt::Display for CreationSummary {
    /// `34 pipelines created, 34 measured: 1 cache hits (driver-reported); creation of the
    /// measured 12.345 ms (hits 0.100 ms, misses 12.245 ms)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.measuring {
            return f.write_str("not measured (PCSTORE_LAYER_FEEDBACK=off)");
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        write!(
            f,
            "{} pipelines created, {} measured: {} cache hits (driver-reported); creation of the \
             measured {:.3} ms (hits {:.3} ms, misses {:.3} ms)",
            self.created,
            self.measured,
            self.hits,
            ms(self.hit_ns.saturating_add(self.miss_ns)),
            ms(self.hit_ns),
            ms(self.miss_ns)
        )
    }
}

/// The create-info structures feedback is chained on.
pub(super) trait PipelineCreateInfo: Copy {
    fn p_next(&self) -> *const c_void;
    fn set_p_next(&mut self, p_next: *const c_void);
}

impl PipelineCreateInfo for vk::GraphicsPipelineCreateInfo<'_> {
    fn p_next(&self) -> *const c_void {
        self.p_next
    }
    fn set_p_next(&mut self, p_next: *const c_void) {
        self.p_next = p_next;
    }
}

impl PipelineCreateInfo for vk::ComputePipelineCreateInfo<'_> {
    fn p_next(&self) -> *const c_void {
        self.p_next
    }
    fn set_p_next(&mut self, p_next: *const c_void) {
        self.p_next = p_next;
    }
}

/// The first two members of every Vulkan structure.
#[repr(C)]
struct ChainHeader {
    s_type: vk::StructureType,
    p_next: *const c_void,
}

/// Longest `pNext` chain walked: real create-info chains hold a handful of structures.
const MAX_CHAIN: usize = 64;

/// The application's own feedback structure in the chain starting at `p_next`, if any.
///
/// # Safety
/// `p_next` starts a valid `pNext` chain.
unsafe fn own_feedback(
    p_next: *const c_void,
) -> Option<*const vk::PipelineCreationFeedbackCreateInfo<'static>> {
    let mut current = p_next.cast::<ChainHeader>();
    for _ in 0..MAX_CHAIN {
        if current.is_null() {
            return None;
        }
        // SAFETY: every structure of a valid chain starts with sType and pNext.
        let header = unsafe { &*current };
        if header.s_type == vk::StructureType::PIPELINE_CREATION_FEEDBACK_CREATE_INFO {
            return Some(current.cast());
        }
        current = header.p_next.cast();
    }
    None
}

/// What the driver wrote into the application's own feedback structure.
///
/// # Safety
/// `own` is the application's feedback structure of a call that just returned (its output
/// valid and written by the driver, by Vulkan's rules).
unsafe fn read_own(
    own: *const vk::PipelineCreationFeedbackCreateInfo<'_>,
) -> Option<vk::PipelineCreationFeedback> {
    // SAFETY: the caller's guarantees.
    unsafe { (*own).p_pipeline_creation_feedback.as_ref() }.copied()
}

/// The layer's feedback structure for one pipeline, in front of `p_next`. No per-stage
/// entries: the layer reads only the pipeline's, and a count of 0 is valid for graphics
/// (VUID-VkGraphicsPipelineCreateInfo-pipelineStageCreationFeedbackCount-06594) and compute
/// (-06566) alike, and spares the driver timing every stage.
fn layer_feedback(
    p_next: *const c_void,
    slot: &mut vk::PipelineCreationFeedback,
) -> vk::PipelineCreationFeedbackCreateInfo<'static> {
    vk::PipelineCreationFeedbackCreateInfo {
        p_next,
        p_pipeline_creation_feedback: std::ptr::from_mut(slot),
        ..Default::default()
    }
}

/// Calls `create` (the next link's creation command, given the create infos to pass down) and
/// counts every pipeline it created (`pipelines[i]` not null afterwards) in `stats`, with what
/// the driver reported: through the application's own feedback structure where it chained one,
/// else through the layer's, chained on copies of the create infos when `stats`' sampling picks
/// the call. With `off` it only calls `create`.
///
/// # Safety
/// `infos` points to `count` valid create infos and `pipelines` to `count` writable handles
/// (the application's arguments, valid by Vulkan's rules), and the device can report feedback
/// ([`FeedbackSupport::available`]).
pub(super) unsafe fn create_with_feedback<T: PipelineCreateInfo>(
    stats: &CreationStats,
    thread_slot: Option<usize>,
    count: u32,
    infos: *const T,
    pipelines: *mut vk::Pipeline,
    create: impl FnOnce(*const T) -> vk::Result,
) -> vk::Result {
    if count == 0 || infos.is_null() || pipelines.is_null() || !stats.measuring() {
        return create(infos);
    }
    let (stripe, exclusive) = stats.stripe(thread_slot);
    let chain = stats.samples(stripe, u64::from(count));
    let mut tally = Tally::default();
    let result = if count == 1 {
        // The common case, without buffers: one create info copied on the stack.
        // SAFETY: one valid create info (caller).
        let original = unsafe { &*infos };
        // SAFETY: its pNext starts a valid chain (caller).
        let own = unsafe { own_feedback(original.p_next()) };
        let mut slot = vk::PipelineCreationFeedback::default();
        let result = match own {
            None if chain => {
                let chained = layer_feedback(original.p_next(), &mut slot);
                let mut copy = *original;
                copy.set_p_next(std::ptr::from_ref(&chained).cast());
                create(&copy)
            }
            _ => create(infos),
        };
        // SAFETY: one handle, written by the call (caller).
        if unsafe { *pipelines } != vk::Pipeline::null() {
            tally.count(match own {
                // SAFETY: the application's structure, the call just returned.
                Some(own) => unsafe { read_own(own) },
                None => chain.then_some(slot),
            });
        }
        result
    } else {
        // SAFETY: the caller's guarantees, `count` > 1.
        unsafe { create_many(count as usize, infos, pipelines, chain, &mut tally, create) }
    };
    stats.add(stripe, exclusive, &tally);
    result
}

/// [`create_with_feedback`] for more than one pipeline per call.
///
/// # Safety
/// As [`create_with_feedback`].
unsafe fn create_many<T: PipelineCreateInfo>(
    count: usize,
    infos: *const T,
    pipelines: *mut vk::Pipeline,
    chain: bool,
    tally: &mut Tally,
    create: impl FnOnce(*const T) -> vk::Result,
) -> vk::Result {
    // SAFETY: `count` valid create infos (caller).
    let originals = unsafe { std::slice::from_raw_parts(infos, count) };
    // SAFETY: each create info's pNext starts a valid chain (caller).
    let theirs: SmallVec<[_; INLINE]> = originals
        .iter()
        .map(|info| unsafe { own_feedback(info.p_next()) })
        .collect();
    let missing = theirs.iter().filter(|own| own.is_none()).count();
    // Every buffer is sized before any pointer into it is taken: none of them moves after.
    let mut feedback: SmallVec<[vk::PipelineCreationFeedback; INLINE]> =
        smallvec::smallvec![vk::PipelineCreationFeedback::default(); count];
    let chain = chain && missing > 0;
    let result = if chain {
        let mut chained: SmallVec<[vk::PipelineCreationFeedbackCreateInfo<'_>; INLINE]> =
            SmallVec::with_capacity(missing);
        let mut copies: SmallVec<[T; INLINE]> = SmallVec::from_slice(originals);
        for ((copy, own), slot) in copies.iter_mut().zip(&theirs).zip(feedback.iter_mut()) {
            if own.is_some() {
                continue;
            }
            chained.push(layer_feedback(copy.p_next(), slot));
            // `chained` never reallocates or moves (its capacity is `missing`, reserved above,
            // and it is not moved before the call).
            let own_info: *const vk::PipelineCreationFeedbackCreateInfo<'_> =
                chained.last().expect("just pushed");
            copy.set_p_next(own_info.cast());
        }
        create(copies.as_ptr())
    } else {
        create(infos)
    };
    // SAFETY: `count` handles, written by the call (caller).
    let created = unsafe { std::slice::from_raw_parts(pipelines, count) };
    for ((pipeline, own), slot) in created.iter().zip(&theirs).zip(&feedback) {
        if *pipeline == vk::Pipeline::null() {
            continue;
        }
        tally.count(match own {
            // SAFETY: the application's structure, the call just returned.
            Some(own) => unsafe { read_own(*own) },
            None => chain.then_some(*slot),
        });
    }
    result
}

/// Extension names as C strings, for [`decide`].
///
/// # Safety
/// `names` points to `count` NUL-terminated strings (null when `count` is 0).
pub(super) unsafe fn extension_names<'a>(names: *const *const c_char, count: u32) -> Vec<&'a CStr> {
    if names.is_null() || count == 0 {
        return Vec::new();
    }
    // SAFETY: `count` valid pointers (caller).
    let names = unsafe { std::slice::from_raw_parts(names, count as usize) };
    names
        .iter()
        .filter(|name| !name.is_null())
        // SAFETY: NUL-terminated (caller).
        .map(|&name| unsafe { CStr::from_ptr(name) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_is_had_from_the_core_the_application_or_the_layer() {
        let never = || -> bool { panic!("not asked when not needed") };
        assert_eq!(
            decide(vk::API_VERSION_1_3, &[], never),
            FeedbackSupport::Core
        );
        assert_eq!(
            decide(vk::API_VERSION_1_2, &[EXTENSION], never),
            FeedbackSupport::EnabledByApplication
        );
        assert_eq!(
            decide(vk::API_VERSION_1_0, &[], || true),
            FeedbackSupport::EnabledByLayer
        );
        assert_eq!(
            decide(vk::API_VERSION_1_2, &[c"VK_KHR_swapchain"], || false),
            FeedbackSupport::Unavailable
        );
        assert!(!FeedbackSupport::Unavailable.available());
    }

    #[test]
    fn stats_count_every_creation_and_valid_feedback_as_measured() {
        let stats = CreationStats::new(Some(Sampling::ALL));
        let feedback = |flags, duration| Some(vk::PipelineCreationFeedback { flags, duration });
        use vk::PipelineCreationFeedbackFlags as F;
        let mut tally = Tally::default();
        tally.count(feedback(F::VALID, 1_000_000));
        tally.count(feedback(
            F::VALID | F::APPLICATION_PIPELINE_CACHE_HIT,
            50_000,
        ));
        tally.count(feedback(F::empty(), 7));
        tally.count(feedback(F::APPLICATION_PIPELINE_CACHE_HIT, 7));
        tally.count(None);
        let (stripe, exclusive) = stats.stripe(thread_slot::current());
        stats.add(stripe, exclusive, &tally);
        let summary = stats.summary();
        assert_eq!(
            summary,
            CreationSummary {
                measuring: true,
                created: 5,
                measured: 2,
                hits: 1,
                hit_ns: 50_000,
                miss_ns: 1_000_000
            }
        );
        assert_eq!(
            summary.to_string(),
            "5 pipelines created, 2 measured: 1 cache hits (driver-reported); creation of the \
             measured 1.050 ms (hits 0.050 ms, misses 1.000 ms)"
        );
    }

    /// A fake driver: creates every pipeline and writes feedback wherever a structure asks
    /// (a hit where `hit` says); returns how many structures it found.
    fn fake_create(
        infos: *const vk::ComputePipelineCreateInfo<'_>,
        count: usize,
        pipelines: *mut vk::Pipeline,
        hit: &[bool],
    ) -> usize {
        // SAFETY: the test passes `count` infos and handles.
        let infos = unsafe { std::slice::from_raw_parts(infos, count) };
        let mut found = 0;
        for (index, info) in infos.iter().enumerate() {
            // SAFETY: valid handles.
            unsafe { *pipelines.add(index) = vk::Pipeline::from_raw(100 + index as u64) };
            // SAFETY: chains built by the test or the layer.
            let Some(own) = (unsafe { own_feedback(info.p_next) }) else {
                continue;
            };
            found += 1;
            // SAFETY: valid feedback structure with valid outputs.
            unsafe {
                let own = &*own;
                let mut flags = vk::PipelineCreationFeedbackFlags::VALID;
                if hit[index] {
                    flags |= vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT;
                }
                *own.p_pipeline_creation_feedback = vk::PipelineCreationFeedback {
                    flags,
                    duration: 10 + index as u64,
                };
                if own.pipeline_stage_creation_feedback_count > 0 {
                    *own.p_pipeline_stage_creation_feedbacks =
                        vk::PipelineCreationFeedback::default();
                }
            }
        }
        found
    }

    /// The layer's own structure asks for no per-stage entries.
    fn assert_no_stage_entries(infos: *const vk::ComputePipelineCreateInfo<'_>) {
        // SAFETY: a chain built by the layer.
        let own = unsafe { own_feedback((*infos).p_next) }.expect("chained");
        // SAFETY: the layer's valid structure.
        assert_eq!(unsafe { (*own).pipeline_stage_creation_feedback_count }, 0);
    }

    /// Creates `count` pipelines through `stats` with the fake driver (all hits); whether the
    /// driver was asked for feedback.
    /// Creates one pipeline from `infos` (one create info) that must reach the driver as the
    /// application's own array (nothing chained by the layer); the feedback structures the
    /// fake driver found in its chain.
    fn create_passed_through(
        stats: &CreationStats,
        infos: &[vk::ComputePipelineCreateInfo<'_>; 1],
    ) -> usize {
        let mut pipelines = [vk::Pipeline::null()];
        let out = pipelines.as_mut_ptr();
        let mut found = 0;
        // SAFETY: one valid info and handle; the fake driver is the callee.
        let result = unsafe {
            create_with_feedback(
                stats,
                thread_slot::current(),
                1,
                infos.as_ptr(),
                out,
                |given| {
                    assert_eq!(given, infos.as_ptr(), "the application's own infos");
                    found = fake_create(given, 1, out, &[true]);
                    vk::Result::SUCCESS
                },
            )
        };
        assert_eq!(result, vk::Result::SUCCESS);
        found
    }

    fn create_counted(stats: &CreationStats, count: usize) -> bool {
        let infos = vec![vk::ComputePipelineCreateInfo::default(); count];
        let mut pipelines = vec![vk::Pipeline::null(); count];
        let out = pipelines.as_mut_ptr();
        let mut asked = false;
        // SAFETY: `count` valid infos and handles; the fake driver is the callee.
        let result = unsafe {
            create_with_feedback(
                stats,
                thread_slot::current(),
                count as u32,
                infos.as_ptr(),
                out,
                |given| {
                    asked = fake_create(given, count, out, &vec![true; count]) > 0;
                    if asked {
                        assert_no_stage_entries(given);
                    }
                    vk::Result::SUCCESS
                },
            )
        };
        assert_eq!(result, vk::Result::SUCCESS);
        asked
    }

    #[test]
    fn sampling_measures_the_first_creations_then_one_in_every() {
        let stats = CreationStats::new(Some(Sampling { first: 3, every: 4 }));
        let asked: Vec<usize> = (0..20).filter(|_| create_counted(&stats, 1)).collect();
        // The first 3, then creations 4, 8, 12, 16 of this thread.
        assert_eq!(asked, [0, 1, 2, 4, 8, 12, 16]);
        let summary = stats.summary();
        assert_eq!(
            (summary.created, summary.measured, summary.hits),
            (20, 7, 7),
            "every creation counted, the measured ones exactly"
        );
        assert_eq!(summary.hit_ns, 7 * 10);
        // A call of several is measured whole when it covers a multiple of 4 anywhere: 20, 21;
        // then 22 alone is not; 23, 24, 25 is; 26, 27 is not.
        assert!(create_counted(&stats, 2));
        assert!(!create_counted(&stats, 1));
        assert!(create_counted(&stats, 3));
        assert!(!create_counted(&stats, 2));
        let summary = stats.summary();
        assert_eq!((summary.created, summary.measured), (28, 12));
        assert!(summary
            .to_string()
            .starts_with("28 pipelines created, 12 measured: 12 cache hits"));
    }

    #[test]
    fn the_default_sample_measures_the_first_256_then_one_in_64() {
        let stats = CreationStats::new(Some(Sampling::SAMPLED));
        let asked = (0..1000).filter(|_| create_counted(&stats, 1)).count();
        // 256, then creations 256, 320, ... 960 of the thread.
        assert_eq!(asked, 256 + 12);
        assert_eq!(
            (stats.summary().created, stats.summary().measured),
            (1000, 268)
        );
        let all = CreationStats::new(Some(Sampling::ALL));
        assert_eq!((0..1000).filter(|_| create_counted(&all, 1)).count(), 1000);
    }

    #[test]
    fn sampled_counts_are_exact_across_threads() {
        let stats = CreationStats::new(Some(Sampling {
            first: 10,
            every: 8,
        }));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        create_counted(&stats, 1);
                    }
                });
            }
        });
        let summary = stats.summary();
        assert_eq!(summary.created, 400, "every creation counted");
        // Each thread measures its creations 0, 8, ... 96 of its own (13) beyond the shared
        // first 10, which may take some of those.
        assert!(
            (4 * 13..=4 * 13 + 10).contains(&summary.measured),
            "{summary:?}"
        );
        assert_eq!(summary.hits, summary.measured);
    }

    #[test]
    fn off_neither_chains_nor_counts() {
        let stats = CreationStats::new(None);
        let infos = [vk::ComputePipelineCreateInfo::default()];
        assert_eq!(create_passed_through(&stats, &infos), 0, "nothing chained");
        assert!(!create_counted(&stats, 3));
        let summary = stats.summary();
        assert_eq!(
            summary,
            CreationSummary {
                measuring: false,
                ..CreationSummary::default()
            }
        );
        assert_eq!(
            summary.to_string(),
            "not measured (PCSTORE_LAYER_FEEDBACK=off)"
        );
    }

    #[test]
    fn the_applications_own_feedback_is_read_outside_the_sample() {
        let stats = CreationStats::new(Some(Sampling {
            first: 0,
            every: 1024,
        }));
        assert!(create_counted(&stats, 1), "creation 0 is in the sample");
        assert!(!create_counted(&stats, 1));
        let mut app_feedback = vk::PipelineCreationFeedback::default();
        let app_info = vk::PipelineCreationFeedbackCreateInfo {
            p_pipeline_creation_feedback: &mut app_feedback,
            ..Default::default()
        };
        let infos = [vk::ComputePipelineCreateInfo {
            p_next: std::ptr::from_ref(&app_info).cast(),
            ..Default::default()
        }];
        assert_eq!(
            create_passed_through(&stats, &infos),
            1,
            "the application's own"
        );
        let summary = stats.summary();
        assert_eq!((summary.created, summary.measured, summary.hits), (3, 2, 2));
    }

    use ash::vk::Handle;

    #[test]
    fn chains_on_copies_and_reads_the_applications_own() {
        // The second info carries the application's own feedback structure behind another
        // structure; the first carries only that other structure.
        let mut app_feedback = vk::PipelineCreationFeedback::default();
        let mut app_stage = vk::PipelineCreationFeedback::default();
        let app_info = vk::PipelineCreationFeedbackCreateInfo {
            p_pipeline_creation_feedback: &mut app_feedback,
            pipeline_stage_creation_feedback_count: 1,
            p_pipeline_stage_creation_feedbacks: &mut app_stage,
            ..Default::default()
        };
        let flags2 = vk::PipelineCreateFlags2CreateInfoKHR::default();
        let flags2_with_feedback = vk::PipelineCreateFlags2CreateInfoKHR {
            p_next: std::ptr::from_ref(&app_info).cast(),
            ..Default::default()
        };
        let infos = [
            vk::ComputePipelineCreateInfo {
                p_next: std::ptr::from_ref(&flags2).cast(),
                ..Default::default()
            },
            vk::ComputePipelineCreateInfo {
                p_next: std::ptr::from_ref(&flags2_with_feedback).cast(),
                ..Default::default()
            },
        ];
        let before: Vec<*const c_void> = infos.iter().map(|info| info.p_next).collect();
        let mut pipelines = [vk::Pipeline::null(); 2];
        let stats = CreationStats::new(Some(Sampling::ALL));
        let out = pipelines.as_mut_ptr();
        // SAFETY: two valid infos and two handles; the fake driver is the callee.
        let result = unsafe {
            create_with_feedback(
                &stats,
                thread_slot::current(),
                2,
                infos.as_ptr(),
                out,
                |given| {
                    assert_ne!(
                        given,
                        infos.as_ptr(),
                        "the layer calls down with its copies"
                    );
                    assert_eq!(fake_create(given, 2, out, &[false, true]), 2);
                    vk::Result::SUCCESS
                },
            )
        };
        assert_eq!(result, vk::Result::SUCCESS);
        let after: Vec<*const c_void> = infos.iter().map(|info| info.p_next).collect();
        assert_eq!(
            before, after,
            "the application's create infos are untouched"
        );
        assert_eq!(
            flags2.p_next,
            std::ptr::null(),
            "nor the structures they chain"
        );
        assert!(
            app_feedback
                .flags
                .contains(vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT),
            "the application's own feedback is written by the driver, as without the layer"
        );
        assert_eq!(
            stats.summary(),
            CreationSummary {
                measuring: true,
                created: 2,
                measured: 2,
                hits: 1,
                hit_ns: 11,
                miss_ns: 10
            }
        );
    }

    #[test]
    fn only_created_pipelines_are_counted_and_all_own_needs_no_copy() {
        let mut app_feedback = vk::PipelineCreationFeedback::default();
        let mut app_stage = vk::PipelineCreationFeedback::default();
        let app_info = vk::PipelineCreationFeedbackCreateInfo {
            p_pipeline_creation_feedback: &mut app_feedback,
            pipeline_stage_creation_feedback_count: 1,
            p_pipeline_stage_creation_feedbacks: &mut app_stage,
            ..Default::default()
        };
        let infos = [vk::ComputePipelineCreateInfo {
            p_next: std::ptr::from_ref(&app_info).cast(),
            ..Default::default()
        }];
        let mut pipelines = [vk::Pipeline::null()];
        let stats = CreationStats::new(Some(Sampling::ALL));
        let out = pipelines.as_mut_ptr();
        // SAFETY: one valid info and one handle; the callee fails without creating it.
        let result = unsafe {
            create_with_feedback(
                &stats,
                thread_slot::current(),
                1,
                infos.as_ptr(),
                out,
                |given| {
                    assert_eq!(
                        given,
                        infos.as_ptr(),
                        "nothing to add: the application's own"
                    );
                    vk::Result::PIPELINE_COMPILE_REQUIRED
                },
            )
        };
        assert_eq!(result, vk::Result::PIPELINE_COMPILE_REQUIRED);
        assert_eq!(stats.summary().created, 0, "no pipeline, nothing counted");
    }
}
