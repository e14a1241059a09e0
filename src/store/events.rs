//! The inbox (dedupe) and the per-delivery event log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::audit_log;
use super::dead_letters::SYSTEM_ACTOR;

/// Claim `(source, event_id)`; false when it was already processed (a duplicate).
pub async fn claim(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("INSERT INTO inbox (source, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(source)
            .bind(event_id)
            .execute(conn)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// One processed delivery, as written to `events`.
#[derive(Debug, Clone)]
pub struct EventRecord<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub employee_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub sender_event: Option<&'a str>,
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
    pub trigger: &'a str,
    pub attempt: i32,
    pub occurred_at: Option<DateTime<Utc>>,
    pub effective_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

pub async fn record(conn: &mut PgConnection, e: &EventRecord<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (source, event_id, employee_id, kind, sender_event, outcome, reason, \
         trigger, attempt, occurred_at, effective_at, received_at, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(e.source)
    .bind(e.event_id)
    .bind(e.employee_id)
    .bind(e.kind)
    .bind(e.sender_event)
    .bind(e.outcome)
    .bind(e.reason)
    .bind(e.trigger)
    .bind(e.attempt)
    .bind(e.occurred_at)
    .bind(e.effective_at)
    .bind(e.received_at)
    .bind(e.published_at)
    .execute(&mut *conn)
    .await?;
    if e.outcome == "applied" {
        audit_directory_action(conn, e).await?;
    }
    Ok(())
}

/// An applied event changed the directory in this transaction: say so in the audit log.
async fn audit_directory_action(
    conn: &mut PgConnection,
    e: &EventRecord<'_>,
) -> Result<(), sqlx::Error> {
    let Some(employee_id) = e.employee_id else {
        return Ok(());
    };
    // The account this transaction just wrote (its target is the directory's name).
    let account: Option<(String, String)> = sqlx::query_as(
        "SELECT target, status FROM accounts WHERE source = $1 AND employee_id = $2 \
         ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(e.source)
    .bind(employee_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (target, account_status) = match account {
        Some((target, status)) => (target, Some(status)),
        None => ("directory".to_owned(), None),
    };
    let action = match e.kind {
        Some("terminated") => "deactivate",
        _ => "activate",
    };
    let detail = serde_json::json!({
        "kind": e.kind,
        "trigger": e.trigger,
        "reason": e.reason,
        "attempt": e.attempt,
        "account_status": account_status,
        "occurred_at": e.occurred_at,
        "effective_at": e.effective_at,
        "received_at": e.received_at,
    });
    let entry = audit_log::Entry {
        category: audit_log::PROVISIONING,
        action,
        actor: SYSTEM_ACTOR,
        source: Some(e.source),
        event_id: Some(e.event_id),
        employee_id: Some(employee_id),
        target: Some(&target),
        outcome: Some("succeeded"),
        detail,
    };
    audit_log::append(conn, &entry).await?;
    Ok(())
}

/// An event as `employee show` reports it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventView {
    pub event_id: String,
    pub kind: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub effective_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub processed_at: DateTime<Utc>,
}

pub async fn for_employee(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Vec<EventView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, kind, outcome, reason, occurred_at, effective_at, received_at, \
         published_at, processed_at FROM events \
         WHERE source = $1 AND employee_id = $2 ORDER BY id",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(conn)
    .await
}
