//! Decompressing a PDF's streams within the file's bound. lopdf inflates a stream into a
//! `Vec` with no limit (`Stream::decompressed_content`), both when it loads object streams and
//! when it hands out page contents and ToUnicode maps, so a few kilobytes of deflate can make
//! it allocate gigabytes. Instead, every stream text extraction can read is decoded here,
//! through readers capped at what is left of the file's [`Inflated`] bound, and stored back
//! uncompressed: lopdf then has nothing left to inflate.
//!
//! Two places call it. While lopdf loads, its object filter ([`load_filter`]) decodes each
//! stream as it is parsed, before an object stream (`/Type /ObjStm`) is unpacked; the meter
//! lives in a thread-local because lopdf takes a plain `fn` (loading runs on the caller's
//! thread: lopdf is built without rayon). Encrypted documents skip that filter in lopdf, so
//! after loading, [`decode_all`] sweeps whatever is still compressed.
//!
//! Streams text extraction never reads stay compressed and cost nothing: images and form
//! XObjects (anything with a `/Subtype`), embedded font programs (`/Length1`), cross-reference
//! streams and embedded files.

use crate::limits::{Bound, CappedReadError, Inflated, OverBound};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use std::cell::RefCell;

/// Why a stream could not be decoded.
#[derive(Debug)]
pub enum StreamError {
    /// Past the file's bound on decompressed bytes.
    OverBound(Bound),
    /// Not valid data for its filters, or a filter this module does not know: the stream is
    /// emptied (lopdf skips what it cannot read, and so does extraction).
    Undecodable,
}

impl From<OverBound> for StreamError {
    fn from(e: OverBound) -> Self {
        StreamError::OverBound(e.0)
    }
}

impl From<CappedReadError> for StreamError {
    fn from(e: CappedReadError) -> Self {
        match e {
            CappedReadError::OverBound(e) => e.into(),
            CappedReadError::Io(_) => StreamError::Undecodable,
        }
    }
}

thread_local! {
    /// The meter of the document being loaded on this thread, and the first bound it passed.
    static LOADING: RefCell<Option<(Inflated, Option<Bound>)>> = const { RefCell::new(None) };
}

/// Loads `bytes` with every readable stream decoded within `meter`'s bound.
pub fn load(bytes: &[u8], meter: Inflated) -> Result<(Document, Inflated), LoadError> {
    prescan_unhooked_streams(bytes, meter.bound()).map_err(LoadError::OverBound)?;
    LOADING.with(|cell| *cell.borrow_mut() = Some((meter, None)));
    let loaded = Document::load_mem_with_options(
        bytes,
        lopdf::LoadOptions {
            filter: Some(load_filter),
            ..Default::default()
        },
    );
    let state = LOADING.with(|cell| cell.borrow_mut().take());
    let Some((mut meter, over)) = state else {
        return Err(LoadError::OverBound(Bound::per_file(0)));
    };
    if let Some(bound) = over {
        return Err(LoadError::OverBound(bound));
    }
    let mut document = loaded.map_err(LoadError::Pdf)?;
    decode_all(&mut document, &mut meter).map_err(LoadError::OverBound)?;
    Ok((document, meter))
}

/// Streams lopdf inflates before any hook of ours runs: cross-reference streams (parsed with
/// the trailer) and, in encrypted files, object streams (the load filter is skipped there).
const UNHOOKED_TYPES: [&[u8]; 2] = [b"/XRef", b"/ObjStm"];

