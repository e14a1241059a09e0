//! Background jobs (a bulk replay): one row each, updated as the job goes, so any
//! process can report its progress and an operator can cancel it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::Actor;

/// The kind of the only job there is today.
pub const DEAD_LETTER_REPLAY: &str = "dead_letter_replay";

/// One job as `GET /admin/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub actor: String,
    pub on_behalf_of: Option<String>,
    pub request: Value,
    /// Items to go through, and how many have been (replayed or skipped).
    pub total: i32,
    pub done: i32,
    /// The ids replayed so far, in order.
    pub replayed: Vec<i64>,
    /// Items skipped: no longer dead when their turn came, or refused.
    pub skipped: i32,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, status, actor, on_behalf_of, request, total, done, replayed, \
                       skipped, error, cancel_requested, created_at, updated_at, finished_at";

pub async fn create(
    pool: &PgPool,
    kind: &str,
    actor: &Actor,
    request: &Value,
    total: usize,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, actor, on_behalf_of, request, total) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(&actor.name)
    .bind(&actor.on_behalf_of)
    .bind(sqlx::types::Json(request))
    .bind(i32::try_from(total).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await
}

/// One item done (`replayed`: its id, else skipped). Returns whether a cancel was asked.
pub async fn advance(pool: &PgPool, id: i64, replayed: Option<i64>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE jobs SET done = done + 1, \
         replayed = CASE WHEN $2::bigint IS NULL THEN replayed ELSE array_append(replayed, $2) END, \
         skipped = skipped + CASE WHEN $2::bigint IS NULL THEN 1 ELSE 0 END, \
         updated_at = now() WHERE id = $1 RETURNING cancel_requested",
    )
    .bind(id)
    .bind(replayed)
    .fetch_one(pool)
    .await
}

/// Whether a cancel was asked (checked before each item).
pub async fn cancel_requested(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT cancel_requested FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// The end of a running job: `succeeded`, `failed` (with the error) or `cancelled`.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET status = $2, error = $3, updated_at = now(), finished_at = now() \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Ask a running job to stop before its next item; `None` for an unknown id. A job that
/// has already ended is returned unchanged.
pub async fn request_cancel(pool: &PgPool, id: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET cancel_requested = true, updated_at = now() \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    get(pool, id).await
}
