//! Tests that need the disk tier's internals: interleavings of two handles on one directory
//! (each with its own descriptors and locks, as two processes have), driven deterministically
//! through the pause points in `test_hooks`; puts and gets that must not wait while a
//! compaction is paused at those points, and work that must not run on the putting thread;
//! buffers sized from disk; when a directory's mtime can be trusted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::format::{Encoding, RecordHeader, RecordKind};
use super::listing::Listing;
use super::segment::payload_buffer;
use super::test_hooks::{self, Pause};
use super::{DiskCache, DiskCacheOptions};
use crate::fingerprint::PipelineFingerprint;
use crate::store::PipelineCacheStore;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pcstore-unit-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        test_hooks::clear();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(k: u64) -> PipelineFingerprint {
    PipelineFingerprint::of(&k.to_le_bytes())
}

/// `len` bytes that do not compress (so records are as long as the sizes these tests reckon
/// with), different for every `k`.
fn blob(k: u64, len: usize) -> Vec<u8> {
    let mut state = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Names of the segment files in `dir`.
fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".log"))
        .collect();
    names.sort();
    names
}

fn small_segments() -> DiskCacheOptions {
    // Segments of 64 KiB: a put past that starts a new one.
    DiskCacheOptions {
        max_bytes: 1 << 20,
        ..DiskCacheOptions::default()
    }
}

/// A writer appends, flushes and closes its segment between a compactor's two looks at it (its
/// lock, then its size). The compactor must see either a live segment or the whole finished
/// one; indexed from a size read before the writer's last records, the segment would be
/// repaired and compacted short of them, and deleted.
#[test]
fn a_writer_finishing_between_the_lock_probe_and_the_size_read_loses_nothing() {
    let dir = Scratch::new("probe-order");
    let writer = DiskCache::new(&dir.0).expect("open writer");
    for k in 0..10 {
        writer.try_put(key(k), blob(k, 500)).expect("put");
    }
    writer.flush().expect("flush");
    let [segment] = &segments(&dir.0)[..] else {
        panic!("one segment");
    };
    let segment = segment.clone();
    let compactor = DiskCache::new(&dir.0).expect("open compactor");
    let mut writer = Some(writer);
    test_hooks::set(move |point, name| {
        if point == Pause::BetweenLockAndSize && name == segment {
            if let Some(writer) = writer.take() {
                writer.try_put(key(100), blob(100, 700)).expect("last put");
                writer.flush().expect("the last put is acknowledged");
                drop(writer);
            }
        }
    });
    compactor.compact().expect("compact");
    test_hooks::clear();
    drop(compactor);
    let reopened = DiskCache::new(&dir.0).expect("reopen");
    for k in (0..10).chain([100]) {
        let len = if k == 100 { 700 } else { 500 };
        assert!(reopened.get(&key(k)) == Some(blob(k, len)), "key {k} lost");
    }
}

/// A finished segment that grows after compaction planned from it (a writer that still had a
/// descriptor of it) is not deleted: what was appended stays readable.
#[test]
fn a_victim_that_grew_after_the_plan_is_not_deleted() {
    let dir = Scratch::new("victim-grew");
    {
        let writer = DiskCache::new(&dir.0).expect("open writer");
        for k in 0..10 {
            writer.try_put(key(k), blob(k, 500)).expect("put");
        }
        writer.flush().expect("flush");
    }
    let [segment] = &segments(&dir.0)[..] else {
        panic!("one segment");
    };
    let path = dir.0.join(segment);
    let compactor = DiskCache::new(&dir.0).expect("open compactor");
    let late = blob(200, 300);
    let record = RecordHeader {
        kind: RecordKind::Put,
        encoding: Encoding::Stored,
        payload_len: late.len() as u64,
        key: key(200),
        payload_hash: *blake3::hash(&late).as_bytes(),
        stamp: u64::MAX / 2,
        access: u64::MAX / 2,
    };
    let mut appended = record.encode().to_vec();
    appended.extend_from_slice(&late);
    let victim = segment.clone();
    test_hooks::set(move |point, name| {
        if point == Pause::VictimCopied && name == victim {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open victim");
            file.write_all(&appended).expect("append");
        }
    });
    compactor.compact().expect("compact");
    test_hooks::clear();
    drop(compactor);
    let reopened = DiskCache::new(&dir.0).expect("reopen");
    assert!(
        reopened.get(&key(200)) == Some(late),
        "the appended record was lost"
    );
    for k in 0..10 {
        assert!(reopened.get(&key(k)) == Some(blob(k, 500)), "key {k} lost");
    }
}

