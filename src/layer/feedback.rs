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

/// Pipelines per call kept on the stack (more spill to the heap): engines create one or a few
/// at a time.
const INLINE: usize = 4;
/// Stage feedback entries kept on the stack: a few graphics pipelines' stages.
const INLINE_STAGES: usize = 8;

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

/// What one device's pipeline creations added up to, as the driver reported them.
#[derive(Debug, Default)]
pub(super) struct CreationStats {
    /// Pipelines created with valid feedback.
    created: AtomicU64,
    /// Of those, served from the pipeline cache they were created with.
    hits: AtomicU64,
    /// Creation time of the hits, nanoseconds (driver-measured).
    hit_ns: AtomicU64,
    /// Creation time of the others.
    miss_ns: AtomicU64,
}

/// A copy of [`CreationStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CreationSummary {
    pub created: u64,
    pub hits: u64,
    pub hit_ns: u64,
    pub miss_ns: u64,
}

impl CreationStats {
    /// Counts one pipeline's feedback; one without `VALID` (the driver could not say) is left
    /// out.
    pub fn record(&self, feedback: &vk::PipelineCreationFeedback) {
        if !feedback
            .flags
            .contains(vk::PipelineCreationFeedbackFlags::VALID)
        {
            return;
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        let time = if feedback
            .flags
            .contains(vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT)
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            &self.hit_ns
        } else {
            &self.miss_ns
        };
        time.fetch_add(feedback.duration, Ordering::Relaxed);
    }

