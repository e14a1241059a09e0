//! Settling one delivery: process with a few quick retries, then ack, park in a retry
//! tier, or write to the dead-letter log. Every path acks only after the outcome is
//! durable (committed row or confirmed republish); otherwise the message is requeued.
//! A delivery's body is normalized once ([`Reading`]): its tries, its retry and its dead
//! letter all start from that reading.

mod dead_letter;
mod retry;

pub use dead_letter::drain_dead;

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use sqlx::PgPool;

use super::acks::Received;
use super::failure::ProcessError;
use super::process::{Outcome, Processor, Reading};
use crate::domain::message::QueueMessage;
use crate::queue::{MessageKey, Publisher, Topology};
use dead_letter::unreadable;

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
    /// `reading`: the body as normalized, unless that is what failed.
    Failed {
        error: ProcessError,
        tries: u32,
        reading: Option<Box<Reading>>,
    },
}

/// What a batch's own task hands back: each message's reading, to go on alone with, and,
/// when the batch was recorded, each message's result.
struct BatchRun {
    readings: Vec<Result<Reading, ProcessError>>,
    results: Option<Vec<Result<Outcome, ProcessError>>>,
}

pub async fn handle(ctx: Context, delivery: Received) {
    let started = std::time::Instant::now();
    let message =
        match QueueMessage::from_delivery(&delivery.properties, &delivery.data, &ctx.message_key) {
            Ok(message) => message,
            Err(error) => return unreadable(&ctx, &delivery, error).await,
        };
    // A separate task so that a panic while processing fails this message only.
    let ending = isolated(run(ctx.clone(), message.clone(), None, None)).await;
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
        Ok(BatchRun {
            readings,
            results: Some(results),
        }) => settle_recorded(&ctx, &batch, readings, results, started).await,
        Ok(BatchRun {
            readings,
            results: None,
        }) => settle_alone(&ctx, &batch, readings, started).await,
        Err(_) => settle_alone(&ctx, &batch, Vec::new(), started).await,
    };
    let tags: Vec<u64> = succeeded.into_iter().flatten().collect();
    acks.succeeded(&tags);
}

/// A recorded batch: each message settled concurrently; one whose targets failed goes on
/// as a single message, that failure counting as its first try.
async fn settle_recorded(
    ctx: &Context,
    batch: &[(Received, QueueMessage)],
    readings: Vec<Result<Reading, ProcessError>>,
    results: Vec<Result<Outcome, ProcessError>>,
    started: std::time::Instant,
) -> Vec<Option<u64>> {
    let settles = batch.iter().zip(readings).zip(results).map(
        |(((delivery, message), reading), result)| async move {
            let ending = match result {
                Ok(outcome) => Ending::Done(outcome),
                Err(error) => run(ctx.clone(), message.clone(), Some(reading), Some(error)).await,
            };
            settle(ctx, delivery, message.clone(), Ok(ending), started).await
        },
    );
    futures::future::join_all(settles).await
}

/// A batch that could not be recorded: each message alone, in delivery order (events for
/// one employee stay in order), each in its own task (a panic fails only its own message),
/// from the reading the batch made of it (none if the batch panicked).
async fn settle_alone(
    ctx: &Context,
    batch: &[(Received, QueueMessage)],
    readings: Vec<Result<Reading, ProcessError>>,
    started: std::time::Instant,
) -> Vec<Option<u64>> {
    let mut readings = readings.into_iter();
    let mut succeeded = Vec::with_capacity(batch.len());
    for (delivery, message) in batch {
        let task = isolated(run(ctx.clone(), message.clone(), readings.next(), None));
        let ending = task.await;
        succeeded.push(settle(ctx, delivery, message.clone(), ending, started).await);
    }
    succeeded
}

/// `work` in a task of its own, so that a panic in it is an error here; the task is
/// aborted if this handler is dropped (a batch cancelled at shutdown stops its calls).
fn isolated<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio_util::task::AbortOnDropHandle<T> {
    tokio_util::task::AbortOnDropHandle::new(tokio::spawn(work))
}

/// Read every message once, record the batch in one transaction, then finish each message
/// (external targets) concurrently. No results when the batch could not be recorded:
/// nothing of it was.
async fn run_batch(ctx: Context, messages: Vec<QueueMessage>) -> BatchRun {
    if let Some(hook) = &ctx.hook {
        messages.iter().for_each(|m| hook(m));
    }
    let readings: Vec<_> = messages.iter().map(|m| ctx.processor.read(m)).collect();
    let results = record_batch(&ctx, &messages, &readings).await;
    BatchRun { readings, results }
}

async fn record_batch(
    ctx: &Context,
    messages: &[QueueMessage],
    readings: &[Result<Reading, ProcessError>],
) -> Option<Vec<Result<Outcome, ProcessError>>> {
    // A body that cannot be normalized (or a record that cannot be fetched) fails on its
    // own, as a single message.
    let mut items = Vec::with_capacity(messages.len());
    for (message, reading) in messages.iter().zip(readings) {
        let reading = reading.as_ref().ok()?;
        items.push(
            ctx.processor
                .prepare_enriched(message, reading)
                .await
                .ok()?,
        );
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
        Ok(Ending::Failed {
            error,
            tries,
            reading,
        }) => retry::fail(ctx, delivery, message, error, tries, reading.as_deref()).await,
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
/// not use up the attempts meant for the broker's retry tiers. `reading` is the body
/// already read (in a batch), `failed` a first try already made.
async fn run(
    ctx: Context,
    message: QueueMessage,
    reading: Option<Result<Reading, ProcessError>>,
    mut failed: Option<ProcessError>,
) -> Ending {
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
    let reading = match reading.unwrap_or_else(|| ctx.processor.read(&message)) {
        Ok(reading) => reading,
        Err(error) => {
            return Ending::Failed {
                error,
                tries,
                reading: None,
            }
        }
    };
    loop {
        let error = match failed.take() {
            Some(error) => error,
            None => match ctx.processor.process_read(&message, &reading).await {
                Ok(outcome) => return Ending::Done(outcome),
                Err(error) => error,
            },
        };
        match delays.next() {
            Some(delay) if error.is_transient() => {
                let (source, event_id) = (&message.source, &message.event_id);
                tracing::info!(%source, %event_id, %error, tries, "transient failure; retrying");
                tokio::time::sleep(delay).await;
            }
            _ => {
                return Ending::Failed {
                    error,
                    tries,
                    reading: Some(Box::new(reading)),
                }
            }
        }
    }
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
