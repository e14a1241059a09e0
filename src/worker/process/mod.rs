//! Messages, alone or in batches: one transaction for inbox claims, employee locks,
//! ordering checks, directory updates and event records, then the external targets. The
//! caller acks only after this returns `Ok` (everything committed).

mod apply;
mod prehire;
mod prepare;
mod record;
mod settle;
mod targets;

pub use prepare::{Prepared, Reading};

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::config::GuardConfig;
use crate::config::TerminationTime;
use crate::domain::event::{EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::enrich::Enricher;
use crate::provision::rules::Rules;
use crate::provision::ExternalTarget;
use crate::queue::Publisher;
use crate::store::employees;
use crate::worker::failure::ProcessError;
use crate::worker::schedule::SchedulePolicy;

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
    /// A termination held by the mass-change guard for an operator.
    Held,
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
            Outcome::Held => "held",
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
    /// Per source: how far a sender's clock may run ahead of receipt before its
    /// `occurred_at` is clamped (default [`DEFAULT_CLOCK_TOLERANCE`]).
    clock_tolerances: Arc<HashMap<String, std::time::Duration>>,
    /// Publishes the terminations a deleted directory fans out to (none in unit setups).
    publisher: Option<Publisher>,
    /// Per source with `api`: fetches the record of thin events.
    enrichers: Arc<HashMap<String, Enricher>>,
    /// The mass-change guard (`None`: off).
    guard: Option<Arc<GuardConfig>>,
}

/// How far ahead of receipt a sender's `occurred_at` may be when its source sets no
/// `tolerance`.
pub const DEFAULT_CLOCK_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The event reason of a WorkOS `dsync.deleted`.
pub const DIRECTORY_DELETED: &str = "directory deleted: each of its active users is terminated";
/// The event reason of a user event for a directory deleted earlier: a termination.
pub const IN_DELETED_DIRECTORY: &str = "the user's directory was deleted at the sender: terminated";

/// The event reason of a thin event (ids only) of a source without `api`.
pub const NO_API_TO_ENRICH: &str = "no_api_to_enrich";

/// The event reason of a re-activation.
pub const REHIRE: &str = "rehire";
/// The event reason of an update to a leaver that carried no activation signal.
pub const KEPT_TERMINATED: &str =
    "employee is terminated: attributes updated, access not restored (no explicit active status)";
/// The event reason of an update to a pre-hire that carried no activation signal.
pub const KEPT_PENDING: &str =
    "pre-hire: attributes updated, not active before the start date (no explicit active status)";
/// The event reason of a pre-hire whose activation is scheduled.
pub const PREHIRE_SCHEDULED: &str =
    "pre-hire: account pending, activation scheduled for the start date";
/// The event reason of a pre-hire without a start date.
pub const PREHIRE_WITHOUT_START: &str =
    "pre-hire without a start date: account pending until an explicit active status";
/// The event reason of a termination the mass-change guard held.
pub const HELD: &str = "held by the mass-change guard: `provisiond hold list`";
/// The event reason of a pre-hire's activation at its start date.
pub const STARTED: &str = "start date reached: pre-hire activated";

impl Processor {
    /// Directory only, system clock, date-only terminations at the end of the day (UTC).
    pub fn new(pool: PgPool, directory: String) -> Self {
        let policy = SchedulePolicy {
            clock: crate::domain::clock::system(),
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
            clock_tolerances: Arc::default(),
            publisher: None,
            enrichers: Arc::default(),
            guard: None,
        }
    }

    /// Hold terminations beyond the guard's limits (`[guard]`, when enabled).
    pub fn with_guard(mut self, guard: GuardConfig) -> Self {
        self.guard = guard.enabled.then(|| Arc::new(guard));
        self
    }

    /// The sources' API clients (`[[sources]] api`).
    pub fn with_enrichers(mut self, enrichers: HashMap<String, Enricher>) -> Self {
        self.enrichers = Arc::new(enrichers);
        self
    }

    /// The publisher for messages processing itself creates (a deleted directory's users).
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Each source's clock tolerance (its configured `tolerance`).
    pub fn with_clock_tolerances(
        mut self,
        tolerances: HashMap<String, std::time::Duration>,
    ) -> Self {
        self.clock_tolerances = Arc::new(tolerances);
        self
    }

    /// Record the event (one transaction), then bring the external targets up to date.
    /// A redelivery after a target failure finds the event in the inbox and only runs
    /// the actions still open, so nothing that succeeded is redone.
    pub async fn process(&self, msg: &QueueMessage) -> Result<Outcome, ProcessError> {
        self.process_read(msg, &self.read(msg)?).await
    }

