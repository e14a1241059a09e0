//! The deprovision report: every termination's timeline, from the rows that processing
//! wrote (`events`, `provisioning_actions`, `dead_letters`, `scheduled_terminations`),
//! reduced to counts, exact percentiles, SLA breaches and what is still incomplete.
//!
//! A termination is, in the window:
//! - an `events` row with `kind = 'terminated'` and `outcome = 'applied'`: the directory
//!   was deactivated in that transaction (`revoked_at` = `processed_at`); each external
//!   target's deactivation is its `provisioning_actions` row (`revoked_at` = `finished_at`
//!   once `succeeded`);
//! - an `events` row with `kind = 'terminated'` and `outcome` `stale` or `ignored`: the
//!   termination changed nothing (`events.reason` says why);
//! - a termination dead-lettered before it could be applied at all (no `events` row):
//!   nothing was revoked; still `pending` while its dead letter is replayed;
//! - a scheduled termination whose due time has passed but that has not been applied yet.
//!
//! Every one that did not end with the employee deactivated on every target is also listed
//! under `not_revoked` (see [`super::not_revoked`]), with the reason.
//!
//! The SLA clock starts at receipt, or for a scheduled termination at its due time. The
//! window selects terminations whose clock started in `[since, until)`. Scheduled
//! terminations not due yet are only counted (`scheduled`), never breaches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::not_revoked::{self, NotRevoked, Reactivation, Reason};
use super::percentile::{seconds, Percentiles};
use crate::services::since::parse_since;

/// A non-empty, trimmed value.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The default `--since`.
pub const DEFAULT_SINCE: &str = "30d";

/// What to report on.
#[derive(Debug, Clone)]
pub struct Params {
    /// Terminations whose clock started at or after this time…
    pub since: DateTime<Utc>,
    /// …and before this one.
    pub until: DateTime<Utc>,
    pub source: Option<String>,
    pub sla: Duration,
    /// The report's "now": the age of incomplete terminations, whether a scheduled one is due.
    pub now: DateTime<Utc>,
}

impl Params {
    /// From user input (CLI flags, admin API query): `since` and `until` are RFC 3339 times
    /// or durations ago (`30d`, `2h`); `sla` a duration (`15m`, `4h`). Empty means default.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        source: Option<&str>,
        sla: Option<&str>,
        default_sla: Duration,
        now: DateTime<Utc>,
    ) -> Result<Params, String> {
        // PostgreSQL keeps microseconds; so does the report.
        let now = now.trunc_subsecs(6);
        let since = parse_since(given(since).unwrap_or(DEFAULT_SINCE), now)
            .map_err(|e| format!("since: {e}"))?;
        let until = match given(until) {
            Some(text) => parse_since(text, now).map_err(|e| format!("until: {e}"))?,
            None => now,
        };
        if since >= until {
            return Err(format!(
                "since ({}) must be before until ({})",
                since.to_rfc3339(),
                until.to_rfc3339()
            ));
        }
        let sla = match given(sla) {
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| format!("sla: `{text}` is not a duration such as 15m or 4h ({e})"))?,
            None => default_sla,
        };
        if sla.is_zero() {
            return Err("sla: must be greater than 0".into());
        }
        Ok(Params {
            since,
            until,
            source: given(source).map(str::to_owned),
            sla,
            now,
        })
    }
}

/// Where a termination stands. For an applied one: failed > pending > superseded >
/// completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every target revoked.
    Completed,
    /// Some target not done yet, none failed.
    Pending,
    /// A target failed or the event is in the dead-letter log.
    Failed,
    /// Not applied: older than a re-activation that was.
    Stale,
    /// Not applied: recorded and ignored.
    Ignored,
    /// Every target done, but at least one deactivation was not sent because the
    /// employee's current state contradicts it (e.g. a later rehire).
    Superseded,
    /// Not applied: held by the mass-change guard (or rejected by an operator).
    Held,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Pending => "pending",
            Status::Failed => "failed",
            Status::Stale => "stale",
            Status::Ignored => "ignored",
            Status::Superseded => "superseded",
            Status::Held => "held",
        }
    }
}

/// One target's part in a termination.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRevocation {
    pub target: String,
    /// `revoked`, `pending`, `failed`, `superseded` (the action was not sent: the
    /// employee's current state contradicts it), `not_applied` (the event never got
    /// through), or for the directory of a termination that changed nothing `stale` /
    /// `ignored` (`error` then holds `events.reason`).
    pub status: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub attempts: Option<i32>,
    pub error: Option<String>,
}

/// Where an incomplete termination is stuck: a target and its error, the dead-letter
/// log, or the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stuck {
    pub target: Option<String>,
    pub status: String,
    pub error: Option<String>,
}

