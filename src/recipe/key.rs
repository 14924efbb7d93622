//! Recipe keys, kinds, the 8-byte header every recipe starts with, and the [`Recipe`] trait
//! that encodes and parses one kind.

use std::fmt;

use super::wire::Wire;
use crate::codec::{Reader, Writer};
use crate::fingerprint::PipelineFingerprint;

/// The first part of every recipe key: recipes live in the same store as pipeline-cache blobs
/// but in their own key space. Blob keys are scoped to a device (another BLAKE3 context,
/// [`PipelineFingerprint::scoped`]); recipe keys are not scoped to any driver, so a recipe
/// recorded on one machine is found under the same key on every other.
pub const RECIPE_NAMESPACE: &[u8] = b"pcstore.recipe.v1";

/// `PCRC`: the magic of every recipe.
const MAGIC: [u8; 4] = *b"PCRC";
/// Header bytes before a recipe's body.
pub(crate) const HEADER_LEN: usize = 8;

/// The key of a recipe: `FingerprintBuilder` over [`RECIPE_NAMESPACE`] and the recipe's bytes.
///
/// Recipes refer to each other by key (a pipeline names its shader modules, layout and render
/// pass by their keys), so identical modules and layouts are stored once across pipelines,
/// runs and applications, and a key is also where the recipe is stored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RecipeKey(pub PipelineFingerprint);

impl RecipeKey {
    /// The key of a recipe whose full bytes (header included) are `recipe_bytes`.
    #[must_use]
    pub fn of(recipe_bytes: &[u8]) -> Self {
        Self(
            PipelineFingerprint::builder()
                .with(RECIPE_NAMESPACE)
                .with(recipe_bytes)
                .finish(),
        )
    }

    /// A key in the recipe namespace for a record that is not content-addressed (an
    /// application's record, the catalog): the namespace, then `parts`.
    pub(crate) fn named(parts: &[&[u8]]) -> Self {
        let mut builder = PipelineFingerprint::builder().with(RECIPE_NAMESPACE);
        for part in parts {
            builder.part(part);
        }
        Self(builder.finish())
    }

    /// The store key (the same 32 bytes).
    #[must_use]
    pub fn fingerprint(&self) -> PipelineFingerprint {
        self.0
    }
}

impl Wire for RecipeKey {
    const MIN_LEN: usize = 32;
    fn put(&self, out: &mut Writer) {
        self.0.put(out);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        PipelineFingerprint::get(input).map(RecipeKey)
    }
}

impl fmt::Display for RecipeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RecipeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipeKey({})", self.0)
    }
}

/// What a recipe describes: byte 4 of its header. New kinds (ray tracing pipelines, graphics
/// pipeline libraries) take new numbers; a reader refuses a kind it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecipeKind {
    /// `VkShaderModuleCreateInfo`: the SPIR-V words.
    ShaderModule = 1,
    /// `VkSamplerCreateInfo` (immutable samplers of set layouts).
    Sampler = 2,
    /// `VkDescriptorSetLayoutCreateInfo`.
    DescriptorSetLayout = 3,
    /// `VkPipelineLayoutCreateInfo`.
    PipelineLayout = 4,
    /// `VkRenderPassCreateInfo` or `VkRenderPassCreateInfo2`.
    RenderPass = 5,
    /// `VkComputePipelineCreateInfo`.
    ComputePipeline = 6,
    /// `VkGraphicsPipelineCreateInfo`.
    GraphicsPipeline = 7,
    /// A device's enabled extensions and features.
    Device = 8,
    /// One application's record: identity, cache target, the pipelines it created.
    Application = 9,
    /// The list of application records.
    Catalog = 10,
    /// What replays did for one application on one driver: replayed and bad pipelines.
    Replay = 11,
}

impl RecipeKind {
    /// Every kind, in number order.
    pub const ALL: [RecipeKind; 11] = [
        Self::ShaderModule,
        Self::Sampler,
        Self::DescriptorSetLayout,
        Self::PipelineLayout,
        Self::RenderPass,
        Self::ComputePipeline,
        Self::GraphicsPipeline,
        Self::Device,
        Self::Application,
        Self::Catalog,
        Self::Replay,
    ];

    /// The kind with this header byte.
    #[must_use]
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u8 == byte)
    }
}

