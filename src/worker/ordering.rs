//! Per-employee ordering: senders do not guarantee order, so each event is compared with
//! what was applied for that employee, under the employee's row lock.
//!
//! The rules a security team relies on (docs/guarantees.md):
//! - an attribute change older than the last applied event is stale;
//! - a termination is stale only against a later *activation signal* (a hire, or a status
//!   that says active); a later bare `updated` does not undo it;
//! - a terminated employee comes back only on an activation signal newer than the
//!   termination (a rehire); a bare `updated` changes the stored attributes, not access;
//! - at equal times a termination wins, so a replayed hire can never undo a leaver;
//! - a pre-hire (a status that says the person has not started) is pending until its start
//!   date; only the scheduled start, or an explicit active status, activates it, and the
//!   scheduled start never activates someone terminated in the meantime.

use chrono::{DateTime, Utc};

use crate::domain::event::EventKind;
use crate::store::employees::EmployeeState;

/// Whether an employee event may change the employee's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Apply {
        rehire: bool,
    },
    /// A terminated or pending employee's update without an activation signal: attributes
    /// only, the account stays as it is.
    KeepInactive,
    Stale(&'static str),
}

/// What the ordering rules need to know about an event.
#[derive(Debug, Clone, Copy)]
pub struct Incoming {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    /// A hire, or a payload whose status says active.
    pub says_active: bool,
    /// The payload's status says active (not just a hire): what a pre-hire needs before
    /// its start date.
    pub status_active: bool,
    /// A pre-hire whose start date is still ahead (or unknown): pending, not active.
    pub prehire: bool,
    /// The scheduler's activation of a pre-hire at the start date.
    pub start: bool,
}

pub fn decide(state: Option<&EmployeeState>, event: Incoming) -> Verdict {
    if event.start {
        return start(state);
    }
    let Some(state) = state else {
        return Verdict::Apply { rehire: false };
    };
    let Some(last) = state.last_occurred_at else {
        return Verdict::Apply { rehire: false };
    };
    if event.kind == EventKind::Terminated {
        return termination(state, event.at);
    }
    if event.at < last {
        return Verdict::Stale("older than the last applied event");
    }
    if state.is_terminated() {
        let terminated = state.terminated_occurred_at.unwrap_or(last);
        if !(event.says_active || event.prehire) {
            return Verdict::KeepInactive;
        }
        if event.at <= terminated {
            return Verdict::Stale("not newer than the termination");
        }
        return Verdict::Apply {
            rehire: event.says_active,
        };
    }
    if state.is_pending() {
        if !(event.status_active || event.prehire) {
            return Verdict::KeepInactive;
        }
        return Verdict::Apply {
            rehire: event.status_active && returns(state),
        };
    }
    Verdict::Apply { rehire: false }
}

/// A pre-hire who was terminated before (and not active since): activating them is a
/// re-activation, reported as one.
fn returns(state: &EmployeeState) -> bool {
    state
        .terminated_occurred_at
        .is_some_and(|t| state.activated_occurred_at.is_none_or(|a| t > a))
}

/// The scheduled activation of a pre-hire: only a pre-hire still pending starts. Someone
/// terminated before the start (whatever the times say) stays out.
fn start(state: Option<&EmployeeState>) -> Verdict {
    match state {
        Some(s) if s.last_occurred_at.is_none() => {
            Verdict::Stale("no pre-hire recorded for this start")
        }
        Some(s) if s.is_pending() => Verdict::Apply { rehire: returns(s) },
        Some(s) if s.is_terminated() => Verdict::Stale("terminated before the start date"),
        Some(_) => Verdict::Stale("already active before the start date"),
        None => Verdict::Stale("no pre-hire recorded for this start"),
    }
}

