//! The deprovision report and the tamper-evident audit log, against real services. The
//! arithmetic tests insert fixture timelines with chosen timestamps; the flow tests go
//! through webhooks, a real HTTP target, the dead-letter log and replay.

use std::collections::HashMap;
use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, Utc};
use provisiond::Role;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;
use crate::target_server::TargetServer;

fn secs(s: f64) -> chrono::Duration {
    chrono::Duration::microseconds((s * 1_000_000.0).round() as i64)
}

/// A base time a day ago: inside the default 30-day window.
fn base() -> DateTime<Utc> {
    let now = Utc::now() - chrono::Duration::days(1);
    // Whole seconds, so every fixture time is exact.
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    pool: &PgPool,
    source: &str,
    employee: &str,
    event_id: &str,
    kind: &str,
    outcome: &str,
    trigger: &str,
    occurred: DateTime<Utc>,
    effective: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
    processed: DateTime<Utc>,
) {
    sqlx::query(
        "INSERT INTO events (source, event_id, employee_id, kind, outcome, trigger, occurred_at, \
         effective_at, received_at, published_at, processed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(source)
    .bind(event_id)
    .bind(employee)
    .bind(kind)
    .bind(outcome)
    .bind(trigger)
    .bind(occurred)
    .bind(effective)
    .bind(received)
    .bind(received + secs(0.001))
    .bind(processed)
    .execute(pool)
    .await
    .unwrap();
}

/// An applied termination received at `received`, directory revoked `latency` later.
async fn termination(
    pool: &PgPool,
    source: &str,
    employee: &str,
    received: DateTime<Utc>,
    latency: f64,
) -> String {
    let event_id = format!("ev_{employee}");
    let occurred = received - secs(3600.0);
    let processed = received + secs(latency);
    insert_event(
        pool,
        source,
        employee,
        &event_id,
        "terminated",
        "applied",
        "webhook",
        occurred,
        None,
        received,
        processed,
    )
    .await;
    event_id
}

async fn action(
    pool: &PgPool,
    event_id: &str,
    employee: &str,
    target: &str,
    status: &str,
    finished: Option<DateTime<Utc>>,
    error: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO provisioning_actions (source, event_id, employee_id, target, action, status, \
         attempts, error, started_at, finished_at) \
         VALUES ('hris', $1, $2, $3, 'deactivate', $4, 1, $5, $6, $6)",
    )
    .bind(event_id)
    .bind(employee)
    .bind(target)
    .bind(status)
    .bind(error)
    .bind(finished)
    .execute(pool)
    .await
    .unwrap();
}