/// Why bytes are not a recipe this build can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the header, another magic, or non-zero reserved header bytes.
    NotARecipe,
    /// A kind byte this build does not know.
    UnknownKind(u8),
    /// A recipe of another kind than the one asked for.
    WrongKind {
        /// The kind asked for.
        expected: RecipeKind,
        /// The kind in the header.
        found: RecipeKind,
    },
    /// A body version this build does not read (written by a newer pcstore).
    UnsupportedVersion {
        /// The recipe's kind.
        kind: RecipeKind,
        /// The version in the header.
        version: u8,
    },
    /// The body does not parse: a field is missing, out of its domain or out of order.
    Malformed {
        /// The recipe's kind.
        kind: RecipeKind,
        /// Offset (from the start of the recipe) where reading stopped.
        offset: usize,
    },
    /// Bytes left after a complete body.
    TrailingBytes {
        /// The recipe's kind.
        kind: RecipeKind,
        /// Offset of the first extra byte.
        offset: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotARecipe => f.write_str("not a pcstore recipe (bad header)"),
            Self::UnknownKind(kind) => write!(f, "unknown recipe kind {kind}"),
            Self::WrongKind { expected, found } => {
                write!(f, "expected a {expected:?} recipe, found {found:?}")
            }
            Self::UnsupportedVersion { kind, version } => {
                write!(
                    f,
                    "{kind:?} recipe version {version} is newer than this pcstore"
                )
            }
            Self::Malformed { kind, offset } => {
                write!(f, "{kind:?} recipe malformed at byte {offset}")
            }
            Self::TrailingBytes { kind, offset } => {
                write!(f, "{kind:?} recipe has extra bytes from byte {offset}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// The kind and version in a recipe's header, checked; the body follows.
///
/// # Errors
/// [`ParseError::NotARecipe`] or [`ParseError::UnknownKind`].
pub fn recipe_kind(bytes: &[u8]) -> Result<(RecipeKind, u8), ParseError> {
    let mut input = Reader::new(bytes);
    if input.array::<4>() != Some(MAGIC) {
        return Err(ParseError::NotARecipe);
    }
    let (Some(kind), Some(version), Some(())) = (input.u8(), input.u8(), input.zeros(2)) else {
        return Err(ParseError::NotARecipe);
    };
    let kind = RecipeKind::from_byte(kind).ok_or(ParseError::UnknownKind(kind))?;
    Ok((kind, version))
}

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// One kind of recipe: encoded as the 8-byte header then its versioned body (FORMAT.md).
///
/// Round trip: for every value, `from_bytes(to_bytes(v))` re-encodes to the same bytes, and
/// every input `from_bytes` accepts re-encodes to exactly itself.
pub trait Recipe: Sized + Sealed {
    /// The kind byte of this recipe.
    const KIND: RecipeKind;
    /// The body version this build writes (and the newest it reads).
    const VERSION: u8;

    /// The recipe's bytes: header and body.
    fn to_bytes(&self) -> Vec<u8>;

    /// Parses a recipe of this kind. Never panics; allocates at most in proportion to `bytes`.
    ///
    /// # Errors
    /// Any [`ParseError`]: bytes of another kind, a newer version, or a malformed body.
    fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError>;

    /// The recipe's key: where it is stored and how other recipes refer to it.
    fn key(&self) -> RecipeKey {
        RecipeKey::of(&self.to_bytes())
    }
}

/// Encodes `body` as a recipe of `kind` and `version`.
pub(crate) fn encode_recipe<T: Wire>(kind: RecipeKind, version: u8, body: &T) -> Vec<u8> {
    encode_recipe_into(kind, version, body, Vec::with_capacity(64))
}

/// Encodes `body` as [`encode_recipe`] does, into `buffer`'s allocation (cleared first).
pub(crate) fn encode_recipe_into<T: Wire>(
    kind: RecipeKind,
    version: u8,
    body: &T,
    buffer: Vec<u8>,
) -> Vec<u8> {
    let mut out = Writer::reusing(buffer);
    out.bytes(&MAGIC).u8(kind as u8).u8(version).zeros(2);
    body.put(&mut out);
    out.finish()
}

/// Parses a recipe of `kind` whose body is a `T` of `version`.
pub(crate) fn decode_recipe<T: Wire>(
    kind: RecipeKind,
    version: u8,
    bytes: &[u8],
) -> Result<T, ParseError> {
    let (found, found_version) = recipe_kind(bytes)?;
    if found != kind {
        return Err(ParseError::WrongKind {
            expected: kind,
            found,
        });
    }
    if found_version != version {
        return Err(ParseError::UnsupportedVersion {
            kind,
            version: found_version,
        });
    }
    let mut input = Reader::new(&bytes[HEADER_LEN..]);
    let offset = |input: &Reader<'_>| bytes.len() - input.remaining();
    let body = T::get(&mut input).ok_or(ParseError::Malformed {
        kind,
        offset: offset(&input),
    })?;
    if !input.is_at_end() {
        return Err(ParseError::TrailingBytes {
            kind,
            offset: offset(&input),
        });
    }
    Ok(body)
}

/// Implements [`Recipe`] for a body type declared with `recipe_struct!`.
macro_rules! impl_recipe {
    ($ty:ty, $kind:ident, $version:expr) => {
        impl $crate::recipe::key::Sealed for $ty {}

        impl $crate::recipe::key::Recipe for $ty {
            const KIND: $crate::recipe::key::RecipeKind = $crate::recipe::key::RecipeKind::$kind;
            const VERSION: u8 = $version;

            fn to_bytes(&self) -> Vec<u8> {
                $crate::recipe::key::encode_recipe(Self::KIND, Self::VERSION, self)
            }

            fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::recipe::key::ParseError> {
                $crate::recipe::key::decode_recipe(Self::KIND, Self::VERSION, bytes)
            }
        }
    };
}
pub(crate) use impl_recipe;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_checked_before_the_body() {
        assert_eq!(
            recipe_kind(b"PCRC\x07\x01\0\0"),
            Ok((RecipeKind::GraphicsPipeline, 1))
        );
        assert_eq!(recipe_kind(b"PCRC\x07\x01\0"), Err(ParseError::NotARecipe));
        assert_eq!(
            recipe_kind(b"PCRX\x07\x01\0\0"),
            Err(ParseError::NotARecipe)
        );
        assert_eq!(
            recipe_kind(b"PCRC\x07\x01\x01\0"),
            Err(ParseError::NotARecipe)
        );
        assert_eq!(
            recipe_kind(b"PCRC\x63\x01\0\0"),
            Err(ParseError::UnknownKind(99))
        );
        assert_eq!(
            decode_recipe::<u32>(RecipeKind::Sampler, 1, b"PCRC\x07\x01\0\0\0\0\0\0"),
            Err(ParseError::WrongKind {
                expected: RecipeKind::Sampler,
                found: RecipeKind::GraphicsPipeline
            })
        );
        assert_eq!(
            decode_recipe::<u32>(RecipeKind::Sampler, 1, b"PCRC\x02\x02\0\0\0\0\0\0"),
            Err(ParseError::UnsupportedVersion {
                kind: RecipeKind::Sampler,
                version: 2
            })
        );
        assert_eq!(
            decode_recipe::<u32>(RecipeKind::Sampler, 1, b"PCRC\x02\x01\0\0\0\0\0"),
            Err(ParseError::Malformed {
                kind: RecipeKind::Sampler,
                offset: 8
            })
        );
        assert_eq!(
            decode_recipe::<u32>(RecipeKind::Sampler, 1, b"PCRC\x02\x01\0\0\x05\0\0\0\0"),
            Err(ParseError::TrailingBytes {
                kind: RecipeKind::Sampler,
                offset: 12
            })
        );
        assert_eq!(
            decode_recipe::<u32>(RecipeKind::Sampler, 1, b"PCRC\x02\x01\0\0\x05\0\0\0"),
            Ok(5)
        );
    }

    #[test]
    fn kinds_round_trip_through_their_byte() {
        for kind in RecipeKind::ALL {
            assert_eq!(RecipeKind::from_byte(kind as u8), Some(kind));
        }
        assert_eq!(RecipeKind::from_byte(0), None);
        assert_eq!(RecipeKind::from_byte(12), None);
    }

    #[test]
    fn keys_are_in_their_own_namespace() {
        let bytes = b"PCRC\x02\x01\0\0";
        assert_eq!(RecipeKey::of(bytes), RecipeKey::of(bytes));
        assert_ne!(RecipeKey::of(bytes).0, PipelineFingerprint::of(bytes));
        assert_ne!(
            RecipeKey::of(bytes).0,
            PipelineFingerprint::builder().with(bytes).finish()
        );
        assert_eq!(
            RecipeKey::of(bytes).0,
            PipelineFingerprint::builder()
                .with(b"pcstore.recipe.v1")
                .with(bytes)
                .finish()
        );
    }
}
