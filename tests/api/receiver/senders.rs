//! Each sender's own signature, handshake and events: Merge, WorkOS, Finch, HiBob, Gusto.

use super::*;

#[tokio::test]
async fn merge_valid_delivery_is_applied_and_inactive_status_terminates() {
    let app = spawn_app(Role::All).await;
    let employee = unique("merge");
    let hire = merge_body(&employee, "ACTIVE", "2026-03-01T06:00:00Z");
    let headers = python_sign("merge", MERGE_SECRET, 0, "", &hire);
    let response = app.post("merge", &headers, &hire).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let expected_id = sha256_hex(&hire);
    assert_eq!(
        accepted["event_id"],
        expected_id.as_str(),
        "Merge has no event id: body hash"
    );
    app.employee_after("merge", &employee, 1).await;

    let leave = merge_body(&employee, "INACTIVE", "2026-03-31T06:12:44Z");
    let headers = python_sign("merge", MERGE_SECRET, 0, "", &leave);
    assert_eq!(app.post("merge", &headers, &leave).await.status(), 202);
    let view = app.employee_after("merge", &employee, 2).await;
    assert_eq!(view["status"], "terminated");
    assert_eq!(view["events"][1]["kind"], "terminated");
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn merge_bad_deliveries_are_401() {
    let app = spawn_app(Role::Receiver).await;
    let body = merge_body(&unique("m"), "ACTIVE", "2026-03-31T06:12:44Z");
    let good = python_sign("merge", MERGE_SECRET, 0, "", &body);
    let mut tampered = body.clone();
    tampered.push(b'\n');
    assert_error(
        app.post("merge", &good, &tampered).await,
        401,
        "invalid_signature",
    )
    .await;
    let wrong = python_sign("merge", "not-the-key", 0, "", &body);
    assert_error(
        app.post("merge", &wrong, &body).await,
        401,
        "invalid_signature",
    )
    .await;
    assert_error(
        app.post("merge", &json!({}), &body).await,
        401,
        "missing_signature",
    )
    .await;
    // Merge signs with base64url; the same signature without padding is still valid.
    let unpadded = good["X-Merge-Webhook-Signature"]
        .as_str()
        .unwrap()
        .trim_end_matches('=');
    let headers = json!({"X-Merge-Webhook-Signature": unpadded});
    assert_eq!(app.queued_messages().await, 0);
    assert_eq!(app.post("merge", &headers, &body).await.status(), 202);
    app.cleanup().await;
}

#[tokio::test]
async fn workos_valid_delivery_is_applied_and_deleted_user_terminates() {
    let app = spawn_app(Role::All).await;
    let employee = unique("directory_user");
    let body = workos_body("event_create_1", &employee, "dsync.user.created", "active");
    let headers = python_sign("workos", WORKOS_SECRET, now_secs(), "", &body);
    let response = app.post("workos", &headers, &body).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["event_id"], "event_create_1");
    app.employee_after("workos", &employee, 1).await;
    let mut leave: Value = serde_json::from_slice(&workos_body(
        "event_delete_1",
        &employee,
        "dsync.user.deleted",
        "active",
    ))
    .unwrap();
    leave["data"]["updated_at"] = json!("2026-04-01T00:00:00.000Z");
    let leave = leave.to_string().into_bytes();
    let headers = python_sign("workos", WORKOS_SECRET, now_secs(), "", &leave);
    assert_eq!(app.post("workos", &headers, &leave).await.status(), 202);
    let view = app.employee_after("workos", &employee, 2).await;
    assert_eq!(view["status"], "terminated", "{view:#}");
    app.cleanup().await;
}