impl Stuck {
    /// `target: status: error`, or the error alone when it is not a target's.
    pub fn describe(&self) -> String {
        let error = self.error.as_deref().unwrap_or("");
        match &self.target {
            Some(target) if error.is_empty() => format!("{target}: {}", self.status),
            Some(target) => format!("{target}: {}: {error}", self.status),
            None => error.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterRef {
    pub id: i64,
    pub reason: String,
    pub last_error: String,
    /// `dead`, `discarded` (will not be retried) or `replayed` (not processed yet).
    pub status: String,
}

/// Every time known about one termination.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub source: String,
    pub employee_id: Option<String>,
    pub event_id: String,
    /// `webhook`, `manual` (a replay), `scheduled`, `reconcile`, `released`, …
    pub trigger: String,
    /// `reconcile` when a reconcile run found the leaver (a missed webhook), else `webhook`.
    pub detected_by: &'static str,
    pub status: Status,
    pub occurred_at: Option<DateTime<Utc>>,
    pub effective_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    /// A scheduled termination's due time.
    pub due_at: Option<DateTime<Utc>>,
    /// When the SLA clock started: `due_at` if scheduled, else `received_at`.
    pub clock_started_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    pub targets: Vec<TargetRevocation>,
    /// The last target's `revoked_at`, once every target is revoked.
    pub completed_at: Option<DateTime<Utc>>,
    /// `completed_at - clock_started_at`.
    pub receipt_to_revoked_seconds: Option<f64>,
    /// `completed_at - (effective_at or occurred_at)`: the sender's own delay included.
    pub effective_to_revoked_seconds: Option<f64>,
    /// For an incomplete termination: `now - clock_started_at`.
    pub age_seconds: Option<f64>,
    pub breach: bool,
    pub dead_letter: Option<DeadLetterRef>,
    pub stuck_at: Vec<Stuck>,
    /// Why the employee was not deactivated everywhere; `None` once completed.
    pub not_revoked_reason: Option<Reason>,
    #[serde(skip)]
    micros: Micros,
}

/// Latencies in microseconds, exact.
#[derive(Debug, Clone, Default)]
struct Micros {
    receipt_to_revoked: Option<i64>,
    effective_to_revoked: Option<i64>,
    /// receipt → completed, or receipt → now while incomplete.
    sla_latency: i64,
    /// Per target: revoked_at - clock start.
    targets: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// completed + pending + failed + stale + superseded + ignored (scheduled ones not due
    /// yet are not included).
    pub terminations: usize,
    pub completed: usize,
    pub pending: usize,
    pub failed: usize,
    /// Scheduled terminations received in the window whose due time has not come.
    pub scheduled: usize,
    /// Entries of `breaches`.
    pub breaches: usize,
    pub stale: usize,
    pub superseded: usize,
    /// Held by the mass-change guard (not released).
    pub held: usize,
    pub ignored: usize,
    /// Entries of `not_revoked`: every termination but the completed ones.
    pub not_revoked: usize,
    /// Entries of `reactivations`.
    pub reactivations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub receipt_to_revoked: Percentiles,
    pub effective_to_revoked: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Breach {
    pub employee_id: Option<String>,
    pub source: String,
    pub event_id: String,
    /// receipt → completed, or receipt → now while incomplete.
    pub latency_seconds: f64,
    pub status: Status,
    pub clock_started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incomplete {
    pub employee_id: Option<String>,
    pub source: String,
    pub event_id: String,
    pub status: Status,
    pub received_at: DateTime<Utc>,
    pub clock_started_at: DateTime<Utc>,
    pub age_seconds: f64,
    pub stuck_at: Vec<Stuck>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStats {
    /// receipt → revoked on this target, over the terminations it revoked.
    #[serde(flatten)]
    pub latency: Percentiles,
    pub pending: usize,
    pub failed: usize,
    /// Deactivations not sent to this target (the employee's state contradicts them).
    pub superseded: usize,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Scheduled {
    pub source: String,
    pub employee_id: String,
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// The report. Its JSON shape is documented in the README and kept stable.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub window: Window,
    pub source: Option<String>,
    pub sla_seconds: f64,
    pub counts: Counts,
    pub latency_seconds: Latency,
    /// Worst first.
    pub breaches: Vec<Breach>,
    /// Oldest first.
    pub incomplete: Vec<Incomplete>,
    pub targets: BTreeMap<String, TargetStats>,
    pub scheduled: Vec<Scheduled>,
    /// Every termination in the window, by clock start.
    pub terminations: Vec<Timeline>,
    /// Every termination in the window that did not deactivate the employee on every
    /// target, by clock start.
    pub not_revoked: Vec<NotRevoked>,
    /// Re-activations of terminated employees received in the window, oldest first.
    pub reactivations: Vec<Reactivation>,
}

/// Build the report from one consistent snapshot of the database.
pub async fn build(pool: &PgPool, params: &Params) -> Result<Report, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let scope = Scope {
        source: params.source.as_deref(),
        since: Some(params.since),
        until: Some(params.until),
        event_id: None,
        incomplete_only: false,
        now: params.now,
    };
    let timelines = load(&mut tx, &scope, params.sla).await?;
    let scheduled = load_scheduled(&mut tx, params).await?;
    let reactivations = not_revoked::reactivations(&mut tx, params).await?;
    tx.commit().await?;
    Ok(assemble(params, timelines, scheduled, reactivations))
}

/// How many terminations (of any age, any source) did not revoke every access more than
/// `sla` after their clock started, as of `now`: the
/// `provisiond_terminations_pending_past_sla` gauge. Every entry `not_revoked` would have
/// counts, stale, ignored, superseded and dead-lettered (even discarded) ones included:
/// whatever the reason, the leaver may still have access.
pub async fn pending_past_sla(
    pool: &PgPool,
    sla: Duration,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let scope = Scope {
        source: None,
        since: None,
        until: None,
        event_id: None,
        incomplete_only: true,
        now,
    };
    let timelines = load(&mut conn, &scope, sla).await?;
    let late: Vec<&Timeline> = timelines
        .iter()
        .filter(|t| t.not_revoked_reason.is_some() && t.breach)
        .collect();
    let revoked_since = revoked_now(&mut conn, &late).await?;
    Ok(late
        .iter()
        .filter(|t| !settled_later(t, &revoked_since))
        .count())
}

/// A termination that changed nothing (stale, ignored, superseded) stops paging once the
/// employee is terminated now and deactivated on every target: access did end, by a later
/// termination. It stays listed in the report's `not_revoked`.
fn settled_later(t: &Timeline, revoked: &HashSet<(String, String)>) -> bool {
    let unchanged = matches!(
        t.status,
        Status::Stale | Status::Ignored | Status::Superseded
    );
    let key = (t.source.clone(), t.employee_id.clone().unwrap_or_default());
    unchanged && revoked.contains(&key)
}

/// Of these terminations' employees, those terminated now with no target still active,
/// pending or failed.
async fn revoked_now(
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

/// The timeline of one applied termination, if there is one.
pub async fn timeline(
    pool: &PgPool,
    source: &str,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Timeline>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let scope = Scope {
        source: Some(source),
        since: None,
        until: None,
        event_id: Some(event_id),
        incomplete_only: false,
        now,
    };
    let timelines = load(&mut conn, &scope, Duration::MAX).await?;
    Ok(timelines.into_iter().next())
}

struct Scope<'a> {
    source: Option<&'a str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// One event only (its applied row, not the other kinds).
    event_id: Option<&'a str>,
    /// Only applied terminations with a target not revoked or a dead letter (the other
    /// kinds never revoke everything, so they are all loaded).
    incomplete_only: bool,
    now: DateTime<Utc>,
}

/// A termination as the queries find it, before its targets are looked at.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Candidate {
    /// `applied`, `stale`, `ignored` (the `events` outcome), `dead_lettered` or `scheduler`.
    origin: String,
    source: String,
    employee_id: Option<String>,
    event_id: String,
    trigger: String,
    occurred_at: Option<DateTime<Utc>>,
    effective_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    processed_at: Option<DateTime<Utc>>,
    directory: String,
    /// `scheduled` or `enqueued` for the scheduler's rows.
    scheduler_status: Option<String>,
    dead_letter_id: Option<i64>,
    dead_letter_reason: Option<String>,
    dead_letter_error: Option<String>,
    dead_letter_status: Option<String>,
    /// `events.reason` of a stale or ignored termination.
    event_reason: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ActionRow {
    source: String,
    event_id: String,
    target: String,
    status: String,
    error: Option<String>,
    attempts: i32,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct DeadRow {
    source: String,
    event_id: String,
    id: i64,
    reason: String,
    last_error: String,
    status: String,
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

async fn load(
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

    let mut actions_by_event: HashMap<(&str, &str), Vec<&ActionRow>> = HashMap::new();
    for action in &actions {
        let key = (action.source.as_str(), action.event_id.as_str());
        actions_by_event.entry(key).or_default().push(action);
    }
    let dead_by_event: HashMap<(&str, &str), &DeadRow> = dead
        .iter()
        .map(|d| ((d.source.as_str(), d.event_id.as_str()), d))
        .collect();
    let sla_micros = micros_of(sla);
    let mut timelines: Vec<Timeline> = candidates
        .iter()
        .map(|c| {
            let key = (c.source.as_str(), c.event_id.as_str());
            let actions = actions_by_event.get(&key).map_or(&[][..], Vec::as_slice);
            classify(
                c,
                actions,
                dead_by_event.get(&key).copied(),
                scope.now,
                sla_micros,
            )
        })
        .collect();
    timelines.sort_by(|a, b| {
        (a.clock_started_at, &a.source, &a.event_id).cmp(&(
            b.clock_started_at,
            &b.source,
            &b.event_id,
        ))
    });
    Ok(timelines)
}

/// Applied terminations. A scheduled one is the original event id + ":effective". One a
/// reconcile run found is clocked from the sender's termination time, which may lie before
/// the window: it is in the window when it was processed there too, so the longest misses
/// are not left out.
async fn load_applied(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let applied = format!(
        "SELECT 'applied' AS origin, e.source, e.employee_id, e.event_id, e.trigger, \
         e.occurred_at, e.effective_at, e.received_at, st.due_at, e.published_at, \
         e.processed_at, {directory} AS directory, NULL::text AS scheduler_status, \
         {NO_DEAD_LETTER}, NULL::text AS event_reason \
         FROM events e \
         LEFT JOIN scheduled_terminations st ON e.trigger = 'scheduled' \
              AND st.source = e.source AND st.event_id || ':effective' = e.event_id \
         WHERE e.kind = 'terminated' AND e.outcome = 'applied' \
         AND ($1::text IS NULL OR e.source = $1) \
         AND ($2::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) >= $2 \
              OR (e.event_id LIKE 'reconcile:%' AND e.processed_at >= $2)) \
         AND ($3::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) < $3) \
         AND ($4::text IS NULL OR e.event_id = $4) \
         AND (NOT $5 \
              OR EXISTS (SELECT 1 FROM provisioning_actions pa WHERE pa.source = e.source \
                         AND pa.event_id = e.event_id AND pa.action = 'deactivate' \
                         AND pa.status IN ('pending', 'failed', 'superseded')) \
              OR EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = e.source \
                         AND d.event_id = e.event_id AND d.status IN ('dead', 'discarded'))) \
         ORDER BY COALESCE(st.due_at, e.received_at), e.id",
        directory = directory_of("e.source", "e.employee_id"),
    );
    sqlx::query_as(&applied)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
        .bind(scope.event_id)
        .bind(scope.incomplete_only)
        .fetch_all(&mut *conn)
        .await
}

/// Terminations processed without effect (`stale`, `ignored`): nothing was revoked.
async fn load_unrevoked_events(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    // The clock starts at receipt or at a due time after it (a scheduled termination keeps
    // its original `received_at`), so `received_at < until` holds for every row in the
    // window: it lets the `events_unrevoked` index narrow the scan.
    let unrevoked = format!(
        "SELECT e.outcome AS origin, e.source, e.employee_id, e.event_id, e.trigger, \
         e.occurred_at, e.effective_at, e.received_at, st.due_at, e.published_at, \
         e.processed_at, {directory} AS directory, NULL::text AS scheduler_status, \
         {NO_DEAD_LETTER}, e.reason AS event_reason \
         FROM events e \
         LEFT JOIN scheduled_terminations st ON e.trigger = 'scheduled' \
              AND st.source = e.source AND st.event_id || ':effective' = e.event_id \
         WHERE e.kind = 'terminated' AND e.outcome IN ('stale', 'ignored', 'held') \
         AND NOT EXISTS (SELECT 1 FROM events a WHERE a.source = e.source \
                         AND a.event_id IN (e.event_id, e.event_id || ':released') \
                         AND a.outcome = 'applied') \
         AND ($1::text IS NULL OR e.source = $1) \
         AND ($2::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) >= $2 \
              OR (e.event_id LIKE 'reconcile:%' AND e.processed_at >= $2)) \
         AND ($3::timestamptz IS NULL OR (e.received_at < $3 \
              AND COALESCE(st.due_at, e.received_at) < $3)) \
         ORDER BY COALESCE(st.due_at, e.received_at), e.id",
        directory = directory_of("e.source", "e.employee_id"),
    );
    sqlx::query_as(&unrevoked)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
        .fetch_all(&mut *conn)
        .await
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
    sqlx::query_as(&unapplied)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
        .fetch_all(&mut *conn)
        .await
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
    sqlx::query_as(&overdue)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
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

async fn load_scheduled(
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

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn micros_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX)
}

/// One termination's timeline from its rows.
fn classify(
    c: &Candidate,
    actions: &[&ActionRow],
    dead: Option<&DeadRow>,
    now: DateTime<Utc>,
    sla_micros: i64,
) -> Timeline {
    let dead_letter = dead_letter_of(c, dead);
    let mut targets = Vec::with_capacity(actions.len() + 1);
    targets.push(directory_target(c));
    targets.extend(actions.iter().map(|a| action_target(a)));
    let status = status_of(c, &targets, dead_letter.as_ref());

    let clock_started_at = c.due_at.unwrap_or(c.received_at);
    let completed_at = match status {
        Status::Completed => targets.iter().filter_map(|t| t.revoked_at).max(),
        _ => None,
    };
    let receipt_to_revoked = completed_at.map(|at| micros_between(clock_started_at, at));
    let effective_to_revoked = completed_at.and_then(|at| {
        let from = c.effective_at.or(c.occurred_at)?;
        Some(micros_between(from, at))
    });
    let age = (status != Status::Completed).then(|| micros_between(clock_started_at, now));
    let sla_latency = receipt_to_revoked.or(age).unwrap_or_default();
    let per_target = targets
        .iter()
        .filter_map(|t| {
            let at = t.revoked_at?;
            Some((t.target.clone(), micros_between(clock_started_at, at)))
        })
        .collect();
    let stuck_at = match status {
        Status::Completed => Vec::new(),
        _ => stuck_entries(c, &targets, dead_letter.as_ref()),
    };
    let not_revoked_reason = Reason::of(&c.origin, status, dead_letter.as_ref());

    Timeline {
        source: c.source.clone(),
        employee_id: c.employee_id.clone(),
        event_id: c.event_id.clone(),
        trigger: c.trigger.clone(),
        detected_by: if c.event_id.starts_with("reconcile:") {
            "reconcile"
        } else {
            "webhook"
        },
        status,
        occurred_at: c.occurred_at,
        effective_at: c.effective_at,
        received_at: c.received_at,
        due_at: c.due_at,
        clock_started_at,
        published_at: c.published_at,
        processed_at: c.processed_at,
        targets,
        completed_at,
        receipt_to_revoked_seconds: receipt_to_revoked.map(seconds),
        effective_to_revoked_seconds: effective_to_revoked.map(seconds),
        age_seconds: age.map(seconds),
        breach: sla_latency > sla_micros,
        dead_letter,
        stuck_at,
        not_revoked_reason,
        micros: Micros {
            receipt_to_revoked,
            effective_to_revoked,
            sla_latency,
            targets: per_target,
        },
    }
}

fn dead_letter_of(c: &Candidate, dead: Option<&DeadRow>) -> Option<DeadLetterRef> {
    if let Some(d) = dead {
        return Some(DeadLetterRef {
            id: d.id,
            reason: d.reason.clone(),
            last_error: d.last_error.clone(),
            status: d.status.clone(),
        });
    }
    Some(DeadLetterRef {
        id: c.dead_letter_id?,
        reason: c.dead_letter_reason.clone().unwrap_or_default(),
        last_error: c.dead_letter_error.clone().unwrap_or_default(),
        status: c
            .dead_letter_status
            .clone()
            .unwrap_or_else(|| "dead".into()),
    })
}

/// The directory is deactivated in the transaction that applies the termination; a
/// termination that was not applied left it as it was.
fn directory_target(c: &Candidate) -> TargetRevocation {
    let (status, revoked_at, error) = match c.origin.as_str() {
        "applied" => ("revoked", c.processed_at, None),
        "stale" | "ignored" | "held" => (c.origin.as_str(), None, c.event_reason.clone()),
        "dead_lettered" => ("not_applied", None, c.dead_letter_error.clone()),
        _ => ("pending", None, None),
    };
    TargetRevocation {
        target: c.directory.clone(),
        status: status.to_owned(),
        revoked_at,
        attempts: None,
        error,
    }
}

fn action_target(action: &ActionRow) -> TargetRevocation {
    let (status, revoked_at) = match action.status.as_str() {
        "succeeded" => ("revoked", action.finished_at),
        other => (other, None),
    };
    TargetRevocation {
        target: action.target.clone(),
        status: status.to_owned(),
        revoked_at,
        attempts: Some(action.attempts),
        error: action.error.clone(),
    }
}

/// A termination not applied is what its `events` row says. An applied one: failed >
/// pending > superseded > completed, so that what still needs a person (a failure) or
/// will still change (an open target) shows first. A superseded target is neither revoked
/// nor open: the termination cannot complete, and nothing is left to run.
fn status_of(c: &Candidate, targets: &[TargetRevocation], dead: Option<&DeadLetterRef>) -> Status {
    match c.origin.as_str() {
        "stale" => return Status::Stale,
        "ignored" => return Status::Ignored,
        "held" => return Status::Held,
        _ => {}
    }
    let any = |status: &str| targets.iter().any(|t| t.status == status);
    let letter_failed = dead.is_some_and(|d| letter_blocks(&c.origin, &d.status));
    if letter_failed || any("failed") {
        Status::Failed
    } else if any("pending") || any("not_applied") {
        Status::Pending
    } else if any("superseded") {
        Status::Superseded
    } else {
        Status::Completed
    }
}

/// Whether a dead letter by itself makes a termination failed: a `dead` one always; a
/// `discarded` one when the event was never applied (nothing will retry it). An applied
/// termination's discarded letter leaves its targets to say where it stands, and a
/// `replayed` letter is work in progress.
fn letter_blocks(origin: &str, letter_status: &str) -> bool {
    letter_status == "dead" || (origin == "dead_lettered" && letter_status == "discarded")
}

/// Where a termination that did not complete is stuck: each target not revoked, the
/// dead letter, the scheduler.
fn stuck_entries(
    c: &Candidate,
    targets: &[TargetRevocation],
    dead: Option<&DeadLetterRef>,
) -> Vec<Stuck> {
    let mut stuck: Vec<Stuck> = targets
        .iter()
        .filter(|t| t.status != "revoked")
        .map(|t| Stuck {
            target: Some(t.target.clone()),
            status: t.status.clone(),
            error: t.error.clone(),
        })
        .collect();
    if let Some(d) = dead {
        stuck.push(dead_letter_stuck(d));
    }
    if let Some(state) = &c.scheduler_status {
        let due = c.due_at.map_or("-".into(), |t| t.to_rfc3339());
        let error = match state.as_str() {
            "scheduled" => format!("due at {due}; not yet enqueued by the scheduler"),
            _ => format!("due at {due}; enqueued, not yet processed"),
        };
        stuck.push(Stuck {
            target: None,
            status: format!("scheduler_{state}"),
            error: Some(error),
        });
    }
    stuck
}

fn dead_letter_stuck(d: &DeadLetterRef) -> Stuck {
    let (status, error) = match d.status.as_str() {
        "discarded" => (
            "dead_letter_discarded",
            format!(
                "dead letter {} discarded ({}); it will not be retried",
                d.id, d.reason
            ),
        ),
        "replayed" => (
            "dead_letter_replayed",
            format!(
                "dead letter {} replayed ({}); not processed yet",
                d.id, d.reason
            ),
        ),
        _ => (
            "dead_lettered",
            format!("dead-lettered: {} (dead letter {})", d.reason, d.id),
        ),
    };
    Stuck {
        target: None,
        status: status.into(),
        error: Some(error),
    }
}

fn assemble(
    params: &Params,
    terminations: Vec<Timeline>,
    scheduled: Vec<Scheduled>,
    reactivations: Vec<Reactivation>,
) -> Report {
    let count = |status| terminations.iter().filter(|t| t.status == status).count();
    let receipt: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.receipt_to_revoked)
        .collect();
    let effective: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.effective_to_revoked)
        .collect();
    let breaches = breaches(&terminations);
    // Compatibility: `incomplete` is what provisiond is still working on or failed at.
    let incomplete: Vec<Incomplete> = terminations
        .iter()
        .filter(|t| matches!(t.status, Status::Pending | Status::Failed))
        .map(|t| Incomplete {
            employee_id: t.employee_id.clone(),
            source: t.source.clone(),
            event_id: t.event_id.clone(),
            status: t.status,
            received_at: t.received_at,
            clock_started_at: t.clock_started_at,
            age_seconds: t.age_seconds.unwrap_or_default(),
            stuck_at: t.stuck_at.clone(),
        })
        .collect();
    let not_revoked = not_revoked::list(&terminations);

    Report {
        generated_at: params.now,
        window: Window {
            since: params.since,
            until: params.until,
        },
        source: params.source.clone(),
        sla_seconds: params.sla.as_secs_f64(),
        counts: Counts {
            terminations: terminations.len(),
            completed: count(Status::Completed),
            pending: count(Status::Pending),
            failed: count(Status::Failed),
            scheduled: scheduled.len(),
            breaches: breaches.len(),
            stale: count(Status::Stale),
            superseded: count(Status::Superseded),
            held: count(Status::Held),
            ignored: count(Status::Ignored),
            not_revoked: not_revoked.len(),
            reactivations: reactivations.len(),
        },
        latency_seconds: Latency {
            receipt_to_revoked: Percentiles::from_micros(&receipt),
            effective_to_revoked: Percentiles::from_micros(&effective),
        },
        breaches,
        incomplete,
        targets: target_stats(&terminations),
        scheduled,
        terminations,
        not_revoked,
        reactivations,
    }
}

/// Worst first.
fn breaches(terminations: &[Timeline]) -> Vec<Breach> {
    let mut breaches: Vec<Breach> = terminations
        .iter()
        .filter(|t| t.breach)
        .map(|t| Breach {
            employee_id: t.employee_id.clone(),
            source: t.source.clone(),
            event_id: t.event_id.clone(),
            latency_seconds: seconds(t.micros.sla_latency),
            status: t.status,
            clock_started_at: t.clock_started_at,
            completed_at: t.completed_at,
        })
        .collect();
    breaches.sort_by(|a, b| {
        b.latency_seconds
            .total_cmp(&a.latency_seconds)
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
    breaches
}

#[derive(Default)]
struct Tally {
    latencies: Vec<i64>,
    pending: usize,
    failed: usize,
    superseded: usize,
}

fn target_stats(terminations: &[Timeline]) -> BTreeMap<String, TargetStats> {
    let mut per_target: BTreeMap<String, Tally> = BTreeMap::new();
    for t in terminations {
        for (target, latency) in &t.micros.targets {
            let tally = per_target.entry(target.clone()).or_default();
            tally.latencies.push(*latency);
        }
        for r in &t.targets {
            let tally = per_target.entry(r.target.clone()).or_default();
            match r.status.as_str() {
                "pending" | "not_applied" => tally.pending += 1,
                "failed" => tally.failed += 1,
                "superseded" => tally.superseded += 1,
                _ => {}
            }
        }
    }
    per_target
        .into_iter()
        .map(|(name, tally)| {
            let stats = TargetStats {
                latency: Percentiles::from_micros(&tally.latencies),
                pending: tally.pending,
                failed: tally.failed,
                superseded: tally.superseded,
            };
            (name, stats)
        })
        .collect()
}

/// Rows and a report for the tests of this module and of the renderings.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(super) fn applied(received: &str, processed: &str) -> Candidate {
        Candidate {
            origin: "applied".into(),
            source: "hris".into(),
            employee_id: Some("emp".into()),
            event_id: "ev".into(),
            trigger: "webhook".into(),
            occurred_at: Some(at("2026-03-01T08:00:00Z")),
            effective_at: None,
            received_at: at(received),
            due_at: None,
            published_at: None,
            processed_at: Some(at(processed)),
            directory: "directory".into(),
            scheduler_status: None,
            dead_letter_id: None,
            dead_letter_reason: None,
            dead_letter_error: None,
            dead_letter_status: None,
            event_reason: None,
        }
    }

    /// A termination processed without effect: `outcome` `stale` or `ignored`.
    pub(super) fn unrevoked(outcome: &str, received: &str, reason: &str) -> Candidate {
        let mut c = applied(received, received);
        c.origin = outcome.into();
        c.event_reason = Some(reason.into());
        c
    }

    /// A termination dead-lettered before it was applied, its letter in `status`.
    pub(super) fn unapplied(received: &str, letter_status: &str) -> Candidate {
        let mut c = applied(received, received);
        c.origin = "dead_lettered".into();
        c.occurred_at = None;
        c.processed_at = None;
        c.dead_letter_id = Some(7);
        c.dead_letter_reason = Some("permanent_error".into());
        c.dead_letter_error = Some("payload has no employee id".into());
        c.dead_letter_status = Some(letter_status.into());
        c
    }

    pub(super) fn action(status: &str, finished: Option<&str>, error: Option<&str>) -> ActionRow {
        action_on("product", status, finished, error)
    }

    pub(super) fn action_on(
        target: &str,
        status: &str,
        finished: Option<&str>,
        error: Option<&str>,
    ) -> ActionRow {
        ActionRow {
            source: "hris".into(),
            event_id: "ev".into(),
            target: target.into(),
            status: status.into(),
            error: error.map(str::to_owned),
            attempts: 1,
            finished_at: finished.map(at),
        }
    }

    pub(super) const SLA: i64 = 15 * 60 * 1_000_000;

    fn named(mut c: Candidate, employee: &str, event_id: &str) -> Candidate {
        c.employee_id = Some(employee.into());
        c.event_id = event_id.into();
        c
    }

    /// A day's report: one completed, one stale (its employee id needs escaping), one
    /// dead-lettered and discarded, one superseded, and a rehire.
    pub(crate) fn report() -> Report {
        let now = at("2026-03-02T00:00:00Z");
        let done = named(
            applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z"),
            "ok",
            "ev_ok",
        );
        let stale = named(
            unrevoked(
                "stale",
                "2026-03-01T10:00:00Z",
                "older than the employee's re-activation",
            ),
            "<b>stale, \"one\"</b>",
            "ev_stale",
        );
        let dead = named(
            unapplied("2026-03-01T11:00:00Z", "discarded"),
            "dead",
            "ev_dead",
        );
        let superseded = named(
            applied("2026-03-01T12:00:00Z", "2026-03-01T12:00:01Z"),
            "back",
            "ev_back",
        );
        let not_sent = action("superseded", None, Some("rehired since: not sent"));
        let terminations = vec![
            classify(&done, &[], None, now, SLA),
            classify(&stale, &[], None, now, SLA),
            classify(&dead, &[], None, now, SLA),
            classify(&superseded, &[&not_sent], None, now, SLA),
        ];
        let rehire = Reactivation {
            source: "hris".into(),
            employee_id: Some("back".into()),
            event_id: "ev_rehire".into(),
            kind: Some("created".into()),
            trigger: "webhook".into(),
            reason: "rehire".into(),
            occurred_at: Some(at("2026-03-01T12:30:00Z")),
            received_at: at("2026-03-01T12:30:01Z"),
            processed_at: Some(at("2026-03-01T12:30:02Z")),
            previous_termination_event_id: Some("ev_back".into()),
        };
        let params = Params {
            since: at("2026-03-01T00:00:00Z"),
            until: now,
            source: None,
            sla: Duration::from_secs(900),
            now,
        };
        assemble(&params, terminations, Vec::new(), vec![rehire])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::fixture::*;
    use super::*;

    #[test]
    fn audit_a_directory_only_termination_completes_when_processed() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:00.25Z");
        let t = classify(&c, &[], None, at("2026-03-02T00:00:00Z"), SLA);
        assert_eq!(t.status, Status::Completed);
        assert_eq!(t.completed_at, Some(at("2026-03-01T09:00:00.25Z")));
        assert_eq!(t.receipt_to_revoked_seconds, Some(0.25));
        // From occurred_at (no effective date): one hour and a quarter second.
        assert_eq!(t.effective_to_revoked_seconds, Some(3600.25));
        assert!(!t.breach);
        assert!(t.stuck_at.is_empty());
    }

    #[test]
    fn audit_completion_waits_for_the_last_target() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let done = action("succeeded", Some("2026-03-01T09:20:00Z"), None);
        let t = classify(&c, &[&done], None, at("2026-03-02T00:00:00Z"), SLA);
        assert_eq!(t.status, Status::Completed);
        assert_eq!(t.completed_at, Some(at("2026-03-01T09:20:00Z")));
        assert_eq!(t.receipt_to_revoked_seconds, Some(1200.0));
        assert!(t.breach, "20 minutes is over a 15 minute SLA");
    }

    #[test]
    fn audit_a_failed_target_or_dead_letter_makes_it_failed_and_says_where() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let failed = action("failed", Some("2026-03-01T09:00:02Z"), Some("http 400"));
        let dead = DeadRow {
            source: "hris".into(),
            event_id: "ev".into(),
            id: 7,
            reason: "permanent_error".into(),
            last_error: "http 400".into(),
            status: "dead".into(),
        };
        let now = at("2026-03-01T09:10:00Z");
        let t = classify(&c, &[&failed], Some(&dead), now, SLA);
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.completed_at, None);
        assert_eq!(t.age_seconds, Some(600.0));
        assert!(!t.breach, "10 minutes old, under the SLA");
        assert_eq!(
            t.stuck_at,
            vec![
                Stuck {
                    target: Some("product".into()),
                    status: "failed".into(),
                    error: Some("http 400".into())
                },
                Stuck {
                    target: None,
                    status: "dead_lettered".into(),
                    error: Some("dead-lettered: permanent_error (dead letter 7)".into())
                },
            ]
        );
        let later = classify(&c, &[&failed], Some(&dead), at("2026-03-01T10:00:00Z"), SLA);
        assert!(later.breach, "still incomplete after an hour");
    }

    #[test]
    fn audit_a_pending_target_is_pending() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let pending = action("pending", None, None);
        let t = classify(&c, &[&pending], None, at("2026-03-01T09:01:00Z"), SLA);
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.stuck_at[0].target.as_deref(), Some("product"));
    }

