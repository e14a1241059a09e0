//! One accepted event on its way to the workers: what the receiver, the scheduler, replay
//! and reconcile publish and the worker reads back. Its wire form (AMQP properties and
//! their signature) is `queue::message`'s job.

use chrono::{DateTime, Utc};

use super::{SourceKind, Trigger};

/// One accepted webhook on its way to the workers.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub source: String,
    pub source_kind: SourceKind,
    /// The sender's event id, else the SHA-256 of the body (hex).
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Attempts made before this delivery (0 on receipt and on replay).
    pub attempt: u32,
    /// When the first attempt failed; carried through the retry tiers.
    pub first_failed_at: Option<DateTime<Utc>>,
    pub trigger: Trigger,
    pub body: bytes::Bytes,
}
