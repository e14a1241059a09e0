//! Runner for the worker pool: a supervisor that (re)connects, declares the topology, sets
//! the prefetch and consumes; each delivery is processed in its own task, at most
//! `concurrency` at a time, and acked only after its transaction committed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::process::{ProcessError, Processor};
use crate::config::Secret;
use crate::queue::{connect, QueueMessage, ReconnectDelay, Topology};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub url: Secret,
    pub topology: Topology,
    pub prefetch: u16,
    pub concurrency: usize,
    /// How long shutdown waits for in-flight messages before closing anyway.
    pub drain_timeout: Duration,
}

/// A running pool; `is_consuming` feeds `/readyz`.
#[derive(Clone)]
pub struct WorkerPool {
    consuming: Arc<AtomicBool>,
}

impl WorkerPool {
    pub fn start(
        settings: WorkerSettings,
        processor: Processor,
        shutdown: CancellationToken,
    ) -> (WorkerPool, tokio::task::JoinHandle<()>) {
        let pool = WorkerPool {
            consuming: Arc::new(AtomicBool::new(false)),
        };
        let runner = Runner {
            settings,
            processor,
            consuming: pool.consuming.clone(),
        };
        (pool, tokio::spawn(runner.run(shutdown)))
    }

    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }
}

struct Runner {
    settings: WorkerSettings,
    processor: Processor,
    consuming: Arc<AtomicBool>,
}

impl Runner {
    async fn run(self, shutdown: CancellationToken) {
        let mut delay = ReconnectDelay::new();
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let result = self.session(&shutdown, &tracker).await;
            self.consuming.store(false, Ordering::Relaxed);
            if let Err(error) = result {
                if started.elapsed() > Duration::from_secs(30) {
                    delay.reset();
                }
                tracing::warn!(error = %error, "worker lost the broker; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(delay.next_delay()) => {}
                }
            }
        }
        tracker.close();
        tracker.wait().await;
        tracing::info!("worker pool stopped");
    }

    /// One connection's life: consume until shutdown (Ok) or a broker failure (Err).
    async fn session(
        &self,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> anyhow::Result<()> {
        let s = &self.settings;
        let connection = connect(s.url.expose(), "provisiond-worker").await?;
        let channel = connection.create_channel().await?;
        s.topology.declare(&channel).await?;
        channel
            .basic_qos(s.prefetch, BasicQosOptions::default())
            .await?;
        let queue = s.topology.work_queue.as_str();
        let options = BasicConsumeOptions::default();
        let mut consumer = channel
            .basic_consume(queue.into(), "".into(), options, FieldTable::default())
            .await?;
        self.consuming.store(true, Ordering::Relaxed);
        tracing::info!(queue, "worker consuming");
        let semaphore = Arc::new(Semaphore::new(s.concurrency));
        let result = loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                permit = semaphore.clone().acquire_owned() => permit?,
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = consumer.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    tracker.spawn(handle(self.processor.clone(), delivery, permit));
                }
                Some(Err(error)) => break Err(error.into()),
                None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
            }
        };
        self.consuming.store(false, Ordering::Relaxed);
        if result.is_ok() {
            self.drain(&channel, consumer.tag().as_str(), tracker).await;
        }
        close(&connection).await;
        result
    }

    /// Graceful stop: no new deliveries, finish (and ack) the ones in hand. Deliveries
    /// prefetched but not started return to the queue when the channel closes.
    async fn drain(&self, channel: &Channel, tag: &str, tracker: &TaskTracker) {
        let options = BasicCancelOptions::default();
        if let Err(error) = channel.basic_cancel(tag.into(), options).await {
            tracing::warn!(%error, "cannot cancel the consumer");
        }
        tracker.close();
        let timeout = self.settings.drain_timeout;
        if tokio::time::timeout(timeout, tracker.wait()).await.is_err() {
            tracing::warn!(
                ?timeout,
                "in-flight messages did not finish; they will be redelivered"
            );
        }
    }
}

/// Closing the connection closes its channel too; unacked deliveries return to the queue.
async fn close(connection: &Connection) {
    let _ = connection.close(200, "bye".into()).await;
}

/// Process one delivery and settle it: ack after commit, reject (dead-letter) permanent
/// failures, requeue transient ones and panics (the queue's delivery limit stops poison).
async fn handle(processor: Processor, delivery: Delivery, _permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let message = match QueueMessage::from_delivery(&delivery.properties, &delivery.data) {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(%error, "dead-lettering a message provisiond cannot read");
            settle_reject(&delivery).await;
            return;
        }
    };
    let (source, event_id) = (message.source.clone(), message.event_id.clone());
    // A separate task so that a panic while processing fails this message only.
    let result =
        tokio::spawn(async move { process_with_retries(&processor, &message).await }).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics::histogram!("provisiond_processing_duration_seconds").record(elapsed);
    match result {
        Ok(Ok(outcome)) => {
            metrics::counter!("provisiond_events_processed_total", "outcome" => outcome.as_str())
                .increment(1);
            tracing::debug!(%source, %event_id, outcome = outcome.as_str(), "processed");
            settle_ack(&delivery).await;
        }
        Ok(Err(error)) if error.is_transient() => {
            metrics::counter!("provisiond_events_failed_total", "class" => "transient")
                .increment(1);
            tracing::warn!(%source, %event_id, %error, "transient failure; requeueing");
            settle_requeue(&delivery).await;
        }
        Ok(Err(error)) => {
            metrics::counter!("provisiond_events_failed_total", "class" => "permanent")
                .increment(1);
            tracing::error!(%source, %event_id, %error, "permanent failure; dead-lettering");
            settle_reject(&delivery).await;
        }
        Err(panic) => {
            metrics::counter!("provisiond_events_failed_total", "class" => "panic").increment(1);
            tracing::error!(%source, %event_id, error = %panic, "processing panicked; requeueing");
            settle_requeue(&delivery).await;
        }
    }
}

/// In-process retries with exponential backoff and jitter ride out database restarts
/// (about half a minute) before the message is requeued: each requeue spends one of the
/// queue's delivery-limit budget, so requeueing at once would dead-letter on a blip.
async fn process_with_retries(
    processor: &Processor,
    message: &QueueMessage,
) -> Result<super::Outcome, ProcessError> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(10)
        .with_jitter();
    (|| processor.process(message))
        .retry(backoff)
        .when(ProcessError::is_transient)
        .await
}

// A failed ack/nack means the channel is gone: the broker will redeliver, and the inbox
// makes the redelivery harmless, so logging is all there is to do.
async fn settle_ack(delivery: &Delivery) {
    if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
        tracing::warn!(%error, "ack failed; the message will be redelivered");
    }
}

async fn settle_requeue(delivery: &Delivery) {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    if let Err(error) = delivery.nack(options).await {
        tracing::warn!(%error, "nack failed; the message will be redelivered");
    }
}

async fn settle_reject(delivery: &Delivery) {
    let options = BasicRejectOptions { requeue: false };
    if let Err(error) = delivery.reject(options).await {
        tracing::warn!(%error, "reject failed; the message will be redelivered");
    }
}