/// Puts `k` (100 KiB) then `k + 1`: the first fills a segment, the second starts the next, so
/// the first segment is finished but not flushed. Returns that segment's name.
fn rotate_past(cache: &DiskCache, dir: &Path, k: u64) -> String {
    cache.try_put(key(k), blob(k, 100 << 10)).expect("big put");
    let first = segments(dir);
    cache.try_put(key(k + 1), blob(k + 1, 100)).expect("put");
    let after = segments(dir);
    assert_eq!(after.len(), first.len() + 1, "a new segment was started");
    first
        .into_iter()
        .find(|name| after.contains(name))
        .expect("the finished segment")
}

/// A finished, unflushed segment removed by something other than a compaction (a user, a
/// cleaner) makes the flush fail: its puts are not durable anywhere.
#[test]
fn a_finished_segment_removed_before_its_flush_fails_the_flush() {
    let dir = Scratch::new("finished-removed");
    let cache = DiskCache::with_options(&dir.0, small_segments()).expect("open");
    let finished = rotate_past(&cache, &dir.0, 0);
    std::fs::remove_file(dir.0.join(&finished)).expect("remove underneath");
    let err = cache
        .flush()
        .expect_err("the flush cannot claim the removed puts");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert_eq!(cache.durability_report().lost_puts, 2);
    // Later puts go on and flush honestly.
    cache.try_put(key(5), blob(5, 100)).expect("put");
    cache.flush().expect("flush");
}

/// Another handle's compaction between a writer's rotation and its flush neither deletes the
/// pinned segment nor makes the flush fail; once flushed, the segment is compacted normally.
#[test]
fn a_compaction_between_rotation_and_flush_waits_for_the_flush() {
    let dir = Scratch::new("pinned");
    let writer = DiskCache::with_options(&dir.0, small_segments()).expect("open writer");
    let finished = rotate_past(&writer, &dir.0, 0);
    let compactor = DiskCache::with_options(&dir.0, small_segments()).expect("open compactor");
    compactor.compact().expect("compact");
    assert!(
        segments(&dir.0).contains(&finished),
        "a segment its writer has not flushed was deleted"
    );
    writer.flush().expect("flush");
    compactor.compact().expect("compact again");
    assert!(
        !segments(&dir.0).contains(&finished),
        "the flushed segment is compacted"
    );
    drop(writer);
    drop(compactor);
    let reopened = DiskCache::with_options(&dir.0, small_segments()).expect("reopen");
    assert!(
        reopened.get(&key(0)) == Some(blob(0, 100 << 10)),
        "key 0 lost"
    );
    assert!(reopened.get(&key(1)) == Some(blob(1, 100)), "key 1 lost");
}

/// A payload buffer is zeroed, and a size no memory can hold is `None`, not an abort.
#[test]
fn payload_buffers_are_zeroed_and_never_abort() {
    assert_eq!(payload_buffer(0), Some(Vec::new()));
    assert_eq!(payload_buffer(4096), Some(vec![0u8; 4096]));
    assert_eq!(payload_buffer(1 << 62), None, "beyond any address space");
    assert_eq!(payload_buffer(u64::MAX), None);
}

