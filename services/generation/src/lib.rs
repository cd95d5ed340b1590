//! The generation service: serves `ragmesh.v1.Generation/Generate` (server streaming) from the
//! configured providers ([`Providers`]: embedded GGUF, Ollama, OpenAI-compatible). The embedded
//! model loads in the background while the port already answers health checks (NOT_SERVING
//! until loaded); a client that cancels its call drops the token stream, which stops decoding
//! (embedded) or closes the HTTP connection (remote).

mod grpc;
mod providers;

pub use grpc::GenerationService;
pub use providers::{Providers, embedded_options, prompt_template};

use ragmesh_config::Settings;
use ragmesh_core::{Classify, ErrorCode};
use ragmesh_llm::{EmbeddedGenerator, Generator, LlmError};
use ragmesh_proto::generation_server::GenerationServer;
use ragmesh_rpc::GrpcHost;
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
    #[error("the embedded generation model is still loading")]
    NotReady,
    #[error("unknown generation provider {0:?}: use one of embedded, ollama, openai")]
    UnknownProvider(String),
    #[error("the {provider} backend is not configured ({hint})")]
    NotConfigured { provider: String, hint: String },
    #[error("generation configuration: {0}")]
    Config(String),
    #[error("generation server: {0}")]
    Serve(#[from] ragmesh_rpc::RpcError),
}

impl Classify for GenerationError {
    fn code(&self) -> ErrorCode {
        match self {
            GenerationError::Llm(e) => e.code(),
            GenerationError::NotReady | GenerationError::NotConfigured { .. } => {
                ErrorCode::Unavailable
            }
            GenerationError::UnknownProvider(_) => ErrorCode::UnprocessableEntity,
            GenerationError::Config(_) => ErrorCode::InvalidArgument,
            GenerationError::LoadTask(_) | GenerationError::Serve(_) => ErrorCode::Internal,
        }
    }
}

/// The configured GGUF file, or the default model under `models.dir`.
pub fn gguf_path(settings: &Settings) -> PathBuf {
    settings.generation.gguf_file(&settings.models.dir)
}

/// Serves Generation on `listener` until `shutdown` is cancelled. Health reports SERVING for
/// `ragmesh.v1.Generation` once the model is loaded; a missing or corrupt model file ends the
/// server with an error.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GenerationError> {
    let providers = Arc::new(Providers::from_settings(&settings)?);
    let service = GenerationService::with_providers(providers.clone());
    let host = GrpcHost::new("generation", settings.rpc.max_concurrent.generation);
    let health = host.health();
    health
        .set_not_serving::<GenerationServer<GenerationService>>()
        .await;

    let options = embedded_options(&settings);
    let path = options.gguf_path.clone();
    let load_embedded = providers.embedded_enabled();
    if load_embedded {
        tracing::info!(path = %path.display(), requantize_q8 = options.requantize_q8, "loading generation model");
    } else {
        health
            .set_serving::<GenerationServer<GenerationService>>()
            .await;
    }
    let loading = async move {
        if !load_embedded {
            return futures::future::pending().await;
        }
        tokio::task::spawn_blocking(move || EmbeddedGenerator::load(options)).await
    };

    let server_stop = shutdown.child_token();
    let server = host.serve(
        tonic::service::Routes::new(GenerationServer::new(service.clone())),
        listener,
        server_stop.clone().cancelled_owned(),
    );
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
            providers.set_embedded(generator);
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
