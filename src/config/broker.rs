//! `[rabbitmq]` and `[worker]`: the broker, the key that signs its messages, and the
//! worker pool that drains its queues.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{check_name, invalid, positive, ConfigError};
use crate::domain::Secret;

/// Most replicas a quorum queue may ask for: more than 7 only slows every write down.
const MAX_QUORUM_GROUP_SIZE: u32 = 7;

/// Shortest `rabbitmq.message_key` accepted.
const MIN_MESSAGE_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitConfig {
    /// One broker node (or a load balancer in front of a cluster). Use `urls` for several.
    pub url: Option<Secret>,
    /// The cluster's nodes: provisiond connects to the first that answers and moves to the
    /// next when a connection fails. A list, or one string of comma-separated URLs (for
    /// `PROVISIOND__RABBITMQ__URLS`).
    #[serde(deserialize_with = "url_list")]
    pub urls: Vec<Secret>,
    /// Replicas of each quorum queue provisiond declares (`x-quorum-initial-group-size`);
    /// unset: the broker's default, every node up to 3. Only applies when a queue is
    /// created: RabbitMQ refuses to redeclare an existing queue with another value.
    pub quorum_group_size: Option<u32>,
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
            url: None,
            urls: Vec::new(),
            quorum_group_size: None,
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

/// The broker provisiond uses when neither `rabbitmq.url` nor `rabbitmq.urls` is set.
pub const DEFAULT_BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl RabbitConfig {
    /// The broker's nodes in the order provisiond tries them: `urls`, else `url`, else the
    /// local default. Never empty.
    pub fn broker_urls(&self) -> Vec<Secret> {
        if !self.urls.is_empty() {
            return self.urls.clone();
        }
        let url = self.url.clone();
        vec![url.unwrap_or_else(|| Secret::new(DEFAULT_BROKER_URL))]
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.url.is_some() && !self.urls.is_empty() {
            return Err(invalid(
                "rabbitmq.urls",
                "set either rabbitmq.url (one node) or rabbitmq.urls (the cluster's nodes), \
                 not both",
            ));
        }
        let key = |i: usize| match self.url {
            Some(_) => "rabbitmq.url".to_owned(),
            None => format!("rabbitmq.urls[{i}]"),
        };
        for (i, url) in self.broker_urls().iter().enumerate() {
            let url = url.expose();
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(invalid(key(i), "must start with amqp:// or amqps://"));
            }
        }
        if let Some(size) = self.quorum_group_size {
            if !(1..=MAX_QUORUM_GROUP_SIZE).contains(&size) {
                let message = format!("must be between 1 and {MAX_QUORUM_GROUP_SIZE}");
                return Err(invalid("rabbitmq.quorum_group_size", message));
            }
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

/// A list of URLs, or one string of comma-separated URLs (what an environment variable
/// holds); blanks around commas are ignored.
fn url_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        List(Vec<String>),
        Joined(String),
    }
    let texts = match Urls::deserialize(deserializer)? {
        Urls::List(list) => list,
        Urls::Joined(joined) => joined.split(',').map(str::to_owned).collect(),
    };
    let texts = texts.iter().map(|t| t.trim()).filter(|t| !t.is_empty());
    let resolve = |t: &str| Secret::resolve(t).map_err(serde::de::Error::custom);
    texts.map(resolve).collect()
}

fn durations<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    let parse = |t: &String| humantime::parse_duration(t).map_err(serde::de::Error::custom);
    texts.iter().map(parse).collect()
}
