//! Future-dated terminations: scheduled, applied when due, cancelled by a newer event,
//! surviving restarts. Time is a clock the test sets, never a sleep.

use std::sync::Arc;

use provisiond::domain::clock::{ManualClock, SharedClock};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

fn envelope(kind: &str, employee: &str, timestamp: &str, termination: Option<&str>) -> Vec<u8> {
    json!({
        "type": format!("employee.{kind}"), "timestamp": timestamp,
        "data": {"id": employee, "email": format!("{employee}@example.com"),
                 "termination_date": termination}
    })
    .to_string()
    .into_bytes()
}

async fn start(iso: &Isolation, clock: &ManualClock, role: Role) -> TestApp {
    let shared: SharedClock = Arc::new(clock.clone());
    spawn_with_clock(test_config(iso, &amqp_url()), iso.clone(), role, shared).await
}

/// A clock at 2030-01-10 noon and an app of every role that reads it.
async fn rig() -> (ManualClock, TestApp) {
    let clock = ManualClock::new(at("2030-01-10T12:00:00Z"));
    let app = start(&Isolation::new(), &clock, Role::All).await;
    (clock, app)
}

/// A hire sent before the rig's first day.
async fn hire(app: &TestApp, employee: &str) {
    let body = envelope("created", employee, "2030-01-01T00:00:00Z", None);
    app.send_hris(&body).await;
}

/// A termination sent on the rig's first morning, effective on `date`.
async fn leave(app: &TestApp, employee: &str, date: &str) {
    let body = envelope("terminated", employee, "2030-01-10T09:00:00Z", Some(date));
    app.send_hris(&body).await;
}

/// An update that says the employee is active: an explicit signal, unlike a bare edit.
fn active_update(employee: &str, timestamp: &str) -> Vec<u8> {
    let mut update: Value = serde_json::from_slice(&envelope("updated", employee, timestamp, None))
        .expect("an envelope is JSON");
    update["data"]["status"] = json!("active");
    update.to_string().into_bytes()
}

/// Run one scheduler pass by hand; returns how many terminations it enqueued.
pub(crate) async fn tick(app: &TestApp, clock: &ManualClock) -> usize {
    let publisher = TestPublisher::start(app).await;
    let shared: SharedClock = Arc::new(clock.clone());
    let enqueued = provisiond::worker::scheduler::tick(&app.pool, &publisher.publisher, &shared)
        .await
        .unwrap();
    publisher.stop().await;
    enqueued
}

