//! Batch processing: several deliveries recorded in one transaction end exactly as if the
//! same messages had been processed one by one, in their order.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use provisiond::domain::message::QueueMessage;
use provisiond::domain::SourceKind;
use provisiond::worker::handler::ProcessingHook;
use provisiond::worker::process::{Prepared, KEPT_TERMINATED};
use provisiond::worker::{Outcome, Processor};
use provisiond::Role;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const DIRECTORY: &str = "directory";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid RFC 3339")
        .with_timezone(&Utc)
}

/// A delivery as the worker rebuilds it from the queue (`QueueMessage::from_delivery`).
fn message(event_id: &str, body: Vec<u8>) -> QueueMessage {
    QueueMessage {
        source: "hris".into(),
        source_kind: SourceKind::StandardWebhooks,
        event_id: event_id.into(),
        received_at: at("2026-03-20T12:00:00.123456Z"),
        published_at: Some(at("2026-03-20T12:00:00.234567Z")),
        attempt: 0,
        first_failed_at: None,
        trigger: provisiond::domain::Trigger::Webhook,
        body: body.into(),
    }
}

/// An employee event in the canonical envelope (`hris` source).
fn employee_event(event_id: &str, kind: &str, employee: &str, day: &str) -> QueueMessage {
    let body = hris_body(kind, employee, &format!("2026-03-{day}T09:00:00Z"));
    message(event_id, body)
}

/// An update whose status says active: an explicit signal (it rehires a leaver and
/// rescinds a waiting termination).
fn active_update(event_id: &str, employee: &str, day: &str) -> QueueMessage {
    let body = hris_body("updated", employee, &format!("2026-03-{day}T09:00:00Z"));
    let mut body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    body["data"]["status"] = json!("active");
    message(event_id, body.to_string().into_bytes())
}

/// A termination dated far in the future: recorded as `scheduled`.
fn future_termination(event_id: &str, employee: &str, day: &str) -> QueueMessage {
    let body = json!({
        "type": "employee.terminated",
        "timestamp": format!("2026-03-{day}T09:00:00Z"),
        "data": {"id": employee, "termination_date": "2099-12-31"}
    });
    message(event_id, body.to_string().into_bytes())
}

/// Not about an employee: recorded as `ignored`.
fn non_employee_event(event_id: &str) -> QueueMessage {
    let body = json!({"type": "organization.updated", "timestamp": "2026-03-01T09:00:00Z",
                      "data": {"id": "org_1"}});
    message(event_id, body.to_string().into_bytes())
}

/// A hire whose given name holds a NUL character: valid JSON that PostgreSQL refuses to
/// store (jsonb and text cannot hold `\u0000`), so the transaction that writes the
/// account fails, every time. The employee id itself is clean.
/// An employee id PostgreSQL cannot index (20 000 random hex digits: no btree entry can
/// hold it, compressed or not), so the event fails in the database, not before.
fn poison_employee() -> String {
    let tail: String = (0..625)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    format!("{}_{tail}", unique("poison"))
}

/// A hire that normalizes but that the database refuses (SQLSTATE 54000).
fn poison_hire_body(employee: &str) -> Vec<u8> {
    json!({
        "type": "employee.created",
        "timestamp": "2026-03-01T09:00:00Z",
        "data": {"id": employee, "email": "poison@example.com",
                 "given_name": "Ada", "family_name": "Lovelace"}
    })
    .to_string()
    .into_bytes()
}

/// A database of its own (migrated), dropped at the end of the test.
struct Db {
    pool: PgPool,
    name: String,
}

impl Db {
    async fn new() -> Db {
        let iso = Isolation::new();
        let config = test_config(&iso, &amqp_url());
        let pool = provisiond::store::connect(&config.database)
            .await
            .expect("test database created");
        provisiond::store::migrate(&pool)
            .await
            .expect("migrations apply");
        let (_, name) = iso.database_url.rsplit_once('/').expect("url has a path");
        Db {
            pool,
            name: name.to_owned(),
        }
    }

    fn processor(&self) -> Processor {
        Processor::new(self.pool.clone(), DIRECTORY.into())
    }

    async fn remove(self) {
        self.pool.close().await;
        let admin = PgPool::connect(&admin_database_url()).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::query(&sql).execute(&admin).await.unwrap();
        admin.close().await;
    }
}

