//! Messages, alone or in batches: one transaction for inbox claims, employee locks,
//! ordering checks, directory updates and event records, then the external targets. The
//! caller acks only after this returns `Ok` (everything committed).

use std::sync::Arc;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::failure::ProcessError;
use super::guard;
use super::ordering::{decide, Incoming, Verdict};
use super::schedule::SchedulePolicy;
use super::scheduler;
use crate::config::GuardConfig;
use crate::config::TerminationTime;
use crate::domain::access::Access;
use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::domain::SourceKind;
use crate::domain::Trigger;
use crate::enrich::Enricher;
use crate::normalize::deel::{self, CONTRACT_PREFIX};
use crate::normalize::{normalize, parse_time};
use crate::provision::error::TargetError;
use crate::provision::rules::Rules;
use crate::provision::ExternalTarget;
use crate::queue::Publisher;
use crate::store::employees::{self, Activation, EmployeeState, Key, Save};
use crate::store::events::{self, EventKey, EventRecord};
use crate::store::schedule::{self, Scheduled};
use crate::store::{actions, contracts, directories, holds};

/// How much longer a lease lasts than the call it covers.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a delivery waiting for another call's lease looks again.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

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

    /// Read, normalize and, for a thin event of a source with `api`, complete it from the
    /// sender's current record. Without `api` a thin event stays as its payload allows
    /// (which never re-activates anyone) and is recorded with reason `no_api_to_enrich`.
    pub async fn prepare_enriched<'a>(
        &self,
        msg: &'a QueueMessage,
    ) -> Result<Prepared<'a>, ProcessError> {
        let mut item = self.prepare(msg)?;
        let Normalized::Employee(event) = &mut item.normalized else {
            return Ok(item);
        };
        if let Some(contract) = event.employee_id.strip_prefix(CONTRACT_PREFIX) {
            // A Deel contract event that names no worker: the worker its hire named.
            let worker = contracts::worker_of(&self.pool, &msg.source, contract).await?;
            if let Some(worker) = worker {
                event.employee_id = worker;
                return Ok(item);
            }
        }
        if !Enricher::needs(msg.source_kind, event) {
            return Ok(item);
        }
        let Some(enricher) = self.enrichers.get(&msg.source) else {
            item.unenriched = true;
            return Ok(item);
        };
        if let Some(record) = enricher.fetch(&event.employee_id).await? {
            crate::enrich::apply(event, record, chrono::Utc::now());
        }
        Ok(item)
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

    /// Read and normalize a message, with this processor's clock tolerance for its source.
    /// A termination date that was still ahead at receipt (so the sender's event was an
    /// update carrying it) but has come while the event waited in the queue is a
    /// termination now: scheduling it is too late, and applying the update would leave
    /// the leaver active.
    pub fn prepare<'a>(&self, msg: &'a QueueMessage) -> Result<Prepared<'a>, ProcessError> {
        let tolerance = self.clock_tolerances.get(&msg.source).copied();
        let mut prepared = Prepared::new(msg, tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE))?;
        if let Normalized::Employee(event) = &mut prepared.normalized {
            let came_while_queued = event.effective_at.is_some_and(|date| {
                date > msg.received_at && self.policy.future_due(date).is_none()
            });
            if came_while_queued && msg.trigger != Trigger::Scheduled {
                event.kind = EventKind::Terminated;
            }
        }
        Ok(prepared)
    }

    /// Record the event (one transaction), then bring the external targets up to date.
    /// A redelivery after a target failure finds the event in the inbox and only runs
    /// the actions still open, so nothing that succeeded is redone.
    #[tracing::instrument(skip_all, fields(source = %msg.source, event_id = %msg.event_id))]
    pub async fn process(&self, msg: &QueueMessage) -> Result<Outcome, ProcessError> {
        let item = self.prepare_enriched(msg).await?;
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
        let ran = self.run_open_actions(msg, event).await?;
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

    /// Record several messages in one transaction, with a few statements for the whole
    /// batch: inbox claims, employee locks, account writes, employee states, event records
    /// and audit entries each go as one multi-row statement. The result is the same as
    /// recording the messages one after another in their order: an employee met more than
    /// once is handled in rounds, its n-th event in round n, each round locking and reading
    /// the state the previous round wrote. All or nothing: on error nothing is recorded.
    pub async fn record_batch(&self, items: &[Prepared<'_>]) -> Result<Vec<Outcome>, ProcessError> {
        let mut tx = self.pool.begin().await?;
        let keys: Vec<EventKey> = items
            .iter()
            .map(|i| EventKey {
                source: &i.msg.source,
                event_id: &i.msg.event_id,
            })
            .collect();
        let claimed = events::claim_many(&mut tx, &keys).await?;
        let gone = self
            .in_deleted_directories(&mut tx, items, &claimed)
            .await?;
        self.lock_guarded_sources(&mut tx, items, &claimed, &gone)
            .await?;
        let mut tally = guard::Tally::new();
        let mut outcomes = vec![Outcome::Duplicate; items.len()];
        let mut records: Vec<(usize, EventRecord)> = Vec::with_capacity(items.len());
        let mut employee_events = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let msg = item.msg;
            if !claimed[i] {
                // A retry of an event whose targets are unfinished is not a duplicate.
                let open = !self.targets.is_empty()
                    && actions::has_open(&mut tx, &msg.source, &msg.event_id).await?;
                if !open {
                    records.push((i, item.record(Outcome::Duplicate)));
                }
                continue;
            }
            match &item.normalized {
                Normalized::Ignored { reason, .. } => {
                    let mut record = item.record(Outcome::Ignored);
                    record.reason = Some(reason);
                    records.push((i, record));
                    outcomes[i] = Outcome::Ignored;
                }
                Normalized::Employee(event) => {
                    employee_events.push((i, gone.get(&i).unwrap_or(event)));
                }
                Normalized::DirectoryDeleted {
                    directory_id,
                    occurred_at,
                } => {
                    let deleted = directories::Deleted {
                        source: &msg.source,
                        directory_id,
                        event_id: &msg.event_id,
                        occurred_at: *occurred_at,
                    };
                    directories::record_deleted(&mut tx, &deleted).await?;
                    let mut record = item.record(Outcome::Applied);
                    record.reason = Some(DIRECTORY_DELETED);
                    records.push((i, record));
                    outcomes[i] = Outcome::Applied;
                }
            }
        }
        for round in rounds(items, &employee_events) {
            let keys: Vec<Key> = round.iter().map(|&(i, e)| items[i].employee(e)).collect();
            let states = employees::lock_many(&mut tx, &keys).await?;
            let mut writes = Writes::default();
            for &(i, event) in &round {
                let msg = items[i].msg;
                let state = states.get(&(msg.source.clone(), event.employee_id.clone()));
                let (outcome, record) = self
                    .apply(&mut tx, &items[i], event, state, &mut writes, &mut tally)
                    .await?;
                outcomes[i] = outcome;
                records.push((i, record));
            }
            writes.flush(&mut tx, &self.directory).await?;
        }
        records.sort_by_key(|(i, _)| *i);
        let records: Vec<EventRecord> = records.into_iter().map(|(_, r)| r).collect();
        events::record_many(&mut tx, &records, &self.directory).await?;
        tx.commit().await?;
        for (item, claimed) in items.iter().zip(&claimed) {
            if *claimed && item.clock_skew {
                let source = item.msg.source.clone();
                metrics::counter!("provisiond_events_clock_skew_total", "source" => source)
                    .increment(1);
            }
        }
        Ok(outcomes)
    }

    /// The guard's lock of each source with a termination in the batch, taken in source
    /// order before any employee lock.
    async fn lock_guarded_sources(
        &self,
        conn: &mut PgConnection,
        items: &[Prepared<'_>],
        claimed: &[bool],
        gone: &HashMap<usize, CanonicalEvent>,
    ) -> Result<(), sqlx::Error> {
        if self.guard.is_none() {
            return Ok(());
        }
        let terminates = |i: usize, item: &Prepared<'_>| {
            gone.contains_key(&i)
                || matches!(&item.normalized, Normalized::Employee(e) if e.kind == EventKind::Terminated)
        };
        let mut sources: Vec<&str> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| claimed[*i] && item.msg.trigger != Trigger::Released)
            .filter(|(i, item)| terminates(*i, item))
            .map(|(_, item)| item.msg.source.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            holds::lock_source(conn, source).await?;
        }
        Ok(())
    }

    /// Employee events of directories the sender has deleted, turned into terminations: a
    /// user event that arrives after `dsync.deleted` (a retry, out of order) must not keep
    /// or create an active account, since nothing would ever remove it.
    async fn in_deleted_directories(
        &self,
        conn: &mut PgConnection,
        items: &[Prepared<'_>],
        claimed: &[bool],
    ) -> Result<HashMap<usize, CanonicalEvent>, sqlx::Error> {
        let candidates: Vec<(usize, &CanonicalEvent, &str)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| claimed[*i])
            .filter_map(|(i, item)| match &item.normalized {
                Normalized::Employee(e) if e.kind != EventKind::Terminated => {
                    let directory = e.attributes.data.get("directory_id")?.as_str()?;
                    Some((i, e, directory))
                }
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<(&str, &str)> = candidates
            .iter()
            .map(|(i, _, d)| (items[*i].msg.source.as_str(), *d))
            .collect();
        let deleted = directories::deleted_among(conn, &keys).await?;
        Ok(candidates
            .into_iter()
            .filter(|(i, _, d)| deleted.contains(&(items[*i].msg.source.clone(), d.to_string())))
            .map(|(i, event, _)| {
                let mut event = event.clone();
                event.kind = EventKind::Terminated;
                (i, event)
            })
            .collect())
    }

    /// Bring the external targets to the employee's current state: this event's open
    /// actions, and on each target the employee's newest action if it is still open (a
    /// termination whose deactivation failed is driven by any later delivery for the
    /// employee: a retry, a replay of an old hire). Each action runs in its own short
    /// transaction under the (employee, target) lock.
    async fn run_open_actions(
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

    /// One employee event under the employee's lock: decide, schedule, and queue the
    /// directory and employee writes in `writes` (flushed once per round).
    async fn apply<'a>(
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
                writes.attribute_updates.push((&msg.source, event));
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
            self.apply_targets(conn, msg, event, writes).await?;
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
        writes.prehires.push((&msg.source, event));
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
        msg: &'a QueueMessage,
        event: &'a CanonicalEvent,
        writes: &mut Writes<'a>,
    ) -> Result<(), sqlx::Error> {
        match event.kind {
            EventKind::Terminated => writes.deactivations.push(Key {
                source: &msg.source,
                employee_id: &event.employee_id,
            }),
            _ => writes
                .activations
                .push((&msg.source, event, self.rules.decide(event))),
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

/// A message read and normalized, ready to be recorded.
pub struct Prepared<'a> {
    pub msg: &'a QueueMessage,
    pub normalized: Normalized,
    /// The sender's `occurred_at` was later than receipt + tolerance and was clamped.
    pub clock_skew: bool,
    /// A thin event of a source without `api`: applied as far as its payload allows.
    pub unenriched: bool,
}

impl<'a> Prepared<'a> {
    /// Normalize the body; a body that cannot be normalized is a permanent error. A
    /// sender's clock ahead of receipt by more than `tolerance` is not trusted: such an
    /// `occurred_at` would make every later event (a termination) look stale.
    pub fn new(
        msg: &'a QueueMessage,
        tolerance: std::time::Duration,
    ) -> Result<Self, ProcessError> {
        let mut normalized = normalize(msg.source_kind, &msg.body, msg.received_at)?;
        let mut clock_skew = false;
        if let Normalized::Employee(event) = &mut normalized {
            if msg.trigger == Trigger::Scheduled {
                // A scheduled termination that has become due.
                event.kind = EventKind::Terminated;
            } else if msg.trigger == Trigger::StartDate && event.kind == EventKind::Updated {
                // A pre-hire's start date has come: its hire.
                event.kind = EventKind::Created;
            }
            let limit = chrono::Duration::from_std(tolerance)
                .ok()
                .and_then(|t| msg.received_at.checked_add_signed(t));
            if limit.is_some_and(|limit| event.occurred_at > limit) {
                event.occurred_at = msg.received_at;
                clock_skew = true;
            }
        }
        Ok(Prepared {
            msg,
            normalized,
            clock_skew,
            unenriched: false,
        })
    }

    fn employee(&self, event: &'a CanonicalEvent) -> Key<'a> {
        Key {
            source: &self.msg.source,
            employee_id: &event.employee_id,
        }
    }

    fn record(&'a self, outcome: Outcome) -> EventRecord<'a> {
        let msg = self.msg;
        let (employee, sender_event) = match &self.normalized {
            Normalized::Employee(e) => (Some(e), None),
            Normalized::Ignored { event_name, .. } => (None, Some(event_name.as_str())),
            Normalized::DirectoryDeleted { .. } => (None, Some("dsync.deleted")),
        };
        EventRecord {
            source: &msg.source,
            event_id: &msg.event_id,
            employee_id: employee.map(|e| e.employee_id.as_str()),
            kind: employee.map(|e| e.kind.as_str()),
            sender_event,
            outcome: outcome.as_str(),
            reason: None,
            trigger: msg.trigger.as_str(),
            attempt: i32::try_from(msg.attempt + 1).unwrap_or(i32::MAX),
            occurred_at: employee.map(|e| e.occurred_at),
            effective_at: employee.and_then(|e| e.effective_at),
            received_at: msg.received_at,
            published_at: msg.published_at,
            clock_skew: self.clock_skew,
            directory_action: None,
            revoked: false,
        }
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

/// The directory and employee writes of one round, sent as one statement each.
#[derive(Default)]
struct Writes<'a> {
    activations: Vec<(&'a str, &'a CanonicalEvent, Access)>,
    deactivations: Vec<Key<'a>>,
    /// Leavers (and pre-hires) whose attributes change while they stay inactive.
    attribute_updates: Vec<(&'a str, &'a CanonicalEvent)>,
    /// Pre-hires: accounts pending until the start date.
    prehires: Vec<(&'a str, &'a CanonicalEvent)>,
    saves: Vec<Save<'a>>,
}

impl Writes<'_> {
    async fn flush(self, conn: &mut PgConnection, directory: &str) -> Result<(), sqlx::Error> {
        let activations: Vec<Activation> = self
            .activations
            .iter()
            .map(|(source, e, d)| Activation::new(source, &e.employee_id, &e.attributes, d))
            .collect();
        employees::activate_accounts(conn, directory, &activations).await?;
        employees::deactivate_accounts(conn, directory, &self.deactivations).await?;
        let none = Access::default();
        let updates: Vec<Activation> = self
            .attribute_updates
            .iter()
            .map(|(source, e)| Activation::new(source, &e.employee_id, &e.attributes, &none))
            .collect();
        employees::update_deactivated(conn, directory, &updates).await?;
        let prehires: Vec<Activation> = self
            .prehires
            .iter()
            .map(|(source, e)| Activation::new(source, &e.employee_id, &e.attributes, &none))
            .collect();
        employees::prehire_accounts(conn, directory, &prehires).await?;
        employees::save_many(conn, &self.saves).await
    }
}

/// Split a batch's employee events into rounds in which no employee repeats: an employee's
/// n-th event (in delivery order) goes to round n.
fn rounds<'a>(
    items: &[Prepared<'a>],
    events: &[(usize, &'a CanonicalEvent)],
) -> Vec<Vec<(usize, &'a CanonicalEvent)>> {
    let mut rounds: Vec<Vec<(usize, &CanonicalEvent)>> = Vec::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for &(i, event) in events {
        let key = (items[i].msg.source.as_str(), event.employee_id.as_str());
        let n = seen.entry(key).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push((i, event));
        *n += 1;
    }
    rounds
}

/// A permanent failure outweighs a transient one: retrying would not fix it.
fn worse(current: Option<ProcessError>, new: ProcessError) -> ProcessError {
    match current {
        Some(current) if !current.is_transient() => current,
        _ => new,
    }
}
