//! `ragmesh eval beir` as a user runs it: the real binary starts every service inside its own
//! process, ingests a tiny BEIR fixture through the HTTP API and scores every method. The
//! fixture's queries each name one document plainly, so a working BM25 or hybrid retriever
//! must rank it first or nearly so.

use crate::support::{ragmesh_bin, repo};
use ragmesh_testkit::machine;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> std::path::PathBuf {
    repo().join("tests/fixtures/beir-tiny")
}

/// Runs `ragmesh eval beir --data <fixture> --json` and returns its report; fails the test
/// after ten minutes rather than hanging.
fn run_eval() -> Value {
    let models = ragmesh_testkit::models_dir();
    let mut child = Command::new(ragmesh_bin())
        .args(["eval", "beir", "--quiet", "--json", "--data"])
        .arg(fixture())
        .env("RAGMESH_MODELS_DIR", &models)
        .env_remove("RAGMESH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ragmesh eval beir did not finish in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

#[test]
fn eval_beir_scores_every_method_and_finds_the_obvious_documents() {
    let _machine = machine::alone_blocking();
    let report = run_eval();
    assert_eq!(report["gateway"], "in-process", "{report}");
    assert_eq!(report["corpus_documents"], 12, "{report}");
    // q6 has only a zero-graded judgement: it is not a test query.
    assert_eq!(report["test_queries"], 5, "{report}");
    assert_eq!(report["ingest"]["documents"], 12, "{report}");
    assert!(
        report["ingest"]["chunks"].as_u64().unwrap() >= 12,
        "{report}"
    );

    let methods = report["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bm25", "vector", "hybrid", "hybrid-rrf", "hybrid+rerank"]
    );
    for m in methods {
        if m["available"] == false {
            // Only reranking may be missing (no cross-encoder weights), and it says why.
            assert_eq!(m["method"], "hybrid+rerank", "{m}");
            assert!(
                m["reason"].as_str().unwrap().contains("cross-encoder"),
                "{m}"
            );
            continue;
        }
        for metric in ["ndcg_at_10", "recall_at_100", "mrr_at_10"] {
            let v = m[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{metric} = {v} in {m}");
        }
        assert_eq!(m["queries"], 5, "{m}");
        assert!(m["latency_ms"]["mean"].as_f64().unwrap() > 0.0, "{m}");
        assert!(m["latency_ms"]["p95"].as_f64().unwrap() > 0.0, "{m}");
        assert!(m["server_retrieve_ms"]["mean"].as_f64().is_some(), "{m}");
        // Every relevant document is among only twelve.
        assert_eq!(m["recall_at_100"].as_f64().unwrap(), 1.0, "{m}");
    }
    for name in ["bm25", "hybrid", "hybrid-rrf"] {
        let m = methods.iter().find(|m| m["method"] == name).unwrap();
        let ndcg = m["ndcg_at_10"].as_f64().unwrap();
        assert!(
            ndcg >= 0.8,
            "{name} nDCG@10 {ndcg} on the easy fixture: {m}"
        );
    }
}
