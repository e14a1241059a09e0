//! Reconciliation against local servers speaking each sender's list endpoint: missed
//! terminations found and applied (and clocked from the sender's date), dry runs, reruns,
//! every sender's pagination, and a race with a webhook.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::config::Config;
use provisiond::reconcile::{Difference, RunReport};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sender_lists::SenderLists;

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Merge source `merge_list` listed by `lists`, plus `extra` configuration.
fn config(iso: &Isolation, lists: &SenderLists, extra: &str) -> Config {
    let source = format!(
        "[[sources]]\nname = \"merge_list\"\nkind = \"merge\"\nsecrets = [\"{MERGE_SECRET}\"]\n{}\n{extra}",
        lists.api("merge")
    );
    test_config_with(iso, &amqp_url(), &source)
}

async fn start(lists: &SenderLists, extra: &str) -> (TestApp, Config) {
    let iso = Isolation::new();
    let config = config(&iso, lists, extra);
    let app = spawn_with(config.clone(), iso, Role::All).await;
    (app, config)
}

/// One run of `source`, as `provisiond reconcile` does it; the differences it reported.
pub(crate) async fn reconcile(
    app: &TestApp,
    config: &Config,
    source: &str,
    dry_run: bool,
) -> (RunReport, Vec<Difference>) {
    let source = config.sources.iter().find(|s| s.name == source).unwrap();
    let api = source.api.as_ref().unwrap();
    let publisher = TestPublisher::start(app).await;
    let mut found = Vec::new();
    let mut each = |d: &Difference| found.push(d.clone());
    let to = (!dry_run).then_some(&publisher.publisher);
    let report = provisiond::reconcile::scheduler::run_with(
        &app.pool, to, config, source, api, "manual", &mut each,
    )
    .await
    .unwrap();
    publisher.stop().await;
    (report, found)
}

/// A Merge Employee, as the list and the webhooks carry it.
pub(crate) fn merge_employee(id: &str, status: &str, modified: DateTime<Utc>) -> Value {
    json!({"id": id, "remote_id": "7", "first_name": "Ada", "last_name": "Lovelace",
           "work_email": format!("{id}@acme.example"), "employment_status": status,
           "start_date": "2024-01-08T00:00:00Z", "termination_date": null,
           "remote_was_deleted": false, "modified_at": rfc3339(modified)})
}

pub(crate) async fn merge_webhook(app: &TestApp, source: &str, event: &str, data: Value) {
    let body = json!({"hook": {"id": "h1", "event": event},
                      "linked_account": {"id": "la_1", "integration_slug": "bamboohr"},
                      "data": data})
    .to_string()
    .into_bytes();
    let headers = python_sign("merge", MERGE_SECRET, 0, "", &body);
    assert_eq!(app.post(source, &headers, &body).await.status(), 202);
}

/// Hire `n` employees through Merge webhooks; their ids.
async fn hire(app: &TestApp, lists: &SenderLists, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = unique("rc");
        let record = merge_employee(&id, "ACTIVE", Utc::now() - Span::days(30));
        merge_webhook(app, "merge_list", "Employee.added", record.clone()).await;
        lists.set(&id, record);
        ids.push(id);
    }
    for id in &ids {
        app.employee_after("merge_list", id, 1).await;
    }
    ids
}

async fn wait_status(app: &TestApp, id: &str, status: &str) -> Value {
    wait_for(&format!("{id} to be {status}"), || async {
        let view = app.employee("merge_list", id).await?;
        (view["status"] == status).then_some(view)
    })
    .await
}

