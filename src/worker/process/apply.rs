//! One employee event under its lock: ordering, scheduling, the mass-change guard, and
//! the directory and employee writes it queues.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::domain::SourceKind;
use crate::domain::Trigger;
use crate::normalize::deel::{self, CONTRACT_PREFIX};
use crate::normalize::parse_time;
use crate::provision::ExternalTarget;
use crate::store::employees::{EmployeeState, Save};
use crate::store::events::EventRecord;
use crate::store::schedule::{self, Scheduled};
use crate::store::{actions, contracts, holds};
use crate::worker::guard;
use crate::worker::ordering::{decide, Incoming, Verdict};
use crate::worker::scheduler;

use super::prepare::Prepared;
use super::record::Writes;
use super::{
    Outcome, Processor, HELD, IN_DELETED_DIRECTORY, KEPT_PENDING, KEPT_TERMINATED,
    NO_API_TO_ENRICH, PREHIRE_SCHEDULED, PREHIRE_WITHOUT_START, REHIRE, STARTED,
};

/// Where a hire stands against its start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
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
    /// One employee event under the employee's lock: decide, schedule, and queue the
    /// directory and employee writes in `writes` (flushed once per round).
    pub(super) async fn apply<'a>(
        &self,
        conn: &mut PgConnection,
        item: &'a Prepared<'a>,
        event: &'a CanonicalEvent,
        state: Option<&EmployeeState>,
        writes: &mut Writes<'a>,
        tally: &mut guard::Tally,
    ) -> Result<(Outcome, EventRecord<'a>), sqlx::Error> {
        let msg = item.msg;
        let id = event.employee_id.as_str();
        if msg.source_kind == SourceKind::Deel && !id.starts_with(CONTRACT_PREFIX) {
            let contracts = deel::contract_ids(&event.attributes.data, id);
            contracts::record(conn, &msg.source, id, &msg.event_id, &contracts).await?;
        }
        let mut record = item.record(Outcome::Applied);
        // The event as applied (a user of a deleted directory terminates).
        record.kind = Some(event.kind.as_str());
        // A termination takes effect at its date when that is later than its announcement
        // (a scheduled one): a rehire must come after that, not after the announcement.
        let at = match (event.kind, event.effective_at) {
            (EventKind::Terminated, Some(effective)) => effective.max(event.occurred_at),
            _ => event.occurred_at,
        };
        let start = self.start_of(msg, event, state);
        let waits = matches!(start, Start::Waits(_));
        let reached = start == Start::Reached;
        // A reconcile run's hire dated only by when the run saw the list cannot prove a
        // rehire, nor start a pre-hire: it never activates someone without access.
        let untimed = msg.trigger == Trigger::Reconcile
            && event.attributes.data.get("record_timed") != Some(&serde_json::Value::Bool(true))
            && state.is_some_and(|s| s.is_terminated() || s.is_pending());
        let incoming = Incoming {
            kind: event.kind,
            at,
            says_active: ((event.says_active() && !waits) || reached) && !untimed,
            status_active: (event.status_says_active() || reached) && !untimed,
            prehire: waits,
            start: msg.trigger == Trigger::StartDate,
        };
        if msg.trigger == Trigger::Released {
            // Released by an operator: the hold says so even if the release's own
            // transaction did not commit after publishing.
            holds::mark_released(conn, &msg.source, &msg.event_id).await?;
        }
        let decision = match self.start_cancelled(conn, msg, incoming.start).await? {
            Some(reason) => Verdict::Stale(reason),
            None => decide(state, incoming),
        };
        let rehire = match decision {
            Verdict::Apply { rehire } => rehire,
            Verdict::KeepInactive => {
                writes.accounts.update_inactive(&msg.source, event);
                let mut kept = kept_inactive(msg, event, state);
                // A pre-hire's leave date still counts: it waits for its date.
                let due = event.effective_at.and_then(|at| self.policy.future_due(at));
                if let (Some(due), Some(effective), "pending") =
                    (due, event.effective_at, kept.status)
                {
                    let which = Scheduled::Termination;
                    schedule::insert(conn, which, msg, id, effective, due).await?;
                    kept.termination_scheduled = true;
                }
                let (reason, account) = match kept.status {
                    "pending" => (KEPT_PENDING, "pending"),
                    _ => (KEPT_TERMINATED, "deactivated"),
                };
                writes.saves.push(kept);
                record.reason = Some(reason);
                record.directory_action = Some(("update", account));
                return Ok((Outcome::Applied, record));
            }
            Verdict::Stale(reason) => {
                record.outcome = Outcome::Stale.as_str();
                record.reason = Some(reason);
                return Ok((Outcome::Stale, record));
            }
        };
        let due = match msg.trigger {
            Trigger::Scheduled => None,
            _ => event.effective_at.and_then(|at| self.policy.future_due(at)),
        };
        // A termination that takes access away now weighs against the mass-change guard.
        let revokes = event.kind == EventKind::Terminated
            && due.is_none()
            && state.is_some_and(|s| s.last_occurred_at.is_some() && !s.is_terminated());
        if let (true, Some(guard)) = (revokes, &self.guard) {
            if msg.trigger != Trigger::Released {
                if let Some(reason) = guard::check(guard, conn, &msg.source, tally).await? {
                    holds::hold(conn, msg, id, &reason).await?;
                    metrics::counter!("provisiond_terminations_held_total",
                        "source" => msg.source.clone())
                    .increment(1);
                    record.outcome = Outcome::Held.as_str();
                    record.reason = Some(HELD);
                    return Ok((Outcome::Held, record));
                }
                *tally.entry(msg.source.clone()).or_default() += 1;
            }
        }
        // Counted by the guard: terminations that took access away.
        record.revoked = revokes;
        // A newer explicit event replaces (or rescinds) a termination that was waiting: a
        // termination, a new future date, or a hire / active status without any date. An
        // ordinary edit (a thin sender's `updated`), or one with a date already past,
        // leaves it waiting.
        // The scheduler's start of a pre-hire rescinds nothing: it is not news from the sender.
        let rescinds = !incoming.start
            && (event.kind == EventKind::Terminated
                || due.is_some()
                || (incoming.says_active && event.effective_at.is_none()));
        if rescinds && state.is_some_and(|s| s.termination_scheduled) {
            let reason = "superseded by a newer event";
            let which = Scheduled::Termination;
            schedule::cancel_for_employee(conn, which, &msg.source, id, reason).await?;
        }
        if let (Some(due), Some(effective)) = (due, event.effective_at) {
            schedule::insert(conn, Scheduled::Termination, msg, id, effective, due).await?;
        }
        // A pre-hire's activation waits for the start date; whatever settles the
        // employee's access now (a newer pre-hire, an active status, a termination, even
        // one dated later: fail closed) replaces it.
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
        let kept_waiting = !rescinds && state.is_some_and(|s| s.termination_scheduled);
        let mut save = Save {
            source: &msg.source,
            employee_id: id,
            status: "active",
            occurred_at: latest(state.and_then(|s| s.last_occurred_at), event.occurred_at),
            termination_scheduled: due.is_some() || kept_waiting,
            activated_occurred_at: state.and_then(|s| s.activated_occurred_at),
            terminated_occurred_at: state.and_then(|s| s.terminated_occurred_at),
        };
        let outcome = if event.kind == EventKind::Terminated && due.is_some() {
            // Not yet: the account stays as it is until the scheduler enqueues it.
            if let Some(s) = state.filter(|s| s.is_terminated() || s.is_pending()) {
                save.status = s.status_str();
            }
            record.outcome = Outcome::Scheduled.as_str();
            record.reason = Some("termination scheduled for its effective date");
            Outcome::Scheduled
        } else if let Start::Waits(starts) = start {
            self.apply_prehire(conn, msg, event, state, writes).await?;
            save.status = "pending";
            record.reason = Some(match starts {
                Some(_) => PREHIRE_SCHEDULED,
                None => PREHIRE_WITHOUT_START,
            });
            record.directory_action = Some(("prehire", "pending"));
            Outcome::Applied
        } else {
            self.apply_targets(conn, item, event, writes).await?;
            if event.kind == EventKind::Terminated {
                save.status = "terminated";
                save.terminated_occurred_at = match state.filter(|s| s.is_terminated()) {
                    Some(s) => Some(latest(s.terminated_occurred_at, at)),
                    None => Some(at),
                };
            } else if incoming.says_active {
                save.activated_occurred_at =
                    Some(latest(save.activated_occurred_at, event.occurred_at));
            }
            let forced =
                matches!(&item.normalized, Normalized::Employee(e) if e.kind != event.kind);
            record.reason = match (rehire, due.is_some()) {
                (true, _) => Some(REHIRE),
                (false, true) => Some("termination scheduled for its effective date"),
                _ if incoming.start => Some(STARTED),
                _ if forced => Some(IN_DELETED_DIRECTORY),
                _ if item.unenriched => Some(NO_API_TO_ENRICH),
                _ => None,
            };
            Outcome::Applied
        };
        writes.saves.push(save);
        Ok((outcome, record))
    }

    /// Whether `event` is a pre-hire, and how it stands against its start date (the start
    /// of that day in `audit.time_zone`). A start date that has passed activates, except
    /// for a leaver whose start date is not after the termination (an old hire date): that
    /// pre-hire waits for an explicit active status.
    fn start_of(
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
    async fn start_cancelled(
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
    async fn apply_prehire<'a>(
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
        if !was_active || self.targets.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.targets.iter().map(ExternalTarget::name).collect();
        let new = actions::NewActions {
            source: &msg.source,
            event_id: &msg.event_id,
            employee_id: &event.employee_id,
            action: "deactivate",
            event,
        };
        actions::create_pending(conn, &new, &names).await
    }

    /// The directory in this transaction; external targets as pending actions run after commit.
    async fn apply_targets<'a>(
        &self,
        conn: &mut PgConnection,
        item: &'a Prepared<'a>,
        event: &'a CanonicalEvent,
        writes: &mut Writes<'a>,
    ) -> Result<(), sqlx::Error> {
        let msg = item.msg;
        match event.kind {
            EventKind::Terminated => writes.accounts.deactivate(&msg.source, &event.employee_id),
            _ => writes.accounts.activate(&msg.source, event, &item.access),
        }
        if self.targets.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.targets.iter().map(ExternalTarget::name).collect();
        let action = match event.kind {
            EventKind::Terminated => "deactivate",
            _ => "activate",
        };
        let id = event.employee_id.as_str();
        let new = actions::NewActions {
            source: &msg.source,
            event_id: &msg.event_id,
            employee_id: id,
            action,
            event,
        };
        actions::create_pending(conn, &new, &names).await
    }
}

/// The later of the last applied time and this event's.
fn latest(last: Option<DateTime<Utc>>, at: DateTime<Utc>) -> DateTime<Utc> {
    last.map_or(at, |last| last.max(at))
}

/// A leaver's or pre-hire's state after an update that does not activate: still terminated
/// or pending, with the newer time (the attributes change, nothing else).
fn kept_inactive<'a>(
    msg: &'a QueueMessage,
    event: &'a CanonicalEvent,
    state: Option<&EmployeeState>,
) -> Save<'a> {
    Save {
        source: &msg.source,
        employee_id: &event.employee_id,
        status: state.map_or("terminated", EmployeeState::status_str),
        occurred_at: latest(state.and_then(|s| s.last_occurred_at), event.occurred_at),
        termination_scheduled: state.is_some_and(|s| s.termination_scheduled),
        activated_occurred_at: state.and_then(|s| s.activated_occurred_at),
        terminated_occurred_at: state.and_then(|s| s.terminated_occurred_at),
    }
}
