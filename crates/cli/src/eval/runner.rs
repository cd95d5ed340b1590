//! Running a benchmark through the product's normal paths, as a user's client would: the
//! corpus goes in through the JSON ingest API (`POST /api/collections/{c}/documents`) and
//! every query through `POST /api/retrieve` (retrieval only, no generation). Results are
//! chunks; a document ranks where its best chunk ranks, and enough chunks are asked for to
//! rank 100 distinct documents.

use super::beir::{CorpusDocument, TestQuery};
use super::metrics::{QueryScores, documents_by_best_chunk, mean_scores, score_query};
use super::report::{IngestReport, Latency, MethodReport, MethodScores};
use crate::args::EvalMethod;
use crate::http_client::GatewayClient;
use serde_json::{Value, json};
use std::time::Instant;

/// Documents a ranking needs for recall@100.
const DOCUMENTS_WANTED: usize = 100;
/// The gateway's largest `k` on `/api/retrieve`.
const MAX_RETRIEVE_K: u32 = 1000;
/// Chunks handed to the reranker per query: its cost grows with every candidate.
const RERANK_CHUNKS: u32 = 100;
/// Upper bound on one ingest request's text, well under the gateway's body limit.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

impl EvalMethod {
    pub fn label(self) -> &'static str {
        match self {
            EvalMethod::Bm25 => "bm25",
            EvalMethod::Vector => "vector",
            EvalMethod::Hybrid => "hybrid",
            EvalMethod::HybridRrf => "hybrid-rrf",
            EvalMethod::HybridRerank => "hybrid+rerank",
        }
    }

    /// The `method` field of the request.
    fn retrieval(self) -> &'static str {
        match self {
            EvalMethod::HybridRrf | EvalMethod::HybridRerank => "hybrid",
            other => other.label(),
        }
    }

    /// The `fusion` field of the request (None: the service's default).
    fn fusion(self) -> Option<&'static str> {
        (self == EvalMethod::HybridRrf).then_some("rrf")
    }

    fn reranks(self) -> bool {
        self == EvalMethod::HybridRerank
    }
}

pub struct Runner<'a> {
    pub client: &'a GatewayClient,
    pub collection: &'a str,
    pub progress: bool,
}

