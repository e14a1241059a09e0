//! Hires and updates that arrive, are retried or are replayed after the termination, in
//! order or in one batch, and bare updates: none of them gives access back.

use super::*;

#[tokio::test]
async fn a_hire_retried_after_the_termination_is_superseded_and_the_last_call_deactivates() {
    let product = TargetServer::start(&[], 503).await;
    let app = spawn(&product.config("product"), &[("max_attempts", "1000")]).await;
    let employee = unique("late");
    let hire = hire(&app, &employee).await;
    wait_for("the hire to fail on the product", || async {
        let (_, attempts) = try_action(&app, &hire, "product").await?;
        (attempts >= 1).then_some(())
    })
    .await;
    let leave = envelope("terminated", &employee, "2026-03-02T10:00:00Z", None);
    let termination = app.send_hris(&leave).await;
    app.wait_target(&employee, "directory", "deactivated").await;
    assert_eq!(action(&app, &hire, "product").await.0, "superseded");

    product.set_otherwise(200);
    app.wait_target(&employee, "product", "deactivated").await;
    // The hire's message comes back from its retry tier and finds nothing to send.
    wait_duplicate(&app, &hire).await;
    let calls = calls_for(&product, &employee);
    assert_eq!(
        calls.last().map(String::as_str),
        Some("employee.terminated")
    );
    let after = calls.iter().skip_while(|c| *c != "employee.terminated");
    assert!(
        after.clone().all(|c| c == "employee.terminated"),
        "no activation after the deactivation: {calls:?}"
    );
    assert_eq!(action(&app, &termination, "product").await.0, "succeeded");
    let view = app.employee("hris", &employee).await.unwrap();
    let shown = view["actions"].as_array().unwrap();
    let superseded = shown
        .iter()
        .find(|a| a["event_id"] == hire.as_str())
        .unwrap();
    assert_eq!(superseded["status"], "superseded");
    assert!(superseded["error"].as_str().unwrap().contains(&termination));
    app.assert_metric("provisiond_actions_superseded_total{target=\"product\"}")
        .await;
    app.cleanup().await;
}

