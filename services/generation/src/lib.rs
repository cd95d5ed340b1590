//! The generation service: serves `ragmesh.v1.Generation/Generate` (server streaming) from a
//! [`ragmesh_llm::Generator`]. The model loads in the background while the port already
//! answers health checks (NOT_SERVING until loaded); a client that cancels its call drops the
//! token stream, which stops decoding.

mod grpc;

pub use grpc::GenerationService;

use ragmesh_config::Settings;
use ragmesh_core::{Classify, ErrorCode};
use ragmesh_llm::{EmbeddedGenerator, EmbeddedOptions, Generator, LlmError};
use ragmesh_proto::generation_server::GenerationServer;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Errors of the generation service.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("generation model loading did not finish: {0}")]
    LoadTask(String),
    #[error("the generation model is still loading")]
    NotReady,
    #[error("generation server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl Classify for GenerationError {
    fn code(&self) -> ErrorCode {
        match self {
            GenerationError::Llm(e) => e.code(),
            GenerationError::NotReady => ErrorCode::Unavailable,
            GenerationError::LoadTask(_) | GenerationError::Serve(_) => ErrorCode::Internal,
        }
    }
}

/// The configured GGUF file, or the default model under `models.dir`.
pub fn gguf_path(settings: &Settings) -> PathBuf {
    settings.generation.gguf_path.clone().unwrap_or_else(|| {
        settings
            .models
            .dir
            .join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    })
}

/// Options of the embedded backend from the `[generation]` settings.
pub fn embedded_options(settings: &Settings) -> EmbeddedOptions {
    let g = &settings.generation;
    EmbeddedOptions {
        gguf_path: gguf_path(settings),
        requantize_q8: g.requantize_q8,
        threads: g.threads,
        max_prompt_tokens: g.max_prompt_tokens,
        max_new_tokens: g.max_new_tokens,
        repeat_penalty: g.repeat_penalty,
        repeat_last_n: g.repeat_last_n,
    }
}

/// Serves Generation on `listener` until `shutdown` is cancelled. Health reports SERVING for
/// `ragmesh.v1.Generation` once the model is loaded; a missing or corrupt model file ends the
/// server with an error.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GenerationError> {
    let service = GenerationService::new();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_not_serving::<GenerationServer<GenerationService>>()
        .await;

    let options = embedded_options(&settings);
    let path = options.gguf_path.clone();
    tracing::info!(path = %path.display(), requantize_q8 = options.requantize_q8, "loading generation model");
    let loading = tokio::task::spawn_blocking(move || EmbeddedGenerator::load(options));

    let server_stop = shutdown.child_token();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(GenerationServer::new(service.clone()))
        .serve_with_incoming_shutdown(incoming, server_stop.clone().cancelled_owned());
    tokio::pin!(server);

    tokio::select! {
        loaded = loading => {
            let generator = match loaded {
                Ok(Ok(generator)) => generator,
                Ok(Err(err)) => {
                    server_stop.cancel();
                    let _ = (&mut server).await;
                    return Err(err.into());
                }
                Err(join) => {
                    server_stop.cancel();
                    let _ = (&mut server).await;
                    return Err(GenerationError::LoadTask(join.to_string()));
                }
            };
            let generator: Arc<dyn Generator> = Arc::new(generator);
            tracing::info!(model = generator.name(), "generation service ready");
            service.set_generator(generator);
            health.set_serving::<GenerationServer<GenerationService>>().await;
        }
        served = &mut server => {
            served?;
            return Ok(());
        }
    }
    server.await?;
    tracing::info!("generation service stopped");
    Ok(())
}
