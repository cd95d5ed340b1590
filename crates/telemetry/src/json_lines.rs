//! The JSON line every log event becomes, shaped for Loki:
//!
//! `{"timestamp","level","service","instance","target","message","trace_id","span_id","span","fields":{..}}`
//!
//! `service`, `trace_id` and `span_id` come from the innermost enclosing span that has them
//! (the gateway's `http` span, the `rpc` span each gRPC server opens per call, the `service`
//! span `ragmesh up` runs each service in), else the process's service name; `fields` holds the
//! event's own fields over the fields of its spans. `trace_id`/`span_id` are omitted outside a
//! request.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Span fields lifted to the top level of the line instead of `fields`.
const TOP_LEVEL: [&str; 3] = ["service", "trace_id", "span_id"];

/// The event formatter installed for `log_format = "json"`.
#[derive(Debug, Clone)]
pub struct JsonLines {
    service: &'static str,
    instance: String,
}

impl JsonLines {
    pub fn new(service: &'static str, instance: String) -> JsonLines {
        JsonLines { service, instance }
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut top = Map::new();
        let mut fields = Map::new();
        let mut span_name = None;
        // Root first, so inner spans override outer ones.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                span_name = Some(span.name());
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                let Ok(Value::Object(span_fields)) =
                    serde_json::from_str::<Value>(&formatted.fields)
                else {
                    continue;
                };
                for (key, value) in span_fields {
                    if TOP_LEVEL.contains(&key.as_str()) {
                        top.insert(key, value);
                    } else {
                        fields.insert(key, value);
                    }
                }
            }
        }
        let mut visitor = EventFields::default();
        event.record(&mut visitor);
        fields.extend(visitor.fields);

        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert(
            "service".into(),
            top.remove("service")
                .unwrap_or_else(|| Value::String(self.service.to_string())),
        );
        line.insert("instance".into(), Value::String(self.instance.clone()));
        line.insert(
            "target".into(),
            Value::String(metadata.target().to_string()),
        );
        line.insert(
            "message".into(),
            Value::String(visitor.message.unwrap_or_default()),
        );
        for key in ["trace_id", "span_id"] {
            if let Some(value) = top.remove(key) {
                line.insert(key.into(), value);
            }
        }
        if let Some(name) = span_name {
            line.insert("span".into(), Value::String(name.to_string()));
        }
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields as JSON values, keeping `message` apart.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.put(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_service_instance_trace_and_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines::new("ragmesh", "host-1".into()))
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(k = 5, "outside");
            let outer = tracing::info_span!("service", service = "retrieval");
            let _o = outer.enter();
            let span = tracing::info_span!(
                "rpc",
                rpc = "ragmesh.v1.Retrieval/Retrieve",
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id = "00f067aa0ba902b7"
            );
            let _s = span.enter();
            tracing::warn!(ms = 1.5, ok = true, "inside");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["service"], "ragmesh");
        assert_eq!(lines[0]["instance"], "host-1");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "outside");
        assert_eq!(lines[0]["fields"]["k"], 5);
        assert!(lines[0].get("trace_id").is_none());
        assert!(lines[0]["timestamp"].as_str().unwrap().starts_with("20"));

        assert_eq!(lines[1]["service"], "retrieval");
        assert_eq!(lines[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[1]["span_id"], "00f067aa0ba902b7");
        assert_eq!(lines[1]["span"], "rpc");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["fields"]["rpc"], "ragmesh.v1.Retrieval/Retrieve");
        assert_eq!(lines[1]["fields"]["ms"], 1.5);
        assert_eq!(lines[1]["fields"]["ok"], true);
    }
}
