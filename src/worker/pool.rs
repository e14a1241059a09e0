//! Runner for the worker pool: a supervisor that (re)connects, declares the topology, sets
//! the prefetch and consumes the work queue (and drains the broker's dead-letter queue);
//! deliveries that are ready together are handled as one batch in its own task, at most
//! `concurrency` batches at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::acks::{Acks, Received};
use super::handler::{drain_dead, handle_batch, Context};
use crate::config::Secret;
use crate::queue::{connect, ReconnectDelay, Topology};

/// Unacked deliveries of the broker's dead-letter queue held at once.
const DEAD_PREFETCH: u16 = 16;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub url: Secret,
    pub topology: Topology,
    pub prefetch: u16,
    /// Batches in flight at once.
    pub concurrency: usize,
    /// Most deliveries per batch.
    pub batch_size: usize,
    /// How long shutdown waits for in-flight messages before closing anyway.
    pub drain_timeout: Duration,
}

impl WorkerSettings {
    /// Batches in flight at once: `concurrency`, but no more than leave each batch room to
    /// fill from the prefetch window twice over (`prefetch / (2 * batch_size)`, at least
    /// one). More batches than that would only split the window into small batches.
    pub fn batches(&self) -> usize {
        let fill = usize::from(self.prefetch) / (2 * self.batch_size.max(1));
        self.concurrency.min(fill.max(1))
    }
}

/// A running pool; `is_consuming` feeds `/readyz`.
#[derive(Clone)]
pub struct WorkerPool {
    consuming: Arc<AtomicBool>,
}

impl WorkerPool {
    pub fn start(
        settings: WorkerSettings,
        context: Context,
        shutdown: CancellationToken,
    ) -> (WorkerPool, tokio::task::JoinHandle<()>) {
        let pool = WorkerPool {
            consuming: Arc::new(AtomicBool::new(false)),
        };
        let runner = Runner {
            settings,
            context,
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
    context: Context,
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
        // The broker's dead-letter queue on a channel of its own, so that the work
        // channel's multiple acks cover work deliveries only.
        let dead_channel = connection.create_channel().await?;
        dead_channel
            .basic_qos(DEAD_PREFETCH, BasicQosOptions::default())
            .await?;
        let mut work = consume(&channel, &s.topology.work_queue).await?;
        let mut dead = consume(&dead_channel, &s.topology.dead_queue).await?;
        let (work_acks, dead_acks) = (Acks::new(channel.clone()), Acks::new(dead_channel.clone()));
        self.consuming.store(true, Ordering::Relaxed);
        tracing::info!(
            queue = %s.topology.work_queue,
            batches = s.batches(),
            batch_size = s.batch_size,
            "worker consuming"
        );
        let semaphore = Arc::new(Semaphore::new(s.batches()));
        let result = loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                permit = semaphore.clone().acquire_owned() => permit?,
            };
            let context = self.context.clone();
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = work.next() => match next {
                    Some(Ok(delivery)) => {
                        let first = work_acks.receive(delivery);
                        let (batch, error) =
                            take_ready(&mut work, &work_acks, first, s.batch_size);
                        tracker.spawn(async move {
                            handle_batch(context, batch).await;
                            drop(permit);
                        });
                        if let Some(error) = error {
                            break Err(error);
                        }
                        continue;
                    }
                    Some(Err(error)) => break Err(error.into()),
                    None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
                },
                next = dead.next() => match next {
                    Some(Ok(delivery)) => {
                        let delivery = dead_acks.receive(delivery);
                        tracker.spawn(async move {
                            drain_dead(context, delivery).await;
                            drop(permit);
                        })
                    }
                    Some(Err(error)) => break Err(error.into()),
                    None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
                },
            };
        };
        self.consuming.store(false, Ordering::Relaxed);
        if result.is_ok() {
            let consumers = [(&channel, &work), (&dead_channel, &dead)];
            self.drain(&consumers, tracker).await;
            work_acks.flush().await;
            dead_acks.flush().await;
        }
        close(&connection).await;
        result
    }

    /// Graceful stop: no new deliveries, finish (and ack) the ones in hand. Deliveries
    /// prefetched but not started return to the queue when the channel closes.
    async fn drain(&self, consumers: &[(&Channel, &Consumer)], tracker: &TaskTracker) {
        for (channel, consumer) in consumers {
            let options = BasicCancelOptions::default();
            if let Err(error) = channel.basic_cancel(consumer.tag(), options).await {
                tracing::warn!(%error, "cannot cancel the consumer");
            }
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

/// `first` and whatever else the broker has already delivered, up to `limit` in all:
/// nothing waits for a batch to fill. An error ends the batch (and then the session).
fn take_ready(
    work: &mut Consumer,
    acks: &Acks,
    first: Received,
    limit: usize,
) -> (Vec<Received>, Option<anyhow::Error>) {
    let mut batch = vec![first];
    while batch.len() < limit {
        match work.next().now_or_never() {
            Some(Some(Ok(delivery))) => batch.push(acks.receive(delivery)),
            Some(Some(Err(error))) => return (batch, Some(error.into())),
            Some(None) => {
                let error = anyhow::anyhow!("the broker cancelled the consumer");
                return (batch, Some(error));
            }
            None => break,
        }
    }
    (batch, None)
}

/// Closing the connection closes its channel too; unacked deliveries return to the queue.
async fn consume(channel: &Channel, queue: &str) -> lapin::Result<Consumer> {
    let options = BasicConsumeOptions::default();
    channel
        .basic_consume(queue.into(), "".into(), options, FieldTable::default())
        .await
}

async fn close(connection: &Connection) {
    let _ = connection.close(200, "bye".into()).await;
}