/// The rule that decides whether a miss lists the directory again, on an injected clock: an
/// mtime is trusted only once it is older than the timestamp granularity when the listing
/// began, and no listing for longer than a second.
#[test]
fn a_directory_mtime_is_trusted_only_once_it_is_older_than_its_granularity() {
    let ms = |n: i128| n * 1_000_000;
    let t0 = std::time::Instant::now();
    let after = |millis: u64| t0 + std::time::Duration::from_millis(millis);
    let listed_at = ms(1_700_000_000_123); // wall clock when the listing began, ns
                                           // Changed well before the listing: trusted until the mtime moves, for a second at most.
    let settled = Listing::began(listed_at - ms(150) - 7, listed_at as u64, t0);
    assert!(!settled.stale(listed_at - ms(150) - 7, after(0)));
    assert!(!settled.stale(listed_at - ms(150) - 7, after(999)));
    assert!(settled.stale(listed_at - ms(150) - 7, after(1000)));
    assert!(
        settled.stale(listed_at - ms(2) - 7, after(1)),
        "the mtime moved"
    );
    // Changed in the tick the listing began in: a later change may have kept that mtime, so
    // misses list again (once a millisecond) until a listing is trusted.
    let racy = Listing::began(listed_at - ms(4) - 7, listed_at as u64, t0);
    assert!(!racy.stale(listed_at - ms(4) - 7, t0));
    assert!(racy.stale(listed_at - ms(4) - 7, after(1)));
    // An mtime in whole seconds may trail its change by up to two.
    let whole = ms(1_700_000_000_000);
    assert!(Listing::began(whole, (whole + ms(1500)) as u64, t0).stale(whole, after(1)));
    assert!(!Listing::began(whole, (whole + ms(2000)) as u64, t0).stale(whole, after(1)));
    // An mtime ahead of this clock (a skewed server) is never trusted.
    let ahead = Listing::began(listed_at + ms(50) + 7, listed_at as u64, t0);
    assert!(ahead.stale(listed_at + ms(50) + 7, after(1)));
}

/// Bytes of the segment and index files in `dir`: what the budget covers.
fn store_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("seg-"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

/// Names of the index files in `dir`.
fn indexes(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".idx"))
        .collect();
    names.sort();
    names
}

/// Runs a put of a 100 KiB blob (a segment of its own), a put of a small one (which finishes
/// it) and a get of `key(0)` (a blob of 500 bytes) on another thread, while the calling thread
/// is paused inside the store; returns whether all three finished and the get hit. The 30 s
/// guard only ends a wait that would otherwise last as long as the pause (for ever): a put or a
/// get that does not wait for the paused work takes microseconds.
fn put_and_get_elsewhere(cache: &Arc<DiskCache>, k: u64) -> bool {
    let cache = Arc::clone(cache);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        cache.try_put(key(k), blob(k, 100 << 10)).expect("put");
        cache.try_put(key(k + 1), blob(k + 1, 300)).expect("put");
        let hit = cache.get(&key(0)) == Some(blob(0, 500));
        let _ = done.send(hit);
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or(false)
}

/// A store of 40 entries written by a handle now closed (so its segments are another's, read
/// from disk), opened anew with small segments.
fn store_written_elsewhere(dir: &Path) -> Arc<DiskCache> {
    {
        let writer = DiskCache::with_options(dir, small_segments()).expect("open writer");
        for k in 0..40 {
            writer.try_put(key(k), blob(k, 500)).expect("put");
        }
        writer.flush().expect("flush");
    }
    Arc::new(DiskCache::with_options(dir, small_segments()).expect("open"))
}

