//! The inbox (dedupe) and the per-delivery event log.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::audit_log;
use super::rows;
use crate::domain::SYSTEM_ACTOR;

/// An event, by `(source, event_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct EventKey<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
}

/// Claim each `(source, event_id)` in the inbox: `true` where this call claimed it, `false`
/// where it was processed before (a duplicate). A key given twice is claimed by its first
/// occurrence only.
pub async fn claim_many(
    conn: &mut PgConnection,
    keys: &[EventKey<'_>],
) -> Result<Vec<bool>, sqlx::Error> {
    let claimed: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO inbox (source, event_id) \
         SELECT source, event_id FROM jsonb_to_recordset($1) AS r(source text, event_id text) \
         ON CONFLICT DO NOTHING RETURNING source, event_id",
    )
    .bind(sqlx::types::Json(keys))
    .fetch_all(conn)
    .await?;
    let mut claimed: HashSet<(String, String)> = claimed.into_iter().collect();
    Ok(keys
        .iter()
        .map(|k| claimed.remove(&(k.source.to_owned(), k.event_id.to_owned())))
        .collect())
}

/// One processed delivery, as written to `events`.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(serialize_with = "rows::micros_opt")]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rows::micros_opt")]
    pub effective_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rows::micros")]
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "rows::micros_opt")]
    pub published_at: Option<DateTime<Utc>>,
    /// The sender's `occurred_at` was ahead of receipt beyond tolerance and was clamped.
    pub clock_skew: bool,
    /// The audit log's (action, account status) when not read from the kind and reason:
    /// an update of a leaver or pre-hire that changed attributes, not access
    /// (`update`), a pre-hire (`prehire`, `pending`).
    #[serde(skip)]
    pub directory_action: Option<(&'static str, &'static str)>,
    /// An applied termination that took access away (what the mass-change guard counts).
    pub revoked: bool,
}

/// Write `records` to `events` in their order; each `applied` one also gets its directory
/// action in the audit log (same transaction). `directory` is the directory target's name.
pub async fn record_many(
    conn: &mut PgConnection,
    records: &[EventRecord<'_>],
    directory: &str,
) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO events (source, event_id, employee_id, kind, sender_event, outcome, reason, \
         trigger, attempt, occurred_at, effective_at, received_at, published_at, clock_skew, \
         revoked) \
         SELECT source, event_id, employee_id, kind, sender_event, outcome, reason, trigger, \
             attempt, occurred_at, effective_at, received_at, published_at, clock_skew, \
             revoked AND outcome = 'applied' \
         FROM jsonb_to_recordset($1) AS r(source text, event_id text, employee_id text, \
             kind text, sender_event text, outcome text, reason text, trigger text, \
             attempt integer, occurred_at timestamptz, effective_at timestamptz, \
             received_at timestamptz, published_at timestamptz, clock_skew boolean, \
             revoked boolean)",
    )
    .bind(sqlx::types::Json(records))
    .execute(&mut *conn)
    .await?;
    let entries: Vec<audit_log::Entry<'_>> = records
        .iter()
        .filter(|e| e.outcome == "applied")
        .filter_map(|e| directory_action(e, directory))
        .collect();
    audit_log::append_many(conn, &entries).await
}

/// An applied event changed the directory's account: the audit entry that says so.
fn directory_action<'a>(e: &EventRecord<'a>, directory: &'a str) -> Option<audit_log::Entry<'a>> {
    let employee_id = e.employee_id?;
    // A re-activation is its own action, so the hash-chained log shows every leaver who
    // came back.
    let (action, account_status) = match (e.kind, e.reason) {
        _ if e.directory_action.is_some() => e.directory_action?,
        (Some("terminated"), _) => ("deactivate", "deactivated"),
        (_, Some("rehire")) => ("reactivate", "active"),
        _ => ("activate", "active"),
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
        "clock_skew": e.clock_skew,
    });
    Some(audit_log::Entry {
        category: audit_log::PROVISIONING,
        action,
        actor: SYSTEM_ACTOR,
        source: Some(e.source),
        event_id: Some(e.event_id),
        employee_id: Some(employee_id),
        target: Some(directory),
        outcome: Some("succeeded"),
        detail,
    })
}

/// An event as `employee show` reports it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// The sender's time was ahead of receipt beyond tolerance and was clamped to receipt.
    pub clock_skew: bool,
}

pub async fn for_employee(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Vec<EventView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, kind, outcome, reason, occurred_at, effective_at, received_at, \
         published_at, processed_at, clock_skew FROM events \
         WHERE source = $1 AND employee_id = $2 ORDER BY id",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(conn)
    .await
}
