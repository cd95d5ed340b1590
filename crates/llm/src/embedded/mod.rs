//! The embedded backend: a GGUF model run in-process on candle — the file (`model_file`), its
//! tokenizer rebuilt from the metadata (`tokenizer`, `byte_level`), what requests share
//! (`shared`), the decoding loop (`decode`) and its guards against degenerate answers
//! (`guards`), and the forward pass: ragmesh's own llama forward (`model/`, the default) or
//! candle's `quantized_llama`, behind one interface (`engine`); the generator here ties them
//! together.
//! Weights are loaded once and shared; every request decodes on its own copy of the model (the copy shares the weight
//! tensors and owns a fresh KV cache) on this backend's rayon pool, feeding a bounded channel.
//! Dropping the stream closes the channel and decoding stops within one token.

mod byte_level;
mod decode;
mod engine;
mod guards;
mod model;
mod model_file;
mod shared;
mod tokenizer;

pub use byte_level::Utf8Stream;
pub use engine::EngineKind;
pub use guards::AnswerGuards;
pub use shared::EmbeddedOptions;
pub use tokenizer::{GgufTokenizer, load_tokenizer};

use crate::LlmError;
use crate::generator::{GenerationEvent, GenerationRequest, Generator};
use crate::packing::PackedPrompt;
use crate::template::{ChatFormat, ChatTemplate, FormatSource};
use candle_transformers::models::quantized_llama::MAX_SEQ_LEN;
use decode::DecodeJob;
use futures::StreamExt;
use futures::stream::BoxStream;
use shared::{DecodeCounters, Shared};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

/// A fixed prompt beginning shorter than this is not kept for reuse.
const MIN_PREFIX_TOKENS: usize = 8;

/// Messages buffered between the decoding thread and the consumer.
const CHANNEL_CAPACITY: usize = 16;

/// A llama-family GGUF model answering in-process.
#[derive(Clone)]
pub struct EmbeddedGenerator {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedGenerator")
            .field("name", &self.shared.name)
            .field("template", &self.shared.template)
            .finish()
    }
}

/// `embedded:` + the file name up to its first dot (`SmolLM2-135M-Instruct.Q4_1.gguf` →
/// `embedded:SmolLM2-135M-Instruct`).
fn model_name(path: &Path) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("model");
    let stem = file
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(file);
    format!("embedded:{stem}")
}

impl EmbeddedGenerator {
    /// Loads the model (blocking, ~1–2 s for SmolLM2-135M with re-quantization). Call it from
    /// a blocking context.
    pub fn load(options: EmbeddedOptions) -> Result<Self, LlmError> {
        let threads = match options.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        if options.max_prompt_tokens + options.max_new_tokens > MAX_SEQ_LEN {
            return Err(LlmError::InvalidRequest(format!(
                "max_prompt_tokens + max_new_tokens must not exceed {MAX_SEQ_LEN}"
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ragmesh-generation-{i}"))
            .build()
            .map_err(|e| {
                LlmError::Runtime(format!("cannot start the generation thread pool: {e}"))
            })?;
        let started = Instant::now();
        let loaded = pool.install(|| {
            model_file::load(&options.gguf_path, options.engine, options.requantize_q8)
        })?;
        let tokenizer = loaded.tokenizer;
        let eos_text = tokenizer
            .eos_id()
            .and_then(|id| tokenizer.decode(&[id], false).ok())
            .unwrap_or_default();
        let (template, source) = ChatFormat::from_gguf(loaded.chat_template.as_deref(), &eos_text);
        match &source {
            FormatSource::GgufTemplate => {
                tracing::info!(
                    family = ?template.family,
                    merges_system_turn = template.merges_system_turn(),
                    "using the GGUF's own chat template"
                )
            }
            FormatSource::Recognised(why) => tracing::warn!(
                path = %options.gguf_path.display(),
                "{why}; rendering that family's format"
            ),
            FormatSource::Fallback(why) => tracing::warn!(
                path = %options.gguf_path.display(),
                "{why}; falling back to ChatML"
            ),
        }
        let mut stop_ids: Vec<u32> = template
            .stop_tokens()
            .iter()
            .filter_map(|t| tokenizer.token_id(t))
            .collect();
        stop_ids.extend(tokenizer.eos_id());
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let bos_text = tokenizer
            .bos_id()
            .and_then(|id| tokenizer.decode(&[id], false).ok())
            .unwrap_or_default();
        let name = model_name(&options.gguf_path);
        tracing::info!(
            model = %name,
            path = %options.gguf_path.display(),
            engine = options.engine.as_str(),
            requantized = loaded.requantized,
            ?template,
            threads,
            load_ms = started.elapsed().as_secs_f64() * 1000.0,
            "generation model loaded"
        );
        let mut shared = Shared {
            name,
            weights: loaded.weights,
            tokenizer,
            template,
            bos_text,
            stop_ids,
            options,
            pool,
            counters: DecodeCounters::default(),
        };
        if shared.options.reuse_prompt_prefix {
            let prefix = shared.fixed_prompt_prefix()?;
            // Shorter than a dense batch it would not pay for the copy.
            if prefix.len() >= MIN_PREFIX_TOKENS {
                let weights = &mut shared.weights;
                shared.pool.install(|| weights.keep_prefix(prefix))?;
            }
        }
        tracing::info!(
            model = %shared.name,
            prefix_tokens = shared.weights.prefix_len(),
            "prompt prefix kept for reuse"
        );
        Ok(EmbeddedGenerator {
            shared: Arc::new(shared),
        })
    }

    /// Tokens of the prompt beginning whose keys and values every request reuses (0: none).
    pub fn reused_prefix_tokens(&self) -> usize {
        self.shared.weights.prefix_len()
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.shared.tokenizer
    }

    /// The chat family (which tokens end a turn).
    pub fn template(&self) -> ChatTemplate {
        self.shared.template.family
    }

    /// True when prompts are written by the GGUF's own chat template.
    pub fn uses_gguf_template(&self) -> bool {
        self.shared.template.uses_gguf_template()
    }

    /// Token ids that end an answer.
    pub fn stop_ids(&self) -> &[u32] {
        &self.shared.stop_ids
    }

    /// Tokens decoded by this generator since it was loaded (every request, cancelled or not).
    pub fn decoded_tokens(&self) -> u64 {
        self.shared.counters.decoded.load(Ordering::SeqCst)
    }

    /// Generations whose decoding is still running or queued for the pool.
    pub fn active_generations(&self) -> usize {
        self.shared.counters.active.load(Ordering::SeqCst)
    }

    /// The prompt this generator would send for `request` (what the model really sees).
    pub fn packed_prompt(&self, request: &GenerationRequest) -> Result<PackedPrompt, LlmError> {
        self.shared.pack(request)
    }
}

impl Generator for EmbeddedGenerator {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> BoxStream<'static, Result<GenerationEvent, LlmError>> {
        let received = Instant::now();
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle,
            Err(_) => {
                let err =
                    LlmError::Runtime("generate must be called inside a tokio runtime".into());
                return futures::stream::once(async move { Err(err) }).boxed();
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CAPACITY);
        let job = DecodeJob::new(self.shared.clone(), request, received, tx);
        runtime.spawn_blocking(move || job.run_on_pool());
        ReceiverStream::new(rx).boxed()
    }
}
