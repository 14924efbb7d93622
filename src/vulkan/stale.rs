//! Stale identities for the disk tier's compaction: which entries belong to a device identity
//! whose labels all say it was last seen longer ago than the stale period (a driver updated
//! away), so they are evicted before any other ([`crate::disk::StaleEntries`]).
//!
//! An identity is the device fields an envelope and a label share ([`EnvelopeDevice`]), as
//! `pcstore info` and `prune` match them. Its entries are its pipeline caches and its labels.
//! It is stale, as `pcstore prune` says, when it has a label and its labels' "last seen" and its
//! entries' last use are all older than the period (the layer labels each device it loads a
//! cache for, and an adapter context its identity at its first save: label.rs, so every
//! identity pcstore itself writes for has one): an identity without a readable label is
//! never stale (nothing says it was updated away; its entries age out by LRU), nor is one
//! with a label seen, or an entry used, within the period or in the future (a clock set back
//! must not evict what is in use). Entries' use counts because an engine using the adapter
//! may write its label once and then only read: a driver whose blobs are read is in use.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::envelope::{envelope_device, EnvelopeDevice, ENVELOPE_HEADER_LEN};
use super::history::History;
use super::label::{Label, MAX_LABEL_TEXT};
use crate::disk::{EntryHead, StaleEntries, StaleHook};
use crate::fingerprint::PipelineFingerprint;

/// Longest label record: 92 bytes of fields and three texts of a u16 length and at most
/// [`MAX_LABEL_TEXT`] bytes (FORMAT.md, "pcstore label record").
const MAX_LABEL_LEN: usize = 92 + 3 * (2 + MAX_LABEL_TEXT);

/// The [`StaleEntries`] of Vulkan stores (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct StaleIdentities;

impl StaleIdentities {
    /// As a hook for [`DiskCacheOptions::stale_entries`](crate::disk::DiskCacheOptions): one
    /// per process, so options (and the front ends' store plans) holding it compare equal.
    pub fn hook() -> StaleHook {
        static HOOK: OnceLock<StaleHook> = OnceLock::new();
        HOOK.get_or_init(|| StaleHook(Arc::new(Self))).clone()
    }
}

impl StaleEntries for StaleIdentities {
    fn head_len(&self) -> usize {
        MAX_LABEL_LEN.max(ENVELOPE_HEADER_LEN)
    }