    pub fn summary(&self) -> CreationSummary {
        CreationSummary {
            created: self.created.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            hit_ns: self.hit_ns.load(Ordering::Relaxed),
            miss_ns: self.miss_ns.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Display for CreationSummary {
    /// `34 pipelines, 1 cache hits (driver-reported); creation 12.345 ms (hits 0.100 ms,
    /// misses 12.245 ms)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |ns: u64| ns as f64 / 1e6;
        write!(
            f,
            "{} pipelines, {} cache hits (driver-reported); creation {:.3} ms (hits {:.3} ms, \
             misses {:.3} ms)",
            self.created,
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
    /// How many per-stage feedback entries the layer's structure offers: one per stage (1 for
    /// compute), which every revision of the valid-usage rules accepts.
    fn stage_count(&self) -> u32;
}

impl PipelineCreateInfo for vk::GraphicsPipelineCreateInfo<'_> {
    fn p_next(&self) -> *const c_void {
        self.p_next
    }
    fn set_p_next(&mut self, p_next: *const c_void) {
        self.p_next = p_next;
    }
    fn stage_count(&self) -> u32 {
        self.stage_count
    }
}

impl PipelineCreateInfo for vk::ComputePipelineCreateInfo<'_> {
    fn p_next(&self) -> *const c_void {
        self.p_next
    }
    fn set_p_next(&mut self, p_next: *const c_void) {
        self.p_next = p_next;
    }
    fn stage_count(&self) -> u32 {
        1
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

/// Calls `create` (the next link's creation command, given the create infos to pass down)
/// with creation feedback on every pipeline, and records what the driver reported in `stats`
/// for every pipeline that was created (`pipelines[i]` not null afterwards).
///
/// # Safety
/// `infos` points to `count` valid create infos and `pipelines` to `count` writable handles
/// (the application's arguments, valid by Vulkan's rules), and the device can report feedback
/// ([`FeedbackSupport::available`]).
pub(super) unsafe fn create_with_feedback<T: PipelineCreateInfo>(
    stats: &CreationStats,
    count: u32,
    infos: *const T,
    pipelines: *mut vk::Pipeline,
    create: impl FnOnce(*const T) -> vk::Result,
) -> vk::Result {
    if count == 0 || infos.is_null() || pipelines.is_null() {
        return create(infos);
    }
    let count = count as usize;
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
    let result = if missing == 0 {
        create(infos)
    } else {
        let stage_total: usize = originals
            .iter()
            .zip(&theirs)
            .filter(|(_, own)| own.is_none())
            .map(|(info, _)| info.stage_count() as usize)
            .sum();
        let mut stages: SmallVec<[vk::PipelineCreationFeedback; INLINE_STAGES]> =
            smallvec::smallvec![vk::PipelineCreationFeedback::default(); stage_total];
        let mut chained: SmallVec<[vk::PipelineCreationFeedbackCreateInfo<'_>; INLINE]> =
            SmallVec::with_capacity(missing);
        let mut copies: SmallVec<[T; INLINE]> = SmallVec::from_slice(originals);
        let mut stage_at = 0;
        for ((copy, own), slot) in copies.iter_mut().zip(&theirs).zip(feedback.iter_mut()) {
            if own.is_some() {
                continue;
            }
            let stage_count = copy.stage_count();
            let stage_slots = &mut stages[stage_at..stage_at + stage_count as usize];
            stage_at += stage_count as usize;
            chained.push(vk::PipelineCreationFeedbackCreateInfo {
                p_next: copy.p_next(),
                p_pipeline_creation_feedback: std::ptr::from_mut(slot),
                pipeline_stage_creation_feedback_count: stage_count,
                p_pipeline_stage_creation_feedbacks: stage_slots.as_mut_ptr(),
                ..Default::default()
            });
            // `chained` never reallocates or moves (its capacity is `missing`, reserved above,
            // and it is not moved before the call).
            let own_info: *const vk::PipelineCreationFeedbackCreateInfo<'_> =
                chained.last().expect("just pushed");
            copy.set_p_next(own_info.cast());
        }
        create(copies.as_ptr())
    };
    // SAFETY: `count` handles, written by the call (caller).
    let created = unsafe { std::slice::from_raw_parts(pipelines, count) };
    for (index, pipeline) in created.iter().enumerate() {
        if *pipeline == vk::Pipeline::null() {
            continue;
        }
        let reported = match theirs[index] {
            // SAFETY: the application's feedback structure and the output it points to are
            // valid for the call and just written by the driver (Vulkan's rules).
            Some(own) => unsafe { (*own).p_pipeline_creation_feedback.as_ref() }.copied(),
            None => Some(feedback[index]),
        };
        if let Some(reported) = reported {
            stats.record(&reported);
        }
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
    fn stats_count_valid_feedback_only() {
        let stats = CreationStats::default();
        let feedback = |flags, duration| vk::PipelineCreationFeedback { flags, duration };
        use vk::PipelineCreationFeedbackFlags as F;
        stats.record(&feedback(F::VALID, 1_000_000));
        stats.record(&feedback(
            F::VALID | F::APPLICATION_PIPELINE_CACHE_HIT,
            50_000,
        ));
        stats.record(&feedback(F::empty(), 7));
        stats.record(&feedback(F::APPLICATION_PIPELINE_CACHE_HIT, 7));
        let summary = stats.summary();
        assert_eq!(
            summary,
            CreationSummary {
                created: 2,
                hits: 1,
                hit_ns: 50_000,
                miss_ns: 1_000_000
            }
        );
        assert_eq!(
            summary.to_string(),
            "2 pipelines, 1 cache hits (driver-reported); creation 1.050 ms (hits 0.050 ms, \
             misses 1.000 ms)"
        );
    }

    /// A fake driver: checks what reaches it and writes feedback wherever a structure asks.
    fn fake_create(
        infos: *const vk::ComputePipelineCreateInfo<'_>,
        count: usize,
        pipelines: *mut vk::Pipeline,
        hit: &[bool],
    ) -> vk::Result {
        // SAFETY: the test passes `count` infos and handles.
        let infos = unsafe { std::slice::from_raw_parts(infos, count) };
        for (index, info) in infos.iter().enumerate() {
            // SAFETY: chains built by the test or the layer.
            let own = unsafe { own_feedback(info.p_next) }.expect("feedback chained");
            // SAFETY: valid feedback structure with valid outputs.
            unsafe {
                let own = &*own;
                assert_eq!(own.pipeline_stage_creation_feedback_count, 1);
                let mut flags = vk::PipelineCreationFeedbackFlags::VALID;
                if hit[index] {
                    flags |= vk::PipelineCreationFeedbackFlags::APPLICATION_PIPELINE_CACHE_HIT;
                }
                *own.p_pipeline_creation_feedback = vk::PipelineCreationFeedback {
                    flags,
                    duration: 10 + index as u64,
                };
                *own.p_pipeline_stage_creation_feedbacks = vk::PipelineCreationFeedback::default();
                *pipelines.add(index) = vk::Pipeline::from_raw(100 + index as u64);
            }
        }
        vk::Result::SUCCESS
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
        let stats = CreationStats::default();
        let out = pipelines.as_mut_ptr();
        // SAFETY: two valid infos and two handles; the fake driver is the callee.
        let result = unsafe {
            create_with_feedback(&stats, 2, infos.as_ptr(), out, |given| {
                assert_ne!(
                    given,
                    infos.as_ptr(),
                    "the layer calls down with its copies"
                );
                fake_create(given, 2, out, &[false, true])
            })
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
                created: 2,
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
        let stats = CreationStats::default();
        let out = pipelines.as_mut_ptr();
        // SAFETY: one valid info and one handle; the callee fails without creating it.
        let result = unsafe {
            create_with_feedback(&stats, 1, infos.as_ptr(), out, |given| {
                assert_eq!(
                    given,
                    infos.as_ptr(),
                    "nothing to add: the application's own"
                );
                vk::Result::PIPELINE_COMPILE_REQUIRED
            })
        };
        assert_eq!(result, vk::Result::PIPELINE_COMPILE_REQUIRED);
        assert_eq!(stats.summary().created, 0, "no pipeline, nothing counted");
    }
}
