//! Broker outages, crashed workers, graceful shutdown: nothing accepted is lost.

use lapin::options::BasicGetOptions;
use provisiond::domain::message::QueueMessage;
use provisiond::worker::{Outcome, Processor};
use provisiond::Role;
use serde_json::Value;

use crate::helpers::*;
use crate::proxy::BrokerProxy;

#[tokio::test]
async fn broker_unreachable_gives_503_then_recovers_without_restart() {
    let proxy = BrokerProxy::start().await;
    let iso = Isolation::new();
    let app = spawn_with(test_config(&iso, &proxy.url()), iso, Role::All).await;

    proxy.cut();
    let ready = format!("{}/readyz", app.address);
    wait_for("readyz to report the broker down", || async {
        let response = app.client.get(&ready).send().await.ok()?;
        (response.status() == 503).then_some(())
    })
    .await;
    let employee = unique("outage");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, &unique("m"));
    let response = app.post("hris", &headers, &body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unavailable");

    proxy.restore();
    app.wait_ready().await;
    assert!(
        app.employee("hris", &employee).await.is_none(),
        "nothing applied while down"
    );
    let response = app.post("hris", &headers, &body).await;
    assert_eq!(response.status(), 202);
    let view = app.employee_after("hris", &employee, 1).await;
    assert_eq!(view["events"][0]["outcome"], "applied");
    app.cleanup().await;
}

#[tokio::test]
async fn a_worker_that_dies_after_commit_but_before_ack_is_redelivered_and_applied_once() {
    let receiver = spawn_app(Role::Receiver).await;
    let employee = unique("crash");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let response = receiver
        .post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    assert_eq!(response.status(), 202);

    // A "worker" takes the message, commits its effect, and dies before acking.
    let connection = provisiond::queue::connect(&amqp_url(), "doomed-worker")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{}.work", receiver.iso.prefix);
    let got = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .expect("the message is queued");
    let key = provisiond::queue::MessageKey::new(&provisiond::domain::Secret::new(MESSAGE_KEY));
    let (properties, data) = (&got.delivery.properties, &got.delivery.data);
    let message = QueueMessage::from_delivery(properties, data, &key).unwrap();
    let processor = Processor::new(receiver.pool.clone(), "directory".into());
    assert_eq!(processor.process(&message).await.unwrap(), Outcome::Applied);
    drop(got);
    connection.close(320, "worker killed".into()).await.unwrap();

    // A real worker pool on the same queue and database gets the redelivery.
    let config = test_config(&receiver.iso, &amqp_url());
    let worker = spawn_with(config, receiver.iso.clone(), Role::Worker).await;
    let view = worker.employee_after("hris", &employee, 2).await;
    let outcomes = outcomes(&view);
    assert_eq!(outcomes, ["applied", "duplicate"]);
    assert_eq!(view["targets"].as_array().unwrap().len(), 1);
    worker.cleanup().await;
    receiver.cleanup().await;
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_messages_without_loss() {
    let mut app = spawn_app(Role::All).await;
    let total = 60;
    let deliveries: Vec<(Value, Vec<u8>)> = (0..total)
        .map(|i| {
            let body = hris_body(
                "created",
                &unique(&format!("drain{i}")),
                "2026-03-02T09:15:00Z",
            );
            (hris_headers(&body, &unique("m")), body)
        })
        .collect();
    let posts = deliveries
        .iter()
        .map(|(headers, body)| app.post("hris", headers, body));
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 202);
    }
    // Stop while the pool is busy: run() must return, having acked what it processed.
    app.stop().await.expect("clean shutdown");
    app.pool = sqlx::PgPool::connect(&app.iso.database_url).await.unwrap();
    let processed = app.events_for_source("hris").await;
    let left = app.queued_messages().await as i64;
    assert_eq!(
        processed + left,
        total,
        "every message is either processed or still queued"
    );

    // Whatever was left is applied by the next worker, and nothing twice.
    let worker = spawn_with(
        test_config(&app.iso, &amqp_url()),
        app.iso.clone(),
        Role::Worker,
    )
    .await;
    wait_for("all events processed", || async {
        (worker.events_for_source("hris").await >= total).then_some(())
    })
    .await;
    let applied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE source = 'hris' AND outcome = 'applied'",
    )
    .fetch_one(&worker.pool)
    .await
    .unwrap();
    assert_eq!(applied, total);
    worker.cleanup().await;
}

/// Two routes to the broker, as two nodes of a cluster would be: when the one in use
/// fails, the publisher and the workers move to the other without a restart, and what
/// was accepted before and after is applied once.
#[tokio::test]
async fn publisher_and_workers_move_to_the_next_node_when_theirs_fails() {
    let node_a = BrokerProxy::start().await;
    let node_b = BrokerProxy::start().await;
    let iso = Isolation::new();
    let mut config = test_config(&iso, &node_a.url());
    config.rabbitmq.url = None;
    config.rabbitmq.urls = vec![
        provisiond::domain::Secret::new(&node_a.url()),
        provisiond::domain::Secret::new(&node_b.url()),
    ];
    let app = spawn_with(config, iso, Role::All).await;
    let before = unique("node-a");
    let body = hris_body("created", &before, "2026-03-02T09:15:00Z");
    let response = app
        .post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    assert_eq!(response.status(), 202);
    app.employee_after("hris", &before, 1).await;

    // Node a is gone for good: nothing is restored.
    node_a.cut();
    app.wait_ready().await;
    let after = unique("node-b");
    let body = hris_body("created", &after, "2026-03-02T09:15:00Z");
    let headers = hris_headers(&body, &unique("m"));
    let accepted = wait_for("a webhook accepted through node b", || async {
        let response = app.post("hris", &headers, &body).await;
        (response.status() == 202).then_some(())
    })
    .await;
    let _: () = accepted;
    let view = app.employee_after("hris", &after, 1).await;
    assert_eq!(outcomes(&view), ["applied"]);
    let view = app.employee("hris", &before).await.expect("first employee");
    assert_eq!(outcomes(&view), ["applied"], "applied once, not again");
    app.cleanup().await;
}

/// The first node of `rabbitmq.urls` refuses connections from the start: provisiond
/// starts on the second and works.
#[tokio::test]
async fn a_node_that_refuses_at_start_is_skipped() {
    let iso = Isolation::new();
    let mut config = test_config(&iso, &amqp_url());
    config.rabbitmq.url = None;
    config.rabbitmq.urls = vec![
        // Nothing listens on port 9 (discard) on the test machines.
        provisiond::domain::Secret::new("amqp://guest:guest@127.0.0.1:9/%2f"),
        provisiond::domain::Secret::new(&amqp_url()),
    ];
    let app = spawn_with(config, iso, Role::All).await;
    let employee = unique("second-node");
    let body = hris_body("created", &employee, "2026-03-02T09:15:00Z");
    let response = app
        .post("hris", &hris_headers(&body, &unique("m")), &body)
        .await;
    assert_eq!(response.status(), 202);
    let view = app.employee_after("hris", &employee, 1).await;
    assert_eq!(outcomes(&view), ["applied"]);
    app.cleanup().await;
}
