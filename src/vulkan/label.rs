//! Label records: who an identity's entries belong to, in words (driver, device, application,
//! first and last time seen), so tools say "llvmpipe · Mesa 22.3.6 · vkcube" instead of hex
//! keys, and can tell a driver updated away (not seen for 30 days) from one in use.
//!
//! A label is an entry of its own kind, like a recipe: a payload beginning with the magic
//! `PCLB`, stored under a key in its own namespace (BLAKE3 over [`LABEL_NAMESPACE`], the whole
//! device identity and the application name), so it lives in every tier and every format
//! version without a change to any of them, and a build that does not know labels keeps them as
//! opaque entries. One label per device identity and application; rewriting it keeps its first
//! time seen. FORMAT.md ("pcstore label record") has the layout.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::context::VulkanContext;
use super::envelope::EnvelopeDevice;
use super::record_fields::{
    device_fields, read_head, read_text, record_key, write_head, write_text,
};
use crate::codec::{Reader, Writer};
use crate::fingerprint::{DeviceIdentity, PipelineFingerprint};
use crate::store::PutError;

/// The first part of every label key.
pub const LABEL_NAMESPACE: &[u8] = b"pcstore.label.v1";
const MAGIC: [u8; 4] = *b"PCLB";
const VERSION: u8 = 1;
/// Longest text field kept (bytes); longer names are cut, so a label stays small.
pub const MAX_LABEL_TEXT: usize = 256;
/// A label is rewritten when the one stored was last seen longer ago than this: "last seen"
/// is kept to the hour, without a write on every launch.
pub const LABEL_REFRESH_NS: u64 = 3600 * 1_000_000_000;
/// The label a context writes by itself ([`VulkanContext::set_label_application`]) is
/// rewritten when the one stored was last seen longer ago than this: a day is fine enough for a
/// stale period of weeks, and an engine that creates a context per level or per device loss
/// does not rewrite it each time.
pub const OWN_LABEL_REFRESH_NS: u64 = 86_400 * 1_000_000_000;

/// The application as a label names it, from an application identity as the layer builds it
/// (executable, NUL, the name the application gives Vulkan, NUL, ...: see
/// `ApplicationRecord::identity`): the executable, and the application name when that says
/// something more (`vkcube`, `game.x86_64 (My Game)`).
#[must_use]
pub fn application_label(identity: &[u8]) -> String {
    let mut fields = identity.split(|&byte| byte == 0);
    let executable = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let name = String::from_utf8_lossy(fields.next().unwrap_or_default());
    if name.is_empty() || name == executable {
        executable.into_owned()
    } else {
        format!("{executable} ({name})")
    }
}

/// A label record (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The device fields an envelope records, to match a label with its entries.
    pub device: EnvelopeDevice,
    /// `driverName`, a NUL, `driverInfo` (Vulkan 1.2; empty before).
    pub driver_info: Vec<u8>,
    /// `VkPhysicalDeviceProperties::deviceName`.
    pub device_name: String,
    /// The application (the layer: executable and application names).
    pub application: String,
    /// The key of the pipeline-cache entry this label describes, if it names one (the layer's
    /// device cache); all zero if not.
    pub cache_key: PipelineFingerprint,
    /// First time seen, ns since the epoch.
    pub first_seen_ns: u64,
    /// Last time seen, ns since the epoch.
    pub last_seen_ns: u64,
}

impl Label {
    /// The key of the label of `identity` and `application`.
    pub fn key(identity: &DeviceIdentity, application: &str) -> PipelineFingerprint {
        record_key(LABEL_NAMESPACE, identity, application)
    }

    /// The driver's name and version as one line: `llvmpipe · Mesa 22.3.6 (LLVM 15.0.6)`.
    pub fn driver(&self) -> String {
        let text = String::from_utf8_lossy(&self.driver_info);
        let mut parts = text.split('\0').filter(|part| !part.is_empty());
        match (parts.next(), parts.next()) {
            (Some(name), Some(info)) => format!("{name} · {info}"),
            (Some(name), None) => name.to_owned(),
            _ => format!("driver version {:#x}", self.device.driver_version),
        }
    }

