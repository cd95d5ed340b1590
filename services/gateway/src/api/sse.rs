//! Server-Sent Events framing for `/api/query/stream`: explicit event types (`contexts`,
//! `token`, `sentence`, `done`, `error`) with one JSON object per event, and comment lines as keep-alives
//! while the model reads a long prompt. Written by hand (not axum's `Sse`) so the exact bytes
//! on the wire are tested here.

use crate::api::responses::{AnswerSentence, QueryResponse, Source};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use http::{HeaderValue, header};
use serde::Serialize;
use serde_json::json;
use std::convert::Infallible;

#[derive(Debug, Clone, PartialEq)]
pub enum SseEvent {
    /// First: the numbered sources the answer may cite.
    Contexts {
        sources: Vec<Source>,
    },
    Token {
        text: String,
    },
    /// One grounded sentence of the answer, once the model has completed it; `index` is its
    /// position in `done`'s `sentences`.
    Sentence {
        index: usize,
        sentence: AnswerSentence,
    },
    /// Last on success: the full answer with cleaned citations, sources, profile, trace id.
    Done(Box<QueryResponse>),
    /// Last on failure.
    Error {
        code: String,
        message: String,
    },
    /// A comment line; clients ignore it, proxies see traffic.
    KeepAlive,
}

impl SseEvent {
    pub fn name(&self) -> &'static str {
        match self {
            SseEvent::Contexts { .. } => "contexts",
            SseEvent::Token { .. } => "token",
            SseEvent::Sentence { .. } => "sentence",
            SseEvent::Done(_) => "done",
            SseEvent::Error { .. } => "error",
            SseEvent::KeepAlive => "keep-alive",
        }
    }

    /// The event's bytes on the wire, ending with the blank line that terminates it.
    pub fn encode(&self) -> Bytes {
        let data = match self {
            SseEvent::Contexts { sources } => json!({ "sources": sources }).to_string(),
            SseEvent::Token { text } => json!({ "text": text }).to_string(),
            SseEvent::Sentence { index, sentence } => to_json(&SentenceData {
                index: *index,
                sentence,
            }),
            SseEvent::Done(response) => to_json(response),
            SseEvent::Error { code, message } => {
                json!({ "code": code, "message": message }).to_string()
            }
            SseEvent::KeepAlive => return Bytes::from_static(b": keep-alive\n\n"),
        };
        let mut frame = format!("event: {}\n", self.name());
        // serde_json never emits raw newlines, but the framing must not depend on that.
        for line in data.split('\n') {
            frame.push_str("data: ");
            frame.push_str(line.trim_end_matches('\r'));
            frame.push('\n');
        }
        frame.push('\n');
        Bytes::from(frame)
    }
}

/// The data of a `sentence` event: its position, then the sentence's fields.
#[derive(Serialize)]
struct SentenceData<'a> {
    index: usize,
    #[serde(flatten)]
    sentence: &'a AnswerSentence,
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| json!({ "code": "internal", "message": e.to_string() }).to_string())
}

/// A `text/event-stream` response over already-encoded events.
pub fn response(
    events: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_with_type_and_one_json_line() {
        let token = SseEvent::Token {
            text: "line one\nline \"two\"".into(),
        };
        assert_eq!(
            token.encode(),
            "event: token\ndata: {\"text\":\"line one\\nline \\\"two\\\"\"}\n\n"
        );
        let error = SseEvent::Error {
            code: "unavailable".into(),
            message: "generation service unavailable: x".into(),
        };
        assert_eq!(
            error.encode(),
            "event: error\ndata: {\"code\":\"unavailable\",\"message\":\"generation service unavailable: x\"}\n\n"
        );
        assert_eq!(
            SseEvent::Contexts { sources: vec![] }.encode(),
            "event: contexts\ndata: {\"sources\":[]}\n\n"
        );
        assert_eq!(SseEvent::KeepAlive.encode(), ": keep-alive\n\n");
        let sentence = SseEvent::Sentence {
            index: 0,
            sentence: AnswerSentence {
                text: "Fed daily.".into(),
                citations: vec![2],
                support: 0.5,
                supported: true,
            },
        };
        assert_eq!(
            sentence.encode(),
            "event: sentence\ndata: {\"index\":0,\"text\":\"Fed daily.\",\"citations\":[2],\"support\":0.5,\"supported\":true}\n\n"
        );
    }
}
