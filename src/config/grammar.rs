//! The one grammar of every `PCSTORE_*` value: sizes, booleans, whole numbers, durations.
//!
//! Each parser takes the value with surrounding whitespace and says what is wrong in words a
//! user can act on; [`super::ConfigError`] adds the variable's name and the value.

use std::time::Duration;

/// Parses a size: a whole number of bytes with an optional unit, `1073741824`, `512M`, `512 MiB`,
/// `2g`, `2GB`, `1 T`. Units are binary (K = 2^10 ... T = 2^40) whatever their spelling (`KB`,
/// `KiB` and `K` all mean 1024, as in Mesa's `MESA_SHADER_CACHE_MAX_SIZE`), case-insensitive;
/// spaces may separate the number and the unit; `B` alone is bytes. No signs, fractions or
/// digit separators.
pub(super) fn size(text: &str) -> Result<u64, &'static str> {
    const EXPECTED: &str = "is not a size: a whole number of bytes with an optional K, M, G or T \
                            (binary units, optionally followed by iB or B), e.g. 512M or 2 GiB";
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(EXPECTED);
    }
    let shift = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(EXPECTED),
    };
    const TOO_LARGE: &str = "is larger than 2^64 bytes";
    digits
        .parse::<u64>()
        .map_err(|_| TOO_LARGE)?
        .checked_mul(1 << shift)
        .ok_or(TOO_LARGE)
}

/// Parses a boolean: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`, case-insensitive.
/// Anything else is an error, never silently "on": `PCSTORE_DISABLE=false` must not disable.
pub(super) fn boolean(text: &str) -> Result<bool, &'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("is not a boolean: use 1, true, yes or on; 0, false, no or off"),
    }
}

/// Parses a whole number (ASCII digits only).
#[cfg_attr(not(feature = "layer"), allow(dead_code))] // only the layer's variables need it
pub(super) fn whole_number(text: &str) -> Result<u64, &'static str> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("is not a whole number");
    }
    text.parse().map_err(|_| "is larger than 2^64")
}

/// Parses a duration: a whole number and a unit, `s`, `m`, `h` or `d` (seconds, minutes, hours,
/// days; `sec`, `min`, `hours`, `days` and other spellings of them too), case-insensitive,
/// spaces allowed before the unit: `30d`, `12 h`, `90min`. The unit is required (a bare `30`
/// could mean days as much as seconds); `30d` is also what `pcstore prune --stale-after` takes.
pub(super) fn duration(text: &str) -> Result<Duration, &'static str> {
    const EXPECTED: &str = "is not a duration: a whole number and a unit, s, m, h or d, e.g. 30d";
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let seconds: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(EXPECTED),
    };
    if digits.is_empty() {
        return Err(EXPECTED);
    }
    const TOO_LONG: &str = "is longer than 2^64 seconds";
    let count: u64 = digits.parse().map_err(|_| TOO_LONG)?;
    Ok(Duration::from_secs(
        count.checked_mul(seconds).ok_or(TOO_LONG)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        for (text, seconds) in [
            ("30d", 30 * 86_400),
            (" 12 h ", 12 * 3600),
            ("90MIN", 90 * 60),
            ("45s", 45),
            ("2 days", 2 * 86_400),
            ("0s", 0),
        ] {
            assert_eq!(duration(text), Ok(Duration::from_secs(seconds)), "{text:?}");
        }
        for text in [
            "30",
            "d",
            "",
            "1.5d",
            "-1d",
            "3w",
            "1d2h",
            "99999999999999999999d",
        ] {
            assert!(duration(text).is_err(), "{text:?} accepted");
        }
        assert!(duration(&format!("{}d", u64::MAX / 86_400 + 1)).is_err());
    }

    #[test]
    fn sizes_take_binary_units_in_any_spelling_and_spacing() {
        for (text, bytes) in [
            ("4096", 4096),
            ("4096B", 4096),
            ("4096 b", 4096),
            ("64k", 64 << 10),
            ("64KB", 64 << 10),
            ("64 KiB", 64 << 10),
            ("512M", 512 << 20),
            ("512mib", 512 << 20),
            (" 2G ", 2 << 30),
            ("1 G", 1 << 30),
            ("1 GiB", 1 << 30),
            ("1gb", 1 << 30),
            ("3T", 3 << 40),
            ("3 TiB", 3 << 40),
            ("0", 0),
            ("16777215T", 16_777_215 << 40),
        ] {
            assert_eq!(size(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn sizes_refuse_everything_else() {
        for text in [
            "", " ", "G", "GiB", "-1", "+1", "1.5G", "1,000", "1_000", "12P", "1 iB", "1 GiBs",
            "1 G B", "1G1", "lots", "0x10", "1e9",
        ] {
            assert!(size(text).is_err(), "{text:?} was accepted");
        }
        assert_eq!(size("16777216T"), Err("is larger than 2^64 bytes"));
        assert_eq!(
            size("99999999999999999999"),
            Err("is larger than 2^64 bytes")
        );
    }

    #[test]
    fn booleans_have_four_spellings_each_way_and_nothing_else() {
        for text in ["1", "true", "TRUE", "Yes", "on", " ON "] {
            assert_eq!(boolean(text), Ok(true), "{text:?}");
        }
        for text in ["0", "false", "FALSE", "no", "Off", " off "] {
            assert_eq!(boolean(text), Ok(false), "{text:?}");
        }
        for text in ["", "2", "y", "n", "enabled", "truee", "-1"] {
            assert!(boolean(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn whole_numbers_are_digits_only() {
        assert_eq!(whole_number(" 250 "), Ok(250));
        assert_eq!(whole_number("0"), Ok(0));
        for text in [
            "",
            "-5",
            "+5",
            "2.5",
            "1e3",
            "100ms",
            "99999999999999999999",
        ] {
            assert!(whole_number(text).is_err(), "{text:?} was accepted");
        }
    }
}
