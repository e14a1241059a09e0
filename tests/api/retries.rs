//! Retries, dead letters and replay against a real local HTTP target.

use lapin::options::{BasicGetOptions, BasicRejectOptions};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::target_server::TargetServer;

async fn hire(app: &TestApp, employee: &str) -> String {
    app.send_event("created", employee).await
}

#[tokio::test]
async fn a_target_answering_400_is_dead_lettered_after_one_attempt() {
    let target = TargetServer::start(&[], 400).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("e400");
    let event_id = hire(&app, &employee).await;
    let letter = app.dead_letter(&event_id).await;
    assert_eq!(letter["reason"], "permanent_error");
    assert_eq!(letter["attempts"], 1);
    assert_eq!(letter["employee_id"], employee.as_str());
    assert_eq!(letter["kind"], "created");
    assert!(letter["last_error"].as_str().unwrap().contains("400"));
    assert_eq!(
        target.requests().len(),
        1,
        "a permanent error is not retried"
    );
    let listed = dlq_list_json(&app);
    let rows = listed.as_array().unwrap();
    let row = rows.iter().find(|d| d["event_id"] == event_id.as_str());
    assert_eq!(row.expect("listed by the CLI")["reason"], "permanent_error");
    // The directory applied; the product failed, and employee show says so.
    assert_eq!(
        app.target_status(&employee, "directory").await.as_deref(),
        Some("active")
    );
    assert_eq!(
        app.target_status(&employee, "product").await.as_deref(),
        Some("failed")
    );
    // A failing target does not make the process unready.
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.cleanup().await;
}

#[tokio::test]
async fn a_target_answering_503_then_200_is_applied_after_retries() {
    let target = TargetServer::start(&[503, 503, 503], 200).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("e503");
    let event_id = hire(&app, &employee).await;
    app.wait_target(&employee, "product", "active").await;
    let requests = target.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[3].body["type"], "employee.created");
    assert_eq!(requests[3].body["data"]["id"], employee.as_str());
    let attempts: i32 = sqlx::query_scalar(
        "SELECT attempts FROM provisioning_actions WHERE event_id = $1 AND target = 'product'",
    )
    .bind(&event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(attempts, 4, "every try is recorded");
    let list = app.admin_json("/admin/dead-letters").await;
    assert_eq!(list, json!([]), "nothing in the dead-letter log");
    let view = app.employee("hris", &employee).await.unwrap();
    let outcomes = outcomes(&view);
    assert_eq!(
        outcomes,
        ["applied"],
        "retries are not recorded as duplicates"
    );
    assert!(app
        .metrics()
        .await
        .contains("provisiond_retries_total{tier="));
    app.cleanup().await;
}

