//! The HTTP side every remote provider shares: one client, sending with the first-token
//! deadline, the mapping of HTTP failures to typed errors that name the provider, reading the
//! `error` of an error body (Ollama's `{"error":"..."}` and OpenAI's
//! `{"error":{"message","type","code"}}` alike, so an OpenAI-compatible server answering either
//! shape is understood), and a line reader over a streamed body.

use crate::LlmError;
use crate::error::RemoteFailure;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use std::time::Duration;
use tokio::time::Instant;

/// Longest error body read from a provider.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// How long connecting to a provider may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn http_client(backend: &'static str) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| {
            LlmError::remote(
                backend,
                RemoteFailure::Unavailable,
                format!("HTTP client: {e}"),
            )
        })
}

/// Sends `request`, waiting at most until `deadline`; a non-2xx answer is a typed error.
pub(crate) async fn send(
    backend: &'static str,
    url: &str,
    request: reqwest::RequestBuilder,
    deadline: Instant,
    timeout: Duration,
) -> Result<reqwest::Response, LlmError> {
    let response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(first_token_timeout(backend, timeout)),
        Ok(Err(e)) => {
            return Err(LlmError::remote(
                backend,
                RemoteFailure::Unavailable,
                format!("is unreachable at {url}: {}", error_chain(&e)),
            ));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_error_body(response).await;
    let message = upstream_message(&body);
    let code = status.as_u16();
    Err(match code {
        429 => LlmError::remote(
            backend,
            RemoteFailure::RateLimited,
            format!("is rate limited (HTTP 429): {message}"),
        ),
        401 | 403 => LlmError::remote(
            backend,
            RemoteFailure::Unavailable,
            format!("rejected the credentials (HTTP {code}): {message}"),
        ),
        _ => LlmError::remote(
            backend,
            RemoteFailure::Unavailable,
            format!("answered HTTP {code}: {message}"),
        ),
    })
}

pub(crate) fn first_token_timeout(backend: &'static str, timeout: Duration) -> LlmError {
    LlmError::remote(
        backend,
        RemoteFailure::Timeout,
        format!("sent no token within {} ms", timeout.as_millis()),
    )
}

/// `e` and its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

async fn read_error_body(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The message of an error body: Ollama's `{"error":"..."}`, OpenAI's
/// `{"error":{"message","type","code"}}`, else the text itself.
pub(crate) fn upstream_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        let text = body.trim();
        return if text.is_empty() {
            "(empty body)".into()
        } else {
            text.chars().take(500).collect()
        };
    };
    error_message(&value).unwrap_or_else(|| value.to_string())
}

/// The `error` member of a JSON message, as text, when there is one.
pub(crate) fn error_message(value: &serde_json::Value) -> Option<String> {
    let error = value.get("error")?;
    if let Some(text) = error.as_str() {
        return Some(text.to_string());
    }
    let message = error
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("unknown error");
    let details: Vec<String> = ["type", "code"]
        .iter()
        .filter_map(|k| error.get(*k))
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect();
    Some(if details.is_empty() {
        message.to_string()
    } else {
        format!("{message} ({})", details.join(", "))
    })
}

/// Splits a streamed body into lines (without `\n` / `\r\n`); the last line may lack `\n`.
pub(crate) struct LineReader {
    backend: &'static str,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: Vec<u8>,
    ended: bool,
}

impl LineReader {
    pub fn new(
        backend: &'static str,
        body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    ) -> Self {
        LineReader {
            backend,
            body: body.boxed(),
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next line; None at the end of the body.
    pub async fn next_line(&mut self) -> Option<Result<String, LlmError>> {
        loop {
            if let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=newline).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(self.text(line));
            }
            if self.ended {
                if self.buffer.is_empty() {
                    return None;
                }
                let line = std::mem::take(&mut self.buffer);
                return Some(self.text(line));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(LlmError::remote(
                        self.backend,
                        RemoteFailure::Unavailable,
                        format!("broke off the answer stream: {}", error_chain(&e)),
                    )));
                }
                None => self.ended = true,
            }
        }
    }

    fn text(&self, line: Vec<u8>) -> Result<String, LlmError> {
        String::from_utf8(line).map_err(|_| {
            LlmError::remote(
                self.backend,
                RemoteFailure::Unavailable,
                "sent a line that is not UTF-8",
            )
        })
    }
}

/// The start of a line, for error messages.
pub(crate) fn clip(line: &str) -> String {
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_protocols_are_read() {
        assert_eq!(
            upstream_message(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            upstream_message(
                r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            "Incorrect API key (invalid_request_error, invalid_api_key)"
        );
        assert_eq!(upstream_message("Bad Gateway\n"), "Bad Gateway");
        assert_eq!(upstream_message(""), "(empty body)");
    }
}
