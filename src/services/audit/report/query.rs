//! The SQL that finds the terminations and their targets' rows.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};

use super::{classify, Params, Scheduled, Timeline};

/// Which terminations to load.
pub(super) struct Scope<'a> {
    pub(super) source: Option<&'a str>,
    pub(super) since: Option<DateTime<Utc>>,
    pub(super) until: Option<DateTime<Utc>>,
    /// One event only (its applied row, not the other kinds).
    pub(super) event_id: Option<&'a str>,
    /// Only applied terminations with a target not revoked or a dead letter (the other
    /// kinds never revoke everything, so they are all loaded).
    pub(super) incomplete_only: bool,
    pub(super) now: DateTime<Utc>,
}

impl Scope<'_> {
    /// Every termination, of any source and age, as of `now`.
    pub(super) fn everything(now: DateTime<Utc>) -> Self {
        Scope {
            source: None,
            since: None,
            until: None,
            event_id: None,
            incomplete_only: false,
            now,
        }
    }
}

/// A termination as the queries find it, before its targets are looked at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Candidate {
    /// `applied`, `stale`, `ignored` (the `events` outcome), `dead_lettered` or `scheduler`.
    pub(super) origin: String,
    pub(super) source: String,
    pub(super) employee_id: Option<String>,
    pub(super) event_id: String,
    pub(super) trigger: String,
    pub(super) occurred_at: Option<DateTime<Utc>>,
    pub(super) effective_at: Option<DateTime<Utc>>,
    pub(super) received_at: DateTime<Utc>,
    pub(super) due_at: Option<DateTime<Utc>>,
    pub(super) published_at: Option<DateTime<Utc>>,
    pub(super) processed_at: Option<DateTime<Utc>>,
    pub(super) directory: String,
    /// `scheduled` or `enqueued` for the scheduler's rows.
    pub(super) scheduler_status: Option<String>,
    pub(super) dead_letter_id: Option<i64>,
    pub(super) dead_letter_reason: Option<String>,
    pub(super) dead_letter_error: Option<String>,
    pub(super) dead_letter_status: Option<String>,
    /// `events.reason` of a stale or ignored termination.
    pub(super) event_reason: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct ActionRow {
    pub(super) source: String,
    pub(super) event_id: String,
    pub(super) target: String,
    pub(super) status: String,
    pub(super) error: Option<String>,
    pub(super) attempts: i32,
    pub(super) finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct DeadRow {
    pub(super) source: String,
    pub(super) event_id: String,
    pub(super) id: i64,
    pub(super) reason: String,
    pub(super) last_error: String,
    pub(super) status: String,
}

/// The directory target of an employee: its `accounts` row's target (one directory is
/// configured), `directory` when there is none.
const DIRECTORY: &str = "COALESCE((SELECT a.target FROM accounts a WHERE a.source = {s} \
    AND a.employee_id = {e} ORDER BY a.updated_at DESC LIMIT 1), 'directory')";

fn directory_of(source: &str, employee: &str) -> String {
    DIRECTORY.replace("{s}", source).replace("{e}", employee)
}

/// The dead-letter columns of [`Candidate`], empty for rows not read from `dead_letters`.
const NO_DEAD_LETTER: &str = "NULL::bigint AS dead_letter_id, NULL::text AS dead_letter_reason, \
    NULL::text AS dead_letter_error, NULL::text AS dead_letter_status";

/// A termination's `events` row as a [`Candidate`] (`origin` and `event_reason` are SQL
/// expressions), with the scheduled termination it applies, if any.
fn from_events(origin: &str, event_reason: &str) -> String {
    format!(
        "SELECT {origin} AS origin, e.source, e.employee_id, e.event_id, e.trigger, \
         e.occurred_at, e.effective_at, e.received_at, st.due_at, e.published_at, \
         e.processed_at, {directory} AS directory, NULL::text AS scheduler_status, \
         {NO_DEAD_LETTER}, {event_reason} AS event_reason \
         FROM events e \
         LEFT JOIN scheduled_terminations st ON e.trigger = 'scheduled' \
              AND st.source = e.source AND st.event_id || ':effective' = e.event_id",
        directory = directory_of("e.source", "e.employee_id"),
    )
}

/// `$2` for an `events` row: its clock started in the window, or it was found by a
/// reconcile run (clocked from the sender's termination time, which may lie before the
/// window) and processed in it, so that the longest misses are not left out.
const EVENTS_SINCE: &str = "($2::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) >= $2 \
    OR (e.event_id LIKE 'reconcile:%' AND e.processed_at >= $2))";

/// A candidate query with its window bound: `$1` source, `$2` since, `$3` until.
fn windowed<'q>(sql: &'q str, scope: &Scope<'q>) -> QueryAs<'q, Postgres, Candidate, PgArguments> {
    sqlx::query_as(sql)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
}

/// The timelines in `scope`, by clock start.
pub(super) async fn load(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
    sla: Duration,
) -> Result<Vec<Timeline>, sqlx::Error> {
    let mut candidates = load_applied(conn, scope).await?;
    if scope.event_id.is_none() {
        candidates.extend(load_unrevoked_events(conn, scope).await?);
        candidates.extend(load_unapplied(conn, scope).await?);
        candidates.extend(load_overdue(conn, scope).await?);
    }
    let (actions, dead) = load_targets(conn, &candidates).await?;
    Ok(classify::timelines(
        &candidates,
        &actions,
        &dead,
        scope.now,
        sla,
    ))
}

/// Applied terminations. A scheduled one is the original event id + ":effective".
async fn load_applied(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let applied = format!(
        "{select} \
         WHERE e.kind = 'terminated' AND e.outcome = 'applied' \
         AND ($1::text IS NULL OR e.source = $1) AND {EVENTS_SINCE} \
         AND ($3::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) < $3) \
         AND ($4::text IS NULL OR e.event_id = $4) \
         AND (NOT $5 \
              OR EXISTS (SELECT 1 FROM provisioning_actions pa WHERE pa.source = e.source \
                         AND pa.event_id = e.event_id AND pa.action = 'deactivate' \
                         AND pa.status IN ('pending', 'failed', 'superseded')) \
              OR EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = e.source \
                         AND d.event_id = e.event_id AND d.status IN ('dead', 'discarded'))) \
         ORDER BY COALESCE(st.due_at, e.received_at), e.id",
        select = from_events("'applied'", "NULL::text"),
    );
    windowed(&applied, scope)
        .bind(scope.event_id)
        .bind(scope.incomplete_only)
        .fetch_all(&mut *conn)
        .await
}

/// Terminations processed without effect (`stale`, `ignored`, `held`): nothing was
/// revoked.
async fn load_unrevoked_events(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    // The clock starts at receipt or at a due time after it (a scheduled termination keeps
    // its original `received_at`), so `received_at < until` holds for every row in the
    // window: it lets the `events_unrevoked` index narrow the scan.
    let unrevoked = format!(
        "{select} \
         WHERE e.kind = 'terminated' AND e.outcome IN ('stale', 'ignored', 'held') \
         AND NOT EXISTS (SELECT 1 FROM events a WHERE a.source = e.source \
                         AND a.event_id IN (e.event_id, e.event_id || ':released') \
                         AND a.outcome = 'applied') \
         AND ($1::text IS NULL OR e.source = $1) AND {EVENTS_SINCE} \
         AND ($3::timestamptz IS NULL OR (e.received_at < $3 \
              AND COALESCE(st.due_at, e.received_at) < $3)) \
         ORDER BY COALESCE(st.due_at, e.received_at), e.id",
        select = from_events("e.outcome", "e.reason"),
    );
    windowed(&unrevoked, scope).fetch_all(&mut *conn).await
}

/// Terminations dead-lettered before they were applied at all: nothing revoked. A
/// discarded one is listed too (the employee kept access), a replayed one until its
/// replay is processed.
async fn load_unapplied(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let unapplied = format!(
        "SELECT 'dead_lettered' AS origin, d.source, d.employee_id, d.event_id, \
         CASE WHEN st.id IS NULL THEN 'webhook' ELSE 'scheduled' END AS trigger, \
         NULL::timestamptz AS occurred_at, st.effective_at, \
         COALESCE(st.received_at, d.first_received_at) AS received_at, st.due_at, \
         NULL::timestamptz AS published_at, NULL::timestamptz AS processed_at, \
         {directory} AS directory, NULL::text AS scheduler_status, \
         d.id AS dead_letter_id, d.reason AS dead_letter_reason, \
         d.last_error AS dead_letter_error, d.status AS dead_letter_status, \
         NULL::text AS event_reason \
         FROM dead_letters d \
         LEFT JOIN scheduled_terminations st ON st.source = d.source \
              AND st.event_id || ':effective' = d.event_id \
         WHERE d.status IN ('dead', 'discarded', 'replayed') \
         AND (d.kind = 'terminated' OR st.id IS NOT NULL) \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.source = d.source \
                         AND e.event_id = d.event_id) \
         AND ($1::text IS NULL OR d.source = $1) \
         AND ($2::timestamptz IS NULL OR COALESCE(st.due_at, d.first_received_at) >= $2) \
         AND ($3::timestamptz IS NULL OR COALESCE(st.due_at, d.first_received_at) < $3) \
         ORDER BY COALESCE(st.due_at, d.first_received_at), d.id",
        directory = directory_of("d.source", "d.employee_id"),
    );
    windowed(&unapplied, scope).fetch_all(&mut *conn).await
}

/// Scheduled terminations past due and not applied yet (nor dead-lettered, which the
/// dead-letter query lists whatever the letter's status).
async fn load_overdue(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let overdue = format!(
        "SELECT 'scheduler' AS origin, st.source, st.employee_id, \
         st.event_id || ':effective' AS event_id, 'scheduled' AS trigger, \
         NULL::timestamptz AS occurred_at, st.effective_at, st.received_at, st.due_at, \
         NULL::timestamptz AS published_at, NULL::timestamptz AS processed_at, \
         {directory} AS directory, st.status AS scheduler_status, \
         {NO_DEAD_LETTER}, NULL::text AS event_reason \
         FROM scheduled_terminations st \
         WHERE st.status IN ('scheduled', 'enqueued') AND st.due_at <= $4 \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.source = st.source \
                         AND e.event_id = st.event_id || ':effective') \
         AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = st.source \
                         AND d.event_id = st.event_id || ':effective') \
         AND ($1::text IS NULL OR st.source = $1) \
         AND ($2::timestamptz IS NULL OR st.due_at >= $2) \
         AND ($3::timestamptz IS NULL OR st.due_at < $3) \
         ORDER BY st.due_at, st.id",
        directory = directory_of("st.source", "st.employee_id"),
    );
    windowed(&overdue, scope)
        .bind(scope.now)
        .fetch_all(&mut *conn)
        .await
}

/// The external targets' deactivations and the dead letters of the applied terminations.
async fn load_targets(
    conn: &mut PgConnection,
    candidates: &[Candidate],
) -> Result<(Vec<ActionRow>, Vec<DeadRow>), sqlx::Error> {
    let applied_keys = candidates.iter().filter(|c| c.origin == "applied");
    let (sources, event_ids): (Vec<String>, Vec<String>) = applied_keys
        .map(|c| (c.source.clone(), c.event_id.clone()))
        .unzip();
    let actions: Vec<ActionRow> = sqlx::query_as(
        "SELECT pa.source, pa.event_id, pa.target, pa.status, pa.error, pa.attempts, \
         pa.finished_at FROM provisioning_actions pa \
         JOIN UNNEST($1::text[], $2::text[]) AS k(source, event_id) \
              ON pa.source = k.source AND pa.event_id = k.event_id \
         WHERE pa.action = 'deactivate' ORDER BY pa.target, pa.id",
    )
    .bind(&sources)
    .bind(&event_ids)
    .fetch_all(&mut *conn)
    .await?;
    // A replayed letter of an applied termination is its actions running again: they
    // say where it stands.
    let dead: Vec<DeadRow> = sqlx::query_as(
        "SELECT d.source, d.event_id, d.id, d.reason, d.last_error, d.status \
         FROM dead_letters d \
         JOIN UNNEST($1::text[], $2::text[]) AS k(source, event_id) \
              ON d.source = k.source AND d.event_id = k.event_id \
         WHERE d.status IN ('dead', 'discarded')",
    )
    .bind(&sources)
    .bind(&event_ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok((actions, dead))
}

pub(super) async fn load_scheduled(
    conn: &mut PgConnection,
    params: &Params,
) -> Result<Vec<Scheduled>, sqlx::Error> {
    sqlx::query_as(
        "SELECT source, employee_id, event_id, received_at, effective_at, due_at \
         FROM scheduled_terminations WHERE status = 'scheduled' AND due_at > $1 \
         AND ($2::text IS NULL OR source = $2) AND received_at >= $3 AND received_at < $4 \
         ORDER BY due_at, id",
    )
    .bind(params.now)
    .bind(params.source.as_deref())
    .bind(params.since)
    .bind(params.until)
    .fetch_all(conn)
    .await
}

/// Of these terminations' employees, those terminated now with no target still active,
/// pending or failed.
pub(super) async fn revoked_now(
    conn: &mut PgConnection,
    timelines: &[&Timeline],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let (sources, employees): (Vec<&str>, Vec<&str>) = timelines
        .iter()
        .filter_map(|t| Some((t.source.as_str(), t.employee_id.as_deref()?)))
        .unzip();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.source, e.employee_id FROM employees e \
         JOIN UNNEST($1::text[], $2::text[]) AS k(source, employee_id) \
              ON e.source = k.source AND e.employee_id = k.employee_id \
         WHERE e.status = 'terminated' \
         AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.source = e.source \
                         AND a.employee_id = e.employee_id AND a.status <> 'deactivated') \
         AND NOT EXISTS (SELECT 1 FROM target_states ts WHERE ts.source = e.source \
                         AND ts.employee_id = e.employee_id AND ts.status <> 'deactivated')",
    )
    .bind(&sources)
    .bind(&employees)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}
