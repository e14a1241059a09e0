//! Exchanges and queues, named from `rabbitmq.prefix` and declared idempotently at start
//! (and again after every reconnect).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};
use std::time::Duration;

/// Every name provisiond uses on the broker.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Direct exchange receivers publish to.
    pub exchange: String,
    /// Quorum work queue the worker pool consumes.
    pub work_queue: String,
    /// Dead-letter exchange of the work queue (poison messages, permanent failures).
    pub dead_exchange: String,
    /// Quorum queue behind the dead-letter exchange.
    pub dead_queue: String,
    pub delivery_limit: u32,
    /// `x-quorum-initial-group-size` of every queue; `None`: the broker's default.
    pub quorum_group_size: Option<u32>,
    /// Exchange of the retry tiers; routing key = the tier's name.
    pub retry_exchange: String,
    /// One TTL queue per configured delay, dead-lettering back to the work queue.
    pub retry_tiers: Vec<RetryTier>,
}

/// A retry queue: messages wait `delay` (TTL) and then return to the work queue. One queue
/// per delay because TTL only expires at the head of a queue.
#[derive(Debug, Clone)]
pub struct RetryTier {
    pub delay: Duration,
    /// Routing key and queue suffix, e.g. `5000ms`: a changed delay gets a new queue.
    pub key: String,
    pub queue: String,
}

pub const WORK_KEY: &str = "work";
pub const DEAD_KEY: &str = "dead";

impl Topology {
    pub fn new(prefix: &str, delivery_limit: u32) -> Self {
        Topology {
            exchange: format!("{prefix}.events"),
            work_queue: format!("{prefix}.work"),
            dead_exchange: format!("{prefix}.dlx"),
            dead_queue: format!("{prefix}.dead"),
            delivery_limit,
            quorum_group_size: None,
            retry_exchange: format!("{prefix}.retry"),
            retry_tiers: Vec::new(),
        }
    }

    /// Every name and setting from the configuration: prefix, delivery limit, quorum
    /// group size and the worker's retry tiers.
    pub fn for_config(config: &crate::config::Config) -> Self {
        let rabbitmq = &config.rabbitmq;
        let mut topology = Topology::new(&rabbitmq.prefix, rabbitmq.delivery_limit)
            .with_retry_delays(&config.worker.retry_delays);
        topology.quorum_group_size = rabbitmq.quorum_group_size;
        topology
    }

    pub fn with_retry_delays(mut self, delays: &[Duration]) -> Self {
        let prefix = self.exchange.trim_end_matches(".events").to_owned();
        self.retry_tiers = delays
            .iter()
            .map(|delay| {
                let key = format!("{}ms", delay.as_millis());
                let queue = format!("{prefix}.retry.{key}");
                RetryTier {
                    delay: *delay,
                    key,
                    queue,
                }
            })
            .collect();
        self
    }

    /// Every queue provisiond declares (tests delete them).
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.work_queue.clone(), self.dead_queue.clone()];
        queues.extend(self.retry_tiers.iter().map(|t| t.queue.clone()));
        queues
    }

    pub fn exchanges(&self) -> Vec<String> {
        let names = [&self.exchange, &self.dead_exchange, &self.retry_exchange];
        names.into_iter().cloned().collect()
    }

    /// Declare everything; safe to call any number of times with the same settings.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        declare_exchange(channel, &self.exchange).await?;
        declare_exchange(channel, &self.dead_exchange).await?;
        let dead_args = self.quorum_args();
        declare_queue(channel, &self.dead_queue, dead_args).await?;
        bind(channel, &self.dead_queue, &self.dead_exchange, DEAD_KEY).await?;
        declare_queue(channel, &self.work_queue, self.work_args()).await?;
        bind(channel, &self.work_queue, &self.exchange, WORK_KEY).await?;
        declare_exchange(channel, &self.retry_exchange).await?;
        for tier in &self.retry_tiers {
            declare_queue(channel, &tier.queue, self.retry_args(tier)).await?;
            bind(channel, &tier.queue, &self.retry_exchange, &tier.key).await?;
        }
        Ok(())
    }

    /// A retry queue holds each message for its delay, then dead-letters it (at least
    /// once) back to the work queue.
    fn retry_args(&self, tier: &RetryTier) -> FieldTable {
        let mut args = self.quorum_args();
        let ttl = i64::try_from(tier.delay.as_millis()).unwrap_or(i64::MAX);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        insert_str(&mut args, "x-dead-letter-exchange", &self.exchange);
        insert_str(&mut args, "x-dead-letter-routing-key", WORK_KEY);
        insert_str(&mut args, "x-dead-letter-strategy", "at-least-once");
        insert_str(&mut args, "x-overflow", "reject-publish");
        args
    }

    /// Poison messages past the delivery limit are dead-lettered at least once: the
    /// broker keeps them until the dead-letter queue confirms, so none are dropped.
    fn work_args(&self) -> FieldTable {
        let mut args = self.quorum_args();
        let limit = i64::from(self.delivery_limit);
        args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
        insert_str(&mut args, "x-dead-letter-exchange", &self.dead_exchange);
        insert_str(&mut args, "x-dead-letter-routing-key", DEAD_KEY);
        insert_str(&mut args, "x-dead-letter-strategy", "at-least-once");
        insert_str(&mut args, "x-overflow", "reject-publish");
        args
    }

    /// A quorum queue, replicated on `quorum_group_size` nodes when set.
    fn quorum_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        insert_str(&mut args, "x-queue-type", "quorum");
        if let Some(size) = self.quorum_group_size {
            let size = AMQPValue::LongLongInt(i64::from(size));
            args.insert("x-quorum-initial-group-size".into(), size);
        }
        args
    }
}

fn insert_str(args: &mut FieldTable, key: &str, value: &str) {
    let value = AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()));
    args.insert(ShortString::from(key), value);
}

async fn declare_exchange(channel: &Channel, name: &str) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let kind = ExchangeKind::Direct;
    channel
        .exchange_declare(name.into(), kind, options, FieldTable::default())
        .await
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel.queue_declare(name.into(), options, args).await?;
    Ok(())
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    let options = QueueBindOptions::default();
    let args = FieldTable::default();
    channel
        .queue_bind(queue.into(), exchange.into(), key.into(), options, args)
        .await
}