    fn stale_keys(
        &self,
        heads: &[EntryHead],
        now_ns: u64,
        stale_after: Duration,
    ) -> HashSet<PipelineFingerprint> {
        // Per identity: whether it has a label, and when it was last seen or used.
        let mut seen: HashMap<EnvelopeDevice, (bool, u64)> = HashMap::new();
        let mut entries: Vec<(PipelineFingerprint, EnvelopeDevice)> = Vec::new();
        for entry in heads {
            let (device, label_seen) = if let Some(device) = envelope_device(&entry.head) {
                (device, None)
            } else if let Some(label) = Label::from_bytes(&entry.head) {
                (label.device, Some(label.last_seen_ns))
            } else if let Some(device) = History::device_of(&entry.head) {
                // An identity's run history goes with it (and, like its entries, neither makes
                // it stale nor keeps it).
                (device, None)
            } else {
                continue;
            };
            let (labelled, last) = seen.entry(device).or_default();
            *labelled |= label_seen.is_some();
            *last = (*last).max(entry.last_used_ns).max(label_seen.unwrap_or(0));
            entries.push((entry.key, device));
        }
        let stale_after_ns = u64::try_from(stale_after.as_nanos()).unwrap_or(u64::MAX);
        // Before the epoch plus the period nothing can be stale (a clock far behind).
        let Some(cutoff) = now_ns.checked_sub(stale_after_ns) else {
            return HashSet::new();
        };
        entries
            .into_iter()
            .filter(|(_, device)| {
                seen.get(device)
                    .is_some_and(|&(labelled, last)| labelled && last < cutoff)
            })
            .map(|(key, _)| key)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::DeviceIdentity;
    use crate::vulkan::seal_envelope;

    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    const NOW_NS: u64 = 20_000 * DAY_NS;
    const PERIOD: Duration = Duration::from_secs(30 * 86_400);

    fn device(driver_version: u32) -> EnvelopeDevice {
        EnvelopeDevice {
            vendor_id: 0x10005,
            device_id: 0,
            driver_version,
            driver_id: 13,
            pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
            pointer_size: 8,
        }
    }

    fn label(device: EnvelopeDevice, application: &str, last_seen_ns: u64) -> Vec<u8> {
        Label {
            device,
            driver_info: b"llvmpipe\0Mesa 22.3.6".to_vec(),
            device_name: "llvmpipe".into(),
            application: application.into(),
            cache_key: PipelineFingerprint::default(),
            first_seen_ns: last_seen_ns.min(NOW_NS),
            last_seen_ns,
        }
        .to_bytes()
    }

    fn history(device: EnvelopeDevice, runs: usize) -> Vec<u8> {
        let mut history = History {
            device,
            application: "game".into(),
            last_run: 0,
            runs: Vec::new(),
        };
        for _ in 0..runs {
            history.push(crate::vulkan::Run::default());
        }
        history.to_bytes()
    }

    fn entry(device: EnvelopeDevice) -> Vec<u8> {
        let identity = DeviceIdentity {
            vendor_id: device.vendor_id,
            device_id: device.device_id,
            driver_version: device.driver_version,
            driver_id: device.driver_id,
            pipeline_cache_uuid: device.pipeline_cache_uuid,
            pointer_size: device.pointer_size,
            driver_info: b"llvmpipe\0Mesa 22.3.6".to_vec(),
            namespace: Vec::new(),
        };
        let mut stored = seal_envelope(&[7; 32], &PipelineFingerprint::of(b"k"), &identity);
        stored.truncate(ENVELOPE_HEADER_LEN);
        stored
    }

    fn key(n: u8) -> PipelineFingerprint {
        PipelineFingerprint::of(&[n])
    }

    /// Entries last used 31 days before [`NOW_NS`] (or `used_ns` ago with [`used`]).
    fn heads(entries: &[(PipelineFingerprint, Vec<u8>)]) -> Vec<EntryHead> {
        used(entries, 31 * DAY_NS)
    }

    fn used(entries: &[(PipelineFingerprint, Vec<u8>)], ago_ns: u64) -> Vec<EntryHead> {
        entries
            .iter()
            .map(|(key, head)| EntryHead {
                key: *key,
                last_used_ns: NOW_NS - ago_ns,
                head: head.clone(),
            })
            .collect()
    }

    fn stale(entries: &[(PipelineFingerprint, Vec<u8>)]) -> HashSet<PipelineFingerprint> {
        StaleIdentities.stale_keys(&heads(entries), NOW_NS, PERIOD)
    }

    #[test]
    fn an_identity_not_seen_nor_used_for_the_period_is_stale_with_its_labels() {
        let (old, fresh) = (device(1), device(2));
        let entries = vec![
            (key(1), label(old, "game", NOW_NS - 31 * DAY_NS)),
            (key(2), label(old, "tool", NOW_NS - 40 * DAY_NS)),
            (key(3), entry(old)),
            (key(4), entry(old)),
            (key(5), label(fresh, "game", NOW_NS - DAY_NS)),
            (key(6), entry(fresh)),
        ];
        let all_old = HashSet::from([key(1), key(2), key(3), key(4)]);
        assert_eq!(stale(&entries), all_old);
        // The identity's run history (longer than the head read: its device fields suffice)
        // goes with it; the fresh identity's stays.
        let mut with_histories = entries.clone();
        let long = history(old, 32);
        assert!(long.len() > StaleIdentities.head_len());
        with_histories.push((key(8), long[..StaleIdentities.head_len()].to_vec()));
        with_histories.push((key(9), history(fresh, 1)));
        let mut old_and_history = all_old.clone();
        old_and_history.insert(key(8));
        assert_eq!(stale(&with_histories), old_and_history);
        // Entries used more recently than the fresh identity's, still before the period.
        let mut newer_use = used(&entries, 31 * DAY_NS);
        newer_use[5].last_used_ns = NOW_NS - 60 * DAY_NS;
        assert_eq!(
            StaleIdentities.stale_keys(&newer_use, NOW_NS, PERIOD),
            all_old
        );
        // Any label seen within the period keeps the whole identity.
        let mut seen_again = entries.clone();
        seen_again.push((key(7), label(old, "other", NOW_NS - 29 * DAY_NS)));
        assert_eq!(stale(&seen_again), HashSet::new());
        // So does any entry used within it (or in the future: a clock set back since), as
        // `pcstore prune` says: a driver whose blobs are read is in use, though an engine may
        // have written its label once.
        for last_used_ns in [NOW_NS - 29 * DAY_NS, NOW_NS + 400 * DAY_NS] {
            let mut in_use = heads(&entries);
            in_use[2].last_used_ns = last_used_ns;
            assert_eq!(
                StaleIdentities.stale_keys(&in_use, NOW_NS, PERIOD),
                HashSet::new()
            );
        }
    }

    #[test]
    fn no_label_a_future_label_or_a_garbage_label_never_makes_entries_stale() {
        let old = device(1);
        assert_eq!(stale(&[(key(1), entry(old))]), HashSet::new());
        let future = vec![
            (key(1), label(old, "game", NOW_NS + 400 * DAY_NS)),
            (key(2), entry(old)),
        ];
        assert_eq!(stale(&future), HashSet::new());
        // A label cut short, with a byte too many, or of another version is not a label.
        let bytes = label(old, "game", NOW_NS - 100 * DAY_NS);
        let mut longer = bytes.clone();
        longer.push(0);
        let mut newer = bytes.clone();
        newer[4] = 2;
        for garbage in [
            bytes[..bytes.len() - 1].to_vec(),
            longer,
            newer,
            b"PCLB".to_vec(),
        ] {
            assert_eq!(
                stale(&[(key(1), garbage), (key(2), entry(old))]),
                HashSet::new()
            );
        }
        // A clock before the epoch plus the period: nothing is stale.
        let entries = [(key(1), bytes), (key(2), entry(old))];
        let mut early = heads(&entries);
        for head in &mut early {
            head.last_used_ns = 0;
        }
        assert_eq!(
            StaleIdentities.stale_keys(&early, 29 * DAY_NS, PERIOD),
            HashSet::new()
        );
    }

    #[test]
    fn the_heads_read_cover_the_longest_label() {
        let mut long = Label::from_bytes(&label(device(1), "game", 0)).expect("a label");
        long.driver_info = vec![b'd'; 1000];
        long.device_name = "n".repeat(1000);
        long.application = "a".repeat(1000);
        assert_eq!(long.to_bytes().len(), MAX_LABEL_LEN);
        assert!(StaleIdentities.head_len() <= crate::disk::MAX_STALE_HEAD);
    }
}
