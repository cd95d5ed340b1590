//! `ragmesh-rerank`: the rerank service alone in its process, configured by file
//! (`--config PATH` or `RAGMESH_CONFIG`) and `RAGMESH__*` environment variables.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let result = serve().await;
    // Log lines still waiting for the log writer thread go out before the process ends.
    ragmesh_telemetry::flush_logs();
    result
}

async fn serve() -> anyhow::Result<()> {
    let settings =
        ragmesh_config::Settings::load(ragmesh_config::config_path_from_args().as_deref())?;
    ragmesh_telemetry::init_logging(&settings.telemetry, "rerank")?;
    let listen = settings.rerank.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let shutdown = ragmesh_telemetry::shutdown_token();
    ragmesh_telemetry::spawn_admin_listener(&settings.rerank.metrics_listen, shutdown.clone())
        .await?;
    let result = ragmesh_rerank::run(settings, listener, shutdown).await;
    // Spans still queued are exported before the process exits (bounded in time).
    ragmesh_telemetry::shutdown_tracing().await;
    result?;
    Ok(())
}
