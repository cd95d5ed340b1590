//! The one way a ragmesh gRPC service is served: its routes plus grpc.health.v1 (so probes
//! and load balancers can ask), server reflection v1 and v1alpha (so `grpcurl` and other
//! off-the-shelf tools can list and call it), the concurrency bound of [`crate::load_shed`],
//! and TCP_NODELAY on every accepted connection (small responses must not wait for a delayed
//! ACK). Services only build their own handlers and say when they are SERVING.

use crate::{ConcurrencyLimitLayer, RpcError};
use std::future::Future;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::{HealthReporter, HealthService};

pub struct GrpcHost {
    service: &'static str,
    max_concurrent: usize,
    health: HealthReporter,
}

impl GrpcHost {
    /// A host for the service named `service` (in logs and metrics) that runs at most
    /// `max_concurrent` calls at once. The overall health ("") starts SERVING; each gRPC
    /// service reports its own status through [`GrpcHost::health`].
    pub fn new(service: &'static str, max_concurrent: usize) -> GrpcHost {
        GrpcHost {
            service,
            max_concurrent,
            health: HealthReporter::new(),
        }
    }

    /// Sets the grpc.health.v1 status of each gRPC service (e.g. SERVING once a model loaded).
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Serves `routes` with health and reflection on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        routes: Routes,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RpcError> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ragmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| RpcError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ragmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| RpcError::Reflection(e.to_string()))?;
        let health = tonic_health::pb::health_server::HealthServer::new(
            HealthService::from_health_reporter(self.health.clone()),
        );
        let routes = routes
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        tracing::info!(
            service = self.service,
            addr = ?listener.local_addr().ok(),
            max_concurrent = self.max_concurrent,
            "gRPC server listening (health, reflection)"
        );
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        ragmesh_telemetry::register_service(self.service);
        tonic::transport::Server::builder()
            // Outermost, so calls shed by the limit below are counted with their status too.
            .layer(ragmesh_telemetry::RequestMetricsLayer::grpc(self.service))
            .layer(ConcurrencyLimitLayer::new(
                self.service,
                self.max_concurrent,
            ))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}