/// While a compaction is paused at `point` on this thread, puts and gets on another thread of
/// the same handle go on; what they put survives the compaction's swap of the index, and a
/// reopen.
fn puts_and_gets_go_on_while_paused_at(point: Pause) {
    let dir = Scratch::new("stall");
    let cache = store_written_elsewhere(&dir.0);
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let (hook_cache, hook_outcome) = (Arc::clone(&cache), Arc::clone(&outcome));
    test_hooks::set(move |at, _| {
        let mut outcome = hook_outcome.lock().expect("outcome");
        if at == point && outcome.is_none() {
            *outcome = Some(put_and_get_elsewhere(&hook_cache, 1000));
        }
    });
    cache.compact().expect("compact");
    test_hooks::clear();
    assert_eq!(
        *outcome.lock().expect("outcome"),
        Some(true),
        "a put or a get waited for the compaction paused at {point:?}"
    );
    for k in [1000, 1001] {
        let len = if k == 1000 { 100 << 10 } else { 300 };
        assert!(cache.get(&key(k)) == Some(blob(k, len)), "key {k} lost");
    }
    drop(cache);
    let reopened = DiskCache::with_options(&dir.0, small_segments()).expect("reopen");
    for k in (0..40).chain([1000, 1001]) {
        let len = match k {
            1000 => 100 << 10,
            1001 => 300,
            _ => 500,
        };
        assert!(reopened.get(&key(k)) == Some(blob(k, len)), "key {k} lost");
    }
}

/// Issue 10, finding 7: a rebuild read every segment holding the writer's mutex, so puts waited
/// for the whole directory to be read (twice per compaction).
#[test]
fn puts_and_gets_go_on_while_a_rebuild_reads_the_directory() {
    puts_and_gets_go_on_while_paused_at(Pause::BetweenLockAndSize);
}

/// Issue 10, finding 7: planning ranked every candidate under the state's read lock; a put
/// waiting for the write lock made every later get queue behind it (parking_lot's locks are
/// fair).
#[test]
fn puts_and_gets_go_on_while_a_compaction_plans() {
    puts_and_gets_go_on_while_paused_at(Pause::Planning);
}

/// Issue 10, finding 7: a rebuild merged access times into the new index and freed the old one
/// under the state's write lock.
#[test]
fn puts_and_gets_go_on_while_a_rebuilt_index_replaces_the_old_one() {
    puts_and_gets_go_on_while_paused_at(Pause::IndexReplaced);
}

