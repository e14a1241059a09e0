//! Operator access to the dead-letter log, through the admin API and the `dlq` command.
//! Dead letters are written with provisiond's own `record` (as a worker would), holding
//! real canonical bodies, so a replay has something real for the worker to apply.

mod jobs;
mod log;
mod replay;

use crate::helpers::*;
use provisiond::store::dead_letters::{self, NewDeadLetter, Reason};
use provisiond::store::Actor;
use provisiond::Role;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

/// One dead letter written for a test.
struct Letter {
    id: i64,
    event_id: String,
    employee: String,
}

/// A dead-lettered hire for `source`, with an error chain and the headers a worker keeps.
async fn dead_letter(app: &TestApp, source: &str, reason: Reason) -> Letter {
    let employee = unique("dl");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let event_id = unique("msg");
    let id = record(app, source, &event_id, Some(&employee), reason, &body).await;
    Letter {
        id,
        event_id,
        employee,
    }
}

/// Discarded by a tester, as no longer wanted.
async fn discard(app: &TestApp, letter: &Letter) {
    let tester = Actor::named("tester");
    let discard = provisiond::services::dead_letters::discard;
    discard(&app.pool, letter.id, &tester, "not wanted")
        .await
        .unwrap();
}

async fn record(
    app: &TestApp,
    source: &str,
    event_id: &str,
    employee: Option<&str>,
    reason: Reason,
    body: &[u8],
) -> i64 {
    let source_kind = match source {
        "merge" => "merge",
        _ => "standard-webhooks",
    };
    let chain = [
        "target `directory` refused the event".to_owned(),
        "HTTP 400: bad request".to_owned(),
    ];
    let received = chrono::Utc::now() - chrono::Duration::minutes(5);
    let letter = NewDeadLetter {
        source,
        source_kind,
        event_id,
        employee_id: employee,
        kind: employee.map(|_| "created"),
        reason,
        body,
        headers: json!({"source": source, "event_id": event_id, "trigger": "webhook"}),
        last_error: "target `directory` refused the event",
        error_chain: &chain,
        attempts: 3,
        first_received_at: received,
        first_failed_at: Some(received + chrono::Duration::seconds(1)),
    };
    dead_letters::record(&app.pool, &letter).await.unwrap()
}

/// Start a bulk replay and wait for its job to end; returns the finished job.
async fn replay_job(app: &TestApp, body: Option<Value>, actor: Option<&str>) -> Value {
    let response = app
        .admin_send(ADMIN_TOKEN, "/admin/dead-letters/replay", body, actor)
        .await;
    let started = json_of(response, 202).await;
    let id = started["job"].as_i64().expect("a job id");
    let job = app.job_end(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job
}

async fn detail(app: &TestApp, id: i64) -> Value {
    json_of(
        app.admin_get(&format!("/admin/dead-letters/{id}")).await,
        200,
    )
    .await
}

async fn list(app: &TestApp, query: &str) -> Vec<i64> {
    let path = format!("/admin/dead-letters{query}");
    let rows = json_of(app.admin_get(&path).await, 200).await;
    let rows = rows.as_array().expect("an array").iter();
    rows.map(|row| row["id"].as_i64().unwrap()).collect()
}

/// A config file for the CLI that points at this test's database and broker prefix.
pub(crate) fn config_file(app: &TestApp) -> tempfile::NamedTempFile {
    let text = format!(
        "[database]\nurl = \"{}\"\n[rabbitmq]\nmessage_key = \"{MESSAGE_KEY}\"\nurl = \"{}\"\nprefix = \"{}\"\n",
        app.iso.database_url,
        amqp_url(),
        app.iso.prefix
    );
    temp_file(&text)
}

async fn dlq_as(config: &Path, user: Option<&str>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"));
    command.arg("--config").arg(config).arg("dlq").args(args);
    if let Some(user) = user {
        command.env("USER", user).env_remove("LOGNAME");
    }
    command.output().await.expect("provisiond runs")
}

pub(crate) async fn dlq(config: &Path, args: &[&str]) -> Output {
    dlq_as(config, None, args).await
}

pub(crate) fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "dlq failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "dlq should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_out(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("dlq prints JSON")
}

async fn status_of(app: &TestApp, id: i64) -> (String, i32) {
    sqlx::query_as("SELECT status, replay_count FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn trigger_of(app: &TestApp, event_id: &str) -> String {
    sqlx::query_scalar("SELECT trigger FROM events WHERE source = 'hris' AND event_id = $1")
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Wait for the worker to apply the replayed hire, and check it came from the replay.
async fn assert_applied(app: &TestApp, letter: &Letter) {
    let view = app.employee_after("hris", &letter.employee, 1).await;
    assert_eq!(view["status"], "active");
    assert_eq!(view["events"][0]["event_id"], letter.event_id.as_str());
    assert_eq!(view["events"][0]["outcome"], "applied");
    assert_eq!(trigger_of(app, &letter.event_id).await, "manual");
}