    /// [`Processor::process`] from the delivery's [`Reading`] (its body normalized once for
    /// all its tries).
    #[tracing::instrument(skip_all, fields(source = %msg.source, event_id = %msg.event_id))]
    pub async fn process_read(
        &self,
        msg: &QueueMessage,
        reading: &Reading,
    ) -> Result<Outcome, ProcessError> {
        let item = self.prepare_enriched(msg, reading).await?;
        let recorded = self.record_batch(std::slice::from_ref(&item)).await?;
        self.finish(&item, recorded[0]).await
    }

    /// After [`Processor::record_batch`] committed: bring the external targets up to date
    /// and time the revocation.
    pub async fn finish(
        &self,
        item: &Prepared<'_>,
        recorded: Outcome,
    ) -> Result<Outcome, ProcessError> {
        if let Normalized::DirectoryDeleted {
            directory_id,
            occurred_at,
        } = &item.normalized
        {
            self.leave_directory(item.msg, directory_id, *occurred_at)
                .await?;
            return Ok(recorded);
        }
        let Normalized::Employee(event) = &item.normalized else {
            return Ok(recorded);
        };
        let msg = item.msg;
        let recorded_now = recorded != Outcome::Duplicate;
        let ran = self.run_open_actions(item, event, recorded_now).await?;
        let finished = recorded == Outcome::Applied || (recorded == Outcome::Duplicate && ran);
        if event.kind == EventKind::Terminated && finished {
            self.record_deprovision_latency(msg).await;
        }
        Ok(match recorded {
            Outcome::Duplicate if ran => Outcome::Resumed,
            other => other,
        })
    }

    /// A deleted directory: one termination per employee still active in it, published as
    /// its own message (`dsync.user.deleted`, event id `<event id>:<employee>`), so each is
    /// ordered, retried, reported and timed like any termination. Publishing again (a
    /// redelivery) is harmless: the inbox dedupes by event id.
    async fn leave_directory(
        &self,
        msg: &QueueMessage,
        directory_id: &str,
        occurred_at: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let Some(publisher) = &self.publisher else {
            tracing::warn!(%directory_id, "no publisher: cannot terminate the directory's users");
            return Ok(());
        };
        let members = employees::active_in_directory(&self.pool, &msg.source, directory_id).await?;
        tracing::info!(%directory_id, employees = members.len(), "directory deleted: terminating its users");
        for employee in members {
            // An employee id with a `:` could make this id another derived one (a release's
            // `<id>:released`): such a part is replaced by its digest.
            let part = if employee.contains(':') {
                format!(
                    "sha256-{}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(employee.as_bytes()))
                )
            } else {
                employee.clone()
            };
            let event_id = format!("{}:{part}", msg.event_id);
            let body = serde_json::json!({
                "object": "event", "id": event_id, "event": "dsync.user.deleted",
                "created_at": occurred_at,
                "data": {"object": "directory_user", "id": employee,
                         "directory_id": directory_id, "state": "inactive"},
            });
            let message = QueueMessage {
                source: msg.source.clone(),
                source_kind: msg.source_kind,
                event_id,
                received_at: msg.received_at,
                published_at: None,
                attempt: 0,
                first_failed_at: None,
                trigger: Trigger::DirectoryDeleted,
                body: body.to_string().into_bytes().into(),
            };
            let published = publisher.publish(&message).await;
            published.map_err(|e| ProcessError::Publish(e.to_string()))?;
        }
        Ok(())
    }

    /// Feed `provisiond_deprovision_latency_seconds` once every target revoked access. The
    /// audit reads the timeline back, so a scheduled termination is timed from its due
    /// time, not from the receipt of the original event.
    async fn record_deprovision_latency(&self, msg: &QueueMessage) {
        // With the directory as the only target, revocation committed just now: no need to
        // read the timeline back (that query costs more than the termination itself).
        if self.targets.is_empty() && msg.trigger != Trigger::Scheduled {
            crate::services::audit::metrics::termination_completed(
                msg.received_at,
                chrono::Utc::now(),
            );
            return;
        }
        let (source, event_id) = (&msg.source, &msg.event_id);
        let recorded =
            crate::services::audit::metrics::record_completion(&self.pool, source, event_id);
        if let Err(error) = recorded.await {
            tracing::warn!(%error, "cannot record the deprovision latency");
        }
    }
}
