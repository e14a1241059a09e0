//! The dead-letter log as operators read and change it: list, show, and the row changes
//! of a replay or a discard (`services::dead_letters` runs them with the broker).

use std::str::FromStr;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::Reason;

/// Rows `list` returns when the caller sets no limit of its own.
pub const DEFAULT_LIMIT: i64 = 100;

/// The largest `limit` a caller may ask for.
pub const MAX_LIMIT: i64 = 10_000;

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DeadLetterStatus)]
pub enum Status {
    Dead,
    Replayed,
    Discarded,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Dead, Status::Replayed, Status::Discarded];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Dead => "dead",
            Status::Replayed => "replayed",
            Status::Discarded => "discarded",
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let found = Status::ALL.into_iter().find(|s| s.as_str() == text);
        found.ok_or_else(|| {
            let allowed: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            format!(
                "unknown status `{text}`; expected one of: {}",
                allowed.join(", ")
            )
        })
    }
}

const REASONS: [Reason; 5] = [
    Reason::PermanentError,
    Reason::AttemptsExhausted,
    Reason::DeliveryLimit,
    Reason::Unparseable,
    Reason::Unauthenticated,
];

/// A reason as written in the log (`permanent_error`, …).
pub fn parse_reason(text: &str) -> Result<Reason, String> {
    let found = REASONS.into_iter().find(|r| r.as_str() == text);
    found.ok_or_else(|| {
        let allowed: Vec<&str> = REASONS.iter().map(|r| r.as_str()).collect();
        format!(
            "unknown reason `{text}`; expected one of: {}",
            allowed.join(", ")
        )
    })
}

/// Which dead letters to list (every field optional; all of them must match).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub source: Option<String>,
    pub reason: Option<Reason>,
    pub status: Option<Status>,
    /// Dead-lettered at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// `None`: every match.
    pub limit: Option<i64>,
}

/// One line of `dlq list`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DeadLetterSummary)]
pub struct Summary {
    pub id: i64,
    pub source: String,
    pub event_id: String,
    pub employee_id: Option<String>,
    pub kind: Option<String>,
    pub reason: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: String,
    pub first_received_at: DateTime<Utc>,
    pub dead_lettered_at: DateTime<Utc>,
    pub replay_count: i32,
}

/// Something done to a dead letter: by provisiond (`dead_lettered`) or an operator.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DeadLetterAction)]
pub struct Action {
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// Everything the log holds about one dead letter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DeadLetterDetail)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub source_kind: String,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The raw body: as text when it is UTF-8, else base64 (see `body_encoding`).
    pub body: String,
    /// `utf-8` or `base64`.
    pub body_encoding: &'static str,
    pub headers: Value,
    pub error_chain: Value,
    pub actions: Vec<Action>,
}

const SUMMARY_COLUMNS: &str = "id, source, event_id, employee_id, kind, reason, status, \
    attempts, last_error, first_received_at, dead_lettered_at, replay_count";

/// Dead letters matching `filter`, newest first.
pub async fn list(pool: &PgPool, filter: &Filter) -> Result<Vec<Summary>, sqlx::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM dead_letters \
         WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR reason = $2) \
         AND ($3::text IS NULL OR status = $3) \
         AND ($4::timestamptz IS NULL OR dead_lettered_at >= $4) \
         ORDER BY dead_lettered_at DESC, id DESC LIMIT $5"
    );
    sqlx::query_as(&sql)
        .bind(filter.source.as_deref())
        .bind(filter.reason.map(Reason::as_str))
        .bind(filter.status.map(Status::as_str))
        .bind(filter.since)
        .bind(filter.limit)
        .fetch_all(pool)
        .await
}

/// The ids of the `dead` rows matching `filter` (its status and limit are ignored):
/// what a bulk replay would republish.
pub async fn dead_ids(pool: &PgPool, filter: &Filter) -> Result<Vec<i64>, sqlx::Error> {
    let filter = Filter {
        status: Some(Status::Dead),
        limit: None,
        ..filter.clone()
    };
    let rows = list(pool, &filter).await?;
    // Oldest first, the order in which they failed.
    Ok(rows.into_iter().rev().map(|row| row.id).collect())
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: Summary,
    source_kind: String,
    first_failed_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    body: Vec<u8>,
    headers: Value,
    error_chain: Value,
}

/// One dead letter with its payload, error chain and actions; `None` if there is no such id.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Detail>, sqlx::Error> {
    // One snapshot, so the row and its actions agree.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, source_kind, first_failed_at, updated_at, body, headers, \
         error_chain FROM dead_letters WHERE id = $1"
    );
    let row: Option<DetailRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let actions = sqlx::query_as(
        "SELECT action, actor, reason, detail, at FROM dead_letter_actions \
         WHERE dead_letter_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let (body, body_encoding) = match String::from_utf8(row.body) {
        Ok(text) => (text, "utf-8"),
        Err(error) => {
            let bytes = error.into_bytes();
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            (encoded, "base64")
        }
    };
    Ok(Some(Detail {
        summary: row.summary,
        source_kind: row.source_kind,
        first_failed_at: row.first_failed_at,
        updated_at: row.updated_at,
        body,
        body_encoding,
        headers: row.headers,
        error_chain: row.error_chain,
        actions,
    }))
}

#[derive(sqlx::FromRow)]
pub struct ReplayRow {
    pub source: String,
    pub source_kind: String,
    pub event_id: String,
    pub employee_id: Option<String>,
    pub status: String,
    pub reason: String,
    pub body: Vec<u8>,
    pub first_received_at: DateTime<Utc>,
    /// Dead-lettered as a due scheduled termination (trigger `scheduled`).
    pub scheduled: Option<bool>,
}

/// Lock one row for a replay (until the transaction ends); `None` if there is no such id.
pub async fn lock_for_replay(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<ReplayRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT source, source_kind, event_id, employee_id, status, reason, body, first_received_at, \
         headers->>'trigger' = 'scheduled' AS scheduled \
         FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Mark a locked row replayed; returns how many times it has been.
pub async fn mark_replayed(conn: &mut PgConnection, id: i64) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1, \
         updated_at = now() WHERE id = $1 RETURNING replay_count",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

/// A row a discard looks at: its status, source, event id and employee.
#[derive(sqlx::FromRow)]
pub struct DiscardRow {
    pub status: String,
    pub source: String,
    pub event_id: String,
    pub employee_id: Option<String>,
}

/// Lock one row for a discard (until the transaction ends); `None` if there is no such id.
pub async fn lock_for_discard(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<DiscardRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, source, event_id, employee_id FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn mark_discarded(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dead_letters SET status = 'discarded', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The status and reason of each of these ids that exists.
pub async fn states(pool: &PgPool, ids: &[i64]) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, status, reason FROM dead_letters WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Note what was done to a dead letter, by whom and why.
pub async fn record_action(
    conn: &mut PgConnection,
    id: i64,
    action: &str,
    actor: &str,
    reason: Option<&str>,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letter_actions (dead_letter_id, action, actor, reason, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(action)
    .bind(actor)
    .bind(reason)
    .bind(sqlx::types::Json(detail))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_reasons_and_statuses_parse_only_known_words() {
        assert_eq!(
            parse_reason("attempts_exhausted").unwrap(),
            Reason::AttemptsExhausted
        );
        assert!(parse_reason("boom")
            .unwrap_err()
            .contains("permanent_error"));
        assert_eq!("discarded".parse::<Status>().unwrap(), Status::Discarded);
        assert!("Dead".parse::<Status>().is_err());
    }
}
