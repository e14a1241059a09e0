//! Hourly counts over a recent window, for the console's overview charts: what the
//! tables already record (events, dead letters, holds, reconcile runs), grouped by hour.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One series the overview draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Events by receipt time; flagged: not applied (duplicate, stale, ignored).
    Received,
    /// Applied events by processing time; flagged: terminations.
    Applied,
    /// Dead letters by when they were written; flagged: unauthenticated messages.
    DeadLettered,
    /// Terminations held by the mass-change guard, by when they were held; flagged: still held.
    Held,
    /// Reconcile runs by start; flagged: failed runs.
    ReconcileRuns,
}

impl Series {
    fn sql(self) -> &'static str {
        match self {
            Series::Received => {
                "SELECT date_trunc('hour', received_at) AS hour, count(*) AS count, \
                 count(*) FILTER (WHERE outcome <> 'applied') AS flagged \
                 FROM events WHERE received_at >= $1 GROUP BY 1"
            }
            Series::Applied => {
                "SELECT date_trunc('hour', processed_at) AS hour, count(*) AS count, \
                 count(*) FILTER (WHERE kind = 'terminated') AS flagged \
                 FROM events WHERE processed_at >= $1 AND outcome = 'applied' GROUP BY 1"
            }
            Series::DeadLettered => {
                "SELECT date_trunc('hour', dead_lettered_at) AS hour, count(*) AS count, \
                 count(*) FILTER (WHERE reason = 'unauthenticated') AS flagged \
                 FROM dead_letters WHERE dead_lettered_at >= $1 GROUP BY 1"
            }
            Series::Held => {
                "SELECT date_trunc('hour', held_at) AS hour, count(*) AS count, \
                 count(*) FILTER (WHERE status = 'held') AS flagged \
                 FROM held_terminations WHERE held_at >= $1 GROUP BY 1"
            }
            Series::ReconcileRuns => {
                "SELECT date_trunc('hour', started_at) AS hour, count(*) AS count, \
                 count(*) FILTER (WHERE status = 'failed') AS flagged \
                 FROM reconcile_runs WHERE started_at >= $1 GROUP BY 1"
            }
        }
    }
}

/// One hour of a series: its start, its count and the flagged part of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hour {
    pub hour: DateTime<Utc>,
    pub count: i64,
    pub flagged: i64,
}

/// The hours since `since` that have rows (hours without any are left out).
pub async fn hourly(
    pool: &PgPool,
    series: Series,
    since: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    sqlx::query_as(series.sql())
        .bind(since)
        .fetch_all(pool)
        .await
}

/// Dead letters still `dead`, per reason.
pub async fn dead_by_reason(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT reason, count(*) FROM dead_letters WHERE status = 'dead' \
         GROUP BY reason ORDER BY reason",
    )
    .fetch_all(pool)
    .await
}
