//! `ragmesh up`: the whole product in one process for a laptop. Each backend service gets its
//! own loopback port and is reached over real gRPC, exactly as in a multi-process deployment;
//! the gateway listens on `--listen`. Models are fetched first when missing.

use super::ready_file::{self, Ready};
use super::spawn_service;
use crate::args::{LogFormatArg, ServiceName, UpArgs};
use crate::http_client::GatewayClient;
use anyhow::Context;
use ragmesh_config::{LogFormat, Settings};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long `up` waits for every service to report ready (model loading included).
const READY_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(config: Option<&Path>, args: UpArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(config)?;
    settings.telemetry.log_format = match args.log_format {
        LogFormatArg::Pretty => LogFormat::Pretty,
        LogFormatArg::Json => LogFormat::Json,
    };
    if let Some(dir) = &args.models_dir {
        settings.models.dir = dir.clone();
    }
    settings.retrieval.data_dir = args.data_dir.clone();
    ragmesh_telemetry::init_logging(&settings.telemetry, "ragmesh")?;

    crate::models_cmd::ensure_models(&settings.models.dir, &settings.models.index_url).await?;

    let shutdown = ragmesh_telemetry::shutdown_token();
    let gateway_listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let LocalServices {
        base_url,
        mut tasks,
    } = start_local_services(settings, gateway_listener, &shutdown).await?;
    if args.demo {
        let dir = demo_dir(args.demo_dir.as_deref())?;
        let client = GatewayClient::new(&base_url)?;
        let options = crate::ingest::IngestOptions {
            collection: "default".into(),
            batch_files: 16,
            batch_bytes: 8 * 1024 * 1024,
            parallel: 2,
            progress: false,
        };
        let report =
            crate::ingest::ingest_paths(&client, std::slice::from_ref(&dir), &options, None)
                .await?;
        for (path, reason) in &report.failed {
            tracing::warn!(file = %path.display(), reason, "demo document not ingested");
        }
        tracing::info!(documents = report.documents, chunks = report.chunks, dir = %dir.display(), "demo documents ingested into collection `default`");
    }
    if let Some(path) = &args.ready_file {
        ready_file::write(
            path,
            &Ready {
                url: base_url.clone(),
                service: "up",
                pid: std::process::id(),
                metrics_url: None,
            },
        )?;
    }
    tracing::info!(
        "ragmesh is up at {base_url} (try: ragmesh query \"What is ragmesh?\"); Ctrl-C stops it"
    );

    // Run until a signal, or until any service fails (then stop the others).
    let mut first_error = None;
    while !tasks.is_empty() {
        let (result, _, rest) = futures::future::select_all(tasks).await;
        tasks = rest;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(anyhow::anyhow!("a service panicked: {e}")))
            }
        }
        shutdown.cancel();
    }
    ragmesh_telemetry::shutdown_tracing().await;
    first_error.map_or(Ok(()), Err)
}

/// Every service of one process, running as tasks, and the gateway's base URL.
pub struct LocalServices {
    pub base_url: String,
    pub tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

/// Starts retrieval, rerank and generation on loopback ports (reached over real gRPC) and the
/// gateway on `gateway_listener`, and waits until the gateway reports every backend ready.
/// Cancelling `shutdown` stops them all; on a start-up failure they are already stopped.
/// `ragmesh up` and `ragmesh eval` (without `--url`) both start the product this way.
pub async fn start_local_services(
    mut settings: Settings,
    gateway_listener: TcpListener,
    shutdown: &CancellationToken,
) -> anyhow::Result<LocalServices> {
    let gateway_addr = gateway_listener.local_addr()?;
    // One process, one registry: the gateway's /metrics shows every service's series.
    settings.retrieval.metrics_listen.clear();
    settings.rerank.metrics_listen.clear();
    settings.generation.metrics_listen.clear();
    let mut tasks = Vec::new();
    for service in [
        ServiceName::Retrieval,
        ServiceName::Rerank,
        ServiceName::Generation,
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        match service {
            ServiceName::Retrieval => settings.gateway.retrieval_url = url,
            ServiceName::Rerank => settings.gateway.rerank_url = url,
            _ => settings.gateway.generation_url = url,
        }
        tasks.push(spawn_service(
            service,
            settings.clone(),
            listener,
            shutdown.clone(),
        ));
    }
    tasks.push(spawn_service(
        ServiceName::Gateway,
        settings,
        gateway_listener,
        shutdown.clone(),
    ));

    let base_url = format!("http://{gateway_addr}");
    let ready = wait_until_ready(&base_url, shutdown);
    let ready_or_failed = async {
        tokio::select! {
            r = ready => r,
            (result, _, _) = futures::future::select_all(tasks.iter_mut()) => {
                Err(match result {
                    Ok(Ok(())) => anyhow::anyhow!("a service stopped during start-up"),
                    Ok(Err(e)) => e,
                    Err(e) => anyhow::anyhow!("a service panicked: {e}"),
                })
            }
        }
    };
    if let Err(e) = ready_or_failed.await {
        shutdown.cancel();
        return Err(e);
    }
    Ok(LocalServices { base_url, tasks })
}

/// Polls `/health/ready` until every backend answers, the token is cancelled, or time runs out.
async fn wait_until_ready(base_url: &str, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let client = GatewayClient::new(base_url)?;
    let start = Instant::now();
    loop {
        if client.ready().await {
            tracing::info!(
                ms = start.elapsed().as_millis() as u64,
                "all services ready"
            );
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            anyhow::bail!("services not ready after {READY_TIMEOUT:?}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => anyhow::bail!("stopped before the services were ready"),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

fn demo_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs"),
        PathBuf::from("docs"),
    ];
    candidates
        .into_iter()
        .find(|d| d.is_dir())
        .context("no docs/ folder found for --demo; pass --demo-dir")
}
