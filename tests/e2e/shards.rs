//! Sharded retrieval with replicas, with real processes: one gateway over one retrieval
//! shard, another over two shards (the first with two replicas), the same corpus in both.
//!
//! - both rank every query identically (ids and scores) for bm25, vector and hybrid, with and
//!   without filters; each shard holds exactly its own documents; a delete reaches the owner;
//! - killing one replica (SIGKILL) under a mixed load of queries and ingests fails no request;
//!   a write it missed that cannot be kept (handoff Redis down) is a 503, not a divergence;
//!   restarted, it catches up on the writes it missed (hinted handoff through Redis), in
//!   order, and serves reads alone;
//! - a shard with no replica alive is a 503 naming it.

use crate::support::{QUESTIONS, delete, get, ingest_corpus, metrics_text, post, ragmesh_bin};
use ragmesh_proto::v1::ListDocumentsRequest;
use ragmesh_proto::v1::retrieval_client::RetrievalClient;
use ragmesh_retrieval_client::owner_shard;
use ragmesh_testkit::{Readiness, Topology, machine};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const COLLECTION: &str = "sharded";

/// Retrieval shards with `replicas[i]` replicas each, behind one gateway (rerank and
/// generation are not needed for retrieval) whose handoff store is under `handoff_prefix` in
/// the shared Redis.
fn sharded(replicas: &[usize], handoff_prefix: &str) -> ragmesh_testkit::Stack {
    Topology::new(ragmesh_bin())
        .retrieval_shards(replicas, &[])
        .gateway(&[
            (
                "RAGMESH__GATEWAY__HANDOFF_REDIS_URL",
                "redis://127.0.0.1:6379",
            ),
            ("RAGMESH__GATEWAY__HANDOFF_KEY_PREFIX", handoff_prefix),
            ("RAGMESH__CACHE__ENABLED", "false"),
        ])
        .readiness(Readiness::Retrieval)
        .spawn()
}

