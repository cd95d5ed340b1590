//! The JSON line every log event becomes, shaped for Loki:
//!
//! `{"timestamp","level","service","instance","target","message","trace_id","span_id","span","fields":{..}}`
//!
//! `service`, `trace_id` and `span_id` come from the innermost enclosing span that has them
//! (the gateway's `http` span, the `rpc` span each gRPC server opens per call, the `service`
//! span `ragmesh up` runs each service in), else the process's service name; `fields` holds the
//! event's own fields over the fields of its spans. `trace_id`/`span_id` are omitted outside a
//! request.
//!
//! This is its own `Layer` rather than `tracing_subscriber::fmt` with `JsonFields`, because
//! that keeps each span's fields as a JSON string, parses and re-serialises it on every
//! `record` and again on every event: on a cached answer (a few hundred microseconds of work)
//! the one log line cost 16 % of the gateway's throughput (docs/benchmarks.md). Here a span's
//! fields are kept as values once, and a line is written straight into a reused buffer.

use serde_json::Value;
use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Span fields lifted to the top level of the line instead of `fields`.
const TOP_LEVEL: [&str; 3] = ["service", "trace_id", "span_id"];

/// The layer installed for `log_format = "json"`, writing one line per event to `writer`.
#[derive(Debug, Clone)]
pub struct JsonLines<W> {
    service: &'static str,
    instance: String,
    writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(service: &'static str, instance: String, writer: W) -> JsonLines<W> {
        JsonLines {
            service,
            instance,
            writer,
        }
    }
}

/// A span's fields, kept in its extensions from creation on.
struct SpanFields(Vec<(&'static str, Value)>);

thread_local! {
    /// The line being written, reused so a line costs no allocation once warm.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = FieldValues::default();
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(visitor.fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = FieldValues::default();
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => {
                for (key, value) in visitor.fields {
                    set(&mut fields.0, key, value);
                }
            }
            None => extensions.insert(SpanFields(visitor.fields)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let spans: Vec<_> = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().collect())
            .unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        // Root first, so inner spans (then the event) override outer ones.
        let mut top: [Option<&Value>; 3] = [None; 3];
        let mut fields: Vec<(&str, &Value)> = Vec::new();
        for span_fields in extensions.iter().filter_map(|e| e.get::<SpanFields>()) {
            for (key, value) in &span_fields.0 {
                match TOP_LEVEL.iter().position(|k| k == key) {
                    Some(slot) => top[slot] = Some(value),
                    None => set(&mut fields, *key, value),
                }
            }
        }
        let mut visitor = FieldValues::default();
        event.record(&mut visitor);
        for (key, value) in &visitor.fields {
            set(&mut fields, *key, value);
        }
        let line = Line {
            metadata: event.metadata(),
            service: top[0],
            trace_id: top[1],
            span_id: top[2],
            span: spans.last().map(|span| span.name()),
            message: visitor.message.as_deref().unwrap_or_default(),
            fields: &fields,
        };
        LINE.with(|buffer| {
            let Ok(mut buffer) = buffer.try_borrow_mut() else {
                return; // an event raised while writing a line (by the writer itself)
            };
            buffer.clear();
            if self.write_line(&mut buffer, &line).is_ok() {
                // A log line that cannot be written has nowhere else to go.
                let _ = self.writer.make_writer().write_all(&buffer);
            }
        });
    }
}

/// What one line says, gathered from the event and its spans.
struct Line<'a> {
    metadata: &'static tracing::Metadata<'static>,
    service: Option<&'a Value>,
    trace_id: Option<&'a Value>,
    span_id: Option<&'a Value>,
    span: Option<&'static str>,
    message: &'a str,
    fields: &'a [(&'a str, &'a Value)],
}

impl<W> JsonLines<W> {
    fn write_line(&self, out: &mut Vec<u8>, line: &Line<'_>) -> std::io::Result<()> {
        let mut timestamp = String::new();
        SystemTime
            .format_time(&mut Writer::new(&mut timestamp))
            .map_err(std::io::Error::other)?;
        out.extend_from_slice(b"{\"timestamp\":");
        serde_json::to_writer(&mut *out, &timestamp)?;
        out.extend_from_slice(b",\"level\":");
        serde_json::to_writer(&mut *out, line.metadata.level().as_str())?;
        out.extend_from_slice(b",\"service\":");
        match line.service {
            Some(service) => serde_json::to_writer(&mut *out, service)?,
            None => serde_json::to_writer(&mut *out, self.service)?,
        }
        out.extend_from_slice(b",\"instance\":");
        serde_json::to_writer(&mut *out, &self.instance)?;
        out.extend_from_slice(b",\"target\":");
        serde_json::to_writer(&mut *out, line.metadata.target())?;
        out.extend_from_slice(b",\"message\":");
        serde_json::to_writer(&mut *out, line.message)?;
        for (key, value) in [("trace_id", line.trace_id), ("span_id", line.span_id)] {
            if let Some(value) = value {
                write!(out, ",\"{key}\":")?;
                serde_json::to_writer(&mut *out, value)?;
            }
        }
        if let Some(span) = line.span {
            out.extend_from_slice(b",\"span\":");
            serde_json::to_writer(&mut *out, span)?;
        }
        if !line.fields.is_empty() {
            out.extend_from_slice(b",\"fields\":{");
            for (i, (key, value)) in line.fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                serde_json::to_writer(&mut *out, value)?;
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Sets `key` in `fields`, replacing an earlier value (a few fields: a scan beats a map).
fn set<K: PartialEq, V>(fields: &mut Vec<(K, V)>, key: K, value: V) {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key, value)),
    }
}

/// Collects fields as JSON values, keeping an event's `message` apart.
#[derive(Default)]
struct FieldValues {
    message: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl FieldValues {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            set(&mut self.fields, field.name(), value);
        }
    }
}

impl Visit for FieldValues {
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
    use parking_lot::Mutex;
    use std::sync::Arc;
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
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
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(
            "ragmesh",
            "host-1".into(),
            move || writer.clone(),
        ));
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
        let text = String::from_utf8(captured.0.lock().clone()).unwrap();
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

    #[test]
    fn recorded_fields_count_and_inner_fields_win() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(
            "gateway",
            "host-2".into(),
            move || writer.clone(),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(
                "http",
                route = "/api/query",
                trace_id = tracing::field::Empty
            );
            outer.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
            let _o = outer.enter();
            let inner = tracing::info_span!("cache.exact", route = "inner");
            let _i = inner.enter();
            tracing::info!(route = "event", quote = "say \"hi\"\n", "done");
        });
        let text = String::from_utf8(captured.0.lock().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(line["service"], "gateway");
        assert_eq!(line["span"], "cache.exact");
        assert_eq!(line["fields"]["route"], "event");
        assert_eq!(line["fields"]["quote"], "say \"hi\"\n");
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
    }
}
