//! The one place that builds gRPC clients and servers for ragmesh, so every hop between
//! services behaves the same way:
//!
//! - clients ([`Upstream`]): lazily dialled channels (connect timeout, HTTP/2 keep-alive,
//!   TCP_NODELAY), one deadline per call sent as `grpc-timeout` and enforced locally, a
//!   [`CircuitBreaker`] per backend, one retry on another instance for idempotent calls, and
//!   passive ejection of an instance that stopped answering;
//! - servers ([`GrpcHost`]): grpc.health.v1, server reflection, TCP_NODELAY, and a bound on
//!   concurrent calls that answers RESOURCE_EXHAUSTED at once instead of queueing.

mod breaker;
mod client_channel;
mod error;
mod grpc_host;
mod load_shed;
mod upstream;

pub use breaker::{backend_breaker, backend_policy};
pub use client_channel::{ClientOptions, dial};
pub use error::RpcError;
pub use grpc_host::GrpcHost;
pub use load_shed::{ConcurrencyLimit, ConcurrencyLimitLayer};
pub use ragmesh_core::breaker::{BreakerPermit, BreakerState, CircuitBreaker, Rejected};
pub use upstream::{CallError, EJECT_FOR, Retry, Upstream};
