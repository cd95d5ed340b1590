//! Observability through real processes: after a few real queries, every series an alert rule
//! or a dashboard names is exported (or is on the commented allow-list, naming the issue that
//! adds it); one query's trace id reaches the log lines of every service it touched; the log
//! level changes at run time; `/api/profile/stats` names the dominant step; and a backend
//! running as its own process serves `/metrics` and `/log-level` on its admin listener.

use crate::support::*;
use ragmesh_testkit::{RagmeshProcess, Topology, machine};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The tiny BERT cross-encoder checkpoint the cross-encoder parity tests use, so reranking
/// (and its metrics) runs for real.
fn tiny_cross_encoder() -> PathBuf {
    repo().join("crates/crossencoder/tests/fixtures/tiny-cross-encoder")
}

/// Every `ragmesh_*` name in alert rules and dashboard queries.
fn series_named_by_deploy() -> BTreeSet<String> {
    let mut texts = vec![
        std::fs::read_to_string(repo().join("deploy/prometheus/rules/ragmesh-alerts.yml")).unwrap(),
    ];
    for entry in std::fs::read_dir(repo().join("deploy/grafana/dashboards")).unwrap() {
        texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut names = BTreeSet::new();
    for text in texts {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("ragmesh_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if end > "ragmesh_".len() {
                names.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
    }
    names
}

/// Series names of the allow-list (first word of each non-comment line).
fn allow_list() -> BTreeSet<String> {
    std::fs::read_to_string(repo().join("deploy/series-allowlist.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Metric names in a Prometheus text exposition.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

async fn put(url: &str, body: &Value) -> (u16, Value) {
    let r = client().put(url).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// JSON log lines of the process that carry `trace_id`.
fn log_lines_of_trace(process: &RagmeshProcess, trace_id: &str) -> Vec<Value> {
    process
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["trace_id"] == trace_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_cluster_exports_every_named_series_and_follows_a_query_everywhere() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let model = tiny_cross_encoder().display().to_string();
    let up = RagmeshProcess::up(
        ragmesh_bin(),
        data.path(),
        &[
            ("RAGMESH__GENERATION__MAX_NEW_TOKENS", "24"),
            ("RAGMESH__RERANK__MODEL_DIR", model.as_str()),
        ],
    );
    let base = up.url.clone();
    ingest_corpus(&base, "obs").await;

    // A client trace: the gateway keeps its trace id and every service logs it.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client()
        .post(format!("{base}/api/query"))
        .header(
            "traceparent",
            format!("00-{client_trace}-00f067aa0ba902b7-01"),
        )
        .json(&json!({ "query": QUESTIONS[0].1, "collection": "obs", "rerank": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["trace_id"], client_trace, "{answer}");

    // More traffic: a plain query, a stream, a retrieve, a failing backend call.
    let (status, plain) = post(
        &base,
        "/api/query",
        &json!({ "query": QUESTIONS[1].1, "collection": "obs" }),
    )
    .await;
    assert_eq!(status, 200, "{plain}");
    let (status, events) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": QUESTIONS[2].1, "collection": "obs" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("done"));
    retrieve(&base, "obs", QUESTIONS[3].1, "hybrid").await;
    let (status, _) = post(
        &base,
        "/api/retrieve",
        &json!({ "query": "anything", "collection": "no-such-collection" }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&base, "/health/ready").await;
    assert_eq!(status, 200);

    // Every series an alert or a dashboard names is exported, unless allow-listed; nothing
    // allow-listed is exported (the list must shrink as features land).
    let (status, exposition) = get_text(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let mut exported = exported_names(&exposition);
    // The load balancer's series come from `ragmesh serve lb` in front of this gateway.
    let lb = RagmeshProcess::serve(
        ragmesh_bin(),
        "lb",
        &[
            ("RAGMESH__LB__UPSTREAMS", up.addr()),
            ("RAGMESH__LB__METRICS_LISTEN", "127.0.0.1:0"),
        ],
    );
    let (status, _) = get(&lb.url, "/health/ready").await;
    assert_eq!(status, 200, "through the load balancer");
    let lb_metrics = lb.metrics_url.clone().unwrap();
    let (status, lb_exposition) = get_text(&format!("{lb_metrics}/metrics")).await;
    assert_eq!(status, 200);
    exported.extend(exported_names(&lb_exposition));
    let allowed = allow_list();
    let named = series_named_by_deploy();
    assert!(named.len() > 30, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !exported.contains(*n) && !allowed.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "named by alerts/dashboards but not exported: {missing:?}"
    );
    let stale: Vec<&String> = allowed.iter().filter(|n| exported.contains(*n)).collect();
    assert!(stale.is_empty(), "allow-listed but exported: {stale:?}");
    let unused: Vec<&String> = allowed.iter().filter(|n| !named.contains(*n)).collect();
    assert!(
        unused.is_empty(),
        "allow-listed but named nowhere: {unused:?}"
    );
    // Requests of every service under their own label, with real values.
    for service in ["gateway", "retrieval", "rerank", "generation"] {
        assert!(
            exposition.contains(&format!("ragmesh_service_info{{service=\"{service}\"}} 1")),
            "{service} not registered"
        );
    }
    assert!(exposition.contains(
        "ragmesh_rpc_requests_total{service=\"retrieval\",rpc=\"ragmesh.v1.Retrieval/Retrieve\",code=\"not_found\"} 1"
    ));
    assert!(exposition.contains(
        "ragmesh_http_requests_total{service=\"gateway\",route=\"/api/query\",method=\"POST\",status=\"200\"} 2"
    ));
    assert!(exposition.contains("ragmesh_index_documents{collection=\"obs\"} 4"));

    // The client's trace id is on log lines of every service the query went through.
    let lines = log_lines_of_trace(&up, client_trace);
    let services: BTreeSet<&str> = lines.iter().filter_map(|l| l["service"].as_str()).collect();
    assert!(
        ["gateway", "retrieval", "rerank", "generation"]
            .iter()
            .all(|s| services.contains(s)),
        "services logging trace {client_trace}: {services:?}"
    );
    for line in &lines {
        for key in ["timestamp", "level", "instance", "message", "span_id"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }

    // Recent per-step statistics name the dominant step.
    let (status, stats) = get(&base, "/api/profile/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert!(stats["queries"].as_u64().unwrap() >= 4, "{stats}");
    let dominant = stats["dominant_step"].as_str().unwrap();
    assert!(
        ["retrieve", "rerank", "generate"].contains(&dominant),
        "{stats}"
    );
    assert!(
        stats["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "retrieve.embed" && s["p95_ms"].as_f64().unwrap() > 0.0),
        "{stats}"
    );

    // The log level changes without a restart; a bad one is refused and the old one stays.
    let level_url = format!("{base}/api/admin/log-level");
    let (status, body) = put(
        &level_url,
        &json!({ "level": "ragmesh_gateway=debug,info" }),
    )
    .await;
    assert_eq!(
        (status, &body["level"]),
        (200, &json!("ragmesh_gateway=debug,info"))
    );
    let (status, body) = put(&level_url, &json!({ "level": "loud" })).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("loud"),
        "{body}"
    );
    let (_, body) = get(&base, "/api/admin/log-level").await;
    assert_eq!(body["level"], "ragmesh_gateway=debug,info");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_in_its_own_process_serves_metrics_and_log_level() {
    let _machine = machine::shared().await;
    // Rerank and a gateway; retrieval and generation are not running (closed ports).
    let stack = Topology::new(ragmesh_bin())
        .rerank(&[("RAGMESH__RERANK__METRICS_LISTEN", "127.0.0.1:0")])
        .gateway(&[])
        .start()
        .await;
    let rerank = stack.rerank.as_ref().unwrap();
    let metrics_url = rerank
        .metrics_url
        .clone()
        .expect("metrics_url in the ready file");
    let gateway = stack.gateway();
    // The readiness probe calls rerank's grpc.health.v1 (the other backends are not running).
    let (status, ready) = get(&gateway.url, "/health/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["services"]["rerank"], "serving", "{ready}");

    let (status, exposition) = get_text(&format!("{metrics_url}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        exposition.contains(
            "ragmesh_rpc_requests_total{service=\"rerank\",rpc=\"grpc.health.v1.Health/Check\",code=\"ok\"} 1"
        ),
        "{exposition}"
    );
    assert!(exposition.contains("ragmesh_service_info{service=\"rerank\"} 1"));
    let (_, gateway_metrics) = get_text(&format!("{}/metrics", gateway.url)).await;
    assert!(gateway_metrics.contains("ragmesh_backend_up{backend=\"rerank\"} 1"));
    assert!(gateway_metrics.contains("ragmesh_backend_up{backend=\"generation\"} 0"));

    let (status, body) = put(
        &format!("{metrics_url}/log-level"),
        &json!({ "level": "debug" }),
    )
    .await;
    assert_eq!((status, &body["level"]), (200, &json!("debug")), "{body}");
    let (status, body) = put(
        &format!("{metrics_url}/log-level"),
        &json!({ "level": "ragmesh=chatty" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_argument", "{body}");
}
