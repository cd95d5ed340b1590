//! A small typed client for the gateway's HTTP API, used by `ingest`, `query`, `eval`,
//! `backup`, `restore` and `up --demo`. Error bodies (`{"error":{"code","message"}}`) become
//! readable errors.

use anyhow::Context;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
}

/// An error answer of the gateway: its HTTP status and `{"error":{"code","message"}}`.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Rejection {
    /// Bad input (4xx): sending the same again would fail the same way.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status) && self.status != 429
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

/// One Server-Sent Event: its `event:` type and its `data:` payload parsed as JSON.
#[derive(Debug)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

impl GatewayClient {
    pub fn new(base_url: &str) -> anyhow::Result<GatewayClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(GatewayClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// True when `/health/ready` answers 200.
    pub async fn ready(&self) -> bool {
        let request = self
            .http
            .get(format!("{}/health/ready", self.base))
            .timeout(Duration::from_secs(5));
        matches!(request.send().await, Ok(r) if r.status().is_success())
    }

    /// POSTs JSON and returns the JSON answer, or the gateway's error as an error.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        Self::json_or_error(response).await
    }

    /// POSTs files as one `multipart/form-data` request (part `file`, the given names as file
    /// names, sent unencoded so a relative path keeps its `/`). A gateway error comes back as
    /// `Ok(Err(rejection))` so the caller can tell bad input from a failed transport.
    pub async fn post_files(
        &self,
        path: &str,
        files: Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<Result<Value, Rejection>> {
        let mut form = reqwest::multipart::Form::new().percent_encode_noop();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .multipart(form)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Ok(body));
        }
        Ok(Err(Rejection {
            status: status.as_u16(),
            code: body["error"]["code"].as_str().unwrap_or("unknown").into(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .into(),
        }))
    }

    /// GETs `path` and returns the JSON answer, or the gateway's error as an error.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        Self::json_or_error(response).await
    }

    /// POSTs `path` and writes the answer's body to `out` (via `out.partial`, fsync'd and
    /// renamed, so `out` never holds a partial download). Returns the bytes written.
    pub async fn download(&self, path: &str, out: &std::path::Path) -> anyhow::Result<u64> {
        use std::io::Write;
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        if !response.status().is_success() {
            Self::json_or_error(response).await?;
            anyhow::bail!("the gateway refused the download");
        }
        let partial = out.with_extension("partial");
        let mut file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut written = 0u64;
        let mut body = response.bytes_stream();
        while let Some(part) = body.next().await {
            let part = part.context("the download broke off")?;
            file.write_all(&part)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            written += part.len() as u64;
        }
        file.sync_all()
            .with_context(|| format!("cannot sync {}", partial.display()))?;
        std::fs::rename(&partial, out)
            .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
        Ok(written)
    }

    /// POSTs raw bytes (`application/octet-stream`) and returns the JSON answer.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        Self::json_or_error(response).await
    }

    async fn json_or_error(response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        anyhow::bail!("gateway answered {status} ({code}): {message}")
    }

    /// POSTs JSON to a Server-Sent Events endpoint and calls `on_event` for each event.
    pub async fn post_sse(
        &self,
        path: &str,
        body: &Value,
        mut on_event: impl FnMut(SseEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        if !response.status().is_success() {
            Self::json_or_error(response).await?;
            return Ok(());
        }
        let mut buffer = String::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse_block(&block) {
                    on_event(event)?;
                }
            }
        }
        Ok(())
    }
}

/// Parses one SSE block (`event:` and `data:` lines); comments and empty blocks give None.
pub fn parse_sse_block(block: &str) -> Option<SseEvent> {
    let mut event = String::from("message");
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
    Some(SseEvent { event, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_events_and_ignores_comments() {
        let e = parse_sse_block("event: token\ndata: {\"text\":\"hi\"}\n\n").unwrap();
        assert_eq!(e.event, "token");
        assert_eq!(e.data["text"], "hi");
        assert!(parse_sse_block(": keep-alive\n\n").is_none());
    }
}
