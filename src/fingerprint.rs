//! 32-byte BLAKE3 keys for pipeline-cache blobs.
//!
//! The key derivations here are part of every user's on-disk cache: changing any of them silently
//! turns every stored entry into a miss. `tests/fingerprint_vectors.rs` pins them with fixed
//! vectors; a change there must come with a deliberate format-version bump.

use std::fmt;
use std::str::FromStr;

/// Domain-separation context of [`FingerprintBuilder`] (BLAKE3 `derive_key` mode).
const BUILDER_CONTEXT: &str = "pcstore 2026-11-24 fingerprint builder v1";
/// Domain-separation context of [`PipelineFingerprint::scoped`].
const SCOPED_CONTEXT: &str = "pcstore 2026-11-24 device-scoped key v1";

/// A 32-byte key naming one stored blob.
///
/// Displayed and parsed as 64 lowercase hex digits. Keys made here are BLAKE3 outputs, but any 32
/// bytes are a valid key: a C engine may zero-pad its own 64-bit hash into one. Stores therefore
/// never use a slice of the bytes as a hash; they use [`PipelineFingerprint::hash_u64`], which
/// mixes all of them.
///
/// `#[repr(transparent)]` so the C ABI can borrow a caller's 32 bytes as a key without copying.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct PipelineFingerprint(pub [u8; 32]);

impl PipelineFingerprint {
    /// The BLAKE3 hash of `bytes` (plain BLAKE3: `b3sum` of the same bytes gives the same value).
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Starts an incremental fingerprint over several length-prefixed parts.
    #[must_use]
    pub fn builder() -> FingerprintBuilder {
        FingerprintBuilder::new()
    }

    /// Derives the key actually stored for this engine key on one device and driver.
    ///
    /// Any change of vendor, device, driver version, pipeline-cache UUID, driver ID or string,
    /// pointer size or namespace yields an unrelated key, so a driver update makes every old
    /// entry miss instead of handing a stale blob to the new driver.
    ///
    /// Deriving many keys for one identity: [`ScopedKeyDeriver`] gives the same keys faster.
    #[must_use]
    pub fn scoped(&self, identity: &DeviceIdentity) -> Self {
        ScopedKeyDeriver::new(identity).scope(self)
    }

    /// The 64 lowercase hex digits of this key.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    /// [`ParseFingerprintError::Length`] unless `hex` is 64 bytes long,
    /// [`ParseFingerprintError::Digit`] at the first byte that is not a hex digit.
    pub fn from_hex(hex: &str) -> Result<Self, ParseFingerprintError> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return Err(ParseFingerprintError::Length(digits.len()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let high = hex_value(pair[0]).ok_or(ParseFingerprintError::Digit(2 * i))?;
            let low = hex_value(pair[1]).ok_or(ParseFingerprintError::Digit(2 * i + 1))?;
            out[i] = (high << 4) | low;
        }
        Ok(Self(out))
    }

    /// The first eight bytes as an integer. Uniform only for keys that are hash outputs over
    /// all 32 bytes; for sharding and hash tables use [`Self::hash_u64`].
    #[inline]
    #[must_use]
    pub fn prefix_u64(&self) -> u64 {
        self.word(0)
    }

    /// All 32 bytes mixed into 64 bits, well spread in every bit even when the key is not
    /// uniform: an engine's own 64-bit hash zero-padded at either end, a hash repeated four
    /// times, small counters. Stores shard and hash by it. A handful of instructions (one
    /// 64 × 64 → 128-bit multiply); not a cryptographic hash, and not stable across releases
    /// (never persisted).
    #[inline]
    #[must_use]
    pub fn hash_u64(&self) -> u64 {
        // Fold the four words into two so that entropy in any one of them reaches a factor,
        // then a folded multiply (the mixing step of wyhash and foldhash) spreads every input
        // bit over the whole result. The rotation is odd so that equal words do not cancel:
        // `x ^ x.rotate_left(r)` keeps 63 bits of `x` for odd `r` (only 32 for `r = 32`). The
        // constants (digits of pi) keep a zero word from zeroing a factor.
        let a = self.word(0) ^ self.word(2).rotate_left(23) ^ 0x243f_6a88_85a3_08d3;
        let b = self.word(1) ^ self.word(3).rotate_left(23) ^ 0x1319_8a2e_0370_7344;
        let product = u128::from(a) * u128::from(b);
        (product as u64) ^ ((product >> 64) as u64)
    }

    /// Little-endian word `index` (0..4) of the key.
    #[inline]
    fn word(&self, index: usize) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[8 * index..8 * index + 8]);
        u64::from_le_bytes(word)
    }
}

