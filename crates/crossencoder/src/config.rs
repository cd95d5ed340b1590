//! Reads the transformers `config.json` of a BERT sequence classifier into candle's BERT
//! configuration. Fields that older or newer transformers versions leave out get BERT's own
//! defaults, and architectures this head does not fit (another `model_type`, relative
//! positions, an unknown activation) are refused at load instead of scoring garbage.

use crate::CrossEncoderError;
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};
use serde::Deserialize;
use std::path::Path;

/// What the cross-encoder needs from `config.json`.
#[derive(Debug, Clone)]
pub(crate) struct ModelConfig {
    pub bert: Config,
    /// `_name_or_path`, when the checkpoint records where it came from.
    pub name_or_path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    pad_token_id: Option<usize>,
    #[serde(default)]
    position_embedding_type: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default, rename = "_name_or_path")]
    name_or_path: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl ModelConfig {
    pub fn read(path: &Path) -> Result<ModelConfig, CrossEncoderError> {
        let text = std::fs::read_to_string(path).map_err(|source| CrossEncoderError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| CrossEncoderError::InvalidConfig {
            path: path.to_path_buf(),
            message,
        })
    }

    fn parse(text: &str) -> Result<ModelConfig, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(model_type) = raw.model_type.as_deref()
            && model_type != "bert"
        {
            return Err(format!(
                "model_type {model_type:?} is not supported (only \"bert\")"
            ));
        }
        if let Some(kind) = raw.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            return Err(format!(
                "position_embedding_type {kind:?} is not supported (only \"absolute\")"
            ));
        }
        let hidden_act = match raw.hidden_act.as_str() {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluApproximate,
            "relu" => HiddenAct::Relu,
            other => return Err(format!("hidden_act {other:?} is not supported")),
        };
        if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            ));
        }
        let bert = Config {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            hidden_act,
            hidden_dropout_prob: 0.0,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            initializer_range: 0.02,
            layer_norm_eps: raw.layer_norm_eps,
            pad_token_id: raw.pad_token_id.unwrap_or(0),
            position_embedding_type: PositionEmbeddingType::Absolute,
            use_cache: false,
            classifier_dropout: None,
            model_type: Some("bert".into()),
        };
        let name_or_path = raw.name_or_path.filter(|n| !n.trim().is_empty());
        Ok(ModelConfig { bert, name_or_path })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16}"#;

    #[test]
    fn missing_fields_get_bert_defaults() {
        let config = ModelConfig::parse(MINIMAL).unwrap();
        assert_eq!(config.bert.max_position_embeddings, 512);
        assert_eq!(config.bert.type_vocab_size, 2);
        assert_eq!(config.bert.hidden_act, HiddenAct::Gelu);
        assert_eq!(config.name_or_path, None);
    }

    #[test]
    fn other_architectures_are_refused() {
        let roberta = MINIMAL.replace('}', r#", "model_type": "xlm-roberta"}"#);
        assert!(
            ModelConfig::parse(&roberta)
                .unwrap_err()
                .contains("xlm-roberta")
        );
        let relative = MINIMAL.replace('}', r#", "position_embedding_type": "relative_key"}"#);
        assert!(
            ModelConfig::parse(&relative)
                .unwrap_err()
                .contains("relative_key")
        );
        let silu = MINIMAL.replace('}', r#", "hidden_act": "silu"}"#);
        assert!(ModelConfig::parse(&silu).unwrap_err().contains("silu"));
        let heads = MINIMAL.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3");
        assert!(ModelConfig::parse(&heads).unwrap_err().contains("multiple"));
    }
}
