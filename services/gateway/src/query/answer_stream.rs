//! One answer being generated: the gRPC token stream wrapped with the deadline of the whole
//! generation, the gateway-side timings (time to first token, total), and the rule that a
//! stream must end with `Done` — a stream that breaks off is an error, never a short answer.
//! Dropping an [`AnswerStream`] cancels the call, which stops the model.

use crate::api::responses::GenerationInfo;
use crate::backends::backend::Backend;
use crate::error::GatewayError;
use futures::StreamExt;
use futures::stream::BoxStream;
use ragmesh_proto::v1::{GenerateChunk, generate_chunk};
use ragmesh_retrieval_client::ServiceError;
use std::time::{Duration, Instant};

const GENERATION: &str = Backend::Generation.name();

/// The generation service's chunks, as any stream (tonic's `Streaming`, or a fixed list in tests).
pub type ChunkStream = BoxStream<'static, Result<GenerateChunk, tonic::Status>>;

#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    Token(String),
    Done(GenerationSummary),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerationSummary {
    pub info: GenerationInfo,
    /// From opening the call to the first token, measured by the gateway (the whole call when
    /// no token came).
    pub first_token_ms: f64,
    /// From opening the call to `Done`.
    pub total_ms: f64,
}

pub struct AnswerStream {
    chunks: ChunkStream,
    started: Instant,
    deadline: tokio::time::Instant,
    timeout: Duration,
    first_token_ms: Option<f64>,
    finished: bool,
    /// The `generate` step span, ended when the stream is dropped.
    _span: tracing::Span,
}

impl AnswerStream {
    /// `started` is when the call was opened; `timeout` bounds the whole stream from then.
    pub fn new(chunks: ChunkStream, started: Instant, timeout: Duration) -> AnswerStream {
        let deadline = tokio::time::Instant::from_std(started) + timeout;
        AnswerStream {
            chunks,
            started,
            deadline,
            timeout,
            first_token_ms: None,
            finished: false,
            _span: tracing::Span::none(),
        }
    }

    /// Keeps `span` open for as long as the answer streams.
    pub fn in_span(mut self, span: tracing::Span) -> AnswerStream {
        self._span = span;
        self
    }

    /// The next token, then `Done`, or one error; None after either. Cancel-safe: dropping
    /// the future loses nothing.
    pub async fn next_event(&mut self) -> Option<Result<GenerationEvent, GatewayError>> {
        while !self.finished {
            let next = match tokio::time::timeout_at(self.deadline, self.chunks.next()).await {
                Err(_) => Err(ServiceError::deadline(GENERATION, self.timeout).into()),
                Ok(None) => Err(ServiceError::Unavailable {
                    service: GENERATION,
                    message: "the answer stream ended before it was complete".into(),
                }
                .into()),
                Ok(Some(Err(status))) => Err(ServiceError::from_status(GENERATION, &status).into()),
                Ok(Some(Ok(chunk))) => match chunk.kind {
                    Some(generate_chunk::Kind::Token(token)) => {
                        if self.first_token_ms.is_none() {
                            self.first_token_ms = Some(self.elapsed_ms());
                        }
                        return Some(Ok(GenerationEvent::Token(token.text)));
                    }
                    Some(generate_chunk::Kind::Done(done)) => {
                        let total_ms = self.elapsed_ms();
                        Ok(GenerationEvent::Done(GenerationSummary {
                            info: GenerationInfo {
                                model: done.model,
                                provider: done.provider,
                                prompt_version: done.prompt_version,
                                contexts_sent: done.contexts_sent,
                                prompt_tokens: done.prompt_tokens,
                                generated_tokens: done.generated_tokens,
                                finish_reason: done.finish_reason,
                            },
                            first_token_ms: self.first_token_ms.unwrap_or(total_ms),
                            total_ms,
                        }))
                    }
                    None => continue,
                },
            };
            self.finished = true;
            return Some(next);
        }
        None
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use ragmesh_proto::v1::{Done, Token};

    pub fn token(text: &str) -> Result<GenerateChunk, tonic::Status> {
        Ok(GenerateChunk {
            kind: Some(generate_chunk::Kind::Token(Token { text: text.into() })),
        })
    }

    pub fn done() -> Result<GenerateChunk, tonic::Status> {
        Ok(GenerateChunk {
            kind: Some(generate_chunk::Kind::Done(Done {
                generated_tokens: 2,
                contexts_sent: vec![1, 2],
                finish_reason: "stop".into(),
                model: "m".into(),
                ..Done::default()
            })),
        })
    }

    pub fn stream_of(chunks: Vec<Result<GenerateChunk, tonic::Status>>) -> AnswerStream {
        AnswerStream::new(
            futures::stream::iter(chunks).boxed(),
            Instant::now(),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn tokens_then_done_then_nothing() {
        let mut s = stream_of(vec![token("Hi"), token(" there"), done()]);
        assert_eq!(
            s.next_event().await.unwrap().unwrap(),
            GenerationEvent::Token("Hi".into())
        );
        assert_eq!(
            s.next_event().await.unwrap().unwrap(),
            GenerationEvent::Token(" there".into())
        );
        let Some(Ok(GenerationEvent::Done(summary))) = s.next_event().await else {
            panic!("no done")
        };
        assert_eq!(summary.info.finish_reason, "stop");
        assert!(summary.first_token_ms <= summary.total_ms);
        assert!(s.next_event().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_that_breaks_off_is_an_error_naming_generation() {
        let mut s = stream_of(vec![token("Hi")]);
        s.next_event().await;
        let err = s.next_event().await.unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "generation service unavailable: the answer stream ended before it was complete"
        );
        assert!(s.next_event().await.is_none());

        let mut s = stream_of(vec![
            token("Hi"),
            Err(tonic::Status::unknown("h2 protocol error: stream reset")),
            done(),
        ]);
        s.next_event().await;
        let err = s.next_event().await.unwrap().unwrap_err();
        assert_eq!(
            ragmesh_core::Classify::code(&err),
            ragmesh_core::ErrorCode::Unavailable
        );
        assert!(s.next_event().await.is_none(), "nothing after an error");
    }

    #[tokio::test]
    async fn a_silent_stream_hits_its_deadline() {
        let chunks = futures::stream::pending().boxed();
        let mut s = AnswerStream::new(chunks, Instant::now(), Duration::from_millis(50));
        let err = s.next_event().await.unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "generation service did not answer within 50 ms"
        );
    }
}
