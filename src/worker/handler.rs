//! Settling one delivery: process with a few quick retries, then ack, park in a retry
//! tier, or write to the dead-letter log. Every path acks only after the outcome is
//! durable (committed row or confirmed republish); otherwise the message is requeued.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::acks::Received;
use super::failure::ProcessError;
use super::process::{Outcome, Processor};
use crate::domain::message::QueueMessage;
use crate::queue::message::{claimed_headers, first_death_reason, retry_trips};
use crate::queue::{MessageKey, Publisher, Topology, UnreadableMessage};
use crate::store::dead_letters::{self, NewDeadLetter, Reason};

/// Called with each message before it is processed: fault injection for tests (a hook
/// that panics stands in for a handler bug). `None` in production.
pub type ProcessingHook = std::sync::Arc<dyn Fn(&QueueMessage) + Send + Sync>;

/// Called at named points of settling a message (`"settle"`, `"dead_letter"`): fault
/// injection for tests, where no real input makes that code panic. `None` in production.
pub type FaultHook = std::sync::Arc<dyn Fn(&str, &QueueMessage) + Send + Sync>;

/// What a worker needs besides the delivery.
#[derive(Clone)]
pub struct Context {
    pub hook: Option<ProcessingHook>,
    /// Test-only fault injection (see [`FaultHook`]).
    pub fault: Option<FaultHook>,
    pub processor: Processor,
    pub pool: PgPool,
    pub publisher: Publisher,
    pub topology: Topology,
    /// Checks the signature of every delivery before anything else.
    pub message_key: MessageKey,
    /// Deliveries (the first and each broker retry) before `attempts_exhausted`.
    pub max_attempts: u32,
    /// Quick in-process retries inside one delivery; they do not use up `max_attempts`.
    pub quick_retries: u32,
    /// A termination keeps going to the retry tiers at least this long.
    pub termination_retry_for: Duration,
}

/// How processing one delivery ended.
enum Ending {
    Done(Outcome),
    Failed { error: ProcessError, tries: u32 },
}

pub async fn handle(ctx: Context, delivery: Received) {
    let started = std::time::Instant::now();
    let message =
        match QueueMessage::from_delivery(&delivery.properties, &delivery.data, &ctx.message_key) {
            Ok(message) => message,
            Err(error) => return unreadable(&ctx, &delivery, error).await,
        };
    // A separate task so that a panic while processing fails this message only.
    let ending = isolated(run(ctx.clone(), message.clone(), None)).await;
    if let Some(tag) = settle(&ctx, &delivery, message, ending, started).await {
        delivery.acks().succeeded(&[tag]);
    }
}

/// Several deliveries the broker has already handed over: recorded in one transaction
/// (see `Processor::record_batch`), then each settled on its own. If the batch fails as a
/// whole (or panics), each message is processed alone, so one bad message costs the others
/// nothing but the extra round.
pub async fn handle_batch(ctx: Context, deliveries: Vec<Received>) {
    if deliveries.len() == 1 {
        return handle(ctx, deliveries.into_iter().next().expect("one delivery")).await;
    }
    let started = std::time::Instant::now();
    let mut batch = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match QueueMessage::from_delivery(&delivery.properties, &delivery.data, &ctx.message_key) {
            Ok(message) => batch.push((delivery, message)),
            Err(error) => unreadable(&ctx, &delivery, error).await,
        }
    }
    let messages: Vec<QueueMessage> = batch.iter().map(|(_, m)| m.clone()).collect();
    let Some(acks) = batch.first().map(|(delivery, _)| delivery.acks().clone()) else {
        return;
    };
    let succeeded = match isolated(run_batch(ctx.clone(), messages)).await {
        Ok(Some(results)) => {
            let settles = batch
                .iter()
                .zip(results)
                .map(|((delivery, message), result)| {
                    let ctx = ctx.clone();
                    async move {
                        let ending = match result {
                            Ok(outcome) => Ending::Done(outcome),
                            // Go on as a single message, this failure counting as its first try.
                            Err(error) => run(ctx.clone(), message.clone(), Some(error)).await,
                        };
                        settle(&ctx, delivery, message.clone(), Ok(ending), started).await
                    }
                });
            futures::future::join_all(settles).await
        }
        Ok(None) | Err(_) => {
            // Alone, in delivery order (events for one employee stay in order), each in
            // its own task (a panic fails only its own message).
            let mut succeeded = Vec::with_capacity(batch.len());
            for (delivery, message) in &batch {
                let task = isolated(run(ctx.clone(), message.clone(), None));
                let ending = task.await;
                succeeded.push(settle(&ctx, delivery, message.clone(), ending, started).await);
            }
            succeeded
        }
    };
    let tags: Vec<u64> = succeeded.into_iter().flatten().collect();
    acks.succeeded(&tags);
}

