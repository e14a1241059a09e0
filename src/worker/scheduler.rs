//! The scheduler loop: claims terminations and pre-hire activations that have become due
//! (`FOR UPDATE SKIP LOCKED`, so any number of worker processes can run it) and enqueues
//! each as a `scheduled` (termination) or `start_date` (activation) message; the row is
//! marked only after the broker confirmed, so a crash re-enqueues (and the inbox absorbs
//! the duplicate) rather than losing a termination.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::clock::SharedClock;
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::queue::Publisher;
use crate::store::schedule::{self, Due, Scheduled};

/// Event id of the termination a scheduled row turns into when due.
pub fn effective_event_id(event_id: &str) -> String {
    format!("{event_id}:effective")
}

/// Event id of the activation a pre-hire's scheduled row turns into at its start date.
pub fn start_event_id(event_id: &str) -> String {
    format!("{event_id}:start")
}

/// The pre-hire event a start message (`<event id>:start`) comes from.
pub fn start_of_event(event_id: &str) -> &str {
    event_id.strip_suffix(":start").unwrap_or(event_id)
}

pub async fn run(
    pool: PgPool,
    publisher: Publisher,
    clock: SharedClock,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = tick(&pool, &publisher, &clock).await {
            tracing::warn!(error = %error, "scheduler tick failed; will retry");
        }
    }
}

/// Rows claimed per statement: few enough that each is published (a broker confirm
/// takes at most `rabbitmq.confirm_timeout`) well within its claim.
const CLAIM_BATCH: i64 = 20;

/// Enqueue every termination and activation due now; returns how many.
pub async fn tick(
    pool: &PgPool,
    publisher: &Publisher,
    clock: &SharedClock,
) -> anyhow::Result<usize> {
    let mut enqueued = 0;
    for which in Scheduled::ALL {
        // Claimed in one short statement; published with no transaction open.
        let due = schedule::claim_due(pool, which, clock.now(), CLAIM_BATCH).await?;
        for (i, row) in due.iter().enumerate() {
            let published = match message(which, row) {
                Ok(message) => publisher
                    .publish(&message)
                    .await
                    .map_err(anyhow::Error::from),
                Err(error) => Err(error),
            };
            let marked = match published {
                Ok(_) => schedule::mark_enqueued(pool, which, row.id)
                    .await
                    .map_err(anyhow::Error::from),
                Err(error) => Err(error),
            };
            if let Err(error) = marked {
                // The rest go back at once rather than when their claim runs out.
                let rest: Vec<i64> = due[i..].iter().map(|row| row.id).collect();
                if let Err(release) = schedule::release_claims(pool, which, &rest).await {
                    tracing::warn!(error = %release, "cannot give scheduled rows back; their claims run out");
                }
                return Err(error);
            }
            tracing::info!(source = %row.source, event_id = %row.event_id, ?which, "scheduled change is due; enqueued");
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

fn message(which: Scheduled, row: &Due) -> anyhow::Result<QueueMessage> {
    let (event_id, trigger) = match which {
        Scheduled::Termination => (effective_event_id(&row.event_id), Trigger::Scheduled),
        Scheduled::Activation => (start_event_id(&row.event_id), Trigger::StartDate),
    };
    Ok(QueueMessage {
        source: row.source.clone(),
        source_kind: row.source_kind.parse().map_err(anyhow::Error::msg)?,
        event_id,
        received_at: row.received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger,
        body: bytes::Bytes::from(row.body.clone()),
    })
}
