//! Which generator answers a request, resolved from configuration alone: provider, model and
//! prompt template version. Anything that must tell answers of different generators apart (the
//! semantic cache key, the profile, logs) reads it from here; the generation service reports
//! the same values in every `Done`, so a mismatch between the two processes is visible.

use crate::Settings;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeneratorIdentity {
    /// `embedded`, `ollama` or `openai`.
    pub provider: String,
    /// `provider:model`, the same string the generator reports as its name
    /// (e.g. `embedded:SmolLM2-135M-Instruct`, `ollama:llama3.2`).
    pub model: String,
    /// [`crate::PromptSettings::version`] of the configured template.
    pub prompt_version: String,
}

/// `SmolLM2-135M-Instruct.Q4_1.gguf` → `SmolLM2-135M-Instruct`: the file name up to its first dot.
pub fn gguf_model_stem(path: &Path) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("model");
    file.split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(file)
        .to_string()
}

impl Settings {
    /// The generator `provider` (None: the configured default) stands for. The provider name
    /// must already be one of [`crate::PROVIDERS`]; an unconfigured remote provider has an
    /// empty model after the colon.
    pub fn generator_identity(&self, provider: Option<&str>) -> GeneratorIdentity {
        let g = &self.generation;
        let provider = provider.unwrap_or(&g.provider).to_string();
        let model = match provider.as_str() {
            "ollama" => g.ollama.model.clone(),
            "openai" => g.openai.model.clone(),
            _ => gguf_model_stem(&g.gguf_file(&self.models.dir)),
        };
        GeneratorIdentity {
            model: format!("{provider}:{model}"),
            provider,
            prompt_version: g.prompt.version(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_provider_model_and_prompt_version() {
        let mut s = Settings::default();
        let embedded = s.generator_identity(None);
        assert_eq!(embedded.provider, "embedded");
        assert_eq!(embedded.model, "embedded:SmolLM2-135M-Instruct");
        assert_eq!(embedded.prompt_version, s.generation.prompt.version());
        s.generation.ollama.model = "llama3.2:3b".into();
        assert_eq!(
            s.generator_identity(Some("ollama")).model,
            "ollama:llama3.2:3b"
        );
        s.generation.gguf_path = Some("/m/TinyLlama-1.1B-Chat.Q8_0.gguf".into());
        assert_eq!(
            s.generator_identity(Some("embedded")).model,
            "embedded:TinyLlama-1"
        );
    }
}
