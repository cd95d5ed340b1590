//! Cache-hit queries through the load balancer of a real `ragmesh cluster` with 1, 2 and 3
//! gateways, against the same query sent straight to one gateway (what the LB adds per
//! request) and a trivial axum handler behind the same LB (the ceiling the proxy itself
//! allows: the target is cache-hit rate ≥ 0.7 of it). Every row is measured in the
//! same run on the same machine; the markdown goes to docs/benchmarks.md.
//!
//! `cargo bench --bench cluster_scaling` (release); without `--bench` a smoke run.
//! `RAGMESH_BENCH_HITS=N` requests per pass (default 3000), `RAGMESH_BENCH_CLIENTS=N`
//! concurrent clients (default 8).
#![allow(clippy::print_stdout)]

mod bench_http;
#[allow(dead_code)] // shared with query_latency, which uses the sample tables
mod latency_report;

use axum::routing::post as axum_post;
use bench_http::{BenchResult, corpus, hit_pass, post, wait_ready};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use latency_report::{Machine, env_count, load_average, percentile};
use ragmesh_testkit::{Cluster, RagmeshProcess};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const COLLECTION: &str = "bench";
const QUESTION: &str = "Which Hawaiian shield volcano had a lava lake in its summit crater?";

fn query() -> Value {
    json!({ "query": QUESTION, "collection": COLLECTION })
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ragmesh"))
}

fn row(pass: &str, (samples, wall): &(Vec<f64>, Duration)) -> (String, f64) {
    let p = |q| percentile(samples, q).map_or("-".into(), |v| format!("{v:.2}"));
    let rate = samples.len() as f64 / wall.as_secs_f64();
    (
        format!(
            "| {pass} | {} | {} | {} | {rate:.0} |",
            samples.len(),
            p(50.0),
            p(99.0)
        ),
        rate,
    )
}

/// What the trivial handler answers: a small JSON body shaped like a cache hit until the
/// cluster has made a real one, then that answer's exact bytes.
type CannedBody = Arc<RwLock<Bytes>>;