#[tokio::test]
async fn a_target_always_failing_is_dead_lettered_after_exactly_max_attempts() {
    let target = TargetServer::start(&[], 503).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("e503x");
    let event_id = hire(&app, &employee).await;
    let letter = app.dead_letter(&event_id).await;
    assert_eq!(letter["reason"], "attempts_exhausted");
    // Attempts are deliveries; each delivery also makes `quick_retries` (1) quick retries.
    assert_eq!(letter["attempts"], MAX_ATTEMPTS);
    assert_eq!(target.requests().len(), 2 * MAX_ATTEMPTS as usize);
    let detail = app
        .admin_json(&format!("/admin/dead-letters/{}", letter["id"]))
        .await;
    assert!(detail["error_chain"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    assert!(detail["first_failed_at"].is_string());
    app.cleanup().await;
}

#[tokio::test]
async fn replay_after_the_target_is_fixed_applies_only_what_was_missing() {
    let target = TargetServer::start(&[], 400).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("fix");
    let event_id = hire(&app, &employee).await;
    let letter = app.dead_letter(&event_id).await;
    let directory_before = app.account_updated_at(&employee).await;

    target.set_otherwise(200);
    app.replay(&letter["id"]).await;
    app.wait_target(&employee, "product", "active").await;
    let directory_after = app.account_updated_at(&employee).await;
    assert_eq!(
        directory_before, directory_after,
        "the directory's success is not redone"
    );
    let delivered = target.requests();
    assert_eq!(delivered.len(), 2);
    assert_eq!(
        delivered[1].headers["webhook-id"],
        event_id.as_str(),
        "the product can dedupe"
    );
    let detail = app
        .admin_json(&format!("/admin/dead-letters/{}", letter["id"]))
        .await;
    assert_eq!(detail["status"], "replayed");
    assert_eq!(detail["replay_count"], 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_replay_that_fails_again_returns_to_dead_with_the_new_error() {
    let target = TargetServer::start(&[], 400).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("again");
    let event_id = hire(&app, &employee).await;
    let letter = app.dead_letter(&event_id).await;
    target.set_otherwise(422);
    app.replay(&letter["id"]).await;
    let detail: Value = wait_for("the replayed letter to be dead again", || async {
        let path = format!("/admin/dead-letters/{}", letter["id"]);
        let detail: Value = app.admin_get(&path).await.json().await.ok()?;
        let again = detail["status"] == "dead" && detail["replay_count"] == 1;
        again.then_some(detail)
    })
    .await;
    assert!(detail["last_error"].as_str().unwrap().contains("422"));
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_an_event_that_has_since_succeeded_changes_nothing() {
    let app = spawn_app(Role::All).await;
    let employee = unique("done");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let event_id = unique("msg");
    assert_eq!(
        app.post("hris", &hris_headers(&body, &event_id), &body)
            .await
            .status(),
        202
    );
    app.employee_after("hris", &employee, 1).await;
    // An operator replays a stale dead letter of the same event.
    let letter = provisiond::store::dead_letters::NewDeadLetter {
        source: "hris",
        source_kind: "standard-webhooks",
        event_id: &event_id,
        employee_id: Some(&employee),
        kind: Some("created"),
        reason: provisiond::store::dead_letters::Reason::AttemptsExhausted,
        body: &body,
        headers: json!({}),
        last_error: "earlier failure",
        error_chain: &["earlier failure".to_owned()],
        attempts: 4,
        first_received_at: chrono::Utc::now(),
        first_failed_at: None,
    };
    let id = provisiond::store::dead_letters::record(&app.pool, &letter)
        .await
        .unwrap();
    app.replay(id).await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(view["events"][1]["outcome"], "duplicate");
    assert_eq!(view["status"], "active");
    app.cleanup().await;
}

#[tokio::test]
async fn a_message_that_keeps_crashing_workers_is_dead_lettered_by_the_delivery_limit() {
    let receiver = spawn_app(Role::Receiver).await;
    let employee = unique("poison");
    let event_id = hire(&receiver, &employee).await;
    // A "worker" that dies on the message every time: the quorum queue counts each
    // failed delivery and, past `delivery_limit` (10 by default), dead-letters it.
    let connection = provisiond::queue::connect(&amqp_url(), "crashing-worker")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{}.work", receiver.iso.prefix);
    for _ in 0..20 {
        let got = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap();
        let Some(got) = got else { break };
        got.delivery
            .reject(BasicRejectOptions { requeue: true })
            .await
            .unwrap();
    }
    connection.close(200, "bye".into()).await.unwrap();
    // A real worker drains the broker's dead-letter queue into the log.
    let worker = spawn_with(
        test_config(&receiver.iso, &amqp_url()),
        receiver.iso.clone(),
        Role::Worker,
    )
    .await;
    let letter = worker.dead_letter(&event_id).await;
    assert_eq!(letter["reason"], "delivery_limit");
    assert!(
        worker.employee("hris", &employee).await.is_none(),
        "the poison message was not applied"
    );
    worker.cleanup().await;
    receiver.cleanup().await;
}

fn dlq_list_json(app: &TestApp) -> Value {
    let text = format!(
        "[database]\nurl = \"{}\"\n[rabbitmq]\nprefix = \"{}\"\n",
        app.iso.database_url, app.iso.prefix
    );
    cli_json(&text, &["dlq", "list", "--format", "json"])
}

#[tokio::test]
async fn a_message_that_panics_the_handler_is_dead_lettered_and_the_pool_keeps_consuming() {
    let iso = Isolation::new();
    let poison = unique("poison_msg");
    let trigger = poison.clone();
    let hook: provisiond::worker::handler::ProcessingHook = std::sync::Arc::new(move |m| {
        assert!(m.event_id != trigger, "injected handler bug");
    });
    let config = test_config(&iso, &amqp_url());
    let app = spawn_custom(
        config,
        iso,
        Role::All,
        provisiond::domain::clock::system(),
        Some(hook),
    )
    .await;
    let victim = unique("victim");
    let body = hris_body("created", &victim, "2026-03-02T09:15:00Z");
    assert_eq!(
        app.post("hris", &hris_headers(&body, &poison), &body)
            .await
            .status(),
        202
    );
    let letter = app.dead_letter(&poison).await;
    assert_eq!(letter["reason"], "delivery_limit");
    assert!(app.employee("hris", &victim).await.is_none());
    // The pool survived every panic and still processes other messages.
    let healthy = unique("healthy");
    hire(&app, &healthy).await;
    app.employee_after("hris", &healthy, 1).await;
    app.cleanup().await;
}

#[tokio::test]
async fn an_unparseable_signed_body_is_accepted_then_dead_lettered_with_its_raw_body() {
    let app = spawn_app(Role::All).await;
    let raw = b"this is not json, but it is signed".to_vec();
    let event_id = unique("garbage");
    let response = app.post("hris", &hris_headers(&raw, &event_id), &raw).await;
    assert_eq!(response.status(), 202);
    let letter = app.dead_letter(&event_id).await;
    assert_eq!(letter["reason"], "permanent_error");
    let path = format!("/admin/dead-letters/{}", letter["id"]);
    let detail: Value = app.admin_get(&path).await.json().await.unwrap();
    assert_eq!(detail["body"], "this is not json, but it is signed");
    assert_eq!(detail["body_encoding"], "utf-8");
    app.cleanup().await;
}
