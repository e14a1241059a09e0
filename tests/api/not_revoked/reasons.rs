//! One fixture timeline per reason a termination was not revoked.

use super::*;

/// A time a day ago, in whole seconds: inside the default window, every fixture exact.
fn base() -> DateTime<Utc> {
    let day_ago = Utc::now() - chrono::Duration::days(1);
    DateTime::from_timestamp(day_ago.timestamp(), 0).unwrap()
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// An `events` row processed a second after receipt.
struct Event<'a> {
    employee: &'a str,
    event_id: &'a str,
    kind: &'a str,
    outcome: &'a str,
    reason: Option<&'a str>,
    received: DateTime<Utc>,
}

impl Event<'_> {
    async fn insert(&self, pool: &PgPool, source: &str) {
        sqlx::query(
            "INSERT INTO events (source, event_id, employee_id, kind, outcome, reason, \
             occurred_at, received_at, published_at, processed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $7 + interval '1 second')",
        )
        .bind(source)
        .bind(self.event_id)
        .bind(self.employee)
        .bind(self.kind)
        .bind(self.outcome)
        .bind(self.reason)
        .bind(self.received)
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn event(pool: &PgPool, e: Event<'_>) {
    e.insert(pool, "hris").await;
}

async fn deactivation(pool: &PgPool, event_id: &str, employee: &str, status: &str, error: &str) {
    sqlx::query(
        "INSERT INTO provisioning_actions (source, event_id, employee_id, target, action, \
         status, attempts, error, finished_at) \
         VALUES ('hris', $1, $2, 'product', 'deactivate', $3, 1, $4, now())",
    )
    .bind(event_id)
    .bind(employee)
    .bind(status)
    .bind(error)
    .execute(pool)
    .await
    .unwrap();
}

async fn dead_letter(
    pool: &PgPool,
    event_id: &str,
    employee: &str,
    status: &str,
    received: DateTime<Utc>,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO dead_letters (source, source_kind, event_id, employee_id, kind, reason, \
         status, body, last_error, attempts, first_received_at) \
         VALUES ('hris', 'standard-webhooks', $1, $2, 'terminated', 'permanent_error', $3, \
         '\\x7b7d', 'http 400', 1, $4) RETURNING id",
    )
    .bind(event_id)
    .bind(employee)
    .bind(status)
    .bind(received)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_kind_of_unrevoked_termination_has_its_reason_and_rehires_name_the_termination() {
    // Receiver only: no worker or scheduler acts on the fixture rows.
    let app = spawn_app(Role::Receiver).await;
    let pool = &app.pool;
    let t0 = base();
    let at = |n: i64| t0 + minutes(n);
    let terminated = |employee, event_id, outcome, reason, received| Event {
        employee,
        event_id,
        kind: "terminated",
        outcome,
        reason,
        received,
    };
    let why = "older than the employee's re-activation";
    event(
        pool,
        terminated("e_done", "ev_done", "applied", None, at(0)),
    )
    .await;
    event(
        pool,
        terminated("e_stale", "ev_stale", "stale", Some(why), at(1)),
    )
    .await;
    event(
        pool,
        terminated("e_ign", "ev_ign", "ignored", Some("not an employee"), at(2)),
    )
    .await;
    event(pool, terminated("e_sup", "ev_sup", "applied", None, at(3))).await;
    deactivation(
        pool,
        "ev_sup",
        "e_sup",
        "superseded",
        "rehired since: not sent",
    )
    .await;
    // An applied termination whose failed target's dead letter was discarded.
    event(
        pool,
        terminated("e_disc", "ev_disc", "applied", None, at(4)),
    )
    .await;
    deactivation(pool, "ev_disc", "e_disc", "failed", "http 400").await;
    let discarded = dead_letter(pool, "ev_disc", "e_disc", "discarded", at(4)).await;
    // Dead-lettered before it was applied: discarded (still access), replayed (pending).
    let never = dead_letter(pool, "ev_never", "e_never", "discarded", at(5)).await;
    dead_letter(pool, "ev_replay", "e_replay", "replayed", at(6)).await;
    // A duplicate delivery of the stale one is not another termination.
    event(
        pool,
        terminated("e_stale", "ev_stale", "duplicate", None, at(7)),
    )
    .await;

    // Rehires: one after e_sup's termination, one of an employee never terminated, one
    // of another source (filtered out), one long ago (outside the window).
    let rehire = |employee, event_id, received| Event {
        employee,
        event_id,
        kind: "created",
        outcome: "applied",
        reason: Some("rehire"),
        received,
    };
    event(pool, rehire("e_sup", "ev_back", at(8))).await;
    event(pool, rehire("e_new", "ev_new", at(9))).await;
    rehire("e_sup", "ev_merge", at(10))
        .insert(pool, "merge")
        .await;
    let long_ago = t0 - chrono::Duration::days(60);
    event(pool, rehire("e_sup", "ev_old", long_ago)).await;

    let r = app.deprovision_report("source=hris&sla=15m").await;
    let c = &r["counts"];
    assert_eq!(c["terminations"], 7, "{r}");
    let by_status: Vec<u64> = [
        "completed",
        "pending",
        "failed",
        "stale",
        "ignored",
        "superseded",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap())
    .collect();
    assert_eq!(by_status, [1, 1, 2, 1, 1, 1], "{c}");
    assert_eq!(c["not_revoked"], 6);
    assert_eq!(c["reactivations"], 2);
    let reasons: Vec<(&str, &str, &str)> = r["not_revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let field = |k: &str| n[k].as_str().unwrap();
            (field("event_id"), field("reason"), field("status"))
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("ev_stale", "stale", "stale"),
            ("ev_ign", "ignored", "ignored"),
            ("ev_sup", "superseded", "superseded"),
            ("ev_disc", "dead_lettered", "failed"),
            ("ev_never", "dead_lettered", "failed"),
            ("ev_replay", "pending", "pending"),
        ]
    );
    let items = not_revoked(&r);
    let detail = |id: &str| items[id]["detail"].as_str().unwrap().to_owned();
    assert!(detail("ev_stale").contains(why));
    assert!(detail("ev_ign").contains("not an employee"));
    assert!(detail("ev_sup").contains("rehired since: not sent"));
    assert!(detail("ev_disc").contains(&format!("Dead letter {discarded}, discarded")));
    assert!(detail("ev_never").contains(&format!("Dead letter {never}, discarded")));
    assert!(
        detail("ev_replay").contains("replayed"),
        "{}",
        detail("ev_replay")
    );
    // Compatibility: `incomplete` is still pending + failed.
    let incomplete: Vec<&str> = r["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(incomplete, ["ev_disc", "ev_never", "ev_replay"]);

    let rehires = r["reactivations"].as_array().unwrap();
    assert_eq!(rehires.len(), 2);
    assert_eq!(rehires[0]["event_id"], "ev_back");
    assert_eq!(rehires[0]["previous_termination_event_id"], "ev_sup");
    assert_eq!(rehires[0]["reason"], "rehire");
    assert_eq!(rehires[0]["kind"], "created");
    assert_eq!(rehires[0]["received_at"], json!(at(8)));
    assert_eq!(
        rehires[0]["processed_at"],
        json!(at(8) + chrono::Duration::seconds(1))
    );
    assert_eq!(rehires[1]["event_id"], "ev_new");
    assert_eq!(rehires[1]["previous_termination_event_id"], Value::Null);

    // The CSV: a row per termination, then the reactivations.
    let text = rendering(&app, "csv", "source=hris&sla=15m").await;
    let records: Vec<String> = parse_csv(&text)
        .into_iter()
        .skip(1)
        .map(|row| row.last().unwrap().clone())
        .collect();
    assert_eq!(records.iter().filter(|r| *r == "termination").count(), 7);
    assert_eq!(records[7..], ["reactivation", "reactivation"]);
    let rows = csv_rows(&text);
    assert_eq!(rows["ev_back"]["status"], "reactivated");
    assert_eq!(rows["ev_done"]["not_revoked_reason"], "");
    assert_eq!(rows["ev_ign"]["not_revoked_reason"], "ignored");

    // A day later, past the SLA: the gauge counts all six, every source, any age.
    let later = Utc::now() + chrono::Duration::days(1);
    let sla = Duration::from_secs(900);
    assert_eq!(pending_past_sla(pool, sla, later).await.unwrap(), 6);
    app.cleanup().await;
}
