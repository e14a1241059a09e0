//! Replaying dead letters, one or in bulk, through the admin API and the `dlq` command.

use super::*;

#[tokio::test]
async fn replaying_one_dead_letter_through_the_api_republishes_it_and_the_worker_applies_it() {
    let app = spawn_app(Role::All).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/replay", letter.id);
    let response = app
        .admin_send(ADMIN_TOKEN, &path, None, Some("alice"))
        .await;
    assert_eq!(
        json_of(response, 200).await,
        json!({"replayed": [letter.id]})
    );
    assert_applied(&app, &letter).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["status"], "replayed");
    assert_eq!(shown["replay_count"], 1);
    let action = last_action(&shown);
    assert_eq!(action["action"], "replayed");
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "alice");
    assert_eq!(action["detail"]["trigger"], "manual");

    // A second replay of an applied event changes nothing: the worker sees a duplicate.
    let response = app.admin_send(ADMIN_TOKEN, &path, None, None).await;
    assert_eq!(json_of(response, 200).await["replayed"], json!([letter.id]));
    let view = app.employee_after("hris", &letter.employee, 2).await;
    assert_eq!(view["events"][1]["outcome"], "duplicate");
    assert_eq!(view["status"], "active");
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["replay_count"], 2);
    assert_eq!(last_action(&shown)["actor"], "admin");

    let missing = app
        .admin_send(ADMIN_TOKEN, "/admin/dead-letters/999999/replay", None, None)
        .await;
    assert_eq!(json_of(missing, 404).await["error"], "unknown_dead_letter");
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_one_dead_letter_with_the_cli_applies_it_and_records_the_actor() {
    let app = spawn_app(Role::All).await;
    let letter = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let config = config_file(&app);
    let id = letter.id.to_string();
    let out = stdout(&dlq(config.path(), &["replay", &id, "--actor", "carol"]).await);
    assert!(
        out.contains(&format!("replayed 1 dead letter: {id}")),
        "stdout: {out}"
    );
    assert_applied(&app, &letter).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["status"], "replayed");
    assert_eq!(shown["replay_count"], 1);
    let action = last_action(&shown);
    assert_eq!(action["action"], "replayed");
    assert_eq!(action["actor"], "carol");
    app.cleanup().await;
}

#[tokio::test]
async fn bulk_replay_with_the_dlq_cli_needs_yes_and_then_replays_only_matching_dead_ones() {
    let app = spawn_app(Role::All).await;
    let a = dead_letter(&app, "hris", Reason::PermanentError).await;
    let b = dead_letter(&app, "hris", Reason::PermanentError).await;
    let c = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let d = dead_letter(&app, "hris", Reason::PermanentError).await;
    discard(&app, &d).await;
    let config = config_file(&app);

    let refused = dlq(config.path(), &["replay", "--reason", "permanent_error"]).await;
    let message = stderr(&refused);
    assert!(
        message.contains("2 dead letters would be replayed") && message.contains("--yes"),
        "stderr: {message}"
    );
    for letter in [&a, &b, &c] {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }

    let args = ["replay", "--reason", "permanent_error", "--yes"];
    let out = stdout(&dlq_as(config.path(), Some("dave"), &args).await);
    assert!(out.contains("replayed 2 dead letters"), "stdout: {out}");
    assert_applied(&app, &a).await;
    assert_applied(&app, &b).await;
    for letter in [&a, &b] {
        assert_eq!(status_of(&app, letter.id).await, ("replayed".to_owned(), 1));
        assert_eq!(last_action(&detail(&app, letter.id).await)["actor"], "dave");
    }
    assert_eq!(status_of(&app, c.id).await, ("dead".to_owned(), 0));
    assert_eq!(status_of(&app, d.id).await, ("discarded".to_owned(), 0));

    let out = stdout(&dlq(config.path(), &["replay", "--all", "--yes"]).await);
    assert!(
        out.contains(&format!("replayed 1 dead letter: {}", c.id)),
        "stdout: {out}"
    );
    assert_applied(&app, &c).await;
    assert_eq!(status_of(&app, d.id).await, ("discarded".to_owned(), 0));
    let out = stdout(&dlq(config.path(), &["replay", "--all", "--yes"]).await);
    assert!(out.contains("replayed 0"), "stdout: {out}");

    stderr(&dlq(config.path(), &["replay"]).await);
    let id = a.id.to_string();
    stderr(&dlq(config.path(), &["replay", &id, "--all", "--yes"]).await);
    app.cleanup().await;
}

