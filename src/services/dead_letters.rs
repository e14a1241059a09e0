//! Operator access to the dead-letter log: list, show, replay and discard. The admin API
//! and the `dlq` command both go through here, so they answer alike. The rows are
//! `store::dead_letters`'s; republishing them is the broker's.

use std::collections::HashSet;

use serde_json::json;
use sqlx::PgPool;

use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::queue::{PublishError, Publisher};
use crate::store::dead_letters::query::{self, DiscardRow};
use crate::store::dead_letters::Reason;
use crate::store::{audit_log, jobs, Actor};

pub use crate::store::dead_letters::query::{
    dead_ids, get, list, parse_reason, Action, Detail, Filter, Status, Summary, DEFAULT_LIMIT,
    MAX_LIMIT,
};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no dead letter with id {0}")]
    NotFound(i64),
    /// The row's status does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// A required input is missing or empty.
    #[error("{0}")]
    Invalid(String),
    /// The broker did not confirm the republish; the row was left as it was. `replayed`
    /// holds the ids of the same request that were replayed before this one.
    #[error("dead letter {id} could not be republished ({n} replayed before it): {source}", n = replayed.len())]
    Publish {
        id: i64,
        replayed: Vec<i64>,
        source: PublishError,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Replay these ids (in this order, each once): any status but `discarded`. Every id is
/// checked first, so an unknown or discarded one fails the request before anything is
/// republished. Returns the ids replayed.
pub async fn replay(
    pool: &PgPool,
    publisher: &Publisher,
    ids: &[i64],
    actor: &Actor,
) -> Result<Vec<i64>, OpsError> {
    required("an actor", &actor.name)?;
    let ids = distinct(ids);
    check_replayable(pool, &ids).await?;
    replay_each(pool, publisher, &ids, actor, Mode::AnyButDiscarded).await
}

/// Fail unless every id exists and may be replayed (not discarded, not unauthenticated):
/// checked before anything is republished.
pub async fn check_replayable(pool: &PgPool, ids: &[i64]) -> Result<(), OpsError> {
    let found = query::states(pool, ids).await?;
    for id in ids {
        match found.iter().find(|(found_id, _, _)| found_id == id) {
            None => return Err(OpsError::NotFound(*id)),
            Some((_, status, _)) if status == Status::Discarded.as_str() => {
                return Err(discarded(*id))
            }
            Some((_, _, reason)) if reason == Reason::Unauthenticated.as_str() => {
                return Err(unauthenticated(*id))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Run bulk-replay job `job` over `ids`, one transaction per id, recording progress on
/// the job's row after each and stopping before the next id once a cancel was asked.
/// `only_dead`: skip rows no longer `dead` (a filter's selection); else replay any status
/// but discarded (ids checked beforehand with [`check_replayable`]). A row that changed
/// meanwhile is skipped; a broker or database failure ends the job `failed`.
pub async fn run_replay_job(
    pool: &PgPool,
    publisher: &Publisher,
    job: i64,
    ids: &[i64],
    only_dead: bool,
    actor: &Actor,
    on_progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(), OpsError> {
    let mode = if only_dead {
        Mode::OnlyDead
    } else {
        Mode::AnyButDiscarded
    };
    let mut done = 0;
    for &id in &distinct(ids) {
        if jobs::cancel_requested(pool, job).await? {
            jobs::finish(pool, job, "cancelled", None).await?;
            return Ok(());
        }
        let replayed = match replay_one(pool, publisher, id, actor, mode).await {
            Ok(true) => Some(id),
            Ok(false) | Err(OpsError::NotFound(_) | OpsError::Conflict(_)) => None,
            Err(error) => {
                let text = error.to_string();
                jobs::finish(pool, job, "failed", Some(&text)).await?;
                return Err(error);
            }
        };
        jobs::advance(pool, job, replayed).await?;
        done += 1;
        on_progress(done);
    }
    jobs::finish(pool, job, "succeeded", None).await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    AnyButDiscarded,
    OnlyDead,
}

async fn replay_each(
    pool: &PgPool,
    publisher: &Publisher,
    ids: &[i64],
    actor: &Actor,
    mode: Mode,
) -> Result<Vec<i64>, OpsError> {
    let mut replayed = Vec::with_capacity(ids.len());
    for &id in ids {
        match replay_one(pool, publisher, id, actor, mode).await {
            Ok(true) => replayed.push(id),
            Ok(false) => {}
            Err(OpsError::Publish { id, source, .. }) => {
                return Err(OpsError::Publish {
                    id,
                    replayed,
                    source,
                })
            }
            Err(error) => return Err(error),
        }
    }
    Ok(replayed)
}

/// One id, in one transaction: lock the row, mark it replayed and record the action, then
/// publish and await the confirm, then commit. A worker that dead-letters the replayed
/// event again waits on the row lock, so its `dead` always lands after our `replayed`.
/// Returns false when `mode` says to skip the row.
async fn replay_one(
    pool: &PgPool,
    publisher: &Publisher,
    id: i64,
    actor: &Actor,
    mode: Mode,
) -> Result<bool, OpsError> {
    let mut tx = pool.begin().await?;
    let row = query::lock_for_replay(&mut tx, id).await?;
    let Some(row) = row else {
        return Err(OpsError::NotFound(id));
    };
    match mode {
        Mode::OnlyDead if row.status != Status::Dead.as_str() => return Ok(false),
        Mode::AnyButDiscarded if row.status == Status::Discarded.as_str() => {
            return Err(discarded(id))
        }
        _ => {}
    }
    // Not written by provisiond: signing it now would launder it into a trusted message.
    if row.reason == Reason::Unauthenticated.as_str() {
        return match mode {
            Mode::OnlyDead => Ok(false),
            Mode::AnyButDiscarded => Err(unauthenticated(id)),
        };
    }
    let source_kind = row.source_kind.parse().map_err(|error| {
        OpsError::Conflict(format!("dead letter {id} cannot be replayed: {error}"))
    })?;
    let replay_count = query::mark_replayed(&mut tx, id).await?;
    // A due scheduled termination's body is the original announcement (often an update
    // with a date): replayed as `manual` it would be read as that update. It keeps the
    // scheduler's trigger, which makes it the termination it is.
    let trigger = if row.scheduled.unwrap_or(false) {
        Trigger::Scheduled
    } else {
        Trigger::Manual
    };
    let detail = actor.annotate(json!({
        "previous_status": row.status,
        "replay_count": replay_count,
        "trigger": trigger,
    }));
    query::record_action(&mut tx, id, "replayed", &actor.name, None, detail.clone()).await?;
    let entry = audit_log::Entry {
        category: audit_log::DEAD_LETTER,
        action: "replayed",
        actor: &actor.name,
        source: Some(&row.source),
        event_id: Some(&row.event_id),
        employee_id: row.employee_id.as_deref(),
        target: None,
        outcome: Some(Status::Replayed.as_str()),
        detail: json!({ "dead_letter_id": id, "replay": detail }),
    };
    audit_log::append(&mut tx, &entry).await?;
    let message = QueueMessage {
        source: row.source,
        source_kind,
        event_id: row.event_id,
        received_at: row.first_received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger,
        body: bytes::Bytes::from(row.body),
    };
    if let Err(source) = publisher.publish(&message).await {
        // The row stays as it was: still waiting for a replay that works.
        tx.rollback().await?;
        tracing::warn!(dead_letter = id, event_id = %message.event_id, error = %source, "replay not confirmed by the broker");
        return Err(OpsError::Publish {
            id,
            replayed: Vec::new(),
            source,
        });
    }
    // Committing can still fail after the confirm: the event is then replayed while the
    // row says `dead`, which a second replay repairs (processing is idempotent).
    tx.commit().await?;
    tracing::info!(dead_letter = id, source = %message.source, event_id = %message.event_id, actor = %actor.name, "dead letter replayed");
    let source = message.source;
    metrics::counter!("provisiond_dead_letters_replayed_total", "source" => source).increment(1);
    Ok(true)
}

/// Mark a `dead` row `discarded` (it will not be replayed in bulk) with who and why.
pub async fn discard(pool: &PgPool, id: i64, actor: &Actor, reason: &str) -> Result<(), OpsError> {
    required("an actor", &actor.name)?;
    let reason = required("a reason", reason)?;
    let mut tx = pool.begin().await?;
    let Some(row) = query::lock_for_discard(&mut tx, id).await? else {
        return Err(OpsError::NotFound(id));
    };
    let DiscardRow {
        status,
        source,
        event_id,
        employee_id,
    } = row;
    if status != Status::Dead.as_str() {
        return Err(OpsError::Conflict(format!(
            "dead letter {id} is {status}; only dead ones can be discarded"
        )));
    }
    query::mark_discarded(&mut tx, id).await?;
    let noted = actor.annotate(json!({}));
    query::record_action(&mut tx, id, "discarded", &actor.name, Some(reason), noted).await?;
    let entry = audit_log::Entry {
        category: audit_log::DEAD_LETTER,
        action: "discarded",
        actor: &actor.name,
        source: Some(&source),
        event_id: Some(&event_id),
        employee_id: employee_id.as_deref(),
        target: None,
        outcome: Some(Status::Discarded.as_str()),
        detail: actor
            .annotate(json!({ "dead_letter_id": id, "previous_status": status, "reason": reason })),
    };
    audit_log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(dead_letter = id, actor = %actor.name, "dead letter discarded");
    Ok(())
}

fn unauthenticated(id: i64) -> OpsError {
    OpsError::Conflict(format!(
        "dead letter {id} is an unauthenticated queue message (no valid provisiond \
         signature); it is never replayed: discard it once investigated"
    ))
}

fn discarded(id: i64) -> OpsError {
    OpsError::Conflict(format!(
        "dead letter {id} is discarded; discarded ones are not replayed"
    ))
}

fn required<'a>(what: &str, text: &'a str) -> Result<&'a str, OpsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(OpsError::Invalid(format!("{what} is required")));
    }
    Ok(text)
}

/// The ids in their first-seen order, each once.
pub fn distinct(ids: &[i64]) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_ids_are_replayed_once_each_in_order() {
        assert_eq!(distinct(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
