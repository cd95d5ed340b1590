//! The single table that maps ragmesh error kinds to gRPC codes and HTTP statuses.
//!
//! Every crate has its own `thiserror` enum and implements [`Classify`] for it; nothing else
//! decides a status. Errors cross gRPC as `tonic::Status` with the code from this table and
//! come back to an [`ErrorCode`] with [`ErrorCode::from_grpc`], so the gateway answers with
//! the same kind the backend reported.

use serde::Serialize;

/// Kinds of failure a caller can act on. The string form is what HTTP clients see in
/// `{"error":{"code": ...}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnprocessableEntity,
    ResourceExhausted,
    Unavailable,
    DeadlineExceeded,
    Cancelled,
    Unauthenticated,
    /// The caller is known (or needs no key) but this request is refused: a cross-site write,
    /// a `Host` the server does not serve.
    Forbidden,
    /// The client sent its request too slowly (a stalled or trickling body).
    RequestTimeout,
    Internal,
}

/// One row per kind: (kind, gRPC code, HTTP status, wire name).
const TABLE: &[(ErrorCode, tonic::Code, u16, &str)] = &[
    (
        ErrorCode::InvalidArgument,
        tonic::Code::InvalidArgument,
        400,
        "invalid_argument",
    ),
    (ErrorCode::NotFound, tonic::Code::NotFound, 404, "not_found"),
    (
        ErrorCode::AlreadyExists,
        tonic::Code::AlreadyExists,
        409,
        "already_exists",
    ),
    (
        ErrorCode::PayloadTooLarge,
        tonic::Code::OutOfRange,
        413,
        "payload_too_large",
    ),
    (
        ErrorCode::UnsupportedMediaType,
        tonic::Code::InvalidArgument,
        415,
        "unsupported_media_type",
    ),
    (
        ErrorCode::UnprocessableEntity,
        tonic::Code::FailedPrecondition,
        422,
        "unprocessable_entity",
    ),
    (
        ErrorCode::ResourceExhausted,
        tonic::Code::ResourceExhausted,
        429,
        "resource_exhausted",
    ),
    (
        ErrorCode::Unavailable,
        tonic::Code::Unavailable,
        503,
        "unavailable",
    ),
    (
        ErrorCode::DeadlineExceeded,
        tonic::Code::DeadlineExceeded,
        504,
        "deadline_exceeded",
    ),
    (
        ErrorCode::Cancelled,
        tonic::Code::Cancelled,
        499,
        "cancelled",
    ),
    (
        ErrorCode::Unauthenticated,
        tonic::Code::Unauthenticated,
        401,
        "unauthenticated",
    ),
    (
        ErrorCode::Forbidden,
        tonic::Code::PermissionDenied,
        403,
        "forbidden",
    ),
    // After DeadlineExceeded, so a backend's DEADLINE_EXCEEDED still reads as 504.
    (
        ErrorCode::RequestTimeout,
        tonic::Code::DeadlineExceeded,
        408,
        "request_timeout",
    ),
    (ErrorCode::Internal, tonic::Code::Internal, 500, "internal"),
];

impl ErrorCode {
    fn row(self) -> &'static (ErrorCode, tonic::Code, u16, &'static str) {
        // Every variant has a row; the fallback is the Internal row (last).
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .unwrap_or(&TABLE[TABLE.len() - 1])
    }

    pub fn grpc(self) -> tonic::Code {
        self.row().1
    }

    pub fn http(self) -> http::StatusCode {
        http::StatusCode::from_u16(self.row().2).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn as_str(self) -> &'static str {
        self.row().3
    }

    /// The kind a gRPC status code stands for. Codes that several kinds share map to the
    /// first row that uses them; codes not in the table are `Internal`, except transport-level
    /// ones that mean the peer cannot be reached.
    pub fn from_grpc(code: tonic::Code) -> ErrorCode {
        match code {
            tonic::Code::Unknown | tonic::Code::Aborted => ErrorCode::Unavailable,
            _ => TABLE
                .iter()
                .find(|row| row.1 == code)
                .map(|row| row.0)
                .unwrap_or(ErrorCode::Internal),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every crate's error enum: which kind of failure this is.
pub trait Classify: std::error::Error {
    fn code(&self) -> ErrorCode;
}

/// Converts any classified error into a `tonic::Status` with the table's code and the
/// error's message. The wire name travels in the `ragmesh-error-code` metadata so kinds
/// that share a gRPC code (415 and 400) survive the hop.
pub fn to_status<E: Classify + ?Sized>(err: &E) -> tonic::Status {
    let code = err.code();
    let mut status = tonic::Status::new(code.grpc(), err.to_string());
    if let Ok(value) = code.as_str().parse() {
        status.metadata_mut().insert("ragmesh-error-code", value);
    }
    status
}

/// The kind carried by a status from another ragmesh service (its metadata first, then its code).
pub fn status_from(status: &tonic::Status) -> ErrorCode {
    if let Some(name) = status
        .metadata()
        .get("ragmesh-error-code")
        .and_then(|v| v.to_str().ok())
        && let Some(row) = TABLE.iter().find(|row| row.3 == name)
    {
        return row.0;
    }
    ErrorCode::from_grpc(status.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_wire_name() {
        for row in TABLE {
            assert_eq!(row.0.as_str(), row.3);
            assert_eq!(row.0.http().as_u16(), row.2);
        }
    }

    #[test]
    fn status_keeps_kinds_that_share_a_grpc_code() {
        #[derive(Debug, thiserror::Error)]
        #[error("bad type")]
        struct Bad;
        impl Classify for Bad {
            fn code(&self) -> ErrorCode {
                ErrorCode::UnsupportedMediaType
            }
        }
        let status = to_status(&Bad);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status_from(&status), ErrorCode::UnsupportedMediaType);
        assert_eq!(
            status_from(&tonic::Status::unavailable("x")),
            ErrorCode::Unavailable
        );
    }
}
