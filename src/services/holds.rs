//! An operator's release or rejection of terminations the mass-change guard holds.

use sqlx::PgPool;

use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::queue::Publisher;
use crate::store::{holds, Actor};

/// An operator's decision on held terminations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply it: republished as `<event id>:released`, trigger `released`, past the guard.
    Release,
    /// Drop it: the employee keeps access; the report keeps listing it.
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Release => "released",
            Decision::Reject => "rejected",
        }
    }
}

/// Release or reject each id still held, one transaction each (a release commits only
/// once the broker confirmed). Returns the ids decided; ids not held are skipped.
pub async fn decide_many(
    pool: &PgPool,
    publisher: Option<&Publisher>,
    ids: &[i64],
    decision: Decision,
    actor: &Actor,
    reason: &str,
) -> anyhow::Result<Vec<i64>> {
    let mut done = Vec::new();
    for &id in ids {
        let mut tx = pool.begin().await?;
        let Some(row) = holds::lock_held(&mut tx, id).await? else {
            continue;
        };
        holds::decide(&mut tx, id, &row, decision.as_str(), actor, reason).await?;
        if decision == Decision::Release {
            let publisher = publisher.ok_or_else(|| anyhow::anyhow!("no broker to publish to"))?;
            let message = QueueMessage {
                source: row.source.clone(),
                source_kind: row.source_kind.parse().map_err(anyhow::Error::msg)?,
                event_id: format!("{}:released", row.event_id),
                received_at: row.received_at,
                published_at: None,
                attempt: 0,
                first_failed_at: None,
                trigger: Trigger::Released,
                body: row.body.clone().into(),
            };
            publisher
                .publish(&message)
                .await
                .map_err(|e| anyhow::anyhow!("publishing the release of hold {id}: {e}"))?;
        }
        tx.commit().await?;
        done.push(id);
    }
    Ok(done)
}
