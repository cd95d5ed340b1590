//! Splits a document into overlapping chunks measured in the embedding model's word pieces,
//! so that every chunk fits the model's window and nothing the model would read is lost.
//!
//! The chunker never tokenizes: it receives the byte offsets of the word pieces (the embedder
//! computes them) and only decides where to cut. A chunk is always the exact substring of the
//! source between the start of its first piece and the end of its last piece, so chunk texts
//! are stable across runs (chunk ids are derived from them). When a paragraph or sentence
//! boundary lies in the last quarter of a window the chunk ends there; otherwise it ends
//! between two words if possible, and never inside a word piece.

use crate::IndexError;
use std::ops::Range;

/// Cuts texts into windows of at most `max_tokens` word pieces sharing `overlap_tokens`.
#[derive(Debug, Clone, Copy)]
pub struct Chunker {
    max_tokens: usize,
    overlap_tokens: usize,
}

/// One chunk of a source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk<'a> {
    /// The exact substring of the source.
    pub text: &'a str,
    /// Byte range of `text` in the source.
    pub bytes: Range<usize>,
    /// Word pieces of the source covered by this chunk.
    pub tokens: Range<usize>,
}

/// What separates two neighbouring word pieces, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    /// Inside one character: the pieces overlap (never cut here).
    Overlap,
    /// Inside a word: the pieces touch ("un" + "##believ").
    None,
    /// Whitespace between words.
    Word,
    /// After a sentence end or at a line break.
    Sentence,
    /// A blank line.
    Paragraph,
}

