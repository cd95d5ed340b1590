//! `[generation.prompt]`: the RAG prompt's wording (system text, how each context is shown,
//! the citation instruction, the answer language). It lives in the shared schema so the
//! generation service (which renders it) and the gateway (which keys cached answers on it)
//! compute the same [`PromptSettings::version`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Placeholders a `context_format` may use; `{index}` is required.
pub const CONTEXT_PLACEHOLDERS: [&str; 3] = ["{index}", "{source}", "{text}"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PromptSettings {
    /// Instruction given as the system turn (a one-shot example suits small models).
    pub system: String,
    /// How one context is written in the user turn: `{index}`, `{source}`, `{text}`.
    /// Must contain `[{index}]` so the answer can cite the context as `[n]`.
    pub context_format: String,
    /// Appended to the system text: how to cite. Empty leaves it out.
    pub citation_instruction: String,
    /// Language the answer must be written in, e.g. `English`; empty means "the question's".
    pub answer_language: String,
}

impl Default for PromptSettings {
    fn default() -> Self {
        PromptSettings {
            system: "You answer questions from numbered contexts and cite the context number.\n\
Example:\n\
[1] (facts.txt) Paris is the capital of France.\n\
Question: What is the capital of France?\n\
Answer: The capital of France is Paris [1]."
                .into(),
            context_format: "[{index}] ({source}) {text}".into(),
            citation_instruction: String::new(),
            answer_language: String::new(),
        }
    }
}

impl PromptSettings {
    /// A short stable id of the template (first 12 hex digits of a SHA-256 over every field):
    /// answers made with different wording must not be confused, e.g. by a cache.
    pub fn version(&self) -> String {
        let mut hash = Sha256::new();
        for field in [
            &self.system,
            &self.context_format,
            &self.citation_instruction,
            &self.answer_language,
        ] {
            hash.update((field.len() as u64).to_le_bytes());
            hash.update(field.as_bytes());
        }
        let digest = hash.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Why this template cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !self.context_format.contains("[{index}]") {
            return Some(
                "generation.prompt.context_format must contain \"[{index}]\" (the citation marker)"
                    .into(),
            );
        }
        if self.system.trim().is_empty() {
            return Some("generation.prompt.system must not be empty".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_changes_with_any_field_and_only_then() {
        let base = PromptSettings::default();
        assert_eq!(base.version(), PromptSettings::default().version());
        assert_eq!(base.version().len(), 12);
        let mut other = base.clone();
        other.answer_language = "French".into();
        assert_ne!(other.version(), base.version());
        let mut moved = base.clone();
        moved.citation_instruction = "x".into();
        let mut moved_back = base.clone();
        moved_back.answer_language = "x".into();
        assert_ne!(moved.version(), moved_back.version());
    }

    #[test]
    fn a_format_without_the_marker_is_rejected() {
        let mut p = PromptSettings::default();
        assert!(p.problem().is_none());
        p.context_format = "{index}: {text}".into();
        assert!(p.problem().is_some_and(|m| m.contains("[{index}]")));
    }
}
