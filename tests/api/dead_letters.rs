//! Operator access to the dead-letter log, through the admin API and the `dlq` command.
//! Dead letters are written with provisiond's own `record` (as a worker would), holding
//! real canonical bodies, so a replay has something real for the worker to apply.

use std::path::Path;
use std::process::Output;

use provisiond::store::dead_letters::{self, NewDeadLetter, Reason};
use provisiond::store::Actor;
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

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

#[tokio::test]
async fn dead_letters_are_listed_newest_first_and_filtered_in_the_api_and_the_cli() {
    let app = spawn_app(Role::Receiver).await;
    let old = dead_letter(&app, "hris", Reason::PermanentError).await;
    let merge = dead_letter(&app, "merge", Reason::AttemptsExhausted).await;
    let raw = record(
        &app,
        "hris",
        &unique("raw"),
        None,
        Reason::Unparseable,
        b"not json",
    )
    .await;
    sqlx::query(
        "UPDATE dead_letters SET dead_lettered_at = now() - interval '3 days' WHERE id = $1",
    )
    .bind(old.id)
    .execute(&app.pool)
    .await
    .unwrap();

    let rows = json_of(app.admin_get("/admin/dead-letters").await, 200).await;
    let rows = rows.as_array().expect("an array");
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [raw, merge.id, old.id]);
    for row in rows {
        for key in [
            "id",
            "source",
            "event_id",
            "employee_id",
            "kind",
            "reason",
            "status",
            "attempts",
            "last_error",
            "dead_lettered_at",
            "replay_count",
            "first_received_at",
        ] {
            assert!(row.get(key).is_some(), "a summary lacks {key}: {row}");
        }
        assert!(row.get("body").is_none(), "a summary carries no body");
    }
    let row = &rows[1];
    assert_eq!(row["source"], "merge");
    assert_eq!(row["event_id"], merge.event_id.as_str());
    assert_eq!(row["employee_id"], merge.employee.as_str());
    assert_eq!(row["kind"], "created");
    assert_eq!(row["reason"], "attempts_exhausted");
    assert_eq!(row["status"], "dead");
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_error"], "target `directory` refused the event");
    assert_eq!(row["replay_count"], 0);
    assert!(rows[0]["employee_id"].is_null());

    assert_eq!(list(&app, "?source=hris").await, [raw, old.id]);
    assert_eq!(list(&app, "?reason=attempts_exhausted").await, [merge.id]);
    assert_eq!(list(&app, "?status=dead&limit=1").await, [raw]);
    assert!(list(&app, "?status=replayed").await.is_empty());
    assert_eq!(list(&app, "?since=2d").await, [raw, merge.id]);
    let four_days_ago = (chrono::Utc::now() - chrono::Duration::days(4)).to_rfc3339();
    let query = format!("?since={}", four_days_ago.replace('+', "%2B"));
    assert_eq!(list(&app, &query).await.len(), 3);
    assert_eq!(list(&app, "?source=&reason=&status=").await.len(), 3);
    for bad in ["?status=gone", "?reason=boom", "?since=soon", "?limit=0"] {
        let response = app.admin_get(&format!("/admin/dead-letters{bad}")).await;
        let body = json_of(response, 400).await;
        assert_eq!(body["error"], "bad_request");
    }

    let config = config_file(&app);
    let everything = json_out(&dlq(config.path(), &["list", "--format", "json"]).await);
    let api = json_of(app.admin_get("/admin/dead-letters").await, 200).await;
    assert_eq!(everything, api);
    let args = [
        "list", "--source", "hris", "--since", "2d", "--format", "json",
    ];
    let recent_hris = json_out(&dlq(config.path(), &args).await);
    assert_eq!(recent_hris.as_array().unwrap().len(), 1);
    assert_eq!(recent_hris[0]["id"], raw);
    let args = ["list", "--reason", "attempts_exhausted", "--format", "json"];
    let exhausted = json_out(&dlq(config.path(), &args).await);
    assert_eq!(exhausted[0]["id"], merge.id);
    let args = ["list", "--status", "discarded", "--format", "json"];
    assert_eq!(json_out(&dlq(config.path(), &args).await), json!([]));
    let table = stdout(&dlq(config.path(), &["list"]).await);
    assert!(table.contains(&merge.event_id), "table: {table}");
    assert!(table.contains("attempts_exhausted"), "table: {table}");
    let refused = stderr(&dlq(config.path(), &["list", "--status", "gone"]).await);
    assert!(refused.contains("gone"), "stderr: {refused}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_dead_letter_shows_its_body_headers_error_chain_and_actions() {
    let app = spawn_app(Role::Receiver).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["id"], letter.id);
    assert_eq!(shown["source_kind"], "standard-webhooks");
    assert_eq!(shown["status"], "dead");
    assert_eq!(shown["body_encoding"], "utf-8");
    let body: Value = serde_json::from_str(shown["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["id"], letter.employee.as_str());
    assert_eq!(shown["headers"]["event_id"], letter.event_id.as_str());
    assert_eq!(
        shown["error_chain"],
        json!([
            "target `directory` refused the event",
            "HTTP 400: bad request"
        ])
    );
    assert!(!shown["first_failed_at"].is_null());
    let actions = shown["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["action"], "dead_lettered");
    assert_eq!(actions[0]["actor"], "provisiond");
    assert_eq!(actions[0]["reason"], "permanent_error");
    assert!(!actions[0]["at"].is_null());

    let binary = [0xff, 0xfe, 0x00, b'A'];
    let raw = record(
        &app,
        "hris",
        &unique("bin"),
        None,
        Reason::Unparseable,
        &binary,
    )
    .await;
    let shown_raw = detail(&app, raw).await;
    assert_eq!(shown_raw["body_encoding"], "base64");
    assert_eq!(shown_raw["body"], "//4AQQ==");

    for missing in ["/admin/dead-letters/999999", "/admin/dead-letters/abc"] {
        let body = json_of(app.admin_get(missing).await, 404).await;
        assert_eq!(body["error"], "unknown_dead_letter");
    }

    let config = config_file(&app);
    let id = letter.id.to_string();
    assert_eq!(json_out(&dlq(config.path(), &["show", &id]).await), shown);
    let table = stdout(&dlq(config.path(), &["show", &id, "--format", "table"]).await);
    assert!(table.contains(&letter.event_id), "table: {table}");
    assert!(table.contains("HTTP 400: bad request"), "table: {table}");
    assert!(table.contains("dead_lettered"), "table: {table}");
    let unknown = stderr(&dlq(config.path(), &["show", "999999"]).await);
    assert!(unknown.contains("999999"), "stderr: {unknown}");
    app.cleanup().await;
}

#[tokio::test]
async fn the_dead_letter_api_answers_401_without_the_bearer_token() {
    let app = spawn_app(Role::Receiver).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let base = format!("{}/admin/dead-letters", app.address);
    let id = letter.id;
    let gets = [base.clone(), format!("{base}/{id}")];
    let posts = [
        (format!("{base}/{id}/replay"), json!({})),
        (format!("{base}/replay"), json!({"all": true})),
        (format!("{base}/{id}/discard"), json!({"reason": "no"})),
    ];
    for token in [None, Some("not-the-admin-token")] {
        for url in &gets {
            let mut request = app.client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let body = json_of(request.send().await.unwrap(), 401).await;
            assert_eq!(body["error"], "unauthorized");
        }
        for (url, body) in &posts {
            let mut request = app.client.post(url).json(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let body = json_of(request.send().await.unwrap(), 401).await;
            assert_eq!(body["error"], "unauthorized");
        }
    }
    assert_eq!(status_of(&app, id).await, ("dead".to_owned(), 0));
    assert_eq!(
        detail(&app, id).await["actions"].as_array().unwrap().len(),
        1
    );
    app.cleanup().await;
}

#[tokio::test]
async fn discarding_a_dead_letter_needs_a_reason_and_records_the_actor() {
    let app = spawn_app(Role::Receiver).await;
    let first = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/discard", first.id);
    for body in [None, Some(json!({})), Some(json!({"reason": "  "}))] {
        let response = app
            .admin_send(ADMIN_TOKEN, &path, body, Some("alice"))
            .await;
        assert_eq!(json_of(response, 400).await["error"], "bad_request");
    }
    assert_eq!(status_of(&app, first.id).await.0, "dead");

    let why = json!({"reason": "test data from the sandbox"});
    let response = app
        .admin_send(ADMIN_TOKEN, &path, Some(why.clone()), Some("alice"))
        .await;
    let shown = json_of(response, 200).await;
    assert_eq!(shown["id"], first.id);
    assert_eq!(shown["status"], "discarded");
    let action = last_action(&shown);
    assert_eq!(action["action"], "discarded");
    // The token's name is the actor; the header only says on whose behalf.
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "alice");
    assert_eq!(action["reason"], "test data from the sandbox");
    let again = json_of(
        app.admin_send(ADMIN_TOKEN, &path, Some(why), None).await,
        409,
    )
    .await;
    assert_eq!(again["error"], "conflict");
    assert!(again["message"].as_str().unwrap().contains("discarded"));

    let second = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/discard", second.id);
    let body = Some(json!({"reason": "duplicate"}));
    let shown = json_of(app.admin_send(ADMIN_TOKEN, &path, body, None).await, 200).await;
    assert_eq!(last_action(&shown)["actor"], "admin");

    let config = config_file(&app);
    let third = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let id = third.id.to_string();
    let no_reason = stderr(&dlq(config.path(), &["discard", &id]).await);
    assert!(no_reason.contains("--reason"), "stderr: {no_reason}");
    let args = [
        "discard",
        &id,
        "--reason",
        "fixed by hand",
        "--actor",
        "bob",
    ];
    let out = stdout(&dlq(config.path(), &args).await);
    assert!(out.contains(&id), "stdout: {out}");
    let shown = detail(&app, third.id).await;
    assert_eq!(shown["status"], "discarded");
    assert_eq!(last_action(&shown)["actor"], "bob");
    assert_eq!(last_action(&shown)["reason"], "fixed by hand");
    let twice = stderr(&dlq(config.path(), &args).await);
    assert!(twice.contains("discarded"), "stderr: {twice}");

    let fourth = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let id = fourth.id.to_string();
    let args = ["discard", &id, "--reason", "obsolete"];
    stdout(&dlq_as(config.path(), Some("carol"), &args).await);
    assert_eq!(
        last_action(&detail(&app, fourth.id).await)["actor"],
        "carol"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_one_dead_letter_through_the_api_republishes_it_and_the_worker_applies_it() {
    let app = spawn_app(Role::All).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/replay", letter.id);
    let response = app
        .admin_send(ADMIN_TOKEN, &path, None, Some("alice"))
        .await;
    assert_eq!(
        json_of(response, 200).await,
        json!({"replayed": [letter.id]})
    );
    assert_applied(&app, &letter).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["status"], "replayed");
    assert_eq!(shown["replay_count"], 1);
    let action = last_action(&shown);
    assert_eq!(action["action"], "replayed");
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "alice");
    assert_eq!(action["detail"]["trigger"], "manual");

    // A second replay of an applied event changes nothing: the worker sees a duplicate.
    let response = app.admin_send(ADMIN_TOKEN, &path, None, None).await;
    assert_eq!(json_of(response, 200).await["replayed"], json!([letter.id]));
    let view = app.employee_after("hris", &letter.employee, 2).await;
    assert_eq!(view["events"][1]["outcome"], "duplicate");
    assert_eq!(view["status"], "active");
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["replay_count"], 2);
    assert_eq!(last_action(&shown)["actor"], "admin");

    let missing = app
        .admin_send(ADMIN_TOKEN, "/admin/dead-letters/999999/replay", None, None)
        .await;
    assert_eq!(json_of(missing, 404).await["error"], "unknown_dead_letter");
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_one_dead_letter_with_the_cli_applies_it_and_records_the_actor() {
    let app = spawn_app(Role::All).await;
    let letter = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let config = config_file(&app);
    let id = letter.id.to_string();
    let out = stdout(&dlq(config.path(), &["replay", &id, "--actor", "carol"]).await);
    assert!(
        out.contains(&format!("replayed 1 dead letter: {id}")),
        "stdout: {out}"
    );
    assert_applied(&app, &letter).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["status"], "replayed");
    assert_eq!(shown["replay_count"], 1);
    let action = last_action(&shown);
    assert_eq!(action["action"], "replayed");
    assert_eq!(action["actor"], "carol");
    app.cleanup().await;
}

#[tokio::test]
async fn bulk_replay_with_the_dlq_cli_needs_yes_and_then_replays_only_matching_dead_ones() {
    let app = spawn_app(Role::All).await;
    let a = dead_letter(&app, "hris", Reason::PermanentError).await;
    let b = dead_letter(&app, "hris", Reason::PermanentError).await;
    let c = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let d = dead_letter(&app, "hris", Reason::PermanentError).await;
    provisiond::services::dead_letters::discard(
        &app.pool,
        d.id,
        &Actor::named("tester"),
        "not wanted",
    )
    .await
    .unwrap();
    let config = config_file(&app);

    let refused = dlq(config.path(), &["replay", "--reason", "permanent_error"]).await;
    let message = stderr(&refused);
    assert!(
        message.contains("2 dead letters would be replayed") && message.contains("--yes"),
        "stderr: {message}"
    );
    for letter in [&a, &b, &c] {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }

    let args = ["replay", "--reason", "permanent_error", "--yes"];
    let out = stdout(&dlq_as(config.path(), Some("dave"), &args).await);
    assert!(out.contains("replayed 2 dead letters"), "stdout: {out}");
    assert_applied(&app, &a).await;
    assert_applied(&app, &b).await;
    for letter in [&a, &b] {
        assert_eq!(status_of(&app, letter.id).await, ("replayed".to_owned(), 1));
        assert_eq!(last_action(&detail(&app, letter.id).await)["actor"], "dave");
    }
    assert_eq!(status_of(&app, c.id).await, ("dead".to_owned(), 0));
    assert_eq!(status_of(&app, d.id).await, ("discarded".to_owned(), 0));

    let out = stdout(&dlq(config.path(), &["replay", "--all", "--yes"]).await);
    assert!(
        out.contains(&format!("replayed 1 dead letter: {}", c.id)),
        "stdout: {out}"
    );
    assert_applied(&app, &c).await;
    assert_eq!(status_of(&app, d.id).await, ("discarded".to_owned(), 0));
    let out = stdout(&dlq(config.path(), &["replay", "--all", "--yes"]).await);
    assert!(out.contains("replayed 0"), "stdout: {out}");

    stderr(&dlq(config.path(), &["replay"]).await);
    let id = a.id.to_string();
    stderr(&dlq(config.path(), &["replay", &id, "--all", "--yes"]).await);
    app.cleanup().await;
}

#[tokio::test]
async fn bulk_replay_through_the_api_takes_ids_all_or_a_filter() {
    let app = spawn_app(Role::All).await;
    let a = dead_letter(&app, "hris", Reason::PermanentError).await;
    let b = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let c = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = "/admin/dead-letters/replay";
    for bad in [
        None,
        Some(json!({})),
        Some(json!({"all": false})),
        Some(json!({"sorce": "hris"})),
        Some(json!({"ids": []})),
        Some(json!({"ids": [a.id], "all": true})),
        Some(json!({"all": true, "reason": "permanent_error"})),
        Some(json!({"reason": "boom"})),
        Some(json!({"since": "whenever"})),
    ] {
        let response = app.admin_send(ADMIN_TOKEN, path, bad.clone(), None).await;
        let body = json_of(response, 400).await;
        assert_eq!(body["error"], "bad_request", "for {bad:?}");
    }
    for letter in [&a, &b, &c] {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }

    // A bulk replay is a job: 202 with its id, then its progress until it ends.
    let ids = Some(json!({"ids": [a.id]}));
    let job = replay_job(&app, ids, Some("erin")).await;
    assert_eq!(job["replayed"], json!([a.id]));
    assert_eq!(
        (job["total"].as_i64(), job["done"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(job["actor"], "admin");
    assert_eq!(job["on_behalf_of"], "erin");
    let filter = Some(json!({"reason": "permanent_error", "source": "hris"}));
    let job = replay_job(&app, filter, Some("erin")).await;
    assert_eq!(job["replayed"], json!([c.id]));
    let job = replay_job(&app, Some(json!({"all": true})), None).await;
    assert_eq!(job["replayed"], json!([b.id]));
    let job = replay_job(&app, Some(json!({"since": "1h"})), None).await;
    assert_eq!(job["replayed"], json!([]));
    assert_eq!(job["total"], 0);
    for letter in [&a, &b, &c] {
        assert_applied(&app, letter).await;
        assert_eq!(status_of(&app, letter.id).await, ("replayed".to_owned(), 1));
    }
    let shown = detail(&app, c.id).await;
    let action = last_action(&shown);
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "erin");

    let unknown = Some(json!({"ids": [a.id, 999999]}));
    let response = app.admin_send(ADMIN_TOKEN, path, unknown, None).await;
    assert_eq!(json_of(response, 404).await["error"], "unknown_dead_letter");
    assert_eq!(status_of(&app, a.id).await, ("replayed".to_owned(), 1));
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_a_discarded_dead_letter_is_a_conflict() {
    let app = spawn_app(Role::Receiver).await;
    let kept = dead_letter(&app, "hris", Reason::PermanentError).await;
    let gone = dead_letter(&app, "hris", Reason::PermanentError).await;
    provisiond::services::dead_letters::discard(
        &app.pool,
        gone.id,
        &Actor::named("tester"),
        "not wanted",
    )
    .await
    .unwrap();

    let path = format!("/admin/dead-letters/{}/replay", gone.id);
    let body = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 409).await;
    assert_eq!(body["error"], "conflict");
    assert!(body["message"].as_str().unwrap().contains("discarded"));
    // Every id is checked before any is republished.
    let ids = Some(json!({"ids": [kept.id, gone.id]}));
    let response = app
        .admin_send(ADMIN_TOKEN, "/admin/dead-letters/replay", ids, None)
        .await;
    assert_eq!(json_of(response, 409).await["error"], "conflict");

    let config = config_file(&app);
    let id = gone.id.to_string();
    let refused = stderr(&dlq(config.path(), &["replay", &id]).await);
    assert!(refused.contains("discarded"), "stderr: {refused}");
    assert_eq!(status_of(&app, gone.id).await, ("discarded".to_owned(), 0));
    assert_eq!(status_of(&app, kept.id).await, ("dead".to_owned(), 0));
    assert_eq!(app.queued_messages().await, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_queue_message_postgresql_cannot_store_is_dead_lettered_once_not_looped() {
    let app = spawn_app(Role::All).await;
    // Published straight to the broker (not by a receiver): an event id with a NUL, which
    // no text column can hold.
    let employee = unique("nul");
    let message = provisiond::domain::message::QueueMessage {
        source: "hris".into(),
        source_kind: provisiond::domain::SourceKind::StandardWebhooks,
        event_id: "evil\u{0}id".into(),
        received_at: chrono::Utc::now(),
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: provisiond::domain::Trigger::Webhook,
        body: hris_body("created", &employee, "2026-03-02T09:00:00Z").into(),
    };
    let publisher = TestPublisher::start(&app).await;
    publisher.publisher.publish(&message).await.unwrap();
    publisher.stop().await;
    let letter = wait_for("the dead letter", || async {
        let list: Value = app
            .admin_get("/admin/dead-letters")
            .await
            .json()
            .await
            .ok()?;
        list.as_array()?.first().cloned()
    })
    .await;
    let event_id = letter["event_id"].as_str().unwrap();
    assert!(event_id.starts_with("id-sha256:"), "{letter}");
    wait_for("the queue to be empty", || async {
        (app.queued_messages().await == 0).then_some(())
    })
    .await;
    let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(letters, 1);
    app.cleanup().await;
}

/// A running replay job of two items, as the admin API creates it.
async fn replay_job_row(app: &TestApp, actor: &Actor) -> i64 {
    provisiond::store::jobs::create(&app.pool, "dead_letter_replay", actor, &json!({}), 2)
        .await
        .unwrap()
}

/// Run replay job `job` over the dead ones of `ids` by hand, noting each progress count.
async fn run_job(
    app: &TestApp,
    publisher: &TestPublisher,
    job: i64,
    ids: &[i64],
    actor: &Actor,
    seen: &mut Vec<usize>,
) {
    let mut counted = |done| seen.push(done);
    provisiond::services::dead_letters::run_replay_job(
        &app.pool,
        &publisher.publisher,
        job,
        ids,
        true,
        actor,
        &mut counted,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_bulk_replay_job_reports_progress_and_stops_when_cancelled() {
    let app = spawn_app(Role::Receiver).await;
    let letters = [
        dead_letter(&app, "hris", Reason::PermanentError).await,
        dead_letter(&app, "hris", Reason::PermanentError).await,
    ];
    let ids: Vec<i64> = letters.iter().map(|l| l.id).collect();
    let actor = Actor::named("tester");
    let publisher = TestPublisher::start(&app).await;

    // A running job that an operator cancels before its first item replays nothing.
    let job = replay_job_row(&app, &actor).await;
    let path = format!("/admin/jobs/{job}/cancel");
    let cancelled = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 200).await;
    assert_eq!(cancelled["cancel_requested"], true);
    let mut seen = Vec::new();
    run_job(&app, &publisher, job, &ids, &actor, &mut seen).await;
    let shown = app.job_end(job).await;
    assert_eq!(shown["status"], "cancelled", "{shown}");
    assert_eq!(
        (shown["done"].as_i64(), shown["replayed"].clone()),
        (Some(0), json!([]))
    );
    assert!(seen.is_empty());
    for letter in &letters {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }
    // An ended job cannot be cancelled; an unknown one is 404.
    let again = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 409).await;
    assert_eq!(again["error"], "conflict");
    let missing = app
        .admin_send(ADMIN_TOKEN, "/admin/jobs/999999/cancel", None, None)
        .await;
    assert_eq!(json_of(missing, 404).await["error"], "unknown_job");

    // Run to the end, each item is counted as it goes.
    let job = replay_job_row(&app, &actor).await;
    run_job(&app, &publisher, job, &ids, &actor, &mut seen).await;
    assert_eq!(seen, [1, 2]);
    let shown = json_of(app.admin_get(&format!("/admin/jobs/{job}")).await, 200).await;
    assert_eq!(shown["status"], "succeeded");
    assert_eq!(shown["replayed"], json!(ids));
    assert!(shown["finished_at"].is_string());
    publisher.stop().await;
    app.cleanup().await;
}