/// (id, source, score) of the sources `/api/retrieve` returns, in order.
async fn ranked(base: &str, query: &str, method: &str, filters: &Value) -> Vec<(String, f64)> {
    let mut body = json!({ "query": query, "collection": COLLECTION, "method": method, "k": 8 });
    if !filters.is_null() {
        body["filters"] = filters.clone();
    }
    let (status, answer) = post(base, "/api/retrieve", &body).await;
    assert_eq!(status, 200, "{method} {filters}: {answer}");
    answer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!("{}#{}", s["source"].as_str().unwrap(), s["chunk"]),
                s["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

type Listing = Vec<(String, u32, BTreeMap<String, String>)>;

/// (source, chunks, metadata) of every document one replica holds, by source; Err while it
/// does not answer.
async fn try_documents_on(url: &str) -> Result<Listing, String> {
    let mut client = RetrievalClient::connect(url.to_string())
        .await
        .map_err(|e| e.to_string())?;
    let request = ListDocumentsRequest {
        collection: COLLECTION.into(),
    };
    match client.list_documents(request).await {
        Ok(listed) => Ok(listed
            .into_inner()
            .documents
            .into_iter()
            .map(|d| (d.source, d.chunks, d.metadata.into_iter().collect()))
            .collect()),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(Vec::new()),
        Err(status) => Err(format!("ListDocuments on {url}: {status}")),
    }
}

async fn documents_on(url: &str) -> Listing {
    try_documents_on(url).await.unwrap()
}

fn sources(docs: &Listing) -> Vec<String> {
    docs.iter().map(|d| d.0.clone()).collect()
}

/// A source name owned by shard `shard` (0-based) of two.
fn owned_by(shard: usize, stem: &str) -> String {
    (0..)
        .map(|i| format!("{stem}-{i}.md"))
        .find(|s| owner_shard(s, 2) == shard)
        .unwrap()
}

async fn ingest_one(base: &str, source: &str, text: &str, version: &str) -> (u16, Value) {
    let body = json!({ "documents": [{
        "source": source,
        "text": text,
        "metadata": { "version": version },
    }]});
    post(
        base,
        &format!("/api/collections/{COLLECTION}/documents"),
        &body,
    )
    .await
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_rank_as_one_and_a_shard_survives_losing_a_replica() {
    let _machine = machine::alone().await;
    let prefix = format!("ragmesh:test:shards:{}", std::process::id());
    let single = sharded(&[1], &prefix);
    // Shard 1 with two replicas (A and B), shard 2 with one.
    let mut cluster = sharded(&[2, 1], &prefix);
    let one = single.gateway().url.clone();
    let two = cluster.gateway().url.clone();
    // The same cluster seen by a gateway whose handoff Redis is down (a closed port).
    let no_redis =
        cluster.add_gateway(&[("RAGMESH__GATEWAY__HANDOFF_REDIS_URL", "redis://127.0.0.1:9")]);
    single.wait_ready().await;
    cluster.wait_ready().await;
    ingest_corpus(&one, COLLECTION).await;
    let report = ingest_corpus(&two, COLLECTION).await;
    assert_eq!(report["documents"], 4, "{report}");

    // 1. Two shards rank exactly as one, with and without filters.
    let filter_sets = [
        Value::Null,
        json!({ "language": "en" }),
        json!({ "source": "sicilian.md" }),
    ];
    for (_, question) in QUESTIONS {
        for method in ["bm25", "vector", "hybrid"] {
            for filters in &filter_sets {
                let expected = ranked(&one, question, method, filters).await;
                let got = ranked(&two, question, method, filters).await;
                // (BM25 restricted to one document may rightly find nothing.)
                let may_be_empty = method == "bm25" && filters.get("source").is_some();
                assert!(
                    may_be_empty || !expected.is_empty(),
                    "{method} {filters}: nothing found"
                );
                let ids = |r: &[(String, f64)]| r.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
                assert_eq!(ids(&got), ids(&expected), "{method} {filters} {question}");
                for ((id, a), (_, b)) in expected.iter().zip(&got) {
                    assert!((a - b).abs() < 1e-4, "{method} {filters} {id}: {a} vs {b}");
                }
            }
        }
    }

    // 2. Each shard holds its own documents; the union is the corpus; listings add up.
    let mut own: [Vec<String>; 2] = Default::default();
    for (source, _) in QUESTIONS {
        own[owner_shard(source, 2)].push(source.to_string());
    }
    own.iter_mut().for_each(|v| v.sort());
    assert!(own.iter().all(|v| !v.is_empty()), "{own:?}");
    assert_eq!(
        sources(&documents_on(&cluster.retrieval[0][0].url).await),
        own[0]
    );
    assert_eq!(
        sources(&documents_on(&cluster.retrieval[0][1].url).await),
        own[0]
    );
    assert_eq!(
        sources(&documents_on(&cluster.retrieval[1][0].url).await),
        own[1]
    );
    let (_, listed_one) = get(&one, "/api/collections").await;
    let (_, listed_two) = get(&two, "/api/collections").await;
    assert_eq!(listed_one["collections"], listed_two["collections"]);
    let path = format!("/api/collections/{COLLECTION}/documents");
    let (status, docs) = get(&two, &path).await;
    assert_eq!(status, 200, "{docs}");
    assert_eq!(docs["documents"].as_array().unwrap().len(), 4, "{docs}");

    // Backups through the gateway need one shard; the answer says what to do instead.
    let (status, body) = post(
        &two,
        &format!("/api/collections/{COLLECTION}/backup"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("back up each shard from one of its replicas"),
        "{body}"
    );

    // 3. A delete goes to the owner shard only.
    let victim = &own[1][0];
    let (status, deleted) = delete(&two, &format!("{path}?source={victim}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert!(deleted["chunks_deleted"].as_u64().unwrap() > 0, "{deleted}");
    assert!(!sources(&documents_on(&cluster.retrieval[1][0].url).await).contains(victim));
    assert_eq!(
        sources(&documents_on(&cluster.retrieval[0][0].url).await),
        own[0]
    );

    // 4. One replica of shard 1 dies (SIGKILL) under a steady mixed load of queries and
    //    ingests: no request fails, and the dead replica is ejected.
    let query = json!({ "query": QUESTIONS[0].1, "collection": COLLECTION, "k": 3 });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            let (base, query, stop) = (two.clone(), query.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut sent, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, body) = if worker == 0 && sent % 4 == 0 {
                        let source = format!("load-{worker}-{}.md", sent % 8);
                        let text = format!("Load document {sent} about lava and starters.");
                        ingest_one(&base, &source, &text, "load").await
                    } else {
                        post(&base, "/api/retrieve", &query).await
                    };
                    sent += 1;
                    if status != 200 {
                        failed.push(format!("{status}: {body}"));
                    }
                }
                (sent, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.retrieval[0][0].kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut sent, mut failed) = (0, Vec::new());
    for worker in workers {
        let (n, f) = worker.await.unwrap();
        sent += n;
        failed.extend(f);
    }
    eprintln!("mixed load: {sent} requests, {} failed", failed.len());
    assert!(sent >= 30, "only {sent} requests in {:?}", killed.elapsed());
    assert!(
        failed.len() as f64 <= f64::from(sent) * 0.001,
        "{} of {sent} requests failed: {failed:?}",
        failed.len()
    );
    let kept = owned_by(0, "kept");
    let dropped = owned_by(0, "dropped");
    for (source, text, version) in [
        (
            &kept,
            "Basalt columns form as thick lava flows cool slowly.",
            "1",
        ),
        (&dropped, "Temporary note about starters.", "1"),
        (
            &kept,
            "Basalt columns form as thick lava flows cool and crack into prisms.",
            "2",
        ),
    ] {
        let (status, body) = ingest_one(&two, source, text, version).await;
        assert_eq!(status, 200, "ingest {source} v{version}: {body}");
    }
    let (status, body) = delete(&two, &format!("{path}?source={dropped}")).await;
    assert_eq!(status, 200, "{body}");
    let text = metrics_text(&two).await;
    assert!(
        metric(
            &text,
            "ragmesh_backend_ejections_total{backend=\"retrieval-shard-1\"}"
        ) >= 1.0,
        "the dead replica was ejected"
    );
    // Without Redis the missed write cannot be kept: a 503 naming the shard, not a silent
    // divergence; sent again through a gateway that reaches Redis, it is kept.
    let retried = owned_by(0, "retried");
    let (status, body) =
        ingest_one(&no_redis.url, &retried, "Obsidian is volcanic glass.", "1").await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("retrieval shard 1 of 2 is unavailable")
            && message.contains("retry the request"),
        "{message}"
    );
    let (status, body) = ingest_one(&two, &retried, "Obsidian is volcanic glass.", "1").await;
    assert_eq!(status, 200, "{body}");
    let survivor = documents_on(&cluster.retrieval[0][1].url).await;
    assert!(sources(&survivor).contains(&retried));
    assert!(sources(&survivor).contains(&kept));
    assert!(!sources(&survivor).contains(&dropped));

    // 5. Restarted where the gateway looks for it, it catches up on what it missed, in order.
    cluster.restart_retrieval(0, 0);
    let start = Instant::now();
    loop {
        let caught_up = try_documents_on(&cluster.retrieval[0][0].url).await;
        if caught_up.as_ref() == Ok(&survivor) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "replica never caught up: {caught_up:?} vs {survivor:?}\n{}",
            cluster.gateway().log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let kept_doc = survivor.iter().find(|d| d.0 == kept).unwrap();
    assert_eq!(kept_doc.2["version"], "2", "the later version won");

    // 6. It serves reads alone once its peer is gone.
    cluster.retrieval[0][1].kill();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let only_kept = json!({
        "query": "basalt lava prisms",
        "collection": COLLECTION,
        "method": "bm25",
        "k": 3,
        "filters": { "source": kept },
    });
    let (status, body) = post(&two, "/api/retrieve", &only_kept).await;
    assert_eq!(status, 200, "{body}");
    let text = body["sources"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("prisms"), "{body}");

    // 7. A shard with no replica alive: a 503 naming it, for reads and for its writes.
    cluster.retrieval[1][0].kill();
    let (status, body) = post(&two, "/api/retrieve", &query).await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("retrieval shard 2 of 2 is unavailable"),
        "{message}"
    );
    let (status, body) = ingest_one(&two, &owned_by(1, "late"), "Late text.", "1").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("retrieval shard 2 of 2 is unavailable"),
        "{body}"
    );
    drop((no_redis, cluster, single));
    ragmesh_testkit::delete_redis_keys(&prefix);
}
