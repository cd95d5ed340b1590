//! Retrieval gRPC service: ingest, embed, hybrid search over persistent collections
