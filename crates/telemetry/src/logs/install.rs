//! Installs the global `tracing` subscriber once per process: the reloadable level filter of
//! [`super::level`], then (with `telemetry.otlp_endpoint` set) the OTel layer of
//! [`crate::traces`], so the spans the level lets through are also exported, then the
//! formatter: JSON lines on stdout ([`super::json_lines`], written off the request path by
//! [`super::line_batcher`]) or, for a terminal, compact human lines on stderr.
//!
//! The level comes from `RUST_LOG` when set, else `telemetry.log_level`.

use super::json_lines::JsonLines;
use super::level::{control, parse_filter};
use super::line_batcher::BatchedStdout;
use crate::TelemetryError;
use crate::resource::ServiceIdentity;
use ragmesh_config::{LogFormat, TelemetrySettings};
use std::sync::OnceLock;
use tracing_subscriber::{fmt, prelude::*, reload};

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs logging; `service` names the process on every JSON line (under `ragmesh up`,
/// spans of each service override it). Later calls do nothing.
pub fn init_logging(
    settings: &TelemetrySettings,
    service: &'static str,
) -> Result<(), TelemetryError> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let identity = ServiceIdentity::new(settings, service);
    let directive = std::env::var("RUST_LOG")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| settings.log_level.clone());
    let filter = parse_filter(&directive)?;
    let (filter, handle) = reload::Layer::new(filter);
    let filtered = tracing_subscriber::registry().with(filter);
    let otel = crate::traces::otlp_layer(settings, &identity)?;
    let registry = filtered.with(otel);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(JsonLines::new(
                service,
                identity.log_instance(),
                BatchedStdout,
            ))
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
    let _ = INSTALLED.set(());
    // Another subscriber may already be installed (tests); then there is no level to control.
    if result.is_ok() {
        control(handle, directive);
    }
    tracing::debug!(service, "logging installed");
    Ok(())
}
