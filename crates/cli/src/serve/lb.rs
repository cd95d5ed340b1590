//! `ragmesh serve lb`: the load balancer alone in this process. Unlike the other services it
//! binds its own ports (Pingora listens on its own threads), so the ready file is written once
//! it proxies, with its admin listener as `metrics_url`. SIGHUP re-reads the configuration
//! file and environment and applies the new upstream set without dropping a connection;
//! SIGTERM/Ctrl-C stop accepting and drain in-flight requests for `lb.shutdown_grace_ms`.

use super::ready_file::{self, Ready};
use crate::args::ServeArgs;
use ragmesh_config::Settings;
use std::path::Path;

pub async fn run(
    config: Option<&Path>,
    mut settings: Settings,
    args: ServeArgs,
) -> anyhow::Result<()> {
    if let Some(listen) = &args.listen {
        settings.lb.listen = listen.clone();
    }
    if let Some(metrics) = &args.metrics_listen {
        settings.lb.metrics_listen = metrics.clone();
    }
    // Before the ready file exists, so a SIGHUP sent as soon as it appears is never fatal.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let shutdown = ragmesh_telemetry::shutdown_token();
    let handle = ragmesh_lb::spawn(settings, shutdown.clone()).await?;
    if let Some(path) = &args.ready_file {
        ready_file::write(
            path,
            &Ready {
                url: format!("http://{}", handle.addr),
                service: "lb",
                pid: std::process::id(),
                metrics_url: handle.admin_addr.map(|a| format!("http://{a}")),
            },
        )?;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = hangup.recv() => match Settings::load(config) {
                Ok(fresh) => {
                    if let Err(e) = handle.reload(&fresh.lb).await {
                        tracing::error!(error = %e, "reload refused; the upstream set is unchanged");
                    }
                }
                Err(e) => tracing::error!(error = %e, "reload: cannot read the configuration; the upstream set is unchanged"),
            },
        }
    }
    handle.stopped().await;
    ragmesh_telemetry::shutdown_tracing().await;
    Ok(())
}
