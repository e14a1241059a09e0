//! Scheduled changes: future-dated terminations, and pre-hires' activations at their start
//! date. Both wait in a table of the same shape until the scheduler claims them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::queue::QueueMessage;

/// Which scheduled change: each has its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    /// A termination dated in the future (`scheduled_terminations`).
    Termination,
    /// A pre-hire's activation at the start of its start date (`scheduled_activations`).
    Activation,
}

impl Scheduled {
    pub const ALL: [Scheduled; 2] = [Scheduled::Termination, Scheduled::Activation];

    fn table(self) -> &'static str {
        match self {
            Scheduled::Termination => "scheduled_terminations",
            Scheduled::Activation => "scheduled_activations",
        }
    }

    /// The statuses a newer event may cancel. An enqueued termination is on its way and
    /// must apply; an enqueued activation is checked against its row when it arrives, so
    /// cancelling it still stops it.
    fn cancellable(self) -> &'static str {
        match self {
            Scheduled::Termination => "('scheduled')",
            Scheduled::Activation => "('scheduled', 'enqueued')",
        }
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    which: Scheduled,
    msg: &QueueMessage,
    employee_id: &str,
    effective_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {} (source, employee_id, event_id, source_kind, body, received_at, \
         effective_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (source, event_id) DO NOTHING",
        which.table()
    );
    sqlx::query(&sql)
        .bind(&msg.source)
        .bind(employee_id)
        .bind(&msg.event_id)
        .bind(msg.source_kind.as_str())
        .bind(msg.body.as_ref())
        .bind(msg.received_at)
        .bind(effective_at)
        .bind(due_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A newer event for the employee rescinds whatever change was waiting.
pub async fn cancel_for_employee(
    conn: &mut PgConnection,
    which: Scheduled,
    source: &str,
    employee_id: &str,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET status = 'cancelled', reason = $3, updated_at = now() \
         WHERE source = $1 AND employee_id = $2 AND status IN {}",
        which.table(),
        which.cancellable()
    );
    let done = sqlx::query(&sql)
        .bind(source)
        .bind(employee_id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: i64,
    pub source: String,
    pub event_id: String,
    pub source_kind: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Lock up to `limit` due rows for this transaction, skipping rows another process holds.
pub async fn claim_due(
    tx: &mut Transaction<'_, Postgres>,
    which: Scheduled,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    let sql = format!(
        "SELECT id, source, event_id, source_kind, body, received_at FROM {} \
         WHERE status = 'scheduled' AND due_at <= $1 ORDER BY due_at LIMIT $2 \
         FOR UPDATE SKIP LOCKED",
        which.table()
    );
    sqlx::query_as(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await
}

pub async fn mark_enqueued(
    conn: &mut PgConnection,
    which: Scheduled,
    id: i64,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET status = 'enqueued', updated_at = now() WHERE id = $1",
        which.table()
    );
    sqlx::query(&sql).bind(id).execute(conn).await?;
    Ok(())
}

/// The status of the scheduled row of `event_id` (`scheduled`, `enqueued`, `cancelled`).
pub async fn status_of(
    conn: &mut PgConnection,
    which: Scheduled,
    source: &str,
    event_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let sql = format!(
        "SELECT status FROM {} WHERE source = $1 AND event_id = $2",
        which.table()
    );
    sqlx::query_scalar(&sql)
        .bind(source)
        .bind(event_id)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ScheduledView {
    pub event_id: String,
    pub effective_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

pub async fn pending_for(
    conn: &mut PgConnection,
    which: Scheduled,
    source: &str,
    employee_id: &str,
) -> Result<Option<ScheduledView>, sqlx::Error> {
    let sql = format!(
        "SELECT event_id, effective_at, due_at FROM {} \
         WHERE source = $1 AND employee_id = $2 AND status = 'scheduled' \
         ORDER BY due_at LIMIT 1",
        which.table()
    );
    sqlx::query_as(&sql)
        .bind(source)
        .bind(employee_id)
        .fetch_optional(conn)
        .await
}
