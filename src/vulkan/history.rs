//! History records: what the driver reported about each of an application's last runs on one
//! device identity (pipelines created, driver-reported cache hits, creation time with and
//! without hits), so a tool can show "run 7: 412 of 415 pipelines from cache, creation 0.21 s"
//! and the cold run to compare it with. It is the proof that stored data was used rather than
//! accepted and ignored.
//!
//! Like a [`super::Label`], a history is an entry of its own kind: a payload beginning with
//! the magic `PCHR` under a key in its own namespace (BLAKE3 over [`HISTORY_NAMESPACE`], the
//! whole device identity and the application), in every tier and format version unchanged. It
//! keeps the last [`MAX_RUNS`] runs: a few hundred bytes, rewritten once per run.
//! FORMAT.md ("pcstore history record") has the layout.

use std::time::SystemTime;

use super::context::VulkanContext;
use super::envelope::EnvelopeDevice;
use super::label::epoch_ns;
use super::record_fields::{
    device_fields, read_head, read_text, record_key, write_head, write_text,
};
use crate::codec::{Reader, Writer};
use crate::fingerprint::{DeviceIdentity, PipelineFingerprint};
use crate::store::PutError;

/// The first part of every history key.
pub const HISTORY_NAMESPACE: &[u8] = b"pcstore.history.v1";
const MAGIC: [u8; 4] = *b"PCHR";
const VERSION: u8 = 1;
/// Runs kept per record, the newest last: enough to see a trend and the cold run before it,
/// small enough that rewriting the record at every device destruction costs nothing to notice.
pub const MAX_RUNS: usize = 32;
/// Longest application name kept (bytes), as for labels.
pub const MAX_HISTORY_TEXT: usize = 256;
/// Bytes of one run in the record.
const RUN_LEN: usize = 40;
/// Bytes of one run's creation count, after the application name.
const CREATED_LEN: usize = 8;

/// One run: what one device's pipeline creations added up to, as the driver reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// When the run ended (the device was destroyed), ns since the epoch.
    pub ended_ns: u64,
    /// Pipelines created with valid creation feedback: the measured ones.
    pub pipelines: u64,
    /// Of those, reported by the driver as served from the pipeline cache.
    pub hits: u64,
    /// Driver-measured creation time of the hits, ns.
    pub hit_ns: u64,
    /// Driver-measured creation time of the others, ns.
    pub miss_ns: u64,
    /// Pipelines created, measured or not: at least `pipelines`, more when the layer measured
    /// a sample (`PCSTORE_LAYER_FEEDBACK=sampled`). Records written before this field read it
    /// as `pipelines` (they measured every creation).
    pub created: u64,
}

impl Run {
    /// Creation time of all the run's pipelines, ns.
    pub fn creation_ns(&self) -> u64 {
        self.hit_ns.saturating_add(self.miss_ns)
    }
}

/// A history record (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The device fields an envelope records, to match a history with its entries.
    pub device: EnvelopeDevice,
    /// The application, named as its label names it.
    pub application: String,
    /// The number of the newest run: runs ever recorded, including those no longer kept.
    pub last_run: u64,
    /// The last runs kept, oldest first; at most [`MAX_RUNS`], at most `last_run`.
    pub runs: Vec<Run>,
}

impl History {
    /// The key of the history of `identity` and `application`.
    pub fn key(identity: &DeviceIdentity, application: &str) -> PipelineFingerprint {
        record_key(HISTORY_NAMESPACE, identity, application)
    }

    /// Appends `run` as the next run, dropping the oldest beyond [`MAX_RUNS`].
    pub fn push(&mut self, run: Run) {
        self.last_run = self.last_run.saturating_add(1);
        if self.runs.len() == MAX_RUNS {
            self.runs.remove(0);
        }
        self.runs.push(run);
    }

