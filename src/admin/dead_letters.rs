//! `/admin/dead-letters…`: list, show, replay and discard dead letters.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::AdminRole;
use crate::http::auth::{actor, Caller};
use crate::http::body::Bytes;
use crate::http::query::Query;
use crate::http::{ApiError, AppState};
use crate::queue::Publisher;
use crate::services::dead_letters::{self as ops, Detail, Filter, OpsError, Summary};
use crate::services::since::parse_since;
use crate::store::jobs;

/// `?source=&reason=&status=&since=&limit=`; empty values mean "any".
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this source.
    source: Option<String>,
    #[param(value_type = Option<crate::store::dead_letters::Reason>)]
    reason: Option<String>,
    #[param(value_type = Option<crate::store::dead_letters::query::Status>)]
    status: Option<String>,
    /// Dead-lettered at or after: an RFC 3339 time, or a duration ago (`30d`, `2h`).
    since: Option<String>,
    /// At most this many (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/dead-letters",
    operation_id = "list_dead_letters",
    tag = "admin",
    params(ListParams),
    responses(
        (status = 200, description = "Dead-letter summaries, newest first", body = Vec<Summary>),
        (status = 400, description = "`bad_request`: a bad `reason`, `status`, `since` or `limit`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn list_handler(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<Summary>>, ApiError> {
    let mut filter = filter(params.source, params.reason, params.since)?;
    filter.status = given(params.status)
        .map(|s| s.parse())
        .transpose()
        .map_err(ApiError::BadRequest)?;
    filter.limit = Some(match given(params.limit) {
        None => ops::DEFAULT_LIMIT,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=ops::MAX_LIMIT).contains(&n) => n,
            _ => {
                let message = format!("limit must be a number from 1 to {}", ops::MAX_LIMIT);
                return Err(ApiError::BadRequest(message));
            }
        },
    });
    Ok(Json(ops::list(&state.pool, &filter).await?))
}

