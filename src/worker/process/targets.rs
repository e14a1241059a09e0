//! The external targets, after the recording transaction committed: each open action in
//! short transactions under the (employee, target) lease.

use std::collections::HashMap;

use crate::domain::access::Access;
use crate::domain::event::{CanonicalEvent, EventKind};
use crate::provision::error::TargetError;
use crate::provision::rules::Rules;
use crate::provision::ExternalTarget;
use crate::store::actions::{self, OpenAction};
use crate::worker::failure::ProcessError;

use super::{Prepared, Processor};

/// How much longer a lease lasts than the call it covers.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a delivery waiting for another call's lease looks again.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What the rules grant, decided once per event whose actions run (not once per target).
struct Grants<'r> {
    rules: &'r Rules,
    by_event: HashMap<String, Access>,
}

impl Grants<'_> {
    fn of(&mut self, event_id: &str, event: &CanonicalEvent) -> &Access {
        let rules = self.rules;
        self.by_event
            .entry(event_id.to_owned())
            .or_insert_with(|| rules.decide(event))
    }
}

impl Processor {
    /// Bring the external targets to the employee's current state: this event's open
    /// actions, and on each target the employee's newest action if it is still open (a
    /// termination whose deactivation failed is driven by any later delivery for the
    /// employee: a retry, a replay of an old hire). Each action runs in its own short
    /// transaction under the (employee, target) lock. `recorded_now`: this delivery
    /// recorded the event, so its actions were stored from `item`'s event.
    pub(super) async fn run_open_actions(
        &self,
        item: &Prepared<'_>,
        event: &CanonicalEvent,
        recorded_now: bool,
    ) -> Result<bool, ProcessError> {
        if self.targets.is_empty() {
            return Ok(false);
        }
        let msg = item.msg;
        let (source, employee) = (msg.source.as_str(), event.employee_id.as_str());
        let mut open = actions::open(&self.pool, source, &msg.event_id).await?;
        let newest = actions::newest_open(&self.pool, source, employee).await?;
        let own = open.len();
        open.extend(newest.into_iter().filter(|n| n.event_id != msg.event_id));
        let mut grants = Grants {
            rules: &self.rules,
            by_event: HashMap::new(),
        };
        if recorded_now {
            grants
                .by_event
                .insert(msg.event_id.clone(), item.access.clone());
        }
        let mut failure: Option<ProcessError> = None;
        let mut ran = false;
        for (i, action) in open.iter().enumerate() {
            let Some(target) = self.targets.iter().find(|t| t.name() == action.target) else {
                continue;
            };
            let stored = action.event.as_ref().map(|e| &e.0);
            if i >= own {
                // Another event's action: its own delivery carries its retries, so a
                // failure here is logged, not this message's failure.
                if let Some(stored) = stored {
                    let access = grants.of(&action.event_id, stored);
                    self.drive_newest(target, action, stored, access).await?;
                }
                continue;
            }
            let result = match stored {
                Some(stored) => {
                    let access = grants.of(&action.event_id, stored);
                    self.run_action(target, action, stored, access).await?
                }
                None => self.run_action(target, action, event, &item.access).await?,
            };
            if let Some(result) = result {
                ran = true;
                if let Err(error) = result {
                    let target = action.target.clone();
                    let this = ProcessError::Target { target, error };
                    failure = Some(worse(failure, this));
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(ran),
        }
    }

    /// Another event's newest action: a failure is logged, not this delivery's.
    async fn drive_newest(
        &self,
        target: &ExternalTarget,
        action: &OpenAction,
        event: &CanonicalEvent,
        access: &Access,
    ) -> Result<(), ProcessError> {
        if let Some(Err(error)) = self.run_action(target, action, event, access).await? {
            let (target, event_id) = (&action.target, &action.event_id);
            tracing::warn!(%target, %event_id, %error, "driving the newest action failed");
        }
        Ok(())
    }

    /// One action, with no transaction open during the call: in a short transaction under
    /// the (employee, target) lock, check the action is still open and that the current
    /// state does not contradict it (else it becomes `superseded`), and take the lease on
    /// (employee, target); call the target; record the attempt and give the lease back in
    /// another. While another call holds the lease this one waits for it to end (a
    /// redelivery never takes an action in flight elsewhere for done). `None` when nothing
    /// was sent.
    async fn run_action(
        &self,
        target: &ExternalTarget,
        action: &OpenAction,
        event: &CanonicalEvent,
        access: &Access,
    ) -> Result<Option<Result<(), TargetError>>, ProcessError> {
        let (source, employee) = (action.source.as_str(), action.employee_id.as_str());
        let Some(token) = self.lease(target, action).await? else {
            return Ok(None);
        };
        let started = chrono::Utc::now();
        let result = self.call(target, action, event, access).await;
        let error = result.as_ref().err().map(ToString::to_string);
        let mut tx = self.pool.begin().await?;
        actions::lock_employee_target(&mut tx, &action.target, source, employee).await?;
        actions::finish(&mut tx, action.id, started, error.as_deref()).await?;
        if !actions::release_lease(&mut tx, &action.target, source, employee, &token).await? {
            tracing::warn!(action_target = %action.target, "the target call outlived its lease");
        }
        tx.commit().await?;
        Ok(Some(result))
    }

    /// Claim the action and take the lease on (employee, target), waiting out another
    /// call's; `None` when the action is no longer open or is superseded.
    async fn lease(
        &self,
        target: &ExternalTarget,
        action: &OpenAction,
    ) -> Result<Option<String>, ProcessError> {
        let (source, employee) = (action.source.as_str(), action.employee_id.as_str());
        loop {
            let mut tx = self.pool.begin().await?;
            actions::lock_employee_target(&mut tx, &action.target, source, employee).await?;
            if !actions::claim(&mut tx, action.id).await? {
                return Ok(None);
            }
            // The current state gates every call: first try, retry, replay alike.
            if let Some(reason) = actions::contradiction(&mut tx, action).await? {
                actions::supersede(&mut tx, action, &reason).await?;
                tx.commit().await?;
                tracing::info!(action_target = %action.target, %reason, "action not sent");
                return Ok(None);
            }
            // The lease outlasts the call's own limit (which starts only after this
            // commit) by a margin, so no other call starts while this one may still run.
            let leased = target.call_limit() + LEASE_MARGIN;
            let lease =
                actions::take_lease(&mut tx, &action.target, source, employee, action.id, leased);
            match lease.await? {
                Some(token) => {
                    tx.commit().await?;
                    return Ok(Some(token));
                }
                None => {
                    tx.rollback().await?;
                    self.wait_for_lease(&action.target, source, employee)
                        .await?;
                }
            }
        }
    }

    /// The target call, within its limit (the call never outlives its lease: past it,
    /// another call may start).
    async fn call(
        &self,
        target: &ExternalTarget,
        action: &OpenAction,
        event: &CanonicalEvent,
        access: &Access,
    ) -> Result<(), TargetError> {
        // What is sent follows the action, not how this delivery's body reads: a replayed
        // scheduled termination's body is an update, its action a deactivation.
        let mut event = event.clone();
        event.kind = match (action.action.as_str(), event.kind) {
            ("deactivate", _) => EventKind::Terminated,
            (_, EventKind::Terminated) => EventKind::Updated,
            (_, kind) => kind,
        };
        let (source, managed) = (action.source.as_str(), &self.managed_groups);
        let call = target.apply(source, &action.event_id, &event, access, managed);
        let limit = target.call_limit();
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(TargetError::Transient {
                message: format!(
                    "the call took longer than {} in all",
                    humantime::format_duration(limit)
                ),
                retry_after: None,
            }),
        }
    }

    /// Wait, holding no connection between looks, until the live lease on (employee,
    /// target) ends: released by its call, or run out.
    async fn wait_for_lease(
        &self,
        target: &str,
        source: &str,
        employee: &str,
    ) -> Result<(), sqlx::Error> {
        while let Some(ends) = actions::lease_ends(&self.pool, target, source, employee).await? {
            let left = (ends - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(left.min(LEASE_POLL)).await;
        }
        Ok(())
    }
}

/// A permanent failure outweighs a transient one: retrying would not fix it.
fn worse(current: Option<ProcessError>, new: ProcessError) -> ProcessError {
    match current {
        Some(current) if !current.is_transient() => current,
        _ => new,
    }
}