/// `work` in a task of its own, so that a panic in it is an error here; the task is
/// aborted if this handler is dropped (a batch cancelled at shutdown stops its calls).
fn isolated<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio_util::task::AbortOnDropHandle<T> {
    tokio_util::task::AbortOnDropHandle::new(tokio::spawn(work))
}

/// Record the batch in one transaction, then finish each message (external targets)
/// concurrently. `None` when the batch could not be recorded: nothing of it was.
async fn run_batch(
    ctx: Context,
    messages: Vec<QueueMessage>,
) -> Option<Vec<Result<Outcome, ProcessError>>> {
    if let Some(hook) = &ctx.hook {
        messages.iter().for_each(|m| hook(m));
    }
    // A body that cannot be normalized (or a record that cannot be fetched) fails on its
    // own, as a single message.
    let mut items = Vec::with_capacity(messages.len());
    for message in &messages {
        items.push(ctx.processor.prepare_enriched(message).await.ok()?);
    }
    let recorded = match ctx.processor.record_batch(&items).await {
        Ok(recorded) => recorded,
        Err(error) => {
            tracing::info!(%error, size = items.len(), "batch failed; processing its messages one by one");
            return None;
        }
    };
    let finishes = items
        .iter()
        .zip(recorded)
        .map(|(item, outcome)| ctx.processor.finish(item, outcome));
    Some(futures::future::join_all(finishes).await)
}

/// Retry later, dead-letter or requeue, as the ending says; the delivery's tag when it
/// succeeded (the caller acks successes together).
async fn settle(
    ctx: &Context,
    delivery: &Received,
    message: QueueMessage,
    ending: Result<Ending, tokio::task::JoinError>,
    started: std::time::Instant,
) -> Option<u64> {
    inject(ctx, "settle", &message);
    let elapsed = started.elapsed().as_secs_f64();
    metrics::histogram!("provisiond_processing_duration_seconds").record(elapsed);
    match ending {
        Ok(Ending::Done(outcome)) => {
            count_processed(outcome);
            return Some(delivery.tag());
        }
        Ok(Ending::Failed { error, tries }) => fail(ctx, delivery, message, error, tries).await,
        Err(panic) => {
            metrics::counter!("provisiond_events_failed_total", "class" => "panic").increment(1);
            let (source, event_id) = (&message.source, &message.event_id);
            tracing::error!(%source, %event_id, error = %panic, "processing panicked; requeueing");
            delivery.requeue();
        }
    }
    None
}

/// Try, and on a transient failure retry quickly (exponential backoff with jitter). The
/// quick retries belong to this delivery: `tries` counts deliveries, so a short blip does
/// not use up the attempts meant for the broker's retry tiers. `failed` is a first try
/// already made (in a batch).
async fn run(ctx: Context, message: QueueMessage, mut failed: Option<ProcessError>) -> Ending {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(ctx.quick_retries as usize)
        .with_jitter()
        .build();
    if let (Some(hook), None) = (&ctx.hook, &failed) {
        hook(&message);
    }
    let tries = message.attempt + 1;
    loop {
        let error = match failed.take() {
            Some(error) => error,
            None => match ctx.processor.process(&message).await {
                Ok(outcome) => return Ending::Done(outcome),
                Err(error) => error,
            },
        };
        let delay = delays.next();
        match delay {
            Some(delay) if error.is_transient() => {
                let (source, event_id) = (&message.source, &message.event_id);
                tracing::info!(%source, %event_id, %error, tries, "transient failure; retrying");
                tokio::time::sleep(delay).await;
            }
            _ => return Ending::Failed { error, tries },
        }
    }
}

async fn fail(
    ctx: &Context,
    delivery: &Received,
    message: QueueMessage,
    error: ProcessError,
    tries: u32,
) {
    let class = if error.is_transient() {
        "transient"
    } else {
        "permanent"
    };
    metrics::counter!("provisiond_events_failed_total", "class" => class).increment(1);
    let reason = if !error.is_transient() {
        error.permanent_reason()
    } else if tries >= ctx.max_attempts && !keeps_retrying(ctx, &message) {
        Reason::AttemptsExhausted
    } else {
        return park(ctx, delivery, message, &error, tries).await;
    };
    dead_letter(ctx, delivery, &message, reason, &error.chain(), tries).await;
}

/// A termination is retried for at least `termination_retry_for` from its first failure:
/// a leaver must not keep access because a target was down over a long weekend.
fn keeps_retrying(ctx: &Context, message: &QueueMessage) -> bool {
    let failing_since = message.first_failed_at.unwrap_or(message.received_at);
    let failing_for = (Utc::now() - failing_since).to_std().unwrap_or_default();
    failing_for < ctx.termination_retry_for && is_termination(ctx, message)
}

