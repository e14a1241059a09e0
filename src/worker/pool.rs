//! Runner for the worker pool: a supervisor that (re)connects, declares the topology, sets
//! the prefetch and consumes the work queue (and drains the broker's dead-letter queue);
//! deliveries that are ready together are handled as one batch in its own task, at most
//! `concurrency` batches at a time — across sessions: the tasks of a session the broker
//! dropped keep their permits until they end. On shutdown in-flight batches get
//! `drain_timeout`, then they are cancelled (their deliveries requeued) and the connection
//! is closed, each step bounded. A watchdog reports a pool that holds deliveries and
//! settles none for `stall_timeout`.

use std::panic::AssertUnwindSafe;
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
use super::watchdog::{self, Progress};
use crate::queue::{Endpoints, ReconnectDelay, Topology, SETUP_TIMEOUT};

/// Unacked deliveries of the broker's dead-letter queue held at once.
const DEAD_PREFETCH: u16 = 16;

/// After `drain_timeout`, how long cancelled tasks get to let go of their deliveries, the
/// queued acks to go out, and the broker to confirm the close: each step, at most.
const AFTER_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The broker's nodes; the pool moves to the next when its connection fails.
    pub endpoints: Endpoints,
    pub topology: Topology,
    pub prefetch: u16,
    /// Batches in flight at once.
    pub concurrency: usize,
    /// Most deliveries per batch.
    pub batch_size: usize,
    /// How long shutdown waits for in-flight messages before cancelling them.
    pub drain_timeout: Duration,
    /// Deliveries held with none settled for this long: the pool is stalled.
    pub stall_timeout: Duration,
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

/// A running pool; `is_consuming` and `stalled` feed `/readyz`.
#[derive(Clone)]
pub struct WorkerPool {
    consuming: Arc<AtomicBool>,
    progress: Arc<Progress>,
    stall_timeout: Duration,
}

impl WorkerPool {
    pub fn start(
        settings: WorkerSettings,
        context: Context,
        shutdown: CancellationToken,
    ) -> (WorkerPool, tokio::task::JoinHandle<()>) {
        let pool = WorkerPool {
            consuming: Arc::new(AtomicBool::new(false)),
            progress: Arc::default(),
            stall_timeout: settings.stall_timeout,
        };
        let runner = Runner {
            semaphore: Arc::new(Semaphore::new(settings.batches())),
            settings,
            context,
            consuming: pool.consuming.clone(),
            progress: pool.progress.clone(),
        };
        let progress = pool.progress.clone();
        tokio::spawn(watchdog::run(
            progress,
            pool.stall_timeout,
            shutdown.clone(),
        ));
        (pool, tokio::spawn(runner.run(shutdown)))
    }

    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Deliveries held unsettled and none settled for longer than `stall_timeout`: a
    /// handler is stuck, and the prefetch window may be full of them.
    pub fn stalled(&self) -> bool {
        self.progress.stalled(self.stall_timeout).is_some()
    }
}

struct Runner {
    settings: WorkerSettings,
    context: Context,
    consuming: Arc<AtomicBool>,
    progress: Arc<Progress>,
    /// Batch permits shared by every session, so a dead session's tasks still count.
    semaphore: Arc<Semaphore>,
}

/// The pool's batch tasks, over every session, and the token that cancels them.
struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    /// Run `work` as a task that a panic or [`Tasks::stop`] ends; either way the
    /// deliveries it holds are dropped, and so requeued.
    fn spawn<F>(&self, work: F, permit: tokio::sync::OwnedSemaphorePermit)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                ended = AssertUnwindSafe(work).catch_unwind() => if ended.is_err() {
                    metrics::counter!("provisiond_worker_panics_total").increment(1);
                    tracing::error!("a worker task panicked; its unsettled deliveries were requeued");
                }
            }
            drop(permit);
        });
    }

    /// Wait up to `timeout` for the tasks to finish, then cancel the rest and give them
    /// [`AFTER_DRAIN`] to let go (a task blocked outside an await point cannot be stopped).
    async fn stop(&self, timeout: Duration) {
        if self.cancel.is_cancelled() {
            return;
        }
        self.tracker.close();
        if tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            ?timeout,
            tasks = self.tracker.len(),
            "in-flight messages did not finish; cancelling them (they will be redelivered)"
        );
        self.cancel.cancel();
        if tokio::time::timeout(AFTER_DRAIN, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(
                tasks = self.tracker.len(),
                "worker tasks did not stop after cancellation; leaving them behind"
            );
        }
    }
}

