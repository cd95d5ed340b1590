//! Acknowledged means durable: a real `ragmesh serve retrieval` takes ingest batches and
//! deletes over gRPC and is killed with SIGKILL at random moments, at least 20 times, then
//! restarted on the same data directory. After every restart each acknowledged document is
//! listed and each acknowledged delete stays deleted; at the end every surviving document is
//! found whole by BM25 (its unique marker), vector and hybrid (its own chunk text), all three
//! legs hold exactly the same chunks as the chunk store, and a re-ingest of each document
//! adds nothing (so none was half-indexed). Documents whose request was in flight at a kill
//! may be present or absent, but only whole. The seed is printed; `RAGMESH_TEST_SEED`
//! replays a run.
#![allow(clippy::print_stdout)]

use crate::support::*;
use parking_lot::Mutex;
use ragmesh_proto::retrieval_client::RetrievalClient;
use ragmesh_proto::{
    DeleteRequest, Document, IngestRequest, ListCollectionsRequest, ListDocumentsRequest, Method,
    RetrieveRequest, ScoredChunk,
};
use ragmesh_testkit::{RagmeshProcess, machine};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const COLLECTION: &str = "durable";
const KILLS: usize = 22;
/// Longest random wait between the first request of a round and the kill.
const MAX_KILL_DELAY_MS: u64 = 1_500;
/// Bound on every RPC (start-up included: the first call waits for the model to load).
const RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(20 * 60);

const SENTENCES: &[&str] = &[
    "Glaciers carve deep valleys as they slowly move downhill over many centuries.",
    "A sourdough starter needs regular feeding with flour and water to stay active.",
    "The orchestra tuned their instruments before the evening symphony began.",
    "Tidal pools shelter small crabs, anemones and starfish between the rocks.",
    "Compilers translate source code into machine instructions for the processor.",
    "Migrating geese fly in a V formation to save energy on long journeys.",
    "Volcanic soil is rich in minerals and supports vineyards on steep slopes.",
    "The library catalogued rare manuscripts in a climate controlled vault.",
];

/// What the test knows about a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Ingest acknowledged (or found stored after a restart): must be present.
    Present,
    /// Delete acknowledged (or never stored): must be absent.
    Absent,
    /// The request was in flight when the process died: either, but whole.
    InFlight,
}

