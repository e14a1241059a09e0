//! Operator access to the dead-letter log: list, show, replay and discard. The admin API
//! and the `dlq` command both go through these functions, so they answer alike.

use std::collections::HashSet;
use std::str::FromStr;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::Reason;
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::queue::{PublishError, Publisher};
use crate::store::{audit_log, jobs, Actor};

/// Rows `list` returns when the caller sets no limit of its own.
pub const DEFAULT_LIMIT: i64 = 100;

/// The largest `limit` a caller may ask for.
pub const MAX_LIMIT: i64 = 10_000;

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

/// A `since` bound: an RFC 3339 time, or a duration before `now` such as `30d`, `2h`,
/// `15m` or `1h 30m` (humantime units; `d` is a day).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(text).map_err(|error| {
        format!(
            "`{text}` is neither an RFC 3339 time nor a duration such as 30d, 2h or 15m ({error})"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|_| format!("`{text}` is too long ago"))?;
    now.checked_sub_signed(ago)
        .ok_or_else(|| format!("`{text}` is too long ago"))
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Action {
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// Everything the log holds about one dead letter.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no dead letter with id {0}")]
    NotFound(i64),
    /// The row's status does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// A required input is missing or empty.
    #[error("{0}")]
    Invalid(String),
    /// The broker did not confirm the republish; the row was left as it was. `replayed`
    /// holds the ids of the same request that were replayed before this one.
    #[error("dead letter {id} could not be republished ({n} replayed before it): {source}", n = replayed.len())]
    Publish {
        id: i64,
        replayed: Vec<i64>,
        source: PublishError,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
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

/// Replay these ids (in this order, each once): any status but `discarded`. Every id is
/// checked first, so an unknown or discarded one fails the request before anything is
/// republished. Returns the ids replayed.
pub async fn replay(
    pool: &PgPool,
    publisher: &Publisher,
    ids: &[i64],
    actor: &Actor,
) -> Result<Vec<i64>, OpsError> {
    required("an actor", &actor.name)?;
    let ids = distinct(ids);
    check_replayable(pool, &ids).await?;
    replay_each(pool, publisher, &ids, actor, Mode::AnyButDiscarded).await
}

/// Fail unless every id exists and may be replayed (not discarded, not unauthenticated):
/// checked before anything is republished.
pub async fn check_replayable(pool: &PgPool, ids: &[i64]) -> Result<(), OpsError> {
    let found: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, status, reason FROM dead_letters WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?;
    for id in ids {
        match found.iter().find(|(found_id, _, _)| found_id == id) {
            None => return Err(OpsError::NotFound(*id)),
            Some((_, status, _)) if status == Status::Discarded.as_str() => {
                return Err(discarded(*id))
            }
            Some((_, _, reason)) if reason == Reason::Unauthenticated.as_str() => {
                return Err(unauthenticated(*id))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Run bulk-replay job `job` over `ids`, one transaction per id, recording progress on
/// the job's row after each and stopping before the next id once a cancel was asked.
/// `only_dead`: skip rows no longer `dead` (a filter's selection); else replay any status
/// but discarded (ids checked beforehand with [`check_replayable`]). A row that changed
/// meanwhile is skipped; a broker or database failure ends the job `failed`.
pub async fn run_replay_job(
    pool: &PgPool,
    publisher: &Publisher,
    job: i64,
    ids: &[i64],
    only_dead: bool,
    actor: &Actor,
    on_progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(), OpsError> {
    let mode = if only_dead {
        Mode::OnlyDead
    } else {
        Mode::AnyButDiscarded
    };
    let mut done = 0;
    for &id in &distinct(ids) {
        if jobs::cancel_requested(pool, job).await? {
            jobs::finish(pool, job, "cancelled", None).await?;
            return Ok(());
        }
        let replayed = match replay_one(pool, publisher, id, actor, mode).await {
            Ok(true) => Some(id),
            Ok(false) | Err(OpsError::NotFound(_) | OpsError::Conflict(_)) => None,
            Err(error) => {
                let text = error.to_string();
                jobs::finish(pool, job, "failed", Some(&text)).await?;
                return Err(error);
            }
        };
        jobs::advance(pool, job, replayed).await?;
        done += 1;
        on_progress(done);
    }
    jobs::finish(pool, job, "succeeded", None).await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    AnyButDiscarded,
    OnlyDead,
}

async fn replay_each(
    pool: &PgPool,
    publisher: &Publisher,
    ids: &[i64],
    actor: &Actor,
    mode: Mode,
) -> Result<Vec<i64>, OpsError> {
    let mut replayed = Vec::with_capacity(ids.len());
    for &id in ids {
        match replay_one(pool, publisher, id, actor, mode).await {
            Ok(true) => replayed.push(id),
            Ok(false) => {}
            Err(OpsError::Publish { id, source, .. }) => {
                return Err(OpsError::Publish {
                    id,
                    replayed,
                    source,
                })
            }
            Err(error) => return Err(error),
        }
    }
    Ok(replayed)
}

#[derive(sqlx::FromRow)]
struct ReplayRow {
    source: String,
    source_kind: String,
    event_id: String,
    employee_id: Option<String>,
    status: String,
    reason: String,
    body: Vec<u8>,
    first_received_at: DateTime<Utc>,
    /// Dead-lettered as a due scheduled termination (trigger `scheduled`).
    scheduled: Option<bool>,
}

/// One id, in one transaction: lock the row, mark it replayed and record the action, then
/// publish and await the confirm, then commit. A worker that dead-letters the replayed
/// event again waits on the row lock, so its `dead` always lands after our `replayed`.
/// Returns false when `mode` says to skip the row.
async fn replay_one(
    pool: &PgPool,
    publisher: &Publisher,
    id: i64,
    actor: &Actor,
    mode: Mode,
) -> Result<bool, OpsError> {
    let mut tx = pool.begin().await?;
    let row: Option<ReplayRow> = sqlx::query_as(
        "SELECT source, source_kind, event_id, employee_id, status, reason, body, first_received_at, \
         headers->>'trigger' = 'scheduled' AS scheduled \
         FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(OpsError::NotFound(id));
    };
    match mode {
        Mode::OnlyDead if row.status != Status::Dead.as_str() => return Ok(false),
        Mode::AnyButDiscarded if row.status == Status::Discarded.as_str() => {
            return Err(discarded(id))
        }
        _ => {}
    }
    // Not written by provisiond: signing it now would launder it into a trusted message.
    if row.reason == Reason::Unauthenticated.as_str() {
        return match mode {
            Mode::OnlyDead => Ok(false),
            Mode::AnyButDiscarded => Err(unauthenticated(id)),
        };
    }
    let source_kind = row.source_kind.parse().map_err(|error| {
        OpsError::Conflict(format!("dead letter {id} cannot be replayed: {error}"))
    })?;
    let replay_count: i32 = sqlx::query_scalar(
        "UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1, \
         updated_at = now() WHERE id = $1 RETURNING replay_count",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    // A due scheduled termination's body is the original announcement (often an update
    // with a date): replayed as `manual` it would be read as that update. It keeps the
    // scheduler's trigger, which makes it the termination it is.
    let trigger = if row.scheduled.unwrap_or(false) {
        Trigger::Scheduled
    } else {
        Trigger::Manual
    };
    let detail = actor.annotate(json!({
        "previous_status": row.status,
        "replay_count": replay_count,
        "trigger": trigger,
    }));
    record_action(&mut tx, id, "replayed", &actor.name, None, detail.clone()).await?;
    let entry = audit_log::Entry {
        category: audit_log::DEAD_LETTER,
        action: "replayed",
        actor: &actor.name,
        source: Some(&row.source),
        event_id: Some(&row.event_id),
        employee_id: row.employee_id.as_deref(),
        target: None,
        outcome: Some(Status::Replayed.as_str()),
        detail: json!({ "dead_letter_id": id, "replay": detail }),
    };
    audit_log::append(&mut tx, &entry).await?;
    let message = QueueMessage {
        source: row.source,
        source_kind,
        event_id: row.event_id,
        received_at: row.first_received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger,
        body: bytes::Bytes::from(row.body),
    };
    if let Err(source) = publisher.publish(&message).await {
        // The row stays as it was: still waiting for a replay that works.
        tx.rollback().await?;
        tracing::warn!(dead_letter = id, event_id = %message.event_id, error = %source, "replay not confirmed by the broker");
        return Err(OpsError::Publish {
            id,
            replayed: Vec::new(),
            source,
        });
    }
    // Committing can still fail after the confirm: the event is then replayed while the
    // row says `dead`, which a second replay repairs (processing is idempotent).
    tx.commit().await?;
    tracing::info!(dead_letter = id, source = %message.source, event_id = %message.event_id, actor = %actor.name, "dead letter replayed");
    let source = message.source;
    metrics::counter!("provisiond_dead_letters_replayed_total", "source" => source).increment(1);
    Ok(true)
}

/// Mark a `dead` row `discarded` (it will not be replayed in bulk) with who and why.
pub async fn discard(pool: &PgPool, id: i64, actor: &Actor, reason: &str) -> Result<(), OpsError> {
    required("an actor", &actor.name)?;
    let reason = required("a reason", reason)?;
    let mut tx = pool.begin().await?;
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT status, source, event_id, employee_id FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, source, event_id, employee_id)) = row else {
        return Err(OpsError::NotFound(id));
    };
    if status != Status::Dead.as_str() {
        return Err(OpsError::Conflict(format!(
            "dead letter {id} is {status}; only dead ones can be discarded"
        )));
    }
    sqlx::query("UPDATE dead_letters SET status = 'discarded', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let noted = actor.annotate(json!({}));
    record_action(&mut tx, id, "discarded", &actor.name, Some(reason), noted).await?;
    let entry = audit_log::Entry {
        category: audit_log::DEAD_LETTER,
        action: "discarded",
        actor: &actor.name,
        source: Some(&source),
        event_id: Some(&event_id),
        employee_id: employee_id.as_deref(),
        target: None,
        outcome: Some(Status::Discarded.as_str()),
        detail: actor
            .annotate(json!({ "dead_letter_id": id, "previous_status": status, "reason": reason })),
    };
    audit_log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(dead_letter = id, actor = %actor.name, "dead letter discarded");
    Ok(())
}

async fn record_action(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn unauthenticated(id: i64) -> OpsError {
    OpsError::Conflict(format!(
        "dead letter {id} is an unauthenticated queue message (no valid provisiond \
         signature); it is never replayed: discard it once investigated"
    ))
}

fn discarded(id: i64) -> OpsError {
    OpsError::Conflict(format!(
        "dead letter {id} is discarded; discarded ones are not replayed"
    ))
}

fn required<'a>(what: &str, text: &'a str) -> Result<&'a str, OpsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(OpsError::Invalid(format!("{what} is required")));
    }
    Ok(text)
}

/// The ids in their first-seen order, each once.
pub fn distinct(ids: &[i64]) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn dead_letter_since_takes_an_rfc3339_time_or_a_duration_ago() {
        let at = |text: &str| parse_since(text, now()).unwrap().to_rfc3339();
        assert_eq!(at("2026-03-01T08:00:00+01:00"), "2026-03-01T07:00:00+00:00");
        assert_eq!(at("30d"), "2026-02-08T12:00:00+00:00");
        assert_eq!(at("2h"), "2026-03-10T10:00:00+00:00");
        assert_eq!(at("15m"), "2026-03-10T11:45:00+00:00");
        assert_eq!(at("1h 30m"), "2026-03-10T10:30:00+00:00");
        assert!(parse_since("yesterday", now()).is_err());
        assert!(parse_since("", now()).is_err());
    }

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

    #[test]
    fn dead_letter_ids_are_replayed_once_each_in_order() {
        assert_eq!(distinct(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