/// Counts, without keeping anything, what every stream whose dictionary names one of
/// [`UNHOOKED_TYPES`] inflates to, so a bomb in one of them is refused before lopdf sees it.
/// The raw bytes are searched for the type name, then the next `stream` keyword; a flate
/// stream starts right after it. Memory: one 64 KiB buffer.
fn prescan_unhooked_streams(bytes: &[u8], bound: Bound) -> Result<(), Bound> {
    let mut inflated = 0u64;
    let mut scratch = vec![0u8; 64 * 1024];
    for name in UNHOOKED_TYPES {
        let mut from = 0;
        while let Some(at) = find(&bytes[from..], name).map(|i| from + i) {
            from = at + name.len();
            // The dictionary ends within a few KiB of its /Type; a `stream` further on is
            // another object's.
            let window = &bytes[from..bytes.len().min(from + 4096)];
            let Some(keyword) = find(window, b"stream").map(|i| from + i + b"stream".len()) else {
                continue;
            };
            let mut start = keyword;
            for eol in [b'\r', b'\n'] {
                if bytes.get(start) == Some(&eol) {
                    start += 1;
                }
            }
            let mut decoder = flate2::read::ZlibDecoder::new(&bytes[start..]);
            loop {
                match std::io::Read::read(&mut decoder, &mut scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        inflated += n as u64;
                        if inflated > bound.bytes {
                            return Err(bound);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug)]
pub enum LoadError {
    OverBound(Bound),
    Pdf(lopdf::Error),
}

/// lopdf's object filter: decodes a stream in place; a stream past the bound is dropped and
/// the bound recorded, so loading ends without inflating anything more.
///
/// lopdf ignores what the filter returns for top-level objects (it keeps the object it passed
/// in, which was decoded in place) and keeps the returned copy only for objects unpacked from
/// an object stream, which are never streams — so streams return a cheap placeholder.
fn load_filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let stream = match object {
        Object::Stream(stream) => stream,
        other => return Some((id, other.clone())),
    };
    let outcome = LOADING.with(|cell| {
        let mut state = cell.borrow_mut();
        let (meter, over) = state.as_mut()?;
        if over.is_some() {
            return Some(false);
        }
        match decode_stream(stream, meter) {
            Err(StreamError::OverBound(bound)) => {
                *over = Some(bound);
                Some(false)
            }
            Ok(()) => Some(true),
            Err(StreamError::Undecodable) => {
                drop_content(stream);
                Some(true)
            }
        }
    });
    match outcome {
        Some(true) => Some((id, Object::Null)),
        // Past the bound (or no meter at all): drop the stream, lopdf never inflates it.
        _ => {
            drop_content(stream);
            None
        }
    }
}

/// A stream extraction may read but that cannot be decoded within the bound is emptied, so
/// lopdf never inflates it on its own (without a bound) later.
fn drop_content(stream: &mut Stream) {
    stream.set_plain_content(Vec::new());
}

/// Decodes every stream still compressed that extraction may read.
pub fn decode_all(document: &mut Document, meter: &mut Inflated) -> Result<(), Bound> {
    for object in document.objects.values_mut() {
        if let Object::Stream(stream) = object {
            match decode_stream(stream, meter) {
                Err(StreamError::OverBound(bound)) => return Err(bound),
                Err(StreamError::Undecodable) => drop_content(stream),
                Ok(()) => {}
            }
        }
    }
    Ok(())
}

/// Decodes one stream in place when text extraction may read it and its filters are ones
/// this module knows; anything else is left untouched.
fn decode_stream(stream: &mut Stream, meter: &mut Inflated) -> Result<(), StreamError> {
    if !is_read_by_extraction(&stream.dict) {
        return Ok(());
    }
    let Ok(filters) = stream.filters() else {
        return Ok(());
    };
    if filters.is_empty() {
        return Ok(());
    }
    let params = stream
        .dict
        .get(b"DecodeParms")
        .and_then(Object::as_dict)
        .ok();
    let mut data = std::borrow::Cow::Borrowed(stream.content.as_slice());
    for filter in filters {
        data = std::borrow::Cow::Owned(match filter {
            b"FlateDecode" | b"Fl" => predictor(inflate(&data, meter)?, params)?,
            b"LZWDecode" | b"LZW" => predictor(lzw(&data, params, meter)?, params)?,
            b"ASCII85Decode" | b"A85" => ascii85(&data, meter)?,
            _ => return Err(StreamError::Undecodable),
        });
    }
    let data = data.into_owned();
    stream.set_plain_content(data);
    Ok(())
}

/// Content streams, object streams and ToUnicode CMaps have no `/Subtype`; images, forms,
/// compact font programs and XML metadata do. TrueType programs carry `/Length1`.
fn is_read_by_extraction(dict: &Dictionary) -> bool {
    let typed = |t: &[u8]| dict.has_type(t);
    dict.get(b"Subtype").is_err()
        && dict.get(b"Length1").is_err()
        && !typed(b"XRef")
        && !typed(b"EmbeddedFile")
}

/// zlib, or raw deflate when the zlib wrapper is broken (as lopdf falls back too).
fn inflate(data: &[u8], meter: &mut Inflated) -> Result<Vec<u8>, StreamError> {
    let before = meter.used();
    match meter.read_capped(flate2::read::ZlibDecoder::new(data)) {
        Err(CappedReadError::Io(_)) if data.len() > 2 && meter.used() == before => {
            Ok(meter.read_capped(flate2::read::DeflateDecoder::new(&data[2..]))?)
        }
        out => Ok(out?),
    }
}

fn lzw(
    data: &[u8],
    params: Option<&Dictionary>,
    meter: &mut Inflated,
) -> Result<Vec<u8>, StreamError> {
    use weezl::{BitOrder, decode::Decoder};
    let early_change = params
        .and_then(|p| p.get(b"EarlyChange").ok())
        .and_then(|p| p.as_i64().ok())
        .is_none_or(|v| v != 0);
    let mut decoder = if early_change {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Decoder::new(BitOrder::Msb, 8)
    };
    let mut out = CappedWriter {
        out: Vec::new(),
        room: meter.remaining().saturating_add(1),
    };
    // A decoding error midway keeps what was decoded, as lopdf does.
    let _ = decoder.into_stream(&mut out).decode_all(data).status;
    meter.count(out.out.len() as u64)?;
    Ok(out.out)
}

/// ASCII85 never grows data more than 4 to 1 (`z` is four zero bytes); lopdf's decoder is
/// used, and its output counted.
fn ascii85(data: &[u8], meter: &mut Inflated) -> Result<Vec<u8>, StreamError> {
    let mut dict = Dictionary::new();
    dict.set("Filter", "ASCII85Decode");
    let out = Stream::new(dict, data.to_vec())
        .decompressed_content()
        .map_err(|_| StreamError::Undecodable)?;
    meter.count(out.len() as u64)?;
    Ok(out)
}

/// PNG predictors (10–15) undone the way lopdf does; they never grow the data.
fn predictor(data: Vec<u8>, params: Option<&Dictionary>) -> Result<Vec<u8>, StreamError> {
    let Some(params) = params else {
        return Ok(data);
    };
    let get =
        |key: &[u8], default: i64| params.get(key).and_then(Object::as_i64).unwrap_or(default);
    if !(10..=15).contains(&get(b"Predictor", 1)) {
        return Ok(data);
    }
    let size = |key: &[u8], default: i64| {
        usize::try_from(get(key, default).max(default)).map_err(|_| StreamError::Undecodable)
    };
    let (columns, colors, bits) = (
        size(b"Columns", 1)?,
        size(b"Colors", 1)?,
        size(b"BitsPerComponent", 8)?,
    );
    let bytes_per_pixel = colors.checked_mul(bits).ok_or(StreamError::Undecodable)? / 8;
    lopdf::filters::png::decode_frame(&data, bytes_per_pixel, columns)
        .map_err(|_| StreamError::Undecodable)
}

/// A `Write` that refuses bytes past its room, which stops the LZW decoder.
struct CappedWriter {
    out: Vec<u8>,
    room: u64,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = usize::try_from(self.room).unwrap_or(usize::MAX);
        if room == 0 {
            return Err(std::io::Error::other(
                "past the bound on decompressed bytes",
            ));
        }
        let n = buf.len().min(room);
        self.out.extend_from_slice(&buf[..n]);
        self.room -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
