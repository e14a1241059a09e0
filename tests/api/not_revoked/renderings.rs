//! Stale and dead-lettered terminations in the JSON, the CSV and the HTML, and the gauge.

use super::*;

#[tokio::test]
async fn stale_and_dead_lettered_terminations_show_in_json_csv_and_html_and_count_once_past_sla() {
    // The product accepts the hire, then refuses everything (400: dead-lettered at once).
    let target = TargetServer::start(&[200], 400).await;
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &target.config("product"));
    let app = spawn_with(config, iso, Role::All).await;

    // A hire at T, then a termination dated an hour before it: stale.
    let rehired = unique("rehired");
    post_hris(&app, "created", &rehired, "2026-03-02T09:15:00Z").await;
    wait_for("the hire on the product", || async {
        let view = app.employee("hris", &rehired).await?;
        let targets = view["targets"].as_array()?;
        targets
            .iter()
            .any(|t| t["target"] == "product" && t["status"] == "active")
            .then_some(())
    })
    .await;
    let stale = post_hris(&app, "terminated", &rehired, "2026-03-02T08:15:00Z").await;
    let view = app.employee_after("hris", &rehired, 2).await;
    let event = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == stale.as_str())
        .unwrap_or_else(|| panic!("{view}"));
    assert_eq!(event["outcome"], "stale", "{view}");
    let why = event["reason"].as_str().unwrap_or_default().to_owned();
    assert!(!why.is_empty(), "a stale event says why: {event}");

    // A leaver whose product deactivation is refused and dead-lettered.
    let leaver = unique("leaver");
    let dead = post_hris(&app, "terminated", &leaver, "2026-03-02T09:15:00Z").await;
    let letter = dead_letter_id(&app, &dead).await;

    // JSON.
    let r = app.deprovision_report("sla=15m").await;
    assert_eq!(r["counts"]["terminations"], 2, "{r}");
    assert_eq!(r["counts"]["stale"], 1);
    assert_eq!(r["counts"]["failed"], 1);
    assert_eq!(r["counts"]["not_revoked"], 2);
    assert_eq!(r["counts"]["breaches"], 0, "seconds old");
    let items = not_revoked(&r);
    assert_eq!(items.len(), 2, "{r}");
    let s = &items[&stale];
    assert_eq!(
        (&s["reason"], &s["status"], &s["employee_id"]),
        (&json!("stale"), &json!("stale"), &json!(rehired))
    );
    assert!(s["detail"].as_str().unwrap().contains(&why), "{s}");
    assert_eq!(s["breach"], false);
    let d = &items[&dead];
    assert_eq!(
        (&d["reason"], &d["status"], &d["employee_id"]),
        (&json!("dead_lettered"), &json!("failed"), &json!(leaver))
    );
    let detail = d["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("Dead letter {letter}")),
        "{detail}"
    );
    assert!(detail.contains("400"), "{detail}");
    // `incomplete` is unchanged: the failed one only.
    let incomplete = r["incomplete"].as_array().unwrap();
    assert_eq!(incomplete.len(), 1);
    assert_eq!(incomplete[0]["event_id"], dead.as_str());

    // CSV: one row per termination, the reason in the appended column.
    let rows = csv_rows(&rendering(&app, "csv", "sla=15m").await);
    assert_eq!(rows.len(), 2);
    for (event_id, reason, status) in [
        (&stale, "stale", "stale"),
        (&dead, "dead_lettered", "failed"),
    ] {
        let row = &rows[event_id.as_str()];
        assert_eq!(row["not_revoked_reason"], reason, "{row:?}");
        assert_eq!(row["status"], status);
        assert_eq!(row["record"], "termination");
    }

    // HTML: both rows in the not-revoked table.
    let page = rendering(&app, "html", "sla=15m").await;
    let table = html_table(&page, "not-revoked");
    assert_eq!(table.matches("<tr data-event-id=").count(), 2, "{table}");
    assert!(table.contains(&format!(r#"data-event-id="{stale}" data-reason="stale""#)));
    assert!(table.contains(&format!(
        r#"data-event-id="{dead}" data-reason="dead_lettered""#
    )));
    assert!(page.contains(r#"<td data-count="not_revoked">2</td>"#));

    // Past a tiny SLA both are breaches; the gauge counts each once, past the real one.
    let strict = wait_for("both past a 1 ms SLA", || async {
        let r = app.deprovision_report("sla=1ms").await;
        let all = r["not_revoked"]
            .as_array()?
            .iter()
            .all(|n| n["breach"] == true);
        (all && r["counts"]["breaches"] == 2).then_some(r)
    })
    .await;
    assert_eq!(strict["counts"]["not_revoked"], 2);
    let sla = Duration::from_secs(900);
    let now = Utc::now();
    assert_eq!(pending_past_sla(&app.pool, sla, now).await.unwrap(), 0);
    let later = now + chrono::Duration::minutes(16);
    assert_eq!(pending_past_sla(&app.pool, sla, later).await.unwrap(), 2);
    app.cleanup().await;
}
