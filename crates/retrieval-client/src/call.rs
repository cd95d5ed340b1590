//! What every call to a retrieval shard carries besides its message: the deadline, and the
//! identity of the work it is done for ([`CallContext`]: the caller's trace and request id,
//! sent as gRPC metadata so one query can be followed across services). Also the one place
//! where a shard's gRPC client is built.

use ragmesh_proto::v1::retrieval_client::RetrievalClient;
use ragmesh_telemetry::TraceContext;
use std::time::Duration;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

/// Largest gRPC message accepted from a shard (document listings of big collections).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The metadata header carrying the caller's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Who a call is made for. The gateway's request context implements it; work the cluster does
/// on its own (replaying missed writes) uses [`BackgroundWork`].
pub trait CallContext: Send + Sync {
    /// Adds this caller's trace context and request id to an outgoing call's metadata.
    fn stamp(&self, metadata: &mut MetadataMap);
}

/// A gRPC request carrying `message`, the deadline and the caller's metadata.
pub fn grpc_request<T>(ctx: &dyn CallContext, message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    ctx.stamp(request.metadata_mut());
    request
}

/// A shard's client over `channel`.
pub(crate) fn client(channel: Channel) -> RetrievalClient<Channel> {
    RetrievalClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

/// The context of work no request asked for: a trace and a request id of its own.
#[derive(Debug, Clone)]
pub struct BackgroundWork {
    trace: TraceContext,
    request_id: String,
}

impl BackgroundWork {
    pub fn start() -> BackgroundWork {
        BackgroundWork {
            trace: TraceContext::new_root(),
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl CallContext for BackgroundWork {
    fn stamp(&self, metadata: &mut MetadataMap) {
        if let Ok(value) = self.trace.traceparent().parse() {
            metadata.insert(ragmesh_telemetry::TRACEPARENT, value);
        }
        if let Ok(value) = self.request_id.parse() {
            metadata.insert(REQUEST_ID_HEADER, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn background_work_sends_a_trace_and_a_request_id_of_its_own() {
        let work = BackgroundWork::start();
        let request = grpc_request(&work, (), Duration::from_secs(1));
        let traceparent = request
            .metadata()
            .get("traceparent")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(traceparent.starts_with("00-") && traceparent.ends_with("-01"));
        assert_eq!(traceparent.len(), 55);
        assert!(request.metadata().get(REQUEST_ID_HEADER).is_some());
        assert!(request.metadata().get("grpc-timeout").is_some());
    }
}
