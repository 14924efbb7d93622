//! The version numbers C sees agree with Cargo.toml: the `#define`s in the committed
//! `include/pcstore.h`, the Rust constants they come from, and the exported functions.

use std::ffi::CStr;

use pcstore::ffi;

/// The value of `#define NAME value` in the committed header.
fn header_define(name: &str) -> u32 {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/pcstore.h"))
        .expect("include/pcstore.h is committed");
    let prefix = format!("#define {name} ");
    let line = header
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{name} is not defined in include/pcstore.h"));
    line[prefix.len()..]
        .trim()
        .parse()
        .expect("a decimal value")
}

fn cargo_part(part: &str) -> u32 {
    part.parse().expect("Cargo.toml version parts are numbers")
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let cargo = [
        cargo_part(env!("CARGO_PKG_VERSION_MAJOR")),
        cargo_part(env!("CARGO_PKG_VERSION_MINOR")),
        cargo_part(env!("CARGO_PKG_VERSION_PATCH")),
    ];
    let header = [
        header_define("PCS_VERSION_MAJOR"),
        header_define("PCS_VERSION_MINOR"),
        header_define("PCS_VERSION_PATCH"),
    ];
    let rust = [
        ffi::PCS_VERSION_MAJOR,
        ffi::PCS_VERSION_MINOR,
        ffi::PCS_VERSION_PATCH,
    ];
    assert_eq!(
        header, cargo,
        "regenerate the header after bumping Cargo.toml"
    );
    assert_eq!(
        rust, cargo,
        "update src/ffi/version.rs after bumping Cargo.toml"
    );
}

#[test]
fn version_functions_report_what_the_header_says() {
    assert_eq!(ffi::pcs_abi_version(), header_define("PCS_ABI_VERSION"));
    assert_eq!(ffi::pcs_abi_version(), ffi::PCS_ABI_VERSION);
    // SAFETY: pcs_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(ffi::pcs_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

fn committed_header(name: &str) -> String {
    std::fs::read_to_string(format!("{}/include/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|err| panic!("include/{name} is committed: {err}"))
}

/// The function-pointer fields of `typedef struct NAME { ... } NAME;`, in order.
fn table_entries(header: &str, name: &str) -> Vec<String> {
    let start = format!("typedef struct {name} {{");
    let body = header
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once(&format!("}} {name};")))
        .unwrap_or_else(|| panic!("no struct {name} in the header"))
        .0;
    body.lines()
        .filter_map(|line| line.split_once("(*")?.1.split_once(')'))
        .map(|(entry, _)| entry.to_owned())
        .collect()
}

#[test]
fn abi_history_names_every_table_entry_in_table_order() {
    let header = committed_header("pcstore.h");
    // The doc comment cbindgen writes above the define: the history C users read.
    let history = header
        .split_once("#define PCS_ABI_VERSION ")
        .and_then(|(before, _)| before.rsplit_once("/**"))
        .expect("PCS_ABI_VERSION is documented in include/pcstore.h")
        .1;
    let tables = [
        ("pcs_", table_entries(&header, "pcs_api")),
        (
            "pcs_vk_",
            table_entries(&committed_header("pcstore_vulkan.h"), "pcs_vk_api"),
        ),
    ];
    for (prefix, entries) in tables {
        assert!(entries.len() > 5, "{prefix}: entries found: {entries:?}");
        let mut from = 0;
        for entry in entries {
            let function = format!("`{prefix}{entry}`");
            let at = history[from..].find(&function).unwrap_or_else(|| {
                panic!("the ABI history (src/ffi/version.rs) does not name {function} after the entries before it in its table:\n{history}")
            });
            from += at + function.len();
        }
    }
}
