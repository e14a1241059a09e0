//! Classification: a termination's rows reduced to its timeline, status and where stuck.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::not_revoked::Reason;
use super::percentile::seconds;
use super::query::{ActionRow, Candidate, DeadRow};
use super::{DeadLetterRef, Micros, Status, Stuck, TargetRevocation, Timeline};

/// Each candidate's timeline from its actions and dead letter, by clock start.
pub(super) fn timelines(
    candidates: &[Candidate],
    actions: &[ActionRow],
    dead: &[DeadRow],
    now: DateTime<Utc>,
    sla: Duration,
) -> Vec<Timeline> {
    let mut actions_by_event: HashMap<(&str, &str), Vec<&ActionRow>> = HashMap::new();
    for action in actions {
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
                now,
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
    timelines
}

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn micros_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX)
}

/// One termination's timeline from its rows.
pub(super) fn classify(
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
    for t in &mut targets {
        let latency = t.revoked_at.map(|at| micros_between(clock_started_at, at));
        let elapsed = latency.unwrap_or_else(|| micros_between(clock_started_at, now));
        t.latency_seconds = latency.map(seconds);
        t.sla_status = match (latency, elapsed > sla_micros) {
            (_, true) => "breached",
            (Some(_), false) => "met",
            (None, false) => "open",
        };
    }
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
        employee_name: None,
        employee_email: None,
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
        latency_seconds: None,
        sla_status: "open",
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
        latency_seconds: None,
        sla_status: "open",
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
