//! How recipe fields become bytes: one [`Wire`] implementation per field type, and
//! [`recipe_struct!`] to declare a recipe structure and its encoding in one place, so the
//! struct definition is the field table of FORMAT.md.
//!
//! Conventions (all little-endian): integers at their width; Vulkan enums (i32) and flags
//! (u32) as their raw 32 bits; `f32` as its bit pattern (NaN payloads survive); `bool` as one
//! byte 0 or 1; `Option<T>` as a byte 0 or 1 then `T`; a list as a `u32` count then its items;
//! a key as 32 bytes; a pNext chain as a `u8` count then `(sType u32, length u32, body)`
//! entries in ascending sType order.
//!
//! Parsing is strict where an encoding could otherwise be ambiguous (booleans, option tags,
//! entry order), so every accepted input re-serializes to exactly its own bytes. Counts are
//! checked against the bytes left ([`Reader::count_within`]) before anything is allocated.

use std::collections::{BTreeMap, BTreeSet};

use ash::vk;

use crate::codec::{Reader, Writer};
use crate::fingerprint::PipelineFingerprint;

/// A value with one binary encoding.
pub(crate) trait Wire: Sized {
    /// Fewest bytes any value of this type encodes to: bounds the counts read from input.
    const MIN_LEN: usize;
    /// Appends the encoding of `self`.
    fn put(&self, out: &mut Writer);
    /// Takes one value; `None` if the input does not hold a valid encoding.
    fn get(input: &mut Reader<'_>) -> Option<Self>;
}

impl Wire for u8 {
    const MIN_LEN: usize = 1;
    fn put(&self, out: &mut Writer) {
        out.u8(*self);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.u8()
    }
}

impl Wire for u16 {
    const MIN_LEN: usize = 2;
    fn put(&self, out: &mut Writer) {
        out.u16(*self);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.u16()
    }
}

impl Wire for u32 {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        out.u32(*self);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.u32()
    }
}

impl Wire for i32 {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        out.u32(*self as u32);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.u32().map(|raw| raw as i32)
    }
}

impl Wire for f32 {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        out.u32(self.to_bits());
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.u32().map(f32::from_bits)
    }
}

impl Wire for bool {
    const MIN_LEN: usize = 1;
    fn put(&self, out: &mut Writer) {
        out.bool(*self);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.bool()
    }
}

impl Wire for PipelineFingerprint {
    const MIN_LEN: usize = 32;
    fn put(&self, out: &mut Writer) {
        out.bytes(&self.0);
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        input.array().map(PipelineFingerprint)
    }
}

impl<T: Wire + Copy + Default, const N: usize> Wire for [T; N] {
    const MIN_LEN: usize = T::MIN_LEN * N;
    fn put(&self, out: &mut Writer) {
        for item in self {
            item.put(out);
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        let mut items = [T::default(); N];
        for item in &mut items {
            *item = T::get(input)?;
        }
        Some(items)
    }
}

impl<T: Wire> Wire for Option<T> {
    const MIN_LEN: usize = 1;
    fn put(&self, out: &mut Writer) {
        match self {
            None => {
                out.u8(0);
            }
            Some(value) => {
                out.u8(1);
                value.put(out);
            }
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        if input.bool()? {
            T::get(input).map(Some)
        } else {
            Some(None)
        }
    }
}

/// Reads a list count and checks that many items could fit in what is left.
fn get_count<T: Wire>(input: &mut Reader<'_>) -> Option<usize> {
    let count = input.u32()?;
    input.count_within(u64::from(count), T::MIN_LEN)
}

fn put_count(out: &mut Writer, count: usize) {
    // Counts come from Vulkan's u32 counts or from parsed u32 counts; a longer list cannot be
    // built from either, so saturating never changes a real recipe.
    out.u32(u32::try_from(count).unwrap_or(u32::MAX));
}

impl<T: Wire> Wire for Vec<T> {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        put_count(out, self.len());
        for item in self {
            item.put(out);
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        let count = get_count::<T>(input)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::get(input)?);
        }
        Some(items)
    }
}