fn is_termination(ctx: &Context, message: &QueueMessage) -> bool {
    match ctx.processor.prepare(message).map(|p| p.normalized) {
        Ok(crate::domain::event::Normalized::Employee(event)) => {
            event.kind == crate::domain::event::EventKind::Terminated
        }
        Ok(crate::domain::event::Normalized::DirectoryDeleted { .. }) => true,
        _ => false,
    }
}

/// Republish to a retry tier (confirmed) and only then ack: the wait happens in the
/// broker, not in an unacked delivery.
async fn park(
    ctx: &Context,
    delivery: &Received,
    mut message: QueueMessage,
    error: &ProcessError,
    tries: u32,
) {
    let tier = choose_tier(
        &ctx.topology,
        retry_trips(&delivery.properties),
        error.retry_after(),
    );
    let Some(tier) = tier else {
        return delivery.requeue();
    };
    message.attempt = tries;
    message.first_failed_at = message.first_failed_at.or(Some(Utc::now()));
    let (source, event_id) = (message.source.clone(), message.event_id.clone());
    match ctx.publisher.publish_retry(&tier.key, &message).await {
        Ok(_) => {
            metrics::counter!("provisiond_retries_total", "tier" => tier.key.clone()).increment(1);
            tracing::warn!(%source, %event_id, %error, tries, tier = %tier.key, "transient failure; retrying later");
            delivery.ack();
        }
        Err(publish_error) => {
            tracing::warn!(%source, %event_id, error = %publish_error, "cannot park for retry; requeueing");
            delivery.requeue();
        }
    }
}

/// The tier for the next wait: one step further per previous trip, at least as long as
/// the target's `Retry-After`.
fn choose_tier(
    topology: &Topology,
    trips: u32,
    retry_after: Option<Duration>,
) -> Option<&crate::queue::topology::RetryTier> {
    let tiers = &topology.retry_tiers;
    let last = tiers.len().checked_sub(1)?;
    let mut index = (trips as usize).min(last);
    if let Some(wanted) = retry_after {
        let long_enough = tiers.iter().position(|t| t.delay >= wanted).unwrap_or(last);
        index = index.max(long_enough);
    }
    tiers.get(index)
}

async fn dead_letter(
    ctx: &Context,
    delivery: &Received,
    message: &QueueMessage,
    reason: Reason,
    chain: &[String],
    tries: u32,
) {
    inject(ctx, "dead_letter", message);
    let normalized =
        crate::normalize::normalize(message.source_kind, &message.body, message.received_at);
    let employee = match &normalized {
        Ok(crate::domain::event::Normalized::Employee(event)) => Some(event),
        _ => None,
    };
    let last_error = chain.first().map(String::as_str).unwrap_or("unknown error");
    let letter = NewDeadLetter {
        source: &message.source,
        source_kind: message.source_kind.as_str(),
        event_id: &message.event_id,
        employee_id: employee.map(|e| e.employee_id.as_str()),
        kind: employee.map(|e| e.kind.as_str()),
        reason,
        body: &message.body,
        headers: message.headers_json(),
        last_error,
        error_chain: chain,
        attempts: i32::try_from(tries).unwrap_or(i32::MAX),
        first_received_at: message.received_at,
        first_failed_at: message.first_failed_at.or(Some(Utc::now())),
    };
    store_then_ack(&ctx.pool, delivery, &letter).await;
}

/// The dead letter is committed before the ack: a crash in between writes it twice
/// (the same row), never zero times. A letter PostgreSQL refuses for its data (a NUL in a
/// text, from a message no receiver of ours published) is written once more with its
/// texts made storable, so no message can loop between the queue and this write.
async fn store_then_ack(pool: &PgPool, delivery: &Received, letter: &NewDeadLetter<'_>) {
    let mut written = dead_letters::record(pool, letter).await;
    if written.as_ref().is_err_and(is_data_error) {
        let storable = dead_letters::Storable::of(letter);
        written = dead_letters::record(pool, &storable.letter(letter)).await;
    }
    match written {
        Ok(id) => {
            let reason = letter.reason.as_str();
            metrics::counter!("provisiond_dead_letters_total", "reason" => reason).increment(1);
            tracing::warn!(
                source = letter.source,
                event_id = letter.event_id,
                reason,
                dead_letter_id = id,
                attempts = letter.attempts,
                "event dead-lettered"
            );
            delivery.ack();
        }
        Err(error) => {
            tracing::error!(%error, event_id = letter.event_id, "cannot write the dead letter; requeueing");
            delivery.requeue();
        }
    }
}

/// PostgreSQL refused the values themselves (SQLSTATE class 22), not the connection.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("22")),
        _ => false,
    }
}

