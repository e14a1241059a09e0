//! Reconciliation against local servers speaking each sender's list endpoint: missed
//! terminations found and applied (and clocked from the sender's date), dry runs, reruns,
//! every sender's pagination, and a race with a webhook.

mod guard;
mod runs;
mod scheduled_and_cli;

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
    let runtime = provisiond::provision::runtime::Runtime::build(config).unwrap();
    let publisher = TestPublisher::start(app).await;
    let mut found = Vec::new();
    let mut each = |d: &Difference| found.push(d.clone());
    let to = (!dry_run).then_some(&publisher.publisher);
    let report = provisiond::reconcile::scheduler::run_with(
        &app.pool, to, &runtime, source, "manual", &mut each,
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
