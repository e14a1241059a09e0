//! What lands in the dead-letter log, and listing, showing and discarding it.

use super::*;

#[tokio::test]
async fn dead_letters_are_listed_newest_first_and_filtered_in_the_api_and_the_cli() {
    let app = spawn_app(Role::Receiver).await;
    let old = dead_letter(&app, "hris", Reason::PermanentError).await;
    let merge = dead_letter(&app, "merge", Reason::AttemptsExhausted).await;
    let raw = record(
        &app,
        "hris",
        &unique("raw"),
        None,
        Reason::Unparseable,
        b"not json",
    )
    .await;
    sqlx::query(
        "UPDATE dead_letters SET dead_lettered_at = now() - interval '3 days' WHERE id = $1",
    )
    .bind(old.id)
    .execute(&app.pool)
    .await
    .unwrap();

    let rows = json_of(app.admin_get("/admin/dead-letters").await, 200).await;
    let rows = rows.as_array().expect("an array");
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [raw, merge.id, old.id]);
    for row in rows {
        for key in [
            "id",
            "source",
            "event_id",
            "employee_id",
            "kind",
            "reason",
            "status",
            "attempts",
            "last_error",
            "dead_lettered_at",
            "replay_count",
            "first_received_at",
        ] {
            assert!(row.get(key).is_some(), "a summary lacks {key}: {row}");
        }
        assert!(row.get("body").is_none(), "a summary carries no body");
    }
    let row = &rows[1];
    assert_eq!(row["source"], "merge");
    assert_eq!(row["event_id"], merge.event_id.as_str());
    assert_eq!(row["employee_id"], merge.employee.as_str());
    assert_eq!(row["kind"], "created");
    assert_eq!(row["reason"], "attempts_exhausted");
    assert_eq!(row["status"], "dead");
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_error"], "target `directory` refused the event");
    assert_eq!(row["replay_count"], 0);
    assert!(rows[0]["employee_id"].is_null());

    assert_eq!(list(&app, "?source=hris").await, [raw, old.id]);
    assert_eq!(list(&app, "?reason=attempts_exhausted").await, [merge.id]);
    assert_eq!(list(&app, "?status=dead&limit=1").await, [raw]);
    assert!(list(&app, "?status=replayed").await.is_empty());
    assert_eq!(list(&app, "?since=2d").await, [raw, merge.id]);
    let four_days_ago = (chrono::Utc::now() - chrono::Duration::days(4)).to_rfc3339();
    let query = format!("?since={}", four_days_ago.replace('+', "%2B"));
    assert_eq!(list(&app, &query).await.len(), 3);
    assert_eq!(list(&app, "?source=&reason=&status=").await.len(), 3);
    for bad in ["?status=gone", "?reason=boom", "?since=soon", "?limit=0"] {
        let response = app.admin_get(&format!("/admin/dead-letters{bad}")).await;
        let body = json_of(response, 400).await;
        assert_eq!(body["error"], "bad_request");
    }

    let config = config_file(&app);
    let everything = json_out(&dlq(config.path(), &["list", "--format", "json"]).await);
    let api = json_of(app.admin_get("/admin/dead-letters").await, 200).await;
    assert_eq!(everything, api);
    let args = [
        "list", "--source", "hris", "--since", "2d", "--format", "json",
    ];
    let recent_hris = json_out(&dlq(config.path(), &args).await);
    assert_eq!(recent_hris.as_array().unwrap().len(), 1);
    assert_eq!(recent_hris[0]["id"], raw);
    let args = ["list", "--reason", "attempts_exhausted", "--format", "json"];
    let exhausted = json_out(&dlq(config.path(), &args).await);
    assert_eq!(exhausted[0]["id"], merge.id);
    let args = ["list", "--status", "discarded", "--format", "json"];
    assert_eq!(json_out(&dlq(config.path(), &args).await), json!([]));
    let table = stdout(&dlq(config.path(), &["list"]).await);
    assert!(table.contains(&merge.event_id), "table: {table}");
    assert!(table.contains("attempts_exhausted"), "table: {table}");
    let refused = stderr(&dlq(config.path(), &["list", "--status", "gone"]).await);
    assert!(refused.contains("gone"), "stderr: {refused}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_dead_letter_shows_its_body_headers_error_chain_and_actions() {
    let app = spawn_app(Role::Receiver).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let shown = detail(&app, letter.id).await;
    assert_eq!(shown["id"], letter.id);
    assert_eq!(shown["source_kind"], "standard-webhooks");
    assert_eq!(shown["status"], "dead");
    assert_eq!(shown["body_encoding"], "utf-8");
    let body: Value = serde_json::from_str(shown["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["id"], letter.employee.as_str());
    assert_eq!(shown["headers"]["event_id"], letter.event_id.as_str());
    assert_eq!(
        shown["error_chain"],
        json!([
            "target `directory` refused the event",
            "HTTP 400: bad request"
        ])
    );
    assert!(!shown["first_failed_at"].is_null());
    let actions = shown["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["action"], "dead_lettered");
    assert_eq!(actions[0]["actor"], "provisiond");
    assert_eq!(actions[0]["reason"], "permanent_error");
    assert!(!actions[0]["at"].is_null());

    let binary = [0xff, 0xfe, 0x00, b'A'];
    let raw = record(
        &app,
        "hris",
        &unique("bin"),
        None,
        Reason::Unparseable,
        &binary,
    )
    .await;
    let shown_raw = detail(&app, raw).await;
    assert_eq!(shown_raw["body_encoding"], "base64");
    assert_eq!(shown_raw["body"], "//4AQQ==");

    for missing in ["/admin/dead-letters/999999", "/admin/dead-letters/abc"] {
        let body = json_of(app.admin_get(missing).await, 404).await;
        assert_eq!(body["error"], "unknown_dead_letter");
    }

    let config = config_file(&app);
    let id = letter.id.to_string();
    assert_eq!(json_out(&dlq(config.path(), &["show", &id]).await), shown);
    let table = stdout(&dlq(config.path(), &["show", &id, "--format", "table"]).await);
    assert!(table.contains(&letter.event_id), "table: {table}");
    assert!(table.contains("HTTP 400: bad request"), "table: {table}");
    assert!(table.contains("dead_lettered"), "table: {table}");
    let unknown = stderr(&dlq(config.path(), &["show", "999999"]).await);
    assert!(unknown.contains("999999"), "stderr: {unknown}");
    app.cleanup().await;
}

#[tokio::test]
async fn the_dead_letter_api_answers_401_without_the_bearer_token() {
    let app = spawn_app(Role::Receiver).await;
    let letter = dead_letter(&app, "hris", Reason::PermanentError).await;
    let base = format!("{}/admin/dead-letters", app.address);
    let id = letter.id;
    let gets = [base.clone(), format!("{base}/{id}")];
    let posts = [
        (format!("{base}/{id}/replay"), json!({})),
        (format!("{base}/replay"), json!({"all": true})),
        (format!("{base}/{id}/discard"), json!({"reason": "no"})),
    ];
    for token in [None, Some("not-the-admin-token")] {
        for url in &gets {
            let mut request = app.client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let body = json_of(request.send().await.unwrap(), 401).await;
            assert_eq!(body["error"], "unauthorized");
        }
        for (url, body) in &posts {
            let mut request = app.client.post(url).json(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let body = json_of(request.send().await.unwrap(), 401).await;
            assert_eq!(body["error"], "unauthorized");
        }
    }
    assert_eq!(status_of(&app, id).await, ("dead".to_owned(), 0));
    assert_eq!(
        detail(&app, id).await["actions"].as_array().unwrap().len(),
        1
    );
    app.cleanup().await;
}

#[tokio::test]
async fn discarding_a_dead_letter_needs_a_reason_and_records_the_actor() {
    let app = spawn_app(Role::Receiver).await;
    let first = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/discard", first.id);
    for body in [None, Some(json!({})), Some(json!({"reason": "  "}))] {
        let response = app
            .admin_send(ADMIN_TOKEN, &path, body, Some("alice"))
            .await;
        assert_eq!(json_of(response, 400).await["error"], "bad_request");
    }
    assert_eq!(status_of(&app, first.id).await.0, "dead");

    let why = json!({"reason": "test data from the sandbox"});
    let response = app
        .admin_send(ADMIN_TOKEN, &path, Some(why.clone()), Some("alice"))
        .await;
    let shown = json_of(response, 200).await;
    assert_eq!(shown["id"], first.id);
    assert_eq!(shown["status"], "discarded");
    let action = last_action(&shown);
    assert_eq!(action["action"], "discarded");
    // The token's name is the actor; the header only says on whose behalf.
    assert_eq!(action["actor"], "admin");
    assert_eq!(action["detail"]["on_behalf_of"], "alice");
    assert_eq!(action["reason"], "test data from the sandbox");
    let again = json_of(
        app.admin_send(ADMIN_TOKEN, &path, Some(why), None).await,
        409,
    )
    .await;
    assert_eq!(again["error"], "conflict");
    assert!(again["message"].as_str().unwrap().contains("discarded"));

    let second = dead_letter(&app, "hris", Reason::PermanentError).await;
    let path = format!("/admin/dead-letters/{}/discard", second.id);
    let body = Some(json!({"reason": "duplicate"}));
    let shown = json_of(app.admin_send(ADMIN_TOKEN, &path, body, None).await, 200).await;
    assert_eq!(last_action(&shown)["actor"], "admin");

    let config = config_file(&app);
    let third = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let id = third.id.to_string();
    let no_reason = stderr(&dlq(config.path(), &["discard", &id]).await);
    assert!(no_reason.contains("--reason"), "stderr: {no_reason}");
    let args = [
        "discard",
        &id,
        "--reason",
        "fixed by hand",
        "--actor",
        "bob",
    ];
    let out = stdout(&dlq(config.path(), &args).await);
    assert!(out.contains(&id), "stdout: {out}");
    let shown = detail(&app, third.id).await;
    assert_eq!(shown["status"], "discarded");
    assert_eq!(last_action(&shown)["actor"], "bob");
    assert_eq!(last_action(&shown)["reason"], "fixed by hand");
    let twice = stderr(&dlq(config.path(), &args).await);
    assert!(twice.contains("discarded"), "stderr: {twice}");

    let fourth = dead_letter(&app, "hris", Reason::AttemptsExhausted).await;
    let id = fourth.id.to_string();
    let args = ["discard", &id, "--reason", "obsolete"];
    stdout(&dlq_as(config.path(), Some("carol"), &args).await);
    assert_eq!(
        last_action(&detail(&app, fourth.id).await)["actor"],
        "carol"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_queue_message_postgresql_cannot_store_is_dead_lettered_once_not_looped() {
    let app = spawn_app(Role::All).await;
    // Published straight to the broker (not by a receiver): an event id with a NUL, which
    // no text column can hold.
    let employee = unique("nul");
    let message = provisiond::domain::message::QueueMessage {
        source: "hris".into(),
        source_kind: provisiond::domain::SourceKind::StandardWebhooks,
        event_id: "evil\u{0}id".into(),
        received_at: chrono::Utc::now(),
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: provisiond::domain::Trigger::Webhook,
        body: hris_body("created", &employee, "2026-03-02T09:00:00Z").into(),
    };
    let publisher = TestPublisher::start(&app).await;
    publisher.publisher.publish(&message).await.unwrap();
    publisher.stop().await;
    let letter = wait_for("the dead letter", || async {
        let list: Value = app
            .admin_get("/admin/dead-letters")
            .await
            .json()
            .await
            .ok()?;
        list.as_array()?.first().cloned()
    })
    .await;
    let event_id = letter["event_id"].as_str().unwrap();
    assert!(event_id.starts_with("id-sha256:"), "{letter}");
    wait_for("the queue to be empty", || async {
        (app.queued_messages().await == 0).then_some(())
    })
    .await;
    let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(letters, 1);
    app.cleanup().await;
}
