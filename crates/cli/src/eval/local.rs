//! The product started inside the `eval` process when no `--url` is given: the same services
//! and code path as `ragmesh up` (see [`crate::serve::up::start_local_services`]), on a free port,
//! over a temporary data directory removed when the evaluation ends.

use crate::serve::up::{LocalServices, start_local_services};
use ragmesh_config::{LogFormat, Settings};
use std::path::Path;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct LocalProduct {
    pub base_url: String,
    services: LocalServices,
    shutdown: CancellationToken,
    /// Deleted on drop, after the services have stopped.
    _data: tempfile::TempDir,
}

impl LocalProduct {
    /// Starts every service; logs go to stderr at `warn` unless `RUST_LOG` says otherwise, so
    /// that the report on stdout stays clean.
    pub async fn start(config: Option<&Path>) -> anyhow::Result<LocalProduct> {
        Self::start_with(config, |_| {}).await
    }

    /// [`LocalProduct::start`] with `adjust` applied to the loaded settings first (e.g. the
    /// answer harness turns the answer cache off so every question is really answered).
    pub async fn start_with(
        config: Option<&Path>,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<LocalProduct> {
        let mut settings = Settings::load(config)?;
        adjust(&mut settings);
        settings.telemetry.log_format = LogFormat::Pretty;
        settings.telemetry.log_level = "warn".into();
        ragmesh_telemetry::init_logging(&settings.telemetry, "ragmesh")?;
        crate::models_cmd::ensure_models(&settings.models.dir, &settings.models.index_url).await?;
        let data = tempfile::Builder::new().prefix("ragmesh-eval-").tempdir()?;
        settings.retrieval.data_dir = data.path().to_path_buf();
        let shutdown = ragmesh_telemetry::shutdown_token();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let services = start_local_services(settings, listener, &shutdown).await?;
        Ok(LocalProduct {
            base_url: services.base_url.clone(),
            services,
            shutdown,
            _data: data,
        })
    }

    /// Stops every service and waits for them, then removes the data directory.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.services.tasks {
            if let Ok(Err(e)) = task.await {
                tracing::warn!("a service stopped with an error: {e:#}");
            }
        }
    }
}
