//! Installs the global `tracing` subscriber once per process. `RUST_LOG` overrides the
//! configured level.

use crate::TelemetryError;
use ragmesh_config::{LogFormat, TelemetrySettings};
use std::sync::OnceLock;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs logging for `service` (a field on every JSON line). Later calls do nothing.
pub fn init_logging(
    settings: &TelemetrySettings,
    service: &'static str,
) -> Result<(), TelemetryError> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let directive = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log_level.clone());
    let filter = EnvFilter::try_new(&directive)
        .map_err(|e| TelemetryError::Filter(directive.clone(), e.to_string()))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Another subscriber may already be installed (tests); that is not an error.
    let _ = result;
    let _ = INSTALLED.set(());
    tracing::debug!(service, "logging installed");
    Ok(())
}
