//! The report as CSV, JSON and HTML, its endpoints, and its metrics.

use std::time::Duration;

use provisiond::Role;
use serde_json::json;

use super::*;

#[tokio::test]
async fn audit_csv_json_and_html_agree() {
    let app = spawn_app(Role::All).await;
    mixed_fixture(&app.pool).await;
    let json_report = app.deprovision_report("sla=15m").await;
    assert_eq!(json_report["counts"]["terminations"], 4);
    assert_eq!(json_report["counts"]["failed"], 1);
    // The slow one, and the failed one (incomplete for a day).
    assert_eq!(json_report["counts"]["breaches"], 2);

    // CSV from the command line, JSON from the admin API: one row per termination, the
    // same timestamps and numbers.
    let out = cli(&app, &["audit", "deprovision", "--format", "csv"]).await;
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
    let out = cli(&app, &["audit", "deprovision", "--format", "json"]).await;
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
    assert!(html.contains("slow, &#34;quoted&#34;"), "escaped");
    assert!(html.contains("http 400: &#60;bad request&#62;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=") && !html.contains("<link"));
    let out = cli(&app, &["audit", "deprovision", "--format", "html"]).await;
    assert!(out.status.success());
    let cli_html = text(&out.stdout);
    assert!(cli_html.contains(r#"<td data-count="terminations">4</td>"#));

    // The table names the breach and where the failed one is stuck.
    let out = cli(&app, &["audit", "deprovision"]).await;
    let table = text(&out.stdout);
    assert!(table.contains("terminations 4"), "{table}");
    assert!(table.contains("product: failed: http 400"), "{table}");
    app.cleanup().await;
}

#[tokio::test]
async fn audit_endpoints_need_the_token_and_check_their_parameters() {
    let app = spawn_app(Role::Receiver).await;
    for path in ["/admin/audit/deprovision", "/admin/audit/deprovision.html"] {
        assert_eq!(app.get(path).await.status(), 401, "{path}");
    }
    let response = app.admin_get("/admin/audit/deprovision?sla=soon").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("sla"));
    let response = app
        .admin_get("/admin/audit/deprovision?since=1h&until=2h")
        .await;
    assert_eq!(response.status(), 400);
    let empty = app.deprovision_report("").await;
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
        provisiond::services::audit::metrics::record_completion(pool, "hris", &event_id)
            .await
            .unwrap()
    );
    assert!(
        !provisiond::services::audit::metrics::record_completion(pool, "hris", &late)
            .await
            .unwrap(),
        "not complete"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let gauges = tokio::spawn(provisiond::services::audit::metrics::run_gauges(
        pool.clone(),
        Duration::from_secs(900),
        Duration::from_millis(50),
        stop.clone(),
    ));
    let metrics = wait_for("the gauge", || async {
        let text = app.metrics().await;
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
        provisiond::services::audit::report::pending_past_sla(
            pool,
            Duration::from_secs(900),
            Utc::now()
        )
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
