//! A cached answer as the gateway stores it and sends it again.
//!
//! The cache keeps the response and the model's tokens as one JSON payload ([`CachedAnswer`]).
//! A hit differs from the stored response only in three per-request fields (`cache`,
//! `profile`, `trace_id`), so `/api/query` sends the rest as JSON encoded once per in-process
//! entry (kept in [`CachedEntry::rendered`]) followed by those three: decoding the payload and
//! encoding ~3 KB of sources again on every hit cost about a quarter of the gateway's
//! instructions per cached answer (callgrind, docs/benchmarks.md). A streamed hit decodes the payload, since
//! it replays the tokens as events.

use crate::api::responses::{CacheInfo, QueryResponse};
use crate::api::sse::SseEvent;
use crate::query::answer::sentence_positions;
use crate::query::profile::ProfileReport;
use bytes::Bytes;
use futures::Stream;
use ragmesh_cache::{CacheHit, CachedEntry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;

/// What the cache keeps for one answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub response: QueryResponse,
    /// The model's tokens as streamed (the cleaned answer is in `response`).
    pub tokens: Vec<String>,
}

/// The response part of a [`CachedAnswer`], decoded without the tokens.
#[derive(Deserialize)]
struct CachedResponse {
    response: QueryResponse,
}

/// A cached answer ready to send to this request.
#[derive(Debug)]
pub struct Replay {
    entry: Arc<CachedEntry>,
    /// The stored response's JSON object without its closing brace and per-request fields.
    head: Arc<str>,
    cache: CacheInfo,
    profile: ProfileReport,
    trace_id: String,
}

impl Replay {
    /// The replay of `hit` for a request with this profile and trace; an entry whose
    /// response does not decode (written by an incompatible version) is an error.
    pub fn new(
        hit: CacheHit,
        profile: ProfileReport,
        trace_id: String,
    ) -> Result<Replay, serde_json::Error> {
        let head = match hit.entry.rendered.get() {
            Some(head) => Arc::clone(head),
            None => {
                let head: Arc<str> = response_head(&hit.entry.payload)?.into();
                // Two first hits at once both encode it; either result is the same.
                let _ = hit.entry.rendered.set(Arc::clone(&head));
                head
            }
        };
        Ok(Replay {
            cache: CacheInfo {
                hit: true,
                tier: Some(hit.tier.as_str().to_string()),
                match_kind: Some(hit.kind.as_str().to_string()),
                similarity: Some(hit.similarity),
                original_query: Some(hit.entry.query.clone()),
            },
            entry: hit.entry,
            head,
            profile,
            trace_id,
        })
    }

    /// The `/api/query` body: the same JSON object the fresh answer had, with this request's
    /// `cache`, `profile` and `trace_id`.
    /// How the cache answered this request.
    pub fn cache(&self) -> &CacheInfo {
        &self.cache
    }

    pub fn json_body(&self) -> Result<Bytes, serde_json::Error> {
        let mut body = Vec::with_capacity(self.head.len() + 512);
        body.extend_from_slice(self.head.as_bytes());
        if self.head.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"cache\":");
        serde_json::to_writer(&mut body, &self.cache)?;
        body.extend_from_slice(b",\"profile\":");
        serde_json::to_writer(&mut body, &self.profile)?;
        body.extend_from_slice(b",\"trace_id\":");
        serde_json::to_writer(&mut body, &self.trace_id)?;
        body.push(b'}');
        Ok(Bytes::from(body))
    }

    /// The whole response as a value (the `done` event of a stream).
    pub fn response(&self) -> Result<QueryResponse, serde_json::Error> {
        let response = CachedResponse::deserialize(&self.entry.payload)?.response;
        Ok(self.for_this_request(response))
    }

    /// `response` with this request's `cache`, `profile` and `trace_id`.
    fn for_this_request(&self, mut response: QueryResponse) -> QueryResponse {
        response.cache = Some(self.cache.clone());
        response.profile = self.profile.clone();
        response.trace_id = self.trace_id.clone();
        response
    }

    /// The SSE events the original stream sent: contexts, the same tokens with the grounded
    /// sentences where the stream sent them (see `sentence_positions`), done.
    pub fn events(
        &self,
    ) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + Send + use<>, serde_json::Error>
    {
        let cached = CachedAnswer::deserialize(&self.entry.payload)?;
        let tokens = cached.tokens;
        let response = self.for_this_request(cached.response);
        let positions = sentence_positions(&tokens);
        let mut sentences = response.sentences.iter().enumerate().peekable();
        let mut events = Vec::with_capacity(tokens.len() + response.sentences.len() + 2);
        events.push(SseEvent::Contexts {
            sources: response.sources.clone(),
        });
        for (sent, text) in tokens.into_iter().enumerate() {
            events.push(SseEvent::Token { text });
            while let Some((index, sentence)) =
                sentences.next_if(|(i, _)| positions.get(*i).is_some_and(|&p| p <= sent + 1))
            {
                events.push(SseEvent::Sentence {
                    index,
                    sentence: sentence.clone(),
                });
            }
        }
        events.extend(sentences.map(|(index, sentence)| SseEvent::Sentence {
            index,
            sentence: sentence.clone(),
        }));
        events.push(SseEvent::Done(Box::new(response)));
        Ok(futures::stream::iter(
            events.into_iter().map(|e| Ok(e.encode())),
        ))
    }
}