async fn report(app: &TestApp, query: &str) -> Value {
    let response = app
        .admin_get(&format!("/admin/audit/deprovision?{query}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

/// The nearest-rank percentile, written independently of provisiond's.
fn rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len() as f64;
    let r = ((p / 100.0) * n - 1e-9).ceil().max(1.0) as usize;
    sorted[r - 1]
}

#[tokio::test]
async fn audit_report_counts_terminations_and_computes_exact_percentiles() {
    let app = spawn_app(Role::All).await;
    let pool = &app.pool;
    let t0 = base();
    // Directory latencies in seconds, inserted out of order.
    let latencies = [
        377.0, 0.25, 2584.0, 1.0, 13.0, 900.0, 1.5, 2.0, 4181.0, 3.0, 5.0, 8.0, 987.0, 21.0, 34.0,
        55.0, 89.0, 144.0, 233.0, 1597.0,
    ];
    let mut ids = HashMap::new();
    for (n, latency) in latencies.iter().enumerate() {
        let employee = format!("emp{n:02}");
        let received = t0 + secs(n as f64 * 10.0);
        let event_id = termination(pool, "hris", &employee, received, *latency).await;
        ids.insert(employee, (event_id, received));
    }
    // emp01, emp03, emp06 (0.25 s, 1 s, 1.5 s): the directory at 0.1 s, then an external
    // target at the latency above, which is when they complete.
    for employee in ["emp01", "emp03", "emp06"] {
        let (event_id, received) = &ids[employee];
        let n: usize = employee[3..].parse().unwrap();
        sqlx::query("UPDATE events SET processed_at = $1 WHERE event_id = $2")
            .bind(*received + secs(0.1))
            .bind(event_id)
            .execute(pool)
            .await
            .unwrap();
        let finished = *received + secs(latencies[n]);
        action(
            pool,
            event_id,
            employee,
            "product",
            "succeeded",
            Some(finished),
            None,
        )
        .await;
    }
    // emp08 (4181 s) has a termination date a day before receipt.
    sqlx::query("UPDATE events SET effective_at = received_at - interval '1 day' WHERE event_id = 'ev_emp08'")
        .execute(pool)
        .await
        .unwrap();
    // Not terminations in the window: a hire, a duplicate delivery, an old termination,
    // and one from another source (excluded by the source filter only).
    let now = Utc::now();
    let noise = [
        ("hris", "hire", "created", "applied", t0),
        ("hris", "dup", "terminated", "duplicate", t0),
        (
            "hris",
            "old",
            "terminated",
            "applied",
            now - chrono::Duration::days(40),
        ),
        ("merge", "other", "terminated", "applied", t0),
    ];
    for (source, employee, kind, outcome, received) in noise {
        let event_id = format!("noise_{employee}");
        insert_event(
            pool,
            source,
            employee,
            &event_id,
            kind,
            outcome,
            "webhook",
            received,
            None,
            received,
            received + secs(1.0),
        )
        .await;
    }

    let r = report(&app, "source=hris&sla=15m").await;
    assert_eq!(r["sla_seconds"], 900.0);
    assert_eq!(r["source"], "hris");
    let c = &r["counts"];
    assert_eq!(c["terminations"], 20);
    assert_eq!(c["completed"], 20);
    assert_eq!(c["pending"], 0);
    assert_eq!(c["failed"], 0);
    assert_eq!(c["scheduled"], 0);
    // Sorted: 0.25 1 1.5 2 3 5 8 13 21 34 | 55 89 144 233 377 900 987 1597 2584 4181.
    let receipt = &r["latency_seconds"]["receipt_to_revoked"];
    assert_eq!(
        receipt,
        &json!({"count": 20, "p50": 34.0, "p90": 1597.0, "p95": 2584.0, "p99": 4181.0, "max": 4181.0})
    );
    // From occurred_at (an hour before receipt), or emp08's effective date (a day before).
    let effective = &r["latency_seconds"]["effective_to_revoked"];
    assert_eq!(
        effective,
        &json!({"count": 20, "p50": 3634.0, "p90": 5197.0, "p95": 6184.0,
                "p99": 90_581.0, "max": 90_581.0})
    );
    // Above 900 s, worst first; exactly 900 s is not a breach.
    let breaches: Vec<(String, f64, String)> = r["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let employee = b["employee_id"].as_str().unwrap().to_owned();
            (employee, f(&b["latency_seconds"]), b["status"].to_string())
        })
        .collect();
    let completed = "\"completed\"".to_owned();
    assert_eq!(
        breaches,
        vec![
            ("emp08".into(), 4181.0, completed.clone()),
            ("emp02".into(), 2584.0, completed.clone()),
            ("emp19".into(), 1597.0, completed.clone()),
            ("emp12".into(), 987.0, completed),
        ]
    );
    assert_eq!(r["counts"]["breaches"], 4);
    assert_eq!(r["breaches"][0]["event_id"], "ev_emp08");
    assert_eq!(r["incomplete"], json!([]));
    // Per target: the directory revoked all 20 (three of them at 0.1 s); product 3.
    let directory = &r["targets"]["directory"];
    assert_eq!(directory["count"], 20);
    assert_eq!(directory["p50"], 34.0);
    assert_eq!(directory["p99"], 4181.0);
    assert_eq!(directory["max"], 4181.0);
    let mut dir_values: Vec<f64> = latencies.to_vec();
    for v in dir_values.iter_mut() {
        if [0.25, 1.0, 1.5].contains(v) {
            *v = 0.1;
        }
    }
    dir_values.sort_by(f64::total_cmp);
    assert_eq!(f(&directory["p90"]), rank(&dir_values, 90.0));
    assert_eq!(f(&directory["p95"]), rank(&dir_values, 95.0));
    let product = &r["targets"]["product"];
    assert_eq!(
        (
            &product["count"],
            &product["p50"],
            &product["p99"],
            &product["max"]
        ),
        (&json!(3), &json!(1.0), &json!(1.5), &json!(1.5))
    );
    // The timeline of one of them: completed when the product was revoked.
    let timeline = r["terminations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["employee_id"] == "emp06")
        .unwrap();
    let received = ids["emp06"].1;
    assert_eq!(timeline["status"], "completed");
    assert_eq!(
        timeline["completed_at"],
        json!(received + secs(1.5)),
        "{timeline}"
    );
    assert_eq!(timeline["targets"][0]["target"], "directory");
    assert_eq!(
        timeline["targets"][0]["revoked_at"],
        json!(received + secs(0.1))
    );
    assert_eq!(timeline["targets"][1]["target"], "product");
    assert_eq!(timeline["receipt_to_revoked_seconds"], 1.5);

    // Every source: the merge one joins; a 30-minute SLA leaves two breaches.
    let all = report(&app, "sla=30m").await;
    assert_eq!(all["counts"]["terminations"], 21);
    assert_eq!(all["counts"]["breaches"], 2);
    assert_eq!(all["latency_seconds"]["receipt_to_revoked"]["count"], 21);
    // A window that ends before the last ten.
    let until = (t0 + secs(95.0)).to_rfc3339();
    let early = report(&app, &format!("source=hris&until={}", urlencode(&until))).await;
    assert_eq!(early["counts"]["terminations"], 10);
    app.cleanup().await;
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn audit_report_counts_terminations_processed_through_webhooks() {
    let app = spawn_app(Role::All).await;
    let n = 5;
    let mut employees = Vec::new();
    for i in 0..n {
        let employee = unique(&format!("leaver{i}"));
        let body = hris_body("terminated", &employee, "2026-03-02T09:15:00Z");
        let response = app
            .post("hris", &hris_headers(&body, &unique("msg")), &body)
            .await;
        assert_eq!(response.status(), 202);
        employees.push(employee);
    }
    let mut expected = Vec::new();
    for employee in &employees {
        let view = app.employee_after("hris", employee, 1).await;
        let event = &view["events"][0];
        assert_eq!(event["outcome"], "applied");
        let time = |key: &str| {
            DateTime::parse_from_rfc3339(event[key].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        let micros = (time("processed_at") - time("received_at"))
            .num_microseconds()
            .unwrap();
        expected.push(micros as f64 / 1e6);
    }
    expected.sort_by(f64::total_cmp);
    let r = report(&app, "").await;
    assert_eq!(r["counts"]["terminations"], n);
    assert_eq!(r["counts"]["completed"], n);
    assert_eq!(r["counts"]["breaches"], 0);
    let p = &r["latency_seconds"]["receipt_to_revoked"];
    assert_eq!(p["count"], n);
    assert_eq!(f(&p["p50"]), rank(&expected, 50.0));
    assert_eq!(f(&p["p90"]), rank(&expected, 90.0));
    assert_eq!(f(&p["max"]), expected[n - 1]);
    assert!(
        f(&p["max"]) < 60.0,
        "provisiond revokes in well under a minute"
    );
    // The directory deactivation of each is in the audit log.
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE category = 'provisioning' \
         AND action = 'deactivate' AND target = 'directory' AND outcome = 'succeeded'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged, n as i64);
    app.cleanup().await;
}

async fn spawn_with_target(target: &TargetServer) -> TestApp {
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &target.config("product"));
    spawn_with(config, iso, Role::All).await
}

async fn post_hris(app: &TestApp, kind: &str, employee: &str) -> String {
    app.send_hris(&hris_body(kind, employee, "2026-03-02T09:15:00Z"))
        .await
}

async fn dead_letter_id(app: &TestApp, event_id: &str) -> i64 {
    let letter = app.dead_letter(event_id).await;
    letter["id"].as_i64().expect("a dead letter has an id")
}

#[tokio::test]
async fn audit_a_dead_lettered_target_leaves_the_termination_incomplete_until_replayed() {
    let target = TargetServer::start(&[], 400).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("stuck");
    let event_id = post_hris(&app, "terminated", &employee).await;
    let letter = dead_letter_id(&app, &event_id).await;

    let r = report(&app, "sla=15m").await;
    assert_eq!(r["counts"]["terminations"], 1);
    assert_eq!(r["counts"]["failed"], 1);
    assert_eq!(r["counts"]["completed"], 0);
    assert_eq!(r["counts"]["breaches"], 0, "only seconds old");
    let incomplete = &r["incomplete"][0];
    assert_eq!(incomplete["employee_id"], employee.as_str());
    assert_eq!(incomplete["event_id"], event_id.as_str());
    assert_eq!(incomplete["status"], "failed");
    let stuck = incomplete["stuck_at"].as_array().unwrap();
    assert_eq!(stuck[0]["target"], "product");
    assert_eq!(stuck[0]["status"], "failed");
    assert!(
        stuck[0]["error"].as_str().unwrap().contains("400"),
        "{stuck:?}"
    );
    assert_eq!(stuck[1]["status"], "dead_lettered");
    assert_eq!(
        stuck[1]["error"],
        format!("dead-lettered: permanent_error (dead letter {letter})")
    );
    let timeline = &r["terminations"][0];
    assert_eq!(
        timeline["targets"][0]["status"], "revoked",
        "the directory was"
    );
    assert!(timeline["completed_at"].is_null());
    assert_eq!(r["targets"]["product"]["failed"], 1);
    // Past a (tiny) SLA, a termination that is still incomplete is a breach.
    let strict = report(&app, "sla=1ms").await;
    assert_eq!(strict["breaches"][0]["event_id"], event_id.as_str());
    assert_eq!(strict["breaches"][0]["status"], "failed");

    target.set_otherwise(200);
    let replayed = app
        .admin_post(
            &format!("/admin/dead-letters/{letter}/replay"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(replayed.status(), 200);
    let r = wait_for("the termination to complete", || async {
        let r = report(&app, "sla=15m").await;
        (r["counts"]["completed"] == 1).then_some(r)
    })
    .await;
    assert_eq!(r["incomplete"], json!([]));
    assert_eq!(r["counts"]["failed"], 0);
    let timeline = &r["terminations"][0];
    let product = &timeline["targets"][1];
    assert_eq!(product["target"], "product");
    assert_eq!(product["status"], "revoked");
    assert_eq!(timeline["completed_at"], product["revoked_at"]);
    assert_eq!(r["targets"]["product"]["count"], 1);

    // Each step is in the audit log, in the transaction that made it.
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT category, action, target, outcome FROM audit_log WHERE event_id = $1 ORDER BY id",
    )
    .bind(&event_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let rows: Vec<(&str, &str, Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|(c, a, t, o)| (c.as_str(), a.as_str(), t.as_deref(), o.as_deref()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "provisioning",
                "deactivate",
                Some("directory"),
                Some("succeeded")
            ),
            (
                "provisioning",
                "deactivate",
                Some("product"),
                Some("failed")
            ),
            (
                "dead_letter",
                "dead_lettered",
                None,
                Some("permanent_error")
            ),
            ("dead_letter", "replayed", None, Some("replayed")),
            (
                "provisioning",
                "deactivate",
                Some("product"),
                Some("succeeded")
            ),
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn audit_a_future_termination_counts_as_scheduled_not_as_a_breach() {
    let app = spawn_app(Role::All).await;
    let employee = unique("later");
    let body = json!({
        "type": "employee.terminated", "timestamp": Utc::now().to_rfc3339(),
        "data": {"id": employee, "email": "later@example.com", "termination_date": "2099-01-01"}
    })
    .to_string()
    .into_bytes();
    let response = app
        .post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    assert_eq!(response.status(), 202);
    let view = app.employee_after("hris", &employee, 1).await;
    assert_eq!(view["events"][0]["outcome"], "scheduled");

    let r = report(&app, "sla=1ms").await;
    assert_eq!(r["counts"]["scheduled"], 1);
    assert_eq!(r["counts"]["terminations"], 0);
    assert_eq!(r["counts"]["breaches"], 0);
    assert_eq!(r["breaches"], json!([]));
    assert_eq!(r["incomplete"], json!([]));
    assert_eq!(r["scheduled"][0]["employee_id"], employee.as_str());
    assert_eq!(r["scheduled"][0]["due_at"], "2099-01-02T00:00:00Z");
    app.cleanup().await;
}

async fn insert_scheduled(
    pool: &PgPool,
    employee: &str,
    event_id: &str,
    status: &str,
    received: DateTime<Utc>,
    due: DateTime<Utc>,
) {
    sqlx::query(
        "INSERT INTO scheduled_terminations (source, employee_id, event_id, source_kind, body, \
         received_at, effective_at, due_at, status) \
         VALUES ('hris', $1, $2, 'standard-webhooks', '\\x7b7d', $3, $4, $4, $5)",
    )
    .bind(employee)
    .bind(event_id)
    .bind(received)
    .bind(due)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn audit_a_scheduled_termination_is_timed_from_its_due_time() {
    // Receiver only: no scheduler to act on the fixture rows.
    let app = spawn_app(Role::Receiver).await;
    let pool = &app.pool;
    let now = Utc::now();
    let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap();
    let received = now - chrono::Duration::days(10);
    // Due two hours ago, applied 5 s after: 5 s, not ten days.
    let due = now - chrono::Duration::hours(2);
    insert_scheduled(pool, "sched_done", "orig1", "enqueued", received, due).await;
    insert_event(
        pool,
        "hris",
        "sched_done",
        "orig1:effective",
        "terminated",
        "applied",
        "scheduled",
        received,
        Some(due),
        received,
        due + secs(5.0),
    )
    .await;
    // Due an hour ago and never enqueued: pending at the scheduler, and a breach.
    let overdue = now - chrono::Duration::hours(1);
    insert_scheduled(pool, "sched_late", "orig2", "scheduled", received, overdue).await;
    // Due tomorrow: scheduled.
    let tomorrow = now + chrono::Duration::days(1);
    insert_scheduled(pool, "sched_future", "orig3", "scheduled", now, tomorrow).await;

    let r = report(&app, "sla=15m").await;
    assert_eq!(r["counts"]["terminations"], 2);
    assert_eq!(r["counts"]["completed"], 1);
    assert_eq!(r["counts"]["pending"], 1);
    assert_eq!(r["counts"]["scheduled"], 1);
    assert_eq!(r["latency_seconds"]["receipt_to_revoked"]["max"], 5.0);
    assert_eq!(r["latency_seconds"]["effective_to_revoked"]["max"], 5.0);
    let done = &r["terminations"][0];
    assert_eq!(done["event_id"], "orig1:effective");
    assert_eq!(done["clock_started_at"], json!(due));
    assert_eq!(done["due_at"], json!(due));
    assert_eq!(done["breach"], false);
    assert_eq!(r["breaches"].as_array().unwrap().len(), 1);
    assert_eq!(r["breaches"][0]["employee_id"], "sched_late");
    assert_eq!(r["breaches"][0]["status"], "pending");
    let late = &r["incomplete"][0];
    assert_eq!(late["event_id"], "orig2:effective");
    assert_eq!(late["stuck_at"][1]["status"], "scheduler_scheduled");
    assert_eq!(r["scheduled"][0]["employee_id"], "sched_future");

    // The gauge counts the late one only.
    let past = provisiond::audit::report::pending_past_sla(pool, Duration::from_secs(900), now)
        .await
        .unwrap();
    assert_eq!(past, 1);
    app.cleanup().await;
}

fn cli(app: &TestApp, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(args)
        .env_remove("PROVISIOND_CONFIG")
        .env("PROVISIOND__DATABASE__URL", &app.iso.database_url)
        .env("PROVISIOND__AUDIT__DEPROVISION_SLA", "15m")
        .env("RUST_LOG", "warn")
        .output()
        .expect("provisiond runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn audit_verify_names_the_row_whose_content_was_changed() {
    let target = TargetServer::start(&[200], 400).await;
    let app = spawn_with_target(&target).await;
    let pool = &app.pool;
    // A hire (product answers 200), a leaver and another hire that fail (400) and are
    // dead-lettered; the second one is discarded, the leaver replayed once fixed.
    let kept = unique("kept");
    post_hris(&app, "created", &kept).await;
    wait_for("the hire on the product", || async {
        let view = app.employee("hris", &kept).await?;
        let targets = view["targets"].as_array()?;
        targets
            .iter()
            .any(|t| t["target"] == "product" && t["status"] == "active")
            .then_some(())
    })
    .await;
    let leaver = unique("leaver");
    let leaving = post_hris(&app, "terminated", &leaver).await;
    let leaving_letter = dead_letter_id(&app, &leaving).await;
    let other = unique("other");
    let other_event = post_hris(&app, "created", &other).await;
    let other_letter = dead_letter_id(&app, &other_event).await;
    let discarded = app
        .admin_post(
            &format!("/admin/dead-letters/{other_letter}/discard"),
            json!({"reason": "test account"}),
            None,
        )
        .await;
    assert_eq!(discarded.status(), 200);
    target.set_otherwise(200);
    let replayed = app
        .admin_post(
            &format!("/admin/dead-letters/{leaving_letter}/replay"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(replayed.status(), 200);
    wait_for("the replayed termination to reach the product", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE event_id = $1 AND target = 'product' \
             AND outcome = 'succeeded'",
        )
        .bind(&leaving)
        .fetch_one(pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await;
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT category || '/' || action FROM audit_log ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "dead_letter/dead_lettered",
            "dead_letter/discarded",
            "dead_letter/replayed",
            "provisioning/activate",
            "provisioning/deactivate"
        ]
    );
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .unwrap();

    // Untouched: verify seals what is pending and finds the chain intact.
    let out = cli(&app, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("audit log intact: {total} row(s) verified")),
        "{stdout}"
    );
    let unsealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(unsealed, 0);

    // The application role may neither change nor delete a row…
    let victim: i64 = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY seq OFFSET 3 LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let update = format!("UPDATE audit_log SET actor = 'mallory' WHERE id = {victim}");
    let delete = format!("DELETE FROM audit_log WHERE id = {victim}");
    for sql in [&update, &delete, &"TRUNCATE audit_log".to_owned()] {
        let error = sqlx::query(sql).execute(pool).await.unwrap_err();
        assert!(
            error.to_string().contains("permission denied"),
            "{sql}: {error}"
        );
    }
    // …and when it grants itself the privileges back (it owns the table here), the
    // triggers still refuse.
    sqlx::query("GRANT UPDATE, DELETE ON audit_log TO CURRENT_USER")
        .execute(pool)
        .await
        .unwrap();
    let error = sqlx::query(&update).execute(pool).await.unwrap_err();
    assert!(error.to_string().contains("is sealed"), "{error}");
    let error = sqlx::query(&delete).execute(pool).await.unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    // A superuser (or the owner) can still disable the trigger and change a row; the
    // chain shows it.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(&update).execute(&mut *conn).await.unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let out = cli(&app, &["audit", "verify"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("audit log row {victim} does not match its hash")),
        "{stderr}"
    );
    assert!(stderr.contains("(3 row(s) before it verified)"), "{stderr}");
    app.cleanup().await;
}

/// `provisiond audit verify --format json` against `app`'s database: the JSON, and the
/// error line when it failed.
async fn verify_json(app: &TestApp) -> (Value, Option<String>) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .args(["audit", "verify", "--format", "json"])
        .env_remove("PROVISIOND_CONFIG")
        .env("PROVISIOND__DATABASE__URL", &app.iso.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("provisiond runs");
    let json = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    let error = (!out.status.success()).then(|| text(&out.stderr));
    (json, error)
}

#[tokio::test]
async fn audit_verify_names_an_applied_termination_the_chain_does_not_cover() {
    let app = spawn_app(Role::All).await;
    let leaver = unique("covered");
    let event_id = post_hris(&app, "terminated", &leaver).await;
    app.employee_after("hris", &leaver, 1).await;
    let (json, error) = verify_json(&app).await;
    assert_eq!(error, None, "{json}");
    assert_eq!(json["intact"], true);
    assert_eq!(
        json["coverage"],
        json!({"terminations": 1, "covered": 1, "pending": 0, "uncovered_total": 0,
               "uncovered": []})
    );
    assert_eq!(json["chain"]["rows"], 1);
    assert_eq!(json["chain"]["broken"], Value::Null);
    assert_eq!(json["chain"]["head"]["seq"], 1);

    // The owner writes a termination into events by hand: the report would count it as
    // revoked, but no deactivation was ever recorded in the chain.
    let at = base();
    let forged = termination(&app.pool, "hris", &unique("forged"), at, 1.0).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM events WHERE event_id = $1")
        .bind(&forged)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (json, error) = verify_json(&app).await;
    let error = error.expect("verify fails");
    assert!(
        error.contains(&format!(
            "1 applied termination(s) in events are not covered by the audit log \
             (no directory deactivation recorded): events row {id} (hris/{forged})"
        )),
        "{error}"
    );
    assert_eq!(json["intact"], false);
    assert_eq!(
        json["chain"]["broken"],
        Value::Null,
        "the chain itself is intact"
    );
    assert_eq!(json["coverage"]["terminations"], 2);
    assert_eq!(json["coverage"]["uncovered_total"], 1);
    let uncovered = &json["coverage"]["uncovered"][0];
    assert_eq!(uncovered["id"], id);
    assert_eq!(uncovered["event_id"], forged.as_str());
    assert_ne!(forged, event_id);
    app.cleanup().await;
}

#[tokio::test]
async fn audit_new_rows_after_verification_extend_the_chain() {
    let app = spawn_app(Role::All).await;
    let first = unique("a");
    post_hris(&app, "terminated", &first).await;
    app.employee_after("hris", &first, 1).await;
    assert_eq!(
        provisiond::store::audit_log::seal_pending(&app.pool)
            .await
            .unwrap(),
        1
    );
    let second = unique("b");
    post_hris(&app, "created", &second).await;
    app.employee_after("hris", &second, 1).await;
    // The sealer loop chains it.
    let stop = tokio_util::sync::CancellationToken::new();
    let sealer = tokio::spawn(provisiond::audit::sealer::run(
        app.pool.clone(),
        Duration::from_millis(20),
        stop.clone(),
    ));
    wait_for("the sealer", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (n == 0).then_some(())
    })
    .await;
    stop.cancel();
    sealer.await.unwrap();
    let result = provisiond::store::audit_log::verify(&app.pool)
        .await
        .unwrap();
    assert!(result.broken.is_none(), "{:?}", result.broken);
    assert_eq!(result.rows, 2);
    assert_eq!(result.head.unwrap().1, 2);
    // Deleting a row (trigger disabled) breaks the link at the next one.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    for sql in [
        "GRANT DELETE ON audit_log TO CURRENT_USER".to_owned(),
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only".to_owned(),
        format!("DELETE FROM audit_log WHERE id = {}", ids[0]),
        "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only".to_owned(),
    ] {
        sqlx::query(&sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let result = provisiond::store::audit_log::verify(&app.pool)
        .await
        .unwrap();
    let broken = result.broken.unwrap();
    assert_eq!(broken.id, ids[1]);
    assert!(
        broken.message.contains("where 1 was expected"),
        "{}",
        broken.message
    );
    app.cleanup().await;
}

/// Fixture: three completed terminations (one a breach), one failed on a target.
async fn mixed_fixture(pool: &PgPool) {
    let t0 = base();
    termination(pool, "hris", "ok1", t0, 0.5).await;
    termination(pool, "hris", "ok2", t0 + secs(60.0), 12.25).await;
    termination(pool, "hris", "slow, \"quoted\"", t0 + secs(120.0), 1800.0).await;
    let stuck = termination(pool, "hris", "stuck", t0 + secs(180.0), 0.2).await;
    action(
        pool,
        &stuck,
        "stuck",
        "product",
        "failed",
        Some(t0 + secs(181.0)),
        Some("http 400: <bad request>"),
    )
    .await;
}

fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn audit_csv_json_and_html_agree() {
    let app = spawn_app(Role::All).await;
    mixed_fixture(&app.pool).await;
    let json_report = report(&app, "sla=15m").await;
    assert_eq!(json_report["counts"]["terminations"], 4);
    assert_eq!(json_report["counts"]["failed"], 1);
    // The slow one, and the failed one (incomplete for a day).
    assert_eq!(json_report["counts"]["breaches"], 2);

    // CSV from the command line, JSON from the admin API: one row per termination, the
    // same timestamps and numbers.
    let out = cli(&app, &["audit", "deprovision", "--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = parse_csv(&text(&out.stdout));
    let header = &rows[0];
    assert!(header.contains(&"revoked_at:directory".to_owned()));
    assert!(header.contains(&"revoked_at:product".to_owned()));
    let terminations = json_report["terminations"].as_array().unwrap();
    assert_eq!(rows.len() - 1, terminations.len());
    for (row, t) in rows[1..].iter().zip(terminations) {
        let cell = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
        for key in [
            "source",
            "employee_id",
            "event_id",
            "trigger",
            "status",
            "occurred_at",
            "effective_at",
            "received_at",
            "due_at",
            "clock_started_at",
            "published_at",
            "processed_at",
            "completed_at",
            "breach",
        ] {
            assert_eq!(cell(key), &as_text(&t[key]), "{key} of {}", t["event_id"]);
        }
        for key in ["receipt_to_revoked_seconds", "effective_to_revoked_seconds"] {
            let csv_value: Option<f64> = cell(key).parse().ok();
            assert_eq!(csv_value, t[key].as_f64(), "{key}");
        }
        for target in t["targets"].as_array().unwrap() {
            let column = format!("revoked_at:{}", target["target"].as_str().unwrap());
            assert_eq!(cell(&column), &as_text(&target["revoked_at"]));
        }
    }
    let stuck_row = rows
        .iter()
        .find(|r| r.contains(&"stuck".to_owned()))
        .unwrap();
    let stuck_at = header.iter().position(|h| h == "stuck_at").unwrap();
    assert!(stuck_row[stuck_at].contains("product: failed: http 400"));

    // The CLI's JSON is the admin API's (but for the ages, which grow).
    let out = cli(&app, &["audit", "deprovision", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli_report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli_report["counts"], json_report["counts"]);
    assert_eq!(
        cli_report["latency_seconds"],
        json_report["latency_seconds"]
    );
    assert_eq!(cli_report["targets"], json_report["targets"]);
    assert_eq!(cli_report["sla_seconds"], 900.0);

    // The HTML page: the same totals and percentiles, and nothing loaded from elsewhere.
    let response = app.admin_get("/admin/audit/deprovision.html?sla=15m").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    for (key, value) in json_report["counts"].as_object().unwrap() {
        let cell = format!(r#"<td data-count="{key}">{value}</td>"#);
        assert!(html.contains(&cell), "{cell} missing");
    }
    for name in ["receipt_to_revoked", "effective_to_revoked"] {
        for p in ["p50", "p90", "p95", "p99", "max"] {
            let value = &json_report["latency_seconds"][name][p];
            let attr = format!(r#"data-latency="{name}.{p}" data-seconds="{}""#, f(value));
            assert!(html.contains(&attr), "{attr} missing");
        }
    }
    assert!(html.contains("<svg"));
    assert!(html.contains("slow, &quot;quoted&quot;"), "escaped");
    assert!(html.contains("http 400: &lt;bad request&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=") && !html.contains("<link"));
    let out = cli(&app, &["audit", "deprovision", "--format", "html"]);
    assert!(out.status.success());
    let cli_html = text(&out.stdout);
    assert!(cli_html.contains(r#"<td data-count="terminations">4</td>"#));

    // The table names the breach and where the failed one is stuck.
    let out = cli(&app, &["audit", "deprovision"]);
    let table = text(&out.stdout);
    assert!(table.contains("terminations 4"), "{table}");
    assert!(table.contains("product: failed: http 400"), "{table}");
    app.cleanup().await;
}

#[tokio::test]
async fn audit_endpoints_need_the_token_and_check_their_parameters() {
    let app = spawn_app(Role::Receiver).await;
    for path in ["/admin/audit/deprovision", "/admin/audit/deprovision.html"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    let response = app.admin_get("/admin/audit/deprovision?sla=soon").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("sla"));
    let response = app
        .admin_get("/admin/audit/deprovision?since=1h&until=2h")
        .await;
    assert_eq!(response.status(), 400);
    let empty = report(&app, "").await;
    assert_eq!(
        empty["sla_seconds"], 900.0,
        "audit.deprovision_sla's default"
    );
    assert_eq!(
        empty["latency_seconds"]["receipt_to_revoked"],
        json!({"count": 0, "p50": null, "p90": null, "p95": null, "p99": null, "max": null})
    );
    app.cleanup().await;
}

#[tokio::test]
async fn audit_metrics_record_completed_terminations_and_the_late_ones() {
    let app = spawn_app(Role::Receiver).await;
    let pool = &app.pool;
    let t0 = base();
    let event_id = termination(pool, "hris", "done", t0, 2.5).await;
    let late = termination(pool, "hris", "late", t0, 0.1).await;
    action(pool, &late, "late", "product", "pending", None, None).await;
    assert!(
        provisiond::audit::metrics::record_completion(pool, "hris", &event_id)
            .await
            .unwrap()
    );
    assert!(
        !provisiond::audit::metrics::record_completion(pool, "hris", &late)
            .await
            .unwrap(),
        "not complete"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let gauges = tokio::spawn(provisiond::audit::metrics::run_gauges(
        pool.clone(),
        Duration::from_secs(900),
        Duration::from_millis(50),
        stop.clone(),
    ));
    let metrics = wait_for("the gauge", || async {
        let text = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("provisiond_terminations_pending_past_sla")
            .then_some(text)
    })
    .await;
    stop.cancel();
    gauges.await.unwrap();
    assert!(
        metrics.contains("provisiond_deprovision_latency_seconds_bucket{le=\"5\"}"),
        "{metrics}"
    );
    assert_eq!(
        provisiond::audit::report::pending_past_sla(pool, Duration::from_secs(900), Utc::now())
            .await
            .unwrap(),
        1
    );
    app.cleanup().await;
}

#[tokio::test]
async fn the_csv_report_is_an_attachment_whose_formula_cells_stay_text() {
    let app = spawn_app(Role::All).await;
    // A sender-controlled id a spreadsheet would run.
    let employee = format!("=SUM(1;2)-{}", unique("x"));
    app.send_hris(&hris_body("created", &employee, "2026-03-02T09:00:00Z"))
        .await;
    app.employee_after("hris", &employee, 1).await;
    app.send_hris(&hris_body("terminated", &employee, "2026-03-02T09:15:00Z"))
        .await;
    app.employee_after("hris", &employee, 2).await;
    let response = app.admin_get("/admin/audit/deprovision.csv?sla=15m").await;
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let csv = response.text().await.unwrap();
    let rows = parse_csv(&csv);
    let cell = rows.iter().flatten().find(|c| c.contains("SUM(1;2)"));
    let cell = cell.unwrap_or_else(|| panic!("{csv}"));
    assert!(cell.starts_with("'="), "{cell}");
    app.cleanup().await;
}
