//! The retrieval service end to end over real gRPC with the real embedding model: `run` on
//! 127.0.0.1:0 with a temp data dir, driven by the generated client. Covers each method
//! finding the right document, idempotent re-ingest, filters, Embed, delete, identical
//! results after a restart on the same directory, and rejection of bad input.
#![allow(clippy::unwrap_used)]

use ragmesh_config::Settings;
use ragmesh_core::{ErrorCode, status_from};
use ragmesh_proto::retrieval_client::RetrievalClient;
use ragmesh_proto::{
    DeleteRequest, Document, EmbedRequest, Fusion, IngestRequest, ListCollectionsRequest,
    ListDocumentsRequest, Method, RetrieveRequest, ScoredChunk, TermStatsRequest,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const CORAL: &str = "Coral reefs are built by colonies of tiny animals called polyps. Each polyp \
lives together with microscopic algae, the zooxanthellae, which live inside its tissue and feed it \
sugars made by photosynthesis. The algae also give the corals their bright color.\n\nWhen the ocean \
water stays too warm for weeks, the stressed polyps expel the algae. The reef then turns white, \
losing its color: this is coral bleaching. Bleached corals are not dead yet, but without their algae \
they starve, and a reef that bleaches every summer slowly dies. Marine heatwaves caused by climate \
change have made mass bleaching events more frequent on the Great Barrier Reef.";

const ESPRESSO: &str = "An espresso machine forces hot water through a compact puck of finely \
ground coffee. Good machines use a pump pressure of about nine bars, and a shot takes twenty-five \
to thirty seconds to pull. The grind size controls the flow: too coarse and the shot runs fast and \
tastes sour, too fine and it chokes and tastes bitter.\n\nA well extracted espresso carries a layer \
of golden crema, an emulsion of coffee oils and carbon dioxide. Baristas weigh the dose, usually \
eighteen grams, and the yield in the cup to keep the ratio steady from one shot to the next.";

const RUST: &str = "The Rust compiler's borrow checker enforces ownership rules at compile time. \
Every value has a single owner, and when the owner goes out of scope the value is dropped. Code may \
borrow a value through references: any number of shared references, or exactly one mutable \
reference, but never both at once.\n\nThis rule prevents data races and use-after-free bugs \
without a garbage collector. Lifetimes describe how long references stay valid, and the compiler \
rejects a program in which a reference could outlive the data it points to.";

const QUERIES: [(&str, &str); 3] = [
    (
        "Why do corals turn white and lose their color when the sea gets too warm?",
        "coral.md",
    ),
    (
        "How many bars of pressure does an espresso machine pump use?",
        "espresso.md",
    ),
    (
        "What does the borrow checker prevent with mutable references?",
        "rust.md",
    ),
];

const METHODS: [Method; 3] = [Method::Hybrid, Method::Bm25, Method::Vector];

struct Service {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), ragmesh_retrieval::RetrievalError>>,
}

impl Service {
    async fn start(data_dir: &std::path::Path) -> Service {
        let mut settings = Settings::default();
        settings.models.dir = ragmesh_testkit::models_dir();
        settings.retrieval.data_dir = data_dir.to_path_buf();
        // Small chunks so that every document is cut into several overlapping ones.
        settings.retrieval.chunk_tokens = 64;
        settings.retrieval.chunk_overlap_tokens = 16;
        settings.retrieval.embed_batch_size = 4;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(ragmesh_retrieval::run(settings, listener, shutdown.clone()));
        let service = Service {
            addr,
            shutdown,
            handle,
        };
        service.wait_until_serving().await;
        service
    }

    async fn wait_until_serving(&self) {
        let url = format!("http://{}", self.addr);
        ragmesh_testkit::wait_for_grpc_serving(&url, "ragmesh.v1.Retrieval", || {
            !self.handle.is_finished()
        })
        .await;
    }

    async fn client(&self) -> RetrievalClient<Channel> {
        RetrievalClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(60), self.handle).await;
        result.unwrap().unwrap().unwrap();
    }
}

