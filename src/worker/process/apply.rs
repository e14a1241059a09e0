//! One employee event under its lock: ordering, scheduling, the mass-change guard, and
//! the directory and employee writes it queues.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::event::{CanonicalEvent, EventKind};
use crate::domain::message::QueueMessage;
use crate::domain::SourceKind;
use crate::domain::Trigger;
use crate::normalize::deel::{self, CONTRACT_PREFIX};
use crate::provision::ExternalTarget;
use crate::store::employees::EmployeeState;
use crate::store::events::EventRecord;
use crate::store::schedule::{self, Scheduled};
use crate::store::{actions, contracts, holds};
use crate::worker::guard;
use crate::worker::ordering::{decide, Incoming, Verdict};

use super::prehire::Start;
use super::prepare::Prepared;
use super::record::Writes;
use super::settle::{
    applied_reason, applied_state, ended, kept_inactive, kept_record, saved, wait_for_start,
    wait_for_termination,
};
use super::{Outcome, Processor, HELD, KEPT_PENDING, KEPT_TERMINATED};

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
        record_deel_contracts(conn, msg, event).await?;
        let mut record = item.record(Outcome::Applied);
        // The event as applied (a user of a deleted directory terminates).
        record.kind = Some(event.kind.as_str());
        let at = takes_effect_at(event);
        let start = self.start_of(msg, event, state);
        let incoming = incoming(msg, event, state, start, at);
        let rehire = match self.verdict(conn, msg, state, incoming).await? {
            Verdict::Apply { rehire } => rehire,
            Verdict::KeepInactive => {
                let kept = self.keep_inactive(conn, msg, event, state, writes).await?;
                return Ok((Outcome::Applied, kept_record(record, kept)));
            }
            Verdict::Stale(reason) => return Ok(ended(record, Outcome::Stale, reason)),
        };
        let due = self.termination_due(msg, event);
        let revokes = revokes_access(event, due, state);
        if revokes && self.held(conn, msg, &event.employee_id, tally).await? {
            return Ok(ended(record, Outcome::Held, HELD));
        }
        // Counted by the guard: terminations that took access away.
        record.revoked = revokes;
        let rescinds = rescinds_termination(event, &incoming, due);
        schedule_termination(conn, msg, event, state, rescinds, due).await?;
        self.reschedule_start(conn, msg, event, &incoming, start, state)
            .await?;
        let kept_waiting = !rescinds && state.is_some_and(|s| s.termination_scheduled);
        let mut save = saved(msg, event, state, "active", due.is_some() || kept_waiting);
        let outcome = if event.kind == EventKind::Terminated && due.is_some() {
            wait_for_termination(&mut save, &mut record, state)
        } else if let Start::Waits(starts) = start {
            self.apply_prehire(conn, msg, event, state, writes).await?;
            wait_for_start(&mut save, &mut record, starts)
        } else {
            self.apply_targets(conn, item, event, writes).await?;
            applied_state(&mut save, event, state, at, incoming.says_active);
            record.reason = applied_reason(item, event, &incoming, rehire, due.is_some());
            Outcome::Applied
        };
        writes.saves.push(save);
        Ok((outcome, record))
    }

    /// The ordering verdict. A release first marks its hold released; a start whose
    /// scheduled row was cancelled is stale.
    async fn verdict(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        state: Option<&EmployeeState>,
        incoming: Incoming,
    ) -> Result<Verdict, sqlx::Error> {
        if msg.trigger == Trigger::Released {
            // Released by an operator: the hold says so even if the release's own
            // transaction did not commit after publishing.
            holds::mark_released(conn, &msg.source, &msg.event_id).await?;
        }
        Ok(
            match self.start_cancelled(conn, msg, incoming.start).await? {
                Some(reason) => Verdict::Stale(reason),
                None => decide(state, incoming),
            },
        )
    }

    /// When a termination dated in the future falls due (`None`: it takes effect now, or
    /// this is the scheduler's own run of it).
    fn termination_due(&self, msg: &QueueMessage, event: &CanonicalEvent) -> Option<DateTime<Utc>> {
        match msg.trigger {
            Trigger::Scheduled => None,
            _ => event.effective_at.and_then(|at| self.policy.future_due(at)),
        }
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
        let action = match event.kind {
            EventKind::Terminated => "deactivate",
            _ => "activate",
        };
        self.queue_target_actions(conn, msg, event, action).await
    }

    /// Pending actions (run after commit) that bring every external target to `action`;
    /// none without external targets.
    pub(super) async fn queue_target_actions(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        event: &CanonicalEvent,
        action: &str,
    ) -> Result<(), sqlx::Error> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.targets.iter().map(ExternalTarget::name).collect();
        let new = actions::NewActions {
            source: &msg.source,
            event_id: &msg.event_id,
            employee_id: &event.employee_id,
            action,
            event,
        };
        actions::create_pending(conn, &new, &names).await
    }
}

