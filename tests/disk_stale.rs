//! Stale identities first, and what never makes an identity stale: a disk store over budget
//! whose compaction has the Vulkan adapter's `StaleIdentities` hook keeps evicting by LRU alone
//! when the old identity's label is in the future or is not a valid label, or when its label is
//! old but its entries are in use. (That a stale identity is evicted first needs entries used
//! long ago, so a clock turned back: `src/disk/tests.rs`,
//! `a_compaction_evicts_a_stale_identity_first`.)

#![cfg(feature = "vulkan")]

mod disk_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use disk_support::{Rng, ScratchDir};
use pcstore::fingerprint::DeviceIdentity;
use pcstore::vulkan::{seal_envelope, EnvelopeDevice, Label, StaleIdentities};
use pcstore::{DiskCache, DiskCacheOptions, PipelineCacheStore, PipelineFingerprint};

const DAY: Duration = Duration::from_secs(86_400);
/// Budget of the store compacted: the fresh identity's entries fit in half of it (what a
/// compaction keeps), the old identity's and the fresh one's together exceed it.
const BUDGET: u64 = 1 << 20;
const ENTRY_BYTES: usize = 16 << 10;
const FRESH_ENTRIES: u64 = 24;
const OLD_ENTRIES: u64 = 48;

fn identity(driver_version: u32) -> DeviceIdentity {
    DeviceIdentity {
        vendor_id: 0x10005,
        device_id: 0,
        driver_version,
        driver_id: 13,
        pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
        pointer_size: 8,
        driver_info: b"llvmpipe\0Mesa 22.3.6".to_vec(),
        namespace: Vec::new(),
    }
}

fn label(identity: &DeviceIdentity, last_seen: SystemTime) -> (PipelineFingerprint, Vec<u8>) {
    let ns = last_seen
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
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
        device_name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
        application: "vkcube".into(),
        cache_key: PipelineFingerprint::default(),
        first_seen_ns: ns,
        last_seen_ns: ns,
    };
    (Label::key(identity, "vkcube"), label.to_bytes())
}

fn entry_key(identity: &DeviceIdentity, n: u64) -> PipelineFingerprint {
    PipelineFingerprint::builder()
        .with(&identity.driver_version.to_le_bytes())
        .with(&n.to_le_bytes())
        .finish()
}

/// A pipeline-cache entry of `identity`: random bytes (no compression) in the envelope.
fn entry(identity: &DeviceIdentity, key: &PipelineFingerprint, rng: &mut Rng) -> Vec<u8> {
    let blob: Vec<u8> = (0..ENTRY_BYTES / 8)
        .flat_map(|_| rng.next().to_le_bytes())
        .collect();
    seal_envelope(&blob, key, identity)
}

/// How the old identity's label reads.
#[derive(Clone, Copy, Debug)]
enum OldLabel {
    /// Last seen 40 days ago (its entries used today).
    LongAgo,
    /// Last seen a year from now.
    Future,
    /// Its record cut short by one byte (not a label).
    Garbage,
}

struct Outcome {
    fresh_kept: u64,
    old_kept: u64,
}

/// Writes, under a budget no compaction reaches, labels, the fresh identity's entries and then
/// the old identity's (more recently used), reopens under [`BUDGET`] with the Vulkan adapter's
/// hook and compacts.
fn compact(tag: &str, old_label: OldLabel) -> Outcome {
    let dir = ScratchDir::new(tag);
    let (fresh, old) = (identity(2), identity(1));
    let now = SystemTime::now();
    let fresh_label = label(&fresh, now);
    let old_label = match old_label {
        OldLabel::LongAgo => label(&old, now - 40 * DAY),
        OldLabel::Future => label(&old, now + 365 * DAY),
        OldLabel::Garbage => {
            let (key, mut bytes) = label(&old, now - 40 * DAY);
            bytes.pop();
            (key, bytes)
        }
    };
    let mut rng = Rng(7);
    {
        let writer = DiskCache::with_options(
            dir.path(),
            DiskCacheOptions {
                max_bytes: 1 << 40,
                ..DiskCacheOptions::default()
            },
        )
        .expect("open");
        writer
            .try_put(fresh_label.0, fresh_label.1.clone())
            .expect("put");
        writer
            .try_put(old_label.0, old_label.1.clone())
            .expect("put");
        for (who, count) in [(&fresh, FRESH_ENTRIES), (&old, OLD_ENTRIES)] {
            for n in 0..count {
                let key = entry_key(who, n);
                writer
                    .try_put(key, entry(who, &key, &mut rng))
                    .expect("put");
            }
        }
        writer.flush().expect("flush");
    }
    let store = DiskCache::with_options(
        dir.path(),
        DiskCacheOptions {
            max_bytes: BUDGET,
            stale_entries: Some(StaleIdentities::hook()),
            ..DiskCacheOptions::default()
        },
    )
    .expect("reopen");
    store.compact().expect("compact");
    assert!(store.metrics().cached_bytes <= BUDGET / 2);
    let kept = |who: &DeviceIdentity, count: u64| {
        (0..count)
            .filter(|&n| store.peek(&entry_key(who, n)).is_some())
            .count() as u64
    };
    Outcome {
        fresh_kept: kept(&fresh, FRESH_ENTRIES),
        old_kept: kept(&old, OLD_ENTRIES),
    }
}

#[test]
fn an_old_label_a_label_in_the_future_or_a_garbage_label_never_makes_used_entries_stale() {
    for old_label in [OldLabel::LongAgo, OldLabel::Future, OldLabel::Garbage] {
        let outcome = compact("stale-untrusted", old_label);
        // LRU: the old identity's entries, used last, stay; the fresh identity's go.
        assert_eq!(outcome.fresh_kept, 0, "{old_label:?}: not LRU");
        assert!(
            outcome.old_kept > 0,
            "{old_label:?}: old entries evicted as stale"
        );
    }
}
