//! The rerank service through real gRPC on 127.0.0.1:0: with the tiny fixture checkpoint
//! the order equals sorting transformers' reference logits; without a model the input order
//! comes back with reranker "none" and no scores; bad requests get InvalidArgument.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ragmesh_config::Settings;
use ragmesh_proto::RerankRequest;
use ragmesh_proto::rerank_client::RerankClient;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/crossencoder/tests/fixtures")
}

struct RunningService {
    client: RerankClient<Channel>,
    health: HealthClient<Channel>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ragmesh_rerank::RerankError>>,
}

impl RunningService {
    async fn start(model_dir: Option<PathBuf>) -> RunningService {
        let mut settings = Settings::default();
        settings.rerank.model_dir = model_dir;
        settings.rerank.threads = 1;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ragmesh_rerank::run(settings, listener, shutdown.clone()));
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        RunningService {
            client: RerankClient::new(channel.clone()),
            health: HealthClient::new(channel),
            shutdown,
            task,
        }
    }

    async fn serving_status(&mut self) -> i32 {
        let request = HealthCheckRequest {
            service: "ragmesh.v1.Rerank".into(),
        };
        self.health
            .check(request)
            .await
            .unwrap()
            .into_inner()
            .status
    }

    /// Cancels the token and checks that `run` returns Ok.
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn request(query: &str, passages: &[&str], top_n: u32) -> RerankRequest {
    RerankRequest {
        query: query.into(),
        passages: passages.iter().map(|p| p.to_string()).collect(),
        top_n,
    }
}

#[tokio::test]
async fn cross_encoder_orders_like_the_reference_logits() {
    let text = std::fs::read_to_string(fixtures().join("reference_logits.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let set = &reference["sets"][0];
    assert_eq!(
        set["max_length"], 512,
        "the service runs at the default max_length"
    );
    let query = set["query"].as_str().unwrap();
    let passages: Vec<&str> = set["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let logits: Vec<f32> = set["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let mut expected: Vec<usize> = (0..logits.len()).collect();
    expected.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    assert_ne!(
        expected,
        (0..logits.len()).collect::<Vec<_>>(),
        "the reference must reorder the input"
    );

    let mut service = RunningService::start(Some(fixtures().join("tiny-cross-encoder"))).await;
    assert_eq!(
        service.serving_status().await,
        ServingStatus::Serving as i32
    );

    let response = service
        .client
        .rerank(request(query, &passages, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.reranker, "tiny-cross-encoder");
    let order: Vec<usize> = response.results.iter().map(|r| r.index as usize).collect();
    assert_eq!(order, expected);
    for result in &response.results {
        let score = result
            .score
            .expect("a cross-encoder result carries its logit");
        assert!(
            (score - logits[result.index as usize]).abs() <= 1e-4,
            "{score} vs {}",
            logits[result.index as usize]
        );
    }

    let top3 = service
        .client
        .rerank(request(query, &passages, 3))
        .await
        .unwrap()
        .into_inner();
    let top3_order: Vec<usize> = top3.results.iter().map(|r| r.index as usize).collect();
    assert_eq!(top3_order, expected[..3]);

    let empty = service
        .client
        .rerank(request(query, &[], 0))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.results.is_empty());
    assert_eq!(empty.reranker, "tiny-cross-encoder");

    let status = service
        .client
        .rerank(request("  ", &passages, 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    service.stop().await;
}

#[tokio::test]
async fn without_a_model_the_input_order_is_kept_and_named_none() {
    let mut service = RunningService::start(None).await;
    assert_eq!(
        service.serving_status().await,
        ServingStatus::Serving as i32
    );
    let passages = ["c is third", "a is first", "b is second"];
    let response = service
        .client
        .rerank(request("which is first", &passages, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.reranker, "none");
    let order: Vec<u32> = response.results.iter().map(|r| r.index).collect();
    assert_eq!(order, vec![0, 1, 2]);
    assert!(
        response.results.iter().all(|r| r.score.is_none()),
        "no invented scores"
    );

    let top2 = service
        .client
        .rerank(request("which is first", &passages, 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        top2.results.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![0, 1]
    );

    let empty = service
        .client
        .rerank(request("q", &[], 5))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.results.is_empty());
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_get_invalid_argument() {
    let mut service = RunningService::start(None).await;
    let status = service
        .client
        .rerank(request("", &["p"], 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("query"), "{}", status.message());

    let many = vec!["passage"; ragmesh_rerank::MAX_PASSAGES + 1];
    let status = service
        .client
        .rerank(request("q", &many, 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("1000"), "{}", status.message());

    let at_limit = vec!["passage"; ragmesh_rerank::MAX_PASSAGES];
    let response = service
        .client
        .rerank(request("q", &at_limit, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results.len(), ragmesh_rerank::MAX_PASSAGES);
    service.stop().await;
}

#[tokio::test]
async fn a_configured_model_that_cannot_load_fails_the_service() {
    let empty = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.rerank.model_dir = Some(empty.path().to_path_buf());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = ragmesh_rerank::run(settings, listener, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("model.safetensors is missing"),
        "{err}"
    );
}