/// `{"answer":…,"sources":…` — the stored response as a JSON object without the per-request
/// fields and without its closing brace. Encoded from the typed response (through a
/// `serde_json::Value` an `f32` score would come out widened, `5.888852596282959` instead of
/// the `5.8888526` a fresh answer sends). `QueryResponse` declares `cache` (skipped when
/// none), `profile` and `trace_id` last, so with `cache` cleared the encoding ends with the
/// two others, which are cut off; a response whose encoding does not end that way is an
/// error (a hit is then served as a miss), never a wrong body.
fn response_head(payload: &Value) -> Result<String, serde_json::Error> {
    let mut response = CachedResponse::deserialize(payload)?.response;
    response.cache = None;
    let tail = format!(
        ",\"profile\":{},\"trace_id\":{}}}",
        serde_json::to_string(&response.profile)?,
        serde_json::to_string(&response.trace_id)?
    );
    let mut head = serde_json::to_string(&response)?;
    if !head.ends_with(&tail) {
        return Err(serde::ser::Error::custom(
            "the response's per-request fields are not its last ones",
        ));
    }
    head.truncate(head.len() - tail.len());
    Ok(head)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::responses::{GenerationInfo, Source};
    use ragmesh_cache::{MatchKind, Tier};
    use std::collections::BTreeMap;

    fn stored() -> QueryResponse {
        QueryResponse {
            answer: "Kīlauea [1], \"quoted\"".into(),
            answer_mode: "generate".into(),
            sentences: vec![crate::api::responses::AnswerSentence {
                text: "Kīlauea, \"quoted\"".into(),
                citations: vec![1],
                support: 0.75,
                supported: true,
            }],
            grounding: crate::api::responses::GroundingReport {
                sentences: 1,
                supported: 1,
                cited: 1,
                citations_kept: 1,
                threshold: 0.45,
                unsupported_policy: "flag".into(),
                ..Default::default()
            },
            passages: vec![crate::api::responses::PassageReport {
                index: 1,
                text: "Kīlauea had a lava lake.".into(),
                score: 0.9,
            }],
            sources: vec![Source {
                index: 1,
                source: "volcano.md".into(),
                chunk: 0,
                text: "Kīlauea had a lava lake.\n".into(),
                score: 0.5,
                rerank_score: None,
                vector_score: Some(0.7),
                bm25_score: None,
                collection: "geo".into(),
                metadata: BTreeMap::from([("language".into(), "en".into())]),
            }],
            reranker: None,
            generation: Some(GenerationInfo {
                model: "embedded:SmolLM2-135M-Instruct".into(),
                provider: "embedded".into(),
                prompt_version: "v1".into(),
                contexts_sent: vec![1],
                prompt_tokens: 120,
                generated_tokens: 2,
                finish_reason: "stop".into(),
            }),
            expansion: None,
            cache: Some(CacheInfo::miss()),
            profile: ProfileReport {
                steps: Vec::new(),
                total_ms: 900.0,
                bottleneck: Some("generate".into()),
            },
            trace_id: "stored-trace".into(),
        }
    }

    fn hit(entry: &Arc<CachedEntry>) -> CacheHit {
        CacheHit {
            tier: Tier::L1,
            kind: MatchKind::Exact,
            similarity: 1.0,
            entry: Arc::clone(entry),
        }
    }

    #[test]
    fn the_sent_body_is_the_stored_response_with_this_requests_fields() {
        let payload = serde_json::to_value(CachedAnswer {
            response: stored(),
            tokens: vec!["Kī".into(), "lauea".into()],
        })
        .unwrap();
        let entry = Arc::new(CachedEntry {
            query: "Which volcano?".into(),
            normalized: "which volcano".into(),
            vector: Vec::new(),
            payload,
            created_ms: 0,
            rendered: Default::default(),
        });
        let profile = ProfileReport {
            steps: Vec::new(),
            total_ms: 0.2,
            bottleneck: None,
        };
        for round in 0..2 {
            let replay =
                Replay::new(hit(&entry), profile.clone(), format!("trace-{round}")).unwrap();
            let body = replay.json_body().unwrap();
            let sent: QueryResponse = serde_json::from_slice(&body).unwrap();
            let mut expected = stored();
            expected.cache = Some(CacheInfo {
                hit: true,
                tier: Some("l1".into()),
                match_kind: Some("exact".into()),
                similarity: Some(1.0),
                original_query: Some("Which volcano?".into()),
            });
            expected.profile = profile.clone();
            expected.trace_id = format!("trace-{round}");
            assert_eq!(sent, expected, "round {round}");
            // Byte for byte what a fresh answer with these fields would send (f32 scores
            // printed as f32, the same key order).
            assert_eq!(
                body,
                serde_json::to_vec(&expected).unwrap(),
                "round {round}"
            );
            assert_eq!(replay.response().unwrap(), expected);
            assert!(
                entry.rendered.get().is_some(),
                "encoded once, kept with the entry"
            );
        }
    }

    #[test]
    fn an_entry_that_does_not_decode_is_refused() {
        let entry = Arc::new(CachedEntry {
            query: "q".into(),
            normalized: "q".into(),
            vector: Vec::new(),
            payload: serde_json::json!({ "response": { "answer": 3 } }),
            created_ms: 0,
            rendered: Default::default(),
        });
        let profile = ProfileReport {
            steps: Vec::new(),
            total_ms: 0.0,
            bottleneck: None,
        };
        assert!(Replay::new(hit(&entry), profile, "t".into()).is_err());
        assert!(entry.rendered.get().is_none());
    }
}