/// Issue 10, finding 7: a put that finished its segment wrote the segment's index itself (23 MB
/// at a million entries, 100 ms). The index is written by another thread, soon.
#[test]
fn a_put_that_finishes_a_segment_leaves_its_index_to_another_thread() {
    let dir = Scratch::new("rotation-index");
    let cache = DiskCache::with_options(&dir.0, small_segments()).expect("open");
    let written_here = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&written_here);
    test_hooks::set(move |point, _| {
        if point == Pause::WritingIndex {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let finished = rotate_past(&cache, &dir.0, 0);
    test_hooks::clear();
    assert_eq!(
        written_here.load(Ordering::Relaxed),
        0,
        "the putting thread wrote an index"
    );
    let index = super::names::index_of(&finished);
    let started = std::time::Instant::now();
    while !indexes(&dir.0).contains(&index) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        indexes(&dir.0).contains(&index),
        "the finished segment got no index"
    );
    drop(cache);
    let reopened = DiskCache::with_options(&dir.0, small_segments()).expect("reopen");
    assert!(reopened.get(&key(0)) == Some(blob(0, 100 << 10)));
    assert!(reopened.get(&key(1)) == Some(blob(1, 100)));
}

/// Issue 10, finding 7: the `sync_file_range` a put started every MiB blocked for 13–70 ms when
/// it landed on a compaction's `fdatasync`. Writeback is started by another thread.
#[test]
fn writeback_is_started_by_another_thread_than_the_put() {
    let dir = Scratch::new("writeback");
    let cache = DiskCache::new(&dir.0).expect("open");
    let started_here = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&started_here);
    test_hooks::set(move |point, _| {
        if point == Pause::StartingWriteback {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    for k in 0..24 {
        cache.try_put(key(k), blob(k, 128 << 10)).expect("put");
    }
    test_hooks::clear();
    assert_eq!(
        started_here.load(Ordering::Relaxed),
        0,
        "the putting thread started writeback"
    );
    cache.flush().expect("flush");
    for k in 0..24 {
        assert!(cache.get(&key(k)) == Some(blob(k, 128 << 10)), "key {k}");
    }
}

/// Issue 10, finding 7's companion (the flaky bound of `tests/disk_store.rs`): a compaction
/// deletes each victim once its survivors are synced, so it holds one victim's worth of copies
/// at a time. An earlier compaction's output was one segment as large as everything it kept
/// (up to half the budget), so copying it again held that much at once. Outputs are now
/// segments of at most `max_bytes / 16`.
#[test]
fn a_compaction_holds_at_most_one_segments_worth_of_copies() {
    let dir = Scratch::new("copies");
    let options = DiskCacheOptions {
        max_bytes: 2 << 20,
        ..DiskCacheOptions::default()
    };
    let limits = super::options::Limits::new(&options);
    let entry = 8 << 10;
    let record = (super::format::RECORD_HEADER_LEN + entry) as u64;
    let cache = DiskCache::with_options(&dir.0, options.clone()).expect("open");
    // 1.2 MiB, under budget: a forced compaction keeps all of it.
    for k in 0..150 {
        cache.try_put(key(k), blob(k, entry)).expect("put");
    }
    cache.flush().expect("flush");
    cache.compact().expect("first compaction");
    for k in 150..170 {
        cache.try_put(key(k), blob(k, entry)).expect("put");
    }
    cache.flush().expect("flush");
    let before = store_bytes(&dir.0);
    let most = Arc::new(AtomicU64::new(0));
    let (seen, root) = (Arc::clone(&most), dir.0.clone());
    test_hooks::set(move |point, _| {
        if point == Pause::VictimCopied {
            seen.fetch_max(store_bytes(&root), Ordering::Relaxed);
        }
    });
    cache.compact().expect("second compaction");
    test_hooks::clear();
    // One output segment (and one entry past its target), and the index files of a segment
    // written meanwhile (this handle's last one, and an output's).
    let segment_index = super::format::index_len((limits.output_target / record + 1) as usize);
    let bound = limits.output_target + record + 2 * segment_index;
    let copies = most.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        copies <= bound,
        "{copies} bytes of copies held at once (bound {bound})"
    );
    for k in 0..170 {
        assert!(cache.get(&key(k)) == Some(blob(k, entry)), "key {k}");
    }
}

/// Issue 14: over budget, a compaction with the Vulkan adapter's `StaleIdentities` evicts the
/// entries of an identity neither seen (its label) nor used (its entries) for the stale period
/// first, though they were used more recently than the fresh identity's (seen today, its
/// entries used longer ago); among the rest, LRU as ever.
#[cfg(feature = "vulkan")]
#[test]
fn a_compaction_evicts_a_stale_identity_first() {
    let (fresh_kept, old_kept) = compact_identities(
        "stale-first",
        Some(crate::vulkan::StaleIdentities::hook()),
        DiskCacheOptions::default().stale_after,
    );
    assert_eq!(
        fresh_kept.len() as u64,
        STALE_TEST_FRESH,
        "fresh entries evicted"
    );
    // The room left keeps the most recently used stale entries: LRU among them.
    let old = STALE_TEST_OLD;
    assert!(
        (old_kept.len() as u64) < old / 2,
        "{} stale entries kept",
        old_kept.len()
    );
    assert_eq!(
        old_kept,
        ((old - old_kept.len() as u64)..old).collect::<Vec<_>>()
    );
}

/// The same store without the hook, or without a stale period: LRU alone, so the entries used
/// last (the stale identity's) stay and the fresh identity's go.
#[cfg(feature = "vulkan")]
#[test]
fn without_a_hook_or_a_period_eviction_is_lru_alone() {
    for (tag, hook, stale_after) in [
        (
            "stale-no-hook",
            None,
            DiskCacheOptions::default().stale_after,
        ),
        (
            "stale-no-period",
            Some(crate::vulkan::StaleIdentities::hook()),
            None,
        ),
    ] {
        let (fresh_kept, old_kept) = compact_identities(tag, hook, stale_after);
        assert_eq!(fresh_kept, Vec::<u64>::new(), "{tag}");
        assert!(old_kept.len() as u64 > STALE_TEST_OLD / 4, "{tag}");
    }
}

#[cfg(feature = "vulkan")]
const STALE_TEST_FRESH: u64 = 24;
#[cfg(feature = "vulkan")]
const STALE_TEST_OLD: u64 = 48;

/// Writes a fresh identity (label seen today, [`STALE_TEST_FRESH`] entries used 40 days ago)
/// and an old one (label and [`STALE_TEST_OLD`] entries seen and used 35 days ago), the
/// writing thread's clock turned back for those uses (`test_hooks`), then reopens
/// under a 1 MiB budget with `hook` and `stale_after`, compacts, and returns which of each
/// identity's entries were kept.
#[cfg(feature = "vulkan")]
fn compact_identities(
    tag: &str,
    hook: Option<super::StaleHook>,
    stale_after: Option<Duration>,
) -> (Vec<u64>, Vec<u64>) {
    use crate::fingerprint::DeviceIdentity;
    use crate::vulkan::{seal_envelope, EnvelopeDevice, Label};

    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    const BUDGET: u64 = 1 << 20;
    const ENTRY: usize = 16 << 10;
    let identity = |driver_version| DeviceIdentity {
        vendor_id: 0x10005,
        device_id: 0,
        driver_version,
        driver_id: 13,
        pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
        pointer_size: 8,
        driver_info: b"llvmpipe\0Mesa 22.3.6".to_vec(),
        namespace: Vec::new(),
    };
    let label = |identity: &DeviceIdentity, last_seen_ns: u64| {
        let label = Label {
            device: EnvelopeDevice {
                vendor_id: identity.vendor_id,
                device_id: identity.device_id,
                driver_version: identity.driver_version,
                driver_id: identity.driver_id,
                pipeline_cache_uuid: identity.pipeline_cache_uuid,
                pointer_size: identity.pointer_size,
            },
            driver_info: identity.driver_info.clone(),
            device_name: "llvmpipe".into(),
            application: "vkcube".into(),
            cache_key: PipelineFingerprint::default(),
            first_seen_ns: last_seen_ns,
            last_seen_ns,
        };
        (Label::key(identity, "vkcube"), label.to_bytes())
    };
    let entry_key =
        |identity: &DeviceIdentity, n: u64| key(u64::from(identity.driver_version) << 32 | n);
    let (fresh, old) = (identity(2), identity(1));
    let dir = Scratch::new(tag);
    let today = super::clock::wall_clock_ns();
    {
        let writer = DiskCache::with_options(
            &dir.0,
            DiskCacheOptions {
                max_bytes: 1 << 40,
                ..DiskCacheOptions::default()
            },
        )
        .expect("open");
        let put = |identity: &DeviceIdentity, count: u64| {
            for n in 0..count {
                let key = entry_key(identity, n);
                let stored = seal_envelope(&blob(key.0[0].into(), ENTRY), &key, identity);
                writer.try_put(key, stored).expect("put");
            }
        };
        test_hooks::set_clock_back(40 * DAY_NS);
        let (fresh_label, fresh_label_bytes) = label(&fresh, today);
        writer.try_put(fresh_label, fresh_label_bytes).expect("put");
        put(&fresh, STALE_TEST_FRESH);
        test_hooks::set_clock_back(35 * DAY_NS);
        let (old_label, old_label_bytes) = label(&old, today - 35 * DAY_NS);
        writer.try_put(old_label, old_label_bytes).expect("put");
        put(&old, STALE_TEST_OLD);
        writer.flush().expect("flush");
        test_hooks::set_clock_back(0);
    }
    let store = DiskCache::with_options(
        &dir.0,
        DiskCacheOptions {
            max_bytes: BUDGET,
            stale_entries: hook,
            stale_after,
            ..DiskCacheOptions::default()
        },
    )
    .expect("reopen");
    store.compact().expect("compact");
    let kept = |identity: &DeviceIdentity, count: u64| -> Vec<u64> {
        (0..count)
            .filter(|&n| store.peek(&entry_key(identity, n)).is_some())
            .collect()
    };
    (kept(&fresh, STALE_TEST_FRESH), kept(&old, STALE_TEST_OLD))
}
