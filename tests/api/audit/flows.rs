//! Terminations that are stuck, replayed, dated ahead or scheduled, as the report shows them.

use std::time::Duration;

use provisiond::Role;
use serde_json::json;

use crate::target_server::TargetServer;

use super::*;

#[tokio::test]
async fn audit_a_dead_lettered_target_leaves_the_termination_incomplete_until_replayed() {
    let target = TargetServer::start(&[], 400).await;
    let app = spawn_with_target(&target).await;
    let employee = unique("stuck");
    let event_id = app.send_event("terminated", &employee).await;
    let letter = dead_letter_id(&app, &event_id).await;

    let r = app.deprovision_report("sla=15m").await;
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
    let strict = app.deprovision_report("sla=1ms").await;
    assert_eq!(strict["breaches"][0]["event_id"], event_id.as_str());
    assert_eq!(strict["breaches"][0]["status"], "failed");

    target.set_otherwise(200);
    app.replay(letter).await;
    let r = wait_for("the termination to complete", || async {
        let r = app.deprovision_report("sla=15m").await;
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
    app.send_hris(&body).await;
    let view = app.employee_after("hris", &employee, 1).await;
    assert_eq!(view["events"][0]["outcome"], "scheduled");

    let r = app.deprovision_report("sla=1ms").await;
    assert_eq!(r["counts"]["scheduled"], 1);
    assert_eq!(r["counts"]["terminations"], 0);
    assert_eq!(r["counts"]["breaches"], 0);
    assert_eq!(r["breaches"], json!([]));
    assert_eq!(r["incomplete"], json!([]));
    assert_eq!(r["scheduled"][0]["employee_id"], employee.as_str());
    assert_eq!(r["scheduled"][0]["due_at"], "2099-01-02T00:00:00Z");
    app.cleanup().await;
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

    let r = app.deprovision_report("sla=15m").await;
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
    let past =
        provisiond::services::audit::report::pending_past_sla(pool, Duration::from_secs(900), now)
            .await
            .unwrap();
    assert_eq!(past, 1);
    app.cleanup().await;
}
