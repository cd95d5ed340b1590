//! The providers this service answers with — `embedded` (loaded in the background), `ollama`
//! and `openai` (configured when their model is set) — and the rule for choosing one per
//! request: the request's `provider`, else the configured default. An unknown name is
//! rejected, an unconfigured or still-loading provider is UNAVAILABLE naming it; a request is
//! never answered by another provider than the one it resolved to.

use crate::GenerationError;
use ragmesh_config::{GenerationEngine, PROVIDERS, PromptSettings, Settings};
use ragmesh_llm::{
    AnswerGuards, EmbeddedOptions, EngineKind, Generator, OllamaGenerator, OllamaOptions,
    OpenAiGenerator, OpenAiOptions, PromptTemplate,
};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The generators of one service and its default.
pub struct Providers {
    default: String,
    prompt_version: String,
    embedded_enabled: bool,
    embedded: OnceLock<Arc<dyn Generator>>,
    remote: HashMap<&'static str, Arc<dyn Generator>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("default", &self.default)
            .field(
                "embedded",
                &self.embedded.get().map(|g| g.name().to_string()),
            )
            .field("remote", &self.remote.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Providers {
    /// Only `embedded` (to be set), the default template.
    fn default() -> Self {
        Providers {
            default: "embedded".into(),
            prompt_version: PromptSettings::default().version(),
            embedded_enabled: true,
            embedded: OnceLock::new(),
            remote: HashMap::new(),
        }
    }
}

/// The `[generation.prompt]` wording for the llm crate.
pub fn prompt_template(prompt: &PromptSettings) -> PromptTemplate {
    PromptTemplate {
        system: prompt.system.clone(),
        context_format: prompt.context_format.clone(),
        citation_instruction: prompt.citation_instruction.clone(),
        answer_language: prompt.answer_language.clone(),
    }
}

impl Providers {
    /// The remote providers whose model is set, ready to be called (nothing is dialled yet).
    /// Fails when the default provider is not usable with this configuration.
    pub fn from_settings(settings: &Settings) -> Result<Providers, GenerationError> {
        let g = &settings.generation;
        let prompt = prompt_template(&g.prompt);
        let mut remote: HashMap<&'static str, Arc<dyn Generator>> = HashMap::new();
        if !g.ollama.model.trim().is_empty() {
            let ollama = OllamaGenerator::new(OllamaOptions {
                base_url: g.ollama.base_url.clone(),
                model: g.ollama.model.clone(),
                first_token_timeout: Duration::from_millis(g.ollama.first_token_timeout_ms),
                max_prompt_tokens: g.ollama.max_prompt_tokens,
                max_new_tokens: g.max_new_tokens,
                prompt: prompt.clone(),
            })?;
            remote.insert("ollama", Arc::new(ollama));
        }
        if !g.openai.model.trim().is_empty() {
            let openai = OpenAiGenerator::new(OpenAiOptions {
                base_url: g.openai.base_url.clone(),
                model: g.openai.model.clone(),
                api_key: g.openai.resolved_api_key(|name| std::env::var(name).ok()),
                first_token_timeout: Duration::from_millis(g.openai.first_token_timeout_ms),
                max_prompt_tokens: g.openai.max_prompt_tokens,
                max_new_tokens: g.max_new_tokens,
                prompt,
            })?;
            remote.insert("openai", Arc::new(openai));
        }
        let providers = Providers {
            default: g.provider.clone(),
            prompt_version: g.prompt.version(),
            embedded_enabled: g.embedded_enabled,
            embedded: OnceLock::new(),
            remote,
        };
        if let Err(err) = providers.configured(&providers.default) {
            return Err(GenerationError::Config(format!(
                "generation.provider is {:?}, but {err}",
                providers.default
            )));
        }
        Ok(providers)
    }

    /// Whether the embedded model is to be loaded.
    pub fn embedded_enabled(&self) -> bool {
        self.embedded_enabled
    }

    /// Makes `embedded` answer (only the first call has an effect).
    pub fn set_embedded(&self, generator: Arc<dyn Generator>) {
        let _ = self.embedded.set(generator);
    }

    /// Version of the prompt template every provider here uses.
    pub fn prompt_version(&self) -> &str {
        &self.prompt_version
    }

    /// Checks that `provider` is known and configured (the embedded one may still be loading).
    fn configured(&self, provider: &str) -> Result<(), GenerationError> {
        match provider {
            "embedded" if self.embedded_enabled => Ok(()),
            "embedded" => Err(GenerationError::NotConfigured {
                provider: "embedded".into(),
                hint: "generation.embedded_enabled is false".into(),
            }),
            p if self.remote.contains_key(p) => Ok(()),
            p if PROVIDERS.contains(&p) => Err(GenerationError::NotConfigured {
                provider: p.to_string(),
                hint: format!("set generation.{p}.model"),
            }),
            p => Err(GenerationError::UnknownProvider(p.to_string())),
        }
    }

    /// The provider name and generator that answer a request asking for `provider` (empty =
    /// the default).
    pub fn resolve(&self, provider: &str) -> Result<(String, Arc<dyn Generator>), GenerationError> {
        let name = match provider.trim() {
            "" => self.default.as_str(),
            name => name,
        };
        self.configured(name)?;
        let generator = match name {
            "embedded" => self
                .embedded
                .get()
                .cloned()
                .ok_or(GenerationError::NotReady)?,
            other => self
                .remote
                .get(other)
                .cloned()
                .ok_or_else(|| GenerationError::UnknownProvider(other.to_string()))?,
        };
        Ok((name.to_string(), generator))
    }
}

/// Options of the embedded backend from the `[generation]` settings.
pub fn embedded_options(settings: &Settings) -> EmbeddedOptions {
    let g = &settings.generation;
    EmbeddedOptions {
        gguf_path: g.gguf_file(&settings.models.dir),
        engine: match g.engine {
            GenerationEngine::Native => EngineKind::Native,
            GenerationEngine::Candle => EngineKind::Candle,
        },
        requantize_q8: g.requantize_q8,
        threads: g.threads,
        max_prompt_tokens: g.max_prompt_tokens,
        max_new_tokens: g.max_new_tokens,
        repeat_penalty: g.repeat_penalty,
        repeat_last_n: g.repeat_last_n,
        prompt: prompt_template(&g.prompt),
        guards: AnswerGuards {
            ngram_size: g.ngram_block_size,
            ngram_max_occurrences: g.ngram_max_occurrences,
            max_sentences: g.max_sentences,
            sentence_stop_window: g.sentence_stop_window,
        },
        reuse_prompt_prefix: g.reuse_prompt_prefix,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ragmesh_core::{Classify, ErrorCode};

    #[test]
    fn the_default_template_is_the_llm_crates_default() {
        assert_eq!(
            prompt_template(&PromptSettings::default()),
            PromptTemplate::default()
        );
    }

    #[test]
    fn providers_resolve_by_name_and_never_fall_back() {
        let mut settings = Settings::default();
        settings.generation.ollama.model = "llama3.2".into();
        let providers = Providers::from_settings(&settings).unwrap();
        let code = |p: &str| providers.resolve(p).map(|_| ()).unwrap_err().code();
        // Embedded is still loading: unavailable, not answered by ollama.
        assert_eq!(code(""), ErrorCode::Unavailable);
        assert_eq!(code("embedded"), ErrorCode::Unavailable);
        let (name, generator) = providers.resolve("ollama").unwrap();
        assert_eq!(
            (name.as_str(), generator.name()),
            ("ollama", "ollama:llama3.2")
        );
        let err = providers.resolve("openai").map(|_| ()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable);
        assert!(err.to_string().contains("openai"), "{err}");
        assert!(err.to_string().contains("generation.openai.model"), "{err}");
        assert_eq!(code("gpt"), ErrorCode::UnprocessableEntity);
    }

    #[test]
    fn an_unconfigured_default_provider_is_a_startup_error() {
        let mut settings = Settings::default();
        settings.generation.provider = "openai".into();
        let err = Providers::from_settings(&settings).unwrap_err();
        assert!(err.to_string().contains("generation.openai.model"), "{err}");
    }
}
