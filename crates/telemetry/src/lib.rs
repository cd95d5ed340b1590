//! Process-wide telemetry shared by every ragmesh binary: the `tracing` subscriber (JSON lines
//! for Loki, or human-readable for a terminal), the Prometheus recorder behind `/metrics`, and
//! the shutdown signal (Ctrl-C / SIGTERM) every server waits on.
//!
//! `ragmesh up` runs all services in one process, so both installers are idempotent: the
//! first call installs, later calls reuse what is installed.

mod logging;
mod metrics_recorder;
mod shutdown;

pub use logging::init_logging;
pub use metrics_recorder::{metrics_handle, render_metrics};
pub use shutdown::{shutdown_token, wait_for_signal};

use ragmesh_core::{Classify, ErrorCode};

/// Errors while installing telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {0:?}: {1}")]
    Filter(String, String),
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
}

impl Classify for TelemetryError {
    fn code(&self) -> ErrorCode {
        match self {
            TelemetryError::Filter(..) => ErrorCode::InvalidArgument,
            TelemetryError::Recorder(_) => ErrorCode::Internal,
        }
    }
}