    /// The record's bytes (FORMAT.md).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Writer::with_capacity(128);
        write_head(&mut out, MAGIC, VERSION, &self.device);
        out.u64(self.first_seen_ns)
            .u64(self.last_seen_ns)
            .bytes(&self.cache_key.0);
        for text in [
            &self.driver_info[..],
            self.device_name.as_bytes(),
            self.application.as_bytes(),
        ] {
            write_text(&mut out, text, MAX_LABEL_TEXT);
        }
        out.finish()
    }

    /// Parses a label; `None` for anything else (another kind of entry, a newer version, a
    /// malformed record). Never panics; allocates at most the bytes given.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut input = Reader::new(bytes);
        let device = read_head(&mut input, MAGIC, VERSION)?;
        let first_seen_ns = input.u64()?;
        let last_seen_ns = input.u64()?;
        let cache_key = PipelineFingerprint(input.array::<32>()?);
        let driver_info = read_text(&mut input, MAX_LABEL_TEXT)?.to_vec();
        let device_name =
            String::from_utf8_lossy(read_text(&mut input, MAX_LABEL_TEXT)?).into_owned();
        let application =
            String::from_utf8_lossy(read_text(&mut input, MAX_LABEL_TEXT)?).into_owned();
        input.is_at_end().then_some(Self {
            device,
            driver_info,
            device_name,
            application,
            cache_key,
            first_seen_ns,
            last_seen_ns,
        })
    }

    /// Whether `bytes` begin like a label (for telling kinds apart from a record's first bytes).
    pub fn is_label(bytes: &[u8]) -> bool {
        bytes.starts_with(&MAGIC)
    }
}

impl VulkanContext {
    /// Writes the label of this context's device and `application` (see [`Label`]), naming
    /// `cache_key` (a stored key, [`VulkanContext::stored_key`]) if the application keeps one
    /// pipeline cache under it, seen at `now`. Keeps the first time seen of the label stored
    /// before, and writes nothing when that one says the same and was seen less than
    /// [`LABEL_REFRESH_NS`] before `now`. Like a save, it is durable at the store's next flush.
    ///
    /// A caller that records labels itself (the layer does, naming its cache) keeps the
    /// context from writing its own at its first save (see [`Self::set_label_application`]).
    ///
    /// # Errors
    /// The store refused the put ([`PutError`]).
    pub fn record_label(
        &self,
        application: &str,
        cache_key: Option<&PipelineFingerprint>,
        now: SystemTime,
    ) -> Result<(), PutError> {
        self.label_due.store(false, Ordering::Relaxed);
        self.write_label(application, cache_key, now, LABEL_REFRESH_NS)
    }

    /// Names the application in the label the context writes by itself.
    ///
    /// Without a call to [`Self::record_label`], a context's first save writes (or refreshes)
    /// the label of its device and application, so that every identity used through the
    /// adapter is named in tools and can go stale (a driver updated away:
    /// [`super::StaleIdentities`], `pcstore prune`). That label names the executable's file
    /// name unless this names the application; it names no cache key, and is rewritten only
    /// when the stored one says something else or was seen more than
    /// [`OWN_LABEL_REFRESH_NS`] (a day) ago: one store read per context, rarely a write.
    ///
    /// Call it before the first save. Called later, the next save writes a label under this
    /// name too, and the one under the former name stays (until its identity goes stale or a
    /// prune removes it).
    pub fn set_label_application(&self, application: &str) {
        *self.label_application.lock() = Some(application.to_owned());
        self.label_due.store(true, Ordering::Release);
    }

    /// Writes the context's own label if it is due (the first save): once, whichever thread
    /// saves first. A label that cannot be stored is left out: the save matters, not its name.
    pub(super) fn write_own_label(&self) {
        if !self.label_due.swap(false, Ordering::AcqRel) {
            return;
        }
        let application = self
            .label_application
            .lock()
            .clone()
            .unwrap_or_else(executable_name);
        let _ = self.write_label(&application, None, SystemTime::now(), OWN_LABEL_REFRESH_NS);
    }