/// A termination applies unless the employee was (re-)activated after it happened. A
/// termination of someone already terminated applies again (it is idempotent), so it never
/// shows up as stale.
fn termination(state: &EmployeeState, at: DateTime<Utc>) -> Verdict {
    let activated_later = state.activated_occurred_at.is_some_and(|a| a > at);
    if !state.is_terminated() && activated_later {
        return Verdict::Stale("older than the employee's (re-)activation");
    }
    Verdict::Apply { rehire: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid time")
    }

    fn state(status: &str, last: i64) -> EmployeeState {
        let terminated = status == "terminated";
        EmployeeState {
            status: status.into(),
            last_occurred_at: Some(at(last)),
            termination_scheduled: false,
            activated_occurred_at: (!terminated).then(|| at(last)),
            terminated_occurred_at: terminated.then(|| at(last)),
        }
    }

    fn event(kind: EventKind, secs: i64, says_active: bool) -> Incoming {
        Incoming {
            kind,
            at: at(secs),
            says_active,
            status_active: says_active && kind == EventKind::Updated,
            prehire: false,
            start: false,
        }
    }

    fn created(secs: i64) -> Incoming {
        event(EventKind::Created, secs, true)
    }

    fn updated(secs: i64, says_active: bool) -> Incoming {
        event(EventKind::Updated, secs, says_active)
    }

    fn terminated(secs: i64) -> Incoming {
        event(EventKind::Terminated, secs, false)
    }

    /// The verdict on `incoming` for an employee last seen `status` at `last`.
    fn verdict(status: &str, last: i64, incoming: Incoming) -> Verdict {
        decide(Some(&state(status, last)), incoming)
    }

    #[test]
    fn a_new_employee_is_applied() {
        let d = decide(None, created(10));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }

    #[test]
    fn an_older_update_is_stale() {
        let d = verdict("active", 20, updated(10, false));
        assert!(matches!(d, Verdict::Stale(_)));
    }

    #[test]
    fn an_older_created_never_resurrects_a_terminated_employee() {
        let s = state("terminated", 20);
        assert!(matches!(decide(Some(&s), created(19)), Verdict::Stale(_)));
        assert!(matches!(decide(Some(&s), created(20)), Verdict::Stale(_)));
    }

    #[test]
    fn a_newer_active_event_after_termination_is_a_rehire() {
        let s = state("terminated", 20);
        let d = decide(Some(&s), created(21));
        assert_eq!(d, Verdict::Apply { rehire: true });
        let d = decide(Some(&s), updated(21, true));
        assert_eq!(d, Verdict::Apply { rehire: true });
    }

    #[test]
    fn a_newer_update_without_status_keeps_a_leaver_terminated() {
        let d = verdict("terminated", 20, updated(99, false));
        assert_eq!(d, Verdict::KeepInactive);
    }

    fn prehire(secs: i64) -> Incoming {
        Incoming {
            prehire: true,
            ..event(EventKind::Created, secs, false)
        }
    }

    fn start_of(secs: i64) -> Incoming {
        Incoming {
            start: true,
            ..created(secs)
        }
    }

    #[test]
    fn a_pre_hire_applies_and_a_bare_update_keeps_it_pending() {
        assert_eq!(decide(None, prehire(10)), Verdict::Apply { rehire: false });
        let s = state("pending", 10);
        let d = decide(Some(&s), updated(20, false));
        assert_eq!(d, Verdict::KeepInactive);
        // A hire without a status is not enough before the start date.
        let d = decide(Some(&s), created(20));
        assert_eq!(d, Verdict::KeepInactive);
        let d = decide(Some(&s), updated(20, true));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }

    #[test]
    fn a_pre_hire_of_a_leaver_must_be_newer_than_the_termination() {
        let s = state("terminated", 20);
        assert!(matches!(decide(Some(&s), prehire(20)), Verdict::Stale(_)));
        let d = decide(Some(&s), prehire(21));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }

    #[test]
    fn a_former_leaver_activated_from_pending_is_a_rehire() {
        let mut s = state("pending", 30);
        s.activated_occurred_at = Some(at(5));
        s.terminated_occurred_at = Some(at(20));
        assert_eq!(
            decide(Some(&s), start_of(25)),
            Verdict::Apply { rehire: true }
        );
        let d = decide(Some(&s), updated(40, true));
        assert_eq!(d, Verdict::Apply { rehire: true });
    }

    #[test]
    fn the_start_activates_only_a_pending_pre_hire() {
        let pending = state("pending", 10);
        let d = decide(Some(&pending), start_of(5));
        assert_eq!(d, Verdict::Apply { rehire: false });
        // Terminated before the start: stale whatever the times say.
        let terminated = state("terminated", 1);
        assert!(matches!(
            decide(Some(&terminated), start_of(99)),
            Verdict::Stale("terminated before the start date")
        ));
        let active = state("active", 10);
        assert!(matches!(
            decide(Some(&active), start_of(99)),
            Verdict::Stale(_)
        ));
        assert!(matches!(decide(None, start_of(1)), Verdict::Stale(_)));
    }

    #[test]
    fn a_termination_at_the_same_time_as_the_last_event_applies() {
        let d = verdict("active", 20, terminated(20));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }

    #[test]
    fn a_termination_older_than_a_bare_update_still_applies() {
        let mut s = state("active", 30);
        s.activated_occurred_at = Some(at(10));
        let d = decide(Some(&s), terminated(20));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }

    #[test]
    fn a_termination_older_than_a_reactivation_is_stale() {
        let d = verdict("active", 30, terminated(20));
        assert!(matches!(d, Verdict::Stale(_)));
    }

    #[test]
    fn an_older_termination_of_a_leaver_applies_again() {
        let d = verdict("terminated", 30, terminated(20));
        assert_eq!(d, Verdict::Apply { rehire: false });
    }
}
