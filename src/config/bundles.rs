//! `PCSTORE_BUNDLES` and `PCSTORE_BUNDLE_KEY`: read-only bundles a game ships, layered under
//! the writable disk tier of the default store (and so of the Vulkan layer).
//!
//! `PCSTORE_BUNDLES` is a list of bundle files separated by `:` (as `PATH`; empty entries are
//! skipped), at most [`MAX_BUNDLES`], searched in the order given. `PCSTORE_BUNDLE_KEY` is the
//! studio's Ed25519 public key as 64 hex digits: with it, only bundles signed with that key
//! open. A key that does not parse never means "no key": the bundles are then left out.

use std::path::PathBuf;

use super::{ConfigError, Reader, Secrecy};
use crate::fingerprint::PipelineFingerprint;

/// `PCSTORE_BUNDLES`.
pub(crate) const BUNDLES: &str = "PCSTORE_BUNDLES";
/// `PCSTORE_BUNDLE_KEY`.
pub(crate) const BUNDLE_KEY: &str = "PCSTORE_BUNDLE_KEY";
/// Most bundles layered (as Mesa's eight read-only databases): each costs its index in memory
/// and one lookup per miss.
pub const MAX_BUNDLES: usize = 8;

/// The bundles the default store layers under its disk tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BundleSettings {
    /// Bundle files, fastest-searched first.
    pub paths: Vec<PathBuf>,
    /// The public key every bundle must be signed with, if one is configured.
    pub public_key: Option<[u8; 32]>,
}

impl BundleSettings {
    /// Reads both variables; unusable values are recorded in `reader` and leave out what they
    /// concern (more than [`MAX_BUNDLES`]: the first eight are used; a bad key: no bundle).
    pub(super) fn read(reader: &mut Reader) -> Self {
        let mut paths: Vec<PathBuf> = reader
            .raw(BUNDLES)
            .map(|list| {
                std::env::split_paths(&list)
                    .filter(|path| !path.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if paths.len() > MAX_BUNDLES {
            reader.errors.push(ConfigError {
                variable: BUNDLES,
                value: None,
                problem: "lists more than 8 bundles (the first 8 are used)",
            });
            paths.truncate(MAX_BUNDLES);
        }
        let public_key = match reader.text(BUNDLE_KEY, Secrecy::Shown) {
            None if reader.raw(BUNDLE_KEY).is_some() => {
                paths.clear(); // not UTF-8 (recorded): not a key, so no bundle is trusted
                None
            }
            None => None,
            Some(text) => match PipelineFingerprint::from_hex(text.trim()) {
                Ok(key) => Some(key.0),
                Err(_) => {
                    reader.errors.push(ConfigError {
                        variable: BUNDLE_KEY,
                        value: Some(text),
                        problem: "is not an Ed25519 public key (64 hex digits); no bundle is \
                                  opened without the key meant to check it",
                    });
                    paths.clear();
                    None
                }
            },
        };
        Self { paths, public_key }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::vars;
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (BundleSettings, Vec<ConfigError>) {
        let vars = vars(pairs);
        let mut reader = Reader::new(&vars);
        let settings = BundleSettings::read(&mut reader);
        (settings, reader.errors)
    }

    #[test]
    fn a_colon_separated_list_in_order_skipping_empty_entries() {
        let (settings, errors) = read(&[(BUNDLES, "/games/a.pcsb::b.pcsb:")]);
        assert!(errors.is_empty());
        assert_eq!(
            settings.paths,
            [PathBuf::from("/games/a.pcsb"), PathBuf::from("b.pcsb")]
        );
        assert_eq!(settings.public_key, None);
        assert_eq!(read(&[(BUNDLES, "  ")]).0, BundleSettings::default());
    }

    #[test]
    fn at_most_eight_bundles() {
        let list: Vec<String> = (0..9).map(|n| format!("/b/{n}.pcsb")).collect();
        let (settings, errors) = read(&[(BUNDLES, &list.join(":"))]);
        assert_eq!(settings.paths.len(), 8);
        assert_eq!(settings.paths[7], PathBuf::from("/b/7.pcsb"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].variable(), BUNDLES);
    }

    #[test]
    fn a_key_is_64_hex_digits_and_a_bad_one_opens_no_bundle() {
        let hex = "ab".repeat(32);
        let (settings, errors) = read(&[(BUNDLES, "/a.pcsb"), (BUNDLE_KEY, &hex)]);
        assert!(errors.is_empty());
        assert_eq!(settings.public_key, Some([0xab; 32]));
        let (settings, errors) = read(&[(BUNDLES, "/a.pcsb"), (BUNDLE_KEY, "abcd")]);
        assert_eq!(settings, BundleSettings::default());
        assert_eq!(errors[0].variable(), BUNDLE_KEY);
        assert!(errors[0].to_string().contains("\"abcd\""));
    }
}
