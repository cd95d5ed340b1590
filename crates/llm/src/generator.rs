//! The backend-neutral face of text generation: what a caller asks for, what it gets back,
//! and the [`Generator`] trait every backend (embedded GGUF, Ollama, OpenAI-compatible servers)
//! implements. Answers are streams so callers can forward tokens as they come
//! and cancel by dropping the stream.

use crate::LlmError;
use futures::stream::BoxStream;
use std::collections::HashSet;

/// Largest context number a request may carry (far above any k the gateway allows).
pub const MAX_CONTEXT_INDEX: u32 = 1000;

/// One numbered passage the answer may use and cite as `[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// 1-based number shown in the prompt; the answer cites it as `[index]`.
    pub index: u32,
    pub source: String,
    pub text: String,
}

/// A question and its contexts, best-ranked first.
#[derive(Debug, Clone, Default)]
pub struct GenerationRequest {
    pub query: String,
    pub contexts: Vec<Context>,
    /// Cap on generated tokens; None means the backend's configured default.
    pub max_new_tokens: Option<usize>,
    /// Replaces the RAG system text (query rewriting, question decomposition).
    pub instruction: Option<String>,
}

impl GenerationRequest {
    /// Rejects an empty question and context numbers outside 1..=[`MAX_CONTEXT_INDEX`] or
    /// repeated. Numbers need not be contiguous: a context keeps the number of the source it was
    /// cut from (the gateway sends passages of sources 1 and 3 when source 2 had none worth
    /// sending), so the answer's `[n]` always names the same source as the response's `sources`.
    pub fn validate(&self) -> Result<(), LlmError> {
        if self.query.trim().is_empty() {
            return Err(LlmError::InvalidRequest("query must not be empty".into()));
        }
        let mut seen = HashSet::with_capacity(self.contexts.len());
        for context in &self.contexts {
            if !(1..=MAX_CONTEXT_INDEX).contains(&context.index) {
                return Err(LlmError::InvalidRequest(format!(
                    "context index {} is outside 1..={MAX_CONTEXT_INDEX}",
                    context.index
                )));
            }
            if !seen.insert(context.index) {
                return Err(LlmError::InvalidRequest(format!(
                    "context index {} is repeated",
                    context.index
                )));
            }
        }
        if self.max_new_tokens == Some(0) {
            return Err(LlmError::InvalidRequest(
                "max_new_tokens must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn (eos / end-of-turn token).
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// Figures reported once at the end of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to `generate` to the first generated token.
    pub ttft_ms: f64,
    /// Processing the prompt (one forward pass over all its tokens).
    pub prompt_ms: f64,
    /// From the first generated token to the last.
    pub decode_ms: f64,
    pub finish_reason: FinishReason,
    pub model: String,
    /// Context indices that made it into the prompt, in prompt order.
    pub contexts_sent: Vec<u32>,
}

/// What a generation stream yields: text pieces (whole characters), then one `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    Token(String),
    Done(GenerationStats),
}

/// A text generation backend. Dropping the returned stream cancels the generation.
pub trait Generator: Send + Sync {
    /// `backend:model`, e.g. `embedded:SmolLM2-135M-Instruct`.
    fn name(&self) -> &str;

    /// Starts answering `request`. The stream ends after `Done` or after the first error.
    fn generate(
        &self,
        request: GenerationRequest,
    ) -> BoxStream<'static, Result<GenerationEvent, LlmError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, indices: &[u32]) -> GenerationRequest {
        GenerationRequest {
            query: query.into(),
            contexts: indices
                .iter()
                .map(|&index| Context {
                    index,
                    source: "s".into(),
                    text: "t".into(),
                })
                .collect(),
            max_new_tokens: None,
            instruction: None,
        }
    }

    #[test]
    fn validation_requires_a_query_and_distinct_positive_bounded_context_numbers() {
        assert!(request("q", &[2, 1, 3]).validate().is_ok());
        assert!(request("q", &[]).validate().is_ok());
        // Passages keep their source's number: source 2 may have sent nothing.
        assert!(request("q", &[1, 3]).validate().is_ok());
        assert!(request("q", &[MAX_CONTEXT_INDEX]).validate().is_ok());
        assert!(request("  ", &[1]).validate().is_err());
        assert!(request("q", &[0]).validate().is_err());
        assert!(request("q", &[MAX_CONTEXT_INDEX + 1]).validate().is_err());
        assert!(request("q", &[1, 1]).validate().is_err());
    }
}
