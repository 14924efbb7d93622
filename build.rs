//! Sets the SONAME of the C shared library on Linux: `libpcstore.so.<ABI major>`, the name the
//! dynamic linker records in programs built against it. Major 0 while the ABI is pre-1.0; it
//! changes only if a published function or struct ever changes incompatibly (appending, the
//! only allowed evolution, keeps it).
//!
//! No version script: rustc already links a cdylib with its own script that exports exactly
//! the `#[no_mangle] extern "C"` functions and hides everything else, and a second script
//! cannot narrow it (GNU ld lets the explicit globals win). `scripts/test-c.sh` checks with
//! `nm -D` that every exported symbol starts with `pcs_`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpcstore.so.0");
    }
}
