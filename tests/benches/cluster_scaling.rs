//! Cache-hit queries through the load balancer of a real `ragmesh cluster` with 1, 2 and 3
//! gateways, against the same query sent straight to one gateway (what the LB adds per
//! request) and a trivial axum handler behind the same LB (the ceiling the proxy itself
//! allows: the target is cache-hit rate ≥ 0.7 of it). Every row is measured in the
//! same run on the same machine; the markdown goes to docs/benchmarks.md.
//!
//! The ratio is measured in rounds: each round runs the trivial handler, the cache hit and the
//! trivial handler answering the hit's exact bytes back to back through the same LB, and the
//! median of the rounds' ratios is reported. On two shared cores the LB's own rate swings by a
//! quarter between consecutive passes, so a ratio of two passes minutes apart was mostly noise.
//!
//! `cargo bench --bench cluster_scaling` (release); without `--bench` a smoke run.
//! `RAGMESH_BENCH_HITS=N` requests per pass (default 3000), `RAGMESH_BENCH_CLIENTS=N`
//! concurrent clients (default 8), `RAGMESH_BENCH_ROUNDS=N` ratio rounds (default 5),
//! `RAGMESH_BENCH_BIN=PATH` another `ragmesh` binary.
#![allow(clippy::print_stdout)]

mod bench_http;
#[allow(dead_code)] // shared with query_latency, which uses the sample tables
mod latency_report;

use axum::routing::post as axum_post;
use bench_http::{BenchResult, corpus, hit_pass, post, wait_ready};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use latency_report::{Machine, env_count, load_average, percentile};
use ragmesh_gateway::answer_cache::cache_status::CACHE_STATUS;
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

/// The binary under test: `RAGMESH_BENCH_BIN` when set (to compare two builds, e.g. one with
/// `--no-default-features`), else the one cargo built for this bench.
fn bin() -> &'static Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("RAGMESH_BENCH_BIN")
            .map(Into::into)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ragmesh").into())
    })
}

/// A pass as a table row: requests, p50, p99, requests/s.
fn row(pass: &str, pass_samples: &(Vec<f64>, Duration)) -> String {
    let samples = &pass_samples.0;
    let p = |q| percentile(samples, q).map_or("-".into(), |v| format!("{v:.2}"));
    format!(
        "| {pass} | {} | {} | {} | {:.0} |",
        samples.len(),
        p(50.0),
        p(99.0),
        rate(pass_samples)
    )
}

/// What the trivial handler answers: a small JSON body shaped like a cache hit until the
/// cluster has made a real one, then that answer's exact bytes (set with `PUT /canned`).
type CannedBody = Arc<RwLock<Bytes>>;

/// The argument that makes this bench binary the trivial handler's process.
const SERVE_TRIVIAL: &str = "--serve-trivial";

