//! Configuration of every ragmesh process, in one schema so that `ragmesh up` (all services in
//! one process) and the separate service binaries read the same keys.
//!
//! Layers, later wins: compiled defaults ([`Settings::default`]) → an optional TOML file →
//! environment variables `RAGMESH__SECTION__KEY` (e.g. `RAGMESH__GATEWAY__LISTEN`). Unknown
//! keys are rejected so that a typo never silently falls back to a default.

mod answer;
mod cache;
mod extract;
mod generator_identity;
mod http;
mod lb;
mod prompt;
mod providers;
mod rpc;
mod settings;

pub use answer::{AnswerMode, AnswerSettings, UnsupportedPolicy};
pub use cache::CacheSettings;
pub use extract::ExtractSettings;
pub use generator_identity::{GeneratorIdentity, gguf_model_stem};
pub use http::HttpSettings;
pub use lb::{LbProtocol, LbSelection, LbSettings};
pub use prompt::{CONTEXT_PLACEHOLDERS, PromptSettings};
pub use providers::{OPENAI_KEY_ENV, OllamaSettings, OpenAiSettings, PROVIDERS};
pub use rpc::{BreakerSettings, MaxConcurrentSettings, RpcSettings, split_urls};
pub use settings::*;

use ragmesh_core::{Classify, ErrorCode};
use std::path::Path;