#[tokio::test]
async fn a_missed_termination_is_found_applied_and_clocked_from_the_senders_date() {
    let lists = SenderLists::start().await;
    let (app, config) = start(&lists, "").await;
    let ids = hire(&app, &lists, 3).await;
    let (stays, left, gone) = (&ids[0], &ids[1], &ids[2]);
    // Merge marked one INACTIVE two days ago and lost the other; no webhook came.
    let ended = (Utc::now() - Span::days(2)).date_naive();
    let mut record = merge_employee(left, "INACTIVE", Utc::now() - Span::days(2));
    record["termination_date"] = json!(format!("{ended}T00:00:00Z"));
    lists.set(left, record);
    lists.remove(gone);

    let (report, found) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(report.status, "succeeded", "{report:?}");
    assert_eq!(report.counts.listed, 2);
    assert_eq!(
        (report.counts.terminations, report.counts.published),
        (2, 2)
    );
    let mut kinds: Vec<(String, &str)> = found
        .iter()
        .map(|d| (d.employee_id.clone(), d.kind.as_str()))
        .collect();
    kinds.sort();
    let mut expected = vec![(left.clone(), "termination"), (gone.clone(), "termination")];
    expected.sort();
    assert_eq!(kinds, expected);

    let view = wait_status(&app, left, "terminated").await;
    let event = view["events"].as_array().unwrap().last().unwrap().clone();
    assert!(event["event_id"]
        .as_str()
        .unwrap()
        .starts_with("reconcile:"));
    assert_eq!(event["kind"], "terminated");
    // Clocked from the sender's termination date, not from the run.
    assert_eq!(event["received_at"], format!("{ended}T00:00:00Z"));
    assert_eq!(view["targets"][0]["status"], "deactivated");
    wait_status(&app, gone, "terminated").await;
    let view = app.employee("merge_list", stays).await.unwrap();
    assert_eq!(view["status"], "active");

    app.assert_metric(
        "provisiond_reconcile_differences_total{source=\"merge_list\",kind=\"termination\"} 2",
    )
    .await;
    // In a report of the last day, though its clock started two days ago: a missed webhook
    // shows as the long latency it was.
    let report = app.deprovision_report("since=1d&sla=15m").await;
    let found = report["terminations"].as_array().unwrap();
    let row = found.iter().find(|t| t["employee_id"] == left.as_str());
    let row = row.unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row["detected_by"], "reconcile");
    assert_eq!(row["breach"], true);
    assert!(row["receipt_to_revoked_seconds"].as_f64().unwrap() > 86_400.0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_dry_run_reports_the_differences_and_changes_nothing() {
    let lists = SenderLists::start().await;
    let (app, config) = start(&lists, "").await;
    let ids = hire(&app, &lists, 2).await;
    lists.remove(&ids[0]);
    let newcomer = unique("rc");
    lists.set(&newcomer, merge_employee(&newcomer, "ACTIVE", Utc::now()));

    let (report, found) = reconcile(&app, &config, "merge_list", true).await;
    assert!(report.dry_run);
    assert_eq!(
        (report.counts.terminations, report.counts.hires),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(report.counts.published, 0);
    assert!(found.iter().all(|d| !d.published));
    assert_eq!(app.queued_messages().await, 0);
    assert_eq!(
        app.employee("merge_list", &ids[0]).await.unwrap()["status"],
        "active"
    );
    assert!(app.employee("merge_list", &newcomer).await.is_none());
    let runs = provisiond::store::reconcile::history(&app.pool, Some("merge_list"), 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].dry_run);
    assert_eq!(runs[0].status, "succeeded");
    app.cleanup().await;
}

#[tokio::test]
async fn a_rerun_publishes_nothing_new() {
    let lists = SenderLists::start().await;
    let (app, config) = start(&lists, "").await;
    let ids = hire(&app, &lists, 2).await;
    lists.remove(&ids[1]);
    let (first, _) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(first.counts.published, 1);
    // Whether or not the first run's event has been applied yet: nothing new goes out.
    let (second, _) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(second.counts.published, 0, "{second:?}");
    wait_status(&app, &ids[1], "terminated").await;
    let (third, found) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(third.counts.published, 0);
    assert!(found.is_empty(), "{found:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn every_senders_list_is_read_page_by_page() {
    let lists = SenderLists::start().await;
    let kinds = ["merge", "workos", "bamboohr", "hibob", "gusto", "deel"];
    let mut extra = String::new();
    for kind in kinds {
        extra += &format!(
            "[[sources]]\nname = \"{kind}_list\"\nkind = \"{kind}\"\nsecrets = [\"k-{kind}\"]\n{}\n\n",
            lists.api(kind)
        );
    }
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &extra);
    let app = spawn_with(config.clone(), iso, Role::All).await;
    // One roster every sender reads in its own shape: 130 people here, 2 of them gone.
    for i in 0..130 {
        let id = format!("p{i:03}");
        let here = i < 128;
        lists.set(
            &id,
            json!({"id": id, "uuid": id, "first_name": "Ada", "firstName": "Ada",
                   "employment_status": if here { "ACTIVE" } else { "INACTIVE" },
                   "state": if here { "active" } else { "inactive" },
                   "status": if here { "Active" } else { "Inactive" },
                   "directory_id": provisiond_directory(),
                   "internal": {"status": if here { "Active" } else { "Inactive" },
                                "lifecycleStatus": if here { "Employed" } else { "Terminated" }},
                   "terminated": !here,
                   "hiring_status": if here { "active" } else { "terminated" }}),
        );
    }
    for kind in kinds {
        let before = lists.requests();
        let (report, found) = reconcile(&app, &config, &format!("{kind}_list"), true).await;
        assert_eq!(report.status, "succeeded", "{kind}: {report:?}");
        assert_eq!(report.counts.listed, 130, "{kind}");
        assert_eq!(report.counts.hires, 128, "{kind}");
        assert_eq!(found.len(), 128, "{kind}");
        let pages = lists.requests() - before;
        let paged = !matches!(kind, "bamboohr" | "hibob");
        assert_eq!(pages, if paged { 2 } else { 1 }, "{kind} pages");
    }
    app.cleanup().await;
}

fn provisiond_directory() -> &'static str {
    crate::sender_lists::WORKOS_DIRECTORY
}

