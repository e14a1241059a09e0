//! Black-box helpers: each test gets its own database, its own queue prefix and its own
//! port, and talks to the real RabbitMQ and PostgreSQL.

mod app;
mod cli;
mod config;
mod db;
mod queue;
mod signing;
mod views;

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use app::*;
pub use cli::*;
pub use config::*;
pub use db::*;
pub use queue::*;
pub use signing::*;

pub const HRIS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const HRIS_OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const MERGE_SECRET: &str = "merge-signature-key-current";
pub const MERGE_OLD_SECRET: &str = "merge-signature-key-previous";
pub const WORKOS_SECRET: &str = "workos-secret-current";
pub const WORKOS_OLD_SECRET: &str = "workos-secret-previous";
/// Finch shows a plain base64 secret (this one is its SDK's test secret).
pub const FINCH_SECRET: &str = "5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// `rabbitmq.message_key` in tests: signs every queue message.
pub const MESSAGE_KEY: &str = "test-message-key-0123456789abcdef0123";
/// `worker.max_attempts` in tests.
pub const MAX_ATTEMPTS: u32 = 4;

/// The role that tests connect as; `.ci/run` and `scripts/test` create it.
pub fn admin_database_url() -> String {
    std::env::var("PROVISIOND_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://provisiond:provisiond@127.0.0.1:5432/provisiond".into())
}

pub fn amqp_url() -> String {
    std::env::var("PROVISIOND_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Names unique to one test.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub database_url: String,
    pub prefix: String,
}

impl Isolation {
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let base = admin_database_url();
        let (server, _) = base.rsplit_once('/').expect("database url has a path");
        Isolation {
            database_url: format!("{server}/provisiond_test_{}", &id[..16]),
            prefix: format!("test_{}", &id[..16]),
        }
    }
}

/// Poll `check` until it yields a value; panic with `what` after 30 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outcome of each of an employee view's events, in order.
pub fn outcomes(view: &Value) -> Vec<&str> {
    let events = view["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    events
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect()
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// CSV records (RFC 4180) as a spreadsheet would read them, the header row included.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let records = reader.records().map(|r| r.expect("valid CSV"));
    records
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// An RFC 3339 time, for fixtures written as text.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid RFC 3339")
        .with_timezone(&Utc)
}

/// xorshift64: reproducible pseudo-random choices without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The JSON body of `response`, whose status must be `status`.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(got, status, "body: {body}");
    body
}

/// The last entry of a dead letter's `actions`.
pub fn last_action(detail: &Value) -> &Value {
    let actions = detail["actions"].as_array().expect("actions array");
    actions.last().expect("at least one action")
}
