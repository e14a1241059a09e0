//! The deprovision report: every termination's timeline, from the rows that processing
//! wrote (`events`, `provisioning_actions`, `dead_letters`, `scheduled_terminations`),
//! reduced to counts, exact percentiles, SLA breaches and what is still incomplete.
//!
//! A termination is, in the window:
//! - an `events` row with `kind = 'terminated'` and `outcome = 'applied'`: the directory
//!   was deactivated in that transaction (`revoked_at` = `processed_at`); each external
//!   target's deactivation is its `provisioning_actions` row (`revoked_at` = `finished_at`
//!   once `succeeded`);
//! - a termination that was dead-lettered before it could be applied at all (no `events`
//!   row): nothing was revoked;
//! - a scheduled termination whose due time has passed but that has not been applied yet.
//!
//! The SLA clock starts at receipt, or for a scheduled termination at its due time. The
//! window selects terminations whose clock started in `[since, until)`. Scheduled
//! terminations not due yet are only counted (`scheduled`), never breaches.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::percentile::{seconds, Percentiles};
use crate::store::dead_letters::ops::parse_since;

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

/// Where a termination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every target revoked.
    Completed,
    /// Some target not done yet, none failed.
    Pending,
    /// A target failed or the event is in the dead-letter log.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Pending => "pending",
            Status::Failed => "failed",
        }
    }
}

/// One target's part in a termination.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRevocation {
    pub target: String,
    /// `revoked`, `pending`, `failed`, `superseded` (a newer event replaced the action)
    /// or `not_applied` (the event never got through).
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

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterRef {
    pub id: i64,
    pub reason: String,
    pub last_error: String,
}

/// Every time known about one termination.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub source: String,
    pub employee_id: Option<String>,
    pub event_id: String,
    /// `webhook`, `manual` (a replay) or `scheduled`.
    pub trigger: String,
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
    /// completed + pending + failed (scheduled ones not due yet are not included).
    pub terminations: usize,
    pub completed: usize,
    pub pending: usize,
    pub failed: usize,
    /// Scheduled terminations received in the window whose due time has not come.
    pub scheduled: usize,
    /// Entries of `breaches`.
    pub breaches: usize,
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
    tx.commit().await?;
    Ok(assemble(params, timelines, scheduled))
}

/// How many terminations (of any age) are incomplete longer than `sla` after their clock
/// started, as of `now`: the `provisiond_terminations_pending_past_sla` gauge.
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
    let late = timelines
        .iter()
        .filter(|t| t.status != Status::Completed && t.breach);
    Ok(late.count())
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
    /// Only terminations with an open or failed target or a dead letter.
    incomplete_only: bool,
    now: DateTime<Utc>,
}

/// A termination as the queries find it, before its targets are looked at.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Candidate {
    /// `applied`, `dead_lettered` or `scheduler`.
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
}

/// The directory target of an employee: its `accounts` row's target (one directory is
/// configured), `directory` when there is none.
const DIRECTORY: &str = "COALESCE((SELECT a.target FROM accounts a WHERE a.source = {s} \
    AND a.employee_id = {e} ORDER BY a.updated_at DESC LIMIT 1), 'directory')";

fn directory_of(source: &str, employee: &str) -> String {
    DIRECTORY.replace("{s}", source).replace("{e}", employee)
}