#[tokio::test]
async fn workos_bad_deliveries_are_401_with_millisecond_timestamps() {
    let app = spawn_app(Role::Receiver).await;
    let body = workos_body("event_bad", &unique("w"), "dsync.user.created", "active");
    let good = python_sign("workos", WORKOS_SECRET, now_secs(), "", &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_error(
        app.post("workos", &good, &tampered).await,
        401,
        "invalid_signature",
    )
    .await;
    let wrong = python_sign("workos", "wrong", now_secs(), "", &body);
    assert_error(
        app.post("workos", &wrong, &body).await,
        401,
        "invalid_signature",
    )
    .await;
    assert_error(
        app.post("workos", &json!({}), &body).await,
        401,
        "missing_signature",
    )
    .await;
    // Tolerance is 180 s: 10 minutes either way is refused.
    let stale = python_sign("workos", WORKOS_SECRET, now_secs() - 600, "", &body);
    assert_error(
        app.post("workos", &stale, &body).await,
        401,
        "stale_timestamp",
    )
    .await;
    let future = python_sign("workos", WORKOS_SECRET, now_secs() + 600, "", &body);
    assert_error(
        app.post("workos", &future, &body).await,
        401,
        "stale_timestamp",
    )
    .await;
    assert_eq!(app.queued_messages().await, 0);
    app.cleanup().await;
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

fn finch_body(event: &str, individual: &str) -> Vec<u8> {
    json!({"company_id": "720be419-0293-4d32-a707-32179b0827ab", "account_id": "a1",
           "connection_id": "c0ffee00-0000-4000-8000-000000000001", "entity_id": null,
           "event_type": event, "data": {"individual_id": individual}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn finch_deliveries_signed_its_way_hire_and_a_deleted_employment_terminates() {
    let app = spawn_app(Role::All).await;
    let individual = unique("finch");
    let hire = finch_body("employment.created", &individual);
    let msg_id = unique("msg");
    let headers = python_sign("finch", FINCH_SECRET, now_secs(), &msg_id, &hire);
    let response = app.post("finch", &headers, &hire).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(
        accepted["event_id"],
        msg_id.as_str(),
        "the Finch-Event-Id header"
    );
    app.employee_after("finch", &individual, 1).await;

    let leave = finch_body("employment.deleted", &individual);
    let headers = python_sign("finch", FINCH_SECRET, now_secs(), &unique("msg"), &leave);
    assert_eq!(app.post("finch", &headers, &leave).await.status(), 202);
    let view = app.employee_after("finch", &individual, 2).await;
    assert_eq!(view["status"], "terminated");
    assert_eq!(view["targets"][0]["status"], "deactivated");

    let stale = python_sign("finch", FINCH_SECRET, now_secs() - 600, "m", &leave);
    assert_error(
        app.post("finch", &stale, &leave).await,
        401,
        "stale_timestamp",
    )
    .await;
    let wrong = python_sign(
        "finch",
        "d3Jvbmcta2V5LXdyb25nLWtleQ==",
        now_secs(),
        "m",
        &leave,
    );
    assert_error(
        app.post("finch", &wrong, &leave).await,
        401,
        "invalid_signature",
    )
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn hibob_ping_is_answered_without_a_signature_and_never_queued() {
    let app = spawn_app(Role::Receiver).await;
    for ping in [&b"Ping test"[..], br#"{"text":"Ping test"}"#] {
        let response = app.post("hibob", &json!({}), ping).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
    let event = br#"{"type":"employee.left","data":{"employeeId":"1"}}"#;
    assert_error(
        app.post("hibob", &json!({}), event).await,
        401,
        "missing_signature",
    )
    .await;
    assert_eq!(
        app.queued_messages().await,
        0,
        "a handshake is not an event"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn gusto_verification_token_is_answered_and_kept_for_the_operator() {
    let app = spawn_app(Role::Receiver).await;
    let token = unique("tok");
    let body = json!({"verification_token": token, "webhook_subscription_uuid": "be4e7b8a-0000-4000-8000-000000000001"});
    let response = app
        .post("gusto", &json!({}), body.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "verification_received");
    assert_eq!(app.queued_messages().await, 0);

    let text = format!(
        "[database]\nurl = \"{}\"\n[[sources]]\nname = \"gusto\"\nkind = \"gusto\"\nsecrets = []\n",
        app.iso.database_url
    );
    let listed = cli_json(&text, &["sources", "--format", "json"]);
    assert_eq!(listed[0]["name"], "gusto");
    assert_eq!(listed[0]["verification_token"], token.as_str());

    // Until the token is configured as the key, events are refused.
    let event = br#"{"event_type":"employee.created","entity_uuid":"e1"}"#;
    let refused = app
        .post("gusto", &json!({"X-Gusto-Signature": "00"}), event)
        .await;
    assert_error(refused, 401, "invalid_signature").await;
    app.cleanup().await;
}

fn directory_user(event_id: &str, user: &str, directory: &str) -> Vec<u8> {
    json!({
        "object": "event", "id": event_id, "event": "dsync.user.created",
        "data": {"object": "directory_user", "id": user, "directory_id": directory,
                 "email": format!("{user}@acme.example"), "state": "active",
                 "updated_at": "2026-03-31T06:12:44.000Z"},
        "created_at": "2026-03-31T06:12:45.000Z"
    })
    .to_string()
    .into_bytes()
}

async fn post_workos(app: &TestApp, body: &[u8]) {
    let headers = python_sign("workos", WORKOS_SECRET, now_secs(), "", body);
    assert_eq!(app.post("workos", &headers, body).await.status(), 202);
}

#[tokio::test]
async fn workos_deleting_a_directory_terminates_every_user_of_that_directory_only() {
    let app = spawn_app(Role::All).await;
    let (gone, kept) = (unique("dir_a"), unique("dir_b"));
    let users = [unique("u1"), unique("u2"), unique("u3")];
    for (user, directory) in users.iter().zip([&gone, &gone, &kept]) {
        post_workos(&app, &directory_user(&unique("event"), user, directory)).await;
        app.employee_after("workos", user, 1).await;
    }
    let deleted = json!({
        "object": "event", "id": unique("event_del"), "event": "dsync.deleted",
        "data": {"object": "directory", "id": gone, "state": "deleting"},
        "created_at": "2026-04-01T08:00:00.000Z"
    })
    .to_string()
    .into_bytes();
    post_workos(&app, &deleted).await;
    for user in &users[..2] {
        let view = app.employee_after("workos", user, 2).await;
        assert_eq!(view["status"], "terminated", "{user}");
        assert_eq!(view["events"][1]["kind"], "terminated");
        assert_eq!(view["targets"][0]["status"], "deactivated");
    }
    let other = app.employee("workos", &users[2]).await.unwrap();
    assert_eq!(other["status"], "active", "another directory's user stays");
    assert_eq!(other["events"].as_array().unwrap().len(), 1);

    // A user event of the deleted directory that arrives late (a retry, out of order)
    // terminates instead of creating an active account.
    let late = unique("u4");
    post_workos(&app, &directory_user(&unique("event"), &late, &gone)).await;
    let view = app.employee_after("workos", &late, 1).await;
    assert_eq!(view["status"], "terminated", "{view}");
    assert_eq!(view["events"][0]["kind"], "terminated");
    assert!(view["events"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("deleted"));
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}