fn documents() -> Vec<Document> {
    let doc = |source: &str, text: &str, topic: &str| Document {
        source: source.into(),
        text: text.into(),
        metadata: HashMap::from([("topic".to_string(), topic.to_string())]),
    };
    vec![
        doc("coral.md", CORAL, "ocean"),
        doc("espresso.md", ESPRESSO, "coffee"),
        doc("rust.md", RUST, "code"),
    ]
}

fn retrieve_request(query: &str, method: Method, k: u32) -> RetrieveRequest {
    RetrieveRequest {
        collection: "docs".into(),
        query: query.into(),
        k,
        method: method as i32,
        ..Default::default()
    }
}

async fn retrieve(
    client: &mut RetrievalClient<Channel>,
    request: RetrieveRequest,
) -> Vec<ScoredChunk> {
    client.retrieve(request).await.unwrap().into_inner().chunks
}

/// Every (query, method) result, for comparing runs.
async fn all_results(client: &mut RetrievalClient<Channel>) -> Vec<Vec<ScoredChunk>> {
    let mut results = Vec::new();
    for (query, _) in QUERIES {
        for method in METHODS {
            results.push(retrieve(client, retrieve_request(query, method, 5)).await);
        }
    }
    results
}

fn expect_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: ErrorCode, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {code}, got {value:?}"),
        Err(status) => assert_eq!(status_from(&status), code, "{what}: {status:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_service_over_grpc() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path()).await;
    let mut client = service.client().await;

    // Ingest: several chunks per document.
    let ingest = IngestRequest {
        collection: "docs".into(),
        documents: documents(),
    };
    let first = client.ingest(ingest.clone()).await.unwrap().into_inner();
    assert_eq!(first.documents, 3);
    assert!(first.chunks >= 6, "{first:?}");
    assert_eq!(
        (first.chunks_added, first.chunks_removed),
        (first.chunks, 0)
    );

    // Each method finds the right document first; steps name what ran.
    for (query, expected) in QUERIES {
        for method in METHODS {
            let response = client
                .retrieve(retrieve_request(query, method, 3))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(response.chunks[0].source, expected, "{method:?}: {query}");
            assert_eq!(
                response.chunks[0]
                    .metadata
                    .get("topic")
                    .map(String::is_empty),
                Some(false)
            );
            let steps: Vec<&str> = response.steps.iter().map(|s| s.name.as_str()).collect();
            let expected_steps: &[&str] = match method {
                Method::Bm25 => &["bm25", "fusion"],
                Method::Vector => &["embed", "vector", "fusion"],
                _ => &["embed", "bm25", "vector", "fusion"],
            };
            assert_eq!(steps, expected_steps);
        }
    }

    // For a gateway over shards: TermStats counts the query's analysed terms, and Retrieve
    // with `legs` returns each leg unfused, best first, ranked in its leg; scored with this
    // collection's own counts, the BM25 leg is exactly what the `bm25` method returns.
    let query = QUERIES[0].0;
    let stats = client
        .term_stats(TermStatsRequest {
            collection: "docs".into(),
            query: query.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert!(
        stats.total_docs >= u64::from(first.chunks)
            && stats.total_tokens > 0
            && !stats.doc_freqs.is_empty(),
        "{stats:?}"
    );
    let legs = client
        .retrieve(RetrieveRequest {
            legs: true,
            bm25_stats: Some(stats),
            ..retrieve_request(query, Method::Hybrid, 3)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(legs.chunks.is_empty() && legs.leg_depth >= 3 && legs.rrf_k > 0);
    assert_eq!(
        legs.fusion(),
        Fusion::Score,
        "the configured default is reported"
    );
    assert!(!legs.bm25_leg.is_empty() && !legs.vector_leg.is_empty());
    let ranks: Vec<Option<u32>> = legs.vector_leg.iter().map(|c| c.vector_rank).collect();
    let expected_ranks: Vec<Option<u32>> = (1..=ranks.len() as u32).map(Some).collect();
    assert_eq!(ranks, expected_ranks);
    let bm25 = retrieve(&mut client, retrieve_request(query, Method::Bm25, 3)).await;
    for (fused, leg) in bm25.iter().zip(&legs.bm25_leg) {
        assert_eq!((&fused.id, fused.score), (&leg.id, leg.score));
    }

    // Hybrid fuses by normalised scores unless RRF is asked for; each answer says which.
    for (fusion, used) in [
        (Fusion::Unspecified, Fusion::Score),
        (Fusion::Score, Fusion::Score),
        (Fusion::Rrf, Fusion::Rrf),
    ] {
        let response = client
            .retrieve(RetrieveRequest {
                fusion: fusion as i32,
                ..retrieve_request(query, Method::Hybrid, 3)
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.fusion(), used);
        assert_eq!(response.chunks[0].source, QUERIES[0].1, "{fusion:?}");
        let best = &response.chunks[0];
        match used {
            // Each leg's best scores 1 there, so the fused best is in 1..=2.
            Fusion::Score => assert!((1.0..=2.0).contains(&best.score), "{best:?}"),
            _ => {
                let rrf: f32 = [best.bm25_rank, best.vector_rank]
                    .into_iter()
                    .flatten()
                    .map(|rank| 1.0 / (60.0 + rank as f32))
                    .sum();
                assert!((best.score - rrf).abs() < 1e-6, "{best:?}");
            }
        }
    }
    expect_code(
        client
            .term_stats(TermStatsRequest {
                collection: "nope".into(),
                query: "q".into(),
            })
            .await,
        ErrorCode::NotFound,
        "term stats of an unknown collection",
    );

    // Re-ingesting the same documents adds nothing.
    let again = client.ingest(ingest.clone()).await.unwrap().into_inner();
    assert_eq!(
        (again.chunks, again.chunks_added, again.chunks_removed),
        (first.chunks, 0, 0)
    );
    let collections = client
        .list_collections(ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .collections;
    assert_eq!(collections.len(), 1);
    assert_eq!(
        (
            collections[0].name.as_str(),
            collections[0].documents,
            collections[0].chunks
        ),
        ("docs", 3, first.chunks)
    );

    // Embed gives unit vectors; a precomputed query vector finds what the text finds.
    let embedded = client
        .embed(EmbedRequest {
            texts: vec![QUERIES[0].0.into(), "espresso".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            embedded.dim,
            embedded.vectors.len(),
            embedded.model.as_str()
        ),
        (384, 2, "all-MiniLM-L6-v2")
    );
    let norm: f32 = embedded.vectors[0]
        .values
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    let by_text = retrieve(
        &mut client,
        retrieve_request(QUERIES[0].0, Method::Vector, 5),
    )
    .await;
    let mut with_vector = retrieve_request(QUERIES[0].0, Method::Vector, 5);
    with_vector.query_vector = embedded.vectors[0].values.clone();
    let by_vector = retrieve(&mut client, with_vector).await;
    let ids = |chunks: &[ScoredChunk]| chunks.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&by_text), ids(&by_vector));

    // Filters apply inside the legs: a coral question restricted to the espresso document.
    for method in METHODS {
        let mut request = retrieve_request("espresso crema coffee coral reef", method, 10);
        request.filters = HashMap::from([("source".to_string(), "espresso.md".to_string())]);
        let chunks = retrieve(&mut client, request).await;
        assert!(
            !chunks.is_empty() && chunks.iter().all(|c| c.source == "espresso.md"),
            "{method:?}"
        );
    }

    // Bad input is rejected and changes nothing.
    let bad_ingests = [
        IngestRequest {
            collection: "../escape".into(),
            documents: documents(),
        },
        IngestRequest {
            collection: "docs".into(),
            documents: vec![],
        },
        IngestRequest {
            collection: "docs".into(),
            documents: vec![Document {
                source: String::new(),
                text: "x".into(),
                ..Default::default()
            }],
        },
        IngestRequest {
            collection: "docs".into(),
            documents: vec![Document {
                source: "s".repeat(513),
                text: "x".into(),
                ..Default::default()
            }],
        },
        IngestRequest {
            collection: "docs".into(),
            documents: vec![Document {
                source: "empty.md".into(),
                text: "  \n ".into(),
                ..Default::default()
            }],
        },
        IngestRequest {
            collection: "docs".into(),
            documents: vec![documents()[0].clone(), documents()[0].clone()],
        },
    ];
    for (i, request) in bad_ingests.into_iter().enumerate() {
        expect_code(
            client.ingest(request).await,
            ErrorCode::InvalidArgument,
            &format!("ingest {i}"),
        );
    }
    let mut bad_retrieves = vec![
        retrieve_request("q", Method::Hybrid, 0),
        retrieve_request("q", Method::Hybrid, ragmesh_retrieval::MAX_K + 1),
        retrieve_request("", Method::Hybrid, 5),
        RetrieveRequest {
            method: 9,
            ..retrieve_request("q", Method::Hybrid, 5)
        },
        RetrieveRequest {
            fusion: 9,
            ..retrieve_request("q", Method::Hybrid, 5)
        },
        RetrieveRequest {
            collection: "bad name".into(),
            ..retrieve_request("q", Method::Hybrid, 5)
        },
        RetrieveRequest {
            query_vector: vec![0.5; 3],
            ..retrieve_request("q", Method::Vector, 5)
        },
    ];
    let mut filtered = retrieve_request("q", Method::Hybrid, 5);
    filtered.filters = HashMap::from([(String::new(), "x".to_string())]);
    bad_retrieves.push(filtered);
    for (i, request) in bad_retrieves.into_iter().enumerate() {
        expect_code(
            client.retrieve(request).await,
            ErrorCode::InvalidArgument,
            &format!("retrieve {i}"),
        );
    }
    expect_code(
        client.embed(EmbedRequest { texts: vec![] }).await,
        ErrorCode::InvalidArgument,
        "embed",
    );
    let unknown = RetrieveRequest {
        collection: "nope".into(),
        ..retrieve_request("q", Method::Hybrid, 5)
    };
    expect_code(
        client.retrieve(unknown).await,
        ErrorCode::NotFound,
        "unknown collection",
    );
    let unknown = ListDocumentsRequest {
        collection: "nope".into(),
    };
    expect_code(
        client.list_documents(unknown).await,
        ErrorCode::NotFound,
        "unknown collection",
    );
    let collections = client
        .list_collections(ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .collections;
    assert_eq!(
        (collections.len(), collections[0].chunks),
        (1, first.chunks)
    );

    // Delete removes a source from every leg.
    let espresso_chunks = client
        .list_documents(ListDocumentsRequest {
            collection: "docs".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .documents
        .iter()
        .find(|d| d.source == "espresso.md")
        .map(|d| d.chunks)
        .unwrap();
    let delete = DeleteRequest {
        collection: "docs".into(),
        source: "espresso.md".into(),
    };
    let deleted = client.delete(delete.clone()).await.unwrap().into_inner();
    assert_eq!(deleted.chunks_deleted, espresso_chunks);
    for method in METHODS {
        let chunks = retrieve(&mut client, retrieve_request(QUERIES[1].0, method, 10)).await;
        assert!(
            chunks.iter().all(|c| c.source != "espresso.md"),
            "{method:?}"
        );
    }
    expect_code(
        client.delete(delete).await,
        ErrorCode::NotFound,
        "second delete",
    );
    let documents = client
        .list_documents(ListDocumentsRequest {
            collection: "docs".into(),
        })
        .await
        .unwrap();
    let mut sources: Vec<String> = documents
        .into_inner()
        .documents
        .into_iter()
        .map(|d| d.source)
        .collect();
    sources.sort();
    assert_eq!(sources, ["coral.md", "rust.md"]);

    // A restart on the same directory answers identically.
    let before = all_results(&mut client).await;
    drop(client);
    service.stop().await;
    let service = Service::start(data.path()).await;
    let mut client = service.client().await;
    let after = all_results(&mut client).await;
    assert_eq!(before, after);
    service.stop().await;
}
