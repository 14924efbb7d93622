//! Record compression benchmark: `cargo bench --bench compression` (about a minute after the
//! build).
//!
//! Part 1, the codecs on a corpus of what this machine really has, each item compressed on its
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
//! decompress speed in MB/s of original bytes (median of several passes).
//!
//! Part 2, the disk tier: put+flush and get throughput of records that compress (SPIR-V) and
//! records that do not (random), with compression as this build writes it against records
//! stored as they are (see BENCHMARKS.md for the version-1 comparison).
//!
//! Compare figures within one run only: the machine is shared and noisy.

use std::path::Path;
use std::time::{Duration, Instant};

const PASSES: usize = 7;
const PIECE: usize = 64 << 10;

struct Corpus {
    name: &'static str,
    items: Vec<Vec<u8>>,
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| ext.is_empty() || p.extension().is_some_and(|e| e == ext));
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The `.text` section of an ELF64 little-endian file, if it has one.
fn elf_text(bytes: &[u8]) -> Option<&[u8]> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    if bytes.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let sh_off = u64_at(0x28)? as usize;
    let sh_size = u16_at(0x3a)? as usize;
    let sh_count = u16_at(0x3c)? as usize;
    let names = sh_off + sh_size * u16_at(0x3e)? as usize;
    let names_off = u64_at(names + 0x18)? as usize;
    (0..sh_count).find_map(|i| {
        let sh = sh_off + i * sh_size;
        let name = names_off + u32_at(sh)? as usize;
        if bytes.get(name..name + 6)? != b".text\0" {
            return None;
        }
        let off = u64_at(sh + 0x18)? as usize;
        bytes.get(off..off + u64_at(sh + 0x20)? as usize)
    })
}

fn random_pieces(count: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            (0..PIECE)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        })
        .collect()
}

fn corpora() -> Vec<Corpus> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut spirv = files_with_extension(&root.join("tests/shaders"), "spv");
    spirv.extend(files_with_extension(
        &root.join("tests/recipe_shaders"),
        "spv",
    ));
    let recipes = files_with_extension(&root.join("fuzz/seeds/parse_recipe"), "");
    let lvp = std::fs::read("/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so").unwrap_or_default();
    let x86 = elf_text(&lvp)
        .map(|text| text.chunks(PIECE).map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let mut all = vec![
        Corpus {
            name: "SPIR-V modules",
            items: spirv,
        },
        Corpus {
            name: "recipes",
            items: recipes,
        },
        Corpus {
            name: "x86-64 code (lavapipe .text)",
            items: x86,
        },
        Corpus {
            name: "random bytes",
            items: random_pieces(64),
        },
    ];
    all.retain(|corpus| {
        if corpus.items.is_empty() {
            println!("{}: not found on this machine, skipped", corpus.name);
        }
        !corpus.items.is_empty()
    });
    all
}

struct Codec {
    name: &'static str,
    compress: fn(&[u8]) -> Vec<u8>,
    decompress: fn(&[u8], usize) -> Vec<u8>,
}

fn zstd_level(level: i32) -> fn(&[u8]) -> Vec<u8> {
    match level {
        1 => |v| zstd::bulk::compress(v, 1).expect("zstd"),
        3 => |v| zstd::bulk::compress(v, 3).expect("zstd"),
        _ => unreachable!(),
    }
}

fn codecs() -> Vec<Codec> {
    vec![
        Codec {
            name: "zstd -1",
            compress: zstd_level(1),
            decompress: |c, len| zstd::bulk::decompress(c, len).expect("zstd"),
        },
        Codec {
            name: "zstd -3",
            compress: zstd_level(3),
            decompress: |c, len| zstd::bulk::decompress(c, len).expect("zstd"),
        },
        Codec {
            name: "lz4_flex",
            compress: lz4_flex::block::compress,
            decompress: |c, len| lz4_flex::block::decompress(c, len).expect("lz4"),
        },
    ]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn codec_table() {
    println!("| corpus | items | bytes | codec | ratio (stored/original) | compress MB/s | decompress MB/s |");
    println!("|---|---|---|---|---|---|---|");
    for corpus in corpora() {
        let total: usize = corpus.items.iter().map(Vec::len).sum();
        for codec in codecs() {
            let compressed: Vec<Vec<u8>> = corpus
                .items
                .iter()
                .map(|item| (codec.compress)(item))
                .collect();
            // As records store them: length prefix, kept only when it saves 10 %.
            let stored: usize = corpus
                .items
                .iter()
                .zip(&compressed)
                .map(|(item, c)| {
                    let framed = c.len() + 8;
                    if framed * 10 <= item.len() * 9 {
                        framed
                    } else {
                        item.len()
                    }
                })
                .sum();
            let compress = median(
                (0..PASSES)
                    .map(|_| {
                        let start = Instant::now();
                        for item in &corpus.items {
                            std::hint::black_box((codec.compress)(item));
                        }
                        start.elapsed()
                    })
                    .collect(),
            );
            let decompress = median(
                (0..PASSES)
                    .map(|_| {
                        let start = Instant::now();
                        for (item, c) in corpus.items.iter().zip(&compressed) {
                            std::hint::black_box((codec.decompress)(c, item.len()));
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
                codec.name,
                stored as f64 / total as f64,
                mb_per_s(total, compress),
                mb_per_s(total, decompress),
            );
        }
    }
}

fn main() {
    codec_table();
}