#[tokio::test]
async fn a_future_termination_waits_for_its_date_and_then_applies() {
    let (clock, app) = rig().await;
    let employee = unique("leaver");
    hire(&app, &employee).await;
    app.employee_after("hris", &employee, 1).await;
    leave(&app, &employee, "2030-01-15").await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(view["events"][1]["outcome"], "scheduled");
    assert_eq!(view["status"], "active");
    assert_eq!(view["targets"][0]["status"], "active");
    // end_of_day in UTC: effective at the start of the 16th.
    assert_eq!(
        view["scheduled_termination"]["due_at"],
        "2030-01-16T00:00:00Z"
    );

    clock.set(at("2030-01-15T23:59:00Z"));
    assert_eq!(tick(&app, &clock).await, 0, "not due yet");
    assert_eq!(
        app.employee("hris", &employee).await.unwrap()["status"],
        "active"
    );

    clock.set(at("2030-01-16T00:00:01Z"));
    let view = app.wait_status("hris", &employee, "terminated").await;
    assert_eq!(view["targets"][0]["status"], "deactivated");
    // The scheduler marks its row enqueued once the broker has confirmed the publish,
    // which the worker may beat in applying it: the row goes a moment later.
    wait_for("the scheduled termination to leave the view", || async {
        let view = app.employee("hris", &employee).await?;
        view["scheduled_termination"].is_null().then_some(())
    })
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_newer_event_rescinds_a_scheduled_termination() {
    let (clock, app) = rig().await;
    let employee = unique("stays");
    leave(&app, &employee, "2030-01-20").await;
    app.employee_after("hris", &employee, 1).await;
    // HR rescinds: a newer update that says the person is active, without a date.
    app.send_hris(&active_update(&employee, "2030-01-11T09:00:00Z"))
        .await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert!(view["scheduled_termination"].is_null());
    clock.set(at("2030-02-01T00:00:00Z"));
    assert_eq!(tick(&app, &clock).await, 0, "nothing left to apply");
    let status: String = sqlx::query_scalar("SELECT status FROM scheduled_terminations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    assert_eq!(
        app.employee("hris", &employee).await.unwrap()["status"],
        "active"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_ordinary_edit_does_not_rescind_a_scheduled_termination() {
    let (clock, app) = rig().await;
    let employee = unique("leaving");
    leave(&app, &employee, "2030-01-20").await;
    app.employee_after("hris", &employee, 1).await;
    // A thin sender's `updated` (a new address, final pay): no status, no date.
    let edit = envelope("updated", &employee, "2030-01-11T09:00:00Z", None);
    app.send_hris(&edit).await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(
        view["scheduled_termination"]["due_at"], "2030-01-21T00:00:00Z",
        "still waiting: {view}"
    );
    clock.set(at("2030-01-21T00:00:01Z"));
    let view = app.wait_status("hris", &employee, "terminated").await;
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_dated_today_applies_at_once() {
    let (_clock, app) = rig().await;
    let employee = unique("today");
    leave(&app, &employee, "2030-01-10").await;
    let view = app.wait_status("hris", &employee, "terminated").await;
    assert_eq!(view["events"][0]["outcome"], "applied");
    app.cleanup().await;
}

#[tokio::test]
async fn a_restart_between_scheduling_and_due_time_loses_nothing() {
    let clock = ManualClock::new(at("2030-01-10T12:00:00Z"));
    let iso = Isolation::new();
    let mut first = start(&iso, &clock, Role::All).await;
    let employee = unique("restart");
    leave(&first, &employee, "2030-01-12").await;
    first.employee_after("hris", &employee, 1).await;
    first.stop().await.unwrap();

    clock.set(at("2030-01-13T00:00:01Z"));
    let second = start(&iso, &clock, Role::Worker).await;
    let view = second.wait_status("hris", &employee, "terminated").await;
    assert_eq!(view["targets"][0]["status"], "deactivated");
    second.cleanup().await;
}

#[tokio::test]
async fn an_active_update_dated_before_the_leave_date_does_not_rehire_after_it() {
    let (clock, app) = rig().await;
    let employee = unique("dated");
    leave(&app, &employee, "2030-01-15").await;
    app.employee_after("hris", &employee, 1).await;
    clock.set(at("2030-01-16T00:00:01Z"));
    app.wait_status("hris", &employee, "terminated").await;
    // Sent on the 12th (before the leave date), delivered after it: not a rehire.
    app.send_hris(&active_update(&employee, "2030-01-12T09:00:00Z"))
        .await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(view["events"][2]["outcome"], "stale", "{view}");
    assert_eq!(view["status"], "terminated");
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn a_replayed_scheduled_termination_deactivates_even_when_announced_as_an_update() {
    use crate::target_server::TargetServer;
    // The product takes the hire and the update, refuses the first deactivation (400),
    // then recovers.
    let product = TargetServer::start(&[200, 200, 400], 200).await;
    let clock = ManualClock::new(at("2030-01-10T12:00:00Z"));
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &product.config("product"));
    let shared: SharedClock = Arc::new(clock.clone());
    let app = spawn_with_clock(config, iso, Role::All, shared).await;
    let employee = unique("announced");
    hire(&app, &employee).await;
    app.employee_after("hris", &employee, 1).await;
    // A full-snapshot update that carries the leave date: scheduled, not applied.
    let update = envelope(
        "updated",
        &employee,
        "2030-01-10T09:00:00Z",
        Some("2030-01-15"),
    );
    app.send_hris(&update).await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert!(view["scheduled_termination"].is_object(), "{view}");
    clock.set(at("2030-01-16T00:00:01Z"));
    app.wait_status("hris", &employee, "terminated").await;
    let letter = wait_for("the refused deactivation's dead letter", || async {
        let id: i64 = sqlx::query_scalar("SELECT id FROM dead_letters WHERE status = 'dead'")
            .fetch_optional(&app.pool)
            .await
            .ok()??;
        Some(id)
    })
    .await;
    let path = format!("/admin/dead-letters/{letter}/replay");
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    wait_for("the product deactivated", || async {
        let view = app.employee("hris", &employee).await?;
        let targets = view["targets"].as_array()?;
        let product = targets.iter().find(|t| t["target"] == "product")?;
        (product["status"] == "deactivated").then_some(())
    })
    .await;
    let calls: Vec<Value> = product.requests().into_iter().map(|r| r.body).collect();
    let types: Vec<&str> = calls.iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "employee.created",
            "employee.updated",
            "employee.terminated",
            "employee.terminated"
        ],
        "the replay sent a deactivation, never an activation"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_date_that_passes_while_the_update_waits_in_the_queue_terminates() {
    // Received while the date is ahead (2030-01-15), processed after it.
    let clock = ManualClock::new(at("2030-01-10T12:00:00Z"));
    let iso = Isolation::new();
    let receiver = start(&iso, &clock, Role::Receiver).await;
    let employee = unique("queued");
    hire(&receiver, &employee).await;
    let update = envelope(
        "updated",
        &employee,
        "2030-01-10T09:00:00Z",
        Some("2030-01-15"),
    );
    receiver.send_hris(&update).await;
    clock.set(at("2030-01-20T00:00:00Z"));
    let worker = start(&iso, &clock, Role::Worker).await;
    let view = worker.wait_status("hris", &employee, "terminated").await;
    assert_eq!(view["events"][1]["kind"], "terminated", "{view}");
    assert_eq!(view["targets"][0]["status"], "deactivated");
    worker.cleanup().await;
    receiver.cleanup().await;
}

#[tokio::test]
async fn the_scheduler_claims_due_rows_without_holding_a_lock_while_it_publishes() {
    use provisiond::store::schedule::{self, Scheduled};
    let app = spawn_app(Role::Receiver).await;
    for (employee, event) in [("emp_a", "evt_a"), ("emp_b", "evt_b")] {
        sqlx::query(
            "INSERT INTO scheduled_terminations (source, employee_id, event_id, source_kind, \
             body, received_at, effective_at, due_at) \
             VALUES ('hris', $1, $2, 'standard-webhooks', '{}', now(), now(), now() - interval '1 minute')",
        )
        .bind(employee)
        .bind(event)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let now = chrono::Utc::now();
    let claimed = schedule::claim_due(&app.pool, Scheduled::Termination, now, 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // Claimed rows are not locked: another transaction takes them at once.
    let mut tx = app.pool.begin().await.unwrap();
    let locked: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM scheduled_terminations FOR UPDATE NOWAIT")
            .fetch_all(&mut *tx)
            .await
            .expect("no row lock outlives the claim");
    assert_eq!(locked.len(), 2);
    tx.rollback().await.unwrap();
    // Another scheduler does not take them while the claim lasts.
    let again = schedule::claim_due(&app.pool, Scheduled::Termination, now, 100)
        .await
        .unwrap();
    assert!(again.is_empty());
    // A termination being published is not cancelled under it (it must apply).
    let mut conn = app.pool.acquire().await.unwrap();
    let cancelled =
        schedule::cancel_for_employee(&mut conn, Scheduled::Termination, "hris", "emp_a", "rehire")
            .await
            .unwrap();
    assert_eq!(cancelled, 0);
    // Publishing failed for the second: it is given back and claimed on the next tick.
    schedule::mark_enqueued(&app.pool, Scheduled::Termination, claimed[0].id)
        .await
        .unwrap();
    schedule::release_claims(&app.pool, Scheduled::Termination, &[claimed[1].id])
        .await
        .unwrap();
    let next = schedule::claim_due(&app.pool, Scheduled::Termination, now, 100)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, claimed[1].id);
    app.cleanup().await;
}
