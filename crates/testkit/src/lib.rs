//! Shared helpers for ragmesh tests: the real models on disk (fetched by the project's own
//! fetcher when missing), real ragmesh processes on free loopback ports ([`RagmeshProcess`]),
//! whole `ragmesh serve` topologies wired and waited for ([`Topology`]), multi-process
//! clusters behind the load balancer ([`Cluster`]), the machine's share a process-starting
//! test takes ([`machine`]), waiting for a gRPC health check ([`wait_for_grpc_serving`]), Redis for tests ([`RedisServer`], [`delete_redis_keys`]), a
//! protocol double of the Ollama and OpenAI chat APIs (which cannot run here), real docx/PDF
//! files made in memory ([`documents`]) and an in-process OTLP trace receiver
//! ([`OtlpReceiver`]). Tests use real parts; these helpers keep them short.

mod chat_double;
mod cluster;
pub mod documents;
mod grpc_health;
pub mod machine;
mod models;
mod otlp_receiver;
mod process;
mod redis;
mod topology;

pub use chat_double::{ChatDouble, Ending, Protocol, Received, Reply, system_text, user_text};
pub use cluster::{Cluster, metric_sum};
pub use grpc_health::wait_for_grpc_serving;
pub use models::models_dir;
pub use otlp_receiver::{OtlpReceiver, ReceivedSpan};
pub use process::{RagmeshProcess, rss_kib};
pub use redis::{RedisServer, delete_redis_keys};
pub use topology::{CLOSED_URL, Readiness, Stack, Topology, wait_ready};