impl Runner<'_> {
    fn bar(&self, len: usize, message: &'static str) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(len as u64).with_message(message);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>14} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// (documents, chunks) of the collection, None when it does not exist.
    async fn collection_size(&self) -> anyhow::Result<Option<(u64, u64)>> {
        let answer = self.client.get_json("/api/collections").await?;
        Ok(answer["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == self.collection)
            .map(|c| {
                (
                    c["documents"].as_u64().unwrap_or(0),
                    c["chunks"].as_u64().unwrap_or(0),
                )
            }))
    }

    /// Ingests `corpus` into a fresh collection (or, with `reuse`, accepts one that already
    /// holds exactly as many documents). A collection holding anything else is never touched.
    pub async fn ingest(
        &self,
        corpus: &[CorpusDocument],
        batch: usize,
        reuse: bool,
    ) -> anyhow::Result<IngestReport> {
        if let Some((documents, chunks)) = self.collection_size().await?.filter(|s| s.0 > 0) {
            if reuse && documents == corpus.len() as u64 {
                return Ok(IngestReport {
                    ingested: false,
                    documents,
                    chunks,
                    seconds: 0.0,
                    documents_per_second: 0.0,
                    chunks_per_second: 0.0,
                });
            }
            anyhow::bail!(
                "collection {} already holds {documents} documents (the corpus has {}); \
                 choose another --collection, or pass --reuse if it holds exactly this corpus",
                self.collection,
                corpus.len()
            );
        }
        let bar = self.bar(corpus.len(), "ingest");
        let started = Instant::now();
        let (mut documents, mut chunks) = (0u64, 0u64);
        let path = format!("/api/collections/{}/documents", self.collection);
        let mut pending: Vec<Value> = Vec::new();
        let mut pending_bytes = 0;
        for (i, doc) in corpus.iter().enumerate() {
            pending_bytes += doc.text.len();
            pending.push(json!({ "source": doc.id, "text": doc.text }));
            let last = i + 1 == corpus.len();
            if pending.len() >= batch.max(1) || pending_bytes >= MAX_BATCH_BYTES || last {
                let sent = pending.len() as u64;
                let body = json!({ "documents": std::mem::take(&mut pending) });
                let answer = self.client.post_json(&path, &body).await?;
                documents += answer["documents"].as_u64().unwrap_or(sent);
                chunks += answer["chunks"].as_u64().unwrap_or(0);
                pending_bytes = 0;
                bar.inc(sent);
            }
        }
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        Ok(IngestReport {
            ingested: true,
            documents,
            chunks,
            seconds,
            documents_per_second: documents as f64 / seconds.max(1e-9),
            chunks_per_second: chunks as f64 / seconds.max(1e-9),
        })
    }

    fn request(&self, query: &str, method: EvalMethod, k: u32) -> Value {
        let mut request = json!({
            "query": query,
            "collection": self.collection,
            "k": k,
            "method": method.retrieval(),
            "rerank": method.reranks(),
        });
        if let Some(fusion) = method.fusion() {
            request["fusion"] = fusion.into();
        }
        request
    }

    /// Measures `method` over `queries`; `chunks_per_document` (from the ingest) sizes the
    /// request so that 100 distinct documents come back.
    pub async fn measure(
        &self,
        method: EvalMethod,
        queries: &[TestQuery],
        chunks_per_document: f64,
    ) -> MethodReport {
        match self.try_measure(method, queries, chunks_per_document).await {
            Ok(report) => report,
            Err(e) => unavailable(method, format!("{e:#}")),
        }
    }

    async fn try_measure(
        &self,
        method: EvalMethod,
        queries: &[TestQuery],
        chunks_per_document: f64,
    ) -> anyhow::Result<MethodReport> {
        let Some(first) = queries.first() else {
            anyhow::bail!("no test query has a relevant document");
        };
        // Warm-up (untimed), and for reranking: is there a reranker at all?
        let probe = self
            .client
            .post_json("/api/retrieve", &self.request(&first.text, method, 1))
            .await?;
        let reranker = probe["reranker"].as_str().map(str::to_string);
        if method.reranks() && reranker.as_deref().is_none_or(|r| r == "none") {
            return Ok(unavailable(
                method,
                "the rerank service has no cross-encoder model (rerank.model_dir is not set), \
                 so it would keep the hybrid order"
                    .into(),
            ));
        }
        let initial_k = if method.reranks() {
            RERANK_CHUNKS
        } else {
            chunks_to_request(chunks_per_document)
        };
        let bar = self.bar(queries.len(), method.label());
        let mut scores: Vec<QueryScores> = Vec::with_capacity(queries.len());
        let (mut client_ms, mut retrieve_ms, mut rerank_ms) = (Vec::new(), Vec::new(), Vec::new());
        let mut short_rankings = 0;
        let mut rankings = Vec::with_capacity(queries.len());
        for query in queries {
            let mut k = initial_k;
            let (answer, ms) = loop {
                let started = Instant::now();
                let answer = self
                    .client
                    .post_json("/api/retrieve", &self.request(&query.text, method, k))
                    .await?;
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let returned = answer["sources"].as_array().map_or(0, Vec::len);
                let distinct = documents_by_best_chunk(sources(&answer)).len();
                let limited = returned >= k as usize;
                if distinct >= DOCUMENTS_WANTED || !limited || method.reranks() {
                    break (answer, ms);
                }
                if k >= MAX_RETRIEVE_K {
                    short_rankings += 1;
                    break (answer, ms);
                }
                k = (k * 2).min(MAX_RETRIEVE_K);
            };
            client_ms.push(ms);
            retrieve_ms.extend(step_ms(&answer, "retrieve"));
            rerank_ms.extend(step_ms(&answer, "rerank"));
            let ranking = documents_by_best_chunk(sources(&answer));
            scores.extend(score_query(&ranking, &query.judged));
            rankings.push((query.id.clone(), ranking));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let mean = mean_scores(&scores);
        Ok(MethodReport {
            method: method.label().into(),
            available: true,
            reason: None,
            reranker: if method.reranks() { reranker } else { None },
            scores: Some(MethodScores {
                ndcg_at_10: mean.ndcg_at_10,
                recall_at_100: mean.recall_at_100,
                mrr_at_10: mean.mrr_at_10,
                queries: scores.len(),
                chunks_requested: initial_k,
                short_rankings,
                latency_ms: Latency::of(&client_ms).unwrap_or(Latency {
                    mean: 0.0,
                    p95: 0.0,
                }),
                server_retrieve_ms: Latency::of(&retrieve_ms),
                server_rerank_ms: Latency::of(&rerank_ms),
            }),
            rankings,
        })
    }
}

fn unavailable(method: EvalMethod, reason: String) -> MethodReport {
    MethodReport {
        method: method.label().into(),
        available: false,
        reason: Some(reason),
        reranker: None,
        scores: None,
        rankings: Vec::new(),
    }
}

/// Chunks to ask for so that about 100 distinct documents come back: 100 documents of
/// `chunks_per_document` each, with half again as margin (a document's chunks tend to rank
/// together), within the gateway's limit. Too few documents still trigger a retry.
pub fn chunks_to_request(chunks_per_document: f64) -> u32 {
    let wanted = (DOCUMENTS_WANTED as f64 * chunks_per_document.max(1.0) * 1.5).ceil();
    (wanted as u32).clamp(DOCUMENTS_WANTED as u32, MAX_RETRIEVE_K)
}

/// The `source` of every returned chunk, in order.
fn sources(answer: &Value) -> impl Iterator<Item = &str> {
    answer["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["source"].as_str())
}

/// Milliseconds of the profile step `name`, when the gateway reported it.
fn step_ms(answer: &Value, name: &str) -> Option<f64> {
    answer["profile"]["steps"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["ms"]
        .as_f64()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_depth_follows_chunks_per_document_within_limits() {
        assert_eq!(chunks_to_request(1.0), 150);
        assert_eq!(chunks_to_request(2.0), 300);
        assert_eq!(chunks_to_request(0.0), 150);
        assert_eq!(chunks_to_request(40.0), 1000);
    }

    #[test]
    fn profile_steps_and_sources_are_read_from_the_answer() {
        let answer = json!({
            "sources": [{ "source": "d1" }, { "source": "d2" }, { "source": "d1" }],
            "profile": { "steps": [{ "name": "retrieve", "ms": 4.5 },
                                   { "name": "retrieve.embed", "ms": 3.0 }] }
        });
        assert_eq!(sources(&answer).collect::<Vec<_>>(), ["d1", "d2", "d1"]);
        assert_eq!(step_ms(&answer, "retrieve"), Some(4.5));
        assert_eq!(step_ms(&answer, "rerank"), None);
    }
}
