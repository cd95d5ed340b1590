//! The read RPCs: `Retrieve` (embed the query unless a vector is given, then search with
//! the requested method; or, for a gateway over several shards, return the legs unfused and
//! scored with the collection-wide BM25 counts it sends), `TermStats` (this shard's share of
//! those counts), `Embed`, `ListCollections` and `ListDocuments`.
//! With trace export on, the steps of `Retrieve` (embed, bm25, vector, fusion) become child
//! spans of the call's `rpc` span, with the times they report.

use crate::ingest::to_metadata;
use crate::{ComputePool, RetrievalError, RetrievalState};
use ragmesh_core::validate_collection;
use ragmesh_index::{Bm25Stats, FusionMethod, Method, SearchHit, SearchRequest, StepTimings};
use ragmesh_proto::{
    CollectionInfo, DocumentInfo, EmbedRequest, EmbedResponse, ListCollectionsResponse,
    ListDocumentsRequest, ListDocumentsResponse, RetrieveRequest, RetrieveResponse, ScoredChunk,
    TermStatsRequest, TermStatsResponse, Vector,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Largest `k` a search may ask for: the gateway's `/api/retrieve` limit (evaluation reads
/// 100 distinct documents, several chunks each).
pub const MAX_K: u32 = 1000;
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 16_384;
/// Most texts one `Embed` call may carry.
pub const MAX_EMBED_TEXTS: usize = 1024;

pub(crate) async fn retrieve(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: RetrieveRequest,
) -> Result<RetrieveResponse, RetrievalError> {
    let collection_name = validate_collection(&request.collection)?.to_string();
    if !(1..=MAX_K).contains(&request.k) {
        return Err(RetrievalError::invalid(format!(
            "k must be in 1..={MAX_K}, got {}",
            request.k
        )));
    }
    let method = match ragmesh_proto::Method::try_from(request.method) {
        Ok(ragmesh_proto::Method::Unspecified | ragmesh_proto::Method::Hybrid) => Method::Hybrid,
        Ok(ragmesh_proto::Method::Vector) => Method::Vector,
        Ok(ragmesh_proto::Method::Bm25) => Method::Bm25,
        Err(_) => {
            return Err(RetrievalError::invalid(format!(
                "unknown method {}",
                request.method
            )));
        }
    };
    let fusion = match ragmesh_proto::Fusion::try_from(request.fusion) {
        Ok(ragmesh_proto::Fusion::Unspecified) => state.fusion,
        Ok(ragmesh_proto::Fusion::Score) => FusionMethod::Score,
        Ok(ragmesh_proto::Fusion::Rrf) => FusionMethod::Rrf,
        Err(_) => {
            return Err(RetrievalError::invalid(format!(
                "unknown fusion {}",
                request.fusion
            )));
        }
    };
    let query_chars = request.query.chars().count();
    if query_chars > MAX_QUERY_CHARS {
        return Err(RetrievalError::invalid(format!(
            "query has {query_chars} characters; at most {MAX_QUERY_CHARS}"
        )));
    }
    let has_vector = !request.query_vector.is_empty();
    if request.query.trim().is_empty() && (!has_vector || method == Method::Bm25) {
        return Err(RetrievalError::invalid("query must not be empty"));
    }
    let dim = state.embedder.dim();
    if has_vector && request.query_vector.len() != dim {
        return Err(RetrievalError::invalid(format!(
            "query_vector has {} dimensions; the model's vectors have {dim}",
            request.query_vector.len()
        )));
    }
    let state = Arc::clone(state);
    // The call's `rpc` span: the steps below run on a pool thread and are exported as its
    // children with their measured times (when trace export is on).
    let rpc_span = tracing::Span::current();
    pool.run(move || {
        let collection = state.collections.get(&collection_name)?;
        let mut steps = Vec::new();
        let needs_vector = method != Method::Bm25;
        let vector = if needs_vector && !has_vector {
            let started = Instant::now();
            let wall = SystemTime::now();
            let mut vectors = state.embedder.embed(&[request.query.as_str()])?;
            let took = started.elapsed();
            ragmesh_telemetry::record_step_span(&rpc_span, "embed", wall, took);
            steps.push(step("embed", took.as_secs_f64() * 1e3));
            vectors.pop()
        } else {
            None
        };
        let query_vector = vector
            .as_deref()
            .or(has_vector.then_some(request.query_vector.as_slice()));
        let filters = to_metadata(&request.filters);
        let search = SearchRequest {
            text: &request.query,
            vector: query_vector,
            k: request.k as usize,
            method,
            fusion,
            rrf_k: if request.rrf_k == 0 {
                state.rrf_k
            } else {
                request.rrf_k
            },
            leg_depth_factor: state.leg_depth_factor,
            filters: &filters,
        };
        let search_started = SystemTime::now();
        if request.legs {
            let stats = request.bm25_stats.as_ref().map(bm25_stats);
            let legs = collection.search_legs(&search, stats.as_ref())?;
            record_search_spans(&rpc_span, search_started, &legs.timings);
            steps.extend(legs.timings.bm25_ms.map(|ms| step("bm25", ms)));
            steps.extend(legs.timings.vector_ms.map(|ms| step("vector", ms)));
            let chunks = |hits: Option<Vec<SearchHit>>| -> Vec<ScoredChunk> {
                hits.unwrap_or_default()
                    .into_iter()
                    .map(scored_chunk)
                    .collect()
            };
            return Ok(RetrieveResponse {
                bm25_leg: chunks(legs.bm25),
                vector_leg: chunks(legs.vector),
                leg_depth: legs.depth as u32,
                rrf_k: search.rrf_k,
                fusion: proto_fusion(fusion) as i32,
                steps,
                ..RetrieveResponse::default()
            });
        }
        let results = collection.search(&search)?;
        let timings = results.timings;
        record_search_spans(&rpc_span, search_started, &timings);
        steps.extend(timings.bm25_ms.map(|ms| step("bm25", ms)));
        steps.extend(timings.vector_ms.map(|ms| step("vector", ms)));
        steps.push(step("fusion", timings.fusion_ms));
        for s in &steps {
            metrics::histogram!("ragmesh_retrieval_step_duration_seconds", "step" => s.name.clone())
                .record(s.ms / 1e3);
        }
        Ok(RetrieveResponse {
            chunks: results.hits.into_iter().map(scored_chunk).collect(),
            steps,
            rrf_k: search.rrf_k,
            fusion: proto_fusion(fusion) as i32,
            ..RetrieveResponse::default()
        })
    })
    .await
}

fn proto_fusion(fusion: FusionMethod) -> ragmesh_proto::Fusion {
    match fusion {
        FusionMethod::Score => ragmesh_proto::Fusion::Score,
        FusionMethod::Rrf => ragmesh_proto::Fusion::Rrf,
    }
}

/// `TermStats`: this shard's BM25 counts for the query's analysed terms.
pub(crate) async fn term_stats(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: TermStatsRequest,
) -> Result<TermStatsResponse, RetrievalError> {
    let collection_name = validate_collection(&request.collection)?.to_string();
    let query_chars = request.query.chars().count();
    if query_chars > MAX_QUERY_CHARS {
        return Err(RetrievalError::invalid(format!(
            "query has {query_chars} characters; at most {MAX_QUERY_CHARS}"
        )));
    }
    let state = Arc::clone(state);
    pool.run(move || {
        let stats = state
            .collections
            .get(&collection_name)?
            .term_stats(&request.query)?;
        Ok(TermStatsResponse {
            stats: Some(ragmesh_proto::Bm25Stats {
                total_docs: stats.total_docs,
                total_tokens: stats.total_tokens,
                doc_freqs: stats.doc_freqs.into_iter().collect(),
            }),
        })
    })
    .await
}

fn bm25_stats(stats: &ragmesh_proto::Bm25Stats) -> Bm25Stats {
    Bm25Stats {
        total_docs: stats.total_docs,
        total_tokens: stats.total_tokens,
        doc_freqs: stats
            .doc_freqs
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
    }
}

pub(crate) async fn embed(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: EmbedRequest,
) -> Result<EmbedResponse, RetrievalError> {
    if request.texts.is_empty() {
        return Err(RetrievalError::invalid("texts must not be empty"));
    }
    if request.texts.len() > MAX_EMBED_TEXTS {
        return Err(RetrievalError::invalid(format!(
            "{} texts given; at most {MAX_EMBED_TEXTS} per request",
            request.texts.len()
        )));
    }
    if let Some(i) = request.texts.iter().position(|t| t.trim().is_empty()) {
        return Err(RetrievalError::invalid(format!("text {i} is empty")));
    }
    let state = Arc::clone(state);
    pool.run(move || {
        let texts: Vec<&str> = request.texts.iter().map(String::as_str).collect();
        let vectors = state.embed_batched(&texts)?;
        Ok(EmbedResponse {
            vectors: vectors
                .into_iter()
                .map(|values| Vector { values })
                .collect(),
            model: state.embedder.model_name().to_string(),
            dim: state.embedder.dim() as u32,
        })
    })
    .await
}

pub(crate) async fn list_collections(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
) -> Result<ListCollectionsResponse, RetrievalError> {
    let state = Arc::clone(state);
    pool.run(move || {
        let collections = state
            .collections
            .list()?
            .into_iter()
            .inspect(crate::ingest::record_collection_size)
            .map(|c| CollectionInfo {
                name: c.name,
                documents: c.documents as u32,
                chunks: c.chunks as u32,
            })
            .collect();
        Ok(ListCollectionsResponse { collections })
    })
    .await
}

pub(crate) async fn list_documents(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: ListDocumentsRequest,
) -> Result<ListDocumentsResponse, RetrievalError> {
    let collection_name = validate_collection(&request.collection)?.to_string();
    let state = Arc::clone(state);
    pool.run(move || {
        let documents = state
            .collections
            .get(&collection_name)?
            .documents()
            .into_iter()
            .map(|d| DocumentInfo {
                source: d.source,
                chunks: d.chunks as u32,
                metadata: d.metadata.into_iter().collect(),
            })
            .collect();
        Ok(ListDocumentsResponse { documents })
    })
    .await
}

/// The legs run side by side from the start of the search; fusion ends with it.
fn record_search_spans(parent: &tracing::Span, started: SystemTime, timings: &StepTimings) {
    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
    if let Some(bm25) = timings.bm25_ms {
        ragmesh_telemetry::record_step_span(parent, "bm25", started, ms(bm25));
    }
    if let Some(vector) = timings.vector_ms {
        ragmesh_telemetry::record_step_span(parent, "vector", started, ms(vector));
    }
    let fusion = ms(timings.fusion_ms);
    let ended = SystemTime::now();
    let fusion_started = ended.checked_sub(fusion).unwrap_or(ended);
    ragmesh_telemetry::record_step_span(parent, "fusion", fusion_started, fusion);
}

fn step(name: &str, ms: f64) -> ragmesh_proto::StepTiming {
    ragmesh_proto::StepTiming {
        name: name.to_string(),
        ms,
    }
}

fn scored_chunk(hit: SearchHit) -> ScoredChunk {
    ScoredChunk {
        id: hit.id.to_hex(),
        source: hit.source,
        chunk_index: hit.chunk_index,
        text: hit.text,
        score: hit.score,
        vector_score: hit.vector_score,
        bm25_score: hit.bm25_score,
        vector_rank: hit.vector_rank,
        bm25_rank: hit.bm25_rank,
        metadata: hit.metadata.into_iter().collect(),
    }
}
