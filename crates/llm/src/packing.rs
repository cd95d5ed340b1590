//! Packing the RAG prompt ([`PromptTemplate`]: system turn, then a user turn listing numbered
//! context blocks before the question) into a token budget. Contexts are
//! packed into a token budget counted with the model's real tokenizer: lowest-ranked contexts
//! are dropped first, the last one kept may be shortened at a token boundary, and a `[n]`
//! marker is never cut or renumbered.

use crate::LlmError;
use crate::generator::Context;
use crate::template::{ChatFormat, PromptTemplate};

/// A shortened context keeps at least this many tokens of its text, else it is dropped.
const MIN_PARTIAL_TOKENS: usize = 24;

/// Appended to a context whose text was shortened.
const ELLIPSIS: &str = " …";

/// Counts tokens the way the backend will. Remote backends may count approximately.
pub trait TokenCounter {
    fn count(&self, text: &str) -> Result<usize, LlmError>;
    /// Byte offsets in `text` at which each of its tokens ends, in order.
    fn token_ends(&self, text: &str) -> Result<Vec<usize>, LlmError>;
    /// `text` without strings that would act as chat-control tokens.
    fn neutralize(&self, text: &str) -> String;
}

/// The system and user turns of one RAG question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RagTurns {
    pub system: String,
    pub user: String,
}

/// A prompt ready for the model, and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedPrompt {
    pub text: String,
    pub tokens: usize,
    pub turns: RagTurns,
    /// Indices of the contexts included (in prompt order); the last may be shortened.
    pub contexts_sent: Vec<u32>,
    /// True when the last included context was shortened to fit.
    pub last_shortened: bool,
}

/// Packs RAG prompts for one chat template into a token budget.
#[derive(Debug, Clone)]
pub struct PromptPacker<'a, T: TokenCounter> {
    pub counter: &'a T,
    pub template: ChatFormat,
    /// The wording: system text, context format, citation instruction, language.
    pub prompt: &'a PromptTemplate,
    /// Replaces the template's system text when set.
    pub instruction: Option<&'a str>,
    /// Text of the beginning-of-sequence token when the template writes one.
    pub bos: &'a str,
    pub max_tokens: usize,
}

impl<T: TokenCounter> PromptPacker<'_, T> {
    fn render(&self, query: &str, contexts: &[Context]) -> (String, RagTurns) {
        let system = match self.instruction {
            Some(instruction) => instruction.trim().to_string(),
            None => self.prompt.system_text(),
        };
        let turns = RagTurns {
            system,
            user: self.prompt.user_turn(query, contexts),
        };
        (
            self.template.render(&turns.system, &turns.user, self.bos),
            turns,
        )
    }

    fn measure(&self, query: &str, contexts: &[Context]) -> Result<usize, LlmError> {
        self.counter.count(&self.render(query, contexts).0)
    }

    /// The prompt for `query` with as many of `contexts` (best first) as fit.
    pub fn pack(&self, query: &str, contexts: &[Context]) -> Result<PackedPrompt, LlmError> {
        let query = self.counter.neutralize(query);
        let clean: Vec<Context> = contexts
            .iter()
            .map(|c| Context {
                index: c.index,
                source: self.counter.neutralize(&c.source).replace('\n', " "),
                text: self.counter.neutralize(&c.text),
            })
            .collect();

        let base = self.measure(&query, &[])?;
        if base > self.max_tokens {
            return Err(LlmError::PromptTooLong {
                tokens: base,
                max: self.max_tokens,
            });
        }
        let mut kept: Vec<Context> = Vec::new();
        let mut last_shortened = false;
        for context in clean {
            kept.push(context);
            if self.measure(&query, &kept)? <= self.max_tokens {
                continue;
            }
            // Does not fit whole: keep a shortened copy when enough room is left, then stop.
            let Some(mut context) = kept.pop() else { break };
            if let Some(text) = self.shorten(&query, &kept, &context)? {
                context.text = text;
                kept.push(context);
                last_shortened = true;
            }
            break;
        }
        let (text, turns) = self.render(&query, &kept);
        let tokens = self.counter.count(&text)?;
        Ok(PackedPrompt {
            text,
            tokens,
            turns,
            contexts_sent: kept.iter().map(|c| c.index).collect(),
            last_shortened,
        })
    }

    /// The longest token-prefix of `context.text` that still fits after `kept`, or None
    /// when fewer than [`MIN_PARTIAL_TOKENS`] would fit.
    fn shorten(
        &self,
        query: &str,
        kept: &[Context],
        context: &Context,
    ) -> Result<Option<String>, LlmError> {
        let mut probe = kept.to_vec();
        probe.push(Context {
            text: ELLIPSIS.trim().to_string(),
            ..context.clone()
        });
        let with_header = self.measure(query, &probe)?;
        let Some(room) = self.max_tokens.checked_sub(with_header) else {
            return Ok(None);
        };
        if room < MIN_PARTIAL_TOKENS {
            return Ok(None);
        }
        let text = context.text.trim();
        let ends = self.counter.token_ends(text)?;
        let mut take = room.min(ends.len());
        while take >= MIN_PARTIAL_TOKENS {
            let mut cut = ends[take - 1].min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let candidate = format!("{}{ELLIPSIS}", text[..cut].trim_end());
            probe.pop();
            probe.push(Context {
                text: candidate.clone(),
                ..context.clone()
            });
            let total = self.measure(query, &probe)?;
            if total <= self.max_tokens {
                return Ok(Some(candidate));
            }
            take = take.saturating_sub((total - self.max_tokens).max(1));
        }
        Ok(None)
    }
}
