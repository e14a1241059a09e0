//! The background job a bulk replay runs as: its progress and its cancellation.

use super::*;

/// A running replay job of two items, as the admin API creates it.
async fn replay_job_row(app: &TestApp, actor: &Actor) -> i64 {
    provisiond::store::jobs::create(&app.pool, "dead_letter_replay", actor, &json!({}), 2)
        .await
        .unwrap()
}

/// Run replay job `job` over the dead ones of `ids` by hand, noting each progress count.
async fn run_job(
    app: &TestApp,
    publisher: &TestPublisher,
    job: i64,
    ids: &[i64],
    actor: &Actor,
    seen: &mut Vec<usize>,
) {
    let mut counted = |done| seen.push(done);
    provisiond::services::dead_letters::run_replay_job(
        &app.pool,
        &publisher.publisher,
        job,
        ids,
        true,
        actor,
        &mut counted,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_bulk_replay_job_reports_progress_and_stops_when_cancelled() {
    let app = spawn_app(Role::Receiver).await;
    let letters = [
        dead_letter(&app, "hris", Reason::PermanentError).await,
        dead_letter(&app, "hris", Reason::PermanentError).await,
    ];
    let ids: Vec<i64> = letters.iter().map(|l| l.id).collect();
    let actor = Actor::named("tester");
    let publisher = TestPublisher::start(&app).await;

    // A running job that an operator cancels before its first item replays nothing.
    let job = replay_job_row(&app, &actor).await;
    let path = format!("/admin/jobs/{job}/cancel");
    let cancelled = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 200).await;
    assert_eq!(cancelled["cancel_requested"], true);
    let mut seen = Vec::new();
    run_job(&app, &publisher, job, &ids, &actor, &mut seen).await;
    let shown = app.job_end(job).await;
    assert_eq!(shown["status"], "cancelled", "{shown}");
    assert_eq!(
        (shown["done"].as_i64(), shown["replayed"].clone()),
        (Some(0), json!([]))
    );
    assert!(seen.is_empty());
    for letter in &letters {
        assert_eq!(status_of(&app, letter.id).await, ("dead".to_owned(), 0));
    }
    // An ended job cannot be cancelled; an unknown one is 404.
    let again = json_of(app.admin_send(ADMIN_TOKEN, &path, None, None).await, 409).await;
    assert_eq!(again["error"], "conflict");
    let missing = app
        .admin_send(ADMIN_TOKEN, "/admin/jobs/999999/cancel", None, None)
        .await;
    assert_eq!(json_of(missing, 404).await["error"], "unknown_job");

    // Run to the end, each item is counted as it goes.
    let job = replay_job_row(&app, &actor).await;
    run_job(&app, &publisher, job, &ids, &actor, &mut seen).await;
    assert_eq!(seen, [1, 2]);
    let shown = json_of(app.admin_get(&format!("/admin/jobs/{job}")).await, 200).await;
    assert_eq!(shown["status"], "succeeded");
    assert_eq!(shown["replayed"], json!(ids));
    assert!(shown["finished_at"].is_string());
    publisher.stop().await;
    app.cleanup().await;
}
