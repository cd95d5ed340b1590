//! The load balancer as a user sees it: real sockets, upstream doubles, the Pingora proxy on
//! its own thread. Every wait is bounded (support::WAIT); no test asserts on timing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc;
mod support;

use ragmesh_config::LbSelection;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_requests_and_propagates_the_trace() {
    let doubles = [
        HttpDouble::start("a"),
        HttpDouble::start("b"),
        HttpDouble::start("c"),
    ];
    let addrs: Vec<_> = doubles.iter().map(|d| d.addr).collect();
    let (lb, shutdown) = start_lb(&addrs, |_| {}).await;
    for _ in 0..30 {
        let (status, _) = get_text(&lb, "/who").await;
        assert_eq!(status, 200);
    }
    for double in &doubles {
        assert_eq!(
            double.hits(),
            10,
            "upstream {} got an unfair share",
            double.name
        );
    }

    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = client()
        .get(format!("http://{}/who", lb.addr))
        .header("traceparent", incoming)
        .send()
        .await
        .unwrap();
    let who = response.text().await.unwrap();
    let double = doubles.iter().find(|d| d.name == who).unwrap();
    let seen = double.shared.last_traceparent.lock().clone().unwrap();
    assert!(
        seen.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{seen}"
    );
    assert_ne!(
        seen, incoming,
        "the balancer's own span is the upstream's parent"
    );
    // Without one, the balancer starts a trace.
    get_text(&lb, "/who").await;
    let started = doubles
        .iter()
        .filter_map(|d| d.shared.last_traceparent.lock().clone())
        .any(|tp| !tp.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert!(started);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_prefers_the_idle_upstream() {
    let busy = HttpDouble::start("busy");
    let idle = HttpDouble::start("idle");
    let (lb, shutdown) = start_lb(&[busy.addr, idle.addr], |s| {
        s.selection = LbSelection::LeastConnections;
    })
    .await;
    // The first pick is the first upstream: park a request there.
    let url = format!("http://{}/hold", lb.addr);
    let parked = tokio::spawn(async move { client().get(url).send().await.unwrap().text().await });
    busy.wait_held(1).await;
    for _ in 0..6 {
        let (status, who) = get_text(&lb, "/who").await;
        assert_eq!((status, who.as_str()), (200, "idle"));
    }
    busy.release();
    assert_eq!(parked.await.unwrap().unwrap(), "busy");
    assert_eq!(busy.hits(), 1);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upstream_fails_no_request_is_ejected_and_rejoins_after_restart() {
    let mut doomed = HttpDouble::start("doomed");
    let survivor = HttpDouble::start("survivor");
    let (lb, shutdown) = start_lb(&[doomed.addr, survivor.addr], |s| {
        s.eject_ms = 300;
    })
    .await;
    for _ in 0..4 {
        assert_eq!(get_text(&lb, "/who").await.0, 200);
    }
    assert!(doomed.hits() > 0);
    doomed.kill();
    for _ in 0..20 {
        let (status, who) = get_text(&lb, "/who").await;
        assert_eq!(
            (status, who.as_str()),
            (200, "survivor"),
            "a request failed"
        );
    }
    let label = doomed.addr.to_string();
    let healthy = format!("ragmesh_lb_upstream_healthy{{upstream=\"{label}\"}}");
    wait_until("the killed upstream reported unhealthy", || async {
        sample(&metrics(&lb).await, &healthy) == Some(0.0)
    })
    .await;
    let text = metrics(&lb).await;
    let retries = format!("ragmesh_lb_retries_total{{upstream=\"{label}\"}}");
    let ejections = format!("ragmesh_lb_ejections_total{{upstream=\"{label}\"}}");
    assert!(sample(&text, &retries).unwrap() >= 1.0, "{text}");
    assert!(sample(&text, &ejections).unwrap() >= 1.0, "{text}");

    let before = doomed.hits();
    doomed.restart();
    wait_until("the restarted upstream healthy again", || async {
        sample(&metrics(&lb).await, &healthy) == Some(1.0)
    })
    .await;
    wait_until("requests reach the restarted upstream", || async {
        assert_eq!(get_text(&lb, "/who").await.0, 200);
        doomed.hits() > before
    })
    .await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_pass_through_unbuffered() {
    use futures::StreamExt;
    let upstream = HttpDouble::start("sse");
    let (lb, shutdown) = start_lb(&[upstream.addr], |_| {}).await;
    let response = client()
        .get(format!("http://{}/sse", lb.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The upstream holds the stream open after its first event: that event must arrive now.
    tokio::time::timeout(WAIT, async {
        while !seen.contains("data: first") {
            let chunk = body.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the first event did not arrive while the stream was open");
    assert!(!seen.contains("last"));
    upstream.wait_held(1).await;
    upstream.release();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.contains("data: last"), "{seen}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_upstreams_without_dropping_a_slow_request() {
    let old = HttpDouble::start("old");
    let kept = HttpDouble::start("kept");
    let new = HttpDouble::start("new");
    let (lb, shutdown) = start_lb(&[old.addr, kept.addr], |_| {}).await;
    let url = format!("http://{}/hold", lb.addr);
    let slow = tokio::spawn(async move { client().get(url).send().await.unwrap() });
    old.wait_held(1).await;

    // Over the admin API, as an operator would.
    let admin = lb.admin_addr.unwrap();
    let body = serde_json::json!({ "upstreams": join(&[kept.addr, new.addr]) });
    let response = client()
        .put(format!("http://{admin}/upstreams"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed: serde_json::Value = response.json().await.unwrap();
    let labels: Vec<&str> = listed["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["upstream"].as_str().unwrap())
        .collect();
    assert_eq!(labels, [kept.addr.to_string(), new.addr.to_string()]);

    for _ in 0..6 {
        let (status, who) = get_text(&lb, "/who").await;
        assert_eq!(status, 200);
        assert_ne!(who, "old");
    }
    assert!(new.hits() > 0 && kept.hits() > 0);
    old.release();
    let slow = slow.await.unwrap();
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.text().await.unwrap(), "old");

    // A bad list is refused and changes nothing.
    let response = client()
        .put(format!("http://{admin}/upstreams"))
        .json(&serde_json::json!({ "upstreams": "no-port" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(lb.upstreams().len(), 2);
    // The library call does the same.
    let settings = ragmesh_config::LbSettings {
        upstreams: old.addr.to_string(),
        ..Default::default()
    };
    assert_eq!(lb.reload(&settings).await.unwrap(), [old.addr.to_string()]);
    assert_eq!(get_text(&lb, "/who").await.1, "old");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_drains_the_request_in_flight() {
    let upstream = HttpDouble::start("drain");
    let (lb, shutdown) = start_lb(&[upstream.addr], |_| {}).await;
    let addr = lb.addr;
    let url = format!("http://{addr}/hold");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.unwrap() });
    upstream.wait_held(1).await;
    assert_eq!(lb.in_flight(), 1);
    shutdown.cancel();
    let stopped = tokio::spawn(lb.stopped());
    wait_until("the balancer stops accepting", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(
        !stopped.is_finished(),
        "stopped before the request finished"
    );
    upstream.release();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "drain");
    assert!(stopped.await.unwrap(), "the request in flight was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_mode_resolves_a_name_to_its_addresses() {
    let upstream = HttpDouble::start("dns");
    let name = format!("localhost:{}", upstream.addr.port());
    let (lb, shutdown) = start_lb(&[], |s| {
        s.upstreams_dns = name.clone();
        s.dns_refresh_ms = 100;
    })
    .await;
    let labels: Vec<String> = lb.upstreams().into_iter().map(|u| u.upstream).collect();
    assert!(labels.contains(&upstream.addr.to_string()), "{labels:?}");
    for _ in 0..5 {
        assert_eq!(get_text(&lb, "/who").await, (200, "dns".to_string()));
    }
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_export_every_series_the_dashboard_and_alert_read() {
    let upstream = HttpDouble::start("metrics");
    let (lb, shutdown) = start_lb(&[upstream.addr], |_| {}).await;
    assert_eq!(get_text(&lb, "/who").await.0, 200);
    let label = upstream.addr.to_string();
    let text = metrics(&lb).await;
    for series in [
        format!("ragmesh_lb_upstream_healthy{{upstream=\"{label}\"}}"),
        format!("ragmesh_lb_requests_total{{upstream=\"{label}\",status=\"200\"}}"),
        format!("ragmesh_lb_retries_total{{upstream=\"{label}\"}}"),
        format!("ragmesh_lb_ejections_total{{upstream=\"{label}\"}}"),
        format!("ragmesh_lb_request_duration_seconds_bucket{{upstream=\"{label}\",le=\"+Inf\"}}"),
    ] {
        assert!(
            sample(&text, &series).is_some(),
            "{series} missing:\n{text}"
        );
    }
    shutdown.cancel();
}

/// An upstream that answers the first request on each connection and closes the connection
/// when a second request arrives on it, as a keep-alive connection closed by its server just
/// when the balancer reuses it from its pool. Returns its address and how many connections
/// it accepted.
async fn closes_reused_connections() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                let mut answered = false;
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..n]);
                    // Bodies here are tiny and arrive with their header: one request per
                    // header end seen.
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        if answered {
                            return; // the reused connection: closed without a byte
                        }
                        seen.drain(..end + 4);
                        seen.clear();
                        answered = true;
                        let body = "fresh";
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        socket.write_all(head.as_bytes()).await.unwrap();
                        socket.write_all(body.as_bytes()).await.unwrap();
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_retried_fresh_and_blames_nobody() {
    let (upstream, accepted) = closes_reused_connections().await;
    let (lb, shutdown) = start_lb(&[upstream], |s| {
        s.eject_after_failures = 1;
        // No health checks in between to mark it healthy again: only requests count.
        s.health_interval_ms = 60_000;
    })
    .await;
    for round in 0..5 {
        let response = client()
            .post(format!("http://{}/api/query", lb.addr))
            .body(r#"{"query":"q"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {round}");
        assert_eq!(response.text().await.unwrap(), "fresh");
    }
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "connections were pooled and reused"
    );
    let text = metrics(&lb).await;
    let label = upstream.to_string();
    let ejections = format!("ragmesh_lb_ejections_total{{upstream=\"{label}\"}}");
    assert_eq!(sample(&text, &ejections).unwrap_or(0.0), 0.0, "{text}");
    let errors = format!("ragmesh_lb_requests_total{{upstream=\"{label}\",status=\"error\"}}");
    assert_eq!(sample(&text, &errors).unwrap_or(0.0), 0.0, "{text}");
    shutdown.cancel();
}
