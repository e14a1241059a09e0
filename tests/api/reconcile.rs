//! Reconciliation against local servers speaking each sender's list endpoint: missed
//! terminations found and applied (and clocked from the sender's date), dry runs, reruns,
//! every sender's pagination, and a race with a webhook.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::config::Config;
use provisiond::queue::{Publisher, Topology};
use provisiond::reconcile::{Difference, RunReport};
use provisiond::Role;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

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
    let stop = CancellationToken::new();
    let topology = Topology::new(&app.iso.prefix, 10);
    let url = provisiond::config::Secret::new(&amqp_url());
    let (publisher, task) = Publisher::start(url, topology, Duration::from_secs(3), stop.clone());
    publisher
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    let mut found = Vec::new();
    let mut each = |d: &Difference| found.push(d.clone());
    let publisher = (!dry_run).then_some(&publisher);
    let report = provisiond::reconcile::scheduler::run_with(
        &app.pool, publisher, config, source, api, "manual", &mut each,
    )
    .await
    .unwrap();
    stop.cancel();
    task.await.unwrap();
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

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "provisiond_reconcile_differences_total{source=\"merge_list\",kind=\"termination\"} 2"
        ),
        "{metrics}"
    );
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