    #[test]
    fn audit_a_scheduled_termination_starts_its_clock_when_due() {
        let mut c = applied("2026-03-01T09:00:00Z", "2026-03-05T00:00:02Z");
        c.trigger = "scheduled".into();
        c.due_at = Some(at("2026-03-05T00:00:00Z"));
        c.effective_at = Some(at("2026-03-04T00:00:00Z"));
        let t = classify(&c, &[], None, at("2026-03-06T00:00:00Z"), SLA);
        assert_eq!(t.clock_started_at, at("2026-03-05T00:00:00Z"));
        assert_eq!(t.receipt_to_revoked_seconds, Some(2.0));
        assert_eq!(t.effective_to_revoked_seconds, Some(86_402.0));
        assert!(!t.breach);
    }

    #[test]
    fn audit_a_stale_termination_revoked_nothing_and_says_why() {
        let why = "older than the employee's re-activation";
        let c = unrevoked("stale", "2026-03-01T09:00:00Z", why);
        let t = classify(&c, &[], None, at("2026-03-01T09:10:00Z"), SLA);
        assert_eq!(t.status, Status::Stale);
        assert_eq!(t.not_revoked_reason, Some(Reason::Stale));
        assert_eq!(t.completed_at, None);
        assert_eq!(t.receipt_to_revoked_seconds, None);
        assert_eq!(t.age_seconds, Some(600.0));
        assert!(!t.breach, "10 minutes old, under the SLA");
        assert_eq!(t.targets[0].status, "stale");
        assert_eq!(t.targets[0].revoked_at, None);
        assert_eq!(
            t.stuck_at,
            vec![Stuck {
                target: Some("directory".into()),
                status: "stale".into(),
                error: Some(why.into()),
            }]
        );
        assert_eq!(
            not_revoked::detail(Reason::Stale, &t),
            "Stale, nothing was deactivated: older than the employee's re-activation."
        );
        let later = classify(&c, &[], None, at("2026-03-01T10:00:00Z"), SLA);
        assert!(later.breach, "an hour later the leaver still has access");
    }

