//! The log level of a running process: the filter [`super::install`] puts into the
//! subscriber is reloadable, and [`set_log_level`] replaces it without a restart (the
//! gateway's `PUT /api/admin/log-level`, each backend's admin listener `PUT /log-level`).

use crate::TelemetryError;
use parking_lot::Mutex;
use std::sync::OnceLock;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub(super) type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// The installed filter and the directive it was built from.
struct LevelControl {
    handle: FilterHandle,
    directive: Mutex<String>,
}

static CONTROL: OnceLock<LevelControl> = OnceLock::new();

/// Remembers the filter of the subscriber just installed, so its level can change later.
pub(super) fn control(handle: FilterHandle, directive: String) {
    let _ = CONTROL.set(LevelControl {
        handle,
        directive: Mutex::new(directive),
    });
}

/// The filter directive in force, e.g. `info` or `ragmesh_gateway=debug,info`.
pub fn log_level() -> Option<String> {
    let control = CONTROL.get()?;
    Some(control.directive.lock().clone())
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
    *control.directive.lock() = directive.clone();
    tracing::info!(level = %directive, "log level changed");
    Ok(directive)
}

/// `EnvFilter` is lenient (a bare word is taken as a target name, a bad part is skipped); a
/// level an operator sends must either apply as meant or be refused, so every comma-separated
/// part must be a level (`info`) or end in one (`ragmesh_gateway=debug`).
pub(super) fn parse_filter(directive: &str) -> Result<EnvFilter, TelemetryError> {
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
