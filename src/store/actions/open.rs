//! The actions still to run: finding them, claiming one, and superseding the stale.

use sqlx::{PgConnection, PgPool};

use super::count_superseded;
use crate::domain::event::CanonicalEvent;

/// Why the action must not be sent, if the employee's current state contradicts it: a
/// newer action for the employee on this target, or an activation of someone terminated.
/// Call with [`lock_employee_target`](super::lock_employee_target) held.
pub async fn contradiction(
    conn: &mut PgConnection,
    action: &OpenAction,
) -> Result<Option<String>, sqlx::Error> {
    let newer: Option<(String, String)> = sqlx::query_as(
        "SELECT event_id, action FROM provisioning_actions \
         WHERE source = $1 AND employee_id = $2 AND target = $3 AND id > $4 \
         AND NOT (action = 'deactivate' AND $5 = 'deactivate') ORDER BY id DESC LIMIT 1",
    )
    .bind(&action.source)
    .bind(&action.employee_id)
    .bind(&action.target)
    .bind(action.id)
    .bind(&action.action)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((event_id, newer_action)) = newer {
        return Ok(Some(format!(
            "superseded by event {event_id} ({newer_action})"
        )));
    }
    if action.action == "deactivate" {
        return Ok(None);
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM employees WHERE source = $1 AND employee_id = $2")
            .bind(&action.source)
            .bind(&action.employee_id)
            .fetch_optional(conn)
            .await?;
    Ok(match status.as_deref() {
        Some("terminated") => Some("superseded: the employee is terminated".to_owned()),
        Some("pending") => Some("superseded: the employee has not started yet".to_owned()),
        _ => None,
    })
}

/// Mark an open action as not sent, with why.
pub async fn supersede(
    conn: &mut PgConnection,
    action: &OpenAction,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE provisioning_actions SET status = 'superseded', error = $2, \
         finished_at = clock_timestamp() WHERE id = $1",
    )
    .bind(action.id)
    .bind(reason)
    .execute(conn)
    .await?;
    count_superseded(&action.target, 1);
    Ok(())
}

pub async fn has_open(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM provisioning_actions WHERE source = $1 AND event_id = $2 \
         AND status IN ('pending', 'failed'))",
    )
    .bind(source)
    .bind(event_id)
    .fetch_one(conn)
    .await
}

/// An action not yet done.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAction {
    pub id: i64,
    pub source: String,
    pub event_id: String,
    pub employee_id: String,
    pub target: String,
    pub action: String,
    /// What to send (absent on rows written before provisiond kept it).
    pub event: Option<sqlx::types::Json<CanonicalEvent>>,
}

pub async fn open(
    pool: &PgPool,
    source: &str,
    event_id: &str,
) -> Result<Vec<OpenAction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, source, event_id, employee_id, target, action, event \
         FROM provisioning_actions \
         WHERE source = $1 AND event_id = $2 AND status IN ('pending', 'failed') ORDER BY id",
    )
    .bind(source)
    .bind(event_id)
    .fetch_all(pool)
    .await
}

/// Per target, the employee's newest action if it is still open: the state the target
/// must be brought to.
pub async fn newest_open(
    pool: &PgPool,
    source: &str,
    employee_id: &str,
) -> Result<Vec<OpenAction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, source, event_id, employee_id, target, action, event FROM ( \
             SELECT DISTINCT ON (target) * FROM provisioning_actions \
             WHERE source = $1 AND employee_id = $2 ORDER BY target, id DESC) newest \
         WHERE status IN ('pending', 'failed') ORDER BY id",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(pool)
    .await
}

/// Lock an open action for this transaction; `false` if it is done or superseded. Call
/// with [`lock_employee_target`](super::lock_employee_target) held: no other worker runs
/// it then, so waiting here only waits for a recording transaction that may be
/// superseding it (and sees its verdict).
pub async fn claim(conn: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM provisioning_actions WHERE id = $1 AND status IN ('pending', 'failed') \
         FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}
