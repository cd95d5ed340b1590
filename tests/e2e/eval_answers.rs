//! `ragmesh eval answers` as a user runs it: the real binary starts every service inside its
//! own process, ingests four PubMedQA abstracts (`tests/fixtures/pubmedqa-tiny`) through the
//! HTTP API, asks the four questions through `/api/query` with the real models and reports.
//! The four abstracts are on unrelated topics and each question is its article's title, so
//! retrieval must put the gold abstract first; the answers' quality is the model's and is only
//! checked for consistency (the harness's numbers must agree with its own rows).

use crate::support::{ragmesh_bin, repo};
use ragmesh_testkit::machine;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> std::path::PathBuf {
    repo().join("tests/fixtures/pubmedqa-tiny")
}

/// Runs `ragmesh eval answers <args>` and returns (success, stdout, stderr); fails the test
/// after fifteen minutes rather than hanging.
fn run_eval(args: &[&str]) -> (bool, String, String) {
    let models = ragmesh_testkit::models_dir();
    let mut child = Command::new(ragmesh_bin())
        .args(["eval", "answers"])
        .args(args)
        .env("RAGMESH_MODELS_DIR", &models)
        .env_remove("RAGMESH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ragmesh eval answers did not finish in 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn share(report: &Value, name: &str) -> (u64, u64) {
    let s = &report["summary"][name];
    let (of, total) = (s["of"].as_u64().unwrap(), s["total"].as_u64().unwrap());
    assert!(of <= total, "{name}: {s}");
    if total > 0 {
        let v = s["value"].as_f64().unwrap();
        assert!((v - of as f64 / total as f64).abs() < 1e-9, "{name}: {s}");
    } else {
        assert!(s["value"].is_null(), "{name}: {s}");
    }
    (of, total)
}

#[test]
fn eval_answers_asks_every_question_and_reports_consistent_scores() {
    let _machine = machine::alone_blocking();
    let data = fixture();
    let data = data.to_str().unwrap();
    let (ok, stdout, stderr) = run_eval(&["--quiet", "--json", "--data", data]);
    assert!(ok, "stderr: {stderr}\nstdout: {stdout}");
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(report["gateway"], "in-process", "{report}");
    assert_eq!(report["corpus_documents"], 4, "{report}");
    assert_eq!(report["ingest"]["documents"], 4, "{report}");
    assert_eq!(report["questions"], 4, "{report}");
    assert_eq!(report["answered"], 4, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    // The in-process product runs with the answer cache off: every answer is generated.
    assert_eq!(report["cache_hits"], 0, "{report}");

    let items = report["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["20813740", "27491658", "22211919", "2224269"]);
    for item in items {
        assert!(item.get("error").is_none(), "{item}");
        assert!(
            !item["answer"].as_str().unwrap().trim().is_empty(),
            "{item}"
        );
        assert_eq!(
            item["gold_rank"], 1,
            "retrieval missed the obvious abstract: {item}"
        );
        let answer = item["answer"].as_str().unwrap();
        let markers =
            item["valid_citations"].as_u64().unwrap() + item["invalid_citations"].as_u64().unwrap();
        assert!(markers == 0 || answer.contains('['), "{item}");
        for metric in ["rouge_l", "token_f1"] {
            let v = item[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{metric} {v}: {item}");
        }
        // Generation ran: the profile's first-token step is there and within the total.
        let first = item["first_token_ms"].as_f64().unwrap();
        let ttft = item["ttft_ms"].as_f64().unwrap();
        let total = item["total_ms"].as_f64().unwrap();
        assert!(first > 0.0 && first <= ttft && ttft <= total, "{item}");
        assert!(item["prompt_tokens"].as_u64().unwrap() > 0, "{item}");
    }

    // The summary is the rows summed.
    let count = |f: &dyn Fn(&Value) -> bool| items.iter().filter(|i| f(i)).count() as u64;
    let sum = |field: &str| {
        items
            .iter()
            .map(|i| i[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        share(&report, "citation_rate"),
        (count(&|i| i["valid_citations"].as_u64().unwrap() > 0), 4)
    );
    assert_eq!(
        share(&report, "citation_precision"),
        (sum("gold_pairs"), sum("cited_pairs"))
    );
    assert_eq!(
        share(&report, "supported_sentences_overlap"),
        (sum("overlap_supported"), sum("overlap_checked"))
    );
    assert_eq!(
        share(&report, "degenerate"),
        (count(&|i| i.get("degenerate").is_some()), 4)
    );
    assert_eq!(share(&report, "gold_at_1"), (4, 4));
    share(&report, "sentence_citation_precision");
    share(&report, "citation_support_overlap");
    let summary = &report["summary"];
    for spread in ["first_token_ms", "ttft_ms", "total_ms"] {
        let s = &summary[spread];
        assert_eq!(s["n"], 4, "{spread}: {s}");
        assert!(
            s["p50"].as_f64().unwrap() <= s["p95"].as_f64().unwrap(),
            "{spread}: {s}"
        );
    }
    let rouge = summary["rouge_l_f"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rouge), "{summary}");
    assert!(
        ["harness", "gateway", "mixed"].contains(&summary["sentences_from"].as_str().unwrap()),
        "{summary}"
    );
}

#[test]
fn eval_answers_names_a_missing_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run_eval(&["--data", dir.path().to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("items.jsonl"), "{stderr}");
}
