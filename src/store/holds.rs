//! Terminations held by the mass-change guard (`held_terminations`), and operators'
//! decisions on them. Every hold and decision is in the hash-chained audit log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::audit_log::{self, Entry};
use super::Actor;
use crate::domain::message::QueueMessage;

/// `category` of the guard's holds and the operators' releases and rejections.
pub const GUARD: &str = "guard";

/// Hold `msg` (a termination of `employee_id`) instead of applying it.
pub async fn hold(
    conn: &mut PgConnection,
    msg: &QueueMessage,
    employee_id: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO held_terminations (source, employee_id, event_id, source_kind, trigger, \
         body, received_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (source, event_id) DO NOTHING RETURNING id",
    )
    .bind(&msg.source)
    .bind(employee_id)
    .bind(&msg.event_id)
    .bind(msg.source_kind.as_str())
    .bind(msg.trigger.as_str())
    .bind(msg.body.as_ref())
    .bind(msg.received_at)
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else { return Ok(()) };
    let entry = Entry {
        category: GUARD,
        action: "held",
        actor: crate::domain::SYSTEM_ACTOR,
        source: Some(&msg.source),
        event_id: Some(&msg.event_id),
        employee_id: Some(employee_id),
        target: None,
        outcome: Some("held"),
        detail: json!({ "hold_id": id, "reason": reason, "trigger": msg.trigger }),
    };
    audit_log::append(conn, &entry).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HeldView {
    pub id: i64,
    pub source: String,
    pub employee_id: String,
    pub event_id: String,
    pub trigger: String,
    pub received_at: DateTime<Utc>,
    pub held_at: DateTime<Utc>,
    pub reason: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
}

const VIEW: &str = "SELECT id, source, employee_id, event_id, trigger, received_at, held_at, \
     reason, status, decided_by, decided_at, decision_reason FROM held_terminations";

/// Holds with `status` (all when `None`), of one source or all, oldest first.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    source: Option<&str>,
) -> Result<Vec<HeldView>, sqlx::Error> {
    let sql = format!(
        "{VIEW} WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR source = $2) \
         ORDER BY held_at, id"
    );
    sqlx::query_as(&sql)
        .bind(status)
        .bind(source)
        .fetch_all(pool)
        .await
}

/// The employee's open hold, if any.
pub async fn open_for(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Option<HeldView>, sqlx::Error> {
    let sql = format!(
        "{VIEW} WHERE source = $1 AND employee_id = $2 AND status = 'held' \
         ORDER BY held_at DESC LIMIT 1"
    );
    sqlx::query_as(&sql)
        .bind(source)
        .bind(employee_id)
        .fetch_optional(conn)
        .await
}

pub async fn count_held(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM held_terminations WHERE status = 'held'")
        .fetch_one(pool)
        .await
}

/// A held row, locked for an operator's decision.
#[derive(Debug, sqlx::FromRow)]
pub struct Locked {
    pub source: String,
    pub employee_id: String,
    pub event_id: String,
    pub source_kind: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Lock hold `id` if it is still held.
pub async fn lock_held(conn: &mut PgConnection, id: i64) -> Result<Option<Locked>, sqlx::Error> {
    sqlx::query_as(
        "SELECT source, employee_id, event_id, source_kind, body, received_at \
         FROM held_terminations WHERE id = $1 AND status = 'held' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Record the decision (`released` or `rejected`) and its audit entry.
pub async fn decide(
    conn: &mut PgConnection,
    id: i64,
    row: &Locked,
    decision: &str,
    actor: &Actor,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE held_terminations SET status = $2, decided_by = $3, decided_at = now(), \
         decision_reason = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(decision)
    .bind(&actor.name)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    let entry = Entry {
        category: GUARD,
        action: decision,
        actor: &actor.name,
        source: Some(&row.source),
        event_id: Some(&row.event_id),
        employee_id: Some(&row.employee_id),
        target: None,
        outcome: Some(decision),
        detail: actor.annotate(json!({ "hold_id": id, "reason": reason })),
    };
    audit_log::append(conn, &entry).await?;
    Ok(())
}

/// The ids of every open hold (of one source, or all).
pub async fn held_ids(pool: &PgPool, source: Option<&str>) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM held_terminations WHERE status = 'held' \
         AND ($1::text IS NULL OR source = $1) ORDER BY id",
    )
    .bind(source)
    .fetch_all(pool)
    .await
}

/// The guard's numbers for `source`: employees whose access a termination took away within
/// `window_secs` plus the terminations still held (a held run keeps counting until an
/// operator decides), and employees with access now.
pub async fn guard_counts(
    conn: &mut PgConnection,
    source: &str,
    window_secs: f64,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(DISTINCT employee_id) FROM events WHERE source = $1 \
             AND revoked AND processed_at > now() - make_interval(secs => $2)) \
           + (SELECT count(*) FROM held_terminations WHERE source = $1 AND status = 'held'), \
         (SELECT count(*) FROM employees WHERE source = $1 AND status IN ('active', 'pending'))",
    )
    .bind(source)
    .bind(window_secs)
    .fetch_one(conn)
    .await
}

/// The worker applies a released hold: mark it released if the release's own transaction
/// did not (it publishes before it commits).
pub async fn mark_released(
    conn: &mut PgConnection,
    source: &str,
    released_event_id: &str,
) -> Result<(), sqlx::Error> {
    let Some(event_id) = released_event_id.strip_suffix(":released") else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE held_terminations SET status = 'released', \
         decided_by = COALESCE(decided_by, 'provisiond'), decided_at = COALESCE(decided_at, now()) \
         WHERE source = $1 AND event_id = $2 AND status = 'held'",
    )
    .bind(source)
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Serialize the guard's decisions for `source` until the transaction ends. Taken before
/// any employee lock, in source order, so it never closes a deadlock cycle.
pub async fn lock_source(conn: &mut PgConnection, source: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('provisiond-guard:' || $1))")
        .bind(source)
        .execute(conn)
        .await?;
    Ok(())
}
