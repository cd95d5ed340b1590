//! Document metadata and search filters: string key/value maps, validated once here so both
//! indexes accept the same keys and a filter always means an exact match.

use crate::IndexError;
use std::collections::BTreeMap;

/// Key/value metadata of a document, copied onto each of its chunks. Ordered so that stored
/// and returned metadata is deterministic.
pub type Metadata = BTreeMap<String, String>;

/// Exact-match filters: every entry must match. The key `source` matches the document's
/// source name; any other key matches the metadata value under that key.
pub type Filters = BTreeMap<String, String>;

/// The filter key that matches a document's source rather than its metadata.
pub const SOURCE_FILTER_KEY: &str = "source";

pub const MAX_METADATA_KEY_BYTES: usize = 128;
pub const MAX_METADATA_VALUE_BYTES: usize = 4096;
pub const MAX_METADATA_ENTRIES: usize = 64;

/// Checks sizes of metadata or filter entries (`what` names them in the message).
pub fn validate_entries(entries: &BTreeMap<String, String>, what: &str) -> Result<(), IndexError> {
    if entries.len() > MAX_METADATA_ENTRIES {
        return Err(IndexError::invalid(format!(
            "{what}: at most {MAX_METADATA_ENTRIES} entries, got {}",
            entries.len()
        )));
    }
    for (key, value) in entries {
        if key.is_empty() || key.len() > MAX_METADATA_KEY_BYTES {
            return Err(IndexError::invalid(format!(
                "{what}: keys must have 1-{MAX_METADATA_KEY_BYTES} bytes, got {key:?}"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(IndexError::invalid(format!(
                "{what}: key {key:?} contains control characters"
            )));
        }
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(IndexError::invalid(format!(
                "{what}: value of {key:?} is longer than {MAX_METADATA_VALUE_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_long_and_control_keys_and_long_values() {
        let ok: Metadata = [("lang".to_string(), "en".to_string())].into();
        assert!(validate_entries(&ok, "metadata").is_ok());
        for (k, v) in [
            (String::new(), "x".to_string()),
            ("k".repeat(129), "x".to_string()),
            ("a\nb".to_string(), "x".to_string()),
            ("k".to_string(), "v".repeat(4097)),
        ] {
            let bad: Metadata = [(k, v)].into();
            assert!(validate_entries(&bad, "metadata").is_err());
        }
    }
}
