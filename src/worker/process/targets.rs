//! The external targets, after the recording transaction committed: each open action in
//! short transactions under the (employee, target) lease.

use crate::domain::event::{CanonicalEvent, EventKind};
use crate::domain::message::QueueMessage;
use crate::provision::error::TargetError;
use crate::provision::ExternalTarget;
use crate::store::actions;
use crate::worker::failure::ProcessError;

use super::Processor;

/// How much longer a lease lasts than the call it covers.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a delivery waiting for another call's lease looks again.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl Processor {
    /// Bring the external targets to the employee's current state: this event's open
    /// actions, and on each target the employee's newest action if it is still open (a
    /// termination whose deactivation failed is driven by any later delivery for the
    /// employee: a retry, a replay of an old hire). Each action runs in its own short
    /// transaction under the (employee, target) lock.
    pub(super) async fn run_open_actions(
        &self,
        msg: &QueueMessage,
        event: &CanonicalEvent,
    ) -> Result<bool, ProcessError> {
        if self.targets.is_empty() {
            return Ok(false);
        }
        let (source, employee) = (msg.source.as_str(), event.employee_id.as_str());
        let mut open = actions::open(&self.pool, source, &msg.event_id).await?;
        let newest = actions::newest_open(&self.pool, source, employee).await?;
        let own = open.len();
        open.extend(newest.into_iter().filter(|n| n.event_id != msg.event_id));
        let mut failure: Option<ProcessError> = None;
        let mut ran = false;
        for (i, action) in open.iter().enumerate() {
            let Some(target) = self.targets.iter().find(|t| t.name() == action.target) else {
                continue;
            };
            let result = if i < own {
                let stored = action.event.as_ref().map(|e| &e.0);
                self.run_action(target, action, stored.unwrap_or(event))
                    .await?
            } else {
                // Another event's action: its own delivery carries its retries, so a
                // failure here is logged, not this message's failure.
                let Some(stored) = action.event.as_ref().map(|e| &e.0) else {
                    continue;
                };
                if let Some(Err(error)) = self.run_action(target, action, stored).await? {
                    let (target, event_id) = (&action.target, &action.event_id);
                    tracing::warn!(%target, %event_id, %error, "driving the newest action failed");
                }
                continue;
            };
            match result {
                None => {}
                Some(Ok(())) => ran = true,
                Some(Err(error)) => {
                    ran = true;
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
        action: &actions::OpenAction,
        event: &CanonicalEvent,
    ) -> Result<Option<Result<(), TargetError>>, ProcessError> {
        let (source, employee) = (action.source.as_str(), action.employee_id.as_str());
        let limit = target.call_limit();
        let token = loop {
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
            let leased = limit + LEASE_MARGIN;
            let lease =
                actions::take_lease(&mut tx, &action.target, source, employee, action.id, leased);
            match lease.await? {
                Some(token) => {
                    tx.commit().await?;
                    break token;
                }
                None => {
                    tx.rollback().await?;
                    self.wait_for_lease(&action.target, source, employee)
                        .await?;
                }
            }
        };
        // What is sent follows the action, not how this delivery's body reads: a replayed
        // scheduled termination's body is an update, its action a deactivation.
        let mut event = event.clone();
        event.kind = match (action.action.as_str(), event.kind) {
            ("deactivate", _) => EventKind::Terminated,
            (_, EventKind::Terminated) => EventKind::Updated,
            (_, kind) => kind,
        };
        let started = chrono::Utc::now();
        let decision = self.rules.decide(&event);
        let managed = &self.managed_groups;
        let call = target.apply(source, &action.event_id, &event, &decision, managed);
        // The call never outlives its lease: past it, another call may start.
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(TargetError::Transient {
                message: format!(
                    "the call took longer than {} in all",
                    humantime::format_duration(limit)
                ),
                retry_after: None,
            }),
        };
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
