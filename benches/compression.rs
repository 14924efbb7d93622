//! Record compression benchmark: `cargo bench --bench compression` (about a minute after the
//! build).
//!
//! The codecs on a corpus of what this machine really has, each item compressed on its
//! own as a record is (never the corpus as one stream, which would flatter every codec):
//! - SPIR-V: every `.spv` module committed under `tests/shaders` and `tests/recipe_shaders`;
//! - recipes: the serialized recipes of `fuzz/seeds/parse_recipe` (recorded from the recipe
//!   tests' scenes: pipelines, layouts, render passes, samplers);
//! - x86-64 code: the `.text` of lavapipe's driver library (`libvulkan_lvp.so`, the installed
//!   Mesa), cut into 64 KiB pieces. This is machine code of the same instruction set llvmpipe
//!   emits, compiled by GCC, not what llvmpipe's JIT produces (the CPU drivers here keep no
//!   compiled pipelines in their cache blobs: those are 32-byte headers);
//! - random bytes, 64 KiB pieces: the worst case (nothing to gain, only the attempt to pay).
//!
//! For each corpus and codec: the ratio (stored bytes over original, with the 8-byte length
//! prefix and the store-as-is rule below 10 % saving that records use) and compress and
//! decompress speed in MB/s of original bytes (median of several passes; contexts reused, as
//! the library does per thread).
//!
//! The disk tier's put+flush and get throughput with compression is `benches/compression_disk.rs`
//! (which also builds against version 1, for the comparison).
//!
//! Compare figures within one run only: the machine is shared and noisy.

use std::time::{Duration, Instant};

mod compression_support;

use compression_support::corpora;

const PASSES: usize = 7;

/// A codec as measured: compress one item, decompress it given its original length.
enum Codec {
    /// What the library stores: `pcstore::compression` (zstd level 1, contexts reused per
    /// thread, length prefix, stored as is below a tenth of saving).
    Pcstore,
    /// zstd level 3 (Mesa's level), one context reused across items.
    Zstd3(
        zstd::bulk::Compressor<'static>,
        zstd::bulk::Decompressor<'static>,
    ),
    /// lz4_flex's block format (pure Rust).
    Lz4,
}

impl Codec {
    fn all() -> Vec<Self> {
        vec![
            Self::Pcstore,
            Self::Zstd3(
                zstd::bulk::Compressor::new(3).expect("zstd"),
                zstd::bulk::Decompressor::new().expect("zstd"),
            ),
            Self::Lz4,
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Pcstore => "zstd -1 (pcstore)",
            Self::Zstd3(..) => "zstd -3",
            Self::Lz4 => "lz4_flex",
        }
    }

    /// The bytes a record would store: framed, or the item itself when that saves under 10 %.
    fn compress(&mut self, item: &[u8]) -> Vec<u8> {
        let framed = match self {
            Self::Pcstore => return pcstore::compression::encode(item).1.into_owned(),
            Self::Zstd3(compressor, _) => compressor.compress(item).expect("zstd"),
            Self::Lz4 => lz4_flex::block::compress(item),
        };
        if (framed.len() + 8) * 10 <= item.len() * 9 {
            framed
        } else {
            item.to_vec()
        }
    }

    fn decompress(&mut self, stored: &[u8], len: usize) -> Vec<u8> {
        if stored.len() == len {
            return stored.to_vec(); // stored as it is (the store still copies it once)
        }
        match self {
            Self::Pcstore => pcstore::compression::decompress(stored, len as u64).expect("zstd"),
            Self::Zstd3(_, decompressor) => decompressor.decompress(stored, len).expect("zstd"),
            Self::Lz4 => lz4_flex::block::decompress(stored, len).expect("lz4"),
        }
    }

    /// Bytes stored for `stored` (length prefix included when framed).
    fn stored_len(&self, stored: &[u8], len: usize) -> usize {
        match self {
            Self::Pcstore => stored.len(),
            _ if stored.len() == len => len,
            _ => stored.len() + 8,
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn codec_table() {
    println!(
        "| corpus | items | bytes | codec | stored/original | compress MB/s | decompress MB/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for corpus in corpora() {
        let total: usize = corpus.items.iter().map(Vec::len).sum();
        for mut codec in Codec::all() {
            let stored: Vec<Vec<u8>> = corpus
                .items
                .iter()
                .map(|item| codec.compress(item))
                .collect();
            for (item, stored) in corpus.items.iter().zip(&stored) {
                assert!(codec.decompress(stored, item.len()) == *item, "round trip");
            }
            let stored_total: usize = corpus
                .items
                .iter()
                .zip(&stored)
                .map(|(item, stored)| codec.stored_len(stored, item.len()))
                .sum();
            let compress = median(
                (0..PASSES)
                    .map(|_| {
                        let start = Instant::now();
                        for item in &corpus.items {
                            std::hint::black_box(codec.compress(item));
                        }
                        start.elapsed()
                    })
                    .collect(),
            );
            let decompress = median(
                (0..PASSES)
                    .map(|_| {
                        let start = Instant::now();
                        for (item, stored) in corpus.items.iter().zip(&stored) {
                            std::hint::black_box(codec.decompress(stored, item.len()));
                        }
                        start.elapsed()
                    })
                    .collect(),
            );
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.0} | {:.0} |",
                corpus.name,
                corpus.items.len(),
                total,
                codec.name(),
                stored_total as f64 / total as f64,
                mb_per_s(total, compress),
                mb_per_s(total, decompress),
            );
        }
    }
}

fn main() {
    codec_table();
}
