//! One termination's timeline: where it stands, per target, and where it is stuck.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::not_revoked::Reason;

/// Where a termination stands. For an applied one: failed > pending > superseded >
/// completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TerminationStatus)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// Clock start → `revoked_at` on this target.
    pub latency_seconds: Option<f64>,
    /// `met` (revoked within the SLA), `breached` (revoked later than the SLA, or not
    /// revoked and the SLA is over) or `open` (not revoked, the SLA not over yet).
    pub sla_status: &'static str,
}

/// Where an incomplete termination is stuck: a target and its error, the dead-letter
/// log, or the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterRef {
    pub id: i64,
    pub reason: String,
    pub last_error: String,
    /// `dead`, `discarded` (will not be retried) or `replayed` (not processed yet).
    pub status: String,
}

/// Every time known about one termination.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    pub source: String,
    pub employee_id: Option<String>,
    /// The employee's name and email as the directory account has them (`None` when
    /// the employee never had an account).
    pub employee_name: Option<String>,
    pub employee_email: Option<String>,
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
    pub(super) micros: Micros,
}

impl Timeline {
    /// The termination against the SLA: `breached`, `met` once completed, else `open`.
    pub fn sla_status(&self) -> &'static str {
        match (self.breach, self.completed_at) {
            (true, _) => "breached",
            (false, Some(_)) => "met",
            (false, None) => "open",
        }
    }
}

/// Latencies in microseconds, exact.
#[derive(Debug, Clone, Default)]
pub(super) struct Micros {
    pub(super) receipt_to_revoked: Option<i64>,
    pub(super) effective_to_revoked: Option<i64>,
    /// receipt → completed, or receipt → now while incomplete.
    pub(super) sla_latency: i64,
    /// Per target: revoked_at - clock start.
    pub(super) targets: Vec<(String, i64)>,
}
