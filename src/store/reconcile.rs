//! Reconcile runs, the ids a run saw, and the synthetic events runs published.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

/// A run still `running` this long after it started was interrupted (its process stopped):
/// no run lasts that long (a list is read in at most a few thousand pages).
const INTERRUPTED_AFTER: &str = "1 day";

/// Record a new run; runs of the source still `running` long after they started are closed
/// first as `failed` (interrupted), so history never shows a crashed run as running.
pub async fn start_run(
    pool: &PgPool,
    source: &str,
    dry_run: bool,
    trigger: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE reconcile_runs SET status = 'failed', finished_at = clock_timestamp(), \
         error = 'interrupted: the process running it stopped before the run ended' \
         WHERE source = $1 AND status = 'running' \
         AND started_at < now() - interval '{INTERRUPTED_AFTER}'"
    ))
    .bind(source)
    .execute(pool)
    .await?;
    sqlx::query_scalar(
        "INSERT INTO reconcile_runs (source, dry_run, trigger) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(source)
    .bind(dry_run)
    .bind(trigger)
    .fetch_one(pool)
    .await
}

/// What a run counted.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub listed: i64,
    pub terminations: i64,
    pub hires: i64,
    pub updates: i64,
    pub published: i64,
}

/// Close a run (`succeeded`, or `failed` with `error`). The ids it saw stay in
/// `reconcile_seen` (the runtime deletes nothing): [`prune_seen`], run by the owner, drops them.
pub async fn finish_run(
    pool: &PgPool,
    run_id: i64,
    counts: &Counts,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reconcile_runs SET finished_at = clock_timestamp(), listed = $2, \
         terminations = $3, hires = $4, updates = $5, published = $6, error = $7, \
         status = CASE WHEN $7::text IS NULL THEN 'succeeded' ELSE 'failed' END WHERE id = $1",
    )
    .bind(run_id)
    .bind(counts.listed)
    .bind(counts.terminations)
    .bind(counts.hires)
    .bind(counts.updates)
    .bind(counts.published)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Delete the ids seen by runs that ended, or that started more than `stale_after` ago
/// (a run that crashed never ends); how many rows went. The owner's maintenance
/// (`provisiond db prune`): the runtime role may not delete.
pub async fn prune_seen(pool: &PgPool, stale_after: Duration) -> Result<u64, sqlx::Error> {
    let stale_after = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    let started_before = Utc::now().checked_sub_signed(stale_after);
    let done = sqlx::query(
        "DELETE FROM reconcile_seen s USING reconcile_runs r WHERE r.id = s.run_id \
         AND (r.finished_at IS NOT NULL OR r.started_at < $1)",
    )
    .bind(started_before)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Remember the ids of a page; how many were new to this run.
pub async fn mark_seen(
    conn: &mut PgConnection,
    run_id: i64,
    employee_ids: &[&str],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO reconcile_seen (run_id, employee_id) SELECT $1, id FROM unnest($2::text[]) \
         AS t(id) ON CONFLICT DO NOTHING",
    )
    .bind(run_id)
    .bind(employee_ids)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An employee as provisiond has them, for comparison with the sender's record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Here {
    pub employee_id: String,
    pub status: String,
    pub last_occurred_at: Option<DateTime<Utc>>,
    pub terminated_occurred_at: Option<DateTime<Utc>>,
    /// The directory account's status (`active`, `pending`, `deactivated`), if any.
    pub account: Option<String>,
    pub role: Option<String>,
    pub groups: Option<Vec<String>>,
    pub entitlements: Option<sqlx::types::JsonValue>,
}

const HERE: &str = "SELECT e.employee_id, e.status, e.last_occurred_at, e.terminated_occurred_at, \
     a.status AS account, a.role, a.groups, a.entitlements FROM employees e \
     LEFT JOIN accounts a ON a.target = $2 AND a.source = e.source \
     AND a.employee_id = e.employee_id WHERE e.source = $1";