/// What the worker does with one batch (`handler::run_batch`): normalize, record all in
/// one transaction, then finish each message.
async fn record_as_batch(processor: &Processor, batch: &[QueueMessage]) -> Vec<Outcome> {
    let items: Vec<Prepared> = batch
        .iter()
        .map(|m| processor.prepare(m).expect("body normalizes"))
        .collect();
    let recorded = processor
        .record_batch(&items)
        .await
        .expect("batch recorded");
    assert_eq!(recorded.len(), batch.len(), "one outcome per message");
    let mut outcomes = Vec::with_capacity(items.len());
    for (item, outcome) in items.iter().zip(recorded) {
        outcomes.push(processor.finish(item, outcome).await.expect("finished"));
    }
    outcomes
}

async fn process_one_by_one(processor: &Processor, messages: &[QueueMessage]) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(messages.len());
    for m in messages {
        outcomes.push(processor.process(m).await.expect("message processed"));
    }
    outcomes
}

/// Every table processing writes, as JSON, without what depends on the wall clock or on
/// sequence values (times of writes become "is it set").
async fn snapshot(pool: &PgPool) -> Vec<(&'static str, Value)> {
    let tables = [
        (
            "inbox",
            "SELECT jsonb_build_array(source, event_id) AS row, source || event_id AS k \
             FROM inbox",
        ),
        (
            "employees",
            "SELECT (to_jsonb(e) - 'created_at' - 'updated_at' - 'terminated_at') \
                 || jsonb_build_object('terminated', terminated_at IS NOT NULL) AS row, \
                 source || employee_id AS k FROM employees e",
        ),
        (
            "accounts",
            "SELECT (to_jsonb(a) - 'updated_at' - 'activated_at' - 'deactivated_at') \
                 || jsonb_build_object('activated', activated_at IS NOT NULL, \
                                       'deactivated', deactivated_at IS NOT NULL) AS row, \
                 target || source || employee_id AS k FROM accounts a",
        ),
        (
            "events",
            "SELECT to_jsonb(e) - 'id' - 'processed_at' AS row, lpad(id::text, 20, '0') AS k \
             FROM events e",
        ),
        (
            "audit_log",
            "SELECT to_jsonb(a) - 'id' - 'recorded_at' AS row, lpad(id::text, 20, '0') AS k \
             FROM audit_log a",
        ),
        (
            "scheduled_terminations",
            // Keyed by event: rounds may insert two employees' rows in another order.
            "SELECT to_jsonb(s) - 'id' - 'created_at' - 'updated_at' AS row, \
                 source || event_id AS k FROM scheduled_terminations s",
        ),
        (
            "provisioning_actions",
            "SELECT to_jsonb(p) - 'id' - 'created_at' AS row, lpad(id::text, 20, '0') AS k \
             FROM provisioning_actions p",
        ),
        (
            "dead_letters",
            "SELECT to_jsonb(d) AS row, d.id::text AS k FROM dead_letters d",
        ),
    ];
    let mut out = Vec::new();
    for (table, select) in tables {
        let sql = format!(
            "SELECT COALESCE(jsonb_agg(row ORDER BY k COLLATE \"C\"), '[]') FROM ({select}) t"
        );
        let rows: Value = sqlx::query_scalar(&sql)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("snapshot of {table}: {e}"));
        out.push((table, rows));
    }
    out
}

fn assert_same_rows(batched: &[(&str, Value)], alone: &[(&str, Value)]) {
    for ((table, b), (_, a)) in batched.iter().zip(alone) {
        assert_eq!(
            b, a,
            "table {table}: batched (left) differs from one-by-one (right)"
        );
    }
}

async fn event_rows(pool: &PgPool) -> Vec<(String, Option<String>, String, Option<String>)> {
    sqlx::query_as("SELECT event_id, employee_id, outcome, reason FROM events ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn employee_status(pool: &PgPool, employee: &str) -> (String, String, bool) {
    sqlx::query_as(
        "SELECT e.status, a.status, a.deactivated_at IS NOT NULL FROM employees e \
         JOIN accounts a USING (source, employee_id) \
         WHERE e.source = 'hris' AND e.employee_id = $1",
    )
    .bind(employee)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("employee {employee}: {e}"))
}

