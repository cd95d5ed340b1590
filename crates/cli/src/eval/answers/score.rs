//! Scoring one `/api/query` answer against its item. The response is read with every field of
//! the answer interface of issue 15 (`answer_mode`, `sentences`, `grounding`, `passages`)
//! optional, so the same harness measures a gateway that has them and one that does not.

use super::data::Item;
use super::metrics::{OVERLAP_SUPPORTED, degenerate, overlap_support, rouge_l_f, token_f1};
use super::text::{Sentence, citations, sentences, words};
use serde::{Deserialize, Serialize};

/// The parts of a `QueryResponse` the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct QueryAnswer {
    pub answer: String,
    #[serde(default)]
    pub sources: Vec<SourceView>,
    #[serde(default)]
    pub generation: Option<GenerationView>,
    #[serde(default)]
    pub cache: Option<CacheView>,
    #[serde(default)]
    pub profile: Option<ProfileView>,
    #[serde(default)]
    pub answer_mode: Option<String>,
    #[serde(default)]
    pub sentences: Option<Vec<SentenceView>>,
    #[serde(default)]
    pub grounding: Option<GroundingView>,
    #[serde(default)]
    pub passages: Option<Vec<PassageView>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SourceView {
    pub index: usize,
    pub source: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GenerationView {
    #[serde(default)]
    pub contexts_sent: Vec<usize>,
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub generated_tokens: u32,
    #[serde(default)]
    pub finish_reason: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheView {
    #[serde(default)]
    pub hit: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProfileView {
    #[serde(default)]
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepView {
    pub name: String,
    pub ms: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SentenceView {
    pub text: String,
    #[serde(default)]
    pub citations: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroundingView {
    #[serde(default)]
    pub sentences: u32,
    #[serde(default)]
    pub supported: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PassageView {
    pub text: String,
}

/// Everything measured on one question (a row of `--json`'s `items`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ItemScore {
    pub id: String,
    pub question: String,
    pub answer: String,
    /// The request failed: the gateway's error (nothing else is scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cache_hit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_mode: Option<String>,
    /// 1-based rank of the first source chunk from the gold abstract, None when absent.
    pub gold_rank: Option<usize>,
    pub sources: usize,
    /// `[n]` markers naming a source that exists and was sent to the model.
    pub valid_citations: usize,
    pub invalid_citations: usize,
    /// Distinct (sentence, source) citation pairs, and those naming the gold abstract.
    pub cited_pairs: usize,
    pub gold_pairs: usize,
    /// Pairs whose cited source text supports the sentence by the word-overlap check.
    pub overlap_supported_pairs: usize,
    /// Sentences with at least one valid citation, and those whose citations are all gold.
    pub cited_sentences: usize,
    pub all_gold_sentences: usize,
    /// `gateway` when the response carried `sentences`, else `harness` (split here).
    pub sentences_from: &'static str,
    pub sentences: usize,
    /// Sentences with content words, and those a sent passage supports by word overlap.
    pub overlap_checked: usize,
    pub overlap_supported: usize,
    /// The gateway's own `grounding` summary, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounding_sentences: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounding_supported: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degenerate: Option<String>,
    pub rouge_l: f64,
    pub token_f1: f64,
    /// `yes`/`no`/`maybe` when the answer starts with one, and the item's decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stated_decision: Option<String>,
    pub final_decision: String,
    /// Profile step `generate.first_token` (from the start of generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<f64>,
    /// Top-level profile steps before generation plus `generate.first_token`: the time to
    /// the first token from the request's arrival, as the gateway measured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Around the HTTP call, measured by the harness.
    pub total_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

impl ItemScore {
    /// The row of a question the gateway did not answer.
    pub fn failed(item: &Item, error: String, total_ms: f64) -> ItemScore {
        ItemScore {
            id: item.id.clone(),
            question: item.question.clone(),
            error: Some(error),
            final_decision: item.final_decision.clone(),
            total_ms,
            sentences_from: "harness",
            ..ItemScore::default()
        }
    }
}

/// Scores `response` for `item`; `total_ms` was measured around the call.
pub fn score(item: &Item, response: &QueryAnswer, total_ms: f64) -> ItemScore {
    let sources = &response.sources;
    let source_of = |n: usize| sources.iter().find(|s| s.index == n);
    let sent = response.generation.as_ref().map(|g| &g.contexts_sent);
    // Valid: names an existing source that (when the gateway says which) was sent.
    let valid =
        |n: usize| source_of(n).is_some() && sent.is_none_or(|s| s.is_empty() || s.contains(&n));
    let is_gold = |n: usize| source_of(n).is_some_and(|s| s.source == item.id);
    let all_markers = citations(&response.answer);
    let valid_citations = all_markers.iter().filter(|&&n| valid(n)).count();

    let (answer_sentences, sentences_from): (Vec<Sentence>, _) = match &response.sentences {
        Some(list) => (
            list.iter()
                .map(|s| Sentence {
                    text: s.text.clone(),
                    citations: s.citations.clone(),
                })
                .collect(),
            "gateway",
        ),
        None => (sentences(&response.answer), "harness"),
    };
    // The passages the model was shown: `passages` when reported, else the sources sent.
    let shown: Vec<&str> = match &response.passages {
        Some(p) => p.iter().map(|p| p.text.as_str()).collect(),
        None => sources
            .iter()
            .filter(|s| sent.is_none_or(|l| l.is_empty() || l.contains(&s.index)))
            .map(|s| s.text.as_str())
            .collect(),
    };

    let mut score = ItemScore {
        id: item.id.clone(),
        question: item.question.clone(),
        answer: response.answer.clone(),
        cache_hit: response.cache.as_ref().is_some_and(|c| c.hit),
        answer_mode: response.answer_mode.clone(),
        gold_rank: sources
            .iter()
            .position(|s| s.source == item.id)
            .map(|i| i + 1),
        sources: sources.len(),
        valid_citations,
        invalid_citations: all_markers.len() - valid_citations,
        sentences_from,
        sentences: answer_sentences.len(),
        grounding_sentences: response.grounding.as_ref().map(|g| g.sentences),
        grounding_supported: response.grounding.as_ref().map(|g| g.supported),
        degenerate: degenerate(&response.answer),
        rouge_l: rouge_l_f(&response.answer, &item.long_answer),
        token_f1: token_f1(&response.answer, &item.long_answer),
        stated_decision: words(&response.answer)
            .first()
            .filter(|w| matches!(w.as_str(), "yes" | "no" | "maybe"))
            .cloned(),
        final_decision: item.final_decision.clone(),
        total_ms,
        prompt_tokens: response.generation.as_ref().map(|g| g.prompt_tokens),
        generated_tokens: response.generation.as_ref().map(|g| g.generated_tokens),
        finish_reason: response
            .generation
            .as_ref()
            .map(|g| g.finish_reason.clone()),
        ..ItemScore::default()
    };
    for sentence in &answer_sentences {
        let cited: Vec<usize> = sentence
            .citations
            .iter()
            .copied()
            .filter(|&n| valid(n))
            .collect();
        if !cited.is_empty() {
            score.cited_sentences += 1;
            if cited.iter().all(|&n| is_gold(n)) {
                score.all_gold_sentences += 1;
            }
        }
        for &n in &cited {
            score.cited_pairs += 1;
            if is_gold(n) {
                score.gold_pairs += 1;
            }
            let supports = source_of(n)
                .and_then(|s| overlap_support(&sentence.text, &s.text))
                .is_some_and(|v| v >= OVERLAP_SUPPORTED);
            if supports {
                score.overlap_supported_pairs += 1;
            }
        }
        let best = shown
            .iter()
            .filter_map(|p| overlap_support(&sentence.text, p))
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.max(v)))
            });
        let has_content = overlap_support(&sentence.text, "").is_some();
        if has_content {
            score.overlap_checked += 1;
            if best.is_some_and(|v| v >= OVERLAP_SUPPORTED) {
                score.overlap_supported += 1;
            }
        }
    }
    if let Some(profile) = &response.profile {
        score.first_token_ms = profile
            .steps
            .iter()
            .find(|s| s.name == "generate.first_token")
            .map(|s| s.ms);
        score.ttft_ms = profile
            .steps
            .iter()
            .position(|s| s.name == "generate.first_token")
            .map(|at| {
                profile.steps[..at]
                    .iter()
                    .filter(|s| !s.name.contains('.'))
                    .map(|s| s.ms)
                    .sum::<f64>()
                    + profile.steps[at].ms
            });
    }
    score
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item() -> Item {
        Item {
            id: "gold".into(),
            question: "Does CRP help in the elderly?".into(),
            long_answer: "CRP values help exclude appendicitis in elderly patients.".into(),
            final_decision: "yes".into(),
        }
    }

    fn sources() -> serde_json::Value {
        json!([
            {"index": 1, "source": "gold", "chunk": 0,
             "text": "Elevated CRP values were found in elderly patients with appendicitis."},
            {"index": 2, "source": "other", "chunk": 0,
             "text": "Paris hosts many museums and restaurants."},
            {"index": 3, "source": "gold", "chunk": 1, "text": "Leukocyte counts were normal."}
        ])
    }

    #[test]
    fn todays_response_is_scored_from_the_answer_text_and_sources() {
        let response: QueryAnswer = serde_json::from_value(json!({
            "answer": "Yes, CRP values were elevated in elderly patients [1]. \
                       Paris hosts museums [2][9]. Leukocyte counts were normal [1, 3].",
            "sources": sources(),
            "generation": {"model": "m", "provider": "embedded", "prompt_version": "v",
                           "contexts_sent": [1, 2, 3], "prompt_tokens": 300,
                           "generated_tokens": 30, "finish_reason": "stop"},
            "profile": {"steps": [{"name": "retrieve", "ms": 40.0},
                                  {"name": "retrieve.embed", "ms": 10.0},
                                  {"name": "generate.first_token", "ms": 500.0},
                                  {"name": "generate", "ms": 900.0}],
                        "total_ms": 950.0, "bottleneck": "generate"},
            "trace_id": "t"
        }))
        .unwrap();
        let s = score(&item(), &response, 1000.0);
        assert_eq!(s.sentences_from, "harness");
        assert_eq!(s.sentences, 3);
        assert_eq!(s.gold_rank, Some(1));
        // [9] names no source.
        assert_eq!((s.valid_citations, s.invalid_citations), (4, 1));
        // Pairs: (1,[1]) gold, (2,[2]) not, (3,[1]) gold, (3,[3]) gold.
        assert_eq!((s.cited_pairs, s.gold_pairs), (4, 3));
        assert_eq!((s.cited_sentences, s.all_gold_sentences), (3, 2));
        // Sentence 1 by source 1, sentence 2 by source 2 and sentence 3 by source 3 overlap;
        // sentence 3 is not supported by source 1.
        assert_eq!(s.overlap_supported_pairs, 3);
        assert_eq!((s.overlap_checked, s.overlap_supported), (3, 3));
        assert_eq!(s.stated_decision.as_deref(), Some("yes"));
        assert_eq!(s.first_token_ms, Some(500.0));
        assert_eq!(s.ttft_ms, Some(540.0));
        assert_eq!(s.prompt_tokens, Some(300));
        assert!(s.degenerate.is_none());
        assert!(s.rouge_l > 0.0 && s.token_f1 > 0.0);
        assert_eq!(s.grounding_sentences, None);
    }

    #[test]
    fn the_answer_interface_fields_are_used_when_present() {
        let response: QueryAnswer = serde_json::from_value(json!({
            "answer": "CRP was elevated [1]. The capital is Paris [2].",
            "answer_mode": "extractive",
            "sources": sources(),
            "sentences": [
                {"text": "CRP was elevated [1].", "citations": [1], "support": 0.9,
                 "supported": true},
                {"text": "The capital is Paris [2].", "citations": [2], "support": 0.1,
                 "supported": false}
            ],
            "grounding": {"sentences": 2, "supported": 1, "unsupported": 1, "cited": 2,
                          "citations_kept": 2, "citations_corrected": 0,
                          "citations_added": 0, "citations_removed": 0,
                          "threshold": 0.5, "unsupported_policy": "flag"},
            "passages": [{"index": 1, "text": "Elevated CRP values.", "score": 0.8}],
            "profile": {"steps": [], "total_ms": 3.0}
        }))
        .unwrap();
        let s = score(&item(), &response, 5.0);
        assert_eq!(s.sentences_from, "gateway");
        assert_eq!(s.answer_mode.as_deref(), Some("extractive"));
        assert_eq!(
            (s.grounding_sentences, s.grounding_supported),
            (Some(2), Some(1))
        );
        assert_eq!((s.cited_pairs, s.gold_pairs), (2, 1));
        // Only the passage sent is checked: "capital paris" is not in it.
        assert_eq!((s.overlap_checked, s.overlap_supported), (2, 1));
        assert_eq!((s.first_token_ms, s.ttft_ms), (None, None));
        assert_eq!(s.prompt_tokens, None);
    }

    #[test]
    fn a_looping_answer_is_degenerate() {
        let response: QueryAnswer = serde_json::from_value(json!({
            "answer": "it is a fusion; it is a fusion; it is a fusion",
            "sources": []
        }))
        .unwrap();
        let s = score(&item(), &response, 1.0);
        assert!(s.degenerate.is_some());
        assert_eq!(s.valid_citations, 0);
        assert_eq!(s.gold_rank, None);
    }
}
