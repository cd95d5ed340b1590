//! Chunking, BM25 (tantivy), HNSW vectors (hnsw_rs), fusion and persistent collections
