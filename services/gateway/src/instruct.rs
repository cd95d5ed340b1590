//! Asking the generator for text that is not the answer — rewordings of a question,
//! sub-questions — through the same Generate call: the query's provider (no fallback), an
//! instruction in place of the RAG system text, the generation deadline, and the whole text
//! collected before use. Also reads such text back as a list of questions.

use crate::errors::GatewayError;
use crate::generation::{AnswerStream, GenerationEvent};
use crate::pipeline::Pipeline;
use crate::request_context::RequestContext;
use crate::validate::QueryPlan;
use futures::StreamExt;
use ragmesh_proto::v1::{Context, GenerateRequest};
use std::time::Instant;

/// Tokens allowed for one list of questions.
const LIST_TOKENS: u32 = 96;

/// The generator's full reply to `instruction` with `user` (and `contexts`) as the user turn.
pub async fn instructed_text(
    pipeline: &Pipeline,
    plan: &QueryPlan,
    instruction: &str,
    user: &str,
    contexts: Vec<Context>,
    ctx: &RequestContext,
) -> Result<String, GatewayError> {
    let request = GenerateRequest {
        query: user.to_string(),
        contexts,
        max_new_tokens: LIST_TOKENS,
        provider: plan.provider.clone().unwrap_or_default(),
        instruction: instruction.to_string(),
    };
    let backends = pipeline.backends();
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

/// Up to `max` distinct questions from a generated list, one per line, without numbering or
/// bullets, leaving out any equal to one in `known` (case and spacing ignored).
pub fn question_lines(text: &str, max: usize, known: &[String]) -> Vec<String> {
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let mut seen: Vec<String> = known.iter().map(|k| normal(k)).collect();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = strip_list_marker(line.trim());
        let line = line.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
        if line.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
            continue;
        }
        let key = normal(line);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(line.to_string());
        if out.len() == max {
            break;
        }
    }
    out
}

/// `1. x`, `2) x`, `- x`, `* x`, `• x`, `Q: x`, `Question 2: x` → `x`.
fn strip_list_marker(line: &str) -> &str {
    let line = line.trim_start_matches(['-', '*', '•']).trim_start();
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let line = if digits > 0 {
        line[digits..]
            .trim_start_matches(['.', ')', ':'])
            .trim_start()
    } else {
        line
    };
    for prefix in ["Question", "question", "Q"] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            if let Some(rest) = rest.strip_prefix(':') {
                return rest.trim_start();
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_bulleted_lines_become_questions() {
        let text = "1. Where is Quenby?\n2) What is eaten at the festival?\n- where is  quenby?\n\n* ok\nQuestion 3: When is it held?\nHow long is the river?";
        let known = vec!["How long is the river?".to_string()];
        assert_eq!(
            question_lines(text, 5, &known),
            [
                "Where is Quenby?",
                "What is eaten at the festival?",
                "When is it held?"
            ]
        );
        assert_eq!(question_lines(text, 1, &[]), ["Where is Quenby?"]);
        assert!(question_lines("", 3, &[]).is_empty());
    }
}