#[tokio::test]
async fn one_batch_with_rounds_stale_duplicate_and_ignored_events_matches_one_by_one() {
    let (a, b, c, d) = (unique("a"), unique("b"), unique("c"), unique("d"));
    let (e, f, g) = (unique("e"), unique("f"), unique("g"));
    let id = |name: &str| format!("{name}_{}", &a[2..]);
    // Already processed before the batch: the batch must see it in the inbox and as F's
    // state.
    let prelude = [employee_event(&id("f1"), "created", &f, "05")];
    let batch = vec![
        employee_event(&id("a1"), "created", &a, "01"),
        employee_event(&id("b1"), "updated", &b, "05"),
        employee_event(&id("a2"), "updated", &a, "02"),
        employee_event(&id("b2"), "created", &b, "01"),
        employee_event(&id("c1"), "created", &c, "01"),
        employee_event(&id("c1"), "created", &c, "01"),
        non_employee_event(&id("i1")),
        employee_event(&id("a3"), "terminated", &a, "10"),
        employee_event(&id("d1"), "terminated", &d, "03"),
        employee_event(&id("d2"), "created", &d, "03"),
        employee_event(&id("e1"), "created", &e, "01"),
        employee_event(&id("f2"), "updated", &f, "04"),
        employee_event(&id("f1"), "created", &f, "05"),
        employee_event(&id("e2"), "terminated", &e, "02"),
        employee_event(&id("g1"), "created", &g, "01"),
        future_termination(&id("g2"), &g, "02"),
        employee_event(&id("e3"), "created", &e, "09"),
        active_update(&id("g3"), &g, "03"),
        employee_event(&id("a4"), "updated", &a, "10"),
    ];
    use Outcome::*;
    let expected = [
        (Applied, None),
        (Applied, None),
        (Applied, None), // A's 2nd event: round 2
        (Stale, Some("older than the last applied event")),
        (Applied, None),
        (Duplicate, None), // the same event id again in the batch
        (Ignored, Some("not an employee event")),
        (Applied, None),                                 // A's 3rd event: round 3
        (Applied, None),                                 // a leaver never seen hired
        (Stale, Some("not newer than the termination")), // a termination wins a tie
        (Applied, None),
        (Stale, Some("older than the last applied event")), // older than the prelude
        (Duplicate, None),                                  // claimed by the prelude
        (Applied, None),
        (Applied, None),
        (
            Scheduled,
            Some("termination scheduled for its effective date"),
        ),
        (Applied, Some("rehire")),
        (Applied, None),                  // cancels G's scheduled termination
        (Applied, Some(KEPT_TERMINATED)), // A's 4th event, round 4: attributes only
    ];

    let batched = Db::new().await;
    let processor = batched.processor();
    process_one_by_one(&processor, &prelude).await;
    let outcomes = record_as_batch(&processor, &batch).await;

    let alone = Db::new().await;
    let alone_processor = alone.processor();
    process_one_by_one(&alone_processor, &prelude).await;
    let alone_outcomes = process_one_by_one(&alone_processor, &batch).await;

    let want: Vec<Outcome> = expected.iter().map(|(o, _)| *o).collect();
    assert_eq!(outcomes, want, "outcomes of the batch");
    assert_eq!(alone_outcomes, want, "outcomes one by one");

    // The event log holds the prelude, then the batch in delivery order.
    let rows = event_rows(&batched.pool).await;
    assert_eq!(rows.len(), 1 + batch.len());
    assert_eq!(rows[0].0, id("f1"));
    for ((row, msg), (outcome, reason)) in rows[1..].iter().zip(&batch).zip(&expected) {
        assert_eq!(row.0, msg.event_id);
        assert_eq!(row.2, outcome.as_str(), "outcome of {}", msg.event_id);
        assert_eq!(row.3.as_deref(), *reason, "reason of {}", msg.event_id);
    }

    // Final states.
    let pool = &batched.pool;
    let terminated = ("terminated".to_owned(), "deactivated".to_owned(), true);
    let active = ("active".to_owned(), "active".to_owned(), false);
    assert_eq!(
        employee_status(pool, &a).await,
        terminated,
        "A: hired, updated, terminated"
    );
    assert_eq!(employee_status(pool, &b).await, active);
    assert_eq!(employee_status(pool, &c).await, active);
    assert_eq!(
        employee_status(pool, &d).await,
        terminated,
        "D: the termination won the tie"
    );
    assert_eq!(employee_status(pool, &e).await, active, "E: rehired");
    assert_eq!(employee_status(pool, &f).await, active);
    assert_eq!(employee_status(pool, &g).await, active);
    let scheduled: (String, Option<String>, bool) = sqlx::query_as(
        "SELECT s.status, s.reason, e.termination_scheduled FROM scheduled_terminations s \
         JOIN employees e USING (source, employee_id) WHERE s.event_id = $1",
    )
    .bind(id("g2"))
    .fetch_one(&batched.pool)
    .await
    .unwrap();
    assert_eq!(
        scheduled,
        (
            "cancelled".to_owned(),
            Some("superseded by a newer event".to_owned()),
            false
        )
    );

    // One directory audit entry per applied event, in order.
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, action FROM audit_log ORDER BY id")
            .fetch_all(&batched.pool)
            .await
            .unwrap();
    let mut want_audit = vec![(id("f1"), "activate".to_owned())];
    for (msg, (outcome, reason)) in batch.iter().zip(&expected) {
        if *outcome == Applied {
            let kind = batched.processor().prepare(msg).unwrap();
            let action = match (&kind.normalized, reason) {
                (_, Some(KEPT_TERMINATED)) => "update",
                (_, Some("rehire")) => "reactivate",
                (provisiond::domain::event::Normalized::Employee(event), _)
                    if event.kind == provisiond::domain::event::EventKind::Terminated =>
                {
                    "deactivate"
                }
                _ => "activate",
            };
            want_audit.push((msg.event_id.clone(), action.to_owned()));
        }
    }
    assert_eq!(audit, want_audit);

    // And every row equals what one-by-one processing wrote.
    assert_same_rows(&snapshot(&batched.pool).await, &snapshot(&alone.pool).await);
    batched.remove().await;
    alone.remove().await;
}

