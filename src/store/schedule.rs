//! Scheduled changes: future-dated terminations, and pre-hires' activations at their start
//! date. Both wait in a table of the same shape until the scheduler claims them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::domain::message::QueueMessage;

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
    // A termination the scheduler has claimed is being published: it must apply, as an
    // enqueued one does (an activation is checked against its row when it arrives).
    let claimed = match which {
        Scheduled::Termination => " AND (claimed_until IS NULL OR claimed_until < now())",
        Scheduled::Activation => "",
    };
    let sql = format!(
        "UPDATE {} SET status = 'cancelled', reason = $3, updated_at = now() \
         WHERE source = $1 AND employee_id = $2 AND status IN {}{claimed}",
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
    pub due_at: DateTime<Utc>,
}

/// How long a claim keeps other schedulers (and a termination's cancel) off a due row:
/// long enough to publish it; a scheduler that dies meanwhile frees it when this ends.
const CLAIM_FOR: &str = "2 minutes";

/// Claim up to `limit` due rows for a short while, in one statement (no lock is held
/// afterwards, none across the publishing that follows); rows another scheduler claimed
/// are skipped until their claim ends.
pub async fn claim_due(
    pool: &PgPool,
    which: Scheduled,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    let sql = format!(
        "UPDATE {table} SET claimed_until = now() + interval '{CLAIM_FOR}' \
         WHERE id IN (SELECT id FROM {table} WHERE status = 'scheduled' AND due_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < now()) \
             ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, source, event_id, source_kind, body, received_at, due_at",
        table = which.table()
    );
    let mut due: Vec<Due> = sqlx::query_as(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    due.sort_by_key(|row| (row.due_at, row.id));
    Ok(due)
}

/// The row was published: enqueued, unless a newer event cancelled it meanwhile.
pub async fn mark_enqueued(pool: &PgPool, which: Scheduled, id: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET status = 'enqueued', claimed_until = NULL, updated_at = now() \
         WHERE id = $1 AND status = 'scheduled'",
        which.table()
    );
    sqlx::query(&sql).bind(id).execute(pool).await?;
    Ok(())
}

/// Give claimed rows back at once (their publishing failed).
pub async fn release_claims(
    pool: &PgPool,
    which: Scheduled,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET claimed_until = NULL WHERE id = ANY($1) AND status = 'scheduled'",
        which.table()
    );
    sqlx::query(&sql).bind(ids).execute(pool).await?;
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

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
