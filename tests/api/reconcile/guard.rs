//! The mass-change guard: a run that would deactivate most of a source is held until an
//! operator releases or rejects it.

use super::*;

/// The `merge_list` app with the guard on, as `limits` sets it.
async fn guarded(
    lists: &SenderLists,
    limits: impl FnOnce(&mut provisiond::config::GuardConfig),
) -> (TestApp, Config) {
    let iso = Isolation::new();
    let mut config = config(&iso, lists, "");
    config.guard.enabled = true;
    limits(&mut config.guard);
    let app = spawn_with(config.clone(), iso, Role::All).await;
    (app, config)
}

/// Wait until `n` holds are open; the admin API's list.
async fn holds(app: &TestApp, n: usize) -> Value {
    wait_for(&format!("{n} holds"), || async {
        let list: Value = app.admin_get("/admin/holds").await.json().await.ok()?;
        (list.as_array()?.len() == n).then_some(list)
    })
    .await
}

#[tokio::test]
async fn a_run_that_would_deactivate_most_of_a_source_is_held_until_an_operator_releases_it() {
    let lists = SenderLists::start().await;
    // From 2 terminations on, no more than 20 % of the source within the hour.
    let (app, config) = guarded(&lists, |g| g.min_terminations = 2).await;
    let ids = hire(&app, &lists, 10).await;
    // A bad import at the sender: 8 of the 10 are gone from the list.
    for id in &ids[2..] {
        lists.remove(id);
    }
    let (report, _) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(report.counts.published, 8, "{report:?}");

    // Two fit the limits (2 of 10); the other six are held, with access kept.
    let held = holds(&app, 6).await;
    let mut terminated = 0;
    for id in &ids[2..] {
        let view = wait_for("the termination to be applied or held", || async {
            let view = app.employee_after("merge_list", id, 2).await;
            let last = view["events"].as_array()?.last()?.clone();
            matches!(last["outcome"].as_str(), Some("applied" | "held")).then_some(view)
        })
        .await;
        match view["status"].as_str().unwrap() {
            "terminated" => terminated += 1,
            "active" => {
                assert_eq!(view["held_termination"]["status"], "held", "{view}");
                assert_eq!(view["targets"][0]["status"], "active");
            }
            other => panic!("unexpected status {other}: {view}"),
        }
    }
    assert_eq!(terminated, 2);
    assert!(held[0]["reason"]
        .as_str()
        .unwrap()
        .contains("mass-change guard"));
    app.assert_metric("provisiond_terminations_held_total{source=\"merge_list\"} 6")
        .await;
    // The deprovision report lists them as not revoked, reason `held`.
    let report = app.deprovision_report("sla=15m").await;
    let held_rows: Vec<&Value> = report["not_revoked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "held")
        .collect();
    assert_eq!(held_rows.len(), 6, "{report}");
    assert_eq!(report["counts"]["held"], 6);
    let detected = report["terminations"].as_array().unwrap();
    assert!(detected.iter().all(|t| t["detected_by"] == "reconcile"));

    // An operator releases them all: each is applied, with who and why in the audit log.
    let released = app
        .admin_post(
            "/admin/holds/release",
            json!({"all": true, "reason": "HR confirmed the reorganisation"}),
            Some("security-lead"),
        )
        .await;
    assert_eq!(released.status(), 200);
    let released: Value = released.json().await.unwrap();
    assert_eq!(released["count"], 6);
    for id in &ids[2..] {
        wait_status(&app, id, "terminated").await;
    }
    for id in &ids[..2] {
        assert_eq!(
            app.employee("merge_list", id).await.unwrap()["status"],
            "active"
        );
    }
    let decisions: Vec<(String, Value)> = sqlx::query_as(
        "SELECT actor, detail FROM audit_log WHERE category = 'guard' AND action = 'released'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(decisions.len(), 6);
    // The token's name is the actor; the header only says on whose behalf.
    assert!(decisions
        .iter()
        .all(|(actor, detail)| actor == "admin" && detail["on_behalf_of"] == "security-lead"));
    let report = app.deprovision_report("sla=15m").await;
    assert_eq!(report["counts"]["held"], 0, "{report}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_rejected_hold_keeps_access_and_stays_in_the_report() {
    let lists = SenderLists::start().await;
    let (app, config) = guarded(&lists, |g| g.max_terminations = 1).await;
    let ids = hire(&app, &lists, 3).await;
    lists.remove(&ids[1]);
    lists.remove(&ids[2]);
    reconcile(&app, &config, "merge_list", false).await;
    let held = holds(&app, 1).await;
    let id = held[0]["id"].as_i64().unwrap();
    let missing = app
        .admin_post("/admin/holds/reject", json!({"ids": [id]}), None)
        .await;
    assert_eq!(missing.status(), 400, "a reason is required");
    let rejected = app
        .admin_post(
            "/admin/holds/reject",
            json!({"ids": [id], "reason": "contractor kept on"}),
            None,
        )
        .await;
    assert_eq!(rejected.status(), 200);
    let employee = held[0]["employee_id"].as_str().unwrap();
    let view = app.employee("merge_list", employee).await.unwrap();
    assert_eq!(view["status"], "active");
    assert!(view["held_termination"].is_null());
    let list: Value = app
        .admin_get("/admin/holds?status=rejected")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["decided_by"], "admin");
    assert_eq!(list[0]["decision_reason"], "contractor kept on");
    let report = app.deprovision_report("sla=15m").await;
    let reasons: Vec<&Value> = report["not_revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["reason"])
        .collect();
    assert_eq!(reasons, [&json!("held")], "{report}");
    app.cleanup().await;
}