/// The hasher of pcstore's own maps keyed by fingerprints (memory and disk tiers): a key's
/// [`PipelineFingerprint::hash_u64`], computed once per lookup; a `u64` (an already mixed hash,
/// as in the memory tier's ghost list) is taken as it is.
#[derive(Clone, Copy, Default)]
pub(crate) struct FingerprintHasher(u64);

impl std::hash::Hasher for FingerprintHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    /// A fingerprint arrives as one 32-byte write; other lengths (no map of pcstore's hashes
    /// them, but a `Hasher` must take any bytes) are zero-padded to 32-byte pieces and chained.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(32) {
            let mut key = [0u8; 32];
            key[..piece.len()].copy_from_slice(piece);
            self.0 = self.0.rotate_left(29) ^ PipelineFingerprint(key).hash_u64();
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = self.0.rotate_left(29) ^ value;
    }

    /// Slice length prefixes carry nothing for fixed-size keys.
    #[inline]
    fn write_usize(&mut self, _length_prefix: usize) {}
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn update_part(hasher: &mut blake3::Hasher, part: &[u8]) {
    hasher.update(&(part.len() as u64).to_le_bytes());
    hasher.update(part);
}

impl std::hash::Hash for PipelineFingerprint {
    /// Feeds the 32 bytes as one write (no length prefix), so `FingerprintHasher` sees the
    /// whole key at once.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

impl fmt::Display for PipelineFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PipelineFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PipelineFingerprint({self})")
    }
}

impl FromStr for PipelineFingerprint {
    type Err = ParseFingerprintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// Why a string is not a fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseFingerprintError {
    /// Not 64 characters long (the length found).
    Length(usize),
    /// The character at this index is not a hex digit.
    Digit(usize),
}

impl fmt::Display for ParseFingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(len) => write!(f, "a fingerprint is 64 hex digits, got {len} characters"),
            Self::Digit(at) => write!(f, "character {at} is not a hex digit"),
        }
    }
}

impl std::error::Error for ParseFingerprintError {}

/// [`PipelineFingerprint::scoped`] for one identity, with the identity hashed once: deriving a
/// key then costs one hasher copy and the last BLAKE3 block, not the whole derivation. Same
/// keys as `scoped`, always. Cheap to share across threads (`scope` takes `&self`).
#[derive(Clone)]
pub struct ScopedKeyDeriver {
    prepared: blake3::Hasher,
}

impl ScopedKeyDeriver {
    /// Hashes `identity` (every field) once.
    #[must_use]
    pub fn new(identity: &DeviceIdentity) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(SCOPED_CONTEXT);
        hasher.update(&identity.vendor_id.to_le_bytes());
        hasher.update(&identity.device_id.to_le_bytes());
        hasher.update(&identity.driver_version.to_le_bytes());
        hasher.update(&identity.driver_id.to_le_bytes());
        hasher.update(&identity.pipeline_cache_uuid);
        hasher.update(&[identity.pointer_size]);
        update_part(&mut hasher, &identity.driver_info);
        update_part(&mut hasher, &identity.namespace);
        Self { prepared: hasher }
    }

    /// The key stored for the engine's `key` on this identity.
    #[must_use]
    pub fn scope(&self, key: &PipelineFingerprint) -> PipelineFingerprint {
        let mut hasher = self.prepared.clone();
        hasher.update(&key.0);
        PipelineFingerprint(*hasher.finalize().as_bytes())
    }
}

impl fmt::Debug for ScopedKeyDeriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopedKeyDeriver")
    }
}

/// Builds a fingerprint from several parts (engine key, shader bytes, pipeline state...).
///
/// Each part is length-prefixed, so `("ab", "c")` and `("a", "bc")` give different keys, and the
/// result never equals [`PipelineFingerprint::of`] of any byte string (separate BLAKE3 context).
#[derive(Clone)]
pub struct FingerprintBuilder {
    hasher: blake3::Hasher,
}

impl FingerprintBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new_derive_key(BUILDER_CONTEXT),
        }
    }

    /// Feeds one part.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        update_part(&mut self.hasher, bytes);
        self
    }

    /// Feeds one part, by value (for chaining).
    #[must_use]
    pub fn with(mut self, bytes: &[u8]) -> Self {
        self.part(bytes);
        self
    }

    /// The fingerprint of all parts fed so far (the builder may go on afterwards).
    #[must_use]
    pub fn finish(&self) -> PipelineFingerprint {
        PipelineFingerprint(*self.hasher.finalize().as_bytes())
    }
}

impl Default for FingerprintBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FingerprintBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintBuilder")
    }
}

