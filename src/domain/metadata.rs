//! Metadata: the bounded string-to-string map any object may carry, and how updates merge into it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MAX_METADATA_KEYS: usize = 50;
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
/// The longest piece of an offending key echoed back in an error message.
const MAX_ECHOED_KEY_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata may hold at most {MAX_METADATA_KEYS} keys; this would hold {count}")]
    TooManyKeys { count: usize },
    #[error("metadata keys must not be empty")]
    EmptyKey,
    #[error("metadata key '{key}' is {length_chars} characters long; keys may have at most {MAX_METADATA_KEY_CHARS}")]
    KeyTooLong { key: String, length_chars: usize },
    #[error("metadata key '{key}' contains '[' or ']', which keys may not contain")]
    KeyHasBracket { key: String },
    #[error("the value of metadata key '{key}' is {length_chars} characters long; values may have at most {MAX_METADATA_VALUE_CHARS}")]
    ValueTooLong { key: String, length_chars: usize },
}

impl MetadataError {
    /// The input parameter at fault, for the API error's `param`.
    pub fn param(&self) -> &'static str {
        "metadata"
    }
}

/// A validated metadata map. Empty values never appear in it: an empty value means "unset".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub fn empty() -> Metadata {
        Metadata::default()
    }

    /// Validates a map given at creation. Keys with an empty value are dropped, since there is
    /// nothing to unset yet.
    pub fn parse(map: BTreeMap<String, String>) -> Result<Metadata, MetadataError> {
        Metadata::empty().merged_with(map)
    }

    /// Applies an update: non-empty values set their key, empty values unset it. The update
    /// itself and the merged result are both held to the limits, so the update may not carry
    /// more than `MAX_METADATA_KEYS` keys either.
    pub fn merged_with(&self, update: BTreeMap<String, String>) -> Result<Metadata, MetadataError> {
        if update.len() > MAX_METADATA_KEYS {
            return Err(MetadataError::TooManyKeys {
                count: update.len(),
            });
        }
        let mut merged = self.0.clone();
        for (key, value) in update {
            check_entry(&key, &value)?;
            if value.is_empty() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        if merged.len() > MAX_METADATA_KEYS {
            return Err(MetadataError::TooManyKeys {
                count: merged.len(),
            });
        }
        Ok(Metadata(merged))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_entry(key: &str, value: &str) -> Result<(), MetadataError> {
    let echoed = || key.chars().take(MAX_ECHOED_KEY_CHARS).collect::<String>();
    if key.is_empty() {
        return Err(MetadataError::EmptyKey);
    }
    let key_chars = key.chars().count();
    if key_chars > MAX_METADATA_KEY_CHARS {
        return Err(MetadataError::KeyTooLong {
            key: echoed(),
            length_chars: key_chars,
        });
    }
    if key.contains(['[', ']']) {
        return Err(MetadataError::KeyHasBracket { key: echoed() });
    }
    let value_chars = value.chars().count();
    if value_chars > MAX_METADATA_VALUE_CHARS {
        return Err(MetadataError::ValueTooLong {
            key: echoed(),
            length_chars: value_chars,
        });
    }
    Ok(())
}

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = MetadataError;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        Metadata::parse(map)
    }
}

impl From<Metadata> for BTreeMap<String, String> {
    fn from(metadata: Metadata) -> Self {
        metadata.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn many_keys(count: usize, prefix: &str) -> BTreeMap<String, String> {
        (0..count)
            .map(|index| (format!("{prefix}{index}"), "v".to_owned()))
            .collect()
    }

    #[test]
    fn parse_checks_every_limit_and_names_the_key() {
        let long_key = "k".repeat(41);
        let long_value = "v".repeat(501);
        let cases: Vec<(BTreeMap<String, String>, Result<usize, MetadataError>)> = vec![
            (map(&[("order", "42")]), Ok(1)),
            (map(&[("order", "")]), Ok(0)),
            (map(&[(&"k".repeat(40), &"v".repeat(500))]), Ok(1)),
            (many_keys(50, "k"), Ok(50)),
            (
                many_keys(51, "k"),
                Err(MetadataError::TooManyKeys { count: 51 }),
            ),
            (map(&[("", "x")]), Err(MetadataError::EmptyKey)),
            (
                map(&[(&long_key, "x")]),
                Err(MetadataError::KeyTooLong {
                    key: long_key.clone(),
                    length_chars: 41,
                }),
            ),
            (
                map(&[("items[0]", "x")]),
                Err(MetadataError::KeyHasBracket {
                    key: "items[0]".into(),
                }),
            ),
            (
                map(&[("note", &long_value)]),
                Err(MetadataError::ValueTooLong {
                    key: "note".into(),
                    length_chars: 501,
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Metadata::parse(input).map(|metadata| metadata.len()),
                expected
            );
        }
    }

    #[test]
    fn messages_name_the_offending_key() {
        let error = Metadata::parse(map(&[("a]", "x")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "metadata key 'a]' contains '[' or ']', which keys may not contain"
        );
        let error = Metadata::parse(map(&[("note", &"é".repeat(501))])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the value of metadata key 'note' is 501 characters long; values may have at most 500"
        );
    }

    #[test]
    fn merging_sets_overwrites_and_unsets() {
        let existing = Metadata::parse(map(&[("a", "1"), ("b", "2")])).expect("parse");
        let merged = existing
            .merged_with(map(&[("a", ""), ("b", "3"), ("c", "4"), ("missing", "")]))
            .expect("merge");
        assert_eq!(merged.as_map(), &map(&[("b", "3"), ("c", "4")]));
    }

    #[test]
    fn merging_may_not_exceed_the_key_limit() {
        let existing = Metadata::parse(many_keys(50, "old")).expect("parse");
        assert_eq!(
            existing.merged_with(map(&[("new", "x")])),
            Err(MetadataError::TooManyKeys { count: 51 })
        );
        let replaced = existing
            .merged_with(map(&[("old0", ""), ("new", "x")]))
            .expect("merge");
        assert_eq!(replaced.len(), 50);
    }

    #[test]
    fn stored_metadata_is_checked_when_read_back() {
        let json = serde_json::to_string(&Metadata::parse(map(&[("a", "1")])).expect("parse"))
            .expect("serialize");
        assert_eq!(json, r#"{"a":"1"}"#);
        assert!(serde_json::from_str::<Metadata>(r#"{"a[":"1"}"#).is_err());
    }
}
