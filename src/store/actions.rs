//! Provisioning actions on external targets, one row per (event, target), and each
//! employee's current state on each of those targets.

use sqlx::{PgConnection, PgPool};

use super::audit_log;
use super::dead_letters::SYSTEM_ACTOR;

/// Record that `targets` must be brought to `action` for this event.
pub async fn create_pending(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
    employee_id: &str,
    targets: &[&str],
    action: &str,
) -> Result<(), sqlx::Error> {
    for target in targets {
        sqlx::query(
            "INSERT INTO provisioning_actions (source, event_id, employee_id, target, action, status) \
             VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(employee_id)
        .bind(target)
        .bind(action)
        .execute(&mut *conn)
        .await?;
        set_state(conn, target, source, employee_id, "pending", None).await?;
    }
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
    pub target: String,
    pub action: String,
}

pub async fn open(
    pool: &PgPool,
    source: &str,
    event_id: &str,
) -> Result<Vec<OpenAction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, target, action FROM provisioning_actions \
         WHERE source = $1 AND event_id = $2 AND status IN ('pending', 'failed') ORDER BY id",
    )
    .bind(source)
    .bind(event_id)
    .fetch_all(pool)
    .await
}

/// Lock an open action for this transaction; `false` if it is done or another worker
/// holds it (that worker will finish it).
pub async fn claim(conn: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM provisioning_actions WHERE id = $1 AND status IN ('pending', 'failed') \
         FOR UPDATE SKIP LOCKED",
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
    set_state(conn, &target, &source, &employee_id, status, error).await?;
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