/// What a pipeline-cache blob is only valid for: one driver build on one device, plus an
/// engine-chosen namespace (engine name, build flavour, content version...).
///
/// Fill it from `VkPhysicalDeviceProperties` (and `VkPhysicalDeviceVulkan12Properties` where
/// available: `driver_id`, and `driver_info` = driverName, a NUL, driverInfo). Fields that are
/// not available stay zero or empty; they still take part in the key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceIdentity {
    /// `VkPhysicalDeviceProperties::vendorID`.
    pub vendor_id: u32,
    /// `VkPhysicalDeviceProperties::deviceID`.
    pub device_id: u32,
    /// `VkPhysicalDeviceProperties::driverVersion`.
    pub driver_version: u32,
    /// `VkPhysicalDeviceVulkan12Properties::driverID` (`VkDriverId`), 0 when unknown.
    pub driver_id: u32,
    /// `VkPhysicalDeviceProperties::pipelineCacheUUID`.
    pub pipeline_cache_uuid: [u8; 16],
    /// Size of a pointer in the process that created the blob (4 or 8): some drivers do not
    /// change their UUID between 32- and 64-bit builds.
    pub pointer_size: u8,
    /// Driver name and info strings where Vulkan 1.2 provides them: some drivers (lavapipe) keep
    /// the same UUID and version across builds, and only these strings tell them apart.
    pub driver_info: Vec<u8>,
    /// Engine-chosen namespace.
    pub namespace: Vec<u8>,
}

impl DeviceIdentity {
    /// The pointer size of this process, for [`DeviceIdentity::pointer_size`].
    pub const HOST_POINTER_SIZE: u8 = std::mem::size_of::<usize>() as u8;
}

/// Keys as C engines make them, and a check that a hash spreads them, for the tests of every
/// map keyed by fingerprints.
#[cfg(test)]
pub(crate) mod engine_keys {
    use super::PipelineFingerprint;

    /// A 64-bit hash of `n` as an engine's own hash function might give it (splitmix64).
    fn engine_hash(n: u64) -> u64 {
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn with_words(words: [u64; 4]) -> PipelineFingerprint {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        PipelineFingerprint(bytes)
    }

    /// Makes the key of an engine's pipeline number `n`.
    pub(crate) type MakeKey = fn(u64) -> PipelineFingerprint;

    /// Layouts of `pcs_fingerprint` a C engine fills from its own key `n`, by name.
    pub(crate) const LAYOUTS: [(&str, MakeKey); 5] = [
        ("64-bit hash then zeros", |n| {
            with_words([engine_hash(n), 0, 0, 0])
        }),
        ("zeros then 64-bit hash", |n| {
            with_words([0, 0, 0, engine_hash(n)])
        }),
        ("64-bit hash four times", |n| {
            let hash = engine_hash(n);
            with_words([hash; 4])
        }),
        ("32-bit hash then zeros", |n| {
            with_words([engine_hash(n) >> 32, 0, 0, 0])
        }),
        ("counter then zeros", |n| with_words([n, 0, 0, 0])),
    ];

    /// Panics unless the `bits` bits of `hashes` starting at bit `at` spread like random
    /// values: every bucket used, none under half the mean.
    pub(crate) fn assert_spread(what: &str, hashes: &[u64], at: u32, bits: u32) {
        let buckets = 1usize << bits;
        let mut counts = vec![0usize; buckets];
        for hash in hashes {
            counts[(hash >> at) as usize & (buckets - 1)] += 1;
        }
        let mean = hashes.len() / buckets;
        let fullest = counts.iter().max().copied().unwrap_or(0);
        let emptiest = counts.iter().min().copied().unwrap_or(0);
        assert!(
            emptiest >= mean / 2 && fullest <= mean * 2,
            "{what}: bits {at}..{} of {} hashes fill {buckets} buckets from {emptiest} to \
             {fullest} (mean {mean})",
            at + bits,
            hashes.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::engine_keys::{assert_spread, LAYOUTS};

    #[test]
    fn hash_u64_spreads_the_keys_engines_make() {
        for (layout, key) in LAYOUTS {
            let hashes: Vec<u64> = (0..1 << 14).map(|n| key(n).hash_u64()).collect();
            let distinct: HashSet<u64> = hashes.iter().copied().collect();
            assert_eq!(distinct.len(), hashes.len(), "{layout}: hashes collide");
            // The bits consumers use: a table's low bits and top seven (its tag), the memory
            // tier's shard bits from 32.
            assert_spread(layout, &hashes, 0, 8);
            assert_spread(layout, &hashes, 57, 7);
            assert_spread(layout, &hashes, 32, 6);
        }
    }
}