/// xorshift64: reproducible pseudo-random choices without a dependency.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A stream of hires, updates and terminations for a few employees, out of order, with
/// ties, sender retries (the same event id and body again), future-dated terminations and
/// non-employee events.
fn random_stream(seed: u64, len: usize) -> Vec<QueueMessage> {
    let mut rng = Rng(seed);
    let employees: Vec<String> = (0..4).map(|i| unique(&format!("r{seed}_{i}"))).collect();
    let mut messages: Vec<QueueMessage> = Vec::with_capacity(len);
    while messages.len() < len {
        let roll = rng.below(100);
        let message = if roll < 12 && !messages.is_empty() {
            let earlier = rng.below(messages.len() as u64) as usize;
            messages[earlier].clone()
        } else if roll < 16 {
            non_employee_event(&unique("rnd"))
        } else {
            let employee = &employees[rng.below(4) as usize];
            let day = format!("{:02}", 1 + rng.below(6));
            match rng.below(7) {
                0 => future_termination(&unique("rnd"), employee, &day),
                1 | 2 => employee_event(&unique("rnd"), "terminated", employee, &day),
                3 | 4 => employee_event(&unique("rnd"), "created", employee, &day),
                _ => employee_event(&unique("rnd"), "updated", employee, &day),
            }
        };
        messages.push(message);
    }
    messages
}

#[tokio::test]
async fn random_interleavings_cut_into_batches_of_any_size_match_one_by_one() {
    let batched = Db::new().await;
    let alone = Db::new().await;
    let (bp, ap) = (batched.processor(), alone.processor());
    let sizes = [7, 1, 3, 12, 2, 32, 5, 4];
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 42, 7_777_777] {
        let stream = random_stream(seed, 90);
        let mut batch_outcomes = Vec::new();
        let mut rest = stream.as_slice();
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at((*size).min(rest.len()));
            batch_outcomes.extend(record_as_batch(&bp, batch).await);
            rest = tail;
        }
        let alone_outcomes = process_one_by_one(&ap, &stream).await;
        for (i, (b, a)) in batch_outcomes.iter().zip(&alone_outcomes).enumerate() {
            assert_eq!(
                b, a,
                "seed {seed}, message {i} ({}): batched vs one by one",
                stream[i].event_id
            );
        }
        assert_eq!(batch_outcomes.len(), stream.len());
        for outcome in batch_outcomes {
            *seen.entry(outcome.as_str()).or_default() += 1;
        }
    }
    // The streams exercise every outcome (otherwise the comparison proves little).
    for outcome in ["applied", "stale", "duplicate", "ignored", "scheduled"] {
        assert!(
            seen.get(outcome).is_some_and(|n| *n > 0),
            "no {outcome} event in the streams: {seen:?}"
        );
    }
    assert_same_rows(&snapshot(&batched.pool).await, &snapshot(&alone.pool).await);
    batched.remove().await;
    alone.remove().await;
}

