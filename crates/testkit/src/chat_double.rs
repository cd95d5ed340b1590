//! A protocol double of the two remote chat APIs ragmesh can generate with, because neither an
//! Ollama server nor OpenAI can run in tests here. It is a real HTTP server (axum on a loopback
//! port) speaking their documented wire formats:
//!
//! - Ollama `POST /api/chat`: NDJSON lines `{"model","created_at","message":{"role","content"},
//!   "done":false}`, then `{"done":true,"done_reason","prompt_eval_count","eval_count",...}`;
//!   errors as `{"error":"..."}` (HTTP error body or a line mid-stream).
//! - OpenAI `POST /v1/chat/completions`: SSE `data: {"choices":[{"delta":{"content"}}]}` ...,
//!   a finish chunk, a usage chunk, `data: [DONE]`; errors as `{"error":{"message","type",
//!   "code"}}` with HTTP 401/429/500, or as a `data:` event mid-stream.
//!
//! What it answers is decided per request by a closure over the request body, and it records
//! every request (body and `Authorization` header) and every stream the client abandoned
//! before its end, so tests can prove cancellation reaches the remote server.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How a scripted stream ends after its pieces.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The protocol's normal end (Ollama `done:true` with counts; OpenAI finish + `[DONE]`).
    Done,
    /// The protocol's mid-stream error message.
    Error(String),
    /// The connection closes without the end marker.
    Cut,
    /// Keeps sending a piece every 20 ms until the client goes away.
    Endless,
}

/// One scripted reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// HTTP 200 and a stream: wait `first_delay`, send `pieces`, end as `ending`.
    Stream {
        pieces: Vec<String>,
        first_delay: Duration,
        ending: Ending,
    },
    /// An HTTP error with the protocol's error body.
    Status { status: u16, message: String },
}

impl Reply {
    /// A normal streamed answer.
    pub fn text(pieces: &[&str]) -> Reply {
        Reply::Stream {
            pieces: pieces.iter().map(|p| p.to_string()).collect(),
            first_delay: Duration::ZERO,
            ending: Ending::Done,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ollama,
    OpenAi,
}

/// A request the double received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
}

type Script = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

struct Shared {
    protocol: Protocol,
    script: Script,
    received: Mutex<Vec<Received>>,
    abandoned: AtomicUsize,
}

/// A running double; stops when dropped.
pub struct ChatDouble {
    /// Ollama: `http://127.0.0.1:PORT`; OpenAI: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl ChatDouble {
    /// Starts a double answering every request with `script(body)`. Call inside a runtime.
    pub async fn start(
        protocol: Protocol,
        script: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> ChatDouble {
        let shared = Arc::new(Shared {
            protocol,
            script: Arc::new(script),
            received: Mutex::new(Vec::new()),
            abandoned: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/api/chat", post(chat))
            .route("/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let base_url = match protocol {
            Protocol::Ollama => format!("http://{addr}"),
            Protocol::OpenAi => format!("http://{addr}/v1"),
        };
        ChatDouble {
            base_url,
            shared,
            server,
        }
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().clone()
    }

    /// Streams whose client went away before the stream's end.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }
}

impl Drop for ChatDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The system message of a chat request (what ragmesh put in the system turn).
pub fn system_text(body: &Value) -> &str {
    message_text(body, "system")
}

/// The user message of a chat request.
pub fn user_text(body: &Value) -> &str {
    message_text(body, "user")
}

fn message_text<'a>(body: &'a Value, role: &str) -> &'a str {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == role))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut received = shared.received.lock();
        received.push(Received {
            body: body.clone(),
            authorization,
        });
    }
    match (shared.script)(&body) {
        Reply::Status { status, message } => {
            let error = match shared.protocol {
                Protocol::Ollama => json!({ "error": message }),
                Protocol::OpenAi => json!({ "error": {
                    "message": message,
                    "type": match status {
                        429 => "rate_limit_error",
                        500.. => "server_error",
                        _ => "invalid_request_error",
                    },
                    "code": if status == 401 { json!("invalid_api_key") } else { Value::Null },
                }}),
            };
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(error.to_string()))
                .unwrap_or_default()
        }
        Reply::Stream {
            pieces,
            first_delay,
            ending,
        } => {
            let model = body["model"].as_str().unwrap_or_default().to_string();
            let content_type = match shared.protocol {
                Protocol::Ollama => "application/x-ndjson",
                Protocol::OpenAi => "text/event-stream",
            };
            let script = Scripted {
                protocol: shared.protocol,
                model,
                pieces,
                next: 0,
                first_delay,
                ending,
                finished: false,
                shared: shared.clone(),
            };
            let stream = futures::stream::unfold(script, |mut s| async move {
                let frame = s.next_frame().await?;
                Some((Ok::<_, std::convert::Infallible>(frame), s))
            });
            Response::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from_stream(stream))
                .unwrap_or_default()
        }
    }
}

