//! The C ABI's default store and the Vulkan layer's store come from one configuration: the same
//! variables give both the same tiers and budgets. (A test module at the crate root, since
//! neither front end may import the other.)

use crate::config::tests::vars;
use crate::config::StorePlan;
use crate::ffi::default_store_plan;
use crate::layer::store_plan as layer_store_plan;

#[test]
fn the_layer_and_the_c_default_store_plan_the_same_store() {
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("HOME", "/home/u")],
        &[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")],
        &[("PCSTORE_DIR", "/d"), ("PCSTORE_MAX_SIZE", "1 G")],
        &[("PCSTORE_DIR", "/d"), ("PCSTORE_MAX_SIZE", "64k")],
        &[("PCSTORE_DIR", "/d"), ("PCSTORE_MAX_SIZE", "3 TiB")],
        &[("PCSTORE_DIR", "/d"), ("PCSTORE_DISABLE", "false")],
        &[("PCSTORE_DIR", "/d"), ("PCSTORE_DISABLE", "On")],
        &[
            ("PCSTORE_DIR", "/d"),
            ("PCSTORE_REMOTE_URL", "http://cache:9090"),
            ("PCSTORE_REMOTE_READ_ONLY", "TRUE"),
            ("PCSTORE_REMOTE_TOKEN", "t"),
        ],
    ];
    for pairs in cases {
        let c = default_store_plan(&vars(pairs)).map_err(|error| error.message);
        let layer = layer_store_plan(&vars(pairs));
        assert_eq!(c.as_ref(), Ok(&layer), "{pairs:?}");
    }
}

#[test]
fn where_the_c_store_refuses_a_value_the_layer_uses_the_default() {
    let cases: &[(&str, &str)] = &[
        ("PCSTORE_MAX_SIZE", "0"),
        ("PCSTORE_MAX_SIZE", "lots"),
        ("PCSTORE_MAX_SIZE", "1.5G"),
        ("PCSTORE_DISABLE", "maybe"),
    ];
    let without: StorePlan = layer_store_plan(&vars(&[("PCSTORE_DIR", "/d")]));
    for &(name, value) in cases {
        let pairs = [("PCSTORE_DIR", "/d"), (name, value)];
        let refused = default_store_plan(&vars(&pairs))
            .err()
            .unwrap_or_else(|| panic!("{name}={value} accepted by the C store"));
        assert!(
            refused.message.contains(&format!("{name}={value:?}")),
            "{}",
            refused.message
        );
        assert_eq!(layer_store_plan(&vars(&pairs)), without, "{name}={value}");
    }
}
