//! `ragmesh serve lb` as a process in front of two trivial HTTP upstreams: the ready file,
//! round robin, SIGHUP re-reading the configuration file, `/metrics`, a span per request
//! exported over OTLP as the child of the client's `traceparent`, and a clean SIGTERM.

use ragmesh_testkit::{OtlpReceiver, RagmeshProcess, machine};
use std::collections::HashMap;
use std::time::Duration;

/// An upstream that answers `/who` with its name and `/health/ready` with 200.
async fn upstream(name: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = axum::Router::new()
        .route("/who", axum::routing::get(move || async move { name }))
        .route("/health/ready", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn spread(lb: &str, n: usize) -> HashMap<String, usize> {
    let client = crate::support::client();
    let mut seen = HashMap::new();
    for _ in 0..n {
        let response = client.get(format!("{lb}/who")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        *seen.entry(response.text().await.unwrap()).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_lb_balances_reloads_on_sighup_exports_spans_and_stops_on_sigterm() {
    let _machine = machine::shared().await;
    let a = upstream("a").await;
    let b = upstream("b").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ragmesh.toml");
    std::fs::write(&config, format!("[lb]\nupstreams = \"{a},{b}\"\n")).unwrap();
    let config_path = config.display().to_string();
    let receiver = OtlpReceiver::start().await;
    let mut lb = RagmeshProcess::serve(
        crate::support::ragmesh_bin(),
        "lb",
        &[
            ("RAGMESH_CONFIG", config_path.as_str()),
            (
                "RAGMESH__TELEMETRY__OTLP_ENDPOINT",
                receiver.endpoint.as_str(),
            ),
            ("RAGMESH__LB__METRICS_LISTEN", "127.0.0.1:0"),
            ("RAGMESH__LB__SHUTDOWN_GRACE_MS", "2000"),
        ],
    );
    let seen = spread(&lb.url, 10).await;
    assert_eq!(seen.get("a"), Some(&5), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&5), "{seen:?}");

    std::fs::write(&config, format!("[lb]\nupstreams = \"{b}\"\n")).unwrap();
    lb.hangup();
    let start = std::time::Instant::now();
    loop {
        let seen = spread(&lb.url, 4).await;
        if seen.get("b") == Some(&4) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload: {seen:?}"
        );
    }

    let metrics_url = lb.metrics_url.clone().unwrap();
    let text = crate::support::metrics_text(&metrics_url).await;
    assert!(
        text.contains(&format!(
            "ragmesh_lb_requests_total{{upstream=\"{b}\",status=\"200\"}}"
        )),
        "{text}"
    );

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = crate::support::client()
        .get(format!("{}/who", lb.url))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert!(lb.stop(Duration::from_secs(10)), "{}", lb.log_tail());
    // Stopping flushes the spans still queued; allow the receiver a bounded moment.
    let start = std::time::Instant::now();
    let span = loop {
        if let Some(span) = receiver
            .trace(trace_id)
            .into_iter()
            .find(|s| s.name == "GET /who")
        {
            break span;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no lb span exported: {:?}",
            receiver.spans()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(span.parent_span_id, "00f067aa0ba902b7");
}
