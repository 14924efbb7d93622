//! Fuzz target: open a bundle file holding arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bundle_harness.rs"]
mod bundle_harness;

fuzz_target!(|data: &[u8]| {
    bundle_harness::open_bundle_from_bytes(data);
});