/// One dead letter; the auditor role gets it without the raw body (personal data).
#[utoipa::path(
    get,
    path = "/admin/dead-letters/{id}",
    operation_id = "show_dead_letter",
    tag = "admin",
    params(("id" = i64, Path, description = "The dead letter's id", example = 1)),
    responses(
        (status = 200, description = "The dead letter; for the auditor role without its body", body = ref("#/components/schemas/DeadLetterShown")),
        (status = 404, description = "`unknown_dead_letter`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn show_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let detail = load(&state, id).await?;
    let mut value = serde_json::to_value(&detail).map_err(anyhow::Error::from)?;
    if caller.role != AdminRole::Operator {
        if let Some(map) = value.as_object_mut() {
            map.insert("body".into(), Value::Null);
            map.insert("body_encoding".into(), Value::Null);
            map.insert("body_withheld".into(), Value::Bool(true));
        }
    }
    Ok(Json(value))
}

#[utoipa::path(
    post,
    path = "/admin/dead-letters/{id}/replay",
    operation_id = "replay_dead_letter",
    tag = "admin",
    params(
        ("id" = i64, Path, description = "The dead letter's id", example = 1),
        ("x-provisiond-actor" = Option<String>, Header, description = "On whose behalf (kept apart from the actor, the token's name)"),
    ),
    responses(
        (status = 200, description = "Republished (the broker confirmed)", body = ref("#/components/schemas/DeadLetterReplayed")),
        (status = 404, description = "`unknown_dead_letter`", body = ref("#/components/schemas/ErrorBody")),
        (status = 409, description = "`conflict`: discarded, or unauthenticated (never replayed)", body = ref("#/components/schemas/ErrorBody")),
        (status = 503, description = "`unavailable`: the broker did not confirm, or this process does not publish", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn replay_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let publisher = publisher(&state)?;
    let replayed = ops::replay(&state.pool, publisher, &[id], &actor(&caller, &headers))
        .await
        .map_err(|e| api_error(&state, e))?;
    Ok(Json(json!({ "replayed": replayed })))
}

/// `{"ids": [..]}`, `{"all": true}`, or a filter with at least one of its fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeadLetterReplayRequest)]
pub struct ReplayRequest {
    ids: Option<Vec<i64>>,
    #[serde(default)]
    all: bool,
    source: Option<String>,
    reason: Option<String>,
    since: Option<String>,
}

/// A bulk replay runs as a background job: `202 {"job": id, "total": n}` at once, then
/// `GET /admin/jobs/{id}` for its progress. Given ids are all checked first (an unknown,
/// discarded or unauthenticated one fails the request before anything is replayed).
#[utoipa::path(
    post,
    path = "/admin/dead-letters/replay",
    operation_id = "replay_dead_letters",
    tag = "admin",
    params(("x-provisiond-actor" = Option<String>, Header, description = "On whose behalf (kept apart from the actor, the token's name)")),
    request_body(content = ReplayRequest, description = "`ids`, `\"all\": true`, or a filter with at least one of `source`, `reason`, `since`; an empty body reads as `{}` (and is refused)"),
    responses(
        (status = 202, description = "The background job started", body = ref("#/components/schemas/ReplayJobStarted")),
        (status = 400, description = "`bad_request`: not JSON, unknown fields, no selection or several, a bad `reason` or `since`", body = ref("#/components/schemas/ErrorBody")),
        (status = 404, description = "`unknown_dead_letter`: a given id does not exist (nothing replayed)", body = ref("#/components/schemas/ErrorBody")),
        (status = 409, description = "`conflict`: a given id is discarded or unauthenticated (nothing replayed)", body = ref("#/components/schemas/ErrorBody")),
        (status = 503, description = "`unavailable`: this process does not publish", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn replay_many_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: ReplayRequest = json_body(&body)?;
    let has_filter = [&request.source, &request.reason, &request.since]
        .iter()
        .any(|field| field.as_deref().is_some_and(|v| !v.trim().is_empty()));
    let recorded = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json!({}));
    let selection = match request.ids {
        Some(_) if request.all || has_filter => {
            let message = "give either `ids`, `all` or a filter, not several";
            return Err(ApiError::BadRequest(message.into()));
        }
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::BadRequest("`ids` is empty".into()));
        }
        Some(ids) => Selection::Ids(ids),
        None if request.all == has_filter => {
            let message = "give `ids`, `\"all\": true`, or at least one of `source`, `reason`, \
                           `since` (not both `all` and a filter)";
            return Err(ApiError::BadRequest(message.into()));
        }
        None => Selection::Dead(filter(request.source, request.reason, request.since)?),
    };
    let publisher = publisher(&state)?.clone();
    let actor = actor(&caller, &headers);
    let (ids, only_dead) = match selection {
        Selection::Ids(ids) => {
            ops::check_replayable(&state.pool, &ids)
                .await
                .map_err(|e| api_error(&state, e))?;
            (ids, false)
        }
        Selection::Dead(filter) => (ops::dead_ids(&state.pool, &filter).await?, true),
    };
    let ids = ops::distinct(&ids);
    let job = jobs::create(
        &state.pool,
        jobs::DEAD_LETTER_REPLAY,
        &actor,
        &recorded,
        ids.len(),
    )
    .await?;
    let pool = state.pool.clone();
    let total = ids.len();
    tokio::spawn(async move {
        let mut quiet = |_| {};
        let run = ops::run_replay_job(&pool, &publisher, job, &ids, only_dead, &actor, &mut quiet);
        if let Err(error) = run.await {
            tracing::warn!(job, %error, "bulk replay job stopped");
        }
    });
    let answer = json!({ "job": job, "total": total, "status": "running" });
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// What a bulk replay asked for.
enum Selection {
    /// These ids, whatever their status but discarded.
    Ids(Vec<i64>),
    /// Every `dead` row matching the filter (`all`: an empty filter).
    Dead(Filter),
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeadLetterDiscardRequest)]
pub struct DiscardRequest {
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/dead-letters/{id}/discard",
    operation_id = "discard_dead_letter",
    tag = "admin",
    params(
        ("id" = i64, Path, description = "The dead letter's id", example = 1),
        ("x-provisiond-actor" = Option<String>, Header, description = "On whose behalf (kept apart from the actor, the token's name)"),
    ),
    request_body(content = DiscardRequest, description = "A non-empty `reason` is required"),
    responses(
        (status = 200, description = "Discarded: the dead letter as it is now", body = Detail),
        (status = 400, description = "`bad_request`: not JSON, unknown fields, or no `reason`", body = ref("#/components/schemas/ErrorBody")),
        (status = 404, description = "`unknown_dead_letter`", body = ref("#/components/schemas/ErrorBody")),
        (status = 409, description = "`conflict`: not `dead`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn discard_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Detail>, ApiError> {
    let id = parse_id(&id)?;
    let request: DiscardRequest = json_body(&body)?;
    let Some(reason) = given(request.reason) else {
        let message = "a non-empty `reason` is required to discard a dead letter";
        return Err(ApiError::BadRequest(message.into()));
    };
    ops::discard(&state.pool, id, &actor(&caller, &headers), &reason)
        .await
        .map_err(|e| api_error(&state, e))?;
    Ok(Json(load(&state, id).await?))
}

async fn load(state: &AppState, id: i64) -> Result<Detail, ApiError> {
    let detail = ops::get(&state.pool, id).await?;
    detail.ok_or_else(|| unknown(id.to_string()))
}

fn filter(
    source: Option<String>,
    reason: Option<String>,
    since: Option<String>,
) -> Result<Filter, ApiError> {
    let reason = given(reason).map(|r| ops::parse_reason(&r));
    let since = given(since).map(|s| parse_since(&s, Utc::now()));
    Ok(Filter {
        source: given(source),
        reason: reason.transpose().map_err(ApiError::BadRequest)?,
        since: since.transpose().map_err(ApiError::BadRequest)?,
        ..Filter::default()
    })
}

/// A non-empty, trimmed value.
fn given(value: Option<String>) -> Option<String> {
    let value = value.map(|v| v.trim().to_owned());
    value.filter(|v| !v.is_empty())
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| unknown(text.to_owned()))
}

fn unknown(id: String) -> ApiError {
    ApiError::not_found("unknown_dead_letter", format!("no dead letter `{id}`"))
}

/// An empty body reads as `{}`; anything else must be the expected JSON object.
pub(super) fn json_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("invalid JSON body: {error}")))
}

fn unavailable(state: &AppState, message: String) -> ApiError {
    ApiError::Unavailable {
        message,
        retry_after_secs: state.retry_after_secs,
    }
}

pub(super) fn publisher(state: &AppState) -> Result<&Publisher, ApiError> {
    let message = "this process does not publish (run the receiver role to replay)";
    let publisher = state.publisher.as_ref();
    publisher.ok_or_else(|| unavailable(state, message.into()))
}

pub(super) fn api_error(state: &AppState, error: OpsError) -> ApiError {
    match error {
        OpsError::NotFound(id) => unknown(id.to_string()),
        OpsError::Conflict(message) => ApiError::Conflict(message),
        OpsError::Invalid(message) => ApiError::BadRequest(message),
        OpsError::Publish { .. } => {
            tracing::warn!(%error, "replay not confirmed; answering 503");
            unavailable(state, error.to_string())
        }
        OpsError::Db(error) => error.into(),
    }
}
