//! How an employee event settles once ordering let it through: the employee's state to
//! save, and the event record's outcome and reason.

use chrono::{DateTime, Utc};

use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::store::employees::{EmployeeState, Save};
use crate::store::events::EventRecord;
use crate::worker::ordering::Incoming;

use super::prepare::Prepared;
use super::{
    Outcome, IN_DELETED_DIRECTORY, NO_API_TO_ENRICH, PREHIRE_SCHEDULED, PREHIRE_WITHOUT_START,
    REHIRE, STARTED,
};

/// The event reason of a termination (or other event) dated in the future.
const TERMINATION_SCHEDULED: &str = "termination scheduled for its effective date";

/// The event ends early (stale, held): its record says `outcome` for `reason`.
pub(super) fn ended<'a>(
    mut record: EventRecord<'a>,
    outcome: Outcome,
    reason: &'static str,
) -> (Outcome, EventRecord<'a>) {
    (mark(&mut record, outcome, reason), record)
}

/// The record ends in `outcome` for `reason`.
fn mark(record: &mut EventRecord<'_>, outcome: Outcome, reason: &'static str) -> Outcome {
    record.outcome = outcome.as_str();
    record.reason = Some(reason);
    outcome
}

/// The record of an update kept inactive: its reason and the account's state.
pub(super) fn kept_record<'a>(
    mut record: EventRecord<'a>,
    (reason, account): (&'static str, &'static str),
) -> EventRecord<'a> {
    record.reason = Some(reason);
    record.directory_action = Some(("update", account));
    record
}

/// A termination dated in the future: not yet. The account stays as it is until the
/// scheduler enqueues it.
pub(super) fn wait_for_termination(
    save: &mut Save<'_>,
    record: &mut EventRecord<'_>,
    state: Option<&EmployeeState>,
) -> Outcome {
    if let Some(s) = state.filter(|s| s.is_terminated() || s.is_pending()) {
        save.status = s.status_str();
    }
    mark(record, Outcome::Scheduled, TERMINATION_SCHEDULED)
}

/// A pre-hire: pending until its start date (`starts`), or an explicit active status.
pub(super) fn wait_for_start(
    save: &mut Save<'_>,
    record: &mut EventRecord<'_>,
    starts: Option<DateTime<Utc>>,
) -> Outcome {
    save.status = "pending";
    record.reason = Some(match starts {
        Some(_) => PREHIRE_SCHEDULED,
        None => PREHIRE_WITHOUT_START,
    });
    record.directory_action = Some(("prehire", "pending"));
    Outcome::Applied
}

/// The employee once the event is applied: terminated (at the latest time it took effect,
/// `at`), or active since this event when it `says_active`.
pub(super) fn applied_state(
    save: &mut Save<'_>,
    event: &CanonicalEvent,
    state: Option<&EmployeeState>,
    at: DateTime<Utc>,
    says_active: bool,
) {
    if event.kind == EventKind::Terminated {
        save.status = "terminated";
        save.terminated_occurred_at = match state.filter(|s| s.is_terminated()) {
            Some(s) => Some(latest(s.terminated_occurred_at, at)),
            None => Some(at),
        };
    } else if says_active {
        save.activated_occurred_at = Some(latest(save.activated_occurred_at, event.occurred_at));
    }
}

/// The event reason of an applied event (`due`: it also scheduled a termination).
pub(super) fn applied_reason(
    item: &Prepared<'_>,
    event: &CanonicalEvent,
    incoming: &Incoming,
    rehire: bool,
    due: bool,
) -> Option<&'static str> {
    let forced = matches!(&item.normalized, Normalized::Employee(e) if e.kind != event.kind);
    match (rehire, due) {
        (true, _) => Some(REHIRE),
        (false, true) => Some(TERMINATION_SCHEDULED),
        _ if incoming.start => Some(STARTED),
        _ if forced => Some(IN_DELETED_DIRECTORY),
        _ if item.unenriched => Some(NO_API_TO_ENRICH),
        _ => None,
    }
}

/// The later of the last applied time and this event's.
fn latest(last: Option<DateTime<Utc>>, at: DateTime<Utc>) -> DateTime<Utc> {
    last.map_or(at, |last| last.max(at))
}

/// The employee's state to save: `status`, with this event's time if it is the latest.
pub(super) fn saved<'a>(
    msg: &'a QueueMessage,
    event: &'a CanonicalEvent,
    state: Option<&EmployeeState>,
    status: &'static str,
    termination_scheduled: bool,
) -> Save<'a> {
    Save {
        source: &msg.source,
        employee_id: &event.employee_id,
        status,
        occurred_at: latest(state.and_then(|s| s.last_occurred_at), event.occurred_at),
        termination_scheduled,
        activated_occurred_at: state.and_then(|s| s.activated_occurred_at),
        terminated_occurred_at: state.and_then(|s| s.terminated_occurred_at),
    }
}

/// A leaver's or pre-hire's state after an update that does not activate: still terminated
/// or pending, with the newer time (the attributes change, nothing else).
pub(super) fn kept_inactive<'a>(
    msg: &'a QueueMessage,
    event: &'a CanonicalEvent,
    state: Option<&EmployeeState>,
) -> Save<'a> {
    let status = state.map_or("terminated", EmployeeState::status_str);
    saved(
        msg,
        event,
        state,
        status,
        state.is_some_and(|s| s.termination_scheduled),
    )
}
