//! The corpus of the compression benchmarks (`benches/compression.rs` says what it is and why),
//! shared with `benches/compression_disk.rs`.
#![allow(dead_code)] // each benchmark uses a different part

use std::path::Path;

const PIECE: usize = 64 << 10;

pub struct Corpus {
    pub name: &'static str,
    pub items: Vec<Vec<u8>>,
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

pub fn random_pieces(count: usize) -> Vec<Vec<u8>> {
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

pub fn corpora() -> Vec<Corpus> {
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
