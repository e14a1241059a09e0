//! One employee event under its lock: ordering, scheduling, the mass-change guard, and
//! the directory and employee writes it queues.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::domain::SourceKind;
use crate::domain::Trigger;
use crate::normalize::deel::{self, CONTRACT_PREFIX};
use crate::provision::ExternalTarget;
use crate::store::employees::{EmployeeState, Save};
use crate::store::events::EventRecord;
use crate::store::schedule::{self, Scheduled};
use crate::store::{actions, contracts, holds};
use crate::worker::guard;
use crate::worker::ordering::{decide, Incoming, Verdict};

use super::prehire::Start;
use super::prepare::Prepared;
use super::record::Writes;
use super::{
    Outcome, Processor, HELD, IN_DELETED_DIRECTORY, KEPT_PENDING, KEPT_TERMINATED,
    NO_API_TO_ENRICH, PREHIRE_SCHEDULED, PREHIRE_WITHOUT_START, REHIRE, STARTED,
};

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
                let (reason, account) = self.keep_inactive(conn, msg, event, state, writes).await?;
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
        if revokes && self.held(conn, msg, id, tally).await? {
            record.outcome = Outcome::Held.as_str();
            record.reason = Some(HELD);
            return Ok((Outcome::Held, record));
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
        self.reschedule_start(conn, msg, event, &incoming, start, state)
            .await?;
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

    /// A leaver's or pre-hire's update that does not activate: new attributes, still
    /// inactive. The event reason and the account's state, for the record.
    async fn keep_inactive<'a>(
        &self,
        conn: &mut PgConnection,
        msg: &'a QueueMessage,
        event: &'a CanonicalEvent,
        state: Option<&EmployeeState>,
        writes: &mut Writes<'a>,
    ) -> Result<(&'static str, &'static str), sqlx::Error> {
        let id = event.employee_id.as_str();
        writes.accounts.update_inactive(&msg.source, event);
        let mut kept = kept_inactive(msg, event, state);
        // A pre-hire's leave date still counts: it waits for its date.
        let due = event.effective_at.and_then(|at| self.policy.future_due(at));
        if let (Some(due), Some(effective), "pending") = (due, event.effective_at, kept.status) {
            let which = Scheduled::Termination;
            schedule::insert(conn, which, msg, id, effective, due).await?;
            kept.termination_scheduled = true;
        }
        let reason_and_account = match kept.status {
            "pending" => (KEPT_PENDING, "pending"),
            _ => (KEPT_TERMINATED, "deactivated"),
        };
        writes.saves.push(kept);
        Ok(reason_and_account)
    }

    /// Whether the mass-change guard holds this termination (which takes access away now);
    /// one it lets through counts against its limits. A release is never held again.
    async fn held(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        id: &str,
        tally: &mut guard::Tally,
    ) -> Result<bool, sqlx::Error> {
        let Some(guard) = &self.guard else {
            return Ok(false);
        };
        if msg.trigger == Trigger::Released {
            return Ok(false);
        }
        if let Some(reason) = guard::check(guard, conn, &msg.source, tally).await? {
            holds::hold(conn, msg, id, &reason).await?;
            metrics::counter!("provisiond_terminations_held_total",
                "source" => msg.source.clone())
            .increment(1);
            return Ok(true);
        }
        *tally.entry(msg.source.clone()).or_default() += 1;
        Ok(false)
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
