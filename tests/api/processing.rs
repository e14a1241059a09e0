//! The worker: dedupe, ordering, rehire, ignored events.

use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

fn outcomes(view: &Value) -> Vec<String> {
    let events = view["events"].as_array().expect("events array");
    events
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect()
}

async fn post_hris(app: &TestApp, kind: &str, employee: &str, at: &str) {
    app.send_hris(&hris_body(kind, employee, at)).await;
}

#[tokio::test]
async fn the_same_delivery_posted_five_times_is_applied_once() {
    let app = spawn_app(Role::All).await;
    let employee = unique("dup");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, &unique("msg"));
    for _ in 0..2 {
        assert_eq!(app.post("hris", &headers, &body).await.status(), 202);
    }
    let concurrent = (0..3).map(|_| app.post("hris", &headers, &body));
    for response in futures::future::join_all(concurrent).await {
        assert_eq!(response.status(), 202);
    }
    let view = app.employee_after("hris", &employee, 5).await;
    let mut seen = outcomes(&view);
    seen.sort();
    assert_eq!(
        seen,
        [
            "applied",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE employee_id = $1")
        .bind(&employee)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn terminated_then_an_older_created_stays_terminated() {
    let app = spawn_app(Role::All).await;
    let employee = unique("order");
    post_hris(&app, "terminated", &employee, "2026-03-10T00:00:00Z").await;
    app.employee_after("hris", &employee, 1).await;
    post_hris(&app, "created", &employee, "2026-03-01T00:00:00Z").await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(outcomes(&view), ["applied", "stale"]);
    assert_eq!(view["status"], "terminated");
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn terminated_then_a_newer_created_is_a_rehire() {
    let app = spawn_app(Role::All).await;
    let employee = unique("rehire");
    post_hris(&app, "created", &employee, "2026-01-01T00:00:00Z").await;
    app.employee_after("hris", &employee, 1).await;
    post_hris(&app, "terminated", &employee, "2026-03-10T00:00:00Z").await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(view["status"], "terminated");
    assert!(view["targets"][0]["deactivated_at"].is_string());
    post_hris(&app, "created", &employee, "2026-06-01T00:00:00Z").await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(outcomes(&view), ["applied", "applied", "applied"]);
    assert_eq!(view["events"][2]["reason"], "rehire");
    assert_eq!(view["status"], "active");
    assert_eq!(view["targets"][0]["status"], "active");
    assert!(view["targets"][0]["deactivated_at"].is_null());
    app.cleanup().await;
}

#[tokio::test]
async fn non_employee_events_are_recorded_as_ignored() {
    let app = spawn_app(Role::All).await;
    let body = json!({"hook": {"id": "h", "event": "LinkedAccount.synced", "target": "t"},
                      "linked_account": {"id": "la"}, "data": {"is_initial_sync": false}})
    .to_string()
    .into_bytes();
    let headers = python_sign("merge", MERGE_SECRET, 0, "", &body);
    assert_eq!(app.post("merge", &headers, &body).await.status(), 202);
    let ping = br#"{"response": "Success! This URL will be notified."}"#.to_vec();
    let headers = python_sign("merge", MERGE_SECRET, 0, "", &ping);
    assert_eq!(app.post("merge", &headers, &ping).await.status(), 202);
    let rows: Vec<(String, Option<String>)> = wait_for("two ignored events", || async {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT outcome, reason FROM events WHERE source = 'merge'")
                .fetch_all(&app.pool)
                .await
                .ok()?;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    for (outcome, reason) in rows {
        assert_eq!(outcome, "ignored");
        assert!(
            reason.is_some_and(|r| !r.is_empty()),
            "an ignored event says why"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn an_unmappable_payload_is_dead_lettered_not_applied() {
    let app = spawn_app(Role::All).await;
    let body = br#"{"type": "employee.created", "data": {"email": "no-id@example.com"}}"#.to_vec();
    let response = app
        .post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    assert_eq!(response.status(), 202);
    let reason: String = wait_for("the event in the dead-letter log", || async {
        sqlx::query_scalar("SELECT reason FROM dead_letters WHERE source = 'hris'")
            .fetch_optional(&app.pool)
            .await
            .ok()
            .flatten()
    })
    .await;
    assert_eq!(reason, "permanent_error");
    assert_eq!(app.events_for_source("hris").await, 0);
    app.cleanup().await;
}
