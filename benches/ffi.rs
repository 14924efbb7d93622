//! The cost of the C ABI on a memory hit, beside the Rust call it wraps, in one run:
//! - `get_arc` (Rust, baseline) vs `pcs_get_blob` + `pcs_blob_release` (zero-copy C path);
//! - `get_arc` + copy into a buffer (Rust baseline) vs `pcs_get` into a caller buffer.
//!
//! The extern "C" functions are called straight from Rust (they are ordinary functions of the
//! rlib), on the same store object the Rust calls use, so the difference is the boundary
//! itself: argument checks, `catch_unwind`, handle casts. The variants take turns in short
//! chunks and each reports its median chunk, so load from other processes hits all of them
//! alike. `cargo bench --bench ffi`.

use std::hint::black_box;
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use pcstore::ffi::{
    pcs_blob, pcs_blob_data, pcs_blob_release, pcs_fingerprint, pcs_get, pcs_get_blob, pcs_put,
    pcs_result, pcs_store, pcs_store_open_memory, pcs_store_release,
};
use pcstore::{InMemoryPipelineCache, PipelineCacheStore, PipelineFingerprint};

const KEYS: usize = 1024;
const BLOB: usize = 4096;
/// Calls per timed chunk (two passes over the keys).
const CHUNK: usize = 2 * KEYS;
/// Chunks per variant.
const CHUNKS: usize = 500;

/// Nanoseconds per call of `op(key index)` over one chunk.
fn chunk(op: &mut impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for i in 0..CHUNK {
        op(i % KEYS);
    }
    start.elapsed().as_nanos() as f64 / CHUNK as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // Two stores with identical contents and limits: one behind a C handle, one in Rust. The
    // Rust one is called both concretely (inlinable, the fastest a Rust caller gets) and through
    // `dyn PipelineCacheStore` (what the handle does inside; `black_box` keeps the compiler
    // from devirtualizing it).
    let mut handle: *mut pcs_store = ptr::null_mut();
    // SAFETY: NULL options are allowed; `handle` is a valid out-pointer.
    let opened = unsafe { pcs_store_open_memory(ptr::null(), &mut handle) };
    assert_eq!(opened, pcs_result::PCS_OK);
    let concrete = Arc::new(InMemoryPipelineCache::new());
    let rust: Arc<dyn PipelineCacheStore> = black_box(concrete.clone());

    let keys: Vec<PipelineFingerprint> = (0..KEYS)
        .map(|i| PipelineFingerprint::of(&(i as u64).to_le_bytes()))
        .collect();
    let c_keys: Vec<pcs_fingerprint> = keys
        .iter()
        .map(|k| pcs_fingerprint { bytes: k.0 })
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let blob = vec![i as u8; BLOB];
        // SAFETY: live handle, valid key, `blob` readable for its length.
        let put = unsafe { pcs_put(handle, &c_keys[i], blob.as_ptr().cast(), blob.len()) };
        assert_eq!(put, pcs_result::PCS_OK);
        rust.put(*key, blob);
    }

    let mut rust_buffer = vec![0u8; BLOB];
    let mut c_buffer = vec![0u8; BLOB];
    let mut inlined = |i: usize| {
        let blob = concrete.get_arc(black_box(&keys[i])).expect("hit");
        black_box(blob.as_ptr());
    };
    let mut arc = |i: usize| {
        let blob = rust.get_arc(black_box(&keys[i])).expect("hit");
        black_box(blob.as_ptr());
    };
    let mut blob = |i: usize| {
        let mut blob: *mut pcs_blob = ptr::null_mut();
        // SAFETY: live handle, valid key and out-pointer; the blob is released once.
        unsafe {
            let found = pcs_get_blob(handle, black_box(&c_keys[i]), &mut blob);
            debug_assert_eq!(found, pcs_result::PCS_OK);
            black_box(pcs_blob_data(blob));
            pcs_blob_release(blob);
        }
    };
    let mut arc_copy = |i: usize| {
        let blob = rust.get_arc(black_box(&keys[i])).expect("hit");
        rust_buffer.copy_from_slice(&blob);
        black_box(rust_buffer.as_ptr());
    };
    let mut get = |i: usize| {
        let mut len = c_buffer.len();
        // SAFETY: live handle, valid key; `c_buffer` is writable for `len` bytes.
        unsafe {
            let found = pcs_get(
                handle,
                black_box(&c_keys[i]),
                c_buffer.as_mut_ptr().cast(),
                &mut len,
            );
            debug_assert_eq!(found, pcs_result::PCS_OK);
        }
        black_box(c_buffer.as_ptr());
    };
    let mut results: [Vec<f64>; 5] = Default::default();
    for _ in 0..CHUNKS {
        results[0].push(chunk(&mut inlined));
        results[1].push(chunk(&mut arc));
        results[2].push(chunk(&mut blob));
        results[3].push(chunk(&mut arc_copy));
        results[4].push(chunk(&mut get));
    }
    // SAFETY: we own the only reference.
    unsafe { pcs_store_release(handle) };

    let [inlined, arc, blob, arc_copy, get]: [f64; 5] = results.map(median);
    println!("C ABI cost on a memory hit ({KEYS} keys, {BLOB}-byte blobs, median of {CHUNKS} interleaved chunks of {CHUNK} calls, 1 thread)");
    println!("  Rust get_arc, concrete (inlined)   {inlined:7.1} ns/op");
    println!("  Rust get_arc via dyn store         {arc:7.1} ns/op   (baseline)");
    println!(
        "  pcs_get_blob + pcs_blob_release    {blob:7.1} ns/op   {:+6.1} ns  x{:.2}",
        blob - arc,
        blob / arc
    );
    println!("  Rust get_arc (dyn) + copy          {arc_copy:7.1} ns/op   (baseline)");
    println!(
        "  pcs_get into caller buffer         {get:7.1} ns/op   {:+6.1} ns  x{:.2}",
        get - arc_copy,
        get / arc_copy
    );
}