/// The frames of one scripted stream; counts itself abandoned when dropped before its end.
struct Scripted {
    protocol: Protocol,
    model: String,
    pieces: Vec<String>,
    next: usize,
    first_delay: Duration,
    ending: Ending,
    finished: bool,
    shared: Arc<Shared>,
}

impl Scripted {
    async fn next_frame(&mut self) -> Option<String> {
        if self.finished {
            return None;
        }
        if self.next == 0 && !self.first_delay.is_zero() {
            tokio::time::sleep(self.first_delay).await;
        }
        if let Some(piece) = self.pieces.get(self.next).cloned() {
            self.next += 1;
            return Some(self.piece(&piece));
        }
        match self.ending.clone() {
            Ending::Endless => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.next += 1;
                Some(self.piece(" more"))
            }
            Ending::Done => {
                self.finished = true;
                Some(self.done())
            }
            Ending::Error(message) => {
                self.finished = true;
                Some(match self.protocol {
                    Protocol::Ollama => format!("{}\n", json!({ "error": message })),
                    Protocol::OpenAi => format!(
                        "data: {}\n\n",
                        json!({ "error": { "message": message, "type": "server_error", "code": null } })
                    ),
                })
            }
            Ending::Cut => {
                self.finished = true;
                None
            }
        }
    }

    fn piece(&self, text: &str) -> String {
        match self.protocol {
            Protocol::Ollama => format!(
                "{}\n",
                json!({
                    "model": self.model,
                    "created_at": "2026-11-24T12:00:00.000000Z",
                    "message": { "role": "assistant", "content": text },
                    "done": false,
                })
            ),
            Protocol::OpenAi => format!(
                "data: {}\n\n",
                json!({
                    "id": "chatcmpl-double",
                    "object": "chat.completion.chunk",
                    "created": 1_795_000_000u64,
                    "model": self.model,
                    "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }],
                })
            ),
        }
    }

    fn done(&self) -> String {
        let pieces = self.pieces.len() as u64;
        match self.protocol {
            Protocol::Ollama => format!(
                "{}\n",
                json!({
                    "model": self.model,
                    "created_at": "2026-11-24T12:00:01.000000Z",
                    "message": { "role": "assistant", "content": "" },
                    "done": true,
                    "done_reason": "stop",
                    "total_duration": 1_200_000_000u64,
                    "load_duration": 10_000_000u64,
                    "prompt_eval_count": 321,
                    "prompt_eval_duration": 250_000_000u64,
                    "eval_count": pieces,
                    "eval_duration": 900_000_000u64,
                })
            ),
            Protocol::OpenAi => {
                let finish = json!({
                    "id": "chatcmpl-double", "object": "chat.completion.chunk", "model": self.model,
                    "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }],
                });
                let usage = json!({
                    "id": "chatcmpl-double", "object": "chat.completion.chunk", "model": self.model,
                    "choices": [],
                    "usage": { "prompt_tokens": 321, "completion_tokens": pieces, "total_tokens": 321 + pieces },
                });
                format!("data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
            }
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}
