//! Fuzz target: open a store whose segment (and index) files hold arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::open_store_from_bytes(data);
});
