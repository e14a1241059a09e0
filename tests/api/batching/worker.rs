//! A real worker consuming a backlog in batches, through the queue.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use provisiond::worker::handler::ProcessingHook;
use provisiond::Role;

use super::*;

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
    let ids: Vec<&str> = posts.iter().map(|p| p.event_id.as_str()).collect();
    assert_recorded(&rows, &ids, &expected);
    let (terminated, active) = (terminated(), active());
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
        assert_eq!(employee_status(&worker.pool, employee).await, active());
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