/// A set, strictly ascending on the wire (one encoding per set).
impl<T: Wire + Ord> Wire for BTreeSet<T> {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        put_count(out, self.len());
        for item in self {
            item.put(out);
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        let count = get_count::<T>(input)?;
        let mut items = BTreeSet::new();
        for _ in 0..count {
            let item = T::get(input)?;
            if items.last().is_some_and(|last| *last >= item) {
                return None;
            }
            items.insert(item);
        }
        Some(items)
    }
}

/// A map, strictly ascending by key on the wire.
impl<K: Wire + Ord, V: Wire> Wire for BTreeMap<K, V> {
    const MIN_LEN: usize = 4;
    fn put(&self, out: &mut Writer) {
        put_count(out, self.len());
        for (key, value) in self {
            key.put(out);
            value.put(out);
        }
    }
    fn get(input: &mut Reader<'_>) -> Option<Self> {
        let count = input.u32()?;
        let count = input.count_within(u64::from(count), K::MIN_LEN + V::MIN_LEN)?;
        let mut items = BTreeMap::new();
        for _ in 0..count {
            let key = K::get(input)?;
            if items.last_key_value().is_some_and(|(last, _)| *last >= key) {
                return None;
            }
            let value = V::get(input)?;
            items.insert(key, value);
        }
        Some(items)
    }
}

/// Vulkan enums: their raw i32 as 32 bits.
macro_rules! wire_vk_enum {
    ($($ty:ident),* $(,)?) => {$(
        impl Wire for vk::$ty {
            const MIN_LEN: usize = 4;
            fn put(&self, out: &mut Writer) {
                out.u32(self.as_raw() as u32);
            }
            fn get(input: &mut Reader<'_>) -> Option<Self> {
                input.u32().map(|raw| Self::from_raw(raw as i32))
            }
        }
    )*};
}

/// Vulkan 32-bit flags: their raw bits, unknown bits kept.
macro_rules! wire_vk_flags {
    ($($ty:ident),* $(,)?) => {$(
        impl Wire for vk::$ty {
            const MIN_LEN: usize = 4;
            fn put(&self, out: &mut Writer) {
                out.u32(self.as_raw());
            }
            fn get(input: &mut Reader<'_>) -> Option<Self> {
                input.u32().map(Self::from_raw)
            }
        }
    )*};
}

wire_vk_enum!(
    AttachmentLoadOp,
    AttachmentStoreOp,
    BlendFactor,
    BlendOp,
    BorderColor,
    CompareOp,
    ConservativeRasterizationModeEXT,
    DescriptorType,
    DynamicState,
    Filter,
    Format,
    FragmentShadingRateCombinerOpKHR,
    FrontFace,
    ImageLayout,
    LineRasterizationModeKHR,
    LogicOp,
    PipelineBindPoint,
    PolygonMode,
    PrimitiveTopology,
    ProvokingVertexModeEXT,
    SamplerAddressMode,
    SamplerMipmapMode,
    SamplerReductionMode,
    StencilOp,
    StructureType,
    TessellationDomainOrigin,
    VertexInputRate,
);

wire_vk_flags!(
    AccessFlags,
    AttachmentDescriptionFlags,
    ColorComponentFlags,
    CullModeFlags,
    DependencyFlags,
    DescriptorBindingFlags,
    DescriptorSetLayoutCreateFlags,
    ImageAspectFlags,
    PipelineColorBlendStateCreateFlags,
    PipelineCreateFlags,
    PipelineDepthStencilStateCreateFlags,
    PipelineDynamicStateCreateFlags,
    PipelineInputAssemblyStateCreateFlags,
    PipelineLayoutCreateFlags,
    PipelineMultisampleStateCreateFlags,
    PipelineRasterizationConservativeStateCreateFlagsEXT,
    PipelineRasterizationDepthClipStateCreateFlagsEXT,
    PipelineRasterizationStateCreateFlags,
    PipelineRasterizationStateStreamCreateFlagsEXT,
    PipelineShaderStageCreateFlags,
    PipelineStageFlags,
    PipelineTessellationStateCreateFlags,
    PipelineVertexInputStateCreateFlags,
    PipelineViewportStateCreateFlags,
    RenderPassCreateFlags,
    ResolveModeFlags,
    SampleCountFlags,
    SamplerCreateFlags,
    ShaderModuleCreateFlags,
    ShaderStageFlags,
    SubpassDescriptionFlags,
);

