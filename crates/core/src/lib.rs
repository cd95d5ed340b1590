//! Shared vocabulary of every ragmesh crate: the one table that maps error kinds to gRPC and
//! HTTP statuses ([`ErrorCode`]), the trait each crate's error enum implements to take part in
//! it ([`Classify`]), the leg fusion every search uses ([`fusion`]), the circuit breaker every
//! remote dependency sits behind ([`breaker`]), and validation of names that reach file paths
//! ([`validate`]).

pub mod breaker;
pub mod error_code;
pub mod fusion;
pub mod validate;

pub use error_code::{Classify, ErrorCode, status_from, to_status};
pub use validate::{CoreError, validate_collection};

/// Name of the collection used when a request does not name one.
pub const DEFAULT_COLLECTION: &str = "default";
