//! The `[gateway.extract]` section: bounds on text extraction of uploads. A small file can
//! decompress to gigabytes (a PDF content stream, a docx body) or hold more text than
//! retrieval takes in one message, so the gateway bounds both, per file and per request (a
//! request of many files shares one budget). Past a bound the upload is a 413 naming the
//! file and the key below.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractSettings {
    /// Bytes decompression may produce for one file (all of a PDF's streams together, a
    /// docx body).
    pub max_inflated_bytes_per_file: u64,
    /// Bytes decompression may produce for all files of one upload together.
    pub max_inflated_bytes_per_request: u64,
    /// Bytes of text one file may yield.
    pub max_text_bytes_per_file: u64,
    /// Bytes of text all files of one upload may yield together (retrieval takes at most
    /// 64 MiB per message).
    pub max_text_bytes_per_request: u64,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            max_inflated_bytes_per_file: 64 * 1024 * 1024,
            max_inflated_bytes_per_request: 128 * 1024 * 1024,
            max_text_bytes_per_file: 8 * 1024 * 1024,
            max_text_bytes_per_request: 32 * 1024 * 1024,
        }
    }
}

impl ExtractSettings {
    /// The first rule the values break, as a message naming the key.
    pub fn problem(&self) -> Option<String> {
        let pairs = [
            (
                "max_inflated_bytes",
                self.max_inflated_bytes_per_file,
                self.max_inflated_bytes_per_request,
            ),
            (
                "max_text_bytes",
                self.max_text_bytes_per_file,
                self.max_text_bytes_per_request,
            ),
        ];
        for (key, per_file, per_request) in pairs {
            if per_file == 0 {
                return Some(format!("gateway.extract.{key}_per_file must be positive"));
            }
            if per_request < per_file {
                return Some(format!(
                    "gateway.extract.{key}_per_request ({per_request}) must be at least \
                     {key}_per_file ({per_file})"
                ));
            }
        }
        if self.max_text_bytes_per_request > 60 * 1024 * 1024 {
            return Some(format!(
                "gateway.extract.max_text_bytes_per_request must be at most 62914560 (60 MiB: \
                 retrieval takes 64 MiB per message), got {}",
                self.max_text_bytes_per_request
            ));
        }
        None
    }
}
