//! Installs the global `tracing` subscriber once per process, with a filter that can be
//! changed while the process runs ([`set_log_level`]: the gateway's
//! `PUT /api/admin/log-level`, each backend's admin listener `PUT /log-level`).
//!
//! The level comes from `RUST_LOG` when set, else `telemetry.log_level`. Output is JSON lines
//! on stdout ([`crate::json_lines`], written in batches by [`crate::line_batcher`]) or, for a terminal, compact human lines on stderr.
//! With `telemetry.otlp_endpoint` set, the OTel layer of [`crate::otlp`] sits between the
//! filter and the formatter, so the spans the level lets through are also exported.

use crate::TelemetryError;
use crate::json_lines::JsonLines;
use crate::line_batcher::BatchedStdout;
use ragmesh_config::{LogFormat, TelemetrySettings};
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::{EnvFilter, Registry, fmt, prelude::*, reload};

type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// The installed filter and the directive it was built from.
struct LevelControl {
    handle: FilterHandle,
    directive: Mutex<String>,
}

static CONTROL: OnceLock<LevelControl> = OnceLock::new();
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
    let directive = std::env::var("RUST_LOG")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| settings.log_level.clone());
    let filter = parse_filter(&directive)?;
    let (filter, handle) = reload::Layer::new(filter);
    let filtered = tracing_subscriber::registry().with(filter);
    let otel = crate::otlp::otlp_layer(settings, service)?;
    let registry = filtered.with(otel);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(JsonLines::new(
                service,
                instance_name(settings),
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
        let _ = CONTROL.set(LevelControl {
            handle,
            directive: Mutex::new(directive),
        });
    }
    tracing::debug!(service, "logging installed");
    Ok(())
}

/// The filter directive in force, e.g. `info` or `ragmesh_gateway=debug,info`.
pub fn log_level() -> Option<String> {
    let control = CONTROL.get()?;
    control.directive.lock().ok().map(|d| d.clone())
}

/// Replaces the filter without a restart. A bad directive is rejected and the old one stays.
pub fn set_log_level(directive: &str) -> Result<String, TelemetryError> {
    let directive = directive.trim().to_string();
    if directive.is_empty() {
        return Err(TelemetryError::Filter(
            directive,
            "a level such as info, debug or ragmesh_gateway=debug,info is required".into(),
        ));
    }
    let filter = parse_filter(&directive)?;
    let control = CONTROL.get().ok_or(TelemetryError::NoLogging)?;
    control
        .handle
        .reload(filter)
        .map_err(|e| TelemetryError::Reload(e.to_string()))?;
    if let Ok(mut current) = control.directive.lock() {
        *current = directive.clone();
    }
    tracing::info!(level = %directive, "log level changed");
    Ok(directive)
}

/// `EnvFilter` is lenient (a bare word is taken as a target name, a bad part is skipped); a
/// level an operator sends must either apply as meant or be refused, so every comma-separated
/// part must be a level (`info`) or end in one (`ragmesh_gateway=debug`).
fn parse_filter(directive: &str) -> Result<EnvFilter, TelemetryError> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let refuse = |why: String| TelemetryError::Filter(directive.to_string(), why);
    for part in directive
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let level = part.rsplit('=').next().unwrap_or(part).trim();
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(refuse(format!(
                "{part:?} does not end in a level (one of {})",
                LEVELS.join(", ")
            )));
        }
        part.parse::<tracing_subscriber::filter::Directive>()
            .map_err(|e| refuse(e.to_string()))?;
    }
    EnvFilter::try_new(directive).map_err(|e| refuse(e.to_string()))
}

/// `telemetry.instance`, else the host name, else the process id.
fn instance_name(settings: &TelemetrySettings) -> String {
    if !settings.instance.trim().is_empty() {
        return settings.instance.trim().to_string();
    }
    let host = host_name();
    if host.is_empty() {
        format!("pid-{}", std::process::id())
    } else {
        host
    }
}

/// The host name, empty when unknown.
pub(crate) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_directives_are_refused_good_ones_parse() {
        assert!(parse_filter("info").is_ok());
        assert!(parse_filter("ragmesh_gateway=debug,info").is_ok());
        assert!(parse_filter("loud").is_err());
        assert!(parse_filter("ragmesh=verbose").is_err());
        assert!(set_log_level("   ").is_err());
    }
}
