//! The broker is not a trust boundary: a worker applies only queue messages signed with
//! `rabbitmq.message_key`; anything else is dead-lettered `unauthenticated`, never applied
//! and never replayed.

use chrono::Utc;
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use provisiond::domain::message::QueueMessage;
use provisiond::domain::Secret;
use provisiond::domain::SourceKind;
use provisiond::queue::topology::WORK_KEY;
use provisiond::queue::{MessageKey, Topology};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

/// A hire for `employee` as a receiver would publish it, signed with `key`.
fn hire(employee: &str, key: &str) -> (QueueMessage, BasicProperties) {
    let body = hris_body("created", employee, &Utc::now().to_rfc3339());
    let message = QueueMessage {
        source: "hris".into(),
        source_kind: SourceKind::StandardWebhooks,
        event_id: unique("forged"),
        received_at: Utc::now(),
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: provisiond::domain::Trigger::Webhook,
        body: body.into(),
    };
    let properties = message.properties(Utc::now(), &MessageKey::new(&Secret::new(key)));
    (message, properties)
}

/// Publish straight to the app's exchange, as anyone with broker credentials could.
async fn publish(app: &TestApp, properties: BasicProperties, body: &[u8]) {
    let connection = provisiond::queue::connect(&amqp_url(), "test-intruder")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(Default::default()).await.unwrap();
    let exchange = Topology::new(&app.iso.prefix, 10).exchange;
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirm = channel
        .basic_publish(
            exchange.as_str().into(),
            WORK_KEY.into(),
            options,
            body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "the broker took the message");
    let _ = connection.close(200, "done".into()).await;
}

async fn shown(app: &TestApp, id: i64) -> Value {
    let response = app.admin_get(&format!("/admin/dead-letters/{id}")).await;
    response.json().await.unwrap()
}

async fn unauthenticated_letter(app: &TestApp, event_id: &str) -> Value {
    let letter = app.dead_letter(event_id).await;
    assert_eq!(letter["reason"], "unauthenticated", "{letter}");
    assert_eq!(letter["source"], "(unauthenticated)", "{letter}");
    letter
}

#[tokio::test]
async fn unsigned_and_wrongly_signed_messages_are_dead_lettered_and_never_applied() {
    let app = spawn_app(Role::All).await;
    let unsigned_employee = unique("emp");
    let (unsigned, properties) = hire(&unsigned_employee, MESSAGE_KEY);
    let mut headers = lapin::types::FieldTable::default();
    for (name, value) in properties.headers().as_ref().unwrap().inner() {
        if name.as_str() != "x-provisiond-signature" {
            headers.insert(name.clone(), value.clone());
        }
    }
    publish(&app, properties.with_headers(headers), &unsigned.body).await;

    let forged_employee = unique("emp");
    let other_key = "another-key-an-intruder-chose-0123456789";
    let (forged, properties) = hire(&forged_employee, other_key);
    publish(&app, properties, &forged.body).await;

    // A message signed with the right key but changed afterwards (another body).
    let changed_employee = unique("emp");
    let (changed, properties) = hire(&changed_employee, MESSAGE_KEY);
    let other_body = hris_body("created", &changed_employee, "2026-01-01T00:00:00Z");
    publish(&app, properties, &other_body).await;

    for (message, employee) in [
        (&unsigned, &unsigned_employee),
        (&forged, &forged_employee),
        (&changed, &changed_employee),
    ] {
        let letter = unauthenticated_letter(&app, &message.event_id).await;
        let id = letter["id"].as_i64().unwrap();
        let shown = shown(&app, id).await;
        assert_eq!(shown["headers"]["claimed"]["x-provisiond-source"], "hris");
        let signature = &shown["headers"]["claimed"]["x-provisiond-signature"];
        assert_eq!(signature.is_string(), message.event_id != unsigned.event_id);
        // Whom it was about is shown (read, never applied), and its signature is kept.
        assert_eq!(letter["employee_id"], json!(employee), "{letter}");
        assert_eq!(letter["kind"], "created", "{letter}");
        assert!(
            app.employee("hris", employee).await.is_none(),
            "{employee} applied"
        );
    }

    // A real webhook after them is applied: the worker kept going.
    let real = unique("emp");
    app.send_hris(&hris_body("created", &real, &Utc::now().to_rfc3339()))
        .await;
    app.employee_after("hris", &real, 1).await;
    for employee in [&unsigned_employee, &forged_employee, &changed_employee] {
        assert!(app.employee("hris", employee).await.is_none());
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the real hire has an account");
    app.cleanup().await;
}

#[tokio::test]
async fn an_unauthenticated_dead_letter_is_never_replayed() {
    let app = spawn_app(Role::All).await;
    let employee = unique("emp");
    let (forged, properties) = hire(&employee, "another-key-an-intruder-chose-0123456789");
    publish(&app, properties, &forged.body).await;
    let letter = unauthenticated_letter(&app, &forged.event_id).await;
    let id = letter["id"].as_i64().unwrap();

    let path = format!("/admin/dead-letters/{id}/replay");
    let response = app.admin_post(&path, json!({}), None).await;
    assert_eq!(response.status(), 409);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("unauthenticated"));

    let response = app
        .admin_post("/admin/dead-letters/replay", json!({"ids": [id]}), None)
        .await;
    assert_eq!(response.status(), 409);
    let response = app
        .admin_post("/admin/dead-letters/replay", json!({"all": true}), None)
        .await;
    assert_eq!(response.status(), 202);
    let started: Value = response.json().await.unwrap();
    let job = app.job_end(started["job"].as_i64().unwrap()).await;
    assert_eq!(job["replayed"], json!([]), "{job}");
    assert_eq!(job["skipped"], 1, "{job}");

    let shown = shown(&app, id).await;
    assert_eq!(shown["status"], "dead");
    assert_eq!(shown["replay_count"], 0);
    assert!(app.employee("hris", &employee).await.is_none());
    app.cleanup().await;
}
