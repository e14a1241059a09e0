//! `[rabbitmq]` and `[worker]`: the broker, the key that signs its messages, and the
//! worker pool that drains its queues.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{check_name, invalid, positive, ConfigError};
use crate::domain::Secret;

/// Shortest `rabbitmq.message_key` accepted.
const MIN_MESSAGE_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitConfig {
    pub url: Secret,
    pub prefix: String,
    pub prefetch: u16,
    /// Quorum queue `x-delivery-limit`: deliveries before a message is dead-lettered as poison.
    pub delivery_limit: u32,
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// Seconds sent in `Retry-After` when the broker cannot confirm a publish.
    pub retry_after_secs: u32,
    /// The internal key that signs every queue message (required to publish or consume).
    pub message_key: Option<Secret>,
    /// Keys being rotated out: messages they signed are still accepted, none is signed.
    pub previous_message_keys: Vec<Secret>,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "provisiond".into(),
            prefetch: 128,
            delivery_limit: 10,
            confirm_timeout: Duration::from_secs(5),
            retry_after_secs: 5,
            message_key: None,
            previous_message_keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Batches (database transactions) in flight at once.
    pub concurrency: usize,
    /// Most deliveries recorded in one transaction: the worker takes what the broker has
    /// already delivered, up to this many, so a busy queue is drained in batches while a
    /// quiet one still goes message by message.
    pub batch_size: usize,
    pub max_attempts: u32,
    /// Quick in-process retries (exponential backoff with jitter) before a broker retry tier.
    pub quick_retries: u32,
    /// How often the scheduler looks for terminations that have become due.
    #[serde(with = "humantime_serde")]
    pub scheduler_interval: Duration,
    /// Broker retry tiers: the n-th redelivery waits the n-th delay, the last repeats.
    #[serde(deserialize_with = "durations")]
    pub retry_delays: Vec<Duration>,
    /// A termination is retried at least this long (from its first failure) before it is
    /// dead-lettered, whatever `max_attempts` says.
    #[serde(with = "humantime_serde")]
    pub termination_retry_for: Duration,
    /// Deliveries held and none settled for this long: the worker is stalled, and
    /// `/readyz` answers 503. Longer than a batch's slowest target calls with retries.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
}

impl Default for WorkerConfig {
    /// Ten deliveries 10 s, 1 min, 10 min, 1 h, 6 h, then every 6 h apart: a target down
    /// for 31 hours is caught up without an operator (a termination: 72 hours).
    fn default() -> Self {
        let secs = [10, 60, 600, 3600, 6 * 3600];
        Self {
            concurrency: 16,
            batch_size: 32,
            max_attempts: 10,
            quick_retries: 2,
            scheduler_interval: Duration::from_secs(1),
            retry_delays: secs.into_iter().map(Duration::from_secs).collect(),
            termination_retry_for: Duration::from_secs(72 * 3600),
            stall_timeout: Duration::from_secs(5 * 60),
        }
    }
}

impl RabbitConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let url = self.url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(invalid(
                "rabbitmq.url",
                "must start with amqp:// or amqps://",
            ));
        }
        check_name("rabbitmq.prefix", &self.prefix)?;
        positive("rabbitmq.prefetch", self.prefetch)?;
        positive("rabbitmq.delivery_limit", self.delivery_limit)?;
        self.validate_message_keys()
    }

    /// The current key and those being rotated out are all long enough.
    fn validate_message_keys(&self) -> Result<(), ConfigError> {
        let current = self.message_key.iter().map(|secret| {
            let key = "rabbitmq.message_key".to_owned();
            (key, secret)
        });
        let previous = self.previous_message_keys.iter().enumerate();
        let previous = previous.map(|(i, secret)| {
            let key = format!("rabbitmq.previous_message_keys[{i}]");
            (key, secret)
        });
        for (key, secret) in current.chain(previous) {
            if secret.expose().len() < MIN_MESSAGE_KEY_LEN {
                let message = format!("must be at least {MIN_MESSAGE_KEY_LEN} characters");
                return Err(invalid(key, message));
            }
        }
        Ok(())
    }
}

impl WorkerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        positive("worker.concurrency", self.concurrency)?;
        positive("worker.batch_size", self.batch_size)?;
        positive("worker.max_attempts", self.max_attempts)?;
        if self.retry_delays.is_empty() {
            return Err(invalid(
                "worker.retry_delays",
                "at least one delay is required",
            ));
        }
        if self.retry_delays.iter().any(Duration::is_zero) {
            return Err(invalid(
                "worker.retry_delays",
                "delays must be greater than 0",
            ));
        }
        positive("worker.stall_timeout", self.stall_timeout)
    }
}

fn durations<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    let parse = |t: &String| humantime::parse_duration(t).map_err(serde::de::Error::custom);
    texts.iter().map(parse).collect()
}
