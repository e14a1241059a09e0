//! The receivers' publisher: one confirm-mode channel shared by every request, each
//! request awaiting its own broker confirm, and a supervisor that reconnects and
//! redeclares the topology whenever the connection or channel fails.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::Confirmation;
use lapin::{Channel, Connection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::topology::WORK_KEY;
use super::{BrokerError, Endpoints, MessageKey, ReconnectDelay, Topology};
use crate::domain::message::QueueMessage;

/// Why a publish was not confirmed; every case means "answer 503, the sender retries".
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the broker")]
    Unavailable,
    /// Not connected, and the last attempt said why.
    #[error("{0}")]
    Unreachable(BrokerError),
    #[error("broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker returned the message as unroutable")]
    Unroutable,
    #[error("broker nacked the message")]
    Nacked,
}

#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Endpoints,
    topology: Topology,
    confirm_timeout: Duration,
    /// Signs every message published.
    key: MessageKey,
    /// The live channel and its generation; `None` while reconnecting.
    current: RwLock<Option<(u64, Channel)>>,
    broken: Notify,
    /// Why the last attempt to connect failed, until one succeeds.
    last_error: RwLock<Option<BrokerError>>,
}

impl Publisher {
    /// Start the supervisor; the publisher is usable once it has connected.
    pub fn start(
        endpoints: Endpoints,
        topology: Topology,
        confirm_timeout: Duration,
        key: MessageKey,
        shutdown: CancellationToken,
    ) -> (Publisher, tokio::task::JoinHandle<()>) {
        let inner = Arc::new(Inner {
            endpoints,
            topology,
            confirm_timeout,
            key,
            current: RwLock::new(None),
            broken: Notify::new(),
            last_error: RwLock::new(None),
        });
        let publisher = Publisher { inner };
        let task = tokio::spawn(publisher.clone().supervise(shutdown));
        (publisher, task)
    }

    /// How many messages wait in each queue now, asked on a connection of its own.
    pub async fn depths(&self) -> Result<Vec<super::QueueDepth>, BrokerError> {
        let endpoints = self.inner.endpoints.fresh();
        super::depth::depths(&endpoints, &self.inner.topology).await
    }

    pub fn is_connected(&self) -> bool {
        let guard = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .is_some_and(|(_, ch)| ch.status().connected())
    }

    /// Wait until connected, for one-shot users such as the CLI's replay.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), PublishError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_connected() {
            if tokio::time::Instant::now() >= deadline {
                let last = self.inner.last_error.read();
                let last = last.unwrap_or_else(|e| e.into_inner()).clone();
                return Err(last.map_or(PublishError::Unavailable, PublishError::Unreachable));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    fn current(&self) -> Option<(u64, Channel)> {
        let guard = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }

    fn set_current(&self, value: Option<(u64, Channel)>) {
        let mut guard = self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *guard = value;
    }

    /// Drop the channel of generation `generation` (if still current) and reconnect.
    fn mark_broken(&self, generation: u64) {
        let mut guard = self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|(g, _)| *g == generation) {
            *guard = None;
            self.inner.broken.notify_one();
        }
    }

    /// Publish persistently and mandatorily; returns the publish time once the broker
    /// has confirmed. Anything short of a clean ack is an error.
    pub async fn publish(&self, message: &QueueMessage) -> Result<DateTime<Utc>, PublishError> {
        let exchange = self.inner.topology.exchange.as_str();
        self.publish_to(exchange, WORK_KEY, message).await
    }

    /// Park a message in a retry tier; it returns to the work queue after the tier's delay.
    pub async fn publish_retry(
        &self,
        tier_key: &str,
        message: &QueueMessage,
    ) -> Result<DateTime<Utc>, PublishError> {
        let exchange = self.inner.topology.retry_exchange.as_str();
        self.publish_to(exchange, tier_key, message).await
    }

    // DEBUG: nothing logs inside it at the default level, and an enabled span per publish
    // (formatted fields, enter and exit at every poll) was a measurable share of a
    // receiver's CPU per webhook.
    #[tracing::instrument(level = "debug", skip_all, fields(source = %message.source, event_id = %message.event_id))]
    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &QueueMessage,
    ) -> Result<DateTime<Utc>, PublishError> {
        let (generation, channel) = self.current().ok_or(PublishError::Unavailable)?;
        let published_at = Utc::now();
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let properties = message.properties(published_at, &self.inner.key);
        let confirmed = async {
            let body = &message.body;
            let pending = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    options,
                    body,
                    properties,
                )
                .await?;
            pending.await
        };
        let outcome = tokio::time::timeout(self.inner.confirm_timeout, confirmed).await;
        let result = match outcome {
            Err(_) => Err(PublishError::Timeout(self.inner.confirm_timeout)),
            Ok(Err(e)) => Err(PublishError::Broker(e)),
            Ok(Ok(Confirmation::Ack(None))) => return Ok(published_at),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::Unroutable),
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Unavailable),
        };
        // Timeouts, channel errors, returns and nacks all suggest a broken channel or
        // topology: rebuild both rather than keep failing on them. (After a quorum queue's
        // leader died, a channel can go on being nacked while a new one is not.)
        self.mark_broken(generation);
        result
    }

    async fn supervise(self, shutdown: CancellationToken) {
        let mut delay = ReconnectDelay::new();
        let mut generation = 0u64;
        while !shutdown.is_cancelled() {
            let opened = tokio::time::timeout(super::SETUP_TIMEOUT, self.open()).await;
            let opened = opened.unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the broker did not open a channel and confirm the topology within {:?}",
                    super::SETUP_TIMEOUT
                ))
            });
            match opened {
                Ok((connection, node, channel)) => {
                    generation += 1;
                    delay.reset();
                    self.set_last_error(None);
                    tracing::info!("publisher connected to the broker");
                    self.set_current(Some((generation, channel)));
                    let failed = self.hold(&connection, &shutdown).await;
                    self.set_current(None);
                    if failed {
                        // Another node first next time: this one may be gone.
                        self.inner.endpoints.failed(node);
                    }
                    let closing = connection.close(200, "bye".into());
                    let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
                }
                Err(error) => {
                    // The same failure again is not news: logged at WARN once, then DEBUG.
                    let text = error.to_string();
                    if self.set_last_error(error.downcast::<BrokerError>().ok()) {
                        tracing::warn!("publisher: {text}; retrying");
                    } else {
                        tracing::debug!("publisher: {text}; retrying");
                    }
                    let wait = delay.next_delay();
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Wait until the connection errors, a publish reports it broken, or shutdown; true
    /// when the connection itself failed.
    async fn hold(&self, connection: &Connection, shutdown: &CancellationToken) -> bool {
        let errored = async {
            let error = super::connection_lost(connection).await;
            tracing::warn!(%error, "publisher connection failed");
        };
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = self.inner.broken.notified() => false,
            _ = errored => true,
        }
    }

    /// Remember why connecting failed (`None`: it succeeded); true when that is news.
    fn set_last_error(&self, error: Option<BrokerError>) -> bool {
        let mut guard = self
            .inner
            .last_error
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let news = match (&*guard, &error) {
            (Some(old), Some(new)) => old.to_string() != new.to_string(),
            _ => true,
        };
        *guard = error;
        news
    }

    async fn open(&self) -> anyhow::Result<(Connection, usize, Channel)> {
        let connected = self.inner.endpoints.connect("provisiond-publisher").await?;
        let (connection, node) = (connected.connection, connected.node);
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.inner.topology.declare(&channel).await?;
        Ok((connection, node, channel))
    }
}
