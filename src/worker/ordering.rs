//! Per-employee ordering: senders do not guarantee order, so each event is compared with
//! the last one applied for that employee, under the employee's row lock.

use chrono::{DateTime, Utc};

use crate::event::EventKind;
use crate::store::employees::EmployeeState;

/// Whether an employee event may change the employee's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply { rehire: bool },
    Stale(&'static str),
}

/// Senders do not guarantee order: an event older than the last applied one is stale.
/// At equal times a termination wins, so a replayed hire can never undo a leaver.
pub fn decide(state: Option<&EmployeeState>, kind: EventKind, at: DateTime<Utc>) -> Decision {
    let Some(state) = state else {
        return Decision::Apply { rehire: false };
    };
    let Some(last) = state.last_occurred_at else {
        return Decision::Apply { rehire: false };
    };
    if at < last {
        return Decision::Stale("older than the last applied event");
    }
    let reactivates = state.is_terminated() && kind.is_active();
    if at == last && reactivates {
        return Decision::Stale("not newer than the termination");
    }
    Decision::Apply {
        rehire: reactivates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid time")
    }

    fn state(status: &str, last: i64) -> EmployeeState {
        EmployeeState {
            status: status.into(),
            last_occurred_at: Some(at(last)),
            termination_scheduled: false,
        }
    }

    #[test]
    fn a_new_employee_is_applied() {
        let d = decide(None, EventKind::Created, at(10));
        assert_eq!(d, Decision::Apply { rehire: false });
    }

    #[test]
    fn an_older_event_is_stale() {
        let s = state("active", 20);
        assert!(matches!(
            decide(Some(&s), EventKind::Updated, at(10)),
            Decision::Stale(_)
        ));
    }

    #[test]
    fn an_older_created_never_resurrects_a_terminated_employee() {
        let s = state("terminated", 20);
        assert!(matches!(
            decide(Some(&s), EventKind::Created, at(19)),
            Decision::Stale(_)
        ));
        assert!(matches!(
            decide(Some(&s), EventKind::Created, at(20)),
            Decision::Stale(_)
        ));
    }

    #[test]
    fn a_newer_active_event_after_termination_is_a_rehire() {
        let s = state("terminated", 20);
        let d = decide(Some(&s), EventKind::Created, at(21));
        assert_eq!(d, Decision::Apply { rehire: true });
    }

    #[test]
    fn a_termination_at_the_same_time_as_the_last_event_applies() {
        let s = state("active", 20);
        let d = decide(Some(&s), EventKind::Terminated, at(20));
        assert_eq!(d, Decision::Apply { rehire: false });
    }
}
