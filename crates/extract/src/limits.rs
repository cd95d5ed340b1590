//! The bounds one extraction may not pass, and the meter that enforces them. A few kilobytes of
//! deflate can stand for gigabytes (a PDF content stream, a docx body), and a small file can
//! hold more text than retrieval will ever take in one message; without a bound the process
//! spends memory and time in proportion to what the file *claims*, not to what it is. Every
//! reader inflates through [`Inflated`] (a capped reader over the decoder, so nothing larger
//! than the bound is ever held) and writes text through a capped builder.
//!
//! Each bound knows its [`Scope`]: the caller (the gateway) narrows the per-file bound to what
//! is left of the per-request one, and the error then names the limit the client hit.

use std::io::Read;

/// Which configured limit a bound comes from, so a 413 can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The bound for one file (`[gateway.extract] max_*_per_file`).
    File,
    /// What is left of the bound for a whole request (`[gateway.extract] max_*_per_request`), which
    /// is this many bytes in total.
    Request(u64),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::File => f.write_str("per file"),
            Scope::Request(total) => write!(f, "left of the {total} bytes allowed per request"),
        }
    }
}

/// One bound: at most `bytes`, from the limit `scope` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub bytes: u64,
    pub scope: Scope,
}

impl Bound {
    pub fn per_file(bytes: u64) -> Bound {
        Bound {
            bytes,
            scope: Scope::File,
        }
    }
}

/// What one file's extraction may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes produced by decompression (PDF streams, the docx body), all streams together.
    pub inflated: Bound,
    /// Bytes of extracted text kept.
    pub text: Bound,
}

/// Default bound on decompressed bytes per file: 64 MiB.
pub const DEFAULT_MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Default bound on extracted text per file: 8 MiB.
pub const DEFAULT_MAX_TEXT_BYTES: u64 = 8 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            inflated: Bound::per_file(DEFAULT_MAX_INFLATED_BYTES),
            text: Bound::per_file(DEFAULT_MAX_TEXT_BYTES),
        }
    }
}

/// Counts decompressed bytes of one file against its bound.
#[derive(Debug)]
pub struct Inflated {
    bound: Bound,
    used: u64,
}

/// Decompression went past the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBound(pub Bound);

impl Inflated {
    pub fn new(bound: Bound) -> Inflated {
        Inflated { bound, used: 0 }
    }

    /// The bound this meter enforces.
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// Bytes decompressed so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Bytes that may still be decompressed.
    pub fn remaining(&self) -> u64 {
        self.bound.bytes.saturating_sub(self.used)
    }

    /// Reads all of `decoder` into a buffer, never holding more than the remaining bound plus
    /// one byte: past it the read stops and the file is over its bound. A decoder that fails
    /// after producing data (a bad checksum at the end) keeps what it produced; one that
    /// produced nothing is an [`CappedReadError::Io`].
    pub fn read_capped(&mut self, decoder: impl Read) -> Result<Vec<u8>, CappedReadError> {
        let remaining = self.remaining();
        let mut out = Vec::new();
        if let Err(e) = decoder
            .take(remaining.saturating_add(1))
            .read_to_end(&mut out)
            && out.is_empty()
        {
            return Err(CappedReadError::Io(e));
        }
        self.count(out.len() as u64)
            .map_err(CappedReadError::OverBound)?;
        Ok(out)
    }

    /// Adds `bytes` produced by a decoder that bounds itself.
    pub fn count(&mut self, bytes: u64) -> Result<(), OverBound> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.bound.bytes {
            Err(OverBound(self.bound))
        } else {
            Ok(())
        }
    }
}

/// Why a capped read stopped.
#[derive(Debug)]
pub enum CappedReadError {
    Io(std::io::Error),
    OverBound(OverBound),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_read_stops_one_byte_past_the_bound() {
        let mut meter = Inflated::new(Bound::per_file(10));
        assert_eq!(meter.read_capped(&[1u8; 6][..]).unwrap().len(), 6);
        assert_eq!(meter.remaining(), 4);
        let err = meter.read_capped(std::io::repeat(0)).unwrap_err();
        assert!(
            matches!(err, CappedReadError::OverBound(OverBound(b)) if b.bytes == 10),
            "{err:?}"
        );
        assert_eq!(meter.used(), 11);
    }
}
