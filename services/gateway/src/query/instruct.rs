//! Asking the generator for text that is not the answer — rewordings of a question,
//! sub-questions — through the same Generate call: the query's provider (no fallback), an
//! instruction in place of the RAG system text, the generation deadline, and the whole text
//! collected before use (see `crate::query::expand::questions` for reading it back).

use crate::backends::Backends;
use crate::error::GatewayError;
use crate::query::answer_stream::{AnswerStream, GenerationEvent};
use crate::request_context::RequestContext;
use futures::StreamExt;
use ragmesh_proto::v1::{Context, GenerateRequest};
use std::time::Instant;

/// Tokens allowed for one list of questions.
const LIST_TOKENS: u32 = 96;

/// The generator's full reply to `instruction` with `user` (and `contexts`) as the user turn,
/// from the query's `provider` (None: the default).
pub async fn instructed_text(
    backends: &Backends,
    provider: Option<&str>,
    instruction: &str,
    user: &str,
    contexts: Vec<Context>,
    ctx: &RequestContext,
) -> Result<String, GatewayError> {
    let request = GenerateRequest {
        query: user.to_string(),
        contexts,
        max_new_tokens: LIST_TOKENS,
        provider: provider.unwrap_or_default().to_string(),
        instruction: instruction.to_string(),
    };
    let started = Instant::now();
    let chunks = backends.generate(request, ctx).await?;
    let mut stream = AnswerStream::new(chunks.boxed(), started, backends.generate_timeout());
    let mut text = String::new();
    while let Some(event) = stream.next_event().await {
        match event? {
            GenerationEvent::Token(piece) => text.push_str(&piece),
            GenerationEvent::Done(_) => break,
        }
    }
    Ok(text)
}
