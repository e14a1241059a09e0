//! Pre-hires: where a hire stands against its start date, the activation scheduled for
//! it, and the access an active employee loses until then.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::event::{CanonicalEvent, EventKind};
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::normalize::parse_time;
use crate::store::employees::EmployeeState;
use crate::store::schedule::{self, Scheduled};
use crate::worker::ordering::Incoming;
use crate::worker::scheduler;

use super::record::Writes;
use super::Processor;

/// Where a hire stands against its start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// Not a pre-hire (or the scheduler's start itself).
    NotPrehire,
    /// A pre-hire before its start (`Some(due)`), or without a start date (`None`).
    Waits(Option<DateTime<Utc>>),
    /// A pre-hire whose start date has come: active now.
    Reached,
}

/// The day a `start_date` names (its leading `YYYY-MM-DD`, whatever offset follows).
fn start_day(text: &str) -> Option<chrono::NaiveDate> {
    let day = chrono::NaiveDate::parse_from_str(text.trim().get(..10)?, "%Y-%m-%d");
    day.ok()
        .or_else(|| parse_time(text).map(|t| t.date_naive()))
}

impl Processor {
    /// A pre-hire's activation waits for the start date; whatever settles the employee's
    /// access now (a newer pre-hire, an active status, a termination, even one dated
    /// later: fail closed) replaces it.
    pub(super) async fn reschedule_start(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        event: &CanonicalEvent,
        incoming: &Incoming,
        start: Start,
        state: Option<&EmployeeState>,
    ) -> Result<(), sqlx::Error> {
        let id = event.employee_id.as_str();
        let waits = matches!(start, Start::Waits(_));
        let settles = if incoming.start {
            None
        } else if waits {
            Some("replaced by a newer pre-hire event")
        } else if event.kind == EventKind::Terminated {
            Some("terminated before the start date")
        } else if incoming.says_active {
            Some("activated before the start date")
        } else {
            None
        };
        if let Some(reason) = settles.filter(|_| waits || state.is_some_and(|s| s.is_pending())) {
            let which = Scheduled::Activation;
            schedule::cancel_for_employee(conn, which, &msg.source, id, reason).await?;
        }
        if let Start::Waits(Some(due)) = start {
            schedule::insert(conn, Scheduled::Activation, msg, id, due, due).await?;
        }
        Ok(())
    }

    /// Whether `event` is a pre-hire, and how it stands against its start date (the start
    /// of that day in `audit.time_zone`). A start date that has passed activates, except
    /// for a leaver whose start date is not after the termination (an old hire date): that
    /// pre-hire waits for an explicit active status.
    pub(super) fn start_of(
        &self,
        msg: &QueueMessage,
        event: &CanonicalEvent,
        state: Option<&EmployeeState>,
    ) -> Start {
        if msg.trigger == Trigger::StartDate || !event.says_prehire() {
            return Start::NotPrehire;
        }
        let Some(day) = event.attributes.start_date.as_deref().and_then(start_day) else {
            return Start::Waits(None);
        };
        if let Some(due) = self.policy.start_due(day) {
            return Start::Waits(Some(due));
        }
        let terminated = state.filter(|s| s.is_terminated());
        let old_hire = terminated
            .and_then(|s| s.terminated_occurred_at)
            .is_some_and(|t| day <= t.date_naive());
        if old_hire {
            Start::Waits(None)
        } else {
            Start::Reached
        }
    }

    /// A start message whose scheduled row was cancelled (a newer pre-hire, a termination
    /// or an active status, after the scheduler sent it) is stale.
    pub(super) async fn start_cancelled(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        start: bool,
    ) -> Result<Option<&'static str>, sqlx::Error> {
        if !start {
            return Ok(None);
        }
        let event_id = scheduler::start_of_event(&msg.event_id);
        let which = Scheduled::Activation;
        let status = schedule::status_of(conn, which, &msg.source, event_id).await?;
        // `scheduled` too: the scheduler marks the row after the broker confirmed, and its
        // transaction may not have committed yet when the message is already here.
        let live = matches!(status.as_deref(), Some("scheduled" | "enqueued"));
        Ok((!live).then_some("the start was cancelled by a newer event"))
    }

    /// A pre-hire: the directory account pending in this transaction; an employee who was
    /// active loses access on the external targets until the start.
    pub(super) async fn apply_prehire<'a>(
        &self,
        conn: &mut PgConnection,
        msg: &'a QueueMessage,
        event: &'a CanonicalEvent,
        state: Option<&EmployeeState>,
        writes: &mut Writes<'a>,
    ) -> Result<(), sqlx::Error> {
        writes.accounts.prehire(&msg.source, event);
        let was_active = state
            .is_some_and(|s| s.last_occurred_at.is_some() && !s.is_terminated() && !s.is_pending());
        if !was_active {
            return Ok(());
        }
        self.queue_target_actions(conn, msg, event, "deactivate")
            .await
    }
}
