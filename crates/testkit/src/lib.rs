//! Shared helpers for ragmesh tests: the real models on disk (fetched by the project's own
//! fetcher when missing), real ragmesh processes on free loopback ports, and a protocol double
//! of the Ollama and OpenAI chat APIs (which cannot run here), and real docx/PDF files made in
//! memory ([`documents`]), an in-process OTLP trace receiver ([`OtlpReceiver`]) and whole
//! multi-process clusters behind the load balancer ([`Cluster`]). Tests use
//! real parts; these helpers keep them short.

mod chat_double;
mod cluster;
pub mod documents;
mod models;
mod otlp_receiver;
mod process;
mod redis_keys;

pub use chat_double::{ChatDouble, Ending, Protocol, Received, Reply, system_text, user_text};
pub use cluster::{Cluster, metric_sum};
pub use models::models_dir;
pub use otlp_receiver::{OtlpReceiver, ReceivedSpan};
pub use process::RagmeshProcess;
pub use redis_keys::delete_redis_keys;
