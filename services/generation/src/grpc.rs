//! `ragmesh.v1.Generation` over the [`Providers`]: choosing the provider, request validation,
//! the mapping of generation events to `GenerateChunk` messages, and the generation metrics
//! (time to first token, prompt and answer tokens, decode rate, active streams; request counts
//! and codes come from the server's `RequestMetricsLayer`). Dropping the response stream (tonic
//! does when the client cancels) drops the generator's stream and so stops decoding.
//! With trace export on, a finished answer adds its steps (`first_token`, `prompt`, `decode`)
//! as child spans of the call's `rpc` span, from the times the generator measured.

use crate::Providers;
use futures::StreamExt;
use futures::stream::BoxStream;
use ragmesh_core::to_status;
use ragmesh_llm::{Context, GenerationEvent, GenerationRequest, GenerationStats, Generator};
use ragmesh_proto::generation_server::Generation;
use ragmesh_proto::{Done, GenerateChunk, GenerateRequest, Token, generate_chunk};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tonic::{Request, Response, Status};

/// The gRPC face of the providers; `embedded` answers UNAVAILABLE until it is set.
#[derive(Clone, Default, Debug)]
pub struct GenerationService {
    providers: Arc<Providers>,
}

impl GenerationService {
    /// Only the embedded provider (set it with [`GenerationService::set_generator`]).
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_providers(providers: Arc<Providers>) -> Self {
        GenerationService { providers }
    }

    /// Makes the embedded provider answer with `generator` (only the first call has an effect).
    pub fn set_generator(&self, generator: Arc<dyn Generator>) {
        self.providers.set_embedded(generator);
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
        instruction: Some(message.instruction).filter(|i| !i.trim().is_empty()),
    }
}

fn record_stats(stats: &GenerationStats) {
    metrics::histogram!("ragmesh_generation_time_to_first_token_seconds")
        .record(stats.ttft_ms / 1000.0);
    metrics::histogram!("ragmesh_generation_prompt_duration_seconds")
        .record(stats.prompt_ms / 1000.0);
    metrics::histogram!("ragmesh_generation_prompt_tokens").record(stats.prompt_tokens as f64);
    metrics::histogram!("ragmesh_generation_answer_tokens").record(stats.generated_tokens as f64);
    if stats.generated_tokens > 1 && stats.decode_ms > 0.0 {
        // The first token comes from the prompt pass; the rest are decode steps.
        let rate = (stats.generated_tokens - 1) as f64 / (stats.decode_ms / 1000.0);
        metrics::histogram!("ragmesh_generation_decode_tokens_per_second").record(rate);
    }
}

/// The generator's steps as spans under `rpc`, placed from `started` (the call's wall-clock
/// start): the prompt pass ends at the first token, decoding follows it.
fn record_step_spans(rpc: &tracing::Span, started: SystemTime, stats: &GenerationStats) {
    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
    let first_token_at = started + ms(stats.ttft_ms);
    ragmesh_telemetry::record_step_span(rpc, "first_token", started, ms(stats.ttft_ms));
    let prompt = ms(stats.prompt_ms);
    let prompt_started = first_token_at.checked_sub(prompt).unwrap_or(started);
    ragmesh_telemetry::record_step_span(rpc, "prompt", prompt_started, prompt);
    ragmesh_telemetry::record_step_span(rpc, "decode", first_token_at, ms(stats.decode_ms));
}

/// Counts one stream as active while it lives (request counts and codes, cancellations
/// included, come from the server's `RequestMetricsLayer`).
struct ActiveStream;

impl ActiveStream {
    fn start() -> Self {
        metrics::gauge!("ragmesh_generation_streams_active").increment(1.0);
        ActiveStream
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        metrics::gauge!("ragmesh_generation_streams_active").decrement(1.0);
    }
}

/// What `Done` says about who answered, besides the generator's own figures.
#[derive(Clone)]
struct Answerer {
    provider: String,
    prompt_version: String,
}

fn chunk(event: GenerationEvent, answerer: &Answerer) -> GenerateChunk {
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
            contexts_sent: stats.contexts_sent,
            provider: answerer.provider.clone(),
            prompt_version: answerer.prompt_version.clone(),
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
        let started_wall = SystemTime::now();
        let rpc_span = tracing::Span::current();
        let message = request.into_inner();
        let (provider, generator) = match self.providers.resolve(&message.provider) {
            Ok(found) => found,
            Err(err) => return Err(to_status(&err)),
        };
        let request = to_request(message);
        if let Err(err) = request.validate() {
            return Err(to_status(&err));
        }
        tracing::debug!(contexts = request.contexts.len(), %provider, "generate");
        let answerer = Answerer {
            provider,
            prompt_version: self.providers.prompt_version().to_string(),
        };
        let active = ActiveStream::start();
        let stream = generator.generate(request).map(move |event| match event {
            Ok(GenerationEvent::Done(stats)) => {
                let _ = &active;
                record_stats(&stats);
                record_step_spans(&rpc_span, started_wall, &stats);
                tracing::info!(
                    prompt_tokens = stats.prompt_tokens,
                    generated_tokens = stats.generated_tokens,
                    ttft_ms = stats.ttft_ms,
                    total_ms = started.elapsed().as_secs_f64() * 1000.0,
                    finish_reason = stats.finish_reason.as_str(),
                    contexts_sent = ?stats.contexts_sent,
                    model = %stats.model,
                    "answer generated"
                );
                Ok(chunk(GenerationEvent::Done(stats), &answerer))
            }
            Ok(event) => Ok(chunk(event, &answerer)),
            Err(err) => {
                let _ = &active;
                Err(to_status(&err))
            }
        });
        Ok(Response::new(stream.boxed()))
    }
}
