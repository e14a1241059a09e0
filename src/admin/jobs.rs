//! `/admin/jobs/{id}`: the progress of a background job (a bulk replay), and its cancel.

use axum::extract::{Path, State};
use axum::Json;

use crate::http::{ApiError, AppState};
use crate::store::jobs::{self, Job};

#[utoipa::path(
    get,
    path = "/admin/jobs/{id}",
    operation_id = "show_job",
    tag = "admin",
    params(("id" = i64, Path, description = "The job's id", example = 1)),
    responses(
        (status = 200, description = "The job's progress", body = Job),
        (status = 404, description = "`unknown_job`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn show_handler(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&id)?;
    let job = jobs::get(&state.pool, id).await?;
    job.map(Json).ok_or_else(|| unknown(id.to_string()))
}

/// Ask a running job to stop before its next item; `409` once it has ended.
#[utoipa::path(
    post,
    path = "/admin/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "admin",
    params(("id" = i64, Path, description = "The job's id", example = 1)),
    responses(
        (status = 200, description = "Cancel requested: the job stops before its next item", body = Job),
        (status = 404, description = "`unknown_job`", body = ref("#/components/schemas/ErrorBody")),
        (status = 409, description = "`conflict`: the job has already ended", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn cancel_handler(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&id)?;
    let Some(job) = jobs::request_cancel(&state.pool, id).await? else {
        return Err(unknown(id.to_string()));
    };
    if job.status != "running" {
        let message = format!("job {id} has already ended ({})", job.status);
        return Err(ApiError::Conflict(message));
    }
    Ok(Json(job))
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| unknown(text.to_owned()))
}

fn unknown(id: String) -> ApiError {
    ApiError::not_found("unknown_job", format!("no job `{id}`"))
}
