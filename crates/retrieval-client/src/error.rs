//! How a call to the retrieval cluster fails, in words that name what failed.
//!
//! [`ServiceError`] is a failed call to one backend service, its kind kept so the caller
//! answers with the same status the backend meant: unreachable, an open breaker, a shed call,
//! a missed deadline, the backend's own error kind, or an answer that breaks the contract.
//! Nothing in it is specific to retrieval (the gateway uses it for rerank and generation too).
//! [`RetrievalError`] adds what only a cluster of shards can say: which shard had no replica
//! that answered, and requests a cluster of several shards cannot serve.

use ragmesh_core::{Classify, ErrorCode, status_from};
use ragmesh_rpc::CallError;
use std::time::Duration;

/// A failed call to the service named `service` (`retrieval`, `rerank`, `generation`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service could not be reached, or said it cannot serve now.
    #[error("{service} service unavailable: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
    /// The service's circuit breaker is open: nothing was sent, the answer is immediate.
    #[error(
        "{service} service unavailable: circuit breaker open after {failures} consecutive failures; retry in {retry_after_s} s"
    )]
    CircuitOpen {
        service: &'static str,
        failures: u32,
        retry_after_s: u64,
    },
    /// The service shed the call (it is at its concurrency limit): try again shortly.
    #[error("{service} service is overloaded: {message}")]
    Overloaded {
        service: &'static str,
        message: String,
        retry_after_s: u64,
    },
    /// The service did not answer within the deadline it was given.
    #[error("{service} service did not answer within {ms} ms")]
    DeadlineExceeded { service: &'static str, ms: u64 },
    /// Any other error kind the service reported; the kind is kept so the status is the same.
    #[error("{service} service: {message}")]
    Status {
        service: &'static str,
        code: ErrorCode,
        message: String,
    },
    /// The service answered something that breaks the contract (e.g. an index out of range).
    #[error("{service} service broke its contract: {message}")]
    BadAnswer {
        service: &'static str,
        message: String,
    },
    #[error("invalid {service} service URL {url:?}: {reason}")]
    BadUrl {
        service: &'static str,
        url: String,
        reason: String,
    },
}

impl Classify for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Unavailable { .. } | ServiceError::CircuitOpen { .. } => {
                ErrorCode::Unavailable
            }
            ServiceError::Overloaded { .. } => ErrorCode::ResourceExhausted,
            ServiceError::DeadlineExceeded { .. } => ErrorCode::DeadlineExceeded,
            ServiceError::Status { code, .. } => *code,
            ServiceError::BadAnswer { .. } => ErrorCode::Internal,
            ServiceError::BadUrl { .. } => ErrorCode::InvalidArgument,
        }
    }
}

impl ServiceError {
    /// A service's status as an error: unreachable or "unavailable" → [`ServiceError::Unavailable`];
    /// any other kind keeps its kind (and so its HTTP status).
    pub fn from_status(service: &'static str, status: &tonic::Status) -> ServiceError {
        let code = status_from(status);
        record(service, code);
        let message = if status.message().is_empty() {
            format!("{:?}", status.code())
        } else {
            status.message().to_string()
        };
        match code {
            ErrorCode::Unavailable => ServiceError::Unavailable { service, message },
            _ => ServiceError::Status {
                service,
                code,
                message,
            },
        }
    }