/// A trivial handler answering like a cache hit, so the same pass measures it.
async fn trivial_upstream(body: CannedBody) -> BenchResult<String> {
    // `/health/ready` too: the LB sends traffic only to upstreams that pass its health check.
    let app = axum::Router::new()
        .route("/health/ready", axum::routing::get(|| async { "ready" }))
        .route(
            "/api/query",
            axum_post(move || {
                let body = body.read().map(|b| b.clone()).unwrap_or_default();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr.to_string())
}

/// `RAGMESH_BENCH_CLUSTER_ENV="K=V K2=V2"` passes settings to every member (to compare
/// configurations, e.g. `RAGMESH__TELEMETRY__LOG_LEVEL=warn`).
fn cluster(gateways: usize) -> Cluster {
    let g = gateways.to_string();
    let extra = std::env::var("RAGMESH_BENCH_CLUSTER_ENV").unwrap_or_default();
    let mut args: Vec<&str> = Vec::new();
    for pair in extra.split_whitespace() {
        args.extend(["--env", pair]);
    }
    args.extend([
        "--gateways",
        g.as_str(),
        "--retrieval-shards",
        "1",
        "--retrieval-replicas",
        "1",
        "--rerank",
        "1",
        "--generation",
        "1",
        "--env",
        "RAGMESH__GENERATION__MAX_NEW_TOKENS=16",
    ]);
    Cluster::up(bin(), &args)
}

fn main() -> BenchResult<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let hits = env_count("RAGMESH_BENCH_HITS", if smoke { 40 } else { 3000 })?;
    let clients = env_count("RAGMESH_BENCH_CLIENTS", 8)?;
    let machine = Machine::detect();
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();

    // The ceiling: Pingora (our LB) in front of a handler that does nothing.
    let canned: CannedBody = Arc::new(RwLock::new(Bytes::from(
        json!({ "answer": "ok", "cache": { "hit": true, "match": "exact" } }).to_string(),
    )));
    let upstream = runtime.block_on(trivial_upstream(Arc::clone(&canned)))?;
    let lb = RagmeshProcess::serve(bin(), "lb", &[("RAGMESH__LB__UPSTREAMS", &upstream)]);
    runtime.block_on(wait_ready(&lb.url))?;
    let trivial_direct = runtime.block_on(hit_pass(
        &format!("http://{upstream}/api/query"),
        &query(),
        "exact",
        hits,
        clients,
    ))?;
    let trivial_lb = runtime
        .block_on(hit_pass(
            &format!("{}/api/query", lb.url),
            &query(),
            "exact",
            hits,
            clients,
        ))
        .inspect_err(|_| eprintln!("load balancer log tail:\n{}", lb.log_tail()))?;
    rows.push(row("trivial axum handler, direct", &trivial_direct).0);
    let (line, ceiling) = row("trivial axum handler through the LB", &trivial_lb);
    rows.push(line);
    let mut same_bytes_ceiling = None;

    let mut rates = Vec::new();
    for gateways in 1..=3 {
        let cluster = cluster(gateways);
        let entry = cluster.entry_url.clone();
        let direct_url = format!("http://{}/api/query", cluster.addr("gateway-0"));
        let passes = runtime.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()?;
            post(
                &client,
                &format!("{entry}/api/collections/{COLLECTION}/documents"),
                &corpus()?,
            )
            .await?;
            // The first answer is generated and stored (L2 too), later ones are hits.
            post(&client, &format!("{entry}/api/query"), &query()).await?;
            let url = format!("{entry}/api/query");
            // Every gateway answers once from L2 and keeps the answer in its L1.
            hit_pass(&url, &query(), "exact", clients * gateways * 4, clients)
                .await
                .ok();
            let direct = if gateways == 1 {
                Some(hit_pass(&direct_url, &query(), "exact", hits, clients).await?)
            } else {
                None
            };
            let through = hit_pass(&url, &query(), "exact", hits, clients).await?;
            // The trivial handler again, now answering this cache hit's exact bytes.
            let same_bytes = if gateways == 1 {
                let hit = client
                    .post(&url)
                    .json(&query())
                    .send()
                    .await?
                    .bytes()
                    .await?;
                *canned.write().map_err(|_| "canned body lock poisoned")? = hit;
                Some(
                    hit_pass(
                        &format!("{}/api/query", lb.url),
                        &query(),
                        "exact",
                        hits,
                        clients,
                    )
                    .await?,
                )
            } else {
                None
            };
            BenchResult::Ok((direct, through, same_bytes))
        })?;
        if let Some(same) = &passes.2 {
            let (line, rate) = row(
                "trivial axum handler through the LB, answering the cache hit's bytes",
                same,
            );
            rows.push(line);
            same_bytes_ceiling = Some(rate);
        }
        if let Some(direct) = &passes.0 {
            rows.push(row("cache hit, straight to one gateway", direct).0);
        }
        let (line, rate) = row(
            &format!("cache hit through the LB, {gateways} gateway(s)"),
            &passes.1,
        );
        rows.push(line);
        rates.push(rate);
        drop(cluster);
    }

    println!("### Load balancer: cache hits through Pingora, scaling the gateways\n");
    println!(
        "{}",
        machine.run_line(
            "cluster_scaling",
            &load_before,
            &format!("{clients} concurrent clients, {hits} requests per pass")
        )
    );
    println!("| pass | requests | p50 ms | p99 ms | requests/s |");
    println!("|---|---|---|---|---|");
    for line in rows {
        println!("{line}");
    }
    drop(lb);
    if let Some(one) = rates.first() {
        println!(
            "\nCache hit through the LB (1 gateway) / trivial handler through the LB: {:.2}",
            one / ceiling
        );
        if let Some(same) = same_bytes_ceiling {
            println!(
                "Cache hit through the LB (1 gateway) / trivial handler answering the same bytes through the LB: {:.2}",
                one / same
            );
        }
    }
    Ok(())
}
