//! The evaluation report: one shape serialised for `--json` and rendered as a table for
//! people, so both always carry the same numbers.

use serde::Serialize;
use std::io::Write;

/// Mean and 95th percentile of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p95: f64,
}

impl Latency {
    /// None for an empty sample. The p95 is the nearest-rank percentile (a value observed).
    pub fn of(samples: &[f64]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = (0.95 * sorted.len() as f64).ceil() as usize;
        Some(Latency {
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p95: sorted[rank.clamp(1, sorted.len()) - 1],
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// False when `--reuse` found the corpus already ingested.
    pub ingested: bool,
    pub documents: u64,
    pub chunks: u64,
    pub seconds: f64,
    pub documents_per_second: f64,
    pub chunks_per_second: f64,
}

/// The numbers of one method.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScores {
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    /// Queries scored (those with a relevant document).
    pub queries: usize,
    /// Chunks asked of `/api/retrieve` per query (before any retry for more documents).
    pub chunks_requested: u32,
    /// Queries whose answer held fewer than 100 distinct documents although more chunks exist
    /// and the limit was reached (recall@100 may be understated for them).
    pub short_rankings: usize,
    /// Measured by the client around each `/api/retrieve` call.
    pub latency_ms: Latency,
    /// The gateway's `retrieve` step (gRPC call to the retrieval service) from the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_retrieve_ms: Option<Latency>,
    /// The gateway's `rerank` step, when the method reranks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rerank_ms: Option<Latency>,
}

/// One row: a method measured, or why it could not be.
#[derive(Debug, Clone, Serialize)]
pub struct MethodReport {
    pub method: String,
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reranker the gateway reported (`rerank` methods only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub scores: Option<MethodScores>,
    /// (query id, documents best first) per query, for `--run-dir`.
    #[serde(skip)]
    pub rankings: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub collection: String,
    /// The gateway measured, or `in-process`.
    pub gateway: String,
    pub corpus_documents: usize,
    /// Corpus lines without text, which cannot be ingested.
    pub empty_documents: usize,
    pub test_queries: usize,
    /// Judged queries skipped because none of their documents is relevant.
    pub queries_without_relevant: usize,
    pub ingest: IngestReport,
    pub methods: Vec<MethodReport>,
}

impl MethodReport {
    /// The rankings as a TREC run (`qid Q0 doc rank score tag`), readable by trec_eval and
    /// pytrec_eval. Scores fall strictly with rank, so any tool keeps the order returned.
    pub fn write_trec_run(&self, out: &mut impl Write) -> std::io::Result<()> {
        let tag = self.method.replace('+', "_");
        for (query, documents) in &self.rankings {
            for (i, doc) in documents.iter().enumerate() {
                let score = documents.len() - i;
                writeln!(out, "{query} Q0 {doc} {} {score} {tag}", i + 1)?;
            }
        }
        Ok(())
    }
}

impl EvalReport {
    /// The human-readable table.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let i = &self.ingest;
        writeln!(
            out,
            "{}: {} documents, {} test queries, collection {} on {}",
            self.dataset, self.corpus_documents, self.test_queries, self.collection, self.gateway
        )?;
        if self.empty_documents + self.queries_without_relevant > 0 {
            writeln!(
                out,
                "skipped: {} corpus documents without text, {} judged queries without a relevant document",
                self.empty_documents, self.queries_without_relevant
            )?;
        }
        if i.ingested {
            writeln!(
                out,
                "ingest: {} documents, {} chunks in {:.1} s ({:.1} documents/s, {:.1} chunks/s)",
                i.documents, i.chunks, i.seconds, i.documents_per_second, i.chunks_per_second
            )?;
        } else {
            writeln!(
                out,
                "ingest: skipped (--reuse; {} documents, {} chunks already there)",
                i.documents, i.chunks
            )?;
        }
        writeln!(
            out,
            "\n{:<15} {:>8} {:>10} {:>7} {:>9} {:>9} {:>16}",
            "method", "nDCG@10", "recall@100", "MRR@10", "mean ms", "p95 ms", "server mean/p95"
        )?;
        for m in &self.methods {
            let Some(s) = &m.scores else {
                writeln!(
                    out,
                    "{:<15} not available: {}",
                    m.method,
                    m.reason.as_deref().unwrap_or("unknown reason")
                )?;
                continue;
            };
            let server = s
                .server_retrieve_ms
                .map(|l| format!("{:.1}/{:.1}", l.mean, l.p95))
                .unwrap_or_else(|| "-".into());
            writeln!(
                out,
                "{:<15} {:>8.4} {:>10.4} {:>7.4} {:>9.1} {:>9.1} {:>16}",
                m.method,
                s.ndcg_at_10,
                s.recall_at_100,
                s.mrr_at_10,
                s.latency_ms.mean,
                s.latency_ms.p95,
                server
            )?;
        }
        for m in &self.methods {
            if let Some(s) = &m.scores {
                if let Some(r) = s.server_rerank_ms {
                    writeln!(
                        out,
                        "{}: reranker {}, rerank step {:.1} ms mean, {:.1} ms p95",
                        m.method,
                        m.reranker.as_deref().unwrap_or("?"),
                        r.mean,
                        r.p95
                    )?;
                }
                if s.short_rankings > 0 {
                    writeln!(
                        out,
                        "{}: {} queries got fewer than 100 distinct documents",
                        m.method, s.short_rankings
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trec_runs_keep_the_returned_order_with_falling_scores() {
        let report = MethodReport {
            method: "hybrid+rerank".into(),
            available: true,
            reason: None,
            reranker: None,
            scores: None,
            rankings: vec![("q1".into(), vec!["d9".into(), "d2".into()])],
        };
        let mut out = Vec::new();
        report.write_trec_run(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "q1 Q0 d9 1 2 hybrid_rerank\nq1 Q0 d2 2 1 hybrid_rerank\n"
        );
    }

    #[test]
    fn p95_is_an_observed_value_by_nearest_rank() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let l = Latency::of(&samples).unwrap();
        assert_eq!((l.mean, l.p95), (10.5, 19.0));
        let l = Latency::of(&[3.0]).unwrap();
        assert_eq!((l.mean, l.p95), (3.0, 3.0));
        assert_eq!(Latency::of(&[]), None);
    }
}
