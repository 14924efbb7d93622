//! Runs the bundle fuzz harness (`fuzz/bundle_harness.rs`, also the cargo-fuzz target's body)
//! in CI without a fuzzing engine, over inputs a byte-level fuzzer rarely reaches: bundles
//! whose fields were changed and whose hashes and header check were then made consistent
//! again, so the layout checks behind them (offsets, lengths, order, counts) are what decides.

#[path = "../fuzz/bundle_harness.rs"]
mod bundle_harness;
mod bundle_support;

use bundle_support::{entries, RawBundle};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A plausible wrong value near `value`, or an extreme one.
fn nudge(rng: &mut Rng, value: u64) -> u64 {
    match rng.below(4) {
        0 => value.wrapping_add(1 + rng.below(8)),
        1 => value.wrapping_sub(1 + rng.below(8)),
        2 => rng.below(value.saturating_mul(2).max(2)),
        _ => [0, u64::MAX, u64::MAX / 88, 1 << 40][rng.below(4) as usize],
    }
}

fn mutate(rng: &mut Rng, raw: &mut RawBundle) {
    let count = raw.entries.len() as u64;
    match rng.below(8) {
        0 if count > 0 => {
            let e = rng.below(count) as usize;
            raw.entries[e].offset = nudge(rng, raw.entries[e].offset);
        }
        1 if count > 0 => {
            let e = rng.below(count) as usize;
            raw.entries[e].len = nudge(rng, raw.entries[e].len);
        }
        2 if count > 1 => {
            let (a, b) = (rng.below(count) as usize, rng.below(count) as usize);
            raw.entries.swap(a, b);
        }
        3 if count > 0 => {
            let e = rng.below(count) as usize;
            raw.entries[e].kind = rng.next() as u8;
        }
        4 => raw.entry_count = nudge(rng, raw.entry_count),
        5 => raw.index_offset = nudge(rng, raw.index_offset),
        6 => raw.file_len = nudge(rng, raw.file_len),
        _ if !raw.records.is_empty() => {
            let at = rng.below(raw.records.len() as u64) as usize;
            raw.records[at] ^= 1 + rng.below(255) as u8;
        }
        _ => raw.records.push(rng.next() as u8),
    }
}

#[test]
fn the_bundle_fuzz_harness_holds_on_structured_mutations() {
    let mut rng = Rng(2026);
    for round in 0..600u64 {
        let all = entries(1 + round % 7);
        let mut raw = RawBundle::of(&all);
        if round % 3 == 0 {
            raw.signer_seed = Some(0x5a);
            raw.fix_layout();
        }
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut raw);
        }
        let mut input = vec![u8::from(round % 5 == 0)];
        input.extend_from_slice(&raw.encode());
        bundle_harness::open_bundle_from_bytes(&input);
    }
}

#[test]
fn the_bundle_fuzz_harness_holds_on_the_seeds_and_noise() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/open_bundle");
    let mut seen = 0;
    for seed in std::fs::read_dir(seeds).expect("seeds") {
        bundle_harness::open_bundle_from_bytes(&std::fs::read(seed.unwrap().path()).unwrap());
        seen += 1;
    }
    assert!(seen >= 2);
    let mut rng = Rng(7);
    for _ in 0..200 {
        let mut input: Vec<u8> = (0..rng.below(400)).map(|_| rng.next() as u8).collect();
        if input.len() > 9 {
            input[1..9].copy_from_slice(b"PCSTBDL\0");
        }
        bundle_harness::open_bundle_from_bytes(&input);
    }
}
