//! The receiver: signatures per source kind, status codes and error bodies.

use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

fn merge_body(employee: &str, status: &str, modified: &str) -> Vec<u8> {
    json!({
        "hook": {"id": "hook-config-1", "event": "Employee.changed", "target": "https://x"},
        "linked_account": {"id": "la-1", "integration": "BambooHR"},
        "data": {"id": employee, "work_email": format!("{employee}@acme.example"),
                 "first_name": "Grace", "last_name": "Hopper",
                 "employment_status": status, "modified_at": modified}
    })
    .to_string()
    .into_bytes()
}

fn workos_body(event_id: &str, employee: &str, event: &str, state: &str) -> Vec<u8> {
    json!({
        "object": "event", "id": event_id, "event": event,
        "data": {"object": "directory_user", "id": employee, "first_name": "Alan",
                 "last_name": "Turing", "email": format!("{employee}@acme.example"),
                 "state": state, "custom_attributes": {"department": "Engineering"},
                 "updated_at": "2026-03-31T06:12:44.000Z"},
        "created_at": "2026-03-31T06:12:45.000Z"
    })
    .to_string()
    .into_bytes()
}

async fn assert_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error"], code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn official_standard_webhooks_vector_signed_by_python_matches() {
    let headers = python_sign(
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        1614265330,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        br#"{"test": 2432232314}"#,
    );
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(headers["webhook-signature"], expected);
}

#[tokio::test]
async fn standard_webhooks_valid_delivery_is_accepted_and_applied() {
    let app = spawn_app(Role::All).await;
    let employee = unique("emp");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let response = app
        .post("hris", &hris_headers(&body, "msg_valid_1"), &body)
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(
        accepted,
        json!({"status": "accepted", "event_id": "msg_valid_1"})
    );
    let view = app.employee_after("hris", &employee, 1).await;
    assert_eq!(view["status"], "active");
    assert_eq!(view["events"][0]["outcome"], "applied");
    assert_eq!(view["events"][0]["kind"], "created");
    assert_eq!(view["targets"][0]["target"], "directory");
    assert_eq!(view["targets"][0]["status"], "active");
    app.cleanup().await;
}

#[tokio::test]
async fn svix_header_names_are_accepted() {
    let app = spawn_app(Role::Receiver).await;
    let body = hris_body("created", &unique("emp"), "2026-03-02T09:15:00Z");
    let signed = hris_headers(&body, "msg_svix_1");
    let headers = json!({
        "svix-id": signed["webhook-id"],
        "svix-timestamp": signed["webhook-timestamp"],
        "svix-signature": signed["webhook-signature"],
    });
    assert_eq!(app.post("hris", &headers, &body).await.status(), 202);
    app.cleanup().await;
}

