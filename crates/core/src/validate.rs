//! Validation of user-supplied names that end up in file paths and index keys. Done once
//! here so every service rejects the same inputs with the same message.

use crate::{Classify, ErrorCode};

/// Errors of the core crate: inputs that fail validation.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(
        "invalid collection name {0:?}: use 1-64 characters from A-Z a-z 0-9 _ . - and no '..'"
    )]
    InvalidCollection(String),
}

impl Classify for CoreError {
    fn code(&self) -> ErrorCode {
        match self {
            CoreError::InvalidCollection(_) => ErrorCode::InvalidArgument,
        }
    }
}

/// Accepts `[A-Za-z0-9_.-]{1,64}` without `..` and not `.` alone.
pub fn validate_collection(name: &str) -> Result<&str, CoreError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !name.contains("..")
        && name != ".";
    if ok {
        Ok(name)
    } else {
        Err(CoreError::InvalidCollection(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_rejects_path_tricks() {
        for good in ["default", "docs_v1.2", "A-b_c", &"x".repeat(64)] {
            assert!(validate_collection(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            "a/b",
            "a b",
            "é",
            &"x".repeat(65),
            "../etc",
        ] {
            assert!(validate_collection(bad).is_err(), "{bad}");
        }
    }
}
