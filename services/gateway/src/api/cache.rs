//! The cache's admin surface: `GET /api/cache/stats`, `GET/PUT /api/cache/config` (invalid
//! values get 422 naming the field; unsafe ones are refused, see [`runtime_bounds`]) and `POST /api/cache/clear` (`{"collection": NAME}` for
//! one collection, an empty body or `{}` for all; always `Content-Type: application/json`, so a
//! web page cannot clear the cache with a simple cross-site POST).

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

/// The body of `PUT /api/cache/config`: the cache's patch, plus `force` to allow a threshold
/// below [`SAFE_THRESHOLD`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    enabled: Option<bool>,
    threshold: Option<f32>,
    verify: Option<bool>,
    ttl_secs: Option<u64>,
    l1_max_entries: Option<usize>,
    l2_max_entries: Option<usize>,
    #[serde(default)]
    force: bool,
}

impl ConfigBody {
    fn patch(&self) -> RuntimeConfigPatch {
        RuntimeConfigPatch {
            enabled: self.enabled,
            threshold: self.threshold,
            verify: self.verify,
            ttl_secs: self.ttl_secs,
            l1_max_entries: self.l1_max_entries,
            l2_max_entries: self.l2_max_entries,
        }
    }
}

/// Below this similarity unrelated questions start to share answers (docs/cache.md).
pub const SAFE_THRESHOLD: f32 = 0.8;
/// The token-level verifier may be off only at or above this threshold.
pub const VERIFY_OFF_MIN_THRESHOLD: f32 = 0.97;
/// Longest TTL settable at runtime: 30 days.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Most entries settable at runtime, per level.
pub const MAX_ENTRIES: usize = 1_000_000;

pub async fn put_config(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfigBody>,
) -> Result<Json<RuntimeConfig>, GatewayError> {
    let unprocessable =
        |e: ragmesh_cache::CacheError| GatewayError::UnprocessableEntity(e.to_string());
    let patch = body.patch();
    let next = state
        .cache
        .config()
        .patched(&patch)
        .map_err(unprocessable)?;
    runtime_bounds(&body, &next).map_err(GatewayError::UnprocessableEntity)?;
    state
        .cache
        .set_config(&patch)
        .map(Json)
        .map_err(unprocessable)
}

/// What a runtime change may not do, whoever sends it: a threshold so low that unrelated
/// questions share answers (unless `force`), the verifier off below
/// [`VERIFY_OFF_MIN_THRESHOLD`], a TTL or a size no deployment needs. Checked on the fields
/// the request sets, against the configuration they would give.
fn runtime_bounds(body: &ConfigBody, next: &RuntimeConfig) -> Result<(), String> {
    if let Some(threshold) = body.threshold
        && threshold < SAFE_THRESHOLD
        && !body.force
    {
        return Err(format!(
            "threshold {threshold} is below {SAFE_THRESHOLD}, where unrelated questions start \
             to get each other's cached answers: send \"force\": true to set it anyway"
        ));
    }
    if (body.verify.is_some() || body.threshold.is_some())
        && !next.verify
        && next.threshold < VERIFY_OFF_MIN_THRESHOLD
    {
        return Err(format!(
            "verify can be off only at threshold >= {VERIFY_OFF_MIN_THRESHOLD} (the threshold \
             would be {}): without the verifier a paraphrase with another number or name gets \
             the wrong answer",
            next.threshold
        ));
    }
    if let Some(ttl) = body.ttl_secs
        && ttl > MAX_TTL_SECS
    {
        return Err(format!(
            "ttl_secs must be at most {MAX_TTL_SECS} (30 days), got {ttl}"
        ));
    }
    for (field, value) in [
        ("l1_max_entries", body.l1_max_entries),
        ("l2_max_entries", body.l2_max_entries),
    ] {
        if let Some(value) = value
            && value > MAX_ENTRIES
        {
            return Err(format!(
                "{field} must be at most {MAX_ENTRIES}, got {value}"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    #[serde(default)]
    collection: Option<String>,
}

pub async fn clear(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GatewayError> {
    crate::api::cross_site::require_content_type(
        &headers,
        "application/json",
        "POST /api/cache/clear",
    )?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(threshold: f32, verify: bool) -> RuntimeConfig {
        RuntimeConfig {
            enabled: true,
            threshold,
            verify,
            ttl_secs: 3600,
            l1_max_entries: 1000,
            l2_max_entries: 10_000,
        }
    }

    fn body(json: serde_json::Value) -> ConfigBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn unsafe_runtime_values_are_refused_with_the_rule_they_break() {
        let cases = [
            (
                json!({ "threshold": 0.0001 }),
                config(0.0001, true),
                "threshold 0.0001 is below 0.8",
            ),
            (
                json!({ "verify": false }),
                config(0.9, false),
                "verify can be off only at threshold >= 0.97",
            ),
            (
                json!({ "threshold": 0.5, "force": true, "verify": false }),
                config(0.5, false),
                "verify can be off only",
            ),
            (
                json!({ "ttl_secs": u64::MAX }),
                config(0.9, true),
                "ttl_secs must be at most 2592000",
            ),
            (
                json!({ "l1_max_entries": 1_000_001 }),
                config(0.9, true),
                "l1_max_entries must be at most 1000000",
            ),
            (
                json!({ "l2_max_entries": 5_000_000 }),
                config(0.9, true),
                "l2_max_entries must be at most",
            ),
        ];
        for (json, next, want) in cases {
            let err = runtime_bounds(&body(json.clone()), &next).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        for (json, next) in [
            (
                json!({ "threshold": 0.5, "force": true }),
                config(0.5, true),
            ),
            (
                json!({ "threshold": 0.98, "verify": false }),
                config(0.98, false),
            ),
            (
                json!({ "ttl_secs": 2_592_000, "l1_max_entries": 1_000_000 }),
                config(0.9, true),
            ),
            // A patch that does not touch the threshold keeps a low one set in the file.
            (json!({ "l1_max_entries": 10 }), config(0.5, true)),
        ] {
            assert!(runtime_bounds(&body(json.clone()), &next).is_ok(), "{json}");
        }
    }
}