#[tokio::test]
async fn standard_webhooks_bad_deliveries_are_401_and_nothing_is_published() {
    let app = spawn_app(Role::Receiver).await;
    let body = hris_body("created", &unique("emp"), "2026-03-02T09:15:00Z");
    let good = hris_headers(&body, "msg_bad_1");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_error(
        app.post("hris", &good, &tampered).await,
        401,
        "invalid_signature",
    )
    .await;

    let wrong = python_sign(
        "standard-webhooks",
        "whsec_dGhpcyBpcyBub3QgdGhlIGtleSE=",
        now_secs(),
        "msg_bad_1",
        &body,
    );
    assert_error(
        app.post("hris", &wrong, &body).await,
        401,
        "invalid_signature",
    )
    .await;

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("webhook-signature");
    assert_error(
        app.post("hris", &missing, &body).await,
        401,
        "missing_signature",
    )
    .await;

    let stale = python_sign(
        "standard-webhooks",
        HRIS_SECRET,
        now_secs() - 600,
        "msg_bad_1",
        &body,
    );
    assert_error(
        app.post("hris", &stale, &body).await,
        401,
        "stale_timestamp",
    )
    .await;

    let future = python_sign(
        "standard-webhooks",
        HRIS_SECRET,
        now_secs() + 600,
        "msg_bad_1",
        &body,
    );
    assert_error(
        app.post("hris", &future, &body).await,
        401,
        "stale_timestamp",
    )
    .await;

    assert_eq!(
        app.queued_messages().await,
        0,
        "a rejected delivery was published"
    );
    assert_eq!(app.post("hris", &good, &body).await.status(), 202);
    assert_eq!(app.queued_messages().await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn rotated_secrets_are_both_accepted_for_every_kind() {
    let app = spawn_app(Role::Receiver).await;
    let body = hris_body("created", &unique("emp"), "2026-03-02T09:15:00Z");
    for (i, secret) in [HRIS_OLD_SECRET, HRIS_SECRET].iter().enumerate() {
        let headers = python_sign(
            "standard-webhooks",
            secret,
            now_secs(),
            &format!("msg_rot_{i}"),
            &body,
        );
        assert_eq!(app.post("hris", &headers, &body).await.status(), 202);
    }
    let body = merge_body(&unique("m"), "ACTIVE", "2026-03-31T06:12:44Z");
    for secret in [MERGE_OLD_SECRET, MERGE_SECRET] {
        let headers = python_sign("merge", secret, 0, "", &body);
        assert_eq!(app.post("merge", &headers, &body).await.status(), 202);
    }
    let body = workos_body("event_rot", &unique("w"), "dsync.user.created", "active");
    for secret in [WORKOS_OLD_SECRET, WORKOS_SECRET] {
        let headers = python_sign("workos", secret, now_secs(), "", &body);
        assert_eq!(app.post("workos", &headers, &body).await.status(), 202);
    }
    assert_eq!(app.queued_messages().await, 6);
    app.cleanup().await;
}

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

#[tokio::test]
async fn unknown_source_is_404_and_oversized_body_is_413() {
    let app = spawn_app(Role::Receiver).await;
    let body = hris_body("created", "e1", "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, "msg_404");
    assert_error(
        app.post("nope", &headers, &body).await,
        404,
        "unknown_source",
    )
    .await;
    let big = vec![b'x'; 70_000];
    let headers = hris_headers(&big, "msg_413");
    assert_error(
        app.post("hris", &headers, &big).await,
        413,
        "payload_too_large",
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

/// A signed WorkOS hire of `employee` whose event id is `id`.
async fn send_workos_with_id(app: &TestApp, employee: &str, id: &str) -> reqwest::Response {
    let hire = workos_body("x", employee, "dsync.user.created", "active");
    let mut body: Value = serde_json::from_slice(&hire).unwrap();
    body["id"] = json!(id);
    let body = body.to_string().into_bytes();
    let headers = python_sign("workos", WORKOS_SECRET, now_secs(), "", &body);
    app.post("workos", &headers, &body).await
}

#[tokio::test]
async fn a_sender_event_id_with_control_characters_is_replaced_by_its_digest() {
    let app = spawn_app(Role::All).await;
    let employee = unique("directory_user");
    for (i, id) in [
        "event_\u{0}nul",
        "event_1\nFORGED log line",
        "event_\u{0}nul",
    ]
    .into_iter()
    .enumerate()
    {
        let response = send_workos_with_id(&app, &employee, id).await;
        assert_eq!(response.status(), 202, "{i}");
        let accepted: Value = response.json().await.unwrap();
        let event_id = accepted["event_id"].as_str().unwrap();
        assert!(event_id.starts_with("id-sha256:"), "{event_id}");
        assert!(!event_id.chars().any(char::is_control));
    }
    // Applied once: the third delivery is the first one's retry.
    let view = app.employee_after("workos", &employee, 3).await;
    let outcomes = outcomes(&view);
    assert_eq!(
        outcomes.iter().filter(|o| **o == "duplicate").count(),
        1,
        "{view}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_sender_event_id_in_provisiond_s_own_id_forms_is_replaced_by_its_digest() {
    let app = spawn_app(Role::Receiver).await;
    let employee = unique("directory_user");
    for id in [
        "event_1:released",
        "event_1:effective",
        "reconcile:0011",
        "a:b",
    ] {
        let response = send_workos_with_id(&app, &employee, id).await;
        assert_eq!(response.status(), 202, "{id}");
        let accepted: Value = response.json().await.unwrap();
        let event_id = accepted["event_id"].as_str().unwrap();
        // A held termination's release (`<id>:released`) or a due one (`<id>:effective`)
        // can never find its inbox slot taken by a sender's event.
        assert!(event_id.starts_with("id-sha256:"), "{id} -> {event_id}");
        assert_eq!(event_id.matches(':').count(), 1, "{event_id}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn only_a_short_printable_request_id_is_echoed() {
    let app = spawn_app(Role::Receiver).await;
    let url = format!("{}/healthz", app.address);
    let echoed = |id: &'static str| {
        let request = app.client.get(&url).header("x-request-id", id);
        async move {
            let response = request.send().await.unwrap();
            let value = response.headers()["x-request-id"].to_str().unwrap();
            value.to_owned()
        }
    };
    assert_eq!(echoed("trace-42").await, "trace-42");
    for bad in [
        "has space",
        "tab\there",
        Box::leak("a".repeat(65).into_boxed_str()),
    ] {
        let ours = echoed(bad).await;
        assert_ne!(ours, bad);
        assert!(uuid::Uuid::parse_str(&ours).is_ok(), "{ours}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_nul_in_an_admin_path_or_query_is_a_bad_request() {
    let app = spawn_app(Role::All).await;
    for path in [
        "/admin/employees/hris/a%00b",
        "/admin/dead-letters?source=%00",
        "/admin/holds?source=a%0Ab",
    ] {
        let response = app.admin_get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{path}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_a_503_with_retry_after_and_a_json_error() {
    let iso = Isolation::new();
    let mut config = test_config(&iso, &amqp_url());
    config.server.request_timeout = std::time::Duration::from_millis(300);
    let app = spawn_with(config, iso, Role::Receiver).await;
    // A sender that announces 100 bytes and sends 8: the rest never comes in time.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = "POST /webhooks/hris HTTP/1.1\r\nHost: provisiond\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 7"), "{answer}");
    assert!(answer.contains("\"error\":\"unavailable\""), "{answer}");
    app.cleanup().await;
}
