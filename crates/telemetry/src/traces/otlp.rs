//! Trace export over OTLP/gRPC, on only when `telemetry.otlp_endpoint` is set.
//!
//! [`otlp_layer`] builds the tracer provider (resource `service.name`, `service.instance.id`,
//! `service.version` from the identity of [`crate::resource`]; parent-based ratio sampler;
//! batch export through the counted bounded queue of [`super::span_queue`]) and returns the
//! `tracing-opentelemetry` layer that [`crate::init_logging`] adds to the subscriber, so every
//! `tracing` span becomes an OTel span. Export runs on the SDK's own thread: a slow or absent
//! collector costs a request nothing but, at worst, the spans that do not fit the queue
//! (counted). [`shutdown_tracing`] flushes what is queued, bounded in time, when the process
//! stops.

use super::span_queue::{CountedBatchProcessor, CountedExporter, Pending, register_counters};
use crate::TelemetryError;
use crate::resource::ServiceIdentity;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use ragmesh_config::TelemetrySettings;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// Spans waiting for export beyond which new ones are dropped (and counted).
const QUEUE_CAPACITY: usize = 4096;
/// Spans per export call.
const BATCH_SIZE: usize = 512;
/// How long queued spans wait for a batch to fill.
const EXPORT_DELAY: Duration = Duration::from_millis(500);
/// Longest one export call may take before it counts as failed.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the process waits at shutdown for the queue to drain.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The OTel layer for the subscriber, or None when no endpoint is configured. Must run inside
/// a Tokio runtime (the tonic channel is built here).
pub fn otlp_layer<S>(
    settings: &TelemetrySettings,
    identity: &ServiceIdentity,
) -> Result<
    Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>>,
    TelemetryError,
>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(endpoint) = settings.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError::Exporter(endpoint.to_string(), e.to_string()))?;
    let pending = Arc::new(Pending::default());
    let batch = BatchSpanProcessor::builder(CountedExporter::new(exporter, pending.clone()))
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE_CAPACITY)
                .with_max_export_batch_size(BATCH_SIZE)
                .with_scheduled_delay(EXPORT_DELAY)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CountedBatchProcessor::new(batch, pending, QUEUE_CAPACITY))
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sampling_ratio,
        ))))
        .with_resource(resource(identity))
        .build();
    register_counters();
    let tracer = provider.tracer("ragmesh");
    let _ = PROVIDER.set(provider);
    let _ = TRACER.set(tracer.clone());
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false),
    ))
}

/// `service.name` (`ragmesh-<service>`, `ragmesh` under `up`), `service.instance.id`
/// (`telemetry.instance`, else host:pid) and `service.version`.
fn resource(identity: &ServiceIdentity) -> Resource {
    Resource::builder_empty()
        .with_service_name(identity.trace_service_name())
        .with_attributes([
            KeyValue::new("service.instance.id", identity.trace_instance()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build()
}

/// The tracer of the exported spans, None when tracing is off.
pub(crate) fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// True when spans are exported (an endpoint was configured and export started).
pub fn tracing_enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Exports what is still queued and stops the exporter, waiting at most a few seconds;
/// does nothing when tracing is off. The SDK's shutdown blocks, so it runs off the runtime.
pub async fn shutdown_tracing() {
    let Some(provider) = PROVIDER.get().cloned() else {
        return;
    };
    let stopped =
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
    match tokio::time::timeout(SHUTDOWN_TIMEOUT + Duration::from_secs(1), stopped).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "trace export did not shut down cleanly"),
        Ok(Err(e)) => tracing::warn!(error = %e, "trace export shutdown panicked"),
        Err(_) => tracing::warn!("trace export shutdown timed out; queued spans are lost"),
    }
}
