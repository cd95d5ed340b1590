//! `ragmesh serve SERVICE`: one service alone in this process, configured by file and
//! environment. Also the one place that knows how to start each service, which `up` reuses.
//!
//! This folder holds every way the CLI runs services in its own process: one service (here),
//! the load balancer ([`lb`]), the whole product for a laptop ([`up`]), and the ready file each
//! writes once it serves ([`ready_file`]). Docker, compose, k8s, `cluster up` and the tests all
//! start a service this way; there is no other binary per service.

mod lb;
pub(crate) mod ready_file;
pub(crate) mod up;

use crate::args::{ServeArgs, ServiceName};
use anyhow::Context;
use ragmesh_config::Settings;
use ready_file::Ready;
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
            ServiceName::Lb => "lb",
        }
    }

    /// The `metrics_listen` setting of a gRPC service (the gateway serves `/metrics` itself,
    /// the balancer its own admin listener).
    pub fn metrics_listen(self, settings: &mut Settings) -> Option<&mut String> {
        match self {
            ServiceName::Gateway | ServiceName::Lb => None,
            ServiceName::Retrieval => Some(&mut settings.retrieval.metrics_listen),
            ServiceName::Rerank => Some(&mut settings.rerank.metrics_listen),
            ServiceName::Generation => Some(&mut settings.generation.metrics_listen),
        }
    }

    /// The configured listen address of this service.
    pub fn listen(self, settings: &Settings) -> &str {
        match self {
            ServiceName::Gateway => &settings.gateway.listen,
            ServiceName::Retrieval => &settings.retrieval.listen,
            ServiceName::Rerank => &settings.rerank.listen,
            ServiceName::Generation => &settings.generation.listen,
            ServiceName::Lb => &settings.lb.listen,
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
    let name = service.as_str();
    let span = tracing::info_span!("service", service = name);
    let task = async move {
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
            ServiceName::Lb => ragmesh_lb::run(settings, listener, shutdown)
                .await
                .map_err(anyhow::Error::from),
        };
        result.with_context(|| format!("{name} service failed"))
    };
    tokio::spawn(tracing::Instrument::instrument(task, span))
}

/// Starts the `/metrics` + `/log-level` listener of a gRPC service when it has an address
/// (`--metrics-listen` wins over the setting). Returns its base URL.
pub async fn start_admin_listener(
    service: ServiceName,
    settings: &mut Settings,
    flag: Option<&str>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<String>> {
    let Some(configured) = service.metrics_listen(settings) else {
        return Ok(None);
    };
    if let Some(flag) = flag {
        *configured = flag.to_string();
    }
    let bound = ragmesh_telemetry::spawn_admin_listener(configured, shutdown).await?;
    Ok(bound.map(|addr| format!("http://{addr}")))
}

pub async fn run(config: Option<&std::path::Path>, args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(config)?;
    let name = args.service.as_str();
    ragmesh_telemetry::init_logging(&settings.telemetry, name)?;
    if args.service == ServiceName::Lb {
        return lb::run(config, settings, args).await;
    }
    let addr = args
        .listen
        .clone()
        .unwrap_or_else(|| args.service.listen(&settings).to_string());
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(service = name, %local, "listening");
    let shutdown = ragmesh_telemetry::shutdown_token();
    let metrics_url = start_admin_listener(
        args.service,
        &mut settings,
        args.metrics_listen.as_deref(),
        shutdown.clone(),
    )
    .await?;
    if let Some(path) = &args.ready_file {
        ready_file::write(
            path,
            &Ready {
                url: format!("http://{local}"),
                service: name,
                pid: std::process::id(),
                metrics_url,
            },
        )?;
    }
    let result = spawn_service(args.service, settings, listener, shutdown).await;
    // Spans still queued are exported before the process exits (bounded in time).
    ragmesh_telemetry::shutdown_tracing().await;
    result?
}