    #[test]
    fn audit_an_ignored_termination_is_not_revoked_either() {
        let c = unrevoked("ignored", "2026-03-01T09:00:00Z", "unknown employee");
        let t = classify(&c, &[], None, at("2026-03-01T09:01:00Z"), SLA);
        assert_eq!(t.status, Status::Ignored);
        assert_eq!(t.not_revoked_reason, Some(Reason::Ignored));
        assert_eq!(t.stuck_at[0].error.as_deref(), Some("unknown employee"));
    }

    #[test]
    fn audit_a_superseded_target_is_neither_revoked_nor_open() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let done = action_on("crm", "succeeded", Some("2026-03-01T09:00:02Z"), None);
        let not_sent = action("superseded", None, Some("rehired since"));
        let t = classify(
            &c,
            &[&done, &not_sent],
            None,
            at("2026-03-01T09:05:00Z"),
            SLA,
        );
        assert_eq!(t.status, Status::Superseded);
        assert_eq!(t.not_revoked_reason, Some(Reason::Superseded));
        assert_eq!(t.completed_at, None, "not every target was revoked");
        assert_eq!(t.receipt_to_revoked_seconds, None);
        assert_eq!(t.age_seconds, Some(300.0));
        assert_eq!(
            t.stuck_at,
            vec![Stuck {
                target: Some("product".into()),
                status: "superseded".into(),
                error: Some("rehired since".into()),
            }]
        );
        assert_eq!(
            not_revoked::detail(Reason::Superseded, &t),
            "Not sent: product: superseded: rehired since."
        );
    }

    #[test]
    fn audit_a_failed_or_pending_target_outranks_a_superseded_one() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let not_sent = action("superseded", None, Some("rehired since"));
        let now = at("2026-03-01T09:05:00Z");
        let pending = action_on("crm", "pending", None, None);
        let t = classify(&c, &[&pending, &not_sent], None, now, SLA);
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.not_revoked_reason, Some(Reason::Pending));
        let failed = action_on("crm", "failed", None, Some("http 500"));
        let t = classify(&c, &[&failed, &not_sent], None, now, SLA);
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.not_revoked_reason, Some(Reason::Failed));
        assert_eq!(t.stuck_at.len(), 2, "{:?}", t.stuck_at);
    }

    #[test]
    fn audit_a_discarded_dead_letter_stays_failed_and_a_replayed_one_pending() {
        let now = at("2026-03-01T09:05:00Z");
        let discarded = unapplied("2026-03-01T09:00:00Z", "discarded");
        let t = classify(&discarded, &[], None, now, SLA);
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.not_revoked_reason, Some(Reason::DeadLettered));
        assert_eq!(
            t.stuck_at[1].error.as_deref(),
            Some("dead letter 7 discarded (permanent_error); it will not be retried")
        );
        assert_eq!(
            not_revoked::detail(Reason::DeadLettered, &t),
            "Dead letter 7, discarded (permanent_error): payload has no employee id."
        );
        let replayed = unapplied("2026-03-01T09:00:00Z", "replayed");
        let t = classify(&replayed, &[], None, now, SLA);
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.not_revoked_reason, Some(Reason::Pending));
        assert_eq!(t.stuck_at[1].status, "dead_letter_replayed");
    }

    #[test]
    fn audit_an_applied_termination_with_a_discarded_letter_is_dead_lettered() {
        let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
        let failed = action("failed", None, Some("http 400"));
        let letter = DeadRow {
            source: "hris".into(),
            event_id: "ev".into(),
            id: 3,
            reason: "permanent_error".into(),
            last_error: "http 400".into(),
            status: "discarded".into(),
        };
        let now = at("2026-03-01T09:05:00Z");
        let t = classify(&c, &[&failed], Some(&letter), now, SLA);
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.not_revoked_reason, Some(Reason::DeadLettered));
        // A discarded letter alone does not hold back targets that are all revoked.
        let done = action("succeeded", Some("2026-03-01T09:01:00Z"), None);
        let t = classify(&c, &[&done], Some(&letter), now, SLA);
        assert_eq!(t.status, Status::Completed);
        assert_eq!(t.not_revoked_reason, None);
    }

    #[test]
    fn audit_a_scheduled_termination_past_due_is_not_revoked_as_such() {
        let mut c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z");
        c.origin = "scheduler".into();
        c.processed_at = None;
        c.due_at = Some(at("2026-03-02T00:00:00Z"));
        c.scheduler_status = Some("scheduled".into());
        let t = classify(&c, &[], None, at("2026-03-02T01:00:00Z"), SLA);
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.not_revoked_reason, Some(Reason::ScheduledPastDue));
        assert!(t.breach);
        assert_eq!(
            not_revoked::detail(Reason::ScheduledPastDue, &t),
            "Past due: directory: pending; \
             due at 2026-03-02T00:00:00+00:00; not yet enqueued by the scheduler."
        );
    }

    #[test]
    fn audit_the_report_lists_every_termination_not_revoked_and_the_rehires() {
        let r = report();
        let c = &r.counts;
        assert_eq!(c.terminations, 4);
        assert_eq!(
            (c.completed, c.pending, c.failed),
            (1, 0, 1),
            "the discarded dead letter is failed"
        );
        assert_eq!((c.stale, c.superseded, c.ignored), (1, 1, 0));
        assert_eq!((c.not_revoked, c.reactivations), (3, 1));
        let reasons: Vec<(&str, Reason)> = r
            .not_revoked
            .iter()
            .map(|n| (n.event_id.as_str(), n.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("ev_stale", Reason::Stale),
                ("ev_dead", Reason::DeadLettered),
                ("ev_back", Reason::Superseded),
            ]
        );
        let incomplete: Vec<&str> = r.incomplete.iter().map(|i| i.event_id.as_str()).collect();
        assert_eq!(
            incomplete,
            ["ev_dead"],
            "incomplete keeps pending and failed only"
        );
        assert_eq!(r.targets["product"].superseded, 1);
        // Every one is over the SLA a day later: breaches, whatever the reason.
        assert_eq!(c.breaches, 3);

        let json = serde_json::to_value(&r).unwrap();
        let item = json["not_revoked"][0].as_object().unwrap();
        let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = vec![
            "source",
            "employee_id",
            "event_id",
            "reason",
            "status",
            "detail",
            "received_at",
            "clock_started_at",
            "age_seconds",
            "breach",
            "stuck_at",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(item["reason"], "stale");
        assert_eq!(item["status"], "stale");
        assert_eq!(json["not_revoked"][1]["reason"], "dead_lettered");
        assert_eq!(json["terminations"][1]["not_revoked_reason"], "stale");
        assert_eq!(json["terminations"][0]["not_revoked_reason"], Value::Null);
        assert_eq!(
            json["reactivations"][0]["previous_termination_event_id"],
            "ev_back"
        );
        assert_eq!(json["reactivations"][0]["reason"], "rehire");
        for key in [
            "stale",
            "superseded",
            "ignored",
            "not_revoked",
            "reactivations",
        ] {
            assert!(json["counts"][key].is_u64(), "counts.{key}");
        }
    }

    #[test]
    fn audit_params_parse_defaults_and_reject_nonsense() {
        let now = at("2026-03-31T00:00:00Z");
        let sla = Duration::from_secs(900);
        let p = Params::parse(None, None, None, None, sla, now).unwrap();
        assert_eq!(p.since, at("2026-03-01T00:00:00Z"));
        assert_eq!(p.until, now);
        assert_eq!(p.sla, sla);
        let p = Params::parse(Some("2h"), Some(""), Some("hris"), Some("4h"), sla, now).unwrap();
        assert_eq!(p.since, at("2026-03-30T22:00:00Z"));
        assert_eq!(p.source.as_deref(), Some("hris"));
        assert_eq!(p.sla, Duration::from_secs(4 * 3600));
        assert!(Params::parse(Some("1h"), Some("2h"), None, None, sla, now).is_err());
        assert!(Params::parse(None, None, None, Some("soon"), sla, now).is_err());
        assert!(Params::parse(None, None, None, Some("0s"), sla, now).is_err());
    }
}
