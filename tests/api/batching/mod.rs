//! Batch processing: several deliveries recorded in one transaction end exactly as if the
//! same messages had been processed one by one, in their order.

mod in_process;
mod worker;

use provisiond::domain::message::QueueMessage;
use provisiond::domain::SourceKind;
use provisiond::worker::process::Prepared;
use provisiond::worker::{Outcome, Processor};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

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

/// An `events` row: event id, employee id, outcome, reason.
type EventRow = (String, Option<String>, String, Option<String>);

async fn event_rows(pool: &PgPool) -> Vec<EventRow> {
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

/// `rows` are the events `event_ids`, in that order, each with its expected outcome and
/// reason.
fn assert_recorded(rows: &[EventRow], event_ids: &[&str], expected: &[(Outcome, Option<&str>)]) {
    for ((row, id), (outcome, reason)) in rows.iter().zip(event_ids).zip(expected) {
        assert_eq!(row.0, *id, "events are recorded in delivery order");
        assert_eq!(row.2, outcome.as_str(), "outcome of {id}");
        assert_eq!(row.3.as_deref(), *reason, "reason of {id}");
    }
}

/// `employee_status` of a leaver: terminated, its account deactivated.
fn terminated() -> (String, String, bool) {
    ("terminated".to_owned(), "deactivated".to_owned(), true)
}

/// `employee_status` of an active employee and account.
fn active() -> (String, String, bool) {
    ("active".to_owned(), "active".to_owned(), false)
}
