//! A worker that cannot stall: a delivery whose handler panics is requeued, a stuck pool
//! makes `/readyz` say so, a dead session's tasks stay within the concurrency bound, and
//! shutdown ends even while a target never answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use provisiond::domain::message::QueueMessage;
use provisiond::worker::handler::{FaultHook, ProcessingHook};
use provisiond::Role;
use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::*;
use crate::proxy::BrokerProxy;

/// An HTTP target that holds every request until the test opens it, then answers 200.
#[derive(Clone)]
struct HeldTarget {
    url: String,
    state: Arc<Held>,
}

struct Held {
    open: watch::Sender<bool>,
    bodies: Mutex<Vec<String>>,
    /// Requests the client gave up on before the answer.
    dropped: AtomicUsize,
}

impl HeldTarget {
    async fn start() -> HeldTarget {
        let state = Arc::new(Held {
            open: watch::Sender::new(false),
            bodies: Mutex::default(),
            dropped: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(hold).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/provision", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        HeldTarget { url, state }
    }

    /// The `[[targets]]` entry, with a call timeout far longer than any test.
    fn config(&self, name: &str) -> String {
        format!(
            "[[targets]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{}\"\n\
             secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\ntimeout = \"1h\"\n",
            self.url
        )
    }

    fn open(&self) {
        self.state.open.send_replace(true);
    }

    /// Requests received (held or answered) that name `employee`.
    fn requests_for(&self, employee: &str) -> usize {
        let bodies = self.state.bodies.lock().unwrap();
        bodies.iter().filter(|b| b.contains(employee)).count()
    }

    async fn wait_request_for(&self, employee: &str) {
        wait_for(&format!("a target request for {employee}"), || async {
            (self.requests_for(employee) > 0).then_some(())
        })
        .await;
    }
}

async fn hold(State(held): State<Arc<Held>>, body: String) -> StatusCode {
    held.bodies.lock().unwrap().push(body);
    let guard = Waiting(held.clone());
    let mut open = held.open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    std::mem::forget(guard);
    StatusCode::OK
}

/// Counts a held request whose client went away (the server drops its handler).
struct Waiting(Arc<Held>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fault hook that panics the first time `point` is reached for `event_id`.
fn panic_once_at(point: &'static str, event_id: &str) -> FaultHook {
    let event_id = event_id.to_owned();
    let fired = AtomicUsize::new(0);
    Arc::new(move |at: &str, m: &QueueMessage| {
        if at == point && m.event_id == event_id && fired.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected fault at {point}");
        }
    })
}

/// A config whose worker holds at most two unacked deliveries, one message per batch: a
/// single delivery left unsettled would soon stop consumption altogether.
fn narrow_config(iso: &Isolation) -> provisiond::Config {
    let mut config = test_config(iso, &amqp_url());
    config.rabbitmq.prefetch = 2;
    config.worker.batch_size = 1;
    config
}

async fn hire_all(app: &TestApp, employees: &[String]) {
    for employee in employees {
        let body = hris_body("created", employee, "2026-03-02T09:15:00Z");
        app.send_hris(&body).await;
    }
}

async fn readyz(app: &TestApp) -> Option<(u16, Value)> {
    let url = format!("{}/readyz", app.address);
    let response = app.client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

fn later_hires(n: usize) -> Vec<String> {
    (0..n).map(|i| unique(&format!("later{i}"))).collect()
}

#[tokio::test]
async fn a_panic_while_settling_requeues_the_delivery_and_the_worker_keeps_consuming() {
    let iso = Isolation::new();
    let poison = unique("settle_panic");
    let fault = panic_once_at("settle", &poison);
    let app = spawn_with_fault(narrow_config(&iso), iso, Role::All, fault).await;
    let employee = unique("settled");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let response = app.post("hris", &hris_headers(&body, &poison), &body).await;
    assert_eq!(response.status(), 202);

    // The panic came after the commit: the redelivery finds the event done.
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(outcomes(&view), ["applied", "duplicate"]);
    // More than the prefetch window of later events: none is blocked behind the panic.
    let later = later_hires(4);
    hire_all(&app, &later).await;
    for employee in &later {
        let view = app.employee_after("hris", employee, 1).await;
        assert_eq!(outcomes(&view), ["applied"]);
    }
    let metrics = app.metrics().await;
    let abandoned = metrics
        .lines()
        .find_map(|l| l.strip_prefix("provisiond_deliveries_abandoned_total "));
    let abandoned: f64 = abandoned.expect("the requeue is counted").parse().unwrap();
    assert!(abandoned >= 1.0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_panic_while_dead_lettering_requeues_the_delivery_until_the_letter_is_written() {
    let iso = Isolation::new();
    let poison = unique("dead_letter_panic");
    let fault = panic_once_at("dead_letter", &poison);
    let app = spawn_with_fault(narrow_config(&iso), iso, Role::All, fault).await;
    let raw = b"not json, and dead-lettering it panics once".to_vec();
    let response = app.post("hris", &hris_headers(&raw, &poison), &raw).await;
    assert_eq!(response.status(), 202);

    let letter = app.dead_letter(&poison).await;
    assert_eq!(letter["reason"], "permanent_error");
    let later = later_hires(4);
    hire_all(&app, &later).await;
    for employee in &later {
        app.employee_after("hris", employee, 1).await;
    }
    let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE event_id = $1")
        .bind(&poison)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(letters, 1, "written once");
    app.cleanup().await;
}

#[tokio::test]
async fn readyz_reports_a_stalled_worker_until_it_progresses_again() {
    let target = HeldTarget::start().await;
    let iso = Isolation::new();
    let mut config = test_config_with(&iso, &amqp_url(), &target.config("app"));
    config.worker.stall_timeout = Duration::from_millis(500);
    let app = spawn_with(config, iso, Role::All).await;
    let employee = unique("stuck");
    hire_all(&app, std::slice::from_ref(&employee)).await;
    target.wait_request_for(&employee).await;

    let body = wait_for("readyz to report the worker stalled", || async {
        let (status, body) = readyz(&app).await?;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["worker"], "stalled");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["broker"], "ok");

    target.open();
    app.wait_target(&employee, "app", "active").await;
    let body = wait_for("readyz to be ready again", || async {
        let (status, body) = readyz(&app).await?;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(body["checks"]["worker"], "ok");
    app.cleanup().await;
}

/// Counts how many times processing started for each event.
fn counting_hook(calls: &Arc<Mutex<HashMap<String, usize>>>) -> ProcessingHook {
    let calls = calls.clone();
    Arc::new(move |m: &QueueMessage| {
        *calls.lock().unwrap().entry(m.event_id.clone()).or_default() += 1;
    })
}

#[tokio::test]
async fn after_a_reconnect_the_redelivery_waits_for_the_orphaned_task_and_applies_once() {
    let proxy = BrokerProxy::start().await;
    let target = HeldTarget::start().await;
    let iso = Isolation::new();
    let mut config = test_config_with(&iso, &proxy.url(), &target.config("app"));
    config.worker.stall_timeout = Duration::from_secs(1);
    config.worker.concurrency = 1;
    let calls = Arc::default();
    let hook = Some(counting_hook(&calls));
    let clock = provisiond::domain::clock::system();
    let app = spawn_custom(config, iso, Role::All, clock, hook).await;
    let employee = unique("orphaned");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let event_id = app.send_hris(&body).await;
    target.wait_request_for(&employee).await;

    // The consumer's connection dies while its task waits on the target: that task lives
    // on, holding the (employee, target) lock; the broker redelivers the message.
    proxy.cut();
    wait_for("the worker to notice the broker is gone", || async {
        let (_, body) = readyz(&app).await?;
        (body["checks"]["broker"] == "unavailable").then_some(())
    })
    .await;
    proxy.restore();
    // A new session consuming for a whole stall_timeout without settling anything.
    wait_for("the new session to consume and stall", || async {
        let (_, body) = readyz(&app).await?;
        let checks = &body["checks"];
        (checks["broker"] == "ok" && checks["worker"] == "stalled").then_some(())
    })
    .await;
    let started = calls.lock().unwrap().get(&event_id).copied();
    assert_eq!(
        started,
        Some(1),
        "the redelivery did not start beside the orphaned task (one batch at a time)"
    );
    let view = app.employee("hris", &employee).await.unwrap();
    assert_eq!(outcomes(&view), ["applied"], "nothing acked as done yet");

    target.open();
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(outcomes(&view), ["applied", "duplicate"]);
    app.wait_target(&employee, "app", "active").await;
    let next = unique("next");
    hire_all(&app, std::slice::from_ref(&next)).await;
    app.wait_target(&next, "app", "active").await;
    assert_eq!(
        target.requests_for(&employee),
        1,
        "applied once on the target"
    );
    assert_eq!(target.requests_for(&next), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn shutdown_ends_while_a_target_never_answers_cancelling_the_call_and_requeueing_the_message()
{
    let target = HeldTarget::start().await;
    let iso = Isolation::new();
    let mut config = test_config_with(&iso, &amqp_url(), &target.config("app"));
    config.server.shutdown_timeout = Duration::from_millis(500);
    let mut app = spawn_with(config, iso, Role::All).await;
    let employee = unique("never_answered");
    hire_all(&app, std::slice::from_ref(&employee)).await;
    target.wait_request_for(&employee).await;

    // Generous: this bounds a hang, it does not time the shutdown.
    let stopped = tokio::time::timeout(Duration::from_secs(60), app.stop()).await;
    stopped
        .expect("shutdown returned while the call was still open")
        .expect("clean shutdown");
    wait_for("the target call to be cancelled", || async {
        (target.state.dropped.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    wait_for("the message back in the queue", || async {
        (app.queued_messages().await == 1).then_some(())
    })
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_target_call_in_flight_holds_no_row_lock_and_a_later_event_waits_for_its_lease() {
    let target = HeldTarget::start().await;
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &target.config("app"));
    let app = spawn_with(config, iso, Role::All).await;
    let employee = unique("leased");
    app.send_hris(&hris_body("created", &employee, "2026-03-02T09:15:00Z"))
        .await;
    target.wait_request_for(&employee).await;

    // While the call is held: no transaction holds the action's row or an advisory lock.
    let mut tx = app.pool.begin().await.unwrap();
    let rows: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM provisioning_actions FOR UPDATE NOWAIT")
            .fetch_all(&mut *tx)
            .await
            .expect("no row lock is held across the target call");
    assert_eq!(rows.len(), 1);
    tx.rollback().await.unwrap();
    let advisory: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND a.datname = current_database()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        advisory, 0,
        "no advisory lock is held across the target call"
    );

    // A termination arriving meanwhile waits for the hire's call, then deactivates.
    app.send_hris(&hris_body("terminated", &employee, "2026-03-03T09:15:00Z"))
        .await;
    target.open();
    app.wait_target(&employee, "app", "deactivated").await;
    let bodies = target.state.bodies.lock().unwrap().clone();
    let kinds: Vec<&str> = bodies
        .iter()
        .filter(|b| b.contains(&employee))
        .map(|b| {
            if b.contains("employee.terminated") {
                "terminated"
            } else {
                "created"
            }
        })
        .collect();
    assert_eq!(
        kinds,
        ["created", "terminated"],
        "one call at a time, in order"
    );
    app.cleanup().await;
}
