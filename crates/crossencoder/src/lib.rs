//! A BERT cross-encoder on candle: scores (query, passage) pairs jointly, in the layout of
//! ms-marco-MiniLM-L-6-v2 (`BertForSequenceClassification`: encoder, pooler, classifier).
//!
//! It exists as its own crate so the rerank service stays a thin gRPC shell and so the
//! model can be tested and benchmarked without a server. Users bring the weights by path
//! (none are installable on our build machines); parity with transformers is proven on a
//! small checkpoint of the same layout (tests/fixtures).

mod checkpoint;
mod config;
mod cross_encoder;
mod error;
mod head;
mod pairs;

pub use cross_encoder::{CrossEncoder, DEFAULT_BATCH_SIZE};
pub use error::CrossEncoderError;
