//! The settings schema and its compiled defaults. Every field has a default, so an empty
//! file is a valid configuration for a laptop.

use crate::{OllamaSettings, OpenAiSettings, PromptSettings};
use ragmesh_core::fusion::FusionMethod;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub models: ModelSettings,
    pub telemetry: TelemetrySettings,
    pub retrieval: RetrievalSettings,
    pub rerank: RerankSettings,
    pub generation: GenerationSettings,
    pub gateway: GatewaySettings,
    pub rpc: crate::RpcSettings,
    pub cache: crate::CacheSettings,
    pub lb: crate::LbSettings,
    /// Passage selection, grounding and the answer mode (`[answer]`).
    pub answer: crate::AnswerSettings,
}

/// Where model files live and where they are fetched from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// Directory holding the unpacked models (`RAGMESH_MODELS_DIR` also sets it).
    pub dir: PathBuf,
    /// PEP 691 simple index used by `ragmesh models fetch` (a mirror may be given).
    pub index_url: String,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            dir: default_models_dir(),
            index_url: "https://pypi.org/simple".into(),
        }
    }
}

/// `$RAGMESH_MODELS_DIR`, else `$XDG_CACHE_HOME/ragmesh/models`, else `~/.cache/ragmesh/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RAGMESH_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(cache).join("ragmesh/models");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/ragmesh/models")
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines for Loki.
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `ragmesh=debug,info`; `RUST_LOG` wins.
    /// Changeable at run time (`PUT /api/admin/log-level`, `PUT /log-level` on admin listeners).
    pub log_level: String,
    /// The `instance` field of every JSON log line and the `service.instance.id` of every
    /// exported span; empty means the host name (spans add `:pid`).
    pub instance: String,
    /// OTLP/gRPC collector for traces, e.g. `http://otel-collector:4317`; None (the default)
    /// turns tracing export off.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces exported, 0..=1; a caller's sampled flag wins (parent-based).
    pub sampling_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_format: LogFormat::Json,
            log_level: "info".into(),
            instance: String::new(),
            otlp_endpoint: None,
            sampling_ratio: 1.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalSettings {
    pub listen: String,
    /// HTTP address of `/metrics` and `/log-level` for this service; empty = none.
    pub metrics_listen: String,
    /// Root of all persisted collections.
    pub data_dir: PathBuf,
    /// Embedding model directory; empty means `<models.dir>/all-MiniLM-L6-v2`.
    pub embedding_model_dir: Option<PathBuf>,
    /// Word pieces per chunk (all-MiniLM-L6-v2 reads at most 256).
    pub chunk_tokens: usize,
    /// Word pieces shared by consecutive chunks.
    pub chunk_overlap_tokens: usize,
    pub embed_batch_size: usize,
    /// Threads of each of the two pools, queries and writes (0 = number of cores).
    pub threads: usize,
    /// How hybrid search fuses its legs when a request names no method: `score` (sum of
    /// min-max normalised leg scores) or `rrf` (reciprocal rank fusion).
    pub fusion: FusionMethod,
    /// Reciprocal rank fusion constant when a request gives none.
    pub rrf_k: u32,
    /// Candidates each leg returns before fusion, as a multiple of k (at least 50).
    pub leg_depth_factor: usize,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        RetrievalSettings {
            listen: "127.0.0.1:50051".into(),
            metrics_listen: String::new(),
            data_dir: PathBuf::from("data"),
            embedding_model_dir: None,
            chunk_tokens: 200,
            chunk_overlap_tokens: 40,
            embed_batch_size: 32,
            threads: 0,
            fusion: FusionMethod::Score,
            rrf_k: 60,
            leg_depth_factor: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RerankSettings {
    pub listen: String,
    /// HTTP address of `/metrics` and `/log-level` for this service; empty = none.
    pub metrics_listen: String,
    /// Directory of a BERT cross-encoder (config.json, model.safetensors, tokenizer.json).
    /// None means no reranker: the service keeps the input order and says `reranker: "none"`.
    pub model_dir: Option<PathBuf>,
    pub max_length: usize,
    pub threads: usize,
}

impl Default for RerankSettings {
    fn default() -> Self {
        RerankSettings {
            listen: "127.0.0.1:50052".into(),
            metrics_listen: String::new(),
            model_dir: None,
            max_length: 512,
            threads: 0,
        }
    }
}

/// Which forward pass runs the embedded GGUF model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationEngine {
    /// ragmesh's own llama forward: dense f32 prompt pass, Q8_0 decode, preallocated cache.
    #[default]
    Native,
    /// candle's `quantized_llama` (the earlier engine).
    Candle,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerationSettings {
    pub listen: String,
    /// HTTP address of `/metrics` and `/log-level` for this service; empty = none.
    pub metrics_listen: String,
    /// GGUF file; None means `<models.dir>/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub gguf_path: Option<PathBuf>,
    /// Forward pass of the embedded model: `native` or `candle`.
    pub engine: GenerationEngine,
    /// Native engine: keep the keys and values of the prompt's fixed beginning (chat markup,
    /// system turn) and start every request from them.
    pub reuse_prompt_prefix: bool,
    pub max_new_tokens: usize,
    pub repeat_penalty: f32,
    /// Tokens looked back for the repeat penalty.
    pub repeat_last_n: usize,
    /// Re-quantize weights to Q8_0 at load (faster on CPU than the shipped Q4_1).
    pub requantize_q8: bool,
    /// Length of the token n-grams an embedded answer may not repeat too often (0 = off).
    pub ngram_block_size: usize,
    /// How often one such n-gram may occur in an answer; the token that would make it occur
    /// once more is never chosen.
    pub ngram_max_occurrences: usize,
    /// Sentences after which an embedded answer ends (0 = no limit).
    pub max_sentences: usize,
    /// Within this many tokens of the cap (at most a quarter of it), an embedded answer ends
    /// at the first sentence end instead of being cut mid-sentence (0 = off).
    pub sentence_stop_window: usize,
    /// Threads of the generation pool, separate from embedding (0 = number of cores).
    pub threads: usize,
    /// Largest prompt, in tokens, including contexts.
    pub max_prompt_tokens: usize,
    /// Provider used when a request names none: `embedded`, `ollama` or `openai`.
    pub provider: String,
    /// Load the embedded GGUF model (turn off when only remote providers are used).
    pub embedded_enabled: bool,
    pub prompt: PromptSettings,
    pub ollama: OllamaSettings,
    pub openai: OpenAiSettings,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            listen: "127.0.0.1:50053".into(),
            metrics_listen: String::new(),
            gguf_path: None,
            engine: GenerationEngine::Native,
            reuse_prompt_prefix: true,
            max_new_tokens: 256,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            requantize_q8: true,
            ngram_block_size: 4,
            ngram_max_occurrences: 2,
            max_sentences: 6,
            sentence_stop_window: 32,
            threads: 0,
            max_prompt_tokens: 1536,
            provider: "embedded".into(),
            embedded_enabled: true,
            prompt: PromptSettings::default(),
            ollama: OllamaSettings::default(),
            openai: OpenAiSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    pub listen: String,
    /// Retrieval shards and their replicas: `;` separates shards, `,` replicas of a shard
    /// (one group: a single shard; see docs/architecture.md "Sharded retrieval").
    #[serde(deserialize_with = "crate::rpc::url_list")]
    pub retrieval_url: String,
    /// Backend instances: one URL, a comma-separated list or a TOML array of URLs (idempotent
    /// calls are retried once on the next instance, see `[rpc]`).
    #[serde(deserialize_with = "crate::rpc::url_list")]
    pub rerank_url: String,
    #[serde(deserialize_with = "crate::rpc::url_list")]
    pub generation_url: String,
    /// Largest request body (JSON or multipart), bytes.
    pub max_body_bytes: usize,
    /// Largest backup archive `POST /api/restore` accepts, bytes.
    pub max_restore_bytes: usize,
    pub max_query_chars: usize,
    pub default_k: u32,
    /// Candidates sent to the reranker when a query asks for reranking.
    pub rerank_top_n: u32,
    /// Deadline of unary calls to backends, milliseconds.
    pub rpc_timeout_ms: u64,
    /// Deadline of a whole generation stream, milliseconds.
    pub generate_timeout_ms: u64,
    /// Redis keeping the writes a retrieval replica missed until it is back (hinted
    /// handoff, shared by every gateway); unset: `cache.l2_redis_url`. Needed only when a
    /// shard has more than one replica.
    pub handoff_redis_url: Option<String>,
    /// Prefix of the handoff keys in that Redis.
    pub handoff_key_prefix: String,
    /// After SIGTERM: how long requests in flight may still run to completion (new
    /// connections are refused at once); what is left then ends with a 503 / `error` event.
    pub shutdown_grace_ms: u64,
    /// Bounds on text extraction of uploads (`[gateway.extract]`).
    pub extract: crate::ExtractSettings,
    /// Cross-site and slow-client defences of the HTTP server (`[gateway.http]`).
    pub http: crate::HttpSettings,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: "127.0.0.1:8080".into(),
            retrieval_url: "http://127.0.0.1:50051".into(),
            rerank_url: "http://127.0.0.1:50052".into(),
            generation_url: "http://127.0.0.1:50053".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_restore_bytes: 1024 * 1024 * 1024,
            max_query_chars: 4096,
            default_k: 5,
            rerank_top_n: 10,
            rpc_timeout_ms: 30_000,
            generate_timeout_ms: 300_000,
            handoff_redis_url: None,
            handoff_key_prefix: "ragmesh:handoff".into(),
            shutdown_grace_ms: 30_000,
            extract: crate::ExtractSettings::default(),
            http: crate::HttpSettings::default(),
        }
    }
}

impl GenerationSettings {
    /// The embedded model file: `gguf_path`, or the default model under `models_dir`.
    pub fn gguf_file(&self, models_dir: &Path) -> PathBuf {
        self.gguf_path.clone().unwrap_or_else(|| {
            models_dir.join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
    }
}
