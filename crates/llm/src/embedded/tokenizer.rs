//! The tokenizer of a GGUF model, rebuilt from the file's own metadata.
//!
//! candle's GGUF tokenizer gets SmolLM2 (`tokenizer.ggml.pre = "smollm"`) wrong, so the
//! byte-level BPE is assembled here from `tokenizer.ggml.tokens` + `tokenizer.ggml.merges` with
//! the pre-tokenizer the `pre` name stands for. Control and user-defined tokens (`token_type`
//! 3 and 4) become special tokens, so ChatML markers in a template encode to single ids while
//! [`GgufTokenizer::neutralize_special`] keeps user text from smuggling them in.

use super::byte_level::token_bytes;
use crate::LlmError;
use crate::packing::TokenCounter;
use candle_core::quantized::gguf_file::{Content, Value};
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// GGUF `token_type` values that mark control (3) and user-defined (4) tokens.
const SPECIAL_TOKEN_TYPES: [i32; 2] = [3, 4];

/// Llama 3's split regex (`tokenizer.ggml.pre = "llama-bpe"`), as its tokenizer.json declares it.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Byte-level BPE tokenizer of one GGUF model, plus the ids the decoder needs to know.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// Raw token strings by id (byte-level alphabet), for incremental decoding.
    tokens: Vec<String>,
    special_ids: Vec<bool>,
    special_texts: Vec<String>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab", &self.tokens.len())
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .finish()
    }
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a Value, LlmError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| LlmError::UnsupportedTokenizer(format!("metadata key {key} is missing")))
}

fn string_array(content: &Content, key: &str) -> Result<Vec<String>, LlmError> {
    let values = meta(content, key)?.to_vec().map_err(LlmError::tokenizer)?;
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(LlmError::tokenizer))
        .collect()
}

fn optional_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    /// Builds the tokenizer from the metadata of a GGUF file.
    pub fn from_gguf(content: &Content) -> Result<Self, LlmError> {
        let model = meta(content, "tokenizer.ggml.model")?
            .to_string()
            .map_err(LlmError::tokenizer)?;
        if model != "gpt2" {
            return Err(LlmError::UnsupportedTokenizer(format!(
                "tokenizer.ggml.model = {model:?} (only byte-level BPE, \"gpt2\", is supported)"
            )));
        }
        let pre = content
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("default");
        let tokens = string_array(content, "tokenizer.ggml.tokens")?;
        let merges = string_array(content, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|line| {
                line.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| LlmError::Tokenizer(format!("malformed merge {line:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let token_types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(LlmError::tokenizer)?
                .iter()
                .map(|t| t.to_i32().map_err(LlmError::tokenizer))
                .collect::<Result<_, _>>()?,
            None => vec![1; tokens.len()],
        };

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(LlmError::tokenizer)?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let special_ids: Vec<bool> = (0..tokens.len())
            .map(|i| {
                token_types
                    .get(i)
                    .is_some_and(|t| SPECIAL_TOKEN_TYPES.contains(t))
            })
            .collect();
        let special_texts: Vec<String> = tokens
            .iter()
            .zip(&special_ids)
            .filter(|(_, special)| **special)
            .map(|(t, _)| t.clone())
            .collect();
        inner
            .add_special_tokens(
                special_texts
                    .iter()
                    .map(|t| AddedToken::from(t.clone(), true)),
            )
            .map_err(LlmError::tokenizer)?;

        Ok(GgufTokenizer {
            inner,
            tokens,
            special_ids,
            special_texts,
            bos_id: optional_u32(content, "tokenizer.ggml.bos_token_id"),
            eos_id: optional_u32(content, "tokenizer.ggml.eos_token_id"),
        })
    }

    /// Token ids of `text`; special-token strings in it become their single ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(LlmError::tokenizer)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Number of tokens `text` encodes to.
    pub fn count(&self, text: &str) -> Result<usize, LlmError> {
        Ok(self.encode(text)?.len())
    }

    /// Byte offset in `text` after each of its tokens, in order (token boundaries for cutting).
    pub fn token_ends(&self, text: &str) -> Result<Vec<usize>, LlmError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(LlmError::tokenizer)?;
        Ok(encoding.get_offsets().iter().map(|(_, end)| *end).collect())
    }

    /// Text of `ids` (special tokens included as their strings unless `skip_special`).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, LlmError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(LlmError::tokenizer)
    }

    /// The bytes one token stands for; empty for special tokens and unknown ids.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match self.tokens.get(id as usize) {
            Some(token) if !self.is_special(id) => token_bytes(token),
            _ => Vec::new(),
        }
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.get(id as usize).copied().unwrap_or(false)
    }

    /// Id of an exact token string (special or not).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// `text` with every special-token string removed, so that user-supplied text (questions,
    /// contexts) cannot open or close chat turns.
    pub fn neutralize_special(&self, text: &str) -> String {
        let mut out = text.to_string();
        for special in &self.special_texts {
            if out.contains(special.as_str()) {
                out = out.replace(special.as_str(), "");
            }
        }
        out
    }
}

/// Reads only the tokenizer of a GGUF file (no weights), e.g. to count prompt tokens.
pub fn load_tokenizer(path: &Path) -> Result<GgufTokenizer, LlmError> {
    let mut file = std::fs::File::open(path).map_err(|source| LlmError::ModelFile {
        path: path.to_path_buf(),
        source,
    })?;
    let content = Content::read(&mut file).map_err(|e| LlmError::InvalidModel {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    GgufTokenizer::from_gguf(&content)
}

/// The embedded backend packs prompts with the model's own tokenizer.
impl TokenCounter for GgufTokenizer {
    fn count(&self, text: &str) -> Result<usize, LlmError> {
        GgufTokenizer::count(self, text)
    }
    fn token_ends(&self, text: &str) -> Result<Vec<usize>, LlmError> {
        GgufTokenizer::token_ends(self, text)
    }
    fn neutralize(&self, text: &str) -> String {
        self.neutralize_special(text)
    }
}

/// The pre-tokenizer a GGUF `tokenizer.ggml.pre` name stands for.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, LlmError> {
    let byte_level = |use_regex: bool| ByteLevel::new(false, true, use_regex).into();
    let wrapper: PreTokenizerWrapper = match pre {
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into(),
        "default" | "gpt2" | "gpt-2" => byte_level(true),
        "llama-bpe" | "llama3" => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_SPLIT.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(LlmError::tokenizer)?;
            Sequence::new(vec![split.into(), byte_level(false)]).into()
        }
        other => {
            return Err(LlmError::UnsupportedTokenizer(format!(
                "tokenizer.ggml.pre = {other:?} (supported: smollm, default/gpt2, llama-bpe)"
            )));
        }
    };
    Ok(wrapper)
}