impl Runner {
    async fn run(self, shutdown: CancellationToken) {
        let mut delay = ReconnectDelay::new();
        let tasks = Tasks {
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
        };
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let result = self.session(&shutdown, &tasks).await;
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
        // Tasks of a session the broker dropped, if shutdown came while reconnecting.
        tasks.stop(self.settings.drain_timeout).await;
        tracing::info!("worker pool stopped");
    }

    /// One connection's life: consume until shutdown (Ok) or a broker failure (Err).
    async fn session(&self, shutdown: &CancellationToken, tasks: &Tasks) -> anyhow::Result<()> {
        let s = &self.settings;
        let connected = s.endpoints.connect("provisiond-worker").await?;
        let (connection, node) = (connected.connection, connected.node);
        let result = self.consume_on(&connection, shutdown, tasks).await;
        if result.is_err() {
            // Another node first next time: this one may be gone.
            s.endpoints.failed(node);
        }
        close(&connection).await;
        result
    }

    /// Consume on `connection` until shutdown (Ok) or a broker failure (Err).
    async fn consume_on(
        &self,
        connection: &Connection,
        shutdown: &CancellationToken,
        tasks: &Tasks,
    ) -> anyhow::Result<()> {
        let s = &self.settings;
        let setup = tokio::time::timeout(SETUP_TIMEOUT, self.setup(connection)).await;
        let (channel, dead_channel, mut work, mut dead) = setup.map_err(|_| {
            anyhow::anyhow!("the broker did not set up the consumers within {SETUP_TIMEOUT:?}")
        })??;
        let progress = &self.progress;
        let work_acks = Acks::new(channel.clone(), progress.clone());
        let dead_acks = Acks::new(dead_channel.clone(), progress.clone());
        progress.restarted();
        self.consuming.store(true, Ordering::Relaxed);
        tracing::info!(
            queue = %s.topology.work_queue,
            batches = s.batches(),
            batch_size = s.batch_size,
            "worker consuming"
        );
        let lost = crate::queue::connection_lost(connection);
        tokio::pin!(lost);
        let result = loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                error = &mut lost => break Err(error),
                permit = self.semaphore.clone().acquire_owned() => permit?,
            };
            let context = self.context.clone();
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                error = &mut lost => break Err(error),
                next = work.next() => match next {
                    Some(Ok(delivery)) => {
                        let first = work_acks.receive(delivery);
                        let (batch, error) =
                            take_ready(&mut work, &work_acks, first, s.batch_size);
                        tasks.spawn(handle_batch(context, batch), permit);
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
                        tasks.spawn(drain_dead(context, delivery), permit)
                    }
                    Some(Err(error)) => break Err(error.into()),
                    None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
                },
            };
        };
        self.consuming.store(false, Ordering::Relaxed);
        if result.is_ok() {
            let consumers = [(&channel, &work), (&dead_channel, &dead)];
            self.drain(&consumers, tasks).await;
            for acks in [&work_acks, &dead_acks] {
                if tokio::time::timeout(AFTER_DRAIN, acks.flush())
                    .await
                    .is_err()
                {
                    tracing::warn!("acks not all sent; those messages will be redelivered");
                }
            }
        }
        result
    }

    /// The work channel (topology declared, prefetch set) and the dead-letter channel,
    /// each with its consumer.
    async fn setup(
        &self,
        connection: &Connection,
    ) -> anyhow::Result<(Channel, Channel, Consumer, Consumer)> {
        let s = &self.settings;
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
        let work = consume(&channel, &s.topology.work_queue).await?;
        let dead = consume(&dead_channel, &s.topology.dead_queue).await?;
        Ok((channel, dead_channel, work, dead))
    }

    /// Graceful stop: no new deliveries, finish (and ack) the ones in hand within
    /// `drain_timeout`, then cancel the rest (their deliveries are requeued). Deliveries
    /// prefetched but not started return to the queue when the channel closes.
    async fn drain(&self, consumers: &[(&Channel, &Consumer)], tasks: &Tasks) {
        for (channel, consumer) in consumers {
            let options = BasicCancelOptions::default();
            let cancel = channel.basic_cancel(consumer.tag(), options);
            match tokio::time::timeout(AFTER_DRAIN, cancel).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "cannot cancel the consumer"),
                Err(_) => tracing::warn!("the broker did not confirm the consumer's cancel"),
            }
        }
        tasks.stop(self.settings.drain_timeout).await;
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

/// Bounded: a broker that does not answer the close does not hold up shutdown.
async fn close(connection: &Connection) {
    let _ = tokio::time::timeout(AFTER_DRAIN, connection.close(200, "bye".into())).await;
}