#[tokio::test]
async fn a_batch_that_fails_in_the_database_records_nothing_and_its_messages_apply_alone() {
    let (a, b, c) = (unique("a"), poison_employee(), unique("c"));
    let batch = vec![
        employee_event(&unique("m"), "created", &a, "01"),
        message(&unique("m"), poison_hire_body(&b)),
        employee_event(&unique("m"), "created", &c, "01"),
        employee_event(&unique("m"), "updated", &a, "02"),
    ];
    let db = Db::new().await;
    let processor = db.processor();
    let items: Vec<Prepared> = batch
        .iter()
        .map(|m| processor.prepare(m).unwrap())
        .collect();
    let error = processor
        .record_batch(&items)
        .await
        .expect_err("the poison message fails the batch transaction");
    assert!(
        !error.is_transient(),
        "a value PostgreSQL cannot store is not worth retrying: {error}"
    );
    for (table, rows) in snapshot(&db.pool).await {
        assert_eq!(rows, json!([]), "{table} after the failed batch");
    }

    // Alone, the poison message still fails and the others are applied.
    let mut results = Vec::new();
    for m in &batch {
        results.push(processor.process(m).await);
    }
    assert!(results[1].is_err(), "the poison message fails alone too");
    for i in [0, 2, 3] {
        assert_eq!(
            results[i].as_ref().unwrap(),
            &Outcome::Applied,
            "message {i}"
        );
    }

    // Exactly as if the poison message had never been sent.
    let reference = Db::new().await;
    let good = [batch[0].clone(), batch[2].clone(), batch[3].clone()];
    process_one_by_one(&reference.processor(), &good).await;
    assert_same_rows(&snapshot(&db.pool).await, &snapshot(&reference.pool).await);
    db.remove().await;
    reference.remove().await;
}

/// Holds the worker's first batch (the hook runs inside it) until the test opens it, so
/// that the rest of the backlog is in the worker's hands and is taken as one batch.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    calls: Mutex<HashMap<String, usize>>,
}

impl Gate {
    /// A processing hook that counts calls per event id and blocks on `gate_event`.
    fn hook(self: &Arc<Self>, gate_event: String) -> ProcessingHook {
        let gate = self.clone();
        Arc::new(move |m: &QueueMessage| {
            *gate
                .calls
                .lock()
                .unwrap()
                .entry(m.event_id.clone())
                .or_default() += 1;
            if m.event_id == gate_event {
                let open = gate.open.lock().unwrap();
                // Bounded: a test that fails before opening does not hang the worker.
                let _ = gate
                    .opened
                    .wait_timeout_while(open, Duration::from_secs(30), |open| !*open)
                    .unwrap();
            }
        })
    }

