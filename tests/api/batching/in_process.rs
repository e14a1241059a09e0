//! Batches recorded by a processor on a database of the test's own, compared row by row
//! with the same messages processed one by one.

use std::collections::HashMap;

use provisiond::worker::process::{Prepared, KEPT_TERMINATED};
use provisiond::worker::Outcome;
use serde_json::json;

use super::*;

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
    let ids: Vec<&str> = batch.iter().map(|m| m.event_id.as_str()).collect();
    assert_recorded(&rows[1..], &ids, &expected);

    // Final states.
    let pool = &batched.pool;
    let (terminated, active) = (terminated(), active());
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