    /// A failed call: an open breaker is a fast "unavailable" with the time to come back; a
    /// shed call says to retry after `overload_retry_after_s`; otherwise as
    /// [`ServiceError::from_status`] / [`ServiceError::deadline`].
    pub fn from_call(
        service: &'static str,
        err: CallError,
        overload_retry_after_s: u64,
    ) -> ServiceError {
        match err {
            CallError::Open {
                retry_after,
                failures,
            } => {
                record(service, ErrorCode::Unavailable);
                ServiceError::CircuitOpen {
                    service,
                    failures,
                    retry_after_s: retry_after.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
            CallError::DeadlineExceeded { timeout } => ServiceError::deadline(service, timeout),
            CallError::Status(status) if status_from(&status) == ErrorCode::ResourceExhausted => {
                record(service, ErrorCode::ResourceExhausted);
                ServiceError::Overloaded {
                    service,
                    message: status.message().to_string(),
                    retry_after_s: overload_retry_after_s.max(1),
                }
            }
            CallError::Status(status) => ServiceError::from_status(service, &status),
        }
    }

    /// The error for a call that outlived its deadline on the caller's side.
    pub fn deadline(service: &'static str, timeout: Duration) -> ServiceError {
        record(service, ErrorCode::DeadlineExceeded);
        ServiceError::DeadlineExceeded {
            service,
            ms: timeout.as_millis() as u64,
        }
    }

    /// Seconds a client should wait before trying again, for failures that say so: an open
    /// breaker, a shed call.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            ServiceError::CircuitOpen { retry_after_s, .. }
            | ServiceError::Overloaded { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

fn record(service: &'static str, code: ErrorCode) {
    metrics::counter!("ragmesh_backend_errors_total", "service" => service, "code" => code.as_str())
        .increment(1);
}

/// The name the retrieval service has in errors, metrics and health.
pub const RETRIEVAL: &str = "retrieval";

/// Why a call to the retrieval cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// A call failed as a call to any service does (with one shard, every failure is this).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// No replica of one shard answered (or a write could not be kept for a replica that
    /// missed it): `shard` counts from 1.
    #[error("retrieval shard {shard} of {shards} is unavailable: {message}")]
    ShardUnavailable {
        shard: usize,
        shards: usize,
        message: String,
    },
    /// A request or setting this cluster cannot serve (e.g. a backup through a gateway of
    /// several shards, a handoff Redis URL that does not parse).
    #[error("{0}")]
    InvalidArgument(String),
}

impl Classify for RetrievalError {
    fn code(&self) -> ErrorCode {
        match self {
            RetrievalError::Service(e) => e.code(),
            RetrievalError::ShardUnavailable { .. } => ErrorCode::Unavailable,
            RetrievalError::InvalidArgument(_) => ErrorCode::InvalidArgument,
        }
    }
}

impl RetrievalError {
    /// Seconds to wait before trying again, when the failure says so.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            RetrievalError::Service(e) => e.retry_after_s(),
            _ => None,
        }
    }

    /// An answer that breaks the contract (a shard answered nothing, or the wrong kind).
    pub(crate) fn no_answer() -> RetrievalError {
        RetrievalError::Service(ServiceError::BadAnswer {
            service: RETRIEVAL,
            message: "no answer for the request".into(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn service_kinds_survive_and_unreachable_names_the_service() {
        let not_found = tonic::Status::not_found("collection \"x\" not found");
        let err = ServiceError::from_status(RETRIEVAL, &not_found);
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert_eq!(
            err.to_string(),
            "retrieval service: collection \"x\" not found"
        );

        let down = tonic::Status::unavailable("tcp connect error");
        let err = ServiceError::from_status("generation", &down);
        assert_eq!(
            err.to_string(),
            "generation service unavailable: tcp connect error"
        );

        // A 415 travels as INVALID_ARGUMENT plus the wire name in metadata; the kind survives.
        #[derive(Debug, thiserror::Error)]
        #[error("only text")]
        struct Typed;
        impl Classify for Typed {
            fn code(&self) -> ErrorCode {
                ErrorCode::UnsupportedMediaType
            }
        }
        let err = ServiceError::from_status(RETRIEVAL, &ragmesh_core::to_status(&Typed));
        assert_eq!(err.code().http().as_u16(), 415);
    }

    #[test]
    fn open_breakers_and_shed_calls_say_when_to_come_back() {
        let open = ServiceError::from_call(
            RETRIEVAL,
            CallError::Open {
                retry_after: Duration::from_millis(11_200),
                failures: 5,
            },
            3,
        );
        assert_eq!(open.retry_after_s(), Some(12));
        assert_eq!(open.code(), ErrorCode::Unavailable);
        let shed = ServiceError::from_call(
            "generation",
            CallError::Status(tonic::Status::resource_exhausted("busy")),
            0,
        );
        assert_eq!(shed.retry_after_s(), Some(1));
        assert_eq!(shed.code().http().as_u16(), 429);
        let shard = RetrievalError::ShardUnavailable {
            shard: 2,
            shards: 3,
            message: "retrieval service unavailable: down".into(),
        };
        assert_eq!(shard.code().http().as_u16(), 503);
        assert_eq!(
            shard.to_string(),
            "retrieval shard 2 of 3 is unavailable: retrieval service unavailable: down"
        );
    }
}
