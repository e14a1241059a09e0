//! Pre-hires (Merge `employment_status: PENDING`): an account that exists but is pending
//! until the start of the start date in `audit.time_zone`, when the scheduler activates
//! it; a termination before the start cancels the activation. Time is a clock the test
//! sets, never a sleep.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use provisiond::domain::clock::{ManualClock, SharedClock};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::scim::{scim_target, ScimServer};
use crate::target_server::TargetServer;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A Merge HRIS employee event, as Merge sends it.
fn merge(event: &str, employee: &str, status: &str, start: &str, modified: &str) -> Vec<u8> {
    json!({
        "hook": {"id": "0b6f1c5e-1111-4c2e-9d7a-000000000001", "event": event,
                 "target": "https://hooks.example.com/merge"},
        "linked_account": {"id": "9a1d2c3b-2222-4e5f-8a9b-000000000002",
                           "integration_slug": "bamboohr", "category": "hris"},
        "data": {"id": employee, "remote_id": "1043", "first_name": "Ada",
                 "last_name": "Lovelace", "work_email": format!("{employee}@acme.example"),
                 "employment_status": status, "start_date": start,
                 "termination_date": null, "remote_was_deleted": false,
                 "modified_at": modified}
    })
    .to_string()
    .into_bytes()
}

fn merge_leaver(employee: &str, modified: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&merge(
        "Employee.changed",
        employee,
        "INACTIVE",
        "2030-03-10T00:00:00Z",
        modified,
    ))
    .unwrap();
    body["data"]["termination_date"] = json!("2030-03-01T00:00:00Z");
    body.to_string().into_bytes()
}

async fn post(app: &TestApp, body: &[u8]) {
    let headers = python_sign("merge", MERGE_SECRET, 0, "", body);
    assert_eq!(app.post("merge", &headers, body).await.status(), 202);
}

/// Merge with Paris as the audit time zone, an HTTP product target, and the test's clock.
async fn start(clock: &ManualClock, product: &TargetServer) -> TestApp {
    start_with(clock, product, "").await
}

async fn start_with(clock: &ManualClock, product: &TargetServer, targets: &str) -> TestApp {
    let iso = Isolation::new();
    let extra = format!(
        "{}\n{targets}\n[audit]\ntime_zone = \"Europe/Paris\"\n",
        product.config("product")
    );
    let config = test_config_with(&iso, &amqp_url(), &extra);
    let shared: SharedClock = Arc::new(clock.clone());
    spawn_with_clock(config, iso, Role::All, shared).await
}

/// Post a Merge `Employee.added` PENDING for a new employee starting on `start`, and wait
/// until it is recorded; returns the employee id.
async fn hire_pending(app: &TestApp, prefix: &str, start: &str) -> String {
    let employee = unique(prefix);
    let hire = merge(
        "Employee.added",
        &employee,
        "PENDING",
        start,
        "2030-03-01T09:00:00Z",
    );
    post(app, &hire).await;
    app.employee_after("merge", &employee, 1).await;
    employee
}

fn target<'a>(view: &'a Value, name: &str) -> &'a Value {
    let targets = view["targets"].as_array().unwrap();
    targets.iter().find(|t| t["target"] == name).unwrap()
}

async fn wait_status(app: &TestApp, employee: &str, status: &str) -> Value {
    wait_for(&format!("{employee} to be {status}"), || async {
        let view = app.employee("merge", employee).await?;
        (view["status"] == status).then_some(view)
    })
    .await
}

