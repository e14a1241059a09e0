//! Reading a delivery: normalize its body once, then complete a thin event from the
//! sender's record.

use crate::domain::access::Access;
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
    /// Normalize a message's body, once per delivery, with this processor's clock tolerance
    /// for its source. A termination date that was still ahead at receipt (so the sender's
    /// event was an update carrying it) but has come while the event waited in the queue is
    /// a termination now: scheduling it is too late, and applying the update would leave
    /// the leaver active.
    pub fn read(&self, msg: &QueueMessage) -> Result<Reading, ProcessError> {
        let tolerance = self.clock_tolerances.get(&msg.source).copied();
        let mut reading = Reading::new(msg, tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE))?;
        if let Normalized::Employee(event) = &mut reading.normalized {
            let came_while_queued = event.effective_at.is_some_and(|date| {
                date > msg.received_at && self.policy.future_due(date).is_none()
            });
            if came_while_queued && msg.trigger != Trigger::Scheduled {
                event.kind = EventKind::Terminated;
            }
        }
        Ok(reading)
    }

    /// Read a message and decide its access, without asking the sender for more.
    pub fn prepare<'a>(&self, msg: &'a QueueMessage) -> Result<Prepared<'a>, ProcessError> {
        let reading = self.read(msg)?;
        Ok(self.granted(msg, reading.normalized, reading.clock_skew, false))
    }

    /// From the delivery's reading: for a thin event of a source with `api`, complete it
    /// from the sender's current record, then decide its access. Without `api` a thin event
    /// stays as its payload allows (which never re-activates anyone) and is recorded with
    /// reason `no_api_to_enrich`.
    pub async fn prepare_enriched<'a>(
        &self,
        msg: &'a QueueMessage,
        reading: &Reading,
    ) -> Result<Prepared<'a>, ProcessError> {
        let mut normalized = reading.normalized.clone();
        let unenriched = match &mut normalized {
            Normalized::Employee(event) => !self.enrich(msg, event).await?,
            _ => false,
        };
        Ok(self.granted(msg, normalized, reading.clock_skew, unenriched))
    }

    /// Complete `event`: a Deel contract's worker, a thin event's record. `false` when it
    /// is thin but its source has no `api`.
    async fn enrich(
        &self,
        msg: &QueueMessage,
        event: &mut CanonicalEvent,
    ) -> Result<bool, ProcessError> {
        if let Some(contract) = event.employee_id.strip_prefix(CONTRACT_PREFIX) {
            // A Deel contract event that names no worker: the worker its hire named.
            let worker = contracts::worker_of(&self.pool, &msg.source, contract).await?;
            if let Some(worker) = worker {
                event.employee_id = worker;
                return Ok(true);
            }
        }
        if !Enricher::needs(msg.source_kind, event) {
            return Ok(true);
        }
        let Some(enricher) = self.enrichers.get(&msg.source) else {
            return Ok(false);
        };
        if let Some(record) = enricher.fetch(&event.employee_id).await? {
            crate::enrich::apply(event, record, chrono::Utc::now());
        }
        Ok(true)
    }

    /// The item to record, with what the rules grant its employee: decided here, once per
    /// event, for the directory and every target call.
    fn granted<'a>(
        &self,
        msg: &'a QueueMessage,
        normalized: Normalized,
        clock_skew: bool,
        unenriched: bool,
    ) -> Prepared<'a> {
        let access = match &normalized {
            Normalized::Employee(event) => self.rules.decide(event),
            _ => Access::default(),
        };
        Prepared {
            msg,
            normalized,
            clock_skew,
            unenriched,
            access,
        }
    }
}

/// A delivery's body as normalized once: every try of the delivery starts from it, and its
/// failure paths (retry or dead letter) read the employee from it.
#[derive(Debug, Clone)]
pub struct Reading {
    pub normalized: Normalized,
    /// The sender's `occurred_at` was later than receipt + tolerance and was clamped.
    pub clock_skew: bool,
    /// The employee event's kind as the sender sent it, before the trigger or the wait in
    /// the queue made it a termination or a hire (what the dead-letter log shows).
    sent_kind: Option<EventKind>,
}

impl Reading {
    /// Normalize the body; a body that cannot be normalized is a permanent error. A
    /// sender's clock ahead of receipt by more than `tolerance` is not trusted: such an
    /// `occurred_at` would make every later event (a termination) look stale.
    pub fn new(msg: &QueueMessage, tolerance: std::time::Duration) -> Result<Self, ProcessError> {
        let mut normalized = normalize(msg.source_kind, &msg.body, msg.received_at)?;
        let mut clock_skew = false;
        let mut sent_kind = None;
        if let Normalized::Employee(event) = &mut normalized {
            sent_kind = Some(event.kind);
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
        Ok(Reading {
            normalized,
            clock_skew,
            sent_kind,
        })
    }

    /// A termination (or a deleted directory, which terminates its users).
    pub fn terminates(&self) -> bool {
        match &self.normalized {
            Normalized::Employee(event) => event.kind == EventKind::Terminated,
            Normalized::DirectoryDeleted { .. } => true,
            Normalized::Ignored { .. } => false,
        }
    }

    /// The employee and the kind of event the sender sent, if it is an employee event.
    pub fn as_sent(&self) -> Option<(&str, EventKind)> {
        match (&self.normalized, self.sent_kind) {
            (Normalized::Employee(event), Some(kind)) => Some((&event.employee_id, kind)),
            _ => None,
        }
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
    /// What the rules grant the employee (nothing for other events).
    pub access: Access,
}

impl<'a> Prepared<'a> {
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