#[tokio::test]
async fn a_reconcile_racing_a_webhook_ends_in_the_newest_state() {
    let lists = SenderLists::start().await;
    let (app, config) = start(&lists, "").await;
    let ids = hire(&app, &lists, 2).await;
    let (leaver, rehired) = (&ids[0], &ids[1]);

    // The list still says ACTIVE (as of an hour ago); the leaver's webhook is newer.
    lists.set(
        leaver,
        merge_employee(leaver, "ACTIVE", Utc::now() - Span::hours(1)),
    );
    let mut left = merge_employee(leaver, "INACTIVE", Utc::now());
    left["termination_date"] = json!(format!("{}T00:00:00Z", Utc::now().date_naive()));
    merge_webhook(&app, "merge_list", "Employee.changed", left).await;
    wait_status(&app, leaver, "terminated").await;

    // The list says terminated yesterday; a newer webhook says active again.
    let mut old = merge_employee(rehired, "INACTIVE", Utc::now() - Span::days(1));
    let yesterday = (Utc::now() - Span::days(1)).date_naive();
    old["termination_date"] = json!(format!("{yesterday}T00:00:00Z"));
    lists.set(rehired, old);
    let active = merge_employee(rehired, "ACTIVE", Utc::now());
    merge_webhook(&app, "merge_list", "Employee.changed", active).await;
    app.employee_after("merge_list", rehired, 2).await;

    let (report, _) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(
        (report.counts.hires, report.counts.terminations),
        (1, 1),
        "{report:?}"
    );
    // Each synthetic event is older than the webhook it races: both are stale.
    let leaver_view = app.employee_after("merge_list", leaver, 3).await;
    let rehired_view = app.employee_after("merge_list", rehired, 3).await;
    for view in [&leaver_view, &rehired_view] {
        let last = view["events"].as_array().unwrap().last().unwrap().clone();
        assert!(
            last["event_id"].as_str().unwrap().starts_with("reconcile:"),
            "{view}"
        );
        assert_eq!(last["outcome"], "stale", "{view}");
    }
    assert_eq!(leaver_view["status"], "terminated");
    assert_eq!(rehired_view["status"], "active");
    app.cleanup().await;
}

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

#[tokio::test]
async fn a_scheduled_source_is_reconciled_when_its_last_run_is_old_enough() {
    let lists = SenderLists::start().await;
    let iso = Isolation::new();
    let mut config = config(&iso, &lists, "");
    let source = config.sources.iter_mut().find(|s| s.name == "merge_list");
    source.unwrap().reconcile_every = Some(Duration::from_secs(3600));
    let app = spawn_with(config.clone(), iso, Role::All).await;
    let ids = hire(&app, &lists, 2).await;
    lists.remove(&ids[0]);
    let publisher = TestPublisher::start(&app).await;
    let scheduler = provisiond::reconcile::scheduler::tick;
    let first = scheduler(&app.pool, &publisher.publisher, &config).await;
    assert_eq!(first.len(), 1, "never run: due");
    assert_eq!(first[0].counts.published, 1);
    let second = scheduler(&app.pool, &publisher.publisher, &config).await;
    assert!(second.is_empty(), "ran less than an hour ago: {second:?}");
    publisher.stop().await;
    wait_status(&app, &ids[0], "terminated").await;
    let runs = provisiond::store::reconcile::history(&app.pool, None, 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "scheduled");
    app.cleanup().await;
}

