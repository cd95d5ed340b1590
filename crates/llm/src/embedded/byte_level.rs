//! The GPT-2 byte-level alphabet (every byte has a printable stand-in character) and a
//! streaming UTF-8 decoder on top of it, so generated text can be sent token by token without
//! ever splitting a multi-byte character across two messages.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Stand-in character → byte, as GPT-2's `bytes_to_unicode` defines the alphabet: printable
/// Latin-1 bytes stand for themselves, the other bytes are shifted to 256 + n in byte order.
fn char_to_byte() -> &'static HashMap<char, u8> {
    static TABLE: OnceLock<HashMap<char, u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut table = HashMap::with_capacity(256);
        let mut shifted = 0u32;
        for b in 0..=255u8 {
            let c = if printable(b) {
                char::from(b)
            } else {
                shifted += 1;
                char::from_u32(255 + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
            };
            table.insert(c, b);
        }
        table
    })
}

/// The bytes a byte-level token string stands for. A token with characters outside the
/// alphabet (added tokens) stands for its own UTF-8 bytes, as the ByteLevel decoder does.
pub fn token_bytes(token: &str) -> Vec<u8> {
    let table = char_to_byte();
    token
        .chars()
        .map(|c| table.get(&c).copied())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// Turns a stream of token bytes into text pieces that are always whole characters.
/// Bytes of an unfinished character wait for the next token; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Appends `bytes` and returns the text that is now complete (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match err.error_len() {
                        // Incomplete character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still pending at the end of the stream (U+FFFD for an unfinished character).
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_covers_every_byte_once() {
        let table = char_to_byte();
        assert_eq!(table.len(), 256);
        assert_eq!(table.get(&'Ġ'), Some(&b' '));
        assert_eq!(table.get(&'Ċ'), Some(&b'\n'));
        assert_eq!(token_bytes("Ġhello"), b" hello".to_vec());
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        let text = "a🦀é";
        let mut stream = Utf8Stream::default();
        let pieces: Vec<String> = text.as_bytes().iter().map(|b| stream.push(&[*b])).collect();
        assert_eq!(pieces, vec!["a", "", "", "", "🦀", "", "é"]);
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(&[b'x', 0xFF, b'y']), "x\u{FFFD}y");
        assert_eq!(stream.push(&[0xE2, 0x82]), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
    }
}
