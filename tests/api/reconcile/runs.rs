//! One reconcile run: what it finds and applies, dry runs, reruns, every sender's pages, a
//! race with a webhook, and the runs that fail or are cut short.

use super::*;

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
