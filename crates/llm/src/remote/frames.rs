//! Cutting a streamed answer body into messages, as its [`Framing`] says: NDJSON (each
//! non-blank line is one message) or Server-Sent Events (`data:` lines joined per event, `:`
//! comments skipped, `event: error` marking an error event, `data: [DONE]` as the end, and a
//! last event without its blank line still counted).

use super::http::LineReader;
use super::protocol::Framing;
use crate::LlmError;

/// One message of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A JSON payload; `error_event` when SSE named it `event: error`.
    Message { payload: String, error_event: bool },
    /// SSE's `data: [DONE]`.
    Done,
}

/// Reads the frames of one body.
pub(crate) struct FrameReader {
    framing: Framing,
    lines: LineReader,
    event_name: String,
    data: Vec<String>,
}

impl FrameReader {
    pub fn new(framing: Framing, lines: LineReader) -> Self {
        FrameReader {
            framing,
            lines,
            event_name: String::new(),
            data: Vec::new(),
        }
    }

    /// The next frame; None at the end of the body.
    pub async fn next_frame(&mut self) -> Option<Result<Frame, LlmError>> {
        match self.framing {
            Framing::Ndjson => self.next_line_message().await,
            Framing::Sse => self.next_event().await,
        }
    }

    async fn next_line_message(&mut self) -> Option<Result<Frame, LlmError>> {
        loop {
            let line = match self.lines.next_line().await? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            if !line.trim().is_empty() {
                return Some(Ok(Frame::Message {
                    payload: line,
                    error_event: false,
                }));
            }
        }
    }

    async fn next_event(&mut self) -> Option<Result<Frame, LlmError>> {
        loop {
            let line = match self.lines.next_line().await {
                Some(Ok(line)) => line,
                Some(Err(e)) => return Some(Err(e)),
                // The body ended; a last event without its blank line still counts.
                None if !self.data.is_empty() => String::new(),
                None => return None,
            };
            if !line.is_empty() {
                if line.starts_with(':') {
                    continue; // comment / keep-alive
                }
                let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "data" => self.data.push(value.to_string()),
                    "event" => self.event_name = value.to_string(),
                    _ => {}
                }
                continue;
            }
            if self.data.is_empty() {
                continue;
            }
            let payload = self.data.join("\n");
            self.data.clear();
            let error_event = std::mem::take(&mut self.event_name) == "error";
            if payload.trim() == "[DONE]" {
                return Some(Ok(Frame::Done));
            }
            return Some(Ok(Frame::Message {
                payload,
                error_event,
            }));
        }
    }
}