    /// [`Self::record_label`], rewriting a label that says the same only when it was seen
    /// `refresh_ns` or longer before `now`.
    fn write_label(
        &self,
        application: &str,
        cache_key: Option<&PipelineFingerprint>,
        now: SystemTime,
        refresh_ns: u64,
    ) -> Result<(), PutError> {
        let identity = self.identity();
        let key = Label::key(identity, application);
        let now_ns = epoch_ns(now);
        let mut label = Label {
            device: device_fields(identity),
            driver_info: identity.driver_info.clone(),
            device_name: self.device_name().to_owned(),
            application: application.to_owned(),
            cache_key: cache_key.copied().unwrap_or_default(),
            first_seen_ns: now_ns,
            last_seen_ns: now_ns,
        };
        // What is stored was cut to the field limits: compare what would be read back.
        label = Label::from_bytes(&label.to_bytes()).unwrap_or(label);
        if let Some(stored) = self.store().get(&key).and_then(|b| Label::from_bytes(&b)) {
            label.first_seen_ns = stored.first_seen_ns.min(now_ns);
            let same = Label {
                last_seen_ns: stored.last_seen_ns,
                ..label.clone()
            } == stored;
            if same && now_ns.saturating_sub(stored.last_seen_ns) < refresh_ns {
                return Ok(());
            }
        }
        self.store().try_put(key, label.to_bytes())
    }
}

/// The file name of this process's executable: how a label names an application that did not
/// name itself (`"application"` when the platform cannot say).
fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "application".to_owned())
}

/// Nanoseconds since the epoch of `time` (0 before it).
pub(crate) fn epoch_ns(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_executable_and_a_different_application_name() {
        let fields = |exe: &str, name: &str| {
            let mut bytes = exe.as_bytes().to_vec();
            bytes.push(0);
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
            bytes
        };
        assert_eq!(application_label(b"vkcube"), "vkcube");
        assert_eq!(application_label(&fields("vkcube", "vkcube")), "vkcube");
        assert_eq!(application_label(&fields("vkcube", "")), "vkcube");
        assert_eq!(
            application_label(&fields("game.x86_64", "My Game")),
            "game.x86_64 (My Game)"
        );
    }

    fn label() -> Label {
        Label {
            device: EnvelopeDevice {
                vendor_id: 0x10005,
                device_id: 0,
                driver_version: 1,
                driver_id: 13,
                pipeline_cache_uuid: *b"val-22.3.6\0\0\0\0\0\0",
                pointer_size: 8,
            },
            driver_info: b"llvmpipe\0Mesa 22.3.6 (LLVM 15.0.6)".to_vec(),
            device_name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            application: "vkcube".into(),
            cache_key: PipelineFingerprint::of(b"cache"),
            first_seen_ns: 1_700_000_000_000_000_000,
            last_seen_ns: 1_700_000_100_000_000_000,
        }
    }

    #[test]
    fn round_trips_and_names_its_driver() {
        let label = label();
        let bytes = label.to_bytes();
        assert!(Label::is_label(&bytes));
        assert_eq!(Label::from_bytes(&bytes), Some(label.clone()));
        assert_eq!(label.driver(), "llvmpipe · Mesa 22.3.6 (LLVM 15.0.6)");
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let bytes = label().to_bytes();
        for len in 0..bytes.len() {
            assert_eq!(Label::from_bytes(&bytes[..len]), None, "{len} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Label::from_bytes(&longer), None);
        let mut newer = bytes;
        newer[4] = 2;
        assert_eq!(Label::from_bytes(&newer), None);
    }

    #[test]
    fn long_names_are_cut() {
        let mut long = label();
        long.application = "a".repeat(1000);
        let parsed = Label::from_bytes(&long.to_bytes()).expect("a label");
        assert_eq!(parsed.application.len(), MAX_LABEL_TEXT);
    }

    #[test]
    fn format_md_documents_the_bytes_written() {
        let label = label();
        let bytes = label.to_bytes();
        crate::codec::assert_documented_layout(
            "pcstore label record",
            "Record",
            &bytes[..92],
            &[
                ("magic `PCLB`", b"PCLB"),
                ("version = 1", &[1]),
                ("zero", &[0; 3]),
                ("vendorID", &label.device.vendor_id.to_le_bytes()),
                ("deviceID", &label.device.device_id.to_le_bytes()),
                ("driverVersion", &label.device.driver_version.to_le_bytes()),
                ("driverID", &label.device.driver_id.to_le_bytes()),
                ("pipelineCacheUUID", &label.device.pipeline_cache_uuid),
                ("pointer size", &[8]),
                ("zero", &[0; 3]),
                (
                    "first seen (ns since the epoch)",
                    &label.first_seen_ns.to_le_bytes(),
                ),
                (
                    "last seen (ns since the epoch)",
                    &label.last_seen_ns.to_le_bytes(),
                ),
                ("cache key", &label.cache_key.0),
            ],
        );
    }
}
