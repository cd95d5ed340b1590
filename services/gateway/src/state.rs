//! What every handler shares: the gateway settings, the query pipeline (which owns the
//! backend clients) and the shutdown token that ends open streams when the server stops.

use crate::backends::Backends;
use crate::errors::GatewayError;
use crate::pipeline::Pipeline;
use ragmesh_config::{GatewaySettings, Settings};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<GatewaySettings>,
    pub pipeline: Pipeline,
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Builds lazily connected clients for the three backends (nothing is dialled yet, so
    /// this succeeds while they are down) and installs the metrics recorder. Must be called
    /// inside a tokio runtime.
    pub fn connect(settings: &Settings) -> Result<AppState, GatewayError> {
        let _ = ragmesh_telemetry::metrics_handle();
        Ok(AppState {
            settings: Arc::new(settings.gateway.clone()),
            pipeline: Pipeline::new(Backends::connect(&settings.gateway)?),
            shutdown: CancellationToken::new(),
        })
    }

    /// Open streams end (with an `error` event) when `token` is cancelled.
    pub fn with_shutdown(mut self, token: CancellationToken) -> AppState {
        self.shutdown = token;
        self
    }
}