/// `provisiond …` with a configuration file for `app`: its database and queues, and the
/// `merge_list` source listed by `lists`; its output as JSON, else as a string.
async fn cli(app: &TestApp, lists: &SenderLists, args: &[&str]) -> Value {
    let text = format!(
        "[database]\nurl = \"{}\"\n[rabbitmq]\nmessage_key = \"{MESSAGE_KEY}\"\nurl = \"{}\"\nprefix = \"{}\"\n\
         [[sources]]\nname = \"merge_list\"\nkind = \"merge\"\nsecrets = [\"{MERGE_SECRET}\"]\n{}\n",
        app.iso.database_url,
        amqp_url(),
        app.iso.prefix,
        lists.api("merge")
    );
    let file = temp_file(&text);
    // Async: the sender's list server runs on this test's runtime.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(file.path())
        .args(args)
        .env("USER", "ops-alice")
        .env_remove("LOGNAME")
        .output()
        .await
        .expect("provisiond runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or(Value::String(stdout.into_owned()))
}

#[tokio::test]
async fn the_cli_reconciles_lists_history_and_releases_holds() {
    let lists = SenderLists::start().await;
    let iso = Isolation::new();
    let mut config = config(&iso, &lists, "");
    config.guard.enabled = true;
    config.guard.max_terminations = 1;
    let app = spawn_with(config, iso, Role::All).await;
    let ids = hire(&app, &lists, 3).await;
    lists.remove(&ids[1]);
    lists.remove(&ids[2]);

    let dry = cli(
        &app,
        &lists,
        &["reconcile", "merge_list", "--dry-run", "--format", "json"],
    )
    .await;
    assert_eq!(dry["run"]["terminations"], 2, "{dry}");
    assert_eq!(dry["run"]["dry_run"], true);
    assert_eq!(dry["differences"].as_array().unwrap().len(), 2);
    assert_eq!(dry["differences"][0]["published"], false);

    let run = cli(
        &app,
        &lists,
        &["reconcile", "merge_list", "--format", "json"],
    )
    .await;
    assert_eq!(run["run"]["published"], 2, "{run}");
    let history = cli(&app, &lists, &["reconcile", "history", "--format", "json"]).await;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history[0]["dry_run"], false);
    assert_eq!(history[1]["dry_run"], true);

    // One termination fits the guard, the other is held.
    let held = wait_for("one hold", || async {
        let list = cli(&app, &lists, &["hold", "list", "--format", "json"]).await;
        (list.as_array()?.len() == 1).then_some(list)
    })
    .await;
    let employee = held[0]["employee_id"].as_str().unwrap().to_owned();
    let table = cli(&app, &lists, &["employee", "show", "merge_list", &employee]).await;
    assert!(
        table
            .as_str()
            .unwrap()
            .contains("HELD by the mass-change guard"),
        "{table}"
    );
    let released = cli(&app, &lists, &RELEASE_ALL_HOLDS).await;
    assert!(
        released.as_str().unwrap().starts_with("released 1"),
        "{released}"
    );
    wait_status(&app, &employee, "terminated").await;
    let decided = cli(
        &app,
        &lists,
        &["hold", "list", "--status", "released", "--format", "json"],
    )
    .await;
    assert_eq!(decided[0]["decided_by"], "ops-alice");
    app.cleanup().await;
}

#[tokio::test]
async fn an_empty_list_fails_the_run_and_terminates_no_one() {
    let lists = SenderLists::start().await;
    let (app, config) = start(&lists, "").await;
    let ids = hire(&app, &lists, 2).await;
    for id in &ids {
        lists.remove(id);
    }
    let (report, found) = reconcile(&app, &config, "merge_list", false).await;
    assert_eq!(report.status, "failed");
    assert!(
        report.error.as_deref().unwrap().contains("empty"),
        "{report:?}"
    );
    assert!(found.is_empty());
    assert_eq!(report.counts.published, 0);
    for id in &ids {
        let view = app.employee("merge_list", id).await.unwrap();
        assert_eq!(view["status"], "active");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_run_left_running_by_a_crashed_process_is_closed_as_interrupted() {
    let app = spawn_app(Role::Receiver).await;
    let crashed: i64 = sqlx::query_scalar(
        "INSERT INTO reconcile_runs (source, dry_run, trigger, started_at) \
         VALUES ('hris', false, 'scheduled', now() - interval '2 days') RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let recent: i64 = sqlx::query_scalar(
        "INSERT INTO reconcile_runs (source, dry_run, trigger) \
         VALUES ('hris', false, 'manual') RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let next = provisiond::store::reconcile::start_run(&app.pool, "hris", true, "manual")
        .await
        .unwrap();
    let status = |id: i64| {
        let pool = app.pool.clone();
        async move {
            let row: (String, Option<String>) =
                sqlx::query_as("SELECT status, error FROM reconcile_runs WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            row
        }
    };
    let (state, error) = status(crashed).await;
    assert_eq!(state, "failed");
    assert!(error.unwrap().contains("interrupted"));
    // A run that may still be going (another process, started recently) is left alone.
    assert_eq!(status(recent).await.0, "running");
    assert_eq!(status(next).await.0, "running");
    app.cleanup().await;
}
