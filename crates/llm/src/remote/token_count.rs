//! Counting prompt tokens for a remote provider, whose tokenizer is not here: a token per four
//! characters is close enough to keep a remote prompt within its budget.

use crate::LlmError;
use crate::packing::TokenCounter;

/// Characters counted as one token when the real tokenizer is not available.
const CHARS_PER_TOKEN: usize = 4;

/// Counts a token per 4 characters: close enough to keep a remote prompt within budget.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxTokenCounter;

impl TokenCounter for ApproxTokenCounter {
    fn count(&self, text: &str) -> Result<usize, LlmError> {
        Ok(text.chars().count().div_ceil(CHARS_PER_TOKEN))
    }

    fn token_ends(&self, text: &str) -> Result<Vec<usize>, LlmError> {
        let mut ends: Vec<usize> = text
            .char_indices()
            .skip(CHARS_PER_TOKEN)
            .step_by(CHARS_PER_TOKEN)
            .map(|(i, _)| i)
            .collect();
        if !text.is_empty() {
            ends.push(text.len());
        }
        Ok(ends)
    }

    fn neutralize(&self, text: &str) -> String {
        // Chat APIs take the turns as separate messages: there is no control text to smuggle.
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_counts_are_a_token_per_four_characters() {
        let c = ApproxTokenCounter;
        assert_eq!(c.count("").unwrap(), 0);
        assert_eq!(c.count("abcde").unwrap(), 2);
        assert_eq!(c.token_ends("abcdefghij").unwrap(), vec![4, 8, 10]);
        assert_eq!(c.token_ends("ééééé").unwrap(), vec![8, 10]);
    }
}
