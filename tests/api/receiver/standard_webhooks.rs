//! provisiond's own envelope, signed as Standard Webhooks (and Svix) sign it, and rotated
//! secrets for every kind.

use super::*;

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
