//! One message: a transaction for inbox claim, employee lock, ordering check, directory
//! update and event record, then the external targets. The caller acks only after this
//! returns `Ok` (everything committed).

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};

use super::failure::ProcessError;
use super::ordering::{decide, Decision};
use super::schedule::{SchedulePolicy, TerminationTime};
use super::scheduler;
use crate::event::{CanonicalEvent, EventKind, Normalized};
use crate::provision::rules::Rules;
use crate::provision::ExternalTarget;
use crate::queue::QueueMessage;
use crate::store::actions;
use crate::store::employees;
use crate::store::events::{self, EventRecord};
use crate::store::schedule;
use crate::webhook::normalize::normalize;

/// What processing did with an event; every accepted event ends in one of these (or in
/// the dead-letter queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Stale,
    Ignored,
    /// A termination dated in the future, waiting for its effective date.
    Scheduled,
    /// A redelivery that finished the external targets a failed attempt left open.
    Resumed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Scheduled => "scheduled",
            Outcome::Resumed => "resumed",
        }
    }
}

#[derive(Clone)]
pub struct Processor {
    pool: PgPool,
    directory: String,
    targets: Arc<Vec<ExternalTarget>>,
    rules: Arc<Rules>,
    managed_groups: Arc<Vec<String>>,
    policy: SchedulePolicy,
}

impl Processor {
    /// Directory only, system clock, date-only terminations at the end of the day (UTC).
    pub fn new(pool: PgPool, directory: String) -> Self {
        let policy = SchedulePolicy {
            clock: crate::clock::system(),
            termination_time: TerminationTime::default(),
            time_zone: chrono_tz::UTC,
        };
        Self::with_targets(pool, directory, Vec::new(), Rules::default(), policy)
    }

    pub fn with_targets(
        pool: PgPool,
        directory: String,
        targets: Vec<ExternalTarget>,
        rules: Rules,
        policy: SchedulePolicy,
    ) -> Self {
        Processor {
            pool,
            directory,
            targets: Arc::new(targets),
            managed_groups: Arc::new(rules.managed_groups()),
            rules: Arc::new(rules),
            policy,
        }
    }

    /// Record the event (one transaction), then bring the external targets up to date.
    /// A redelivery after a target failure finds the event in the inbox and only runs
    /// the actions still open, so nothing that succeeded is redone.
    #[tracing::instrument(skip_all, fields(source = %msg.source, event_id = %msg.event_id))]
    pub async fn process(&self, msg: &QueueMessage) -> Result<Outcome, ProcessError> {
        let mut normalized = normalize(msg.source_kind, &msg.body, msg.received_at)?;
        if let (scheduler::TRIGGER, Normalized::Employee(event)) =
            (msg.trigger.as_str(), &mut normalized)
        {
            // A scheduled termination that has become due.
            event.kind = EventKind::Terminated;
        }
        let outcome = self.record(msg, &normalized).await?;
        let Normalized::Employee(event) = &normalized else {
            return Ok(outcome);
        };
        let ran = self.run_open_actions(msg, event).await?;
        let finished = outcome == Outcome::Applied || (outcome == Outcome::Duplicate && ran);
        if event.kind == EventKind::Terminated && finished {
            self.record_deprovision_latency(msg).await;
        }
        Ok(match outcome {
            Outcome::Duplicate if ran => Outcome::Resumed,
            other => other,
        })
    }

    /// Feed `provisiond_deprovision_latency_seconds` once every target revoked access. The
    /// audit reads the timeline back, so a scheduled termination is timed from its due
    /// time, not from the receipt of the original event.
    async fn record_deprovision_latency(&self, msg: &QueueMessage) {
        // With the directory as the only target, revocation committed just now: no need to
        // read the timeline back (that query costs more than the termination itself).
        if self.targets.is_empty() && msg.trigger != scheduler::TRIGGER {
            crate::audit::metrics::termination_completed(msg.received_at, chrono::Utc::now());
            return;
        }
        let (source, event_id) = (&msg.source, &msg.event_id);
        let recorded = crate::audit::metrics::record_completion(&self.pool, source, event_id);
        if let Err(error) = recorded.await {
            tracing::warn!(%error, "cannot record the deprovision latency");
        }
    }

