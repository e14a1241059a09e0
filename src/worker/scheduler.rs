//! The scheduler loop: claims terminations that have become due (`FOR UPDATE SKIP LOCKED`,
//! so any number of worker processes can run it) and enqueues each as a `scheduled`
//! message; the row is marked only after the broker confirmed, so a crash re-enqueues
//! (and the inbox absorbs the duplicate) rather than losing a termination.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::queue::{Publisher, QueueMessage};
use crate::store::schedule::{self, DueTermination};

/// Event id of the termination a scheduled row turns into when due.
pub fn effective_event_id(event_id: &str) -> String {
    format!("{event_id}:effective")
}

pub const TRIGGER: &str = "scheduled";

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

/// Enqueue every termination due now; returns how many.
pub async fn tick(
    pool: &PgPool,
    publisher: &Publisher,
    clock: &SharedClock,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due = schedule::claim_due(&mut tx, clock.now(), 100).await?;
    for row in &due {
        let message = message(row)?;
        publisher.publish(&message).await?;
        schedule::mark_enqueued(&mut tx, row.id).await?;
        tracing::info!(source = %row.source, event_id = %row.event_id, "scheduled termination is due; enqueued");
    }
    tx.commit().await?;
    Ok(due.len())
}

fn message(row: &DueTermination) -> anyhow::Result<QueueMessage> {
    Ok(QueueMessage {
        source: row.source.clone(),
        source_kind: row.source_kind.parse().map_err(anyhow::Error::msg)?,
        event_id: effective_event_id(&row.event_id),
        received_at: row.received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: TRIGGER.to_owned(),
        body: bytes::Bytes::from(row.body.clone()),
    })
}
