//! The hash chain of the audit log: what verification catches, and how it grows.

use std::time::Duration;

use provisiond::Role;
use serde_json::json;

use crate::target_server::TargetServer;

use super::*;

#[tokio::test]
async fn audit_verify_names_the_row_whose_content_was_changed() {
    let target = TargetServer::start(&[200], 400).await;
    let app = spawn_with_target(&target).await;
    let pool = &app.pool;
    // A hire (product answers 200), a leaver and another hire that fail (400) and are
    // dead-lettered; the second one is discarded, the leaver replayed once fixed.
    let kept = unique("kept");
    app.send_event("created", &kept).await;
    app.wait_target(&kept, "product", "active").await;
    let leaver = unique("leaver");
    let leaving = app.send_event("terminated", &leaver).await;
    let leaving_letter = dead_letter_id(&app, &leaving).await;
    let other = unique("other");
    let other_event = app.send_event("created", &other).await;
    let other_letter = dead_letter_id(&app, &other_event).await;
    let discarded = app
        .admin_post(
            &format!("/admin/dead-letters/{other_letter}/discard"),
            json!({"reason": "test account"}),
            None,
        )
        .await;
    assert_eq!(discarded.status(), 200);
    target.set_otherwise(200);
    app.replay(leaving_letter).await;
    wait_for("the replayed termination to reach the product", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE event_id = $1 AND target = 'product' \
             AND outcome = 'succeeded'",
        )
        .bind(&leaving)
        .fetch_one(pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await;
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT category || '/' || action FROM audit_log ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "dead_letter/dead_lettered",
            "dead_letter/discarded",
            "dead_letter/replayed",
            "provisioning/activate",
            "provisioning/deactivate"
        ]
    );
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .unwrap();

    // Untouched: verify seals what is pending and finds the chain intact.
    let out = cli(&app, &["audit", "verify"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("audit log intact: {total} row(s) verified")),
        "{stdout}"
    );
    let unsealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(unsealed, 0);

    // The application role may neither change nor delete a row…
    let victim: i64 = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY seq OFFSET 3 LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let update = format!("UPDATE audit_log SET actor = 'mallory' WHERE id = {victim}");
    let delete = format!("DELETE FROM audit_log WHERE id = {victim}");
    for sql in [&update, &delete, &"TRUNCATE audit_log".to_owned()] {
        let error = sqlx::query(sql).execute(pool).await.unwrap_err();
        assert!(
            error.to_string().contains("permission denied"),
            "{sql}: {error}"
        );
    }
    // …and when it grants itself the privileges back (it owns the table here), the
    // triggers still refuse.
    sqlx::query("GRANT UPDATE, DELETE ON audit_log TO CURRENT_USER")
        .execute(pool)
        .await
        .unwrap();
    let error = sqlx::query(&update).execute(pool).await.unwrap_err();
    assert!(error.to_string().contains("is sealed"), "{error}");
    let error = sqlx::query(&delete).execute(pool).await.unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    // A superuser (or the owner) can still disable the trigger and change a row; the
    // chain shows it.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(&update).execute(&mut *conn).await.unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let out = cli(&app, &["audit", "verify"]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("audit log row {victim} does not match its hash")),
        "{stderr}"
    );
    assert!(stderr.contains("(3 row(s) before it verified)"), "{stderr}");
    app.cleanup().await;
}

/// `provisiond audit verify --format json` against `app`'s database: the JSON, and the
/// error line when it failed.
async fn verify_json(app: &TestApp) -> (Value, Option<String>) {
    let out = cli(app, &["audit", "verify", "--format", "json"]).await;
    let json = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    let error = (!out.status.success()).then(|| text(&out.stderr));
    (json, error)
}

#[tokio::test]
async fn audit_verify_names_an_applied_termination_the_chain_does_not_cover() {
    let app = spawn_app(Role::All).await;
    let leaver = unique("covered");
    let event_id = app.send_event("terminated", &leaver).await;
    app.employee_after("hris", &leaver, 1).await;
    let (json, error) = verify_json(&app).await;
    assert_eq!(error, None, "{json}");
    assert_eq!(json["intact"], true);
    assert_eq!(
        json["coverage"],
        json!({"terminations": 1, "covered": 1, "pending": 0, "uncovered_total": 0,
               "uncovered": []})
    );
    assert_eq!(json["chain"]["rows"], 1);
    assert_eq!(json["chain"]["broken"], Value::Null);
    assert_eq!(json["chain"]["head"]["seq"], 1);

    // The owner writes a termination into events by hand: the report would count it as
    // revoked, but no deactivation was ever recorded in the chain.
    let at = base();
    let forged = termination(&app.pool, "hris", &unique("forged"), at, 1.0).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM events WHERE event_id = $1")
        .bind(&forged)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (json, error) = verify_json(&app).await;
    let error = error.expect("verify fails");
    assert!(
        error.contains(&format!(
            "1 applied termination(s) in events are not covered by the audit log \
             (no directory deactivation recorded): events row {id} (hris/{forged})"
        )),
        "{error}"
    );
    assert_eq!(json["intact"], false);
    assert_eq!(
        json["chain"]["broken"],
        Value::Null,
        "the chain itself is intact"
    );
    assert_eq!(json["coverage"]["terminations"], 2);
    assert_eq!(json["coverage"]["uncovered_total"], 1);
    let uncovered = &json["coverage"]["uncovered"][0];
    assert_eq!(uncovered["id"], id);
    assert_eq!(uncovered["event_id"], forged.as_str());
    assert_ne!(forged, event_id);
    app.cleanup().await;
}

#[tokio::test]
async fn audit_new_rows_after_verification_extend_the_chain() {
    let app = spawn_app(Role::All).await;
    let first = unique("a");
    app.send_event("terminated", &first).await;
    app.employee_after("hris", &first, 1).await;
    assert_eq!(
        provisiond::store::audit_log::seal_pending(&app.pool)
            .await
            .unwrap(),
        1
    );
    let second = unique("b");
    app.send_event("created", &second).await;
    app.employee_after("hris", &second, 1).await;
    // The sealer loop chains it.
    let stop = tokio_util::sync::CancellationToken::new();
    let sealer = tokio::spawn(provisiond::services::audit::sealer::run(
        app.pool.clone(),
        Duration::from_millis(20),
        stop.clone(),
    ));
    wait_for("the sealer", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (n == 0).then_some(())
    })
    .await;
    stop.cancel();
    sealer.await.unwrap();
    let result = provisiond::store::audit_log::verify(&app.pool)
        .await
        .unwrap();
    assert!(result.broken.is_none(), "{:?}", result.broken);
    assert_eq!(result.rows, 2);
    assert_eq!(result.head.unwrap().1, 2);
    // Deleting a row (trigger disabled) breaks the link at the next one.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    for sql in [
        "GRANT DELETE ON audit_log TO CURRENT_USER".to_owned(),
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only".to_owned(),
        format!("DELETE FROM audit_log WHERE id = {}", ids[0]),
        "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only".to_owned(),
    ] {
        sqlx::query(&sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let result = provisiond::store::audit_log::verify(&app.pool)
        .await
        .unwrap();
    let broken = result.broken.unwrap();
    assert_eq!(broken.id, ids[1]);
    assert!(
        broken.message.contains("where 1 was expected"),
        "{}",
        broken.message
    );
    app.cleanup().await;
}