/// The trivial handler's process (this binary, re-executed): it prints its address, then
/// answers `POST /api/query` with the canned body. A process of its own, like a gateway, so
/// that both ceilings and cache hits cross the same number of processes.
fn serve_trivial() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let canned: CannedBody = Arc::new(RwLock::new(Bytes::new()));
        let set = Arc::clone(&canned);
        // `/health/ready` too: the LB sends traffic only to upstreams that pass its health check.
        let app = axum::Router::new()
            .route("/health/ready", axum::routing::get(|| async { "ready" }))
            .route(
                "/api/query",
                axum_post(move || {
                    let body = canned.read().map(|b| b.clone()).unwrap_or_default();
                    async move {
                        (
                            [
                                (CONTENT_TYPE, "application/json"),
                                (CACHE_STATUS, "ragmesh; hit; detail=l1-exact"),
                            ],
                            body,
                        )
                    }
                }),
            )
            .route(
                "/canned",
                axum::routing::put(move |body: Bytes| async move {
                    if let Ok(mut canned) = set.write() {
                        *canned = body;
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        BenchResult::Ok(())
    })
}

/// The running trivial handler process; killed when dropped.
struct TrivialHandler {
    child: std::process::Child,
    addr: String,
}

impl TrivialHandler {
    fn start() -> BenchResult<TrivialHandler> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg(SERVE_TRIVIAL)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or("no stdout from the trivial handler")?;
        let mut addr = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut addr)?;
        let addr = addr.trim().to_string();
        if addr.is_empty() {
            let _ = child.kill();
            return Err("the trivial handler printed no address".into());
        }
        Ok(TrivialHandler { child, addr })
    }

    async fn answer_with(&self, body: &Bytes) -> BenchResult<()> {
        reqwest::Client::new()
            .put(format!("http://{}/canned", self.addr))
            .body(body.clone())
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

impl Drop for TrivialHandler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// One round of the three passes the ratio compares, in the same minute of the same run:
/// the trivial handler with a small body, the cache hit, the trivial handler with the hit's
/// exact bytes, all through the same LB.
struct Round {
    trivial: (Vec<f64>, Duration),
    hit: (Vec<f64>, Duration),
    same_bytes: (Vec<f64>, Duration),
}

fn rate((samples, wall): &(Vec<f64>, Duration)) -> f64 {
    samples.len() as f64 / wall.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() -> BenchResult<()> {
    if std::env::args().any(|a| a == SERVE_TRIVIAL) {
        return serve_trivial();
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let hits = env_count("RAGMESH_BENCH_HITS", if smoke { 40 } else { 3000 })?;
    let clients = env_count("RAGMESH_BENCH_CLIENTS", 8)?;
    let round_count = env_count("RAGMESH_BENCH_ROUNDS", if smoke { 1 } else { 5 })?;
    let machine = Machine::detect();
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();

    // The ceiling: Pingora (our LB) in front of a handler that does nothing.
    let small_body = Bytes::from(
        json!({ "answer": "ok", "cache": { "hit": true, "match": "exact" } }).to_string(),
    );
    let trivial = TrivialHandler::start()?;
    runtime.block_on(trivial.answer_with(&small_body))?;
    let upstream = trivial.addr.clone();
    let lb = RagmeshProcess::serve(bin(), "lb", &[("RAGMESH__LB__UPSTREAMS", &upstream)]);
    runtime.block_on(wait_ready(&lb.url))?;
    let trivial_url = format!("{}/api/query", lb.url);
    let trivial_direct = runtime.block_on(hit_pass(
        &format!("http://{upstream}/api/query"),
        &query(),
        "exact",
        hits,
        clients,
    ))?;
    rows.push(row("trivial axum handler, direct", &trivial_direct));

    let mut rounds: Vec<Round> = Vec::new();
    for gateways in 1..=3 {
        let cluster = cluster(gateways);
        let entry = cluster.entry_url.clone();
        let direct_url = format!("http://{}/api/query", cluster.addr("gateway-0"));
        let (direct, through) = runtime.block_on(async {
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
            if gateways > 1 {
                let through = hit_pass(&url, &query(), "exact", hits, clients).await?;
                return BenchResult::Ok((None, Some(through)));
            }
            let direct = hit_pass(&direct_url, &query(), "exact", hits, clients).await?;
            let hit_bytes = client
                .post(&url)
                .json(&query())
                .send()
                .await?
                .bytes()
                .await?;
            for _ in 0..round_count {
                trivial.answer_with(&small_body).await?;
                let small = hit_pass(&trivial_url, &query(), "exact", hits, clients)
                    .await
                    .inspect_err(|_| eprintln!("load balancer log tail:\n{}", lb.log_tail()))?;
                let hit = hit_pass(&url, &query(), "exact", hits, clients).await?;
                trivial.answer_with(&hit_bytes).await?;
                let same_bytes = hit_pass(&trivial_url, &query(), "exact", hits, clients).await?;
                rounds.push(Round {
                    trivial: small,
                    hit,
                    same_bytes,
                });
            }
            // With one gateway, the cache-hit row is the first round's pass.
            BenchResult::Ok((Some(direct), None))
        })?;
        if let (Some(direct), Some(first)) = (&direct, rounds.first()) {
            rows.push(row("trivial axum handler through the LB", &first.trivial));
            rows.push(row(
                "trivial axum handler through the LB, answering the cache hit's bytes",
                &first.same_bytes,
            ));
            rows.push(row("cache hit, straight to one gateway", direct));
        }
        if let Some(through) = through.as_ref().or(rounds.first().map(|r| &r.hit)) {
            rows.push(row(
                &format!("cache hit through the LB, {gateways} gateway(s)"),
                through,
            ));
        }
        drop(cluster);
    }
    drop(lb);
    drop(trivial);

    println!("### Load balancer: cache hits through Pingora, scaling the gateways\n");
    println!(
        "{}",
        machine.run_line(
            "cluster_scaling",
            &load_before,
            &format!(
                "{clients} concurrent clients, {hits} requests per pass, {round_count} rounds"
            )
        )
    );
    println!("| pass | requests | p50 ms | p99 ms | requests/s |");
    println!("|---|---|---|---|---|");
    for line in rows {
        println!("{line}");
    }
    println!(
        "\n(1 gateway: the first of {round_count} rounds; the ratios of every round follow.)\n"
    );
    println!(
        "| round | trivial via LB /s | cache hit via LB /s | trivial, same bytes, via LB /s | hit / trivial | hit / same bytes |"
    );
    println!("|---|---|---|---|---|---|");
    let (mut strict, mut same) = (Vec::new(), Vec::new());
    for (i, r) in rounds.iter().enumerate() {
        let (t, h, b) = (rate(&r.trivial), rate(&r.hit), rate(&r.same_bytes));
        strict.push(h / t);
        same.push(h / b);
        println!(
            "| {} | {t:.0} | {h:.0} | {b:.0} | {:.2} | {:.2} |",
            i + 1,
            h / t,
            h / b
        );
    }
    println!(
        "\nMedian over {} rounds: cache hit / trivial handler through the LB {:.2}; / trivial handler answering the same bytes {:.2}",
        rounds.len(),
        median(strict),
        median(same)
    );
    Ok(())
}