impl Chunker {
    /// `overlap_tokens` must be smaller than `max_tokens` (config validation guarantees it).
    pub fn new(max_tokens: usize, overlap_tokens: usize) -> Result<Chunker, IndexError> {
        if max_tokens == 0 || overlap_tokens >= max_tokens {
            return Err(IndexError::invalid(format!(
                "chunk size {max_tokens} with overlap {overlap_tokens}: the overlap must be smaller than the size"
            )));
        }
        Ok(Chunker {
            max_tokens,
            overlap_tokens,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Chunks `text` given its word-piece byte offsets (empty pieces, such as special tokens,
    /// are ignored). A text without pieces yields no chunk.
    pub fn chunk<'a>(
        &self,
        text: &'a str,
        offsets: &[(usize, usize)],
    ) -> Result<Vec<TextChunk<'a>>, IndexError> {
        let pieces = valid_pieces(text, offsets)?;
        let n = pieces.len();
        let mut chunks = Vec::new();
        if n == 0 {
            return Ok(chunks);
        }
        let boundaries = boundaries(text, &pieces);
        let mut start = 0;
        loop {
            let hard_end = (start + self.max_tokens).min(n);
            let end = if hard_end == n {
                n
            } else {
                self.choose_end(start, hard_end, &boundaries)
            };
            let last_byte = pieces[start..end]
                .iter()
                .map(|p| p.1)
                .max()
                .unwrap_or(pieces[start].1);
            let bytes = pieces[start].0..last_byte;
            chunks.push(TextChunk {
                text: &text[bytes.clone()],
                bytes,
                tokens: start..end,
            });
            if end == n {
                return Ok(chunks);
            }
            start = self.next_start(start, end, &boundaries);
        }
    }

    /// Where the window `[start, hard_end)` should end (exclusive piece index, `hard_end < n`).
    fn choose_end(&self, start: usize, hard_end: usize, boundaries: &[Boundary]) -> usize {
        // Last quarter of the window: prefer a paragraph end, then a sentence end.
        let late = start + (self.max_tokens * 3).div_ceil(4).max(1);
        for wanted in [Boundary::Paragraph, Boundary::Sentence] {
            if let Some(cut) = (late..=hard_end).rev().find(|&c| boundaries[c] >= wanted) {
                return cut;
            }
        }
        // Otherwise between two words, as late as possible in the second half of the window.
        let half = start + (self.max_tokens / 2).max(1);
        (half..=hard_end)
            .rev()
            .find(|&c| boundaries[c] >= Boundary::Word)
            .or_else(|| {
                (start + 1..=hard_end)
                    .rev()
                    .find(|&c| boundaries[c] > Boundary::Overlap)
            })
            .unwrap_or(hard_end)
    }

    /// First piece of the chunk after `[start, end)`: `overlap_tokens` back from `end`, moved
    /// back to the start of a word when that keeps the chunker moving forward.
    fn next_start(&self, start: usize, end: usize, boundaries: &[Boundary]) -> usize {
        let wanted = end.saturating_sub(self.overlap_tokens).max(start + 1);
        if self.overlap_tokens == 0 {
            return end;
        }
        (start + 1..=wanted)
            .rev()
            .find(|&c| boundaries[c] >= Boundary::Word)
            .or_else(|| (wanted..end).find(|&c| boundaries[c] >= Boundary::Word))
            .or_else(|| (wanted..end).find(|&c| boundaries[c] > Boundary::Overlap))
            .unwrap_or(end)
    }
}

/// Non-empty pieces, checked to lie on char boundaries inside `text` with non-decreasing
/// starts. Pieces may overlap (a character the tokenizer splits into several pieces); no
/// chunk is cut between overlapping pieces.
fn valid_pieces(text: &str, offsets: &[(usize, usize)]) -> Result<Vec<(usize, usize)>, IndexError> {
    let mut pieces: Vec<(usize, usize)> = Vec::with_capacity(offsets.len());
    for &(s, e) in offsets {
        if s == e {
            continue;
        }
        if s > e || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            return Err(IndexError::BadOffsets(format!(
                "piece {s}..{e} in a text of {} bytes",
                text.len()
            )));
        }
        if pieces.last().is_some_and(|&(last_start, _)| s < last_start) {
            return Err(IndexError::BadOffsets(format!(
                "piece {s}..{e} starts before the previous piece"
            )));
        }
        pieces.push((s, e));
    }
    Ok(pieces)
}

/// For each piece, the boundary between it and the pieces before it (piece 0 starts a word).
fn boundaries(text: &str, pieces: &[(usize, usize)]) -> Vec<Boundary> {
    let mut out = Vec::with_capacity(pieces.len());
    let mut previous_end = 0;
    for (c, &(start, end)) in pieces.iter().enumerate() {
        out.push(if c == 0 {
            Boundary::Word
        } else if start < previous_end {
            Boundary::Overlap
        } else {
            let gap = &text[previous_end..start];
            let newlines = gap.matches('\n').count();
            if gap.is_empty() {
                Boundary::None
            } else if newlines >= 2 {
                Boundary::Paragraph
            } else if newlines == 1 || ends_sentence(text, pieces, c - 1) {
                Boundary::Sentence
            } else {
                Boundary::Word
            }
        });
        previous_end = previous_end.max(end);
    }
    out
}

/// Whether piece `p` ends a sentence: `.`, `!` or `?`, possibly followed by a closing quote
/// or bracket piece.
fn ends_sentence(text: &str, pieces: &[(usize, usize)], p: usize) -> bool {
    let piece = |i: usize| &text[pieces[i].0..pieces[i].1];
    let is_end = |s: &str| matches!(s, "." | "!" | "?" | "…");
    let is_closer = |s: &str| matches!(s, "\"" | "'" | ")" | "]" | "”" | "’" | "»");
    is_end(piece(p)) || (p > 0 && is_closer(piece(p)) && is_end(piece(p - 1)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Word pieces the way a BERT tokenizer splits simple ASCII text: words and single
    /// punctuation marks (enough to exercise the cutting rules without a model).
    fn pieces(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut word_start = None;
        for (i, ch) in text.char_indices() {
            if ch.is_alphanumeric() {
                word_start.get_or_insert(i);
                continue;
            }
            if let Some(s) = word_start.take() {
                out.push((s, i));
            }
            if !ch.is_whitespace() {
                out.push((i, i + ch.len_utf8()));
            }
        }
        if let Some(s) = word_start {
            out.push((s, text.len()));
        }
        out
    }

    #[test]
    fn short_text_is_one_chunk_without_surrounding_whitespace() {
        let text = "  Hello world.  ";
        let chunks = Chunker::new(10, 2)
            .unwrap()
            .chunk(text, &pieces(text))
            .unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "Hello world.");
        assert_eq!(chunks[0].tokens, 0..3);
    }

    #[test]
    fn text_without_pieces_has_no_chunks() {
        let chunker = Chunker::new(10, 2).unwrap();
        assert!(chunker.chunk("   ", &[]).unwrap().is_empty());
        // Special tokens arrive as empty pieces and are ignored.
        assert!(chunker.chunk("   ", &[(0, 0), (0, 0)]).unwrap().is_empty());
    }

    #[test]
    fn windows_respect_the_size_and_overlap_and_cover_everything() {
        let text: String = (0..100).map(|i| format!("w{i} ")).collect();
        let offsets = pieces(&text);
        let chunks = Chunker::new(10, 3).unwrap().chunk(&text, &offsets).unwrap();
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].tokens.end - pair[1].tokens.start, 3, "{pair:?}");
        }
        for c in &chunks {
            assert!(c.tokens.len() <= 10);
            assert_eq!(c.text, &text[c.bytes.clone()]);
        }
        assert_eq!(chunks[0].tokens.start, 0);
        assert_eq!(chunks.last().unwrap().tokens.end, offsets.len());
    }

    #[test]
    fn prefers_a_paragraph_then_a_sentence_end_late_in_the_window() {
        // 20-piece windows: the late zone is pieces 15..=20.
        let sentence = "a b c d e f g h i j k l m n o p. q r s t u v w x y z";
        let chunks = Chunker::new(20, 0)
            .unwrap()
            .chunk(sentence, &pieces(sentence))
            .unwrap();
        assert!(chunks[0].text.ends_with("p."), "{:?}", chunks[0].text);

        let para = "a b c d e f g h i j k l m n o. p\n\nq r s t u v w x y z";
        let chunks = Chunker::new(20, 0)
            .unwrap()
            .chunk(para, &pieces(para))
            .unwrap();
        assert!(chunks[0].text.ends_with('p'), "{:?}", chunks[0].text);
        assert!(chunks[1].text.starts_with('q'));
    }

    #[test]
    fn ignores_boundaries_early_in_the_window() {
        let text = "a b. c d e f g h i j k l m n o p q r s t u v w x y z";
        let chunks = Chunker::new(20, 0)
            .unwrap()
            .chunk(text, &pieces(text))
            .unwrap();
        assert_eq!(chunks[0].tokens, 0..20);
    }

    #[test]
    fn never_splits_a_word_when_a_word_boundary_exists() {
        // "abc" is three touching pieces (like word pieces); a window of 5 would end inside it.
        let text = "x y zz abc q r s";
        let offsets = vec![
            (0, 1),
            (2, 3),
            (4, 6),
            (7, 8),
            (8, 9),
            (9, 10),
            (11, 12),
            (13, 14),
            (15, 16),
        ];
        let chunks = Chunker::new(5, 1).unwrap().chunk(text, &offsets).unwrap();
        assert_eq!(chunks[0].text, "x y zz");
        // The overlap moves back to the start of a word rather than starting mid-word.
        assert!(
            chunks
                .iter()
                .all(|c| !c.text.starts_with('b') && !c.text.starts_with('c'))
        );
        assert_eq!(chunks.last().unwrap().bytes.end, text.len());
    }

    #[test]
    fn cuts_inside_a_word_only_at_a_piece_boundary_when_nothing_else_fits() {
        let text = "abcdefgh";
        let offsets: Vec<_> = (0..8).map(|i| (i, i + 1)).collect();
        let chunks = Chunker::new(3, 1).unwrap().chunk(text, &offsets).unwrap();
        let texts: Vec<_> = chunks.iter().map(|c| c.text).collect();
        assert_eq!(texts, ["abc", "cde", "efg", "gh"]);
    }

    #[test]
    fn multibyte_text_stays_on_char_boundaries() {
        let text = "héllo wörld ça va. überall grüße";
        let chunks = Chunker::new(3, 1)
            .unwrap()
            .chunk(text, &pieces(text))
            .unwrap();
        for c in &chunks {
            assert_eq!(c.text, &text[c.bytes.clone()]);
        }
        assert!(chunks.len() > 2);
    }

    #[test]
    fn rejects_offsets_that_do_not_fit_the_text() {
        let chunker = Chunker::new(3, 1).unwrap();
        assert!(chunker.chunk("abc", &[(0, 4)]).is_err());
        assert!(chunker.chunk("é", &[(0, 1)]).is_err());
        assert!(chunker.chunk("abcd", &[(2, 3), (0, 1)]).is_err());
        // Overlapping pieces (one character split in several) are kept together.
        let chunks = chunker
            .chunk("ab cd", &[(0, 2), (0, 2), (1, 2), (3, 5)])
            .unwrap();
        assert_eq!(
            chunks.iter().map(|c| c.text).collect::<Vec<_>>(),
            ["ab", "cd"]
        );
        assert!(Chunker::new(3, 3).is_err());
    }

    #[test]
    fn always_makes_progress_with_large_overlap() {
        let text: String = (0..50).map(|i| format!("w{i}. ")).collect();
        let chunks = Chunker::new(4, 3)
            .unwrap()
            .chunk(&text, &pieces(&text))
            .unwrap();
        for pair in chunks.windows(2) {
            assert!(pair[1].tokens.start > pair[0].tokens.start);
        }
        assert_eq!(chunks.last().unwrap().bytes.end, text.trim_end().len());
    }
}