async fn load(
    conn: &mut PgConnection,
    scope: &Scope<'_>,
    sla: Duration,
) -> Result<Vec<Timeline>, sqlx::Error> {
    // Applied terminations. A scheduled one is the original event id + ":effective".
    let applied = format!(
        "SELECT 'applied' AS origin, e.source, e.employee_id, e.event_id, e.trigger, \
         e.occurred_at, e.effective_at, e.received_at, st.due_at, e.published_at, \
         e.processed_at, {directory} AS directory, NULL::text AS scheduler_status, \
         NULL::bigint AS dead_letter_id, NULL::text AS dead_letter_reason, \
         NULL::text AS dead_letter_error \
         FROM events e \
         LEFT JOIN scheduled_terminations st ON e.trigger = 'scheduled' \
              AND st.source = e.source AND st.event_id || ':effective' = e.event_id \
         WHERE e.kind = 'terminated' AND e.outcome = 'applied' \
         AND ($1::text IS NULL OR e.source = $1) \
         AND ($2::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) >= $2) \
         AND ($3::timestamptz IS NULL OR COALESCE(st.due_at, e.received_at) < $3) \
         AND ($4::text IS NULL OR e.event_id = $4) \
         AND (NOT $5 \
              OR EXISTS (SELECT 1 FROM provisioning_actions pa WHERE pa.source = e.source \
                         AND pa.event_id = e.event_id AND pa.action = 'deactivate' \
                         AND pa.status IN ('pending', 'failed')) \
              OR EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = e.source \
                         AND d.event_id = e.event_id AND d.status = 'dead')) \
         ORDER BY COALESCE(st.due_at, e.received_at), e.id",
        directory = directory_of("e.source", "e.employee_id"),
    );
    let mut candidates: Vec<Candidate> = sqlx::query_as(&applied)
        .bind(scope.source)
        .bind(scope.since)
        .bind(scope.until)
        .bind(scope.event_id)
        .bind(scope.incomplete_only)
        .fetch_all(&mut *conn)
        .await?;
    if scope.event_id.is_none() {
        // Terminations dead-lettered before they were applied at all: nothing revoked.
        let unapplied = format!(
            "SELECT 'dead_lettered' AS origin, d.source, d.employee_id, d.event_id, \
             CASE WHEN st.id IS NULL THEN 'webhook' ELSE 'scheduled' END AS trigger, \
             NULL::timestamptz AS occurred_at, st.effective_at, \
             COALESCE(st.received_at, d.first_received_at) AS received_at, st.due_at, \
             NULL::timestamptz AS published_at, NULL::timestamptz AS processed_at, \
             {directory} AS directory, NULL::text AS scheduler_status, \
             d.id AS dead_letter_id, d.reason AS dead_letter_reason, \
             d.last_error AS dead_letter_error \
             FROM dead_letters d \
             LEFT JOIN scheduled_terminations st ON st.source = d.source \
                  AND st.event_id || ':effective' = d.event_id \
             WHERE d.status = 'dead' AND (d.kind = 'terminated' OR st.id IS NOT NULL) \
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.source = d.source \
                             AND e.event_id = d.event_id) \
             AND ($1::text IS NULL OR d.source = $1) \
             AND ($2::timestamptz IS NULL OR COALESCE(st.due_at, d.first_received_at) >= $2) \
             AND ($3::timestamptz IS NULL OR COALESCE(st.due_at, d.first_received_at) < $3) \
             ORDER BY COALESCE(st.due_at, d.first_received_at), d.id",
            directory = directory_of("d.source", "d.employee_id"),
        );
        let rows: Vec<Candidate> = sqlx::query_as(&unapplied)
            .bind(scope.source)
            .bind(scope.since)
            .bind(scope.until)
            .fetch_all(&mut *conn)
            .await?;
        candidates.extend(rows);
        // Scheduled terminations past due and not applied yet (nor dead-lettered).
        let overdue = format!(
            "SELECT 'scheduler' AS origin, st.source, st.employee_id, \
             st.event_id || ':effective' AS event_id, 'scheduled' AS trigger, \
             NULL::timestamptz AS occurred_at, st.effective_at, st.received_at, st.due_at, \
             NULL::timestamptz AS published_at, NULL::timestamptz AS processed_at, \
             {directory} AS directory, st.status AS scheduler_status, \
             NULL::bigint AS dead_letter_id, NULL::text AS dead_letter_reason, \
             NULL::text AS dead_letter_error \
             FROM scheduled_terminations st \
             WHERE st.status IN ('scheduled', 'enqueued') AND st.due_at <= $4 \
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.source = st.source \
                             AND e.event_id = st.event_id || ':effective') \
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.source = st.source \
                             AND d.event_id = st.event_id || ':effective' \
                             AND d.status = 'dead') \
             AND ($1::text IS NULL OR st.source = $1) \
             AND ($2::timestamptz IS NULL OR st.due_at >= $2) \
             AND ($3::timestamptz IS NULL OR st.due_at < $3) \
             ORDER BY st.due_at, st.id",
            directory = directory_of("st.source", "st.employee_id"),
        );
        let rows: Vec<Candidate> = sqlx::query_as(&overdue)
            .bind(scope.source)
            .bind(scope.since)
            .bind(scope.until)
            .bind(scope.now)
            .fetch_all(&mut *conn)
            .await?;
        candidates.extend(rows);
    }

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
    let dead: Vec<DeadRow> = sqlx::query_as(
        "SELECT d.source, d.event_id, d.id, d.reason, d.last_error FROM dead_letters d \
         JOIN UNNEST($1::text[], $2::text[]) AS k(source, event_id) \
              ON d.source = k.source AND d.event_id = k.event_id \
         WHERE d.status = 'dead'",
    )
    .bind(&sources)
    .bind(&event_ids)
    .fetch_all(&mut *conn)
    .await?;

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
    let mut targets = Vec::with_capacity(actions.len() + 1);
    let dead_letter = match (dead, c.dead_letter_id) {
        (Some(d), _) => Some(DeadLetterRef {
            id: d.id,
            reason: d.reason.clone(),
            last_error: d.last_error.clone(),
        }),
        (None, Some(id)) => Some(DeadLetterRef {
            id,
            reason: c.dead_letter_reason.clone().unwrap_or_default(),
            last_error: c.dead_letter_error.clone().unwrap_or_default(),
        }),
        (None, None) => None,
    };
    let directory = match c.origin.as_str() {
        "applied" => TargetRevocation {
            target: c.directory.clone(),
            status: "revoked".into(),
            revoked_at: c.processed_at,
            attempts: None,
            error: None,
        },
        "dead_lettered" => TargetRevocation {
            target: c.directory.clone(),
            status: "not_applied".into(),
            revoked_at: None,
            attempts: None,
            error: c.dead_letter_error.clone(),
        },
        _ => TargetRevocation {
            target: c.directory.clone(),
            status: "pending".into(),
            revoked_at: None,
            attempts: None,
            error: None,
        },
    };
    targets.push(directory);
    for action in actions {
        let (status, revoked_at) = match action.status.as_str() {
            "succeeded" => ("revoked", action.finished_at),
            other => (other, None),
        };
        targets.push(TargetRevocation {
            target: action.target.clone(),
            status: status.to_owned(),
            revoked_at,
            attempts: Some(action.attempts),
            error: action.error.clone(),
        });
    }

    let failed = dead_letter.is_some() || targets.iter().any(|t| t.status == "failed");
    let open = targets
        .iter()
        .any(|t| matches!(t.status.as_str(), "pending" | "not_applied"));
    let status = if failed {
        Status::Failed
    } else if open {
        Status::Pending
    } else {
        Status::Completed
    };
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

    let mut stuck_at = Vec::new();
    if status != Status::Completed {
        for t in &targets {
            if matches!(t.status.as_str(), "pending" | "failed" | "not_applied") {
                stuck_at.push(Stuck {
                    target: Some(t.target.clone()),
                    status: t.status.clone(),
                    error: t.error.clone(),
                });
            }
        }
        if let Some(d) = &dead_letter {
            stuck_at.push(Stuck {
                target: None,
                status: "dead_lettered".into(),
                error: Some(format!(
                    "dead-lettered: {} (dead letter {})",
                    d.reason, d.id
                )),
            });
        }
        if let Some(state) = &c.scheduler_status {
            let due = c.due_at.map_or("-".into(), |t| t.to_rfc3339());
            let error = match state.as_str() {
                "scheduled" => format!("due at {due}; not yet enqueued by the scheduler"),
                _ => format!("due at {due}; enqueued, not yet processed"),
            };
            stuck_at.push(Stuck {
                target: None,
                status: format!("scheduler_{state}"),
                error: Some(error),
            });
        }
    }

    Timeline {
        source: c.source.clone(),
        employee_id: c.employee_id.clone(),
        event_id: c.event_id.clone(),
        trigger: c.trigger.clone(),
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
        micros: Micros {
            receipt_to_revoked,
            effective_to_revoked,
            sla_latency,
            targets: per_target,
        },
    }
}

