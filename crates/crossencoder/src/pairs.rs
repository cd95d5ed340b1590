//! Turns one query and its passages into BERT pair inputs: `[CLS] query [SEP] passage [SEP]`
//! with token type 0 for the query part and 1 for the passage part, at most `max_length`
//! tokens, padded per batch to its longest pair.
//!
//! Truncation cuts the passage (`only_second`) so the whole query is always read. A query
//! that alone takes more than half of the room would leave the passage almost nothing, and
//! `only_second` fails outright when the query does not fit; such queries use
//! `longest_first`, which trims both sides. The fixture generator
//! (tests/fixtures/make_checkpoint.py) applies the same rule.

use crate::CrossEncoderError;
use candle_core::{Device, Tensor};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Token ids of one (query, passage) pair, unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedPair {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// A batch of pairs as model inputs, each (batch, longest pair).
pub(crate) struct PairBatch {
    pub input_ids: Tensor,
    pub token_type_ids: Tensor,
    pub attention_mask: Tensor,
}

pub(crate) struct PairEncoder {
    only_second: Tokenizer,
    longest_first: Tokenizer,
    max_length: usize,
    pad_id: u32,
}

impl PairEncoder {
    pub fn load(path: &Path, max_length: usize) -> Result<PairEncoder, CrossEncoderError> {
        let tokenizer_error = |message: String| CrossEncoderError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let mut base = Tokenizer::from_file(path).map_err(|e| tokenizer_error(e.to_string()))?;
        // The shipped tokenizer.json may carry fixed padding/truncation (e.g. Fixed(128)).
        let pad_id = base
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| base.token_to_id("[PAD]"))
            .unwrap_or(0);
        base.with_padding(None);
        let with_strategy = |strategy| {
            let mut tokenizer = base.clone();
            let params = TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy,
                stride: 0,
            };
            tokenizer
                .with_truncation(Some(params))
                .map_err(|e| tokenizer_error(e.to_string()))?;
            Ok::<Tokenizer, CrossEncoderError>(tokenizer)
        };
        Ok(PairEncoder {
            only_second: with_strategy(TruncationStrategy::OnlySecond)?,
            longest_first: with_strategy(TruncationStrategy::LongestFirst)?,
            max_length,
            pad_id,
        })
    }

    /// Encodes (query, passage) for every passage, in order.
    pub fn encode(
        &self,
        query: &str,
        passages: &[&str],
    ) -> Result<Vec<EncodedPair>, CrossEncoderError> {
        let encode_error = |e: tokenizers::Error| CrossEncoderError::Encode(e.to_string());
        let query_tokens = self
            .only_second
            .encode(query, false)
            .map_err(encode_error)?
            .len();
        let tokenizer = if query_tokens <= self.max_length.saturating_sub(3) / 2 {
            &self.only_second
        } else {
            &self.longest_first
        };
        let inputs: Vec<(&str, &str)> = passages.iter().map(|p| (query, *p)).collect();
        let encodings = tokenizer.encode_batch(inputs, true).map_err(encode_error)?;
        Ok(encodings
            .into_iter()
            .map(|e| EncodedPair {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
            })
            .collect())
    }

    /// Pads `pairs` to the longest of them and builds the model inputs.
    pub fn batch(
        &self,
        pairs: &[&EncodedPair],
        device: &Device,
    ) -> Result<PairBatch, CrossEncoderError> {
        let width = pairs.iter().map(|p| p.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(pairs.len() * width);
        let mut types = Vec::with_capacity(pairs.len() * width);
        let mut mask = Vec::with_capacity(pairs.len() * width);
        for pair in pairs {
            let pad = width - pair.ids.len();
            ids.extend_from_slice(&pair.ids);
            ids.extend(std::iter::repeat_n(self.pad_id, pad));
            types.extend_from_slice(&pair.type_ids);
            types.extend(std::iter::repeat_n(0u32, pad));
            mask.extend(std::iter::repeat_n(1u32, pair.ids.len()));
            mask.extend(std::iter::repeat_n(0u32, pad));
        }
        let shape = (pairs.len(), width);
        Ok(PairBatch {
            input_ids: Tensor::from_vec(ids, shape, device)?,
            token_type_ids: Tensor::from_vec(types, shape, device)?,
            attention_mask: Tensor::from_vec(mask, shape, device)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    /// Token counts per pair equal what transformers produced for the reference logits.
    #[test]
    fn pair_lengths_match_transformers() {
        let text = std::fs::read_to_string(fixture().join("reference_logits.json")).unwrap();
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        let tokenizer = fixture().join("tiny-cross-encoder/tokenizer.json");
        let sets = reference["sets"].as_array().unwrap();
        assert_eq!(sets.len(), 4);
        for set in sets {
            let max_length = set["max_length"].as_u64().unwrap() as usize;
            let encoder = PairEncoder::load(&tokenizer, max_length).unwrap();
            let query = set["query"].as_str().unwrap();
            let passages: Vec<&str> = set["passages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let lengths: Vec<u64> = encoder
                .encode(query, &passages)
                .unwrap()
                .iter()
                .map(|p| p.ids.len() as u64)
                .collect();
            let expected: Vec<u64> = set["token_counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            assert_eq!(
                lengths, expected,
                "max_length {max_length}, query {query:?}"
            );
            assert!(lengths.iter().all(|&n| n as usize <= max_length));
        }
    }

    #[test]
    fn pairs_carry_segment_ids_and_the_whole_query() {
        let encoder =
            PairEncoder::load(&fixture().join("tiny-cross-encoder/tokenizer.json"), 16).unwrap();
        let long = "word ".repeat(100);
        let pairs = encoder.encode("rhine river", &["barges", &long]).unwrap();
        // [CLS] rhine river [SEP] barges [SEP]
        assert_eq!(pairs[0].type_ids, vec![0, 0, 0, 0, 1, 1]);
        assert_eq!(pairs[0].ids.first(), Some(&101));
        assert_eq!(pairs[0].ids.last(), Some(&102));
        // Only the passage was cut: the query part is intact and the pair is exactly full.
        assert_eq!(pairs[1].ids.len(), 16);
        assert_eq!(pairs[1].ids[..4], pairs[0].ids[..4]);

        let batch = encoder
            .batch(&[&pairs[0], &pairs[1]], &Device::Cpu)
            .unwrap();
        assert_eq!(batch.input_ids.dims(), &[2, 16]);
        let mask: Vec<Vec<u32>> = batch.attention_mask.to_vec2().unwrap();
        assert_eq!(mask[0].iter().sum::<u32>(), 6);
        assert_eq!(mask[1].iter().sum::<u32>(), 16);
        let ids: Vec<Vec<u32>> = batch.input_ids.to_vec2().unwrap();
        assert!(ids[0][6..].iter().all(|&id| id == 0), "padded with [PAD]");
    }
}