/// Errors while reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Classify for ConfigError {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidArgument
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `RAGMESH__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let defaults = config::Config::try_from(&Settings::default())?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let env_map: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("RAGMESH__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("RAGMESH")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_map)),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.retrieval.chunk_overlap_tokens >= self.retrieval.chunk_tokens {
            return invalid(
                "retrieval.chunk_overlap_tokens must be smaller than retrieval.chunk_tokens",
            );
        }
        if self.retrieval.chunk_tokens == 0 || self.retrieval.chunk_tokens > 510 {
            return invalid("retrieval.chunk_tokens must be in 1..=510");
        }
        if self.gateway.max_body_bytes == 0 {
            return invalid("gateway.max_body_bytes must be positive");
        }
        if self.gateway.max_restore_bytes == 0 {
            return invalid("gateway.max_restore_bytes must be positive");
        }
        if !(1..=50).contains(&self.gateway.default_k) {
            return invalid("gateway.default_k must be in 1..=50");
        }
        if self.generation.max_new_tokens == 0 {
            return invalid("generation.max_new_tokens must be positive");
        }
        self.rpc.validate().map_err(ConfigError::Invalid)?;
        if !PROVIDERS.contains(&self.generation.provider.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "generation.provider {:?} is unknown: use one of {}",
                self.generation.provider,
                PROVIDERS.join(", ")
            )));
        }
        if let Some(problem) = self.generation.prompt.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if !(0.0..=1.0).contains(&self.telemetry.sampling_ratio) {
            return invalid("telemetry.sampling_ratio must be in 0..=1");
        }
        if self
            .telemetry
            .otlp_endpoint
            .as_deref()
            .is_some_and(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            return invalid("telemetry.otlp_endpoint must be an http:// or https:// URL");
        }
        if let Some(problem) = self.answer.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.gateway.http.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.gateway.extract.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.cache.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.lb.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        Ok(())
    }
}

/// The configuration file named by `--config PATH` (or `--config=PATH`) on the command line,
/// else by `RAGMESH_CONFIG`. Service binaries take no other arguments.
pub fn config_path_from_args() -> Option<std::path::PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(Into::into);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    std::env::var_os("RAGMESH_CONFIG")
        .filter(|p| !p.is_empty())
        .map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragmesh_core::fusion::FusionMethod;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ragmesh.toml");
        std::fs::write(
            &file,
            "[gateway]\nlisten = \"127.0.0.1:9000\"\ndefault_k = 7\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            env(&[("RAGMESH__GATEWAY__LISTEN", "127.0.0.1:9100")]),
        )
        .unwrap();
        assert_eq!(s.gateway.listen, "127.0.0.1:9100");
        assert_eq!(s.gateway.default_k, 7);
        assert_eq!(s.retrieval.rrf_k, 60);
    }

    #[test]
    fn fusion_defaults_to_score_and_takes_rrf_from_env() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.retrieval.fusion, FusionMethod::Score);
        let s =
            Settings::load_with_env(None, env(&[("RAGMESH__RETRIEVAL__FUSION", "rrf")])).unwrap();
        assert_eq!(s.retrieval.fusion, FusionMethod::Rrf);
        let err = Settings::load_with_env(None, env(&[("RAGMESH__RETRIEVAL__FUSION", "combsum")]));
        assert!(err.is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[gateway]\nlisen = \"x\"\n").unwrap();
        assert!(Settings::load_with_env(Some(&file), env(&[])).is_err());
        let err = Settings::load_with_env(None, env(&[("RAGMESH__GATEWAY__DEFAULT_K", "0")]));
        assert!(err.is_err());
        let err = Settings::load_with_env(
            None,
            env(&[("RAGMESH__RPC__BREAKER__HALF_OPEN_MAX_CALLS", "1")]),
        );
        assert!(err.is_err(), "fewer trial calls than needed to close");
    }

    #[test]
    fn tracing_is_off_by_default_and_env_turns_it_on() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.telemetry.otlp_endpoint, None);
        assert_eq!(s.telemetry.sampling_ratio, 1.0);
        let s = Settings::load_with_env(
            None,
            env(&[
                ("RAGMESH__TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                ("RAGMESH__TELEMETRY__SAMPLING_RATIO", "0.25"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        assert_eq!(s.telemetry.sampling_ratio, 0.25);
        for (key, bad) in [
            ("RAGMESH__TELEMETRY__SAMPLING_RATIO", "1.5"),
            ("RAGMESH__TELEMETRY__SAMPLING_RATIO", "-0.1"),
            ("RAGMESH__TELEMETRY__OTLP_ENDPOINT", "collector:4317"),
        ] {
            assert!(
                Settings::load_with_env(None, env(&[(key, bad)])).is_err(),
                "{key}={bad}"
            );
        }
    }

    #[test]
    fn backend_urls_take_one_url_a_list_or_an_array() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(
            split_urls(&s.gateway.retrieval_url),
            ["http://127.0.0.1:50051"]
        );
        assert_eq!(s.rpc.breaker.failure_threshold, 5);
        assert_eq!(s.rpc.max_concurrent.generation, 8);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ragmesh.toml");
        std::fs::write(
            &file,
            "[gateway]\nretrieval_url = [\"http://a:1\", \"http://b:2\"]\n\
             [rpc.breaker]\nopen_ms = 500\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            env(&[
                ("RAGMESH__GATEWAY__RERANK_URL", "http://c:3, http://d:4"),
                ("RAGMESH__RPC__MAX_CONCURRENT__RERANK", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(
            split_urls(&s.gateway.retrieval_url),
            ["http://a:1", "http://b:2"]
        );
        assert_eq!(
            split_urls(&s.gateway.rerank_url),
            ["http://c:3", "http://d:4"]
        );
        assert_eq!(s.rpc.breaker.open_ms, 500);
        assert_eq!(s.rpc.max_concurrent.rerank, 2);
    }

    #[test]
    fn nested_generation_sections_load_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ragmesh.toml");
        std::fs::write(
            &file,
            "[generation]\nprovider = \"ollama\"\n[generation.ollama]\nmodel = \"llama3.2\"\n\
             [generation.prompt]\nanswer_language = \"French\"\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            env(&[
                ("RAGMESH__GENERATION__OPENAI__API_KEY", "sk-test"),
                ("RAGMESH__GENERATION__OPENAI__MODEL", "gpt-4o-mini"),
            ]),
        )
        .unwrap();
        assert_eq!(s.generation.provider, "ollama");
        assert_eq!(s.generation.ollama.model, "llama3.2");
        assert_eq!(s.generation.prompt.answer_language, "French");
        assert_eq!(s.generation.openai.api_key.as_deref(), Some("sk-test"));
        assert_eq!(s.generation.openai.model, "gpt-4o-mini");
        assert_ne!(
            s.generation.prompt.version(),
            PromptSettings::default().version()
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[generation.prompt]\ncontext_format = \"{text}\"\n").unwrap();
        assert!(Settings::load_with_env(Some(&bad), env(&[])).is_err());
    }

    #[test]
    fn unknown_provider_is_rejected() {
        let err = Settings::load_with_env(None, env(&[("RAGMESH__GENERATION__PROVIDER", "gpt")]));
        assert!(err.unwrap_err().to_string().contains("\"gpt\" is unknown"));
    }

    #[test]
    fn lb_section_reads_env_and_rejects_bad_values() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("RAGMESH__LB__LISTEN", "127.0.0.1:0"),
                ("RAGMESH__LB__UPSTREAMS", "127.0.0.1:1, gateway-2:8080"),
                ("RAGMESH__LB__SELECTION", "least_connections"),
                ("RAGMESH__LB__PROTOCOL", "grpc"),
            ]),
        )
        .unwrap();
        assert_eq!(s.lb.listen, "127.0.0.1:0");
        assert_eq!(s.lb.static_upstreams(), ["127.0.0.1:1", "gateway-2:8080"]);
        assert_eq!(s.lb.selection, LbSelection::LeastConnections);
        assert_eq!(s.lb.protocol, LbProtocol::Grpc);
        assert_eq!(s.lb.dns_upstream(), None);
        for (key, value) in [
            ("RAGMESH__LB__UPSTREAMS", "no-port"),
            ("RAGMESH__LB__UPSTREAMS_DNS", "svc:notaport"),
            ("RAGMESH__LB__EJECT_AFTER_FAILURES", "0"),
            ("RAGMESH__LB__SELECTION", "random"),
        ] {
            assert!(
                Settings::load_with_env(None, env(&[(key, value)])).is_err(),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn cache_section_reads_env_and_rejects_bad_values() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("RAGMESH__CACHE__L2_REDIS_URL", "redis://127.0.0.1:6379"),
                ("RAGMESH__CACHE__THRESHOLD", "0.85"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.cache.l2_redis_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(s.cache.threshold, 0.85);
        assert_eq!(Settings::default().cache.l2_redis_url, None);
        for (key, value) in [
            ("RAGMESH__CACHE__THRESHOLD", "1.5"),
            ("RAGMESH__CACHE__TTL_SECS", "0"),
            ("RAGMESH__CACHE__L2_COMMAND_TIMEOUT_MS", "500"),
        ] {
            let err = Settings::load_with_env(None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains("cache."), "{key}: {err}");
        }
    }
}
