//! What the balancer costs: requests/s and latency percentiles of a trivial axum handler
//! called directly and through the balancer, by the same concurrent clients in the same run.
//!
//! `cargo bench -p ragmesh-lb --bench lb_overhead` (env `LB_BENCH_CLIENTS`, default 16, and
//! `LB_BENCH_SECS` per mode, default 5). Results are recorded in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use ragmesh_config::Settings;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(url: String, clients: usize, secs: u64) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    // Warm the connections up.
    for _ in 0..clients {
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let response = client.get(&url).send().await.unwrap();
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap();
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    Run {
        requests: all.len(),
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn main() {
    let clients = env_or("LB_BENCH_CLIENTS", 16) as usize;
    let secs = env_or("LB_BENCH_SECS", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hello", axum::routing::get(|| async { "hello" }))
            .route("/health/ready", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut settings = Settings::default();
        settings.lb.listen = "127.0.0.1:0".into();
        settings.lb.upstreams = upstream.to_string();
        let shutdown = CancellationToken::new();
        let lb = ragmesh_lb::spawn(settings, shutdown.clone()).await.unwrap();

        let direct = load(format!("http://{upstream}/hello"), clients, secs).await;
        let through = load(format!("http://{}/hello", lb.addr), clients, secs).await;
        println!(
            "{clients} concurrent clients, {secs} s per mode, 1-thread upstream, 1-thread balancer"
        );
        println!("| path | requests | requests/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        for (name, run) in [("direct", &direct), ("through the LB", &through)] {
            println!(
                "| {name} | {} | {:.0} | {:.2} | {:.2} |",
                run.requests, run.rps, run.p50_ms, run.p99_ms
            );
        }
        println!(
            "added latency p50 {:.2} ms, p99 {:.2} ms",
            through.p50_ms - direct.p50_ms,
            through.p99_ms - direct.p99_ms
        );
        shutdown.cancel();
    });
}