/// The employees of `source` among `ids`.
pub async fn here(
    conn: &mut PgConnection,
    source: &str,
    directory: &str,
    ids: &[&str],
) -> Result<Vec<Here>, sqlx::Error> {
    let sql = format!("{HERE} AND e.employee_id = ANY($3)");
    sqlx::query_as(&sql)
        .bind(source)
        .bind(directory)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Employees of `source` with access (active or pending) the run did not see, `limit` at
/// a time after `after` (keyset pagination: memory stays flat). WorkOS lists one directory:
/// `directory` keeps the comparison to its users. Employees changed since the run started
/// (a hire whose page was already read) are left for the next run.
#[allow(clippy::too_many_arguments)]
pub async fn unseen(
    conn: &mut PgConnection,
    source: &str,
    directory_target: &str,
    run_id: i64,
    directory: Option<&str>,
    started: DateTime<Utc>,
    after: &str,
    limit: i64,
) -> Result<Vec<Here>, sqlx::Error> {
    let sql = format!(
        "{HERE} AND e.status IN ('active', 'pending') AND e.employee_id > $4 \
         AND e.updated_at < $7 \
         AND e.employee_id NOT LIKE 'contract:%' \
         AND NOT EXISTS (SELECT 1 FROM reconcile_seen s WHERE s.run_id = $3 \
             AND s.employee_id = e.employee_id) \
         AND ($5::text IS NULL OR a.attributes->>'directory_id' = $5) \
         ORDER BY e.employee_id LIMIT $6"
    );
    sqlx::query_as(&sql)
        .bind(source)
        .bind(directory_target)
        .bind(run_id)
        .bind(after)
        .bind(directory)
        .bind(limit)
        .bind(started)
        .fetch_all(conn)
        .await
}

/// What became of an event a run would publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never published.
    New,
    /// Published, not processed yet (or being retried).
    Pending,
    /// Applied (or held by the guard).
    Done,
    /// Processed without effect (stale, ignored) or dead-lettered.
    Failed,
}

pub async fn fate(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
) -> Result<Fate, sqlx::Error> {
    let row: Option<(Option<String>, bool)> = sqlx::query_as(
        "SELECT (SELECT outcome FROM events e WHERE e.source = r.source \
                 AND e.event_id = r.event_id ORDER BY e.id DESC LIMIT 1), \
                EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = r.source \
                        AND d.event_id = r.event_id AND d.status <> 'replayed') \
         FROM reconcile_events r WHERE r.source = $1 AND r.event_id = $2",
    )
    .bind(source)
    .bind(event_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Fate::New,
        Some((_, true)) => Fate::Failed,
        Some((None, false)) => Fate::Pending,
        Some((Some(outcome), false)) => match outcome.as_str() {
            "stale" | "ignored" => Fate::Failed,
            _ => Fate::Done,
        },
    })
}

pub async fn record_published(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
    run_id: i64,
    employee_id: &str,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reconcile_events (source, event_id, run_id, employee_id, kind) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(source)
    .bind(event_id)
    .bind(run_id)
    .bind(employee_id)
    .bind(kind)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunView {
    pub id: i64,
    pub source: String,
    pub dry_run: bool,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub listed: i64,
    pub terminations: i64,
    pub hires: i64,
    pub updates: i64,
    pub published: i64,
    pub error: Option<String>,
}

/// The latest runs, newest first (of one source, or all).
pub async fn history(
    pool: &PgPool,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<RunView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, source, dry_run, trigger, started_at, finished_at, status, listed, \
         terminations, hires, updates, published, error FROM reconcile_runs \
         WHERE $1::text IS NULL OR source = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(source)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// When the source's last scheduled or manual run (not a dry run) started.
pub async fn last_started(
    pool: &PgPool,
    source: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(started_at) FROM reconcile_runs WHERE source = $1 AND NOT dry_run",
    )
    .bind(source)
    .fetch_one(pool)
    .await
}
