//! Sentence embeddings with all-MiniLM-L6-v2 on candle, computed exactly as
//! sentence-transformers computes them (truncation to 256 word pieces, mean pooling over the
//! attention mask, L2 normalisation), so vectors are interchangeable with the Python model.
//!
//! [`Embedder::embed`] runs on the calling thread and the current rayon pool; services call it
//! inside their own pool (`ThreadPool::install` in `spawn_blocking`) so embedding cannot starve
//! other model work in the same process.

mod embedder;
mod error;
mod pooling;
mod word_pieces;

pub use embedder::Embedder;
pub use error::EmbedError;
