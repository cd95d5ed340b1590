//! The wording of the RAG prompt, configurable per deployment: the system text, how each
//! numbered context is written, the citation instruction and the answer language. Rendering is
//! a single pass over the context format, so a context whose text happens to contain
//! `{source}` is never expanded twice.

use crate::generator::Context;

/// The system instruction of the default template. A one-shot example works better than rules
/// for SmolLM2-135M (tuned by eye on questions over distinct invented topics).
pub const SYSTEM_PROMPT: &str = "You answer questions from numbered contexts and cite the context number.\n\
Example:\n\
[1] (facts.txt) Paris is the capital of France.\n\
Question: What is the capital of France?\n\
Answer: The capital of France is Paris [1].";

/// How one context is written by default.
pub const CONTEXT_FORMAT: &str = "[{index}] ({source}) {text}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    pub system: String,
    /// `{index}`, `{source}` and `{text}` are replaced; must contain `[{index}]`.
    pub context_format: String,
    /// Appended to the system text when not empty.
    pub citation_instruction: String,
    /// When not empty, the system text ends with "Answer in {language}.".
    pub answer_language: String,
}

impl Default for PromptTemplate {
    fn default() -> Self {
        PromptTemplate {
            system: SYSTEM_PROMPT.into(),
            context_format: CONTEXT_FORMAT.into(),
            citation_instruction: String::new(),
            answer_language: String::new(),
        }
    }
}

impl PromptTemplate {
    /// The whole system turn.
    pub fn system_text(&self) -> String {
        let mut out = self.system.trim().to_string();
        let instruction = self.citation_instruction.trim();
        if !instruction.is_empty() {
            out.push('\n');
            out.push_str(instruction);
        }
        let language = self.answer_language.trim();
        if !language.is_empty() {
            out.push_str(&format!("\nAnswer in {language}."));
        }
        out
    }

    /// One context as the format writes it.
    pub fn context_block(&self, context: &Context) -> String {
        let mut out = String::with_capacity(self.context_format.len() + context.text.len());
        let mut rest = self.context_format.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let value = if after.starts_with("{index}") {
                Some(context.index.to_string())
            } else if after.starts_with("{source}") {
                Some(context.source.trim().to_string())
            } else if after.starts_with("{text}") {
                Some(context.text.trim().to_string())
            } else {
                None
            };
            match value {
                Some(value) => {
                    out.push_str(&value);
                    let close = after.find('}').map_or(after.len(), |c| c + 1);
                    rest = &after[close..];
                }
                None => {
                    out.push('{');
                    rest = &after[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The user turn: numbered context blocks, then the question.
    pub fn user_turn(&self, query: &str, contexts: &[Context]) -> String {
        let mut out = String::new();
        if contexts.is_empty() {
            out.push_str("There are no contexts.\n\n");
        } else {
            out.push_str("Contexts:\n\n");
            for c in contexts {
                out.push_str(&self.context_block(c));
                out.push_str("\n\n");
            }
        }
        out.push_str(&format!("Question: {}\nAnswer:", query.trim()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(text: &str) -> Context {
        Context {
            index: 3,
            source: " a.md ".into(),
            text: text.into(),
        }
    }

    #[test]
    fn placeholders_are_replaced_once_and_unknown_braces_kept() {
        let t = PromptTemplate {
            context_format: "<{source}> {text} [{index}] {other}".into(),
            ..PromptTemplate::default()
        };
        assert_eq!(
            t.context_block(&context("says {source}")),
            "<a.md> says {source} [3] {other}"
        );
        assert_eq!(
            PromptTemplate::default().context_block(&context("x")),
            "[3] (a.md) x"
        );
    }

    #[test]
    fn system_text_carries_instruction_and_language() {
        let t = PromptTemplate {
            system: "S".into(),
            citation_instruction: "Cite as [n].".into(),
            answer_language: "French".into(),
            ..PromptTemplate::default()
        };
        assert_eq!(t.system_text(), "S\nCite as [n].\nAnswer in French.");
        assert_eq!(PromptTemplate::default().system_text(), SYSTEM_PROMPT);
    }
}
