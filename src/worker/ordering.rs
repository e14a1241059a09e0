//! Per-employee ordering: senders do not guarantee order, so each event is compared with
//! what was applied for that employee, under the employee's row lock.
//!
//! The rules a security team relies on (README "How a termination is guaranteed"):
//! - an attribute change older than the last applied event is stale;
//! - a termination is stale only against a later *activation signal* (a hire, or a status
//!   that says active); a later bare `updated` does not undo it;
//! - a terminated employee comes back only on an activation signal newer than the
//!   termination (a rehire); a bare `updated` changes the stored attributes, not access;
//! - at equal times a termination wins, so a replayed hire can never undo a leaver.

use chrono::{DateTime, Utc};

use crate::event::EventKind;
use crate::store::employees::EmployeeState;

/// Whether an employee event may change the employee's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply {
        rehire: bool,
    },
    /// A terminated employee's update without an activation signal: attributes only.
    KeepTerminated,
    Stale(&'static str),
}

/// What the ordering rules need to know about an event.
#[derive(Debug, Clone, Copy)]
pub struct Incoming {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    /// A hire, or a payload whose status says active.
    pub says_active: bool,
}

pub fn decide(state: Option<&EmployeeState>, event: Incoming) -> Decision {
    let Some(state) = state else {
        return Decision::Apply { rehire: false };
    };
    let Some(last) = state.last_occurred_at else {
        return Decision::Apply { rehire: false };
    };
    if event.kind == EventKind::Terminated {
        return termination(state, event.at);
    }
    if event.at < last {
        return Decision::Stale("older than the last applied event");
    }
    if !state.is_terminated() {
        return Decision::Apply { rehire: false };
    }
    if !event.says_active {
        return Decision::KeepTerminated;
    }
    let terminated = state.terminated_occurred_at.unwrap_or(last);
    if event.at <= terminated {
        return Decision::Stale("not newer than the termination");
    }
    Decision::Apply { rehire: true }
}

/// A termination applies unless the employee was (re-)activated after it happened. A
/// termination of someone already terminated applies again (it is idempotent), so it never
/// shows up as stale.
fn termination(state: &EmployeeState, at: DateTime<Utc>) -> Decision {
    let activated_later = state.activated_occurred_at.is_some_and(|a| a > at);
    if !state.is_terminated() && activated_later {
        return Decision::Stale("older than the employee's (re-)activation");
    }
    Decision::Apply { rehire: false }
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
        }
    }

    fn created(secs: i64) -> Incoming {
        event(EventKind::Created, secs, true)
    }

    #[test]
    fn a_new_employee_is_applied() {
        let d = decide(None, created(10));
        assert_eq!(d, Decision::Apply { rehire: false });
    }

    #[test]
    fn an_older_update_is_stale() {
        let s = state("active", 20);
        let d = decide(Some(&s), event(EventKind::Updated, 10, false));
        assert!(matches!(d, Decision::Stale(_)));
    }

    #[test]
    fn an_older_created_never_resurrects_a_terminated_employee() {
        let s = state("terminated", 20);
        assert!(matches!(decide(Some(&s), created(19)), Decision::Stale(_)));
        assert!(matches!(decide(Some(&s), created(20)), Decision::Stale(_)));
    }

    #[test]
    fn a_newer_active_event_after_termination_is_a_rehire() {
        let s = state("terminated", 20);
        let d = decide(Some(&s), created(21));
        assert_eq!(d, Decision::Apply { rehire: true });
        let d = decide(Some(&s), event(EventKind::Updated, 21, true));
        assert_eq!(d, Decision::Apply { rehire: true });
    }

    #[test]
    fn a_newer_update_without_status_keeps_a_leaver_terminated() {
        let s = state("terminated", 20);
        let d = decide(Some(&s), event(EventKind::Updated, 99, false));
        assert_eq!(d, Decision::KeepTerminated);
    }

    #[test]
    fn a_termination_at_the_same_time_as_the_last_event_applies() {
        let s = state("active", 20);
        let d = decide(Some(&s), event(EventKind::Terminated, 20, false));
        assert_eq!(d, Decision::Apply { rehire: false });
    }

    #[test]
    fn a_termination_older_than_a_bare_update_still_applies() {
        let mut s = state("active", 30);
        s.activated_occurred_at = Some(at(10));
        let d = decide(Some(&s), event(EventKind::Terminated, 20, false));
        assert_eq!(d, Decision::Apply { rehire: false });
    }

    #[test]
    fn a_termination_older_than_a_reactivation_is_stale() {
        let s = state("active", 30);
        let d = decide(Some(&s), event(EventKind::Terminated, 20, false));
        assert!(matches!(d, Decision::Stale(_)));
    }

    #[test]
    fn an_older_termination_of_a_leaver_applies_again() {
        let s = state("terminated", 30);
        let d = decide(Some(&s), event(EventKind::Terminated, 20, false));
        assert_eq!(d, Decision::Apply { rehire: false });
    }
}
