//! One message, one transaction: inbox claim, employee lock, ordering check, directory
//! update, event record. The caller acks only after this returns `Ok` (committed).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::event::{CanonicalEvent, EventKind, NormalizeError, Normalized};
use crate::queue::QueueMessage;
use crate::store::employees::{self, EmployeeState};
use crate::store::events::{self, EventRecord};
use crate::webhook::normalize::normalize;

/// What processing did with an event; every accepted event ends in one of these (or in
/// the dead-letter queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Stale,
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Retrying cannot help (unparseable or unmappable payload).
    #[error("permanent: {0}")]
    Permanent(#[from] NormalizeError),
    /// The database was unreachable, timed out or aborted the transaction.
    #[error("transient: {0}")]
    Transient(#[from] sqlx::Error),
}

impl ProcessError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProcessError::Transient(_))
    }
}

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

#[derive(Clone)]
pub struct Processor {
    pool: PgPool,
    directory: String,
}

impl Processor {
    pub fn new(pool: PgPool, directory: String) -> Self {
        Processor { pool, directory }
    }

    #[tracing::instrument(skip_all, fields(source = %msg.source, event_id = %msg.event_id))]
    pub async fn process(&self, msg: &QueueMessage) -> Result<Outcome, ProcessError> {
        let normalized = normalize(msg.source_kind, &msg.body, msg.received_at)?;
        let mut tx = self.pool.begin().await?;
        let outcome = if !events::claim(&mut tx, &msg.source, &msg.event_id).await? {
            let record = base_record(msg, &normalized, Outcome::Duplicate);
            events::record(&mut tx, &record).await?;
            Outcome::Duplicate
        } else {
            match &normalized {
                Normalized::Ignored { reason, .. } => {
                    let mut record = base_record(msg, &normalized, Outcome::Ignored);
                    record.reason = Some(reason);
                    events::record(&mut tx, &record).await?;
                    Outcome::Ignored
                }
                Normalized::Employee(event) => self.apply(&mut tx, msg, event).await?,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        event: &CanonicalEvent,
    ) -> Result<Outcome, sqlx::Error> {
        let id = event.employee_id.as_str();
        employees::ensure(conn, &msg.source, id).await?;
        let state = employees::lock(conn, &msg.source, id).await?;
        let decision = decide(state.as_ref(), event.kind, event.occurred_at);
        let normalized = Normalized::Employee(event.clone());
        let mut record = base_record(msg, &normalized, Outcome::Applied);
        let outcome = match decision {
            Decision::Stale(reason) => {
                record.outcome = Outcome::Stale.as_str();
                record.reason = Some(reason);
                Outcome::Stale
            }
            Decision::Apply { rehire } => {
                self.apply_directory(conn, &msg.source, event).await?;
                let terminated = event.kind == EventKind::Terminated;
                employees::save(conn, &msg.source, id, terminated, event.occurred_at).await?;
                record.reason = rehire.then_some("rehire");
                Outcome::Applied
            }
        };
        events::record(conn, &record).await?;
        Ok(outcome)
    }

    async fn apply_directory(
        &self,
        conn: &mut PgConnection,
        source: &str,
        event: &CanonicalEvent,
    ) -> Result<(), sqlx::Error> {
        let (target, id) = (self.directory.as_str(), event.employee_id.as_str());
        match event.kind {
            EventKind::Terminated => employees::deactivate_account(conn, target, source, id).await,
            _ => employees::activate_account(conn, target, source, id, &event.attributes).await,
        }
    }
}

fn base_record<'a>(
    msg: &'a QueueMessage,
    normalized: &'a Normalized,
    outcome: Outcome,
) -> EventRecord<'a> {
    let (employee, sender_event) = match normalized {
        Normalized::Employee(e) => (Some(e), None),
        Normalized::Ignored { event_name, .. } => (None, Some(event_name.as_str())),
    };
    EventRecord {
        source: &msg.source,
        event_id: &msg.event_id,
        employee_id: employee.map(|e| e.employee_id.as_str()),
        kind: employee.map(|e| e.kind.as_str()),
        sender_event,
        outcome: outcome.as_str(),
        reason: None,
        trigger: &msg.trigger,
        attempt: i32::try_from(msg.attempt + 1).unwrap_or(i32::MAX),
        occurred_at: employee.map(|e| e.occurred_at),
        effective_at: employee.and_then(|e| e.effective_at),
        received_at: msg.received_at,
        published_at: msg.published_at,
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
