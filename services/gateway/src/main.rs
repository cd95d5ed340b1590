//! `ragmesh-gateway`: the HTTP gateway alone in its own process, configured by file
//! (`--config PATH` or `RAGMESH_CONFIG`) and `RAGMESH__GATEWAY__*` environment variables.

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
    ragmesh_telemetry::init_logging(&settings.telemetry, "gateway")?;
    let listener = tokio::net::TcpListener::bind(&settings.gateway.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.gateway.listen))?;
    let result =
        ragmesh_gateway::run(settings, listener, ragmesh_telemetry::shutdown_token()).await;
    // Spans still queued are exported before the process exits (bounded in time).
    ragmesh_telemetry::shutdown_tracing().await;
    result?;
    Ok(())
}
