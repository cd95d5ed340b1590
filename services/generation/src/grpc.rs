//! `ragmesh.v1.Generation` over a [`Generator`]: request validation, the mapping of generation
//! events to `GenerateChunk` messages, and the per-call metrics. Dropping the response stream
//! (tonic does when the client cancels) drops the generator's stream and so stops decoding.

use futures::StreamExt;
use futures::stream::BoxStream;
use ragmesh_core::{Classify, ErrorCode, to_status};
use ragmesh_llm::{Context, GenerationEvent, GenerationRequest, GenerationStats, Generator};
use ragmesh_proto::generation_server::Generation;
use ragmesh_proto::{Done, GenerateChunk, GenerateRequest, Token, generate_chunk};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tonic::{Request, Response, Status};

const SERVICE: &str = "generation";
const RPC: &str = "Generate";

/// The gRPC face of a generator; answers UNAVAILABLE until one is set.
#[derive(Clone, Default)]
pub struct GenerationService {
    generator: Arc<OnceLock<Arc<dyn Generator>>>,
}

impl std::fmt::Debug for GenerationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationService")
            .field(
                "generator",
                &self.generator.get().map(|g| g.name().to_string()),
            )
            .finish()
    }
}

impl GenerationService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the service answer with `generator` (only the first call has an effect).
    pub fn set_generator(&self, generator: Arc<dyn Generator>) {
        let _ = self.generator.set(generator);
    }
}

fn to_request(message: GenerateRequest) -> GenerationRequest {
    GenerationRequest {
        query: message.query,
        contexts: message
            .contexts
            .into_iter()
            .map(|c| Context {
                index: c.index,
                source: c.source,
                text: c.text,
            })
            .collect(),
        max_new_tokens: (message.max_new_tokens > 0).then_some(message.max_new_tokens as usize),
    }
}

fn record_request(code: ErrorCode) {
    let code = code.as_str();
    metrics::counter!("ragmesh_rpc_requests_total", "service" => SERVICE, "rpc" => RPC, "code" => code)
        .increment(1);
}

fn record_ok() {
    metrics::counter!("ragmesh_rpc_requests_total", "service" => SERVICE, "rpc" => RPC, "code" => "ok")
        .increment(1);
}

fn record_stats(stats: &GenerationStats) {
    metrics::histogram!("ragmesh_generation_ttft_seconds").record(stats.ttft_ms / 1000.0);
    metrics::histogram!("ragmesh_generation_prompt_seconds").record(stats.prompt_ms / 1000.0);
    metrics::histogram!("ragmesh_generation_prompt_tokens").record(stats.prompt_tokens as f64);
    if stats.generated_tokens > 1 && stats.decode_ms > 0.0 {
        // The first token comes from the prompt pass; the rest are decode steps.
        let rate = (stats.generated_tokens - 1) as f64 / (stats.decode_ms / 1000.0);
        metrics::histogram!("ragmesh_generation_decode_tokens_per_second").record(rate);
    }
}

/// Counts one stream as active and records how it ended: ok, an error code, or cancelled
/// (dropped before the end).
struct StreamOutcome {
    finished: bool,
}

impl StreamOutcome {
    fn start() -> Self {
        metrics::gauge!("ragmesh_generation_streams_active").increment(1.0);
        StreamOutcome { finished: false }
    }

    fn finish(&mut self, code: Option<ErrorCode>) {
        if !self.finished {
            self.finished = true;
            match code {
                None => record_ok(),
                Some(code) => record_request(code),
            }
        }
    }
}

impl Drop for StreamOutcome {
    fn drop(&mut self) {
        if !self.finished {
            record_request(ErrorCode::Cancelled);
        }
        metrics::gauge!("ragmesh_generation_streams_active").decrement(1.0);
    }
}

fn chunk(event: GenerationEvent) -> GenerateChunk {
    let kind = match event {
        GenerationEvent::Token(text) => generate_chunk::Kind::Token(Token { text }),
        GenerationEvent::Done(stats) => generate_chunk::Kind::Done(Done {
            prompt_tokens: stats.prompt_tokens as u32,
            generated_tokens: stats.generated_tokens as u32,
            time_to_first_token_ms: stats.ttft_ms,
            prompt_ms: stats.prompt_ms,
            decode_ms: stats.decode_ms,
            finish_reason: stats.finish_reason.as_str().to_string(),
            model: stats.model,
        }),
    };
    GenerateChunk { kind: Some(kind) }
}

#[tonic::async_trait]
impl Generation for GenerationService {
    type GenerateStream = BoxStream<'static, Result<GenerateChunk, Status>>;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::GenerateStream>, Status> {
        let started = Instant::now();
        let request = to_request(request.into_inner());
        if let Err(err) = request.validate() {
            record_request(err.code());
            return Err(to_status(&err));
        }
        let Some(generator) = self.generator.get().cloned() else {
            let err = crate::GenerationError::NotReady;
            record_request(err.code());
            return Err(to_status(&err));
        };
        tracing::debug!(contexts = request.contexts.len(), "generate");
        let mut outcome = StreamOutcome::start();
        let stream = generator.generate(request).map(move |event| match event {
            Ok(GenerationEvent::Done(stats)) => {
                record_stats(&stats);
                outcome.finish(None);
                tracing::info!(
                    prompt_tokens = stats.prompt_tokens,
                    generated_tokens = stats.generated_tokens,
                    ttft_ms = stats.ttft_ms,
                    total_ms = started.elapsed().as_secs_f64() * 1000.0,
                    finish_reason = stats.finish_reason.as_str(),
                    contexts_sent = ?stats.contexts_sent,
                    "answer generated"
                );
                Ok(chunk(GenerationEvent::Done(stats)))
            }
            Ok(event) => Ok(chunk(event)),
            Err(err) => {
                outcome.finish(Some(err.code()));
                Err(to_status(&err))
            }
        });
        Ok(Response::new(stream.boxed()))
    }
}