/// A Deel person's contracts, so that a contract's events find the person.
async fn record_deel_contracts(
    conn: &mut PgConnection,
    msg: &QueueMessage,
    event: &CanonicalEvent,
) -> Result<(), sqlx::Error> {
    let id = event.employee_id.as_str();
    if msg.source_kind == SourceKind::Deel && !id.starts_with(CONTRACT_PREFIX) {
        let contracts = deel::contract_ids(&event.attributes.data, id);
        contracts::record(conn, &msg.source, id, &msg.event_id, &contracts).await?;
    }
    Ok(())
}

/// When the event takes effect for ordering. A termination takes effect at its date when
/// that is later than its announcement (a scheduled one): a rehire must come after that,
/// not after the announcement.
fn takes_effect_at(event: &CanonicalEvent) -> DateTime<Utc> {
    match (event.kind, event.effective_at) {
        (EventKind::Terminated, Some(effective)) => effective.max(event.occurred_at),
        _ => event.occurred_at,
    }
}

/// What the ordering rules need to know about `event`, taking effect `at`.
fn incoming(
    msg: &QueueMessage,
    event: &CanonicalEvent,
    state: Option<&EmployeeState>,
    start: Start,
    at: DateTime<Utc>,
) -> Incoming {
    let waits = matches!(start, Start::Waits(_));
    let reached = start == Start::Reached;
    let untimed = untimed_hire(msg, event, state);
    Incoming {
        kind: event.kind,
        at,
        says_active: ((event.says_active() && !waits) || reached) && !untimed,
        status_active: (event.status_says_active() || reached) && !untimed,
        prehire: waits,
        start: msg.trigger == Trigger::StartDate,
    }
}

/// A reconcile run's hire dated only by when the run saw the list cannot prove a rehire,
/// nor start a pre-hire: it never activates someone without access.
fn untimed_hire(msg: &QueueMessage, event: &CanonicalEvent, state: Option<&EmployeeState>) -> bool {
    msg.trigger == Trigger::Reconcile
        && event.attributes.data.get("record_timed") != Some(&serde_json::Value::Bool(true))
        && state.is_some_and(|s| s.is_terminated() || s.is_pending())
}

/// A termination that takes access away now: what weighs against the mass-change guard.
fn revokes_access(
    event: &CanonicalEvent,
    due: Option<DateTime<Utc>>,
    state: Option<&EmployeeState>,
) -> bool {
    event.kind == EventKind::Terminated
        && due.is_none()
        && state.is_some_and(|s| s.last_occurred_at.is_some() && !s.is_terminated())
}

/// Whether a newer explicit event replaces (or rescinds) a termination that was waiting: a
/// termination, a new future date, or a hire / active status without any date. An
/// ordinary edit (a thin sender's `updated`), or one with a date already past, leaves it
/// waiting. The scheduler's start of a pre-hire rescinds nothing: it is not news from the
/// sender.
fn rescinds_termination(
    event: &CanonicalEvent,
    incoming: &Incoming,
    due: Option<DateTime<Utc>>,
) -> bool {
    !incoming.start
        && (event.kind == EventKind::Terminated
            || due.is_some()
            || (incoming.says_active && event.effective_at.is_none()))
}

/// Cancel the waiting termination a newer event `rescinds`; schedule this one if it is `due`
/// later.
async fn schedule_termination(
    conn: &mut PgConnection,
    msg: &QueueMessage,
    event: &CanonicalEvent,
    state: Option<&EmployeeState>,
    rescinds: bool,
    due: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let id = event.employee_id.as_str();
    if rescinds && state.is_some_and(|s| s.termination_scheduled) {
        let reason = "superseded by a newer event";
        let which = Scheduled::Termination;
        schedule::cancel_for_employee(conn, which, &msg.source, id, reason).await?;
    }
    if let (Some(due), Some(effective)) = (due, event.effective_at) {
        schedule::insert(conn, Scheduled::Termination, msg, id, effective, due).await?;
    }
    Ok(())
}
