//! Provisioning actions on external targets, one row per (event, target), and each
//! employee's current state on each of those targets: recording them here.

mod leases;
mod open;
mod views;

use sqlx::PgConnection;

use super::audit_log;
use crate::domain::event::CanonicalEvent;
use crate::domain::SYSTEM_ACTOR;

pub use leases::{lease_ends, lock_employee_target, release_lease, take_lease};
pub use open::{claim, contradiction, has_open, newest_open, open, supersede, OpenAction};
pub use views::{for_employee, ActionView};

/// The actions one applied event asks of the external targets.
pub struct NewActions<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub employee_id: &'a str,
    /// `activate` or `deactivate`.
    pub action: &'a str,
    /// What the action sends, kept so that any later delivery for the employee can send it.
    pub event: &'a CanonicalEvent,
}

/// Record that `targets` must be brought to `new.action` for this event.
pub async fn create_pending(
    conn: &mut PgConnection,
    new: &NewActions<'_>,
    targets: &[&str],
) -> Result<(), sqlx::Error> {
    let NewActions {
        source,
        event_id,
        employee_id,
        action,
        event,
    } = *new;
    for target in targets {
        // The new action is the employee's current state on this target: the older ones
        // still open are superseded here, so a late retry or a replay of one of them can
        // never be the last word. A deactivation is never superseded by another one (both
        // revoke; the older termination must still complete).
        let superseded: Vec<i64> = sqlx::query_scalar(
            "WITH new AS (\
                 INSERT INTO provisioning_actions \
                     (source, event_id, employee_id, target, action, status, event) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT DO NOTHING RETURNING id) \
             UPDATE provisioning_actions SET status = 'superseded', \
                 error = 'superseded by event ' || $2 || ' (' || $5 || ')', \
                 finished_at = clock_timestamp() \
             WHERE id IN (SELECT id FROM provisioning_actions \
                 WHERE source = $1 AND employee_id = $3 AND target = $4 \
                 AND status IN ('pending', 'failed') AND id < (SELECT id FROM new) \
                 AND NOT (action = 'deactivate' AND $5 = 'deactivate') \
                 AND id NOT IN (SELECT action_id FROM target_leases \
                     WHERE action_id IS NOT NULL AND leased_until >= clock_timestamp()) \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind(source)
        .bind(event_id)
        .bind(employee_id)
        .bind(target)
        .bind(action)
        .bind(sqlx::types::Json(event))
        .fetch_all(&mut *conn)
        .await?;
        count_superseded(target, superseded.len());
        set_state(conn, target, source, employee_id, "pending", None).await?;
    }
    Ok(())
}

/// `provisiond_actions_superseded_total{target}`: actions not sent because a newer state
/// replaced them.
fn count_superseded(target: &str, n: usize) {
    if n > 0 {
        let target = target.to_owned();
        metrics::counter!("provisiond_actions_superseded_total", "target" => target)
            .increment(n as u64);
    }
}

#[derive(sqlx::FromRow)]
struct Finished {
    target: String,
    source: String,
    event_id: String,
    employee_id: String,
    action: String,
    attempts: i32,
    finished_at: chrono::DateTime<chrono::Utc>,
}

impl Finished {
    /// The audit log's record of this attempt of action `id`.
    fn audit_entry<'a>(
        &'a self,
        id: i64,
        started_at: chrono::DateTime<chrono::Utc>,
        error: Option<&str>,
    ) -> audit_log::Entry<'a> {
        audit_log::Entry {
            category: audit_log::PROVISIONING,
            action: &self.action,
            actor: SYSTEM_ACTOR,
            source: Some(&self.source),
            event_id: Some(&self.event_id),
            employee_id: Some(&self.employee_id),
            target: Some(&self.target),
            outcome: Some(if error.is_some() {
                "failed"
            } else {
                "succeeded"
            }),
            detail: serde_json::json!({
                "action_id": id,
                "attempts": self.attempts,
                "error": error,
                "started_at": started_at,
                "finished_at": self.finished_at,
            }),
        }
    }
}

/// Record one attempt's result on the action and the employee's target state, and append
/// it to the audit log, in the caller's transaction.
pub async fn finish(
    conn: &mut PgConnection,
    id: i64,
    started_at: chrono::DateTime<chrono::Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let finished: Finished = sqlx::query_as(
        "UPDATE provisioning_actions SET attempts = attempts + 1, \
         status = CASE WHEN $2::text IS NULL THEN 'succeeded' ELSE 'failed' END, \
         error = $2, started_at = $3, finished_at = clock_timestamp() WHERE id = $1 \
         RETURNING target, source, event_id, employee_id, action, attempts, finished_at",
    )
    .bind(id)
    .bind(error)
    .bind(started_at)
    .fetch_one(&mut *conn)
    .await?;
    let status = match (error, finished.action.as_str()) {
        (Some(_), _) => "failed",
        (None, "deactivate") => "deactivated",
        (None, _) => "active",
    };
    let Finished {
        target,
        source,
        employee_id,
        ..
    } = &finished;
    // A newer action (created while this call was in flight) owns the target's state.
    let newer: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM provisioning_actions WHERE source = $1 \
         AND employee_id = $2 AND target = $3 AND id > $4)",
    )
    .bind(source)
    .bind(employee_id)
    .bind(target)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if !newer {
        set_state(conn, target, source, employee_id, status, error).await?;
    }
    let entry = finished.audit_entry(id, started_at, error);
    audit_log::append(conn, &entry).await?;
    Ok(())
}

async fn set_state(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO target_states (target, source, employee_id, status, last_error) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target, source, employee_id) DO UPDATE SET \
         status = EXCLUDED.status, last_error = EXCLUDED.last_error, updated_at = clock_timestamp()",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(status)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