    /// The number of the run at `index` in [`History::runs`].
    pub fn run_number(&self, index: usize) -> u64 {
        self.last_run - (self.runs.len() - 1 - index) as u64
    }

    /// The record's bytes (FORMAT.md).
    pub fn to_bytes(&self) -> Vec<u8> {
        let runs = &self.runs[self.runs.len().saturating_sub(MAX_RUNS)..];
        let mut out = Writer::with_capacity(
            64 + runs.len() * (RUN_LEN + CREATED_LEN) + self.application.len(),
        );
        write_head(&mut out, MAGIC, VERSION, &self.device);
        out.u64(self.last_run.max(runs.len() as u64))
            .u32(runs.len() as u32);
        for run in runs {
            out.u64(run.ended_ns)
                .u64(run.pipelines)
                .u64(run.hits)
                .u64(run.hit_ns)
                .u64(run.miss_ns);
        }
        write_text(&mut out, self.application.as_bytes(), MAX_HISTORY_TEXT);
        // Appended after the name, so that the fields before it keep their offsets.
        for run in runs {
            out.u64(run.created.max(run.pipelines));
        }
        out.finish()
    }

    /// Parses a history; `None` for anything else (another kind of entry, a newer version, a
    /// malformed record, more runs than are ever kept, more hits than pipelines, fewer pipelines
    /// created than measured). A record without the creation counts (written before they
    /// existed) reads each run's `created` as its `pipelines`. Never
    /// panics; allocates at most [`MAX_RUNS`] runs and [`MAX_HISTORY_TEXT`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut input = Reader::new(bytes);
        let device = read_head(&mut input, MAGIC, VERSION)?;
        let last_run = input.u64()?;
        let kept = usize::try_from(input.u32()?).ok()?;
        if kept > MAX_RUNS || kept as u64 > last_run {
            return None;
        }
        let kept = input.count_within(kept as u64, RUN_LEN)?;
        let mut runs = Vec::with_capacity(kept);
        for _ in 0..kept {
            let run = Run {
                ended_ns: input.u64()?,
                pipelines: input.u64()?,
                hits: input.u64()?,
                hit_ns: input.u64()?,
                miss_ns: input.u64()?,
                created: 0,
            };
            if run.hits > run.pipelines {
                return None;
            }
            runs.push(run);
        }
        let application =
            String::from_utf8_lossy(read_text(&mut input, MAX_HISTORY_TEXT)?).into_owned();
        if input.is_at_end() {
            for run in &mut runs {
                run.created = run.pipelines;
            }
        } else {
            for run in &mut runs {
                run.created = input.u64()?;
                if run.created < run.pipelines {
                    return None;
                }
            }
        }
        input.is_at_end().then_some(Self {
            device,
            application,
            last_run,
            runs,
        })
    }

    /// The device of a history from its first bytes (the fixed fields up to offset 44), for
    /// readers that see only an entry's head (the disk tier's stale-identity eviction): `None`
    /// for anything that does not begin like a history of this version.
    pub fn device_of(head: &[u8]) -> Option<EnvelopeDevice> {
        read_head(&mut Reader::new(head), MAGIC, VERSION)
    }

    /// Whether `bytes` begin like a history (for telling kinds apart from a record's first
    /// bytes).
    pub fn is_history(bytes: &[u8]) -> bool {
        bytes.starts_with(&MAGIC)
    }
}

