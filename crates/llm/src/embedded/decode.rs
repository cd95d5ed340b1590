//! The decoding loop of the embedded backend: one prompt forward pass, then greedy decoding
//! with a repeat penalty and the answer guards (`guards`: no looping n-grams, a sentence limit,
//! a clean stop near the cap) until an end-of-turn token, a guard or the token cap, sending
//! whole-character text pieces into a bounded channel. A closed channel (the consumer went away) ends the loop
//! before the next forward pass.

use super::byte_level::Utf8Stream;
use super::guards::{self, SentenceTracker, Verdict};
use super::shared::Shared;
use crate::LlmError;
use crate::generator::{FinishReason, GenerationEvent, GenerationRequest, GenerationStats};
use candle_core::{DType, Tensor};
use candle_transformers::models::quantized_llama::MAX_SEQ_LEN;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc::Sender;

type EventSender = Sender<Result<GenerationEvent, LlmError>>;

/// One accepted request, counted as active from creation until dropped.
pub(crate) struct DecodeJob {
    shared: Arc<Shared>,
    request: GenerationRequest,
    received: Instant,
    tx: EventSender,
}

impl DecodeJob {
    pub fn new(
        shared: Arc<Shared>,
        request: GenerationRequest,
        received: Instant,
        tx: EventSender,
    ) -> Self {
        shared.counters.active.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("ragmesh_generation_decodes_active").increment(1.0);
        DecodeJob {
            shared,
            request,
            received,
            tx,
        }
    }

    /// Runs the whole generation on the backend's pool (blocks the calling thread).
    pub fn run_on_pool(self) {
        let shared = self.shared.clone();
        shared.pool.install(|| {
            if self.tx.is_closed() {
                return;
            }
            if let Err(err) = self.decode() {
                tracing::warn!(error = %err, "generation failed");
                let _ = self.tx.blocking_send(Err(err));
            }
        });
    }

    fn decode(&self) -> Result<(), LlmError> {
        let shared = &*self.shared;
        self.request.validate()?;
        let prompt = shared.pack(&self.request)?;
        let prompt_ids = shared.tokenizer.encode(&prompt.text)?;
        let max_new = self
            .request
            .max_new_tokens
            .unwrap_or(shared.options.max_new_tokens)
            .min(MAX_SEQ_LEN.saturating_sub(prompt_ids.len()));
        if max_new == 0 {
            return Err(LlmError::PromptTooLong {
                tokens: prompt_ids.len(),
                max: MAX_SEQ_LEN,
            });
        }

        let mut session = shared.weights.session(prompt_ids.len() + max_new)?;
        let prompt_started = Instant::now();
        let mut logits = session.prefill(&prompt_ids)?;
        let prompt_ms = prompt_started.elapsed().as_secs_f64() * 1000.0;

        let mut generated: Vec<u32> = Vec::with_capacity(max_new);
        let mut text = Utf8Stream::default();
        let mut ttft_ms = 0.0;
        let mut first_token_at = None;
        let mut sentences = SentenceTracker::new(shared.options.guards, max_new);
        let finish_reason = loop {
            let next = self.select(&logits, &generated)?;
            shared.counters.decoded.fetch_add(1, Ordering::SeqCst);
            metrics::counter!("ragmesh_generation_tokens_total").increment(1);
            if first_token_at.is_none() {
                first_token_at = Some(Instant::now());
                ttft_ms = self.received.elapsed().as_secs_f64() * 1000.0;
            }
            if shared.stop_ids.contains(&next) {
                break FinishReason::Stop;
            }
            let bytes = shared.tokenizer.token_bytes(next);
            let verdict = sentences.next(&String::from_utf8_lossy(&bytes), generated.len());
            if verdict == Verdict::StopBefore {
                // A clean end after a whole sentence: the answer's own end, not a cut.
                break FinishReason::Stop;
            }
            generated.push(next);
            let piece = text.push(&bytes);
            if !piece.is_empty()
                && self
                    .tx
                    .blocking_send(Ok(GenerationEvent::Token(piece)))
                    .is_err()
            {
                return Ok(()); // consumer gone
            }
            if verdict == Verdict::StopAfter {
                break FinishReason::Stop;
            }
            if generated.len() >= max_new {
                break FinishReason::Length;
            }
            if self.tx.is_closed() {
                return Ok(());
            }
            logits = session.forward(&[next])?;
        };
        let rest = text.finish();
        if !rest.is_empty()
            && self
                .tx
                .blocking_send(Ok(GenerationEvent::Token(rest)))
                .is_err()
        {
            return Ok(());
        }
        let decode_ms = first_token_at.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
        let stats = GenerationStats {
            prompt_tokens: prompt_ids.len(),
            generated_tokens: generated.len(),
            ttft_ms,
            prompt_ms,
            decode_ms,
            finish_reason,
            model: shared.name.clone(),
            contexts_sent: prompt.contexts_sent,
        };
        let _ = self.tx.blocking_send(Ok(GenerationEvent::Done(stats)));
        Ok(())
    }

    /// Greedy choice after penalising the recently generated tokens, never a token that would
    /// repeat an n-gram too often.
    fn select(&self, logits: &Tensor, generated: &[u32]) -> Result<u32, LlmError> {
        let options = &self.shared.options;
        let mut logits = logits.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let start = generated.len().saturating_sub(options.repeat_last_n);
        let banned = guards::banned_tokens(
            generated,
            options.guards.ngram_size,
            options.guards.ngram_max_occurrences,
        );
        guards::select_greedy(
            &mut logits,
            options.repeat_penalty,
            &generated[start..],
            &banned,
        )
        .ok_or_else(|| LlmError::Runtime("every next token is masked".into()))
    }
}

impl Drop for DecodeJob {
    fn drop(&mut self) {
        self.shared.counters.active.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("ragmesh_generation_decodes_active").decrement(1.0);
    }
}
