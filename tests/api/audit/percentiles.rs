//! Percentiles and counts of the deprovision report, from fixtures and from webhooks.

use std::collections::HashMap;

use provisiond::Role;
use serde_json::json;

use super::*;

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

    let r = app.deprovision_report("source=hris&sla=15m").await;
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
    let all = app.deprovision_report("sla=30m").await;
    assert_eq!(all["counts"]["terminations"], 21);
    assert_eq!(all["counts"]["breaches"], 2);
    assert_eq!(all["latency_seconds"]["receipt_to_revoked"]["count"], 21);
    // A window that ends before the last ten.
    let until = (t0 + secs(95.0)).to_rfc3339();
    let early = app
        .deprovision_report(&format!("source=hris&until={}", urlencode(&until)))
        .await;
    assert_eq!(early["counts"]["terminations"], 10);
    app.cleanup().await;
}

#[tokio::test]
async fn audit_report_counts_terminations_processed_through_webhooks() {
    let app = spawn_app(Role::All).await;
    let n = 5;
    let mut employees = Vec::new();
    for i in 0..n {
        let employee = unique(&format!("leaver{i}"));
        let body = hris_body("terminated", &employee, "2026-03-02T09:15:00Z");
        app.send_hris(&body).await;
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
    let r = app.deprovision_report("").await;
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
