//! gRPC through the balancer over h2c: unary and server-streaming calls to tonic doubles,
//! health-checked with grpc.health.v1.

use crate::support::{WAIT, bind_retrying, start_lb, wait_until};
use ragmesh_config::LbProtocol;
use ragmesh_proto::generate_chunk::Kind;
use ragmesh_proto::generation_client::GenerationClient;
use ragmesh_proto::generation_server::{Generation, GenerationServer};
use ragmesh_proto::rerank_client::RerankClient;
use ragmesh_proto::rerank_server::{Rerank, RerankServer};
use ragmesh_proto::{GenerateChunk, GenerateRequest, RerankRequest, RerankResponse, Token};
use std::net::SocketAddr;
use std::pin::Pin;
use tonic::{Request, Response, Status};

/// Answers Rerank with its name and streams `max_new_tokens` tokens for Generate.
#[derive(Clone)]
struct GrpcDouble {
    name: String,
}

#[tonic::async_trait]
impl Rerank for GrpcDouble {
    async fn rerank(
        &self,
        _request: Request<RerankRequest>,
    ) -> Result<Response<RerankResponse>, Status> {
        Ok(Response::new(RerankResponse {
            results: Vec::new(),
            reranker: self.name.clone(),
        }))
    }
}

type ChunkStream = Pin<Box<dyn futures::Stream<Item = Result<GenerateChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Generation for GrpcDouble {
    type GenerateStream = ChunkStream;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let n = request.into_inner().max_new_tokens;
        let name = self.name.clone();
        let chunks = futures::stream::iter((0..n).map(move |i| {
            Ok(GenerateChunk {
                kind: Some(Kind::Token(Token {
                    text: format!("{name}-{i}"),
                })),
            })
        }));
        Ok(Response::new(Box::pin(chunks)))
    }
}

async fn start_double(name: &str) -> SocketAddr {
    let socket = bind_retrying("127.0.0.1:0".parse().unwrap());
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(128).unwrap();
    let double = GrpcDouble { name: name.into() };
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(RerankServer::new(double.clone()))
            .add_service(GenerationServer::new(double))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unary_and_server_streaming_pass_through_over_h2c() {
    let one = start_double("one").await;
    let two = start_double("two").await;
    let (lb, shutdown) = start_lb(&[one, two], |s| {
        s.protocol = LbProtocol::Grpc;
    })
    .await;
    // Both pass the grpc.health.v1 check.
    wait_until("both gRPC upstreams healthy", || async {
        lb.upstreams().iter().all(|u| u.healthy)
    })
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", lb.addr))
        .unwrap()
        .timeout(WAIT)
        .connect()
        .await
        .unwrap();
    let mut rerank = RerankClient::new(channel.clone());
    let mut names = Vec::new();
    for _ in 0..4 {
        let response = rerank
            .rerank(RerankRequest {
                query: "q".into(),
                passages: vec!["p".into()],
                top_n: 0,
            })
            .await
            .unwrap();
        names.push(response.into_inner().reranker);
    }
    names.sort();
    assert_eq!(names, ["one", "one", "two", "two"]);

    let mut generation = GenerationClient::new(channel);
    let mut stream = generation
        .generate(GenerateRequest {
            query: "q".into(),
            max_new_tokens: 50,
            ..GenerateRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut tokens = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        if let Some(Kind::Token(token)) = chunk.kind {
            tokens.push(token.text);
        }
    }
    assert_eq!(tokens.len(), 50);
    let prefix = tokens[0].split('-').next().unwrap().to_string();
    assert!(
        tokens.iter().all(|t| t.starts_with(&prefix)),
        "one upstream per stream"
    );
    shutdown.cancel();
}