#[tokio::test]
async fn bulk_replay_through_the_api_takes_ids_all_or_a_filter() {
    let app = spawn_app(Role::All).await;
    let a = dead_letter(&app, "hris", Reason::PermanentError).await;
    let b = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let c = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = "/admin/dead-letters/replay";
    for bad in [
        None,
        Some(json!({})),
        Some(json!({"all": false})),
        Some(json!({"sorce": "hris"})),
        Some(json!({"ids": []})),
        Some(json!({"ids": [a.id], "all": true})),
        Some(json!({"all": true, "reason": "permanent_error"})),
        Some(json!({"reason": "boom"})),
        Some(json!({"since": "whenever"})),
    ] {
        let response = app.admin_send(ADMIN_TOKEN, path, bad.clone(), None).await;
        let body = json_of(response, 400).await;
        assert_eq!(body["error"], "bad_request", "for {bad:?}");
    }
    for letter in [&a, &b, &c] {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }

    // A bulk replay is a job: 202 with its id, then its progress until it ends.
    let ids = Some(json!({"ids": [a.id]}));
    let job = replay_job(&app, ids, Some("erin")).await;
    assert_eq!(job["replayed"], json!([a.id]));
    assert_eq!(
        (job["total"].as_i64(), job["done"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(job["actor"], "admin");
    assert_eq!(job["on_behalf_of"], "erin");
    let filter = Some(json!({"reason": "permanent_error", "source": "hris"}));
    let job = replay_job(&app, filter, Some("erin")).await;
    assert_eq!(job["replayed"], json!([c.id]));
    let job = replay_job(&app, Some(json!({"all": true})), None).await;
    assert_eq!(job["replayed"], json!([b.id]));
    let job = replay_job(&app, Some(json!({"since": "1h"})), None).await;
    assert_eq!(job["replayed"], json!([]));
    assert_eq!(job["total"], 0);
    for letter in [&a, &b, &c] {
        assert_applied(&app, letter).await;
        assert_eq!(status_of(&app, letter.id).await, ("replayed".to_owned(), 1));
    }
    let shown = detail(&app, c.id).await;
    let action = last_action(&shown);
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "erin");

    let unknown = Some(json!({"ids": [a.id, 999999]}));
    let response = app.admin_send(ADMIN_TOKEN, path, unknown, None).await;
    assert_eq!(json_of(response, 404).await["error"], "unknown_dead_letter");
    assert_eq!(status_of(&app, a.id).await, ("replayed".to_owned(), 1));
    app.cleanup().await;
}

#[tokio::test]
async fn replaying_a_discarded_dead_letter_is_a_conflict() {
    let app = spawn_app(Role::Receiver).await;
    let kept = dead_letter(&app, "hris", Reason::PermanentError).await;
    let gone = dead_letter(&app, "hris", Reason::PermanentError).await;
    discard(&app, &gone).await;

    let path = format!("/admin/dead-letters/{}/replay", gone.id);
    let body = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 409).await;
    assert_eq!(body["error"], "conflict");
    assert!(body["message"].as_str().unwrap().contains("discarded"));
    // Every id is checked before any is republished.
    let ids = Some(json!({"ids": [kept.id, gone.id]}));
    let response = app
        .admin_send(ADMIN_TOKEN, "/admin/dead-letters/replay", ids, None)
        .await;
    assert_eq!(json_of(response, 409).await["error"], "conflict");

    let config = config_file(&app);
    let id = gone.id.to_string();
    let refused = stderr(&dlq(config.path(), &["replay", &id]).await);
    assert!(refused.contains("discarded"), "stderr: {refused}");
    assert_eq!(status_of(&app, gone.id).await, ("discarded".to_owned(), 0));
    assert_eq!(status_of(&app, kept.id).await, ("dead".to_owned(), 0));
    assert_eq!(app.queued_messages().await, 0);
    app.cleanup().await;
}