fn assemble(params: &Params, terminations: Vec<Timeline>, scheduled: Vec<Scheduled>) -> Report {
    let count = |status| terminations.iter().filter(|t| t.status == status).count();
    let receipt: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.receipt_to_revoked)
        .collect();
    let effective: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.effective_to_revoked)
        .collect();

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

    let incomplete: Vec<Incomplete> = terminations
        .iter()
        .filter(|t| t.status != Status::Completed)
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

    let mut per_target: BTreeMap<String, (Vec<i64>, usize, usize)> = BTreeMap::new();
    for t in &terminations {
        for (target, latency) in &t.micros.targets {
            per_target
                .entry(target.clone())
                .or_default()
                .0
                .push(*latency);
        }
        for r in &t.targets {
            let entry = per_target.entry(r.target.clone()).or_default();
            match r.status.as_str() {
                "pending" | "not_applied" => entry.1 += 1,
                "failed" => entry.2 += 1,
                _ => {}
            }
        }
    }
    let targets = per_target
        .into_iter()
        .map(|(name, (latencies, pending, failed))| {
            let stats = TargetStats {
                latency: Percentiles::from_micros(&latencies),
                pending,
                failed,
            };
            (name, stats)
        })
        .collect();

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
        },
        latency_seconds: Latency {
            receipt_to_revoked: Percentiles::from_micros(&receipt),
            effective_to_revoked: Percentiles::from_micros(&effective),
        },
        breaches,
        incomplete,
        targets,
        scheduled,
        terminations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn applied(received: &str, processed: &str) -> Candidate {
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
        }
    }

    fn action(status: &str, finished: Option<&str>, error: Option<&str>) -> ActionRow {
        ActionRow {
            source: "hris".into(),
            event_id: "ev".into(),
            target: "product".into(),
            status: status.into(),
            error: error.map(str::to_owned),
            attempts: 1,
            finished_at: finished.map(at),
        }
    }

    const SLA: i64 = 15 * 60 * 1_000_000;

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
