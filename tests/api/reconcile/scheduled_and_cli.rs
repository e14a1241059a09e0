//! Runs an operator does not start by hand (the schedule), and the ones started from the
//! `provisiond` command.

use super::*;

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
    let runtime = provisiond::provision::runtime::Runtime::build(&config).unwrap();
    let first = scheduler(&app.pool, &publisher.publisher, &config, &runtime).await;
    assert_eq!(first.len(), 1, "never run: due");
    assert_eq!(first[0].counts.published, 1);
    let second = scheduler(&app.pool, &publisher.publisher, &config, &runtime).await;
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
