//! Reading a delivery: normalize its body once, then complete a thin event from the
//! sender's record.

use crate::domain::event::{CanonicalEvent, EventKind, Normalized};
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::enrich::Enricher;
use crate::normalize::deel::CONTRACT_PREFIX;
use crate::normalize::normalize;
use crate::store::contracts;
use crate::store::employees::Key;
use crate::store::events::EventRecord;
use crate::worker::failure::ProcessError;

use super::{Outcome, Processor, DEFAULT_CLOCK_TOLERANCE};

impl Processor {
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

    pub(super) fn employee(&self, event: &'a CanonicalEvent) -> Key<'a> {
        Key {
            source: &self.msg.source,
            employee_id: &event.employee_id,
        }
    }

    pub(super) fn record(&'a self, outcome: Outcome) -> EventRecord<'a> {
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
