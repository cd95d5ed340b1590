//! The wheel's `RECORD` file (PEP 376/427): a CSV of `path,sha256=<urlsafe base64>,size` that
//! lets every unpacked file be checked against what the package author built, on top of the
//! wheel's own sha256 from the index.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;

/// One row of `RECORD`: the file's digest (urlsafe base64 without padding) and size, when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// Parses `RECORD`. Rows whose hash is not sha256 keep `sha256: None` (they cannot vouch for a
/// file); malformed sizes are an error so a damaged RECORD is never half-trusted.
pub fn parse_record(text: &str) -> Result<HashMap<String, RecordEntry>, String> {
    let mut entries = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields =
            split_csv_line(line).map_err(|e| format!("RECORD line {}: {e}", number + 1))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(format!(
                "RECORD line {}: expected 3 fields, got {}",
                number + 1,
                fields.len()
            ));
        };
        let sha256 = hash.strip_prefix("sha256=").map(str::to_string);
        let size = if size.is_empty() {
            None
        } else {
            Some(
                size.parse::<u64>()
                    .map_err(|_| format!("RECORD line {}: bad size {size:?}", number + 1))?,
            )
        };
        entries.insert(path.clone(), RecordEntry { sha256, size });
    }
    Ok(entries)
}

/// Splits one CSV line (comma separator, `"` quoting with `""` escapes, as Python's csv writes).
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    fields.push(field);
    Ok(fields)
}

/// The sha256 of `reader`'s content, with the number of bytes read.
pub(crate) fn sha256_of(mut reader: impl Read) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// A digest in RECORD's notation: urlsafe base64 without padding.
pub fn record_digest(digest: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(digest.len().div_ceil(3) * 4);
    for chunk in digest.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        // 1 input byte → 2 output chars, 2 → 3, 3 → 4 (no padding).
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_python_urlsafe_b64encode_without_padding() {
        // base64.urlsafe_b64encode(hashlib.sha256(b"").digest()).rstrip(b"=")
        let (empty, n) = sha256_of(&b""[..]).unwrap();
        assert_eq!(n, 0);
        assert_eq!(
            record_digest(&empty),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        // Lengths 1, 2, 3 and the characters '-' and '_' (0xfb 0xff → "-_8").
        assert_eq!(record_digest(b"f"), "Zg");
        assert_eq!(record_digest(b"fo"), "Zm8");
        assert_eq!(record_digest(b"foo"), "Zm9v");
        assert_eq!(record_digest(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn parses_rows_quotes_and_rows_without_hash() {
        let text = "pkg/a.txt,sha256=abc,12\n\"pkg/with,comma \"\"q\"\".txt\",sha256=def,3\r\n\
                    pkg-1.0.dist-info/RECORD,,\npkg/old.bin,md5=zzz,7\n";
        let record = parse_record(text).unwrap();
        assert_eq!(record.len(), 4);
        assert_eq!(
            record["pkg/a.txt"],
            RecordEntry {
                sha256: Some("abc".into()),
                size: Some(12)
            }
        );
        assert_eq!(
            record["pkg/with,comma \"q\".txt"].sha256.as_deref(),
            Some("def")
        );
        assert_eq!(
            record["pkg-1.0.dist-info/RECORD"],
            RecordEntry {
                sha256: None,
                size: None
            }
        );
        assert_eq!(record["pkg/old.bin"].sha256, None);
    }

    #[test]
    fn rejects_damaged_rows() {
        assert!(parse_record("a,sha256=x,notanumber\n").is_err());
        assert!(parse_record("a,sha256=x\n").is_err());
        assert!(parse_record("\"a,sha256=x,1\n").is_err());
    }
}
