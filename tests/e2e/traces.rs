//! One query = one OpenTelemetry trace across separate service processes, exported over
//! OTLP/gRPC to an in-process collector: the query enters through the load balancer, the trace
//! id is the response's `trace_id`, spans come from the LB, the gateway, retrieval, rerank and
//! generation, every parent link points at a span of the same trace, the steps of the query are spans, and a client's `traceparent` is honoured. And a
//! collector that is down costs nothing but the spans: queries still succeed, and the loss is
//! counted.

use crate::support::*;
use ragmesh_testkit::{CLOSED_URL, OtlpReceiver, RagmeshProcess, ReceivedSpan, Topology, machine};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long spans may take to arrive (batches leave every 500 ms).
const ARRIVAL: Duration = Duration::from_secs(60);

/// Waits until the trace has spans named `names` (or the bound passes) and returns it.
async fn wait_for_trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    names: &[&str],
) -> Vec<ReceivedSpan> {
    let start = Instant::now();
    loop {
        let spans = receiver.trace(trace_id);
        let have: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        if names.iter().all(|n| have.contains(n)) || start.elapsed() > ARRIVAL {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn names(spans: &[ReceivedSpan]) -> Vec<(String, String)> {
    spans
        .iter()
        .map(|s| (s.service.clone(), s.name.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_query_is_one_trace_across_every_service() {
    let _machine = machine::shared().await;
    let receiver = OtlpReceiver::start().await;
    let stack = Topology::new(ragmesh_bin())
        .env(&[
            (
                "RAGMESH__TELEMETRY__OTLP_ENDPOINT",
                receiver.endpoint.as_str(),
            ),
            ("RAGMESH__TELEMETRY__SAMPLING_RATIO", "1.0"),
        ])
        .retrieval(&[])
        .rerank(&[])
        .generation(FAST_GENERATION)
        .gateway(&[])
        // The LB proxies once its first health check has seen the gateway ready.
        .lb(&[])
        .start()
        .await;
    let base = stack.gateway().url.clone();
    ingest_corpus(&base, "traced").await;
    let lb = stack.lb.as_ref().unwrap();

    let (status, answer) = post(
        &lb.url,
        "/api/query",
        &json!({ "query": QUESTIONS[0].1, "collection": "traced", "rerank": true }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let trace_id = answer["trace_id"].as_str().unwrap().to_string();
    let spans = wait_for_trace(
        &receiver,
        &trace_id,
        &[
            "POST /api/query",
            "retrieve",
            "rerank",
            "generate",
            "generate.first_token",
            "cache.store",
            "ragmesh.v1.Retrieval/Retrieve",
            "fusion",
            "ragmesh.v1.Rerank/Rerank",
            "ragmesh.v1.Generation/Generate",
            "decode",
            "cache.l1.semantic",
        ],
    )
    .await;

    // The LB's span ends last (with the response): wait for it too, within the same bound.
    let start = Instant::now();
    let mut spans = spans;
    while !spans.iter().any(|s| s.service == "ragmesh-lb") && start.elapsed() < ARRIVAL {
        tokio::time::sleep(Duration::from_millis(100)).await;
        spans = receiver.trace(&trace_id);
    }

    // One trace, from every service the query went through.
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    for service in [
        "ragmesh-lb",
        "ragmesh-gateway",
        "ragmesh-retrieval",
        "ragmesh-rerank",
        "ragmesh-generation",
    ] {
        assert!(
            services.contains(service),
            "no span from {service}: {:?}",
            names(&spans)
        );
    }
    // Every parent is in the trace, except the root's (the request came without traceparent).
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let roots: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "one root: {:?}", names(&spans));
    assert_eq!(roots[0].service, "ragmesh-lb");
    assert_eq!(roots[0].name, "POST /api/query");
    for span in &spans {
        assert!(
            span.parent_span_id.is_empty() || by_id.contains_key(span.parent_span_id.as_str()),
            "{} ({}) has a parent outside the trace: {:?}",
            span.name,
            span.service,
            names(&spans)
        );
    }
    // The steps, and parent links that follow the calls.
    let parent_of = |span: &ReceivedSpan| by_id.get(span.parent_span_id.as_str()).copied();
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("no {name} span from {service}: {:?}", names(&spans)))
    };
    assert_eq!(
        find("ragmesh-gateway", "POST /api/query").parent_span_id,
        roots[0].span_id,
        "the gateway's span continues the load balancer's"
    );
    for step in [
        "retrieve",
        "rerank",
        "generate",
        "generate.first_token",
        "cache",
        "cache.exact",
        "cache.embed",
        "cache.semantic",
        "cache.store",
    ] {
        let span = find("ragmesh-gateway", step);
        assert_eq!(
            parent_of(span).map(|p| p.name.as_str()),
            Some("POST /api/query"),
            "{step}"
        );
    }
    let retrieve_rpc = find("ragmesh-retrieval", "ragmesh.v1.Retrieval/Retrieve");
    assert_eq!(
        parent_of(retrieve_rpc).map(|p| p.name.as_str()),
        Some("retrieve")
    );
    for step in ["embed", "bm25", "vector", "fusion"] {
        let span = spans.iter().find(|s| {
            s.service == "ragmesh-retrieval"
                && s.name == step
                && s.parent_span_id == retrieve_rpc.span_id
        });
        // The cache lookup embedded the query already, so retrieval does not embed again.
        if step != "embed" {
            assert!(
                span.is_some(),
                "no {step} under Retrieve: {:?}",
                names(&spans)
            );
        }
    }
    let generate_rpc = find("ragmesh-generation", "ragmesh.v1.Generation/Generate");
    assert_eq!(
        parent_of(generate_rpc).map(|p| p.name.as_str()),
        Some("generate")
    );
    for (tier, lookup) in [
        ("cache.l1.exact", "cache.exact"),
        ("cache.l1.semantic", "cache.semantic"),
        ("ragmesh.v1.Retrieval/Embed", "cache.embed"),
    ] {
        let span = spans
            .iter()
            .find(|s| s.name == tier)
            .unwrap_or_else(|| panic!("no {tier}: {:?}", names(&spans)));
        assert_eq!(parent_of(span).map(|p| p.name.as_str()), Some(lookup));
    }
    for step in ["first_token", "prompt", "decode"] {
        let span = find("ragmesh-generation", step);
        assert_eq!(span.parent_span_id, generate_rpc.span_id, "{step}");
    }
    let rerank_rpc = find("ragmesh-rerank", "ragmesh.v1.Rerank/Rerank");
    assert_eq!(
        parent_of(rerank_rpc).map(|p| p.name.as_str()),
        Some("rerank")
    );

    // A client's trace is continued, not replaced.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let response = client()
        .post(format!("{base}/api/retrieve"))
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&json!({ "query": QUESTIONS[1].1, "collection": "traced" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["trace_id"], client_trace);
    let spans = wait_for_trace(&receiver, client_trace, &["POST /api/retrieve", "fusion"]).await;
    let http = spans
        .iter()
        .find(|s| s.name == "POST /api/retrieve")
        .unwrap_or_else(|| panic!("no gateway span in the client's trace: {:?}", names(&spans)));
    assert_eq!(http.parent_span_id, client_span);
    assert!(
        spans.iter().any(|s| s.service == "ragmesh-retrieval"),
        "{:?}",
        names(&spans)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_fails_no_query_and_the_loss_is_counted() {
    let _machine = machine::shared().await;
    let endpoint = CLOSED_URL;
    let data = tempfile::tempdir().unwrap();
    let mut env = FAST_GENERATION.to_vec();
    env.push(("RAGMESH__TELEMETRY__OTLP_ENDPOINT", endpoint));
    let process = RagmeshProcess::up(ragmesh_bin(), data.path(), &env);
    let base = process.url.clone();
    ingest_corpus(&base, "lost").await;
    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": QUESTIONS[2].1, "collection": "lost" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["trace_id"].as_str().map(str::len), Some(32));

    // The spans of that query cannot be delivered: counted, not retried forever or blocking.
    let start = Instant::now();
    loop {
        let text = metrics_text(&base).await;
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let failures = value("ragmesh_otel_export_failures_total");
        let dropped = value("ragmesh_otel_spans_dropped_total");
        assert!(
            failures.is_some() && dropped.is_some(),
            "counters not registered:\n{text}"
        );
        if failures > Some(0.0) && dropped > Some(0.0) {
            break;
        }
        assert!(
            start.elapsed() < ARRIVAL,
            "no export failure counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = post(
        &base,
        "/api/query",
        &json!({ "query": QUESTIONS[2].1, "collection": "lost" }),
    )
    .await;
    assert_eq!(status, 200);
}
