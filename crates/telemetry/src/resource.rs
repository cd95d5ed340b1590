//! Who is speaking: the service identity every log line and every exported span carries. Logs
//! (`service`, `instance` on each JSON line) and traces (the OTel resource's `service.name`,
//! `service.instance.id`) both read it from here, so neither imports the other.

use ragmesh_config::TelemetrySettings;

/// The process's service and instance, as configured.
#[derive(Debug, Clone)]
pub struct ServiceIdentity {
    /// `gateway`, `retrieval`, `rerank`, `generation`, `lb`, or `ragmesh` under `ragmesh up`.
    pub service: &'static str,
    /// `telemetry.instance`, trimmed (may be empty).
    configured_instance: String,
}

impl ServiceIdentity {
    pub fn new(settings: &TelemetrySettings, service: &'static str) -> ServiceIdentity {
        ServiceIdentity {
            service,
            configured_instance: settings.instance.trim().to_string(),
        }
    }

    /// The `instance` of a log line: `telemetry.instance`, else the host name, else the
    /// process id.
    pub fn log_instance(&self) -> String {
        if !self.configured_instance.is_empty() {
            return self.configured_instance.clone();
        }
        let host = host_name();
        if host.is_empty() {
            format!("pid-{}", std::process::id())
        } else {
            host
        }
    }

    /// The OTel `service.instance.id`: `telemetry.instance`, else host:pid.
    pub fn trace_instance(&self) -> String {
        if self.configured_instance.is_empty() {
            format!("{}:{}", host_name(), std::process::id())
        } else {
            self.configured_instance.clone()
        }
    }

    /// The OTel `service.name`: `ragmesh-<service>`, `ragmesh` under `up`.
    pub fn trace_service_name(&self) -> String {
        if self.service == "ragmesh" {
            self.service.to_string()
        } else {
            format!("ragmesh-{}", self.service)
        }
    }
}

/// The host name, empty when unknown.
fn host_name() -> String {
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
    fn a_configured_instance_names_logs_and_traces_alike() {
        let settings = TelemetrySettings {
            instance: " gateway-2 ".into(),
            ..TelemetrySettings::default()
        };
        let id = ServiceIdentity::new(&settings, "gateway");
        assert_eq!(id.log_instance(), "gateway-2");
        assert_eq!(id.trace_instance(), "gateway-2");
        assert_eq!(id.trace_service_name(), "ragmesh-gateway");
        let up = ServiceIdentity::new(&TelemetrySettings::default(), "ragmesh");
        assert_eq!(up.trace_service_name(), "ragmesh");
        assert!(
            up.trace_instance()
                .ends_with(&format!(":{}", std::process::id()))
        );
    }
}