#[tokio::test]
async fn a_pending_hire_is_activated_at_the_start_of_its_start_date_in_the_audit_time_zone() {
    let clock = ManualClock::new(at("2030-03-01T12:00:00Z"));
    let product = TargetServer::start(&[], 200).await;
    let scim = ScimServer::start().await;
    let scim_base = format!("http://127.0.0.1:{}", scim.port);
    let app = start_with(&clock, &product, &scim_target(&scim_base, "deactivate")).await;
    let employee = unique("prehire");
    let hire = merge(
        "Employee.added",
        &employee,
        "PENDING",
        "2030-03-10T00:00:00Z",
        "2030-03-01T09:00:00Z",
    );
    post(&app, &hire).await;

    let view = app.employee_after("merge", &employee, 1).await;
    assert_eq!(view["status"], "pending", "{view}");
    assert_eq!(view["events"][0]["outcome"], "applied");
    let reason = view["events"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("pre-hire"), "{reason}");
    let directory = target(&view, "directory");
    assert_eq!(directory["status"], "pending");
    assert_eq!(directory["email"], format!("{employee}@acme.example"));
    assert!(directory["role"].is_null());
    // Midnight in Paris (UTC+1 in March) on the start date.
    assert_eq!(
        view["scheduled_activation"]["due_at"],
        "2030-03-09T23:00:00Z"
    );
    // No external account before the start.
    assert_eq!(view["actions"], json!([]));
    assert!(product.requests().is_empty());
    assert!(scim.users_of("merge", &employee).await.is_empty());

    clock.set(at("2030-03-09T22:59:00Z"));
    let pending = app.employee("merge", &employee).await.unwrap();
    assert_eq!(pending["status"], "pending");

    clock.set(at("2030-03-09T23:00:01Z"));
    let view = wait_status(&app, &employee, "active").await;
    assert_eq!(target(&view, "directory")["status"], "active");
    assert!(view["scheduled_activation"].is_null());
    let started = &view["events"][1];
    assert_eq!(
        started["event_id"],
        format!("{}:start", view["events"][0]["event_id"].as_str().unwrap())
    );
    assert_eq!(started["reason"], "start date reached: pre-hire activated");
    let activated = wait_for("the product to be told", || async {
        let requests = product.requests();
        requests.into_iter().next()
    })
    .await;
    assert_eq!(activated.body["data"]["id"], employee.as_str());
    assert_eq!(activated.body["data"]["status"], "active");
    let user = wait_for("the SCIM user", || async {
        scim.users_of("merge", &employee).await.into_iter().next()
    })
    .await;
    assert_eq!(user["active"], true);
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_before_the_start_cancels_the_activation() {
    let clock = ManualClock::new(at("2030-03-01T12:00:00Z"));
    let product = TargetServer::start(&[], 200).await;
    let app = start(&clock, &product).await;
    let employee = hire_pending(&app, "noshow", "2030-03-10T00:00:00Z").await;
    post(&app, &merge_leaver(&employee, "2030-03-01T10:00:00Z")).await;

    let view = app.employee_after("merge", &employee, 2).await;
    assert_eq!(view["status"], "terminated", "{view}");
    assert_eq!(target(&view, "directory")["status"], "deactivated");
    assert!(view["scheduled_activation"].is_null());
    let cancelled: (String, String) =
        sqlx::query_as("SELECT status, reason FROM scheduled_activations WHERE employee_id = $1")
            .bind(&employee)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        cancelled,
        (
            "cancelled".into(),
            "terminated before the start date".into()
        )
    );

    // The start date passes: nothing is enqueued, the leaver stays out.
    clock.set(at("2030-03-11T00:00:00Z"));
    assert_eq!(crate::scheduling::tick(&app, &clock).await, 0);
    let view = app.employee("merge", &employee).await.unwrap();
    assert_eq!(view["status"], "terminated");
    assert_eq!(target(&view, "directory")["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn a_pre_hire_is_rescheduled_by_a_new_start_date_and_kept_pending_by_a_bare_edit() {
    let clock = ManualClock::new(at("2030-03-01T12:00:00Z"));
    let product = TargetServer::start(&[], 200).await;
    let app = start(&clock, &product).await;
    let employee = hire_pending(&app, "moved", "2030-03-10T00:00:00Z").await;
    let moved = merge(
        "Employee.changed",
        &employee,
        "PENDING",
        "2030-04-06T00:00:00Z",
        "2030-03-01T10:00:00Z",
    );
    post(&app, &moved).await;
    let view = app.employee_after("merge", &employee, 2).await;
    assert_eq!(view["status"], "pending");
    // April: Paris is UTC+2.
    assert_eq!(
        view["scheduled_activation"]["due_at"],
        "2030-04-05T22:00:00Z"
    );

    // An edit without a status does not activate a pre-hire.
    let mut edit: Value = serde_json::from_slice(&moved).unwrap();
    edit["data"]["employment_status"] = Value::Null;
    edit["data"]["modified_at"] = json!("2030-03-01T11:00:00Z");
    edit["data"]["first_name"] = json!("Augusta");
    post(&app, edit.to_string().as_bytes()).await;
    let view = app.employee_after("merge", &employee, 3).await;
    assert_eq!(view["status"], "pending", "{view}");
    let directory = target(&view, "directory");
    assert_eq!(directory["status"], "pending");
    assert!(view["scheduled_activation"].is_object());

    // An explicit active status before the start activates now.
    let active = merge(
        "Employee.changed",
        &employee,
        "ACTIVE",
        "2030-04-06T00:00:00Z",
        "2030-03-01T12:00:00Z",
    );
    post(&app, &active).await;
    let view = app.employee_after("merge", &employee, 4).await;
    assert_eq!(view["status"], "active");
    assert_eq!(target(&view, "directory")["status"], "active");
    assert!(view["scheduled_activation"].is_null());
    app.cleanup().await;
}

#[tokio::test]
async fn a_fixed_term_pre_hire_starts_on_its_start_date_and_still_leaves_on_its_end_date() {
    let clock = ManualClock::new(at("2030-03-01T12:00:00Z"));
    let product = TargetServer::start(&[], 200).await;
    let app = start(&clock, &product).await;
    let employee = unique("fixedterm");
    let mut hire: Value = serde_json::from_slice(&merge(
        "Employee.added",
        &employee,
        "PENDING",
        "2030-03-10T00:00:00Z",
        "2030-03-01T09:00:00Z",
    ))
    .unwrap();
    hire["data"]["termination_date"] = json!("2030-03-20T00:00:00Z");
    post(&app, hire.to_string().as_bytes()).await;
    let view = app.employee_after("merge", &employee, 1).await;
    assert_eq!(view["status"], "pending", "{view}");
    assert!(view["scheduled_activation"].is_object(), "{view}");
    assert!(view["scheduled_termination"].is_object(), "{view}");

    // The start activates and leaves the end date waiting.
    clock.set(at("2030-03-10T00:00:01Z"));
    let view = wait_status(&app, &employee, "active").await;
    assert!(view["scheduled_termination"].is_object(), "{view}");
    assert_eq!(
        view["scheduled_termination"]["due_at"],
        "2030-03-20T23:00:00Z"
    );

    clock.set(at("2030-03-20T23:00:01Z"));
    let view = wait_status(&app, &employee, "terminated").await;
    assert_eq!(target(&view, "directory")["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn a_leaver_marked_pending_with_the_old_start_date_is_not_reactivated() {
    let clock = ManualClock::new(at("2030-03-01T12:00:00Z"));
    let product = TargetServer::start(&[], 200).await;
    let app = start(&clock, &product).await;
    let employee = unique("oldstart");
    let hire = merge(
        "Employee.added",
        &employee,
        "ACTIVE",
        "2025-01-07T00:00:00Z",
        "2029-01-07T09:00:00Z",
    );
    post(&app, &hire).await;
    app.employee_after("merge", &employee, 1).await;
    // Senders' times here are clamped to receipt (the test clock is years ahead).
    let mut leaver: Value =
        serde_json::from_slice(&merge_leaver(&employee, "2030-03-01T10:00:00Z")).unwrap();
    leaver["data"]["termination_date"] = json!("2026-01-01T00:00:00Z");
    post(&app, leaver.to_string().as_bytes()).await;
    assert_eq!(
        app.employee_after("merge", &employee, 2).await["status"],
        "terminated"
    );
    // Rehired as pending, but the record still carries the first start date.
    let pending = merge(
        "Employee.changed",
        &employee,
        "PENDING",
        "2025-01-07T00:00:00Z",
        "2030-03-01T11:00:00Z",
    );
    post(&app, &pending).await;
    let view = app.employee_after("merge", &employee, 3).await;
    assert_eq!(view["status"], "pending", "{view}");
    assert_eq!(target(&view, "directory")["status"], "pending");
    assert!(view["scheduled_activation"].is_null());
    assert_eq!(
        view["events"][2]["reason"],
        "pre-hire without a start date: account pending until an explicit active status"
    );
    app.cleanup().await;
}
