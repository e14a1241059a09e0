//! Exchanges and queues, named from `rabbitmq.prefix` and declared idempotently at start
//! (and again after every reconnect).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

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
        }
    }

    /// Declare everything; safe to call any number of times with the same settings.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        declare_exchange(channel, &self.exchange).await?;
        declare_exchange(channel, &self.dead_exchange).await?;
        let dead_args = quorum_args();
        declare_queue(channel, &self.dead_queue, dead_args).await?;
        bind(channel, &self.dead_queue, &self.dead_exchange, DEAD_KEY).await?;
        declare_queue(channel, &self.work_queue, self.work_args()).await?;
        bind(channel, &self.work_queue, &self.exchange, WORK_KEY).await
    }

    /// Poison messages past the delivery limit are dead-lettered at least once: the
    /// broker keeps them until the dead-letter queue confirms, so none are dropped.
    fn work_args(&self) -> FieldTable {
        let mut args = quorum_args();
        let limit = i64::from(self.delivery_limit);
        args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
        insert_str(&mut args, "x-dead-letter-exchange", &self.dead_exchange);
        insert_str(&mut args, "x-dead-letter-routing-key", DEAD_KEY);
        insert_str(&mut args, "x-dead-letter-strategy", "at-least-once");
        insert_str(&mut args, "x-overflow", "reject-publish");
        args
    }
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    insert_str(&mut args, "x-queue-type", "quorum");
    args
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
