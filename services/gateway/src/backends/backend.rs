//! Which backend a call went to: its name appears in errors, metrics and `/health/ready`,
//! and its gRPC service name is what its health check asks about. A leaf: it imports nothing
//! of the gateway.

use ragmesh_proto::v1::{generation_server, rerank_server, retrieval_server};

/// Which backend a call went to; its name appears in errors, metrics and `/health/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Retrieval,
    Rerank,
    Generation,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Retrieval, Backend::Rerank, Backend::Generation];

    pub const fn name(self) -> &'static str {
        match self {
            Backend::Retrieval => ragmesh_retrieval_client::RETRIEVAL,
            Backend::Rerank => "rerank",
            Backend::Generation => "generation",
        }
    }

    /// The gRPC service name its server registers with grpc.health.v1.
    pub fn grpc_service(self) -> &'static str {
        match self {
            Backend::Retrieval => retrieval_server::SERVICE_NAME,
            Backend::Rerank => rerank_server::SERVICE_NAME,
            Backend::Generation => generation_server::SERVICE_NAME,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
