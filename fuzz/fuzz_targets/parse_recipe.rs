//! Fuzz target: parse (and, when accepted, re-serialize and build) arbitrary recipe bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../recipe_harness.rs"]
mod recipe_harness;

fuzz_target!(|data: &[u8]| {
    recipe_harness::parse_recipe(data);
});
