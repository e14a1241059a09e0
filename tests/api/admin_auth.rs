//! Named admin tokens: an auditor reads, an operator also acts; the actor recorded is the
//! token's name; every admin answer is private.

use chrono::Utc;
use provisiond::store::dead_letters::{self, NewDeadLetter, Reason};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::{
    json_of, last_action, spawn_with_tokens, TestApp, ADMIN_TOKEN, AUDITOR_TOKEN, OPERATOR_TOKEN,
};

async fn letter(app: &TestApp) -> i64 {
    let body = br#"{"id":"evt","employee":{"id":"emp_1","email":"ann@example.com"}}"#;
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let chain = vec!["target refused the event".to_owned()];
    let letter = NewDeadLetter {
        source: "hris",
        source_kind: "standard_webhooks",
        event_id: &event_id,
        employee_id: Some("emp_1"),
        kind: Some("employee.updated"),
        reason: Reason::PermanentError,
        body,
        headers: json!({"trigger": "webhook"}),
        last_error: "target refused the event",
        error_chain: &chain,
        attempts: 1,
        first_received_at: Utc::now(),
        first_failed_at: None,
    };
    dead_letters::record(&app.pool, &letter).await.unwrap()
}

async fn get(app: &TestApp, path: &str, authorization: &str) -> reqwest::Response {
    let url = format!("{}{path}", app.address);
    let request = app.client.get(url).header("authorization", authorization);
    request.send().await.expect("request sent")
}

async fn shown(app: &TestApp, id: i64) -> Value {
    let path = format!("/admin/dead-letters/{id}");
    json_of(
        get(app, &path, &format!("Bearer {OPERATOR_TOKEN}")).await,
        200,
    )
    .await
}

fn private(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store", "{:?}", response.url());
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn an_auditor_reads_reports_and_summaries_but_cannot_act_or_see_raw_bodies() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let id = letter(&app).await;
    let auditor = format!("Bearer {AUDITOR_TOKEN}");
    for path in [
        "/admin/audit/deprovision",
        "/admin/dead-letters",
        "/admin/holds",
    ] {
        let response = get(&app, path, &auditor).await;
        private(&response);
        assert_eq!(response.status(), 200, "{path}");
    }
    let one = json_of(
        get(&app, &format!("/admin/dead-letters/{id}"), &auditor).await,
        200,
    )
    .await;
    assert_eq!(one["id"], id);
    assert_eq!(one["body"], Value::Null);
    assert_eq!(one["body_withheld"], true);
    assert!(!one.to_string().contains("ann@example.com"), "{one}");

    let acts = [
        (format!("/admin/dead-letters/{id}/replay"), json!({})),
        (
            format!("/admin/dead-letters/{id}/discard"),
            json!({"reason": "no"}),
        ),
        (
            "/admin/dead-letters/replay".to_owned(),
            json!({"ids": [id]}),
        ),
        (
            "/admin/holds/reject".to_owned(),
            json!({"all": true, "reason": "no"}),
        ),
        (
            "/admin/holds/release".to_owned(),
            json!({"all": true, "reason": "no"}),
        ),
    ];
    for (path, body) in acts {
        let response = app.admin_send(AUDITOR_TOKEN, &path, Some(body), None).await;
        private(&response);
        let answer = json_of(response, 403).await;
        assert_eq!(answer["error"], "forbidden", "{path}");
        assert!(
            answer["message"].as_str().unwrap().contains("ann"),
            "{answer}"
        );
    }
    let after = shown(&app, id).await;
    assert_eq!(after["status"], "dead");
    assert_eq!(after["replay_count"], 0);
    assert_eq!(after["actions"].as_array().unwrap().len(), 1, "{after}");
    app.cleanup().await;
}

#[tokio::test]
async fn an_operator_acts_under_its_own_name_and_the_header_is_only_on_whose_behalf() {
    let app = spawn_with_tokens(Role::Receiver).await;
    let id = letter(&app).await;
    let body = shown(&app, id).await;
    assert!(body["body"].as_str().unwrap().contains("ann@example.com"));

    let path = format!("/admin/dead-letters/{id}/discard");
    let why = json!({"reason": "test data"});
    let response = app
        .admin_send(OPERATOR_TOKEN, &path, Some(why), Some("mallory"))
        .await;
    private(&response);
    let answer = json_of(response, 200).await;
    let action = last_action(&answer);
    assert_eq!(action["action"], "discarded");
    assert_eq!(action["actor"], "olga");
    assert_eq!(action["detail"]["on_behalf_of"], "mallory");

    // The hash-chained audit log records the token's name too.
    let (actor, detail): (String, Value) = sqlx::query_as(
        "SELECT actor, detail FROM audit_log WHERE category = 'dead_letter' \
         AND action = 'discarded' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "olga");
    assert_eq!(detail["on_behalf_of"], "mallory");

    // `server.admin_token` keeps working, as the operator `admin`.
    let other = letter(&app).await;
    let path = format!("/admin/dead-letters/{other}/discard");
    let response = app
        .admin_send(ADMIN_TOKEN, &path, Some(json!({"reason": "old"})), None)
        .await;
    let answer = json_of(response, 200).await;
    let action = last_action(&answer);
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"].get("on_behalf_of"), None);
    app.cleanup().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_unknown_tokens_are_refused_privately() {
    let app = spawn_with_tokens(Role::Receiver).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = get(&app, "/admin/holds", &format!("{scheme} {AUDITOR_TOKEN}")).await;
        assert_eq!(response.status(), 200, "{scheme}");
    }
    for authorization in [
        format!("Bearer {AUDITOR_TOKEN}x"),
        format!("Basic {AUDITOR_TOKEN}"),
        "Bearer".to_owned(),
    ] {
        let response = get(&app, "/admin/holds", &authorization).await;
        private(&response);
        let answer = json_of(response, 401).await;
        assert_eq!(answer["error"], "unauthorized", "{authorization}");
    }
    app.cleanup().await;
}