    fn calls(&self, event_id: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(event_id)
            .copied()
            .unwrap_or(0)
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// One webhook of a burst, posted to the receiver.
struct Post {
    event_id: String,
    body: Vec<u8>,
}

impl Post {
    fn new(kind: &str, employee: &str, day: &str, event_id: &str) -> Post {
        let body = hris_body(kind, employee, &format!("2026-03-{day}T09:00:00Z"));
        Post {
            event_id: event_id.to_owned(),
            body,
        }
    }
}

/// Post the burst in order (each confirmed before the next, so the queue keeps the order),
/// with no worker running; then start one worker (one batch at a time) whose first batch
/// waits at the gate until the whole backlog has been delivered to it.
async fn backlog_then_worker(posts: &[Post], gate: &Arc<Gate>) -> (TestApp, TestApp) {
    let receiver = spawn_app(Role::Receiver).await;
    for post in posts {
        let headers = hris_headers(&post.body, &post.event_id);
        let response = receiver.post("hris", &headers, &post.body).await;
        assert_eq!(response.status(), 202, "{} accepted", post.event_id);
    }
    assert_eq!(receiver.queued_messages().await as usize, posts.len());

    let mut config = test_config(&receiver.iso, &amqp_url());
    // One batch in flight: deliveries are recorded in queue order, so every outcome is
    // determined. The whole backlog fits in the prefetch window.
    config.worker.concurrency = 1;
    config.worker.batch_size = 32;
    assert!(posts.len() <= usize::from(config.rabbitmq.prefetch));
    let hook = gate.hook(posts[0].event_id.clone());
    let clock = provisiond::domain::clock::system();
    let iso = receiver.iso.clone();
    let worker = spawn_custom(config, iso, Role::Worker, clock, Some(hook)).await;
    wait_for("the whole backlog delivered to the worker", || async {
        let held = gate.calls(&posts[0].event_id) > 0;
        (held && worker.queued_messages().await == 0).then_some(())
    })
    .await;
    gate.open();
    (receiver, worker)
}

/// Largest number of `events` rows written by one transaction.
async fn largest_transaction(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM events GROUP BY xmin::text) t",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_consumed_in_batches_ends_as_the_ordering_rules_say() {
    let [gate_emp, p, q, r, s] = ["gate", "p", "q", "r", "s"].map(unique);
    let m = |name: &str| format!("{name}_{}", &p[2..]);
    let mut posts = vec![
        Post::new("created", &gate_emp, "01", &m("gate")),
        Post::new("updated", &p, "05", &m("p1")),
        Post::new("created", &p, "01", &m("p2")),
        Post::new("created", &q, "01", &m("q1")),
        Post::new("updated", &p, "05", &m("p1")),
        Post::new("terminated", &q, "10", &m("q2")),
        Post::new("terminated", &r, "04", &m("r1")),
        Post::new("created", &r, "04", &m("r2")),
        Post::new("updated", &q, "08", &m("q3")),
        Post::new("created", &s, "01", &m("s1")),
        Post::new("terminated", &s, "02", &m("s2")),
        Post::new("created", &s, "09", &m("s3")),
        Post::new("terminated", &q, "10", &m("q2")),
        Post::new("terminated", &p, "05", &m("p3")),
        Post::new("created", &p, "05", &m("p4")),
    ];
    use Outcome::*;
    let mut expected = vec![
        (Applied, None),
        (Applied, None),
        (Stale, Some("older than the last applied event")),
        (Applied, None),
        (Duplicate, None),
        (Applied, None),
        (Applied, None),
        (Stale, Some("not newer than the termination")),
        (Stale, Some("older than the last applied event")),
        (Applied, None),
        (Applied, None),
        (Applied, Some("rehire")),
        (Duplicate, None),
        (Applied, None), // a termination at the same time as the last update wins
        (Stale, Some("not newer than the termination")),
    ];
    // More employees, some of whose updates arrive before their hires.
    let fillers: Vec<String> = (0..6).map(|i| unique(&format!("fill{i}"))).collect();
    for (i, employee) in fillers.iter().enumerate() {
        let hire = Post::new("created", employee, "01", &m(&format!("f{i}c")));
        let update = Post::new("updated", employee, "02", &m(&format!("f{i}u")));
        if i % 2 == 0 {
            posts.extend([hire, update]);
            expected.extend([(Applied, None), (Applied, None)]);
        } else {
            posts.extend([update, hire]);
            expected.extend([
                (Applied, None),
                (Stale, Some("older than the last applied event")),
            ]);
        }
    }

    let gate = Arc::new(Gate::default());
    let (receiver, worker) = backlog_then_worker(&posts, &gate).await;
    let rows = wait_for("every delivery recorded", || async {
        let rows = event_rows(&worker.pool).await;
        (rows.len() >= posts.len()).then_some(rows)
    })
    .await;

    // One worker, one batch at a time: recorded in delivery order, each with the outcome
    // processing them one by one gives.
    assert_eq!(rows.len(), posts.len());
    for ((row, post), (outcome, reason)) in rows.iter().zip(&posts).zip(&expected) {
        assert_eq!(
            row.0, post.event_id,
            "events are recorded in delivery order"
        );
        assert_eq!(row.2, outcome.as_str(), "outcome of {}", post.event_id);
        assert_eq!(row.3.as_deref(), *reason, "reason of {}", post.event_id);
    }
    let terminated = ("terminated".to_owned(), "deactivated".to_owned(), true);
    let active = ("active".to_owned(), "active".to_owned(), false);
    let pool = &worker.pool;
    assert_eq!(
        employee_status(pool, &p).await,
        terminated,
        "P: termination wins the tie"
    );
    assert_eq!(
        employee_status(pool, &q).await,
        terminated,
        "Q: newest event is the termination"
    );
    assert_eq!(
        employee_status(pool, &r).await,
        terminated,
        "R: never seen active"
    );
    assert_eq!(employee_status(pool, &s).await, active, "S: rehired");
    for employee in &fillers {
        assert_eq!(employee_status(pool, employee).await, active);
    }
    let view = worker.employee("hris", &s).await.expect("S is known");
    assert_eq!(view["targets"][0]["status"], "active");
    assert!(view["targets"][0]["deactivated_at"].is_null());

    // The backlog really went through batches: some transaction recorded several events.
    let largest = largest_transaction(&worker.pool).await;
    assert!(
        largest > 1,
        "every event was recorded in a transaction of its own"
    );
    worker.cleanup().await;
    receiver.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_with_a_poison_message_is_redone_one_by_one_and_the_others_are_applied() {
    let employees: Vec<String> = (0..10).map(|i| unique(&format!("ok{i}"))).collect();
    let poison_employee = poison_employee();
    let mut posts: Vec<Post> = employees
        .iter()
        .map(|e| Post::new("created", e, "01", &unique("m")))
        .collect();
    let poison = Post {
        event_id: unique("poison"),
        body: poison_hire_body(&poison_employee),
    };
    posts.insert(6, poison);
    let poison_id = posts[6].event_id.clone();

    let gate = Arc::new(Gate::default());
    let (receiver, worker) = backlog_then_worker(&posts, &gate).await;
    let (reason, last_error): (String, String) =
        wait_for("the poison message dead-lettered", || async {
            sqlx::query_as("SELECT reason, last_error FROM dead_letters WHERE event_id = $1")
                .bind(&poison_id)
                .fetch_optional(&worker.pool)
                .await
                .ok()
                .flatten()
        })
        .await;
    let good: Vec<String> = posts
        .iter()
        .filter(|p| p.event_id != poison_id)
        .map(|p| p.event_id.clone())
        .collect();
    wait_for("every other message recorded", || async {
        (worker.events_for_source("hris").await >= good.len() as i64).then_some(())
    })
    .await;

    // The poison message was tried in a batch (which failed as a whole), then alone.
    assert_eq!(
        gate.calls(&poison_id),
        2,
        "the poison message is tried once in its batch and once alone"
    );
    assert_eq!(reason, "permanent_error");
    assert!(
        last_error.starts_with("database:"),
        "dead-lettered for the database error: {last_error}"
    );
    let recorded: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM events WHERE event_id = $1) \
              + (SELECT count(*) FROM inbox WHERE event_id = $1) \
              + (SELECT count(*) FROM employees WHERE employee_id = $2)",
    )
    .bind(&poison_id)
    .bind(&poison_employee)
    .fetch_one(&worker.pool)
    .await
    .unwrap();
    assert_eq!(recorded, 0, "nothing of the poison message is recorded");

    // Every other message is applied once; those that shared the failed batch were redone
    // alone, each in a transaction of its own.
    let rows = event_rows(&worker.pool).await;
    assert_eq!(rows.len(), good.len());
    let mut recorded_ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    recorded_ids.sort_unstable();
    let mut want = good.iter().map(String::as_str).collect::<Vec<_>>();
    want.sort_unstable();
    assert_eq!(recorded_ids, want);
    for row in &rows {
        assert_eq!(row.2, "applied", "{}", row.0);
    }
    for employee in &employees {
        let active = ("active".to_owned(), "active".to_owned(), false);
        assert_eq!(employee_status(&worker.pool, employee).await, active);
    }
    let redone: Vec<String> = good
        .iter()
        .filter(|id| gate.calls(id) == 2)
        .cloned()
        .collect();
    assert!(
        !redone.is_empty(),
        "the poison message shared its batch with others"
    );
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE event_id = ANY($1)",
    )
    .bind(&redone)
    .fetch_one(&worker.pool)
    .await
    .unwrap();
    assert_eq!(transactions, redone.len() as i64, "redone one by one");
    for id in &good {
        assert!(gate.calls(id) <= 2, "{id} processed at most twice");
    }
    worker.cleanup().await;
    receiver.cleanup().await;
}
