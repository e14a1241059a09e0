//! What a sender or a client cannot make the receiver do: unknown sources, oversized
//! bodies, event and request ids that are not what they seem, NULs, slow requests.

use super::*;

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