    async fn record(
        &self,
        msg: &QueueMessage,
        normalized: &Normalized,
    ) -> Result<Outcome, ProcessError> {
        let mut tx = self.pool.begin().await?;
        let outcome = if !events::claim(&mut tx, &msg.source, &msg.event_id).await? {
            // A retry of an event whose targets are unfinished is not a duplicate.
            let open = !self.targets.is_empty()
                && actions::has_open(&mut tx, &msg.source, &msg.event_id).await?;
            if !open {
                let record = base_record(msg, normalized, Outcome::Duplicate);
                events::record(&mut tx, &record).await?;
            }
            Outcome::Duplicate
        } else {
            match normalized {
                Normalized::Ignored { reason, .. } => {
                    let mut record = base_record(msg, normalized, Outcome::Ignored);
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

    /// Run each open action in its own short transaction holding the action's row lock,
    /// so two deliveries of one event never call a target for it at the same time.
    async fn run_open_actions(
        &self,
        msg: &QueueMessage,
        event: &CanonicalEvent,
    ) -> Result<bool, ProcessError> {
        if self.targets.is_empty() {
            return Ok(false);
        }
        let open = actions::open(&self.pool, &msg.source, &msg.event_id).await?;
        let mut failure: Option<ProcessError> = None;
        let mut ran = false;
        for action in open {
            let Some(target) = self.targets.iter().find(|t| t.name() == action.target) else {
                continue;
            };
            let mut tx = self.pool.begin().await?;
            if !actions::claim(&mut tx, action.id).await? {
                continue;
            }
            ran = true;
            let started = chrono::Utc::now();
            let decision = self.rules.decide(event);
            let managed = &self.managed_groups;
            let result = target
                .apply(&msg.source, &msg.event_id, event, &decision, managed)
                .await;
            let error = result.as_ref().err().map(ToString::to_string);
            actions::finish(&mut tx, action.id, started, error.as_deref()).await?;
            tx.commit().await?;
            if let Err(error) = result {
                let target = action.target.clone();
                let this = ProcessError::Target { target, error };
                failure = Some(worse(failure, this));
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(ran),
        }
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
        let rehire = match decision {
            Decision::Apply { rehire } => rehire,
            Decision::Stale(reason) => {
                record.outcome = Outcome::Stale.as_str();
                record.reason = Some(reason);
                events::record(conn, &record).await?;
                return Ok(Outcome::Stale);
            }
        };
        // Any newer event replaces (or rescinds) a termination that was waiting.
        let reason = "superseded by a newer event";
        schedule::cancel_for_employee(conn, &msg.source, id, reason).await?;
        let due = match msg.trigger.as_str() {
            scheduler::TRIGGER => None,
            _ => event.effective_at.and_then(|at| self.policy.future_due(at)),
        };
        if let (Some(due), Some(effective)) = (due, event.effective_at) {
            schedule::insert(conn, msg, id, effective, due).await?;
        }
        let outcome = if event.kind == EventKind::Terminated && due.is_some() {
            // Not yet: the account stays as it is until the scheduler enqueues it.
            let still_terminated = state.as_ref().is_some_and(|s| s.is_terminated());
            employees::save(conn, &msg.source, id, still_terminated, event.occurred_at).await?;
            record.outcome = Outcome::Scheduled.as_str();
            record.reason = Some("termination scheduled for its effective date");
            Outcome::Scheduled
        } else {
            self.apply_targets(conn, msg, event).await?;
            let terminated = event.kind == EventKind::Terminated;
            employees::save(conn, &msg.source, id, terminated, event.occurred_at).await?;
            record.reason = match (rehire, due.is_some()) {
                (true, _) => Some("rehire"),
                (false, true) => Some("termination scheduled for its effective date"),
                _ => None,
            };
            Outcome::Applied
        };
        events::record(conn, &record).await?;
        Ok(outcome)
    }

    /// The directory in this transaction; external targets as pending actions run after commit.
    async fn apply_targets(
        &self,
        conn: &mut PgConnection,
        msg: &QueueMessage,
        event: &CanonicalEvent,
    ) -> Result<(), sqlx::Error> {
        self.apply_directory(conn, &msg.source, event).await?;
        let names: Vec<&str> = self.targets.iter().map(ExternalTarget::name).collect();
        let action = match event.kind {
            EventKind::Terminated => "deactivate",
            _ => "activate",
        };
        let id = event.employee_id.as_str();
        actions::create_pending(conn, &msg.source, &msg.event_id, id, &names, action).await
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
            _ => {
                let decision = self.rules.decide(event);
                let attributes = &event.attributes;
                employees::activate_account(conn, target, source, id, attributes, &decision).await
            }
        }
    }
}

/// A permanent failure outweighs a transient one: retrying would not fix it.
fn worse(current: Option<ProcessError>, new: ProcessError) -> ProcessError {
    match current {
        Some(current) if !current.is_transient() => current,
        _ => new,
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
