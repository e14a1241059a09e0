//! Skewed sender clocks and targets that stay down: the termination still lands.

use super::*;

#[tokio::test]
async fn a_sender_clock_in_2099_cannot_pin_an_employee_and_is_flagged() {
    let app = spawn_app(Role::All).await;
    let employee = unique("skew");
    let now = Utc::now();
    app.send_hris(&envelope(
        "created",
        &employee,
        &at(now - Span::minutes(2)),
        None,
    ))
    .await;
    let future = envelope("updated", &employee, "2099-01-01T00:00:00Z", None);
    app.send_hris(&future).await;
    app.employee_after("hris", &employee, 2).await;
    let leave = envelope("terminated", &employee, &at(Utc::now()), None);
    let termination = app.send_hris(&leave).await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(view["status"], "terminated");
    assert_eq!(
        app.target_status(&employee, "directory").await.as_deref(),
        Some("deactivated")
    );
    let events = view["events"].as_array().unwrap();
    assert_eq!(events[1]["clock_skew"], true);
    assert_ne!(events[1]["occurred_at"], "2099-01-01T00:00:00Z");
    assert_eq!(events[0]["clock_skew"], false);
    assert_eq!(events[2]["outcome"], "applied");
    let report: Value = app
        .admin_get("/admin/audit/deprovision?since=1d")
        .await
        .json()
        .await
        .unwrap();
    let terminations = report["terminations"].as_array().unwrap();
    assert!(
        terminations
            .iter()
            .any(|t| t["event_id"] == termination.as_str()),
        "the termination is in the report: {report}"
    );
    app.assert_metric("provisiond_events_clock_skew_total{source=\"hris\"}")
        .await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_target_down_for_two_retry_tiers_is_caught_up_without_an_operator() {
    // Each delivery tries twice (quick_retries = 1). Deliveries one and two fail, the third
    // delivery's first try fails and its quick retry succeeds: 6 calls, 3 deliveries, which
    // is max_attempts. Quick retries do not use up attempts.
    let product = TargetServer::start(&[503, 503, 503, 503, 503], 200).await;
    let app = spawn(&product.config("product"), &[("max_attempts", "3")]).await;
    let employee = unique("outage");
    let hire = hire(&app, &employee).await;
    app.wait_target(&employee, "product", "active").await;
    assert_eq!(
        action(&app, &hire, "product").await,
        ("succeeded".into(), 6)
    );
    assert_eq!(product.requests().len(), 6);
    assert_eq!(
        dead_letters(&app).await,
        0,
        "caught up, nothing dead-lettered"
    );
    let metrics = app.metrics().await;
    for tier in ["100ms", "200ms"] {
        let line = format!("provisiond_retries_total{{tier=\"{tier}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_is_retried_past_max_attempts_for_termination_retry_for() {
    // One attempt allowed, no quick retries: an update would be dead-lettered at once, a
    // termination keeps going through the tiers.
    let product = TargetServer::start(&[200, 503, 503, 503], 200).await;
    let worker = [
        ("max_attempts", "1"),
        ("quick_retries", "0"),
        ("termination_retry_for", "\"1h\""),
    ];
    let app = spawn(&product.config("product"), &worker).await;
    let employee = unique("weekend");
    hire(&app, &employee).await;
    app.wait_target(&employee, "product", "active").await;
    let leave = envelope("terminated", &employee, "2026-03-02T10:00:00Z", None);
    let termination = app.send_hris(&leave).await;
    app.wait_target(&employee, "product", "deactivated").await;
    assert_eq!(
        action(&app, &termination, "product").await,
        ("succeeded".into(), 4)
    );
    assert_eq!(dead_letters(&app).await, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn any_later_delivery_for_a_leaver_drives_a_failed_deactivation() {
    let product = TargetServer::start(&[200, 400], 200).await;
    let app = spawn(&product.config("product"), &[]).await;
    let employee = unique("drive");
    hire(&app, &employee).await;
    app.wait_target(&employee, "product", "active").await;
    let leave = envelope("terminated", &employee, "2026-03-03T09:00:00Z", None);
    let termination = app.send_hris(&leave).await;
    wait_for("the refused deactivation's dead letter", || async {
        (dead_letters(&app).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.target_status(&employee, "product").await.as_deref(),
        Some("failed")
    );

    // The product is fixed; an ordinary edit for the leaver arrives before any replay.
    let edit = envelope("updated", &employee, "2026-03-10T09:00:00Z", None);
    app.send_hris(&edit).await;
    app.wait_target(&employee, "product", "deactivated").await;
    assert_eq!(
        calls_for(&product, &employee),
        [
            "employee.created",
            "employee.terminated",
            "employee.terminated"
        ]
    );
    assert_eq!(
        action(&app, &termination, "product").await,
        ("succeeded".into(), 2)
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_stale_termination_stops_paging_once_a_later_termination_revoked_everything() {
    use provisiond::services::audit::report::pending_past_sla;
    let app = spawn_app(Role::All).await;
    let employee = unique("twice");
    hire(&app, &employee).await;
    app.employee_after("hris", &employee, 1).await;
    let early = envelope("terminated", &employee, "2026-03-01T09:00:00Z", None);
    let stale = app.send_hris(&early).await;
    let view = app.employee_after("hris", &employee, 2).await;
    assert_eq!(view["events"][1]["outcome"], "stale");
    let sla = std::time::Duration::from_secs(900);
    let later = Utc::now() + Span::minutes(16);
    assert_eq!(pending_past_sla(&app.pool, sla, later).await.unwrap(), 1);

    let leave = envelope("terminated", &employee, "2026-03-05T09:00:00Z", None);
    app.send_hris(&leave).await;
    app.wait_target(&employee, "directory", "deactivated").await;
    assert_eq!(pending_past_sla(&app.pool, sla, later).await.unwrap(), 0);
    let report: Value = app
        .admin_get("/admin/audit/deprovision?since=1d")
        .await
        .json()
        .await
        .unwrap();
    let listed = report["not_revoked"].as_array().unwrap();
    assert!(
        listed.iter().any(|n| n["event_id"] == stale.as_str()),
        "still listed: {report}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_past_its_sla_is_charted_by_the_hour_its_sla_ran_out() {
    use chrono::DurationRound;
    use provisiond::services::audit::report::breaches_since;
    let app = spawn_app(Role::All).await;
    let employee = unique("breach");
    hire(&app, &employee).await;
    app.employee_after("hris", &employee, 1).await;
    // Older than the hire: stale, so nothing revokes it and its SLA runs out unrevoked.
    let early = envelope("terminated", &employee, "2026-03-01T09:00:00Z", None);
    app.send_hris(&early).await;
    app.employee_after("hris", &employee, 2).await;
    let sla = std::time::Duration::from_secs(900);
    let later = Utc::now() + Span::minutes(16);
    let first = later.duration_trunc(Span::hours(1)).unwrap() - Span::hours(23);
    let breaches = breaches_since(&app.pool, sla, first, later).await.unwrap();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    let (ran_out, still_open) = breaches[0];
    assert!(still_open, "not revoked anywhere");
    assert!(ran_out > Utc::now() + Span::minutes(14) && ran_out <= later);
    // Before the SLA has run out there is nothing to chart.
    let now = Utc::now();
    assert!(breaches_since(&app.pool, sla, first, now)
        .await
        .unwrap()
        .is_empty());
    app.cleanup().await;
}
