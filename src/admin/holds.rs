//! `/admin/holds…`: the terminations the mass-change guard held, and operators' release
//! or rejection of them (each with an actor and a reason in the audit log).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::dead_letters::{json_body, publisher};
use crate::http::auth::{actor, Caller};
use crate::http::body::Bytes;
use crate::http::query::Query;
use crate::http::{ApiError, AppState};
use crate::services::holds::{decide_many, Decision};
use crate::store::holds::{self, HeldView};

/// `?status=held|released|rejected|all&source=`; open holds by default.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `held` (the default), `released`, `rejected` or `all`.
    #[param(value_type = Option<String>, pattern = "^(held|released|rejected|all)$")]
    status: Option<String>,
    /// Only this source.
    source: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/holds",
    operation_id = "list_holds",
    tag = "admin",
    params(ListParams),
    responses(
        (status = 200, description = "Held terminations, oldest first", body = Vec<HeldView>),
        (status = 400, description = "`bad_request`: an unknown `status`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn list_handler(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<HeldView>>, ApiError> {
    let status = params.status.unwrap_or_else(|| "held".into());
    if !matches!(status.as_str(), "held" | "released" | "rejected" | "all") {
        let message = format!("unknown status `{status}`: held, released, rejected or all");
        return Err(ApiError::BadRequest(message));
    }
    let status = (status != "all").then_some(status.as_str());
    let source = params.source.as_deref().filter(|s| !s.is_empty());
    Ok(Json(holds::list(&state.pool, status, source).await?))
}

/// `{"ids": [..]}` or `{"all": true, "source"?}`, with a `reason`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = HoldDecisionRequest)]
pub struct DecideRequest {
    ids: Option<Vec<i64>>,
    #[serde(default)]
    all: bool,
    source: Option<String>,
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/holds/release",
    operation_id = "release_holds",
    tag = "admin",
    params(("x-provisiond-actor" = Option<String>, Header, description = "On whose behalf (kept apart from the actor, the token's name)")),
    request_body(content = DecideRequest, description = "`ids` or `\"all\": true` (with an optional `source`), and a `reason`"),
    responses(
        (status = 200, description = "Released: their terminations are applied", body = ref("#/components/schemas/HoldsReleased")),
        (status = 400, description = "`bad_request`: not JSON, unknown fields, no `reason`, or neither `ids` nor `all`", body = ref("#/components/schemas/ErrorBody")),
        (status = 503, description = "`unavailable`: the decision could not be applied (broker or database), or this process does not publish", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn release_handler(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, headers, body, Decision::Release).await
}

#[utoipa::path(
    post,
    path = "/admin/holds/reject",
    operation_id = "reject_holds",
    tag = "admin",
    params(("x-provisiond-actor" = Option<String>, Header, description = "On whose behalf (kept apart from the actor, the token's name)")),
    request_body(content = DecideRequest, description = "`ids` or `\"all\": true` (with an optional `source`), and a `reason`"),
    responses(
        (status = 200, description = "Rejected: the employees keep their access", body = ref("#/components/schemas/HoldsRejected")),
        (status = 400, description = "`bad_request`: not JSON, unknown fields, no `reason`, or neither `ids` nor `all`", body = ref("#/components/schemas/ErrorBody")),
        (status = 503, description = "`unavailable`: the decision could not be recorded", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn reject_handler(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, headers, body, Decision::Reject).await
}

async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
    decision: Decision,
) -> Result<Json<Value>, ApiError> {
    let request: DecideRequest = json_body(&body)?;
    let reason = request.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(ApiError::BadRequest("`reason` is required".into()));
    }
    let ids = match (request.ids, request.all) {
        (Some(ids), false) if !ids.is_empty() => ids,
        (None, true) => holds::held_ids(&state.pool, request.source.as_deref()).await?,
        _ => {
            let message = "give either a non-empty `ids` or `\"all\": true`";
            return Err(ApiError::BadRequest(message.into()));
        }
    };
    let publisher = match decision {
        Decision::Release => Some(publisher(&state)?),
        Decision::Reject => None,
    };
    let actor = actor(&caller, &headers);
    let decided = decide_many(&state.pool, publisher, &ids, decision, &actor, reason)
        .await
        .map_err(|error| {
            tracing::warn!(error = %format!("{error:#}"), "hold decision failed; answering 503");
            ApiError::Unavailable {
                message: error.to_string(),
                retry_after_secs: state.retry_after_secs,
            }
        })?;
    let count = decided.len();
    Ok(Json(json!({ decision.as_str(): decided, "count": count })))
}
