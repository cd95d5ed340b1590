//! What every handler shares: the gateway settings, the query pipeline (which owns the
//! backend clients), the semantic cache and the token that ends the answers still running
//! when the server stops (once its drain grace has passed).

use crate::backends::Backends;
use crate::error::GatewayError;
use crate::query::generator_choice::GeneratorCatalog;
use crate::query::pipeline::Pipeline;
use ragmesh_cache::SemanticCache;
use ragmesh_config::{GatewaySettings, Settings};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<GatewaySettings>,
    pub pipeline: Pipeline,
    /// The semantic answer cache (see `crate::answer_cache`).
    pub cache: SemanticCache,
    /// Cancelled when the answers still running must end (shutdown grace over).
    pub shutdown: CancellationToken,
    /// Names the generator of each query (provider, model, prompt version).
    pub generators: Arc<GeneratorCatalog>,
}

impl AppState {
    /// Builds lazily connected clients for the three backends (nothing is dialled yet, so
    /// this succeeds while they are down) and installs the metrics recorder. Must be called
    /// inside a tokio runtime.
    pub fn connect(settings: &Settings) -> Result<AppState, GatewayError> {
        ragmesh_telemetry::register_service("gateway");
        Ok(AppState {
            settings: Arc::new(settings.gateway.clone()),
            pipeline: Pipeline::new(Backends::connect(settings)?, settings.retrieval.rrf_k)
                .with_answer(settings.answer.clone()),
            cache: SemanticCache::new(&settings.cache)
                .map_err(|e| GatewayError::InvalidArgument(e.to_string()))?,
            shutdown: CancellationToken::new(),
            generators: Arc::new(GeneratorCatalog::from_settings(settings)),
        })
    }

    /// Open streams end (with an `error` event) when `token` is cancelled.
    pub fn with_shutdown(mut self, token: CancellationToken) -> AppState {
        self.shutdown = token;
        self
    }
}