/// Collects the present entries of a pNext chain and writes them in ascending sType order.
pub(crate) struct ChainWriter {
    entries: Vec<(u32, Vec<u8>)>,
}

impl ChainWriter {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Adds `value`'s body under `s_type` if it is present.
    pub(crate) fn entry<T: Wire>(&mut self, s_type: vk::StructureType, value: &Option<T>) {
        if let Some(value) = value {
            let mut body = Writer::default();
            value.put(&mut body);
            self.entries.push((s_type.as_raw() as u32, body.finish()));
        }
    }

    pub(crate) fn finish(mut self, out: &mut Writer) {
        self.entries.sort_unstable_by_key(|(s_type, _)| *s_type);
        // At most one entry per field of a recipe structure: far below 256.
        out.u8(self.entries.len() as u8);
        for (s_type, body) in &self.entries {
            out.u32(*s_type);
            put_count(out, body.len());
            out.bytes(body);
        }
    }
}

/// Reads a pNext chain: `each(sType, body)` must recognise the sType and parse the whole body.
pub(crate) fn get_chain(
    input: &mut Reader<'_>,
    mut each: impl FnMut(vk::StructureType, &mut Reader<'_>) -> Option<()>,
) -> Option<()> {
    let count = input.u8()?;
    // An entry is at least its sType and length.
    let count = input.count_within(u64::from(count), 8)?;
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let s_type = input.u32()?;
        if previous.is_some_and(|previous| previous >= s_type) {
            return None;
        }
        previous = Some(s_type);
        let len = input.u32()?;
        let len = input.count_within(u64::from(len), 1)?;
        let mut body = Reader::new(input.take(len)?);
        each(vk::StructureType::from_raw(s_type as i32), &mut body)?;
        if !body.is_at_end() {
            return None;
        }
    }
    Some(())
}

/// `1` when a structure has a chain (the count byte), for [`Wire::MIN_LEN`].
macro_rules! chain_min_len {
    () => {
        1
    };
}
pub(crate) use chain_min_len;

