//! `ragmesh serve SERVICE`: one service alone in this process, configured by file and
//! environment. Also the one place that knows how to start each service, which `up` reuses.

use crate::args::{ServeArgs, ServiceName};
use crate::ready_file::{self, Ready};
use anyhow::Context;
use ragmesh_config::Settings;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

impl ServiceName {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Gateway => "gateway",
            ServiceName::Retrieval => "retrieval",
            ServiceName::Rerank => "rerank",
            ServiceName::Generation => "generation",
        }
    }

    /// The configured listen address of this service.
    pub fn listen(self, settings: &Settings) -> &str {
        match self {
            ServiceName::Gateway => &settings.gateway.listen,
            ServiceName::Retrieval => &settings.retrieval.listen,
            ServiceName::Rerank => &settings.rerank.listen,
            ServiceName::Generation => &settings.generation.listen,
        }
    }
}

/// Starts `service` on `listener` as a task that ends when `shutdown` is cancelled.
pub fn spawn_service(
    service: ServiceName,
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let name = service.as_str();
        let result = match service {
            ServiceName::Gateway => ragmesh_gateway::run(settings, listener, shutdown)
                .await
                .map_err(anyhow::Error::from),
            ServiceName::Retrieval => ragmesh_retrieval::run(settings, listener, shutdown)
                .await
                .map_err(anyhow::Error::from),
            ServiceName::Rerank => ragmesh_rerank::run(settings, listener, shutdown)
                .await
                .map_err(anyhow::Error::from),
            ServiceName::Generation => ragmesh_generation::run(settings, listener, shutdown)
                .await
                .map_err(anyhow::Error::from),
        };
        result.with_context(|| format!("{name} service failed"))
    })
}

pub async fn run(config: Option<&std::path::Path>, args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    let name = args.service.as_str();
    ragmesh_telemetry::init_logging(&settings.telemetry, name)?;
    let addr = args
        .listen
        .clone()
        .unwrap_or_else(|| args.service.listen(&settings).to_string());
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(service = name, %local, "listening");
    if let Some(path) = &args.ready_file {
        ready_file::write(
            path,
            &Ready {
                url: format!("http://{local}"),
                service: name,
                pid: std::process::id(),
            },
        )?;
    }
    let shutdown = ragmesh_telemetry::shutdown_token();
    spawn_service(args.service, settings, listener, shutdown).await?
}
