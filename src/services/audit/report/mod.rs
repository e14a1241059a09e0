//! The deprovision report: its types and entry points (`build`, `pending_past_sla`, `timeline`).
//!
//! Every termination's timeline, from the rows that processing wrote (`events`,
//! `provisioning_actions`, `dead_letters`, `scheduled_terminations`), reduced to counts,
//! exact percentiles, SLA breaches and what is still incomplete.
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

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

// The sibling modules by their names here too, so that the children's paths do not
// depend on where `audit` sits in the crate.
use super::log_check::{self, LogCheck};
use super::not_revoked::{NotRevoked, Reactivation};
use super::percentile::Percentiles;
use super::{not_revoked, percentile};

mod aggregate;
mod classify;
#[cfg(test)]
pub(crate) mod fixture;
mod params;
mod people;
mod query;
#[cfg(test)]
mod tests;
mod timeline;

pub use params::{Params, DEFAULT_SINCE};
pub use timeline::{DeadLetterRef, Status, Stuck, TargetRevocation, Timeline};

use query::Scope;
use timeline::Micros;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ReportWindow)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ReportCounts)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ReportLatency)]
pub struct Latency {
    pub receipt_to_revoked: Percentiles,
    pub effective_to_revoked: Percentiles,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetStats {
    /// receipt → revoked on this target, over the terminations it revoked.
    #[serde(flatten)]
    pub latency: Percentiles,
    pub pending: usize,
    pub failed: usize,
    /// Deactivations not sent to this target (the employee's state contradicts them).
    pub superseded: usize,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = ScheduledTermination)]
pub struct Scheduled {
    pub source: String,
    pub employee_id: String,
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// The report. Its JSON shape is documented in docs/security.md and kept stable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DeprovisionReport)]
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
    /// `audit.organisation`.
    pub organisation: Option<String>,
    /// Who asked for the report: the admin token's name, or `--prepared-by`.
    pub prepared_by: Option<String>,
    /// `audit.time_zone` (IANA name): where date-only terminations take effect.
    pub time_zone: String,
    /// `audit verify`'s check of the audit log when the report was generated (`None`
    /// only in reports assembled without a database).
    pub audit_log: Option<LogCheck>,
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
        ..Scope::everything(params.now)
    };
    let mut timelines = query::load(&mut tx, &scope, params.sla).await?;
    people::name_them(&mut tx, &mut timelines).await?;
    let scheduled = query::load_scheduled(&mut tx, params).await?;
    let reactivations = not_revoked::reactivations(&mut tx, params).await?;
    tx.commit().await?;
    // The same check as `audit verify` (without sealing: the report only reads).
    let audit_log = log_check::check(pool, params.now).await?;
    let mut report = aggregate::assemble(params, timelines, scheduled, reactivations);
    report.audit_log = Some(audit_log);
    Ok(report)
}

/// The terminations whose SLA ran out at or after `first` (and by `now`) before every
/// target had revoked access: `(when the SLA ran out, still not revoked now)`, for the
/// console's hourly chart of breaches. Without the audit-log check `build` adds.
pub async fn breaches_since(
    pool: &PgPool,
    sla: Duration,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, bool)>, sqlx::Error> {
    let sla = chrono::Duration::from_std(sla).unwrap_or(chrono::Duration::MAX);
    let mut conn = pool.acquire().await?;
    let scope = Scope {
        since: first.checked_sub_signed(sla),
        ..Scope::everything(now)
    };
    let timelines = query::load(&mut conn, &scope, sla.to_std().unwrap_or_default()).await?;
    Ok(timelines
        .iter()
        .filter(|t| t.breach)
        .filter_map(|t| {
            let ran_out = t.clock_started_at.checked_add_signed(sla)?;
            (ran_out >= first && ran_out <= now).then_some((ran_out, t.completed_at.is_none()))
        })
        .collect())
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
        incomplete_only: true,
        ..Scope::everything(now)
    };
    let timelines = query::load(&mut conn, &scope, sla).await?;
    let late: Vec<&Timeline> = timelines
        .iter()
        .filter(|t| t.not_revoked_reason.is_some() && t.breach)
        .collect();
    let revoked_since = query::revoked_now(&mut conn, &late).await?;
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
        event_id: Some(event_id),
        ..Scope::everything(now)
    };
    let timelines = query::load(&mut conn, &scope, Duration::MAX).await?;
    Ok(timelines.into_iter().next())
}
