//! Rerank gRPC service: cross-encoder scores for (query, passage) pairs
