//! A leaver never keeps or regains access: late retries, replays, batches, bare updates,
//! skewed sender clocks and long outages, each against real targets (a local HTTP product
//! endpoint and scim2-server), RabbitMQ and PostgreSQL.

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::{Config, Role};
use serde_json::{json, Value};

use crate::dead_letters::{config_file, dlq, stdout};
use crate::helpers::*;
use crate::proxy::BrokerProxy;
use crate::scim::{scim_target, ScimServer};
use crate::target_server::TargetServer;

/// The test configuration with `extra` appended and `worker` keys replaced.
fn config(iso: &Isolation, extra: &str, worker: &[(&str, &str)]) -> Config {
    let mut text = test_config_text(iso, &amqp_url(), extra);
    for (key, value) in worker {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("test config has `{key}`"))
            .to_owned();
        text = text.replace(&line, &format!("{key} = {value}"));
    }
    Config::from_toml(&text).expect("valid config")
}

async fn spawn(extra: &str, worker: &[(&str, &str)]) -> TestApp {
    let iso = Isolation::new();
    spawn_with(config(&iso, extra, worker), iso, Role::All).await
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A canonical envelope; `status` goes into `data` when given.
fn envelope(kind: &str, employee: &str, timestamp: &str, status: Option<&str>) -> Vec<u8> {
    let mut data = json!({"id": employee, "email": format!("{employee}@example.com"),
                          "given_name": "Ada", "family_name": "Lovelace",
                          "department": "Sales", "title": format!("{kind} at {timestamp}")});
    if let Some(status) = status {
        data["status"] = json!(status);
    }
    json!({"type": format!("employee.{kind}"), "timestamp": timestamp, "data": data})
        .to_string()
        .into_bytes()
}

/// The envelope types the product received for one employee, in order.
fn calls_for(target: &TargetServer, employee: &str) -> Vec<String> {
    let requests = target.requests().into_iter();
    let mine = requests.filter(|r| r.body["data"]["id"] == employee);
    mine.map(|r| r.body["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn try_action(app: &TestApp, event_id: &str, target: &str) -> Option<(String, i32)> {
    sqlx::query_as(
        "SELECT status, attempts FROM provisioning_actions WHERE event_id = $1 AND target = $2",
    )
    .bind(event_id)
    .bind(target)
    .fetch_optional(&app.pool)
    .await
    .expect("the query runs")
}

async fn action(app: &TestApp, event_id: &str, target: &str) -> (String, i32) {
    let found = try_action(app, event_id, target).await;
    found.expect("the action exists")
}

/// Wait until `event_id` has been processed `n` times (any outcome), e.g. a retry or a
/// replay that found nothing left to do.
async fn wait_processed(app: &TestApp, event_id: &str, n: i64) {
    wait_for(&format!("{event_id} processed {n} times"), || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (count >= n).then_some(())
    })
    .await;
}

/// Post the hire of `employee` (2 March, 09:00); its event id.
async fn hire(app: &TestApp, employee: &str) -> String {
    let body = envelope("created", employee, "2026-03-02T09:00:00Z", None);
    app.send_hris(&body).await
}

/// Wait until a later delivery of `event_id` found nothing left to do (recorded as a
/// duplicate): a retry or replay has come back and been settled.
async fn wait_duplicate(app: &TestApp, event_id: &str) {
    wait_for(
        &format!("{event_id} to come back as a duplicate"),
        || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE event_id = $1 AND outcome = 'duplicate'",
            )
            .bind(event_id)
            .fetch_one(&app.pool)
            .await
            .ok()?;
            (n >= 1).then_some(())
        },
    )
    .await;
}

async fn dead_letters(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

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
    use provisiond::audit::report::pending_past_sla;
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
