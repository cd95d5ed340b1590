//! HTTP gateway: the public API, orchestration of retrieval, rerank and generation, per-query profile