/// Declares a recipe structure: the struct (public fields, in wire order) and its [`Wire`]
/// encoding. A `chain { field: Type = STRUCTURE_TYPE, ... }` part lists the pNext structures
/// the Vulkan structure may carry: each becomes an `Option` field, encoded as a chain entry
/// under that sType, so supporting another pNext structure later adds an entry without
/// changing the bytes of any recipe that does not use it.
macro_rules! recipe_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $field_ty:ty, )*
        }
        $( chain {
            $( $(#[$chain_meta:meta])* $chain_field:ident : $chain_ty:ty = $s_type:ident, )*
        } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $field_ty, )*
            $($( $(#[$chain_meta])* pub $chain_field: Option<$chain_ty>, )*)?
        }

        impl $crate::recipe::wire::Wire for $name {
            const MIN_LEN: usize = 0
                $( + <$field_ty as $crate::recipe::wire::Wire>::MIN_LEN )*
                $( + $crate::recipe::wire::chain_min_len!() $(+ { let _ = stringify!($chain_field); 0 })* )?;

            fn put(&self, out: &mut $crate::codec::Writer) {
                $( $crate::recipe::wire::Wire::put(&self.$field, out); )*
                $(
                    #[allow(unused_mut)]
                    let mut chain = $crate::recipe::wire::ChainWriter::new();
                    $( chain.entry(ash::vk::StructureType::$s_type, &self.$chain_field); )*
                    chain.finish(out);
                )?
            }

            fn get(input: &mut $crate::codec::Reader<'_>) -> Option<Self> {
                $( let $field = <$field_ty as $crate::recipe::wire::Wire>::get(input)?; )*
                $(
                    $( let mut $chain_field: Option<$chain_ty> = None; )*
                    $crate::recipe::wire::get_chain(input, |_s_type, _body| {
                        $(
                            if _s_type == ash::vk::StructureType::$s_type {
                                $chain_field = Some(
                                    <$chain_ty as $crate::recipe::wire::Wire>::get(_body)?,
                                );
                                return Some(());
                            }
                        )*
                        None
                    })?;
                )?
                Some(Self { $($field,)* $($($chain_field,)*)? })
            }
        }
    };
}
pub(crate) use recipe_struct;

#[cfg(test)]
mod tests {
    use super::*;

    recipe_struct! {
        /// A test structure with a chain.
        pub struct Sample {
            /// A flag.
            pub enabled: bool,
            /// Some numbers.
            pub values: Vec<u32>,
        }
        chain {
            /// A later structure.
            later: u32 = PIPELINE_RASTERIZATION_LINE_STATE_CREATE_INFO_KHR,
            /// An earlier structure.
            earlier: f32 = PIPELINE_RASTERIZATION_STATE_STREAM_CREATE_INFO_EXT,
        }
    }

    fn encode<T: Wire>(value: &T) -> Vec<u8> {
        let mut out = Writer::default();
        value.put(&mut out);
        out.finish()
    }

    fn decode<T: Wire>(bytes: &[u8]) -> Option<T> {
        let mut input = Reader::new(bytes);
        let value = T::get(&mut input)?;
        input.is_at_end().then_some(value)
    }

    #[test]
    fn chain_entries_are_written_in_ascending_stype_order_and_read_back() {
        let sample = Sample {
            enabled: true,
            values: vec![1, 2],
            later: Some(7),
            earlier: Some(0.5),
        };
        let bytes = encode(&sample);
        // enabled, count 2, two u32, chain count 2, then the stream entry (1000028002) first.
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[13], 2);
        assert_eq!(&bytes[14..18], &1_000_028_002u32.to_le_bytes());
        assert_eq!(decode::<Sample>(&bytes), Some(sample));
        let without = Sample {
            enabled: false,
            values: vec![],
            later: None,
            earlier: None,
        };
        assert_eq!(encode(&without), [0, 0, 0, 0, 0, 0]);
        assert_eq!(<Sample as Wire>::MIN_LEN, 1 + 4 + 1);
    }

    #[test]
    fn ambiguous_encodings_are_refused() {
        let sample = Sample {
            enabled: true,
            values: vec![],
            later: Some(7),
            earlier: Some(0.5),
        };
        let bytes = encode(&sample);
        // Swap the two chain entries (each 4 + 4 + 4 bytes): descending order is refused.
        let chain = &bytes[6..];
        let mut swapped = bytes[..6].to_vec();
        swapped.extend_from_slice(&chain[12..24]);
        swapped.extend_from_slice(&chain[..12]);
        assert_eq!(decode::<Sample>(&swapped), None);
        let mut bad_bool = bytes.clone();
        bad_bool[0] = 2;
        assert_eq!(decode::<Sample>(&bad_bool), None);
        let mut unknown_entry = bytes.clone();
        unknown_entry[6..10].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(decode::<Sample>(&unknown_entry), None);
        let mut long_entry = bytes;
        long_entry[10..14].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            decode::<Sample>(&long_entry),
            None,
            "an entry body is parsed whole"
        );
    }

    #[test]
    fn counts_are_bounded_by_the_input_left() {
        let mut claim = Writer::default();
        claim.u32(u32::MAX);
        assert_eq!(decode::<Vec<u32>>(&claim.finish()), None);
        let mut chain_claim = Writer::default();
        chain_claim.u8(1).u8(1).u32(0).u8(255);
        assert_eq!(decode::<Sample>(&chain_claim.finish()), None);
    }

    #[test]
    fn sets_and_maps_must_be_strictly_ascending() {
        let set: BTreeSet<u32> = [3, 1, 2].into_iter().collect();
        let bytes = encode(&set);
        assert_eq!(decode::<BTreeSet<u32>>(&bytes), Some(set));
        let mut repeated = Writer::default();
        repeated.u32(2).u32(5).u32(5);
        assert_eq!(decode::<BTreeSet<u32>>(&repeated.finish()), None);
        let map: BTreeMap<u32, bool> = [(2, true), (1, false)].into_iter().collect();
        let bytes = encode(&map);
        assert_eq!(decode::<BTreeMap<u32, bool>>(&bytes), Some(map));
        let mut descending = Writer::default();
        descending.u32(2).u32(2).u8(0).u32(1).u8(0);
        assert_eq!(decode::<BTreeMap<u32, bool>>(&descending.finish()), None);
    }

    #[test]
    fn floats_keep_their_bits() {
        let nan = f32::from_bits(0x7fc0_1234);
        let bytes = encode(&nan);
        assert_eq!(decode::<f32>(&bytes).map(f32::to_bits), Some(0x7fc0_1234));
    }
}
