//! The bounded queue between finished spans and the OTLP exporter, with an honest count of
//! what it loses. The SDK's batch processor drops spans when its queue is full but keeps the
//! count private, so [`CountedBatchProcessor`] admits a span only while fewer than `capacity`
//! spans wait for export (one atomic per span) and counts every span it turns away, and
//! [`CountedExporter`] counts the spans of every batch the collector did not accept. Both go
//! to `ragmesh_otel_spans_dropped_total`; failed export calls also to
//! `ragmesh_otel_export_failures_total`. Nothing here blocks the thread that ends a span.

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const SPANS_DROPPED: &str = "ragmesh_otel_spans_dropped_total";
pub const EXPORT_FAILURES: &str = "ragmesh_otel_export_failures_total";

/// Registers both counters at 0, so dashboards see them before the first loss.
pub fn register_counters() {
    metrics::counter!(SPANS_DROPPED).absolute(0);
    metrics::counter!(EXPORT_FAILURES).absolute(0);
}

/// Spans handed to the batch processor and not yet taken by an export call.
#[derive(Debug, Default)]
pub struct Pending(AtomicUsize);

impl Pending {
    fn release(&self, n: usize) {
        // Saturating: a span the SDK exported without passing through on_end cannot underflow.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

/// Wraps the SDK's batch processor so that no span is dropped uncounted: with `capacity` no
/// larger than the inner queue, the inner queue is never full when a span is admitted.
#[derive(Debug)]
pub struct CountedBatchProcessor<P> {
    inner: P,
    pending: Arc<Pending>,
    capacity: usize,
}

impl<P> CountedBatchProcessor<P> {
    pub fn new(inner: P, pending: Arc<Pending>, capacity: usize) -> Self {
        CountedBatchProcessor {
            inner,
            pending,
            capacity,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for CountedBatchProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .pending
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v < self.capacity).then_some(v + 1)
            })
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            metrics::counter!(SPANS_DROPPED).increment(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Wraps the OTLP exporter: frees queue room as each batch leaves, counts failed batches.
#[derive(Debug)]
pub struct CountedExporter<E> {
    inner: E,
    pending: Arc<Pending>,
}

impl<E> CountedExporter<E> {
    pub fn new(inner: E, pending: Arc<Pending>) -> Self {
        CountedExporter { inner, pending }
    }
}

impl<E: SpanExporter> SpanExporter for CountedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.pending.release(spans);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            metrics::counter!(EXPORT_FAILURES).increment(1);
            metrics::counter!(SPANS_DROPPED).increment(spans as u64);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;
    use parking_lot::Mutex;

    /// An inner processor that only counts what reaches it.
    #[derive(Debug, Default)]
    struct Sink(Mutex<usize>);

    impl SpanProcessor for Sink {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, _: SpanData) {
            *self.0.lock() += 1;
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Failing;

    impl SpanExporter for Failing {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure("collector down".into()))
        }
    }

    fn span_data() -> SpanData {
        use opentelemetry::InstrumentationScope;
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
        use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "s".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    #[test]
    fn the_queue_admits_up_to_capacity_and_export_makes_room() {
        let pending = Arc::new(Pending::default());
        let processor = CountedBatchProcessor::new(Sink::default(), pending.clone(), 2);
        for _ in 0..5 {
            processor.on_end(span_data());
        }
        assert_eq!(*processor.inner.0.lock(), 2, "3 turned away");
        let exporter = CountedExporter::new(Failing, pending.clone());
        let result = futures::executor::block_on(exporter.export(vec![span_data(), span_data()]));
        assert!(result.is_err());
        assert_eq!(pending.0.load(Ordering::Acquire), 0);
        processor.on_end(span_data());
        assert_eq!(*processor.inner.0.lock(), 3, "room again after export");
    }
}
