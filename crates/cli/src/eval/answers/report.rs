//! The answer-quality report: the per-question scores summed into the table, one shape
//! serialised for `--json` (with every question's row) and rendered as a table for people.

use super::metrics::percentile;
use super::score::ItemScore;
use crate::eval::report::IngestReport;
use serde::Serialize;
use std::io::Write;

/// p50 and p95 (nearest rank) in milliseconds, and how many samples they come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub n: usize,
}

impl Spread {
    fn of(samples: &[f64]) -> Option<Spread> {
        Some(Spread {
            p50: percentile(samples, 0.5)?,
            p95: percentile(samples, 0.95)?,
            n: samples.len(),
        })
    }
}

/// A share with its numerator and denominator (None as value when the denominator is 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Share {
    pub value: Option<f64>,
    pub of: usize,
    pub total: usize,
}

impl Share {
    fn new(of: usize, total: usize) -> Share {
        Share {
            value: (total > 0).then(|| of as f64 / total as f64),
            of,
            total,
        }
    }

    fn cell(&self) -> String {
        match self.value {
            Some(v) => format!("{:.1} % ({}/{})", v * 100.0, self.of, self.total),
            None => "n/a (0 to count)".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Answers with at least one valid `[n]`.
    pub citation_rate: Share,
    /// Valid (sentence, source) citation pairs naming the gold abstract.
    pub citation_precision: Share,
    /// Cited sentences whose citations all name the gold abstract.
    pub sentence_citation_precision: Share,
    /// Citation pairs whose cited source supports the sentence by the word-overlap check.
    pub citation_support_overlap: Share,
    /// The gateway's `grounding` (supported / sentences), when it reports one.
    pub supported_sentences_grounding: Option<Share>,
    /// Sentences a passage sent to the model supports by the harness's word-overlap check.
    pub supported_sentences_overlap: Share,
    pub degenerate: Share,
    pub rouge_l_f: Option<f64>,
    pub token_f1: Option<f64>,
    /// Answers starting with yes/no/maybe, and those agreeing with `final_decision`.
    pub decision_stated: Share,
    pub decision_agrees: Share,
    /// The gold abstract is the first source / among the sources.
    pub gold_at_1: Share,
    pub gold_in_sources: Share,
    /// Profile step `generate.first_token` (from the start of generation).
    pub first_token_ms: Option<Spread>,
    /// Steps before generation plus the first token (from the request's arrival).
    pub ttft_ms: Option<Spread>,
    /// Around each `/api/query` call, measured by the harness.
    pub total_ms: Option<Spread>,
    pub prompt_tokens_mean: Option<f64>,
    pub generated_tokens_mean: Option<f64>,
    /// Answers cut at max_new_tokens (`finish_reason` = `length`).
    pub cut_at_length: Share,
    /// How sentences were obtained: `gateway` (its `sentences`), `harness` or `mixed`.
    pub sentences_from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswersReport {
    pub dataset: String,
    pub collection: String,
    pub gateway: String,
    /// `answer_mode` sent with every question (None: the gateway's default).
    pub answer_mode: Option<String>,
    pub k: Option<u32>,
    pub concurrency: usize,
    pub corpus_documents: usize,
    pub questions: usize,
    pub answered: usize,
    pub failed: usize,
    pub cache_hits: usize,
    pub overlap_threshold: f64,
    pub ingest: IngestReport,
    pub summary: Summary,
    pub items: Vec<ItemScore>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The summary over the answered questions (failed ones are counted, not scored).
pub fn summarise(items: &[ItemScore]) -> Summary {
    let ok: Vec<&ItemScore> = items.iter().filter(|i| i.error.is_none()).collect();
    let n = ok.len();
    let count = |f: &dyn Fn(&ItemScore) -> bool| ok.iter().filter(|i| f(i)).count();
    let sum = |f: &dyn Fn(&ItemScore) -> usize| ok.iter().map(|i| f(i)).sum::<usize>();
    let grounded: Vec<&&ItemScore> = ok
        .iter()
        .filter(|i| i.grounding_sentences.is_some())
        .collect();
    let stated = count(&|i| i.stated_decision.is_some());
    let from_gateway = count(&|i| i.sentences_from == "gateway");
    let collect = |f: &dyn Fn(&ItemScore) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|i| f(i)).collect()
    };
    Summary {
        citation_rate: Share::new(count(&|i| i.valid_citations > 0), n),
        citation_precision: Share::new(sum(&|i| i.gold_pairs), sum(&|i| i.cited_pairs)),
        sentence_citation_precision: Share::new(
            sum(&|i| i.all_gold_sentences),
            sum(&|i| i.cited_sentences),
        ),
        citation_support_overlap: Share::new(
            sum(&|i| i.overlap_supported_pairs),
            sum(&|i| i.cited_pairs),
        ),
        supported_sentences_grounding: (!grounded.is_empty()).then(|| {
            Share::new(
                grounded
                    .iter()
                    .map(|i| i.grounding_supported.unwrap_or(0) as usize)
                    .sum(),
                grounded
                    .iter()
                    .map(|i| i.grounding_sentences.unwrap_or(0) as usize)
                    .sum(),
            )
        }),
        supported_sentences_overlap: Share::new(
            sum(&|i| i.overlap_supported),
            sum(&|i| i.overlap_checked),
        ),
        degenerate: Share::new(count(&|i| i.degenerate.is_some()), n),
        rouge_l_f: mean(ok.iter().map(|i| i.rouge_l)),
        token_f1: mean(ok.iter().map(|i| i.token_f1)),
        decision_stated: Share::new(stated, n),
        decision_agrees: Share::new(
            count(&|i| i.stated_decision.as_deref() == Some(i.final_decision.as_str())),
            stated,
        ),
        gold_at_1: Share::new(count(&|i| i.gold_rank == Some(1)), n),
        gold_in_sources: Share::new(count(&|i| i.gold_rank.is_some()), n),
        first_token_ms: Spread::of(&collect(&|i| i.first_token_ms)),
        ttft_ms: Spread::of(&collect(&|i| i.ttft_ms)),
        total_ms: Spread::of(&collect(&|i| Some(i.total_ms))),
        prompt_tokens_mean: mean(ok.iter().filter_map(|i| i.prompt_tokens.map(f64::from))),
        generated_tokens_mean: mean(ok.iter().filter_map(|i| i.generated_tokens.map(f64::from))),
        cut_at_length: Share::new(
            count(&|i| i.finish_reason.as_deref() == Some("length")),
            count(&|i| i.finish_reason.is_some()),
        ),
        sentences_from: match from_gateway {
            0 => "harness".into(),
            x if x == n => "gateway".into(),
            _ => "mixed".into(),
        },
    }
}

fn ms(spread: Option<Spread>) -> String {
    match spread {
        Some(s) => format!("{:.0} / {:.0} ms (n = {})", s.p50, s.p95, s.n),
        None => "n/a (no sample)".into(),
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}

impl AnswersReport {
    /// The human-readable table.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let s = &self.summary;
        writeln!(
            out,
            "{}: {} documents, {} questions asked ({} answered, {} failed{}), collection {} on {}",
            self.dataset,
            self.corpus_documents,
            self.questions,
            self.answered,
            self.failed,
            if self.cache_hits > 0 {
                format!(", {} answered from the cache", self.cache_hits)
            } else {
                String::new()
            },
            self.collection,
            self.gateway
        )?;
        writeln!(
            out,
            "answer_mode {}, k {}, concurrency {}",
            self.answer_mode.as_deref().unwrap_or("(gateway default)"),
            self.k
                .map_or_else(|| "(gateway default)".into(), |k| k.to_string()),
            self.concurrency
        )?;
        let i = &self.ingest;
        if i.ingested {
            writeln!(
                out,
                "ingest: {} documents, {} chunks in {:.1} s",
                i.documents, i.chunks, i.seconds
            )?;
        } else {
            writeln!(out, "ingest: skipped (--reuse; {} documents)", i.documents)?;
        }
        let overlap = format!(
            "word overlap >= {:.0} %, harness",
            self.overlap_threshold * 100.0
        );
        let rows: [(String, String); 16] = [
            (
                "citation rate (>= 1 valid [n])".into(),
                s.citation_rate.cell(),
            ),
            (
                "citation precision (cited source is the gold abstract)".into(),
                s.citation_precision.cell(),
            ),
            (
                format!(
                    "  per sentence: all citations gold ({} sentences)",
                    s.sentences_from
                ),
                s.sentence_citation_precision.cell(),
            ),
            (
                format!("  cited source supports its sentence ({overlap})"),
                s.citation_support_overlap.cell(),
            ),
            (
                "supported sentences (gateway grounding)".into(),
                s.supported_sentences_grounding
                    .map_or_else(|| "n/a (no grounding in responses)".into(), |g| g.cell()),
            ),
            (
                format!("supported sentences ({overlap})"),
                s.supported_sentences_overlap.cell(),
            ),
            (
                "degenerate answers (4-gram x3 / repeated span)".into(),
                s.degenerate.cell(),
            ),
            ("ROUGE-L F1 vs long_answer".into(), number(s.rouge_l_f)),
            ("token F1 vs long_answer".into(), number(s.token_f1)),
            (
                "yes/no/maybe stated / agrees".into(),
                format!(
                    "{} / {}",
                    s.decision_stated.cell(),
                    s.decision_agrees.cell()
                ),
            ),
            (
                "gold abstract first source / among sources".into(),
                format!("{} / {}", s.gold_at_1.cell(), s.gold_in_sources.cell()),
            ),
            (
                "TTFT p50 / p95 (steps before generation + first token)".into(),
                ms(s.ttft_ms),
            ),
            (
                "  generate.first_token p50 / p95".into(),
                ms(s.first_token_ms),
            ),
            ("total latency p50 / p95 (client)".into(), ms(s.total_ms)),
            (
                "prompt / generated tokens (mean)".into(),
                format!(
                    "{} / {}",
                    s.prompt_tokens_mean
                        .map_or_else(|| "n/a".into(), |v| format!("{v:.0}")),
                    s.generated_tokens_mean
                        .map_or_else(|| "n/a".into(), |v| format!("{v:.0}"))
                ),
            ),
            (
                "answers cut at max_new_tokens".into(),
                s.cut_at_length.cell(),
            ),
        ];
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        writeln!(out)?;
        for (label, value) in rows {
            writeln!(out, "{label:<width$}  {value}")?;
        }
        let failures: Vec<&ItemScore> = self.items.iter().filter(|i| i.error.is_some()).collect();
        for f in failures.iter().take(5) {
            writeln!(
                out,
                "failed: {} {:?}: {}",
                f.id,
                f.question,
                f.error.as_deref().unwrap_or("")
            )?;
        }
        if failures.len() > 5 {
            writeln!(out, "... and {} more failures", failures.len() - 5)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(valid: usize, pairs: usize, gold: usize, degenerate: bool) -> ItemScore {
        ItemScore {
            valid_citations: valid,
            cited_pairs: pairs,
            gold_pairs: gold,
            cited_sentences: pairs,
            all_gold_sentences: gold,
            overlap_checked: 2,
            overlap_supported: 1,
            degenerate: degenerate.then(|| "loop".into()),
            rouge_l: 0.5,
            token_f1: 0.25,
            total_ms: 100.0,
            ttft_ms: Some(40.0),
            sentences_from: "harness",
            ..ItemScore::default()
        }
    }

    #[test]
    fn failures_are_counted_apart_and_shares_keep_their_counts() {
        let mut failed = row(0, 0, 0, false);
        failed.error = Some("503".into());
        let items = [row(2, 2, 1, false), row(0, 0, 0, true), failed];
        let s = summarise(&items);
        assert_eq!(s.citation_rate, Share::new(1, 2));
        assert_eq!(s.citation_precision.value, Some(0.5));
        assert_eq!(s.degenerate.of, 1);
        assert_eq!(s.supported_sentences_overlap, Share::new(2, 4));
        assert_eq!(s.supported_sentences_grounding, None);
        assert_eq!(s.rouge_l_f, Some(0.5));
        assert_eq!(s.total_ms.unwrap().n, 2);
        assert_eq!(s.first_token_ms, None);
        assert_eq!(s.sentences_from, "harness");
        assert_eq!(Share::new(0, 0).value, None);
    }

    #[test]
    fn the_table_names_every_row_and_says_what_is_missing() {
        let items = vec![row(1, 1, 1, false)];
        let report = AnswersReport {
            dataset: "d".into(),
            collection: "answers-d".into(),
            gateway: "in-process".into(),
            answer_mode: None,
            k: None,
            concurrency: 1,
            corpus_documents: 1,
            questions: 1,
            answered: 1,
            failed: 0,
            cache_hits: 0,
            overlap_threshold: 0.6,
            ingest: IngestReport {
                ingested: true,
                documents: 1,
                chunks: 1,
                seconds: 1.0,
                documents_per_second: 1.0,
                chunks_per_second: 1.0,
            },
            summary: summarise(&items),
            items,
        };
        let mut out = Vec::new();
        report.write_table(&mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        for needle in [
            "citation rate (>= 1 valid [n])  ",
            "100.0 % (1/1)",
            "n/a (no grounding in responses)",
            "word overlap >= 60 %, harness",
            "ROUGE-L F1 vs long_answer",
            "TTFT p50 / p95 (steps before generation + first token)",
            "40 / 40 ms (n = 1)",
            "generate.first_token p50 / p95",
            "n/a (no sample)",
        ] {
            assert!(table.contains(needle), "{needle:?} missing from:\n{table}");
        }
    }
}
