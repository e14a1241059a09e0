//! The report's answer to "who may still have access": every termination in the window
//! that did not end with the employee deactivated on every target, whatever the reason
//! (`not_revoked`), and the re-activations of terminated employees (`reactivations`).
//!
//! `incomplete` only lists what provisiond is still working on (pending, failed). A
//! termination that changed nothing (stale, ignored), whose action was deliberately not
//! sent (superseded) or whose dead letter was discarded is finished as far as processing
//! goes, yet the leaver kept their access: an auditor must see it, with the reason.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::report::{DeadLetterRef, Params, Status, Stuck, Timeline};

/// Why a termination did not revoke every access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotRevokedReason)]
pub enum Reason {
    /// Older than a re-activation that was applied: nothing was deactivated.
    Stale,
    /// Recorded but not acted on (`events.reason` says why).
    Ignored,
    /// A target's deactivation was not sent: the employee's current state contradicts it.
    Superseded,
    /// In the dead-letter log (dead, or discarded: it will not be retried).
    DeadLettered,
    /// A target failed.
    Failed,
    /// A target, or a replayed dead letter, is not processed yet.
    Pending,
    /// A scheduled termination whose due time has passed, not applied yet.
    ScheduledPastDue,
    /// Held by the mass-change guard, not released (or rejected) by an operator.
    Held,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Stale => "stale",
            Reason::Ignored => "ignored",
            Reason::Superseded => "superseded",
            Reason::DeadLettered => "dead_lettered",
            Reason::Failed => "failed",
            Reason::Pending => "pending",
            Reason::ScheduledPastDue => "scheduled_past_due",
            Reason::Held => "held",
        }
    }

    /// The reason of a termination that ended in `status`; `None` once every target is
    /// revoked. `origin` is where the report found it (`scheduler` for one past due).
    pub(super) fn of(
        origin: &str,
        status: Status,
        dead_letter: Option<&DeadLetterRef>,
    ) -> Option<Self> {
        let blocked_by_letter = dead_letter.is_some_and(|d| d.status != "replayed");
        match status {
            Status::Completed => None,
            Status::Stale => Some(Reason::Stale),
            Status::Ignored => Some(Reason::Ignored),
            Status::Superseded => Some(Reason::Superseded),
            Status::Held => Some(Reason::Held),
            Status::Failed if blocked_by_letter => Some(Reason::DeadLettered),
            Status::Failed => Some(Reason::Failed),
            Status::Pending if origin == "scheduler" => Some(Reason::ScheduledPastDue),
            Status::Pending => Some(Reason::Pending),
        }
    }
}

/// One entry of `not_revoked`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotRevoked {
    pub source: String,
    pub employee_id: Option<String>,
    pub event_id: String,
    pub reason: Reason,
    pub status: Status,
    /// For people: the sender's reason, the action's error, the dead letter…
    pub detail: String,
    pub received_at: DateTime<Utc>,
    pub clock_started_at: DateTime<Utc>,
    pub age_seconds: f64,
    pub breach: bool,
    pub stuck_at: Vec<Stuck>,
}

/// The terminations that did not revoke everything, in the order given (by clock start).
pub(super) fn list(terminations: &[Timeline]) -> Vec<NotRevoked> {
    terminations
        .iter()
        .filter_map(|t| {
            let reason = t.not_revoked_reason?;
            Some(NotRevoked {
                source: t.source.clone(),
                employee_id: t.employee_id.clone(),
                event_id: t.event_id.clone(),
                reason,
                status: t.status,
                detail: detail(reason, t),
                received_at: t.received_at,
                clock_started_at: t.clock_started_at,
                age_seconds: t.age_seconds.unwrap_or_default(),
                breach: t.breach,
                stuck_at: t.stuck_at.clone(),
            })
        })
        .collect()
}

/// One sentence saying why the employee may still have access.
pub(crate) fn detail(reason: Reason, t: &Timeline) -> String {
    match reason {
        Reason::Stale | Reason::Ignored => {
            // The directory's entry carries the `events.reason` of a termination not applied.
            let why = t
                .targets
                .first()
                .and_then(|d| d.error.as_deref())
                .unwrap_or("no reason recorded");
            let what = if reason == Reason::Stale {
                "Stale"
            } else {
                "Ignored"
            };
            format!("{what}, nothing was deactivated: {why}.")
        }
        Reason::DeadLettered => match &t.dead_letter {
            Some(d) => format!(
                "Dead letter {}, {} ({}): {}.",
                d.id, d.status, d.reason, d.last_error
            ),
            None => format!("Dead-lettered: {}.", summary(&t.stuck_at)),
        },
        Reason::Superseded => format!("Not sent: {}.", summary(&t.stuck_at)),
        Reason::Failed => format!("Failed: {}.", summary(&t.stuck_at)),
        Reason::Pending => format!("Not done yet: {}.", summary(&t.stuck_at)),
        Reason::ScheduledPastDue => format!("Past due: {}.", summary(&t.stuck_at)),
        Reason::Held => {
            let why = t.targets.first().and_then(|d| d.error.as_deref());
            format!(
                "Held, nothing was deactivated: {} (`provisiond hold list`).",
                why.unwrap_or("the mass-change guard")
            )
        }
    }
}

fn summary(stuck: &[Stuck]) -> String {
    let parts: Vec<String> = stuck.iter().map(Stuck::describe).collect();
    if parts.is_empty() {
        return "no target recorded".to_owned();
    }
    parts.join("; ")
}

/// One entry of `reactivations`: an applied event that made a terminated employee active
/// again.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Reactivation {
    pub source: String,
    pub employee_id: Option<String>,
    pub event_id: String,
    /// `created` or `updated`.
    pub kind: Option<String>,
    pub trigger: String,
    /// Always `rehire`.
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// The employee's latest applied termination before it (by `events.id`).
    pub previous_termination_event_id: Option<String>,
}

/// The re-activations applied in the window, oldest first (a pre-hire's activation at its
/// start date is applied long after the pre-hire was received).
pub async fn reactivations(
    conn: &mut PgConnection,
    params: &Params,
) -> Result<Vec<Reactivation>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.source, e.employee_id, e.event_id, e.kind, e.trigger, e.reason, \
         e.occurred_at, e.received_at, e.processed_at, \
         (SELECT t.event_id FROM events t WHERE t.source = e.source \
          AND t.employee_id = e.employee_id AND t.kind = 'terminated' \
          AND t.outcome = 'applied' AND t.id < e.id \
          ORDER BY t.id DESC LIMIT 1) AS previous_termination_event_id \
         FROM events e \
         WHERE e.reason = 'rehire' AND e.outcome = 'applied' \
         AND ($1::text IS NULL OR e.source = $1) AND e.processed_at >= $2 \
         AND e.processed_at < $3 ORDER BY e.processed_at, e.id",
    )
    .bind(params.source.as_deref())
    .bind(params.since)
    .bind(params.until)
    .fetch_all(conn)
    .await
}
