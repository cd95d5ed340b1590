//! `POST /api/query` (answer as one JSON document, through the semantic cache) and
//! `POST /api/retrieve` (sources only, never cached, up to 1000 of them): validate, then run the shared pipeline.

use crate::answer_cache::Answer;
use crate::answer_cache::cache_status;
use crate::api::extract::ApiJson;
use crate::api::responses::RetrieveResponse;
use crate::error::GatewayError;
use crate::query::plan::{QueryRequest, query_plan, retrieve_plan};
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

pub async fn answer(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(request): ApiJson<QueryRequest>,
) -> Result<Response, GatewayError> {
    let plan = query_plan(request, &state.settings, &state.generators)?;
    tokio::select! {
        answer = crate::answer_cache::answer(&state, &plan, &ctx) => Ok(match answer? {
            Answer::Fresh(response) => {
                let status = cache_status::header_value(response.cache.as_ref());
                ([(cache_status::CACHE_STATUS, status)], Json(response)).into_response()
            }
            // Already JSON (see `cached_answer`): sent as is.
            Answer::Cached(body, status) => (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (cache_status::CACHE_STATUS, status),
                ],
                body,
            )
                .into_response(),
        }),
        _ = state.shutdown.cancelled() => Err(GatewayError::ShuttingDown),
    }
}

pub async fn retrieve(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(request): ApiJson<QueryRequest>,
) -> Result<Json<RetrieveResponse>, GatewayError> {
    let plan = retrieve_plan(request, &state.settings, &state.generators)?;
    Ok(Json(state.pipeline.retrieve_only(&plan, &ctx).await?))
}