/// A message provisiond cannot read (no or bad headers) or did not write (no valid
/// signature): kept whole, never applied. What an unauthenticated one claims is kept
/// under `claimed`, apart from any real source.
async fn unreadable(ctx: &Context, delivery: &Received, error: UnreadableMessage) {
    let fallback = hex::encode(Sha256::digest(&delivery.data));
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string());
    let event_id = message_id.unwrap_or(fallback);
    let chain = [error.to_string()];
    let mut claimed_event = None;
    let (source, reason, headers) = match error {
        UnreadableMessage::Unauthenticated(_) => {
            let claimed = claimed_headers(&delivery.properties);
            // Read (never applied) only to show the security team whom it was about.
            claimed_event = claimed_employee_event(&claimed, &delivery.data);
            match &claimed_event {
                Some(event) if event.kind == crate::domain::event::EventKind::Terminated => {
                    tracing::error!(event_id = %event_id, employee_id = %event.employee_id,
                        "a termination without a valid provisiond signature was refused: check \
                         rabbitmq.message_key on every process; a real leaver's webhook can be \
                         sent again with `provisiond sign`");
                }
                _ => {
                    tracing::warn!(event_id = %event_id, "queue message without a valid provisiond signature refused")
                }
            }
            let headers = serde_json::json!({ "claimed": claimed });
            ("(unauthenticated)", Reason::Unauthenticated, headers)
        }
        UnreadableMessage::Malformed(_) => {
            ("(unknown)", Reason::Unparseable, serde_json::json!({}))
        }
    };
    let letter = NewDeadLetter {
        source,
        source_kind: "unknown",
        event_id: &event_id,
        employee_id: claimed_event.as_ref().map(|e| e.employee_id.as_str()),
        kind: claimed_event.as_ref().map(|e| e.kind.as_str()),
        reason,
        body: &delivery.data,
        headers,
        last_error: &chain[0],
        error_chain: &chain,
        attempts: 1,
        first_received_at: Utc::now(),
        first_failed_at: Some(Utc::now()),
    };
    store_then_ack(&ctx.pool, delivery, &letter).await;
}

/// The employee event an unverified message's body would be, read with the kind its
/// headers claim: for the dead letter's employee and kind columns only.
fn claimed_employee_event(
    claimed: &serde_json::Value,
    body: &[u8],
) -> Option<crate::domain::event::CanonicalEvent> {
    let kind = claimed["x-provisiond-source-kind"].as_str()?.parse().ok()?;
    match crate::normalize::normalize(kind, body, Utc::now()) {
        Ok(crate::domain::event::Normalized::Employee(event)) => Some(event),
        _ => None,
    }
}

/// A message the broker dead-lettered (past the work queue's delivery limit: it kept
/// crashing or timing out a worker) goes into the log.
pub async fn drain_dead(ctx: Context, delivery: Received) {
    let broker_reason = first_death_reason(&delivery.properties);
    let message =
        match QueueMessage::from_delivery(&delivery.properties, &delivery.data, &ctx.message_key) {
            Ok(message) => message,
            Err(error) => return unreadable(&ctx, &delivery, error).await,
        };
    let reason = match broker_reason.as_deref() {
        Some("rejected") => Reason::PermanentError,
        _ => Reason::DeliveryLimit,
    };
    let text = format!(
        "the broker dead-lettered the message ({}) after it kept failing delivery: a worker crashed or timed out on it",
        broker_reason.as_deref().unwrap_or("unknown reason")
    );
    let tries = message.attempt.max(1);
    dead_letter(&ctx, &delivery, &message, reason, &[text], tries).await;
}

/// Run the test-only fault hook at `point`, if one is set.
fn inject(ctx: &Context, point: &str, message: &QueueMessage) {
    if let Some(fault) = &ctx.fault {
        fault(point, message);
    }
}

fn count_processed(outcome: Outcome) {
    let outcome = outcome.as_str();
    metrics::counter!("provisiond_events_processed_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        let delays = [5, 60, 600].map(Duration::from_secs);
        Topology::new("t", 5).with_retry_delays(&delays)
    }

    #[test]
    fn each_trip_moves_one_tier_further_and_stays_at_the_last() {
        let t = topology();
        let key = |trips| choose_tier(&t, trips, None).unwrap().key.clone();
        assert_eq!(key(0), "5000ms");
        assert_eq!(key(1), "60000ms");
        assert_eq!(key(2), "600000ms");
        assert_eq!(key(9), "600000ms");
    }

    #[test]
    fn retry_after_picks_a_tier_at_least_that_long() {
        let t = topology();
        let tier = choose_tier(&t, 0, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(tier.delay, Duration::from_secs(60));
        let tier = choose_tier(&t, 0, Some(Duration::from_secs(7200))).unwrap();
        assert_eq!(tier.delay, Duration::from_secs(600));
    }
}