#[derive(Default, Clone)]
struct Ledger {
    texts: BTreeMap<String, String>,
    known: BTreeMap<String, Known>,
    acked_ingests: usize,
    acked_deletes: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A marker word no other document contains (letters only, so it is one BM25 term).
fn marker(n: usize) -> String {
    let mut word = String::from("zq");
    let mut n = n + 26 * 26;
    while n > 0 {
        word.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    word.push_str("vx");
    word
}

/// Four paragraphs, each opening and closing with the marker, so every chunk carries it.
fn document_text(n: usize) -> String {
    let m = marker(n);
    (0..4)
        .map(|p| format!("{m} {} {m}", SENTENCES[(n * 3 + p) % SENTENCES.len()]))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn source(n: usize) -> String {
    format!("doc-{n:04}.txt")
}

fn start(data_dir: &str) -> RagmeshProcess {
    RagmeshProcess::serve(
        ragmesh_bin(),
        "retrieval",
        &[
            ("RAGMESH__RETRIEVAL__DATA_DIR", data_dir),
            ("RAGMESH__RETRIEVAL__CHUNK_TOKENS", "32"),
            ("RAGMESH__RETRIEVAL__CHUNK_OVERLAP_TOKENS", "4"),
            ("RAGMESH__RETRIEVAL__METRICS_LISTEN", "127.0.0.1:0"),
        ],
    )
}

async fn connect(process: &RagmeshProcess) -> RetrievalClient<Channel> {
    let channel = Channel::from_shared(process.url.clone())
        .unwrap()
        .timeout(RPC_TIMEOUT)
        .connect()
        .await
        .unwrap();
    let mut client = RetrievalClient::new(channel).max_decoding_message_size(64 << 20);
    // Answers once the model is loaded and the collections are opened (and reconciled).
    client
        .list_collections(ListCollectionsRequest {})
        .await
        .unwrap_or_else(|e| panic!("retrieval never served: {e}\n{}", process.log_tail()));
    client
}

/// Sources and chunk counts the chunk store lists.
async fn listed(client: &mut RetrievalClient<Channel>) -> BTreeMap<String, u32> {
    let collections = client
        .list_collections(ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    if !collections.collections.iter().any(|c| c.name == COLLECTION) {
        return BTreeMap::new();
    }
    let documents = client
        .list_documents(ListDocumentsRequest {
            collection: COLLECTION.into(),
        })
        .await
        .unwrap()
        .into_inner();
    documents
        .documents
        .into_iter()
        .map(|d| (d.source, d.chunks))
        .collect()
}

async fn retrieve(
    client: &mut RetrievalClient<Channel>,
    query: &str,
    method: Method,
    only: Option<&str>,
) -> Vec<ScoredChunk> {
    let filters: HashMap<String, String> = only
        .map(|s| [("source".to_string(), s.to_string())].into())
        .unwrap_or_default();
    client
        .retrieve(RetrieveRequest {
            collection: COLLECTION.into(),
            query: query.into(),
            k: 50,
            method: method as i32,
            filters,
            ..RetrieveRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .chunks
}

/// Ingests new documents and deletes present ones until the process dies, recording each
/// operation as in flight before it is sent and as acknowledged after the reply.
async fn write_until_killed(
    mut client: RetrievalClient<Channel>,
    ledger: Arc<Mutex<Ledger>>,
    mut next_doc: usize,
    mut rng: Rng,
) {
    loop {
        let victim = {
            let ledger = ledger.lock();
            let present: Vec<&String> = ledger
                .known
                .iter()
                .filter(|(_, k)| **k == Known::Present)
                .map(|(s, _)| s)
                .collect();
            (present.len() > 4 && rng.below(4) == 0)
                .then(|| present[rng.below(present.len() as u64) as usize].clone())
        };
        if let Some(victim) = victim {
            ledger.lock().known.insert(victim.clone(), Known::InFlight);
            let request = DeleteRequest {
                collection: COLLECTION.into(),
                source: victim.clone(),
            };
            if client.delete(request).await.is_err() {
                return;
            }
            let mut ledger = ledger.lock();
            ledger.known.insert(victim, Known::Absent);
            ledger.acked_deletes += 1;
            continue;
        }
        let batch: Vec<usize> = (next_doc..next_doc + 2).collect();
        next_doc += batch.len();
        let documents: Vec<Document> = batch
            .iter()
            .map(|&n| Document {
                source: source(n),
                text: document_text(n),
                metadata: HashMap::new(),
            })
            .collect();
        {
            let mut ledger = ledger.lock();
            for d in &documents {
                ledger.texts.insert(d.source.clone(), d.text.clone());
                ledger.known.insert(d.source.clone(), Known::InFlight);
            }
        }
        let request = IngestRequest {
            collection: COLLECTION.into(),
            documents: documents.clone(),
        };
        if client.ingest(request).await.is_err() {
            return;
        }
        let mut ledger = ledger.lock();
        for d in &documents {
            ledger.known.insert(d.source.clone(), Known::Present);
        }
        ledger.acked_ingests += 1;
    }
}

/// After a restart: acknowledged state holds, and in-flight documents are resolved to what
/// the store shows (from then on they must stay so).
fn check_listing(ledger: &mut Ledger, listing: &BTreeMap<String, u32>, round: usize) {
    for (source, known) in ledger.known.iter_mut() {
        let stored = listing.contains_key(source);
        match known {
            Known::Present => assert!(stored, "round {round}: acknowledged {source} is lost"),
            Known::Absent => assert!(!stored, "round {round}: deleted {source} is back"),
            Known::InFlight => {
                *known = if stored {
                    Known::Present
                } else {
                    Known::Absent
                }
            }
        }
    }
    for source in listing.keys() {
        assert!(
            ledger.known.contains_key(source),
            "round {round}: unknown {source}"
        );
    }
}

fn ids(chunks: &[ScoredChunk]) -> BTreeSet<String> {
    chunks.iter().map(|c| c.id.clone()).collect()
}

/// One stored document: whole in every leg, and nothing of it is missing.
async fn check_present(
    client: &mut RetrievalClient<Channel>,
    source: &str,
    text: &str,
    listed_chunks: u32,
) {
    let m = text.split_whitespace().next().unwrap();
    let bm25 = retrieve(client, m, Method::Bm25, Some(source)).await;
    let vector = retrieve(client, text, Method::Vector, Some(source)).await;
    let hybrid = retrieve(client, text, Method::Hybrid, Some(source)).await;
    assert_eq!(
        bm25.len() as u32,
        listed_chunks,
        "{source}: bm25 vs chunk store"
    );
    assert_eq!(ids(&bm25), ids(&vector), "{source}: bm25 vs vector chunks");
    assert_eq!(ids(&bm25), ids(&hybrid), "{source}: bm25 vs hybrid chunks");
    let indexes: BTreeSet<u32> = bm25.iter().map(|c| c.chunk_index).collect();
    assert_eq!(
        indexes,
        (0..listed_chunks).collect(),
        "{source}: chunk numbers"
    );

    // Found without a filter: by its marker (BM25, hybrid) and by its own text (vector).
    let top = retrieve(client, m, Method::Bm25, None).await;
    assert!(top.iter().all(|c| c.source == source), "{source}: {top:?}");
    assert_eq!(top.len(), bm25.len(), "{source}: marker hits");
    for chunk in &bm25 {
        for method in [Method::Vector, Method::Hybrid] {
            let top = retrieve(client, &chunk.text, method, None).await;
            assert_eq!(
                top[0].id, chunk.id,
                "{source}: {method:?} by its own chunk text"
            );
        }
    }

    // Re-ingesting the same text adds and removes nothing: the stored version was whole.
    let again = client
        .ingest(IngestRequest {
            collection: COLLECTION.into(),
            documents: vec![Document {
                source: source.into(),
                text: text.into(),
                metadata: HashMap::new(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.chunks, again.chunks_added, again.chunks_removed),
        (listed_chunks, 0, 0),
        "{source} was stored incompletely"
    );
}

/// One absent document: no leg returns any of it.
async fn check_absent(client: &mut RetrievalClient<Channel>, source: &str, text: &str) {
    let m = text.split_whitespace().next().unwrap();
    for method in [Method::Bm25, Method::Hybrid] {
        let hits = retrieve(client, m, method, None).await;
        assert!(
            hits.iter().all(|c| c.source != source),
            "{source} is absent but {method:?} finds it"
        );
    }
    let hits = retrieve(client, text, Method::Vector, Some(source)).await;
    assert!(hits.is_empty(), "{source} is absent but has vectors");
}

/// Sum of the values of every series of `name` the process exports (None when it has none).
async fn metric_sum(process: &RagmeshProcess, name: &str) -> Option<u64> {
    let url = format!("{}/metrics", process.metrics_url.as_ref()?);
    let text = client().get(url).send().await.ok()?.text().await.ok()?;
    let prefix = format!("{name}{{");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    if lines.is_empty() {
        return None;
    }
    Some(
        lines
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let _machine = machine::alone().await;
    tokio::time::timeout(TEST_TIMEOUT, kill_loop())
        .await
        .expect("the kill loop exceeded its time bound");
}

async fn kill_loop() {
    let started = Instant::now();
    let seed = std::env::var("RAGMESH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut repairs = 0;
    let mut in_flight_at_kill = 0;

    for round in 0..KILLS {
        let mut process = start(&data_dir);
        let mut client = connect(&process).await;
        let listing = listed(&mut client).await;
        check_listing(&mut ledger.lock(), &listing, round);
        if !listing.is_empty() {
            let reported = metric_sum(&process, "ragmesh_index_repairs_total").await;
            assert!(reported.is_some(), "no ragmesh_index_repairs_total series");
            repairs += reported.unwrap_or(0);
        }
        let next_doc = ledger.lock().texts.len();
        let writer = tokio::spawn(write_until_killed(
            client,
            Arc::clone(&ledger),
            next_doc,
            Rng(rng.next() | 1),
        ));
        tokio::time::sleep(Duration::from_millis(rng.below(MAX_KILL_DELAY_MS))).await;
        process.kill();
        let _ = writer.await;
        in_flight_at_kill += ledger
            .lock()
            .known
            .values()
            .filter(|k| **k == Known::InFlight)
            .count();
    }

    let process = start(&data_dir);
    let mut client = connect(&process).await;
    let listing = listed(&mut client).await;
    let mut ledger = ledger.lock().clone();
    check_listing(&mut ledger, &listing, KILLS);
    repairs += metric_sum(&process, "ragmesh_index_repairs_total")
        .await
        .unwrap_or(0);
    let present = ledger
        .known
        .values()
        .filter(|k| **k == Known::Present)
        .count();
    assert!(
        present >= 10,
        "too little was written to prove anything: {present}"
    );
    for (source, known) in &ledger.known {
        let text = &ledger.texts[source];
        match known {
            Known::Present => check_present(&mut client, source, text, listing[source]).await,
            _ => check_absent(&mut client, source, text).await,
        }
    }
    let total: u32 = listing.values().sum();
    let collections = client
        .list_collections(ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    let info = collections
        .collections
        .iter()
        .find(|c| c.name == COLLECTION)
        .unwrap();
    assert_eq!(
        (info.documents as usize, info.chunks),
        (listing.len(), total)
    );
    // The vector store holds exactly the chunks (no vector of a lost or deleted chunk).
    assert_eq!(
        metric_sum(&process, "ragmesh_index_vectors").await,
        Some(u64::from(total)),
        "live vectors differ from chunks"
    );
    println!(
        "{KILLS} kills in {:.1} s: {} documents written, {present} present ({} chunks), {} acknowledged ingests, {} acknowledged deletes, {in_flight_at_kill} requests in flight at a kill, {repairs} start-up repairs",
        started.elapsed().as_secs_f64(),
        ledger.texts.len(),
        total,
        ledger.acked_ingests,
        ledger.acked_deletes,
    );
}
