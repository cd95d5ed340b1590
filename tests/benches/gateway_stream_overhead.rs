//! What the gateway adds to a streamed answer: the same question with the same contexts,
//! answered (a) by calling the generation service's `Generate` directly over gRPC and (b)
//! through `POST /api/query/stream` on the gateway, alternating, against the same generation
//! process (real SmolLM2, greedy, so both produce the same tokens). The gateway's own retrieval
//! step (from its profile) is subtracted, so the difference is the extra hop, SSE encoding and
//! citation handling. Services run as separate `ragmesh serve` processes.
//!
//! `cargo bench --bench gateway_stream_overhead` (prints a Markdown table for docs/benchmarks.md).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use ragmesh_proto::generation_client::GenerationClient;
use ragmesh_proto::{Context, GenerateRequest, generate_chunk};
use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const NEW_TOKENS: u32 = 32;
const QUESTION: &str = "In which town is the Zorblat festival held, and what do visitors eat?";

struct Timing {
    first_token_ms: f64,
    done_ms: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn direct(url: &str, request: &GenerateRequest) -> Timing {
    let mut client = GenerationClient::connect(url.to_string()).await.unwrap();
    let started = Instant::now();
    let mut stream = client.generate(request.clone()).await.unwrap().into_inner();
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        match chunk.unwrap().kind.unwrap() {
            generate_chunk::Kind::Token(_) => {
                first.get_or_insert_with(|| ms(started));
            }
            generate_chunk::Kind::Done(_) => {
                return Timing {
                    first_token_ms: first.unwrap_or_default(),
                    done_ms: ms(started),
                };
            }
        }
    }
    panic!("no Done");
}

/// Timings through the gateway, with its retrieval step already subtracted.
async fn via_gateway(client: &reqwest::Client, base: &str) -> Timing {
    let started = Instant::now();
    let mut response = client
        .post(format!("{base}/api/query/stream"))
        .json(&json!({ "query": QUESTION, "collection": "bench", "k": 2, "max_new_tokens": NEW_TOKENS }))
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    let mut first = None;
    while let Some(bytes) = response.chunk().await.unwrap() {
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        if first.is_none() && buffer.contains("event: token") {
            first = Some(ms(started));
        }
        if let Some(at) = buffer.find("event: done\ndata: ") {
            let done_ms = ms(started);
            let rest = &buffer[at + "event: done\ndata: ".len()..];
            let Some(end) = rest.find("\n\n") else {
                continue;
            };
            let done: Value = serde_json::from_str(&rest[..end]).unwrap();
            let retrieve = done["profile"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "retrieve")
                .and_then(|s| s["ms"].as_f64())
                .unwrap();
            return Timing {
                first_token_ms: first.unwrap_or(done_ms) - retrieve,
                done_ms: done_ms - retrieve,
            };
        }
    }
    panic!("no done event: {buffer}");
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ragmesh"));
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let generation =
        RagmeshProcess::serve(bin, "generation", &[("RAGMESH__GENERATION__THREADS", "2")]);
    let retrieval = RagmeshProcess::serve(
        bin,
        "retrieval",
        &[("RAGMESH__RETRIEVAL__DATA_DIR", &data_dir)],
    );
    // No reranker weights: it keeps retrieval order, but is needed for /health/ready.
    let rerank = RagmeshProcess::serve(bin, "rerank", &[]);
    let gateway = RagmeshProcess::serve(
        bin,
        "gateway",
        &[
            ("RAGMESH__GATEWAY__GENERATION_URL", &generation.url),
            ("RAGMESH__GATEWAY__RETRIEVAL_URL", &retrieval.url),
            ("RAGMESH__GATEWAY__RERANK_URL", &rerank.url),
            // Every round must run the pipeline: a cached answer would not stream from the model.
            ("RAGMESH__CACHE__ENABLED", "false"),
        ],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let base = gateway.url.clone();
    let rows = runtime.block_on(async {
        // Wait for models (generation loads SmolLM2, retrieval MiniLM).
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let ready = client.get(format!("{base}/health/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "services never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let documents = json!({ "documents": [
            { "source": "festivals.txt", "text": "The Zorblat festival is held every March in the town of Quenby. Visitors eat blue pancakes and watch a parade of paper boats." },
            { "source": "rivers.txt", "text": "The river Tamsel is 212 kilometres long and flows from the Orrin mountains to the Grey Sea." },
        ]});
        let r = client
            .post(format!("{base}/api/collections/bench/documents"))
            .json(&documents)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let sources: Value = client
            .post(format!("{base}/api/retrieve"))
            .json(&json!({ "query": QUESTION, "collection": "bench", "k": 2 }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let request = GenerateRequest {
            query: QUESTION.into(),
            contexts: sources["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Context {
                    index: s["index"].as_u64().unwrap() as u32,
                    source: s["source"].as_str().unwrap().into(),
                    text: s["text"].as_str().unwrap().into(),
                })
                .collect(),
            max_new_tokens: NEW_TOKENS,
            provider: String::new(),
            instruction: String::new(),
        };
        direct(&generation.url, &request).await; // warm-up
        via_gateway(&client, &base).await;
        let (mut d_first, mut d_done, mut g_first, mut g_done) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let d = direct(&generation.url, &request).await;
            let g = via_gateway(&client, &base).await;
            d_first.push(d.first_token_ms);
            d_done.push(d.done_ms);
            g_first.push(g.first_token_ms);
            g_done.push(g.done_ms);
        }
        (median(d_first), median(d_done), median(g_first), median(g_done))
    });
    let (d_first, d_done, g_first, g_done) = rows;
    println!("| path | first token ms | last token (done) ms |");
    println!("|---|---|---|");
    println!("| Generate over gRPC, direct | {d_first:.1} | {d_done:.1} |");
    println!("| gateway /api/query/stream, minus its retrieve step | {g_first:.1} | {g_done:.1} |");
    println!(
        "| gateway overhead | {:.1} | {:.1} |",
        g_first - d_first,
        g_done - d_done
    );
    drop(gateway);
    drop(retrieval);
    drop(rerank);
    drop(generation);
}
