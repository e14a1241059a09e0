//! The deprovision report and the tamper-evident audit log, against real services. The
//! arithmetic tests insert fixture timelines with chosen timestamps; the flow tests go
//! through webhooks, a real HTTP target, the dead-letter log and replay.

mod chain;
mod evidence;
mod flows;
mod formats;
mod percentiles;

use std::process::Output;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

fn secs(s: f64) -> chrono::Duration {
    chrono::Duration::microseconds((s * 1_000_000.0).round() as i64)
}

/// A base time a day ago: inside the default 30-day window.
fn base() -> DateTime<Utc> {
    let now = Utc::now() - chrono::Duration::days(1);
    // Whole seconds, so every fixture time is exact.
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    pool: &PgPool,
    source: &str,
    employee: &str,
    event_id: &str,
    kind: &str,
    outcome: &str,
    trigger: &str,
    occurred: DateTime<Utc>,
    effective: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
    processed: DateTime<Utc>,
) {
    sqlx::query(
        "INSERT INTO events (source, event_id, employee_id, kind, outcome, trigger, occurred_at, \
         effective_at, received_at, published_at, processed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(source)
    .bind(event_id)
    .bind(employee)
    .bind(kind)
    .bind(outcome)
    .bind(trigger)
    .bind(occurred)
    .bind(effective)
    .bind(received)
    .bind(received + secs(0.001))
    .bind(processed)
    .execute(pool)
    .await
    .unwrap();
}

/// An applied termination received at `received`, directory revoked `latency` later.
async fn termination(
    pool: &PgPool,
    source: &str,
    employee: &str,
    received: DateTime<Utc>,
    latency: f64,
) -> String {
    let event_id = format!("ev_{employee}");
    let occurred = received - secs(3600.0);
    let processed = received + secs(latency);
    insert_event(
        pool,
        source,
        employee,
        &event_id,
        "terminated",
        "applied",
        "webhook",
        occurred,
        None,
        received,
        processed,
    )
    .await;
    event_id
}

async fn action(
    pool: &PgPool,
    event_id: &str,
    employee: &str,
    target: &str,
    status: &str,
    finished: Option<DateTime<Utc>>,
    error: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO provisioning_actions (source, event_id, employee_id, target, action, status, \
         attempts, error, started_at, finished_at) \
         VALUES ('hris', $1, $2, $3, 'deactivate', $4, 1, $5, $6, $6)",
    )
    .bind(event_id)
    .bind(employee)
    .bind(target)
    .bind(status)
    .bind(error)
    .bind(finished)
    .execute(pool)
    .await
    .unwrap();
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

/// The nearest-rank percentile, written independently of provisiond's.
fn rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len() as f64;
    let r = ((p / 100.0) * n - 1e-9).ceil().max(1.0) as usize;
    sorted[r - 1]
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

async fn dead_letter_id(app: &TestApp, event_id: &str) -> i64 {
    let letter = app.dead_letter(event_id).await;
    letter["id"].as_i64().expect("a dead letter has an id")
}

async fn insert_scheduled(
    pool: &PgPool,
    employee: &str,
    event_id: &str,
    status: &str,
    received: DateTime<Utc>,
    due: DateTime<Utc>,
) {
    sqlx::query(
        "INSERT INTO scheduled_terminations (source, employee_id, event_id, source_kind, body, \
         received_at, effective_at, due_at, status) \
         VALUES ('hris', $1, $2, 'standard-webhooks', '\\x7b7d', $3, $4, $4, $5)",
    )
    .bind(employee)
    .bind(event_id)
    .bind(received)
    .bind(due)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

/// `provisiond` run against `app`'s database, with a 15-minute deprovision SLA.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(args)
        .env_remove("PROVISIOND_CONFIG")
        .env("PROVISIOND__DATABASE__URL", &app.iso.database_url)
        .env("PROVISIOND__AUDIT__DEPROVISION_SLA", "15m")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("provisiond runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fixture: three completed terminations (one a breach), one failed on a target.
async fn mixed_fixture(pool: &PgPool) {
    let t0 = base();
    termination(pool, "hris", "ok1", t0, 0.5).await;
    termination(pool, "hris", "ok2", t0 + secs(60.0), 12.25).await;
    termination(pool, "hris", "slow, \"quoted\"", t0 + secs(120.0), 1800.0).await;
    let stuck = termination(pool, "hris", "stuck", t0 + secs(180.0), 0.2).await;
    action(
        pool,
        &stuck,
        "stuck",
        "product",
        "failed",
        Some(t0 + secs(181.0)),
        Some("http 400: <bad request>"),
    )
    .await;
}

fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
