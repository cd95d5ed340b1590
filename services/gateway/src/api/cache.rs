//! The cache's admin surface: `GET /api/cache/stats`, `GET/PUT /api/cache/config` (invalid
//! values get 422 naming the field) and `POST /api/cache/clear` (`{"collection": NAME}` for
//! one collection, an empty body or `{}` for all).

use crate::api::extract::ApiJson;
use crate::error::GatewayError;
use crate::query::plan::validate_collection;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use ragmesh_cache::{CacheStats, RuntimeConfig, RuntimeConfigPatch};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.cache.stats())
}

pub async fn get_config(State(state): State<AppState>) -> Json<RuntimeConfig> {
    Json(state.cache.config())
}

pub async fn put_config(
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<RuntimeConfigPatch>,
) -> Result<Json<RuntimeConfig>, GatewayError> {
    state
        .cache
        .set_config(&patch)
        .map(Json)
        .map_err(|e| GatewayError::UnprocessableEntity(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    #[serde(default)]
    collection: Option<String>,
}

pub async fn clear(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, GatewayError> {
    let body: ClearBody = if body.iter().all(u8::is_ascii_whitespace) {
        ClearBody { collection: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            GatewayError::InvalidArgument(format!(
                "invalid JSON body: {e}; send {{\"collection\": NAME}} or nothing to clear all"
            ))
        })?
    };
    match body.collection {
        Some(name) => {
            let collection = validate_collection(&name)?;
            state.cache.clear(Some(&collection)).await;
            Ok(Json(json!({ "cleared": collection })))
        }
        None => {
            state.cache.clear(None).await;
            Ok(Json(json!({ "cleared": "all" })))
        }
    }
}
