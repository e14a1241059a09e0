//! Provisioning actions on external targets, one row per (event, target), and each
//! employee's current state on each of those targets.

use sqlx::{PgConnection, PgPool};

use super::audit_log;
use crate::domain::event::CanonicalEvent;
use crate::domain::SYSTEM_ACTOR;

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

/// Serialize every action of one employee on one target until the transaction ends, so
/// they never overlap at the target. Waits for another worker's call to finish.
pub async fn lock_employee_target(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
) -> Result<(), sqlx::Error> {
    // Lengths make the key unambiguous; a hash collision only serializes two employees.
    let key = format!(
        "provisiond/action/{}:{target}/{}:{source}/{employee_id}",
        target.len(),
        source.len()
    );
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Take the lease on (employee, target) for `action_id` until `limit` from now, unless
/// another call holds a live one (`None`). Call with [`lock_employee_target`] held. The
/// lease, not a lock, keeps two calls for one employee on one target apart while they run:
/// no transaction or row lock is held across the call.
pub async fn take_lease(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    action_id: i64,
    limit: std::time::Duration,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO target_leases (target, source, employee_id, action_id, token, leased_until) \
         VALUES ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6)) \
         ON CONFLICT (target, source, employee_id) DO UPDATE SET action_id = EXCLUDED.action_id, \
             token = EXCLUDED.token, leased_until = EXCLUDED.leased_until \
         WHERE target_leases.leased_until IS NULL \
             OR target_leases.leased_until < clock_timestamp() \
         RETURNING token",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(action_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(limit.as_secs_f64())
    .fetch_optional(conn)
    .await
}

/// When the live lease on (employee, target) ends, if one is held.
pub async fn lease_ends(
    pool: &PgPool,
    target: &str,
    source: &str,
    employee_id: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
    let ends: Option<Option<chrono::DateTime<chrono::Utc>>> = sqlx::query_scalar(
        "SELECT leased_until FROM target_leases WHERE target = $1 AND source = $2 \
         AND employee_id = $3 AND leased_until >= clock_timestamp()",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .fetch_optional(pool)
    .await?;
    Ok(ends.flatten())
}

/// Give the lease back (the row stays: the runtime deletes nothing). `false` when it was
/// no longer ours: it ran out and another call took it.
pub async fn release_lease(
    conn: &mut PgConnection,
    target: &str,
    source: &str,
    employee_id: &str,
    token: &str,
) -> Result<bool, sqlx::Error> {
    let released = sqlx::query(
        "UPDATE target_leases SET leased_until = NULL, token = NULL, action_id = NULL \
         WHERE target = $1 AND source = $2 AND employee_id = $3 AND token = $4",
    )
    .bind(target)
    .bind(source)
    .bind(employee_id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(released.rows_affected() == 1)
}

/// Why the action must not be sent, if the employee's current state contradicts it: a
/// newer action for the employee on this target, or an activation of someone terminated.
/// Call with [`lock_employee_target`] held.
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
/// with [`lock_employee_target`] held: no other worker runs it then, so waiting here only
/// waits for a recording transaction that may be superseding it (and sees its verdict).
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
    let Finished {
        target,
        source,
        event_id,
        employee_id,
        action,
        attempts,
        finished_at,
    } = finished;
    let status = match (error, action.as_str()) {
        (Some(_), _) => "failed",
        (None, "deactivate") => "deactivated",
        (None, _) => "active",
    };
    // A newer action (created while this call was in flight) owns the target's state.
    let newer: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM provisioning_actions WHERE source = $1 \
         AND employee_id = $2 AND target = $3 AND id > $4)",
    )
    .bind(&source)
    .bind(&employee_id)
    .bind(&target)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if !newer {
        set_state(conn, &target, &source, &employee_id, status, error).await?;
    }
    let entry = audit_log::Entry {
        category: audit_log::PROVISIONING,
        action: &action,
        actor: SYSTEM_ACTOR,
        source: Some(&source),
        event_id: Some(&event_id),
        employee_id: Some(&employee_id),
        target: Some(&target),
        outcome: Some(if error.is_some() {
            "failed"
        } else {
            "succeeded"
        }),
        detail: serde_json::json!({
            "action_id": id,
            "attempts": attempts,
            "error": error,
            "started_at": started_at,
            "finished_at": finished_at,
        }),
    };
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

/// An action as `employee show` reports it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ActionView {
    pub event_id: String,
    pub target: String,
    pub action: String,
    pub status: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn for_employee(
    conn: &mut PgConnection,
    source: &str,
    employee_id: &str,
) -> Result<Vec<ActionView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, target, action, status, attempts, error, started_at, finished_at \
         FROM provisioning_actions WHERE source = $1 AND employee_id = $2 ORDER BY id",
    )
    .bind(source)
    .bind(employee_id)
    .fetch_all(conn)
    .await
}