impl VulkanContext {
    /// Appends `run` to the history of this context's device and `application` (see
    /// [`History`]) and stores it, ending at `now` (overriding `run.ended_ns`). A stored record
    /// that cannot be read is started over. Two processes of one application ending at the same
    /// moment may each append to the record they read, and one of the two runs is lost: a
    /// history is a report, not an account, and a lock per device destruction would cost more
    /// than it is worth. Like a save, it is durable at the store's next flush.
    ///
    /// Returns the record as stored.
    ///
    /// # Errors
    /// The store refused the put ([`PutError`]).
    pub fn record_run(
        &self,
        application: &str,
        mut run: Run,
        now: SystemTime,
    ) -> Result<History, PutError> {
        let identity = self.identity();
        let key = History::key(identity, application);
        run.ended_ns = epoch_ns(now);
        let device = device_fields(identity);
        let mut history = self
            .store()
            .get(&key)
            .and_then(|bytes| History::from_bytes(&bytes))
            .filter(|stored| stored.device == device)
            .unwrap_or_else(|| History {
                device,
                application: String::new(),
                last_run: 0,
                runs: Vec::new(),
            });
        history.application = application.to_owned();
        history.push(run);
        let bytes = history.to_bytes();
        self.store().try_put(key, bytes.clone())?;
        Ok(History::from_bytes(&bytes).unwrap_or(history))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(index: u64) -> Run {
        Run {
            ended_ns: 1_700_000_000_000_000_000 + index,
            pipelines: 415,
            hits: 412 - index.min(412),
            hit_ns: 210_000_000,
            miss_ns: 9_800_000_000,
            created: 415 + index,
        }
    }

    fn history(runs: u64) -> History {
        let mut history = History {
            device: EnvelopeDevice {
                vendor_id: 0x1ae0,
                device_id: 0xc0de,
                driver_version: 0x0050_0000,
                driver_id: 10,
                pipeline_cache_uuid: *b"swiftshader-uuid",
                pointer_size: 8,
            },
            application: "app (pcstore-layer-test-app)".into(),
            last_run: 0,
            runs: Vec::new(),
        };
        for index in 0..runs {
            history.push(run(index));
        }
        history
    }

    #[test]
    fn round_trips_and_numbers_its_runs() {
        let history = history(3);
        let bytes = history.to_bytes();
        assert!(History::is_history(&bytes));
        assert_eq!(History::from_bytes(&bytes), Some(history.clone()));
        assert_eq!(history.run_number(0), 1);
        assert_eq!(history.run_number(2), 3);
        assert_eq!(history.runs[2].creation_ns(), 10_010_000_000);
    }

    #[test]
    fn keeps_the_last_runs_only() {
        let history = history(MAX_RUNS as u64 + 5);
        assert_eq!(history.runs.len(), MAX_RUNS);
        assert_eq!(history.last_run, MAX_RUNS as u64 + 5);
        assert_eq!(history.runs[0], run(5), "the oldest kept");
        assert_eq!(history.run_number(0), 6);
        let parsed = History::from_bytes(&history.to_bytes()).expect("a history");
        assert_eq!(parsed, history);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let bytes = history(2).to_bytes();
        let without_counts = bytes.len() - 2 * CREATED_LEN;
        for len in (0..bytes.len()).filter(|&len| len != without_counts) {
            assert_eq!(History::from_bytes(&bytes[..len]), None, "{len} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(History::from_bytes(&longer), None);
        let mut newer = bytes;
        newer[4] = 2;
        assert_eq!(History::from_bytes(&newer), None);
    }

    #[test]
    fn claims_that_cannot_be_true_are_refused() {
        let bytes = history(2).to_bytes();
        let with = |offset: usize, value: &[u8]| {
            let mut bytes = bytes.clone();
            bytes[offset..offset + value.len()].copy_from_slice(value);
            History::from_bytes(&bytes)
        };
        // More runs kept than ever kept, or than were ever run.
        assert_eq!(with(52, &(MAX_RUNS as u32 + 1).to_le_bytes()), None);
        assert_eq!(with(52, &u32::MAX.to_le_bytes()), None);
        assert_eq!(with(44, &1u64.to_le_bytes()), None);
        // More hits than pipelines in the first run.
        assert_eq!(with(56 + 16, &416u64.to_le_bytes()), None);
        // A longer application name than is ever written.
        let text_len = bytes.len() - 2 * CREATED_LEN - "app (pcstore-layer-test-app)".len() - 2;
        // Fewer pipelines created than measured in the last run.
        assert_eq!(with(bytes.len() - 8, &414u64.to_le_bytes()), None);
        assert_eq!(with(text_len, &257u16.to_le_bytes()), None);
        assert!(with(text_len, &u16::MAX.to_le_bytes()).is_none());
    }

    proptest::proptest! {
        /// Whatever a damaged store holds: the parser never panics, and what it accepts is a
        /// record it would write and read back itself (so nothing it returns claims what cannot
        /// be true).
        #[test]
        fn any_damage_is_refused_or_is_a_record(
            runs in 0u64..40,
            flips in proptest::collection::vec((0usize..2000, 0u8..=255), 0..4),
            cut in 0usize..2000,
        ) {
            let mut bytes = history(runs).to_bytes();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut.max(bytes.len() / 2));
            if let Some(parsed) = History::from_bytes(&bytes) {
                proptest::prop_assert!(parsed.runs.len() <= MAX_RUNS);
                proptest::prop_assert!(parsed.runs.len() as u64 <= parsed.last_run);
                proptest::prop_assert_eq!(History::from_bytes(&parsed.to_bytes()), Some(parsed));
            }
        }
    }

    /// A record as written before runs had a creation count (the name is its last field) still
    /// reads, every run's creations taken as its measured pipelines; written again, it gains
    /// the counts.
    #[test]
    fn records_without_creation_counts_still_read() {
        let mut old = history(2);
        for run in &mut old.runs {
            run.created = run.pipelines;
        }
        let bytes = old.to_bytes();
        let old_bytes = &bytes[..bytes.len() - 2 * CREATED_LEN];
        assert!(old_bytes.ends_with(b"app (pcstore-layer-test-app)"));
        let parsed = History::from_bytes(old_bytes).expect("an old history");
        assert_eq!(parsed, old);
        assert_eq!(parsed.to_bytes(), bytes);
        let sampled = history(2);
        assert_eq!(
            History::from_bytes(&sampled.to_bytes())
                .expect("a history")
                .runs[1]
                .created,
            416
        );
    }

    #[test]
    fn long_names_are_cut() {
        let mut long = history(1);
        long.application = "a".repeat(1000);
        let parsed = History::from_bytes(&long.to_bytes()).expect("a history");
        assert_eq!(parsed.application.len(), MAX_HISTORY_TEXT);
    }

    #[test]
    fn format_md_documents_the_bytes_written() {
        let history = history(1);
        let bytes = history.to_bytes();
        let run = history.runs[0];
        crate::codec::assert_documented_layout(
            "pcstore history record",
            "Record",
            &bytes[..96],
            &[
                ("magic `PCHR`", b"PCHR"),
                ("version = 1", &[1]),
                ("zero", &[0; 3]),
                ("vendorID", &history.device.vendor_id.to_le_bytes()),
                ("deviceID", &history.device.device_id.to_le_bytes()),
                (
                    "driverVersion",
                    &history.device.driver_version.to_le_bytes(),
                ),
                ("driverID", &history.device.driver_id.to_le_bytes()),
                ("pipelineCacheUUID", &history.device.pipeline_cache_uuid),
                ("pointer size", &[8]),
                ("zero", &[0; 3]),
                ("number of the newest run", &1u64.to_le_bytes()),
                ("runs kept (at most 32)", &1u32.to_le_bytes()),
                (
                    "run 1: ended (ns since the epoch)",
                    &run.ended_ns.to_le_bytes(),
                ),
                ("run 1: pipelines", &run.pipelines.to_le_bytes()),
                ("run 1: cache hits", &run.hits.to_le_bytes()),
                ("run 1: creation ns of the hits", &run.hit_ns.to_le_bytes()),
                (
                    "run 1: creation ns of the others",
                    &run.miss_ns.to_le_bytes(),
                ),
            ],
        );
    }
}