#[tokio::test]
async fn an_update_retried_after_the_termination_leaves_the_scim_user_inactive() {
    let scim = ScimServer::start().await;
    let proxy = BrokerProxy::start_to(scim.port).await;
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let app = spawn(
        &scim_target(&base, "deactivate"),
        &[("max_attempts", "1000")],
    )
    .await;
    let employee = unique("scimlate");
    hire(&app, &employee).await;
    app.wait_target(&employee, "apps", "active").await;
    assert_eq!(scim.user(&employee).await["active"], true);

    proxy.cut();
    let change = envelope("updated", &employee, "2026-03-02T09:30:00Z", None);
    let update = app.send_hris(&change).await;
    app.wait_target(&employee, "apps", "failed").await;
    let leave = envelope("terminated", &employee, "2026-03-02T10:00:00Z", None);
    app.send_hris(&leave).await;
    app.wait_target(&employee, "directory", "deactivated").await;
    assert_eq!(action(&app, &update, "apps").await.0, "superseded");

    proxy.restore();
    app.wait_target(&employee, "apps", "deactivated").await;
    wait_duplicate(&app, &update).await;
    assert_eq!(scim.user(&employee).await["active"], false);
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_a_hire_after_the_termination_changes_nothing_on_any_target() {
    let product = TargetServer::start(&[400], 200).await;
    let app = spawn(&product.config("product"), &[]).await;
    let employee = unique("replayed");
    let hire = hire(&app, &employee).await;
    wait_for("the hire's dead letter", || async {
        (dead_letters(&app).await == 1).then_some(())
    })
    .await;
    let leave = envelope("terminated", &employee, "2026-03-02T10:00:00Z", None);
    app.send_hris(&leave).await;
    app.wait_target(&employee, "product", "deactivated").await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM dead_letters WHERE event_id = $1")
        .bind(&hire)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // `--all` replays dead rows; then the same letter again by its id.
    let file = config_file(&app);
    stdout(&dlq(file.path(), &["replay", "--all", "--yes", "--actor", "op"]).await);
    wait_processed(&app, &hire, 2).await;
    stdout(&dlq(file.path(), &["replay", &id.to_string(), "--actor", "op"]).await);
    wait_processed(&app, &hire, 3).await;

    for target in ["directory", "product"] {
        let status = app.target_status(&employee, target).await;
        assert_eq!(status.as_deref(), Some("deactivated"), "{target}");
    }
    let calls = calls_for(&product, &employee);
    assert_eq!(calls, ["employee.created", "employee.terminated"]);
    assert_eq!(action(&app, &hire, "product").await.0, "superseded");
    assert_eq!(
        app.employee("hris", &employee).await.unwrap()["status"],
        "terminated"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hires_and_terminations_in_one_batch_always_end_deactivated() {
    for seed in [3_u64, 0x5eed_1234, 987_654_321] {
        let mut rng = Rng(seed);
        // The product fails now and then, so retries and batches mix.
        let script: Vec<u16> = (0..40)
            .map(|_| if rng.below(4) == 0 { 503 } else { 200 })
            .collect();
        let product = TargetServer::start(&script, 200).await;
        let receiver = spawn_app(Role::Receiver).await;
        let employees: Vec<String> = (0..8).map(|i| unique(&format!("b{i}"))).collect();
        let mut posts: Vec<Vec<u8>> = Vec::new();
        for employee in &employees {
            posts.push(envelope("created", employee, "2026-03-02T09:00:00Z", None));
            posts.push(envelope(
                "terminated",
                employee,
                "2026-03-02T09:05:00Z",
                None,
            ));
        }
        // Fisher–Yates over the whole burst: any order across and within employees.
        for i in (1..posts.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            posts.swap(i, j);
        }
        for body in &posts {
            receiver.send_hris(body).await;
        }
        let iso = receiver.iso.clone();
        let mut worker_config = config(&iso, &product.config("product"), &[]);
        worker_config.worker.concurrency = 1;
        worker_config.worker.batch_size = 32;
        let worker = spawn_with(worker_config, iso, Role::Worker).await;
        for employee in &employees {
            worker.wait_target(employee, "product", "deactivated").await;
            let calls = calls_for(&product, employee);
            assert_eq!(
                calls.last().map(String::as_str),
                Some("employee.terminated"),
                "seed {seed}, {employee}: {calls:?}"
            );
            let status = worker.target_status(employee, "directory").await;
            assert_eq!(status.as_deref(), Some("deactivated"));
        }
        worker.cleanup().await;
        receiver.cleanup().await;
    }
}

#[tokio::test]
async fn a_bare_update_keeps_a_leaver_out_and_only_an_explicit_active_status_rehires() {
    let product = TargetServer::start(&[], 200).await;
    let app = spawn(&product.config("product"), &[]).await;
    let employee = unique("edit");
    hire(&app, &employee).await;
    let leave = envelope("terminated", &employee, "2026-03-03T09:00:00Z", None);
    app.send_hris(&leave).await;
    app.wait_target(&employee, "product", "deactivated").await;

    // Final pay, a new address: an ordinary edit after the leave, without a status.
    let edit = envelope("updated", &employee, "2026-03-10T09:00:00Z", None);
    let edit_id = app.send_hris(&edit).await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(view["status"], "terminated");
    let event = &view["events"][2];
    assert_eq!(event["outcome"], "applied");
    assert!(event["reason"].as_str().unwrap().contains("not restored"));
    for target in ["directory", "product"] {
        let status = app.target_status(&employee, target).await;
        assert_eq!(status.as_deref(), Some("deactivated"), "{target}");
    }
    let title: Option<String> =
        sqlx::query_scalar("SELECT title FROM accounts WHERE employee_id = $1")
            .bind(&employee)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        title.as_deref(),
        Some("updated at 2026-03-10T09:00:00Z"),
        "attributes are kept up to date"
    );
    assert_eq!(
        calls_for(&product, &employee),
        ["employee.created", "employee.terminated"]
    );
    let no_actions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM provisioning_actions WHERE event_id = $1")
            .bind(&edit_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(no_actions, 0, "nothing is sent for a leaver's edit");

    // An explicit active status, later than the termination: a rehire.
    let back = envelope("updated", &employee, "2026-04-01T09:00:00Z", Some("active"));
    let rehire = app.send_hris(&back).await;
    app.wait_target(&employee, "product", "active").await;
    let view = app.employee("hris", &employee).await.unwrap();
    assert_eq!(view["status"], "active");
    assert_eq!(view["events"][3]["reason"], "rehire");
    assert_eq!(
        app.target_status(&employee, "directory").await.as_deref(),
        Some("active")
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE event_id = $1 AND action = 'reactivate'",
    )
    .bind(&rehire)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audited, 1,
        "the re-activation is in the hash-chained audit log"
    );
    let report: Value = app
        .admin_get("/admin/audit/deprovision?since=30d")
        .await
        .json()
        .await
        .unwrap();
    let listed = report["reactivations"].as_array().expect("reactivations");
    let entry = listed.iter().find(|r| r["event_id"] == rehire.as_str());
    let entry = entry.unwrap_or_else(|| panic!("rehire listed: {report}"));
    assert_eq!(entry["employee_id"], employee.as_str());
    assert_eq!(entry["reason"], "rehire");
    app.cleanup().await;
}
