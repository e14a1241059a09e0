//! A leaver never keeps or regains access: late retries, replays, batches, bare updates,
//! skewed sender clocks and long outages, each against real targets (a local HTTP product
//! endpoint and scim2-server), RabbitMQ and PostgreSQL.

mod clocks_and_outages;
mod late_deliveries;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::{Config, Role};
use serde_json::{json, Value};

use crate::dead_letters::{config_file, dlq, stdout};
use crate::helpers::*;
use crate::proxy::BrokerProxy;
use crate::scim::{scim_target, ScimServer};
use crate::target_server::TargetServer;

/// The test configuration with `extra` appended and `worker` keys replaced.
fn config(iso: &Isolation, extra: &str, worker: &[(&str, &str)]) -> Config {
    let mut text = test_config_text(iso, &amqp_url(), extra);
    for (key, value) in worker {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("test config has `{key}`"))
            .to_owned();
        text = text.replace(&line, &format!("{key} = {value}"));
    }
    Config::from_toml(&text).expect("valid config")
}

async fn spawn(extra: &str, worker: &[(&str, &str)]) -> TestApp {
    let iso = Isolation::new();
    spawn_with(config(&iso, extra, worker), iso, Role::All).await
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A canonical envelope; `status` goes into `data` when given.
fn envelope(kind: &str, employee: &str, timestamp: &str, status: Option<&str>) -> Vec<u8> {
    let mut data = json!({"id": employee, "email": format!("{employee}@example.com"),
                          "given_name": "Ada", "family_name": "Lovelace",
                          "department": "Sales", "title": format!("{kind} at {timestamp}")});
    if let Some(status) = status {
        data["status"] = json!(status);
    }
    json!({"type": format!("employee.{kind}"), "timestamp": timestamp, "data": data})
        .to_string()
        .into_bytes()
}

/// The envelope types the product received for one employee, in order.
fn calls_for(target: &TargetServer, employee: &str) -> Vec<String> {
    let requests = target.requests().into_iter();
    let mine = requests.filter(|r| r.body["data"]["id"] == employee);
    mine.map(|r| r.body["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn try_action(app: &TestApp, event_id: &str, target: &str) -> Option<(String, i32)> {
    sqlx::query_as(
        "SELECT status, attempts FROM provisioning_actions WHERE event_id = $1 AND target = $2",
    )
    .bind(event_id)
    .bind(target)
    .fetch_optional(&app.pool)
    .await
    .expect("the query runs")
}

async fn action(app: &TestApp, event_id: &str, target: &str) -> (String, i32) {
    let found = try_action(app, event_id, target).await;
    found.expect("the action exists")
}

/// Wait until `event_id` has been processed `n` times (any outcome), e.g. a retry or a
/// replay that found nothing left to do.
async fn wait_processed(app: &TestApp, event_id: &str, n: i64) {
    wait_for(&format!("{event_id} processed {n} times"), || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (count >= n).then_some(())
    })
    .await;
}

/// Post the hire of `employee` (2 March, 09:00); its event id.
async fn hire(app: &TestApp, employee: &str) -> String {
    let body = envelope("created", employee, "2026-03-02T09:00:00Z", None);
    app.send_hris(&body).await
}

/// Wait until a later delivery of `event_id` found nothing left to do (recorded as a
/// duplicate): a retry or replay has come back and been settled.
async fn wait_duplicate(app: &TestApp, event_id: &str) {
    wait_for(
        &format!("{event_id} to come back as a duplicate"),
        || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE event_id = $1 AND outcome = 'duplicate'",
            )
            .bind(event_id)
            .fetch_one(&app.pool)
            .await
            .ok()?;
            (n >= 1).then_some(())
        },
    )
    .await;
}

async fn dead_letters(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}
