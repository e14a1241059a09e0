//! The test's own queues: a publisher for what a test runs by hand, and clean-up.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::*;

/// A confirmed publisher on the app's queues, for what a test runs by hand (a scheduler
/// pass, a reconcile run); `stop` closes it.
pub struct TestPublisher {
    pub publisher: provisiond::queue::Publisher,
    stop: tokio_util::sync::CancellationToken,
    task: JoinHandle<()>,
}

impl TestPublisher {
    pub async fn start(app: &TestApp) -> TestPublisher {
        let stop = tokio_util::sync::CancellationToken::new();
        let topology = provisiond::queue::Topology::new(&app.iso.prefix, 10);
        let url = provisiond::domain::Secret::new(&amqp_url());
        let url = provisiond::queue::Endpoints::new(vec![url]);
        let timeout = std::time::Duration::from_secs(3);
        let key = provisiond::queue::MessageKey::new(&provisiond::domain::Secret::new(MESSAGE_KEY));
        let (publisher, task) =
            provisiond::queue::Publisher::start(url, topology, timeout, key, stop.clone());
        let wait = std::time::Duration::from_secs(10);
        publisher.wait_connected(wait).await.unwrap();
        TestPublisher {
            publisher,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

pub async fn delete_topology(prefix: &str) {
    delete_topology_at(&amqp_url(), prefix).await;
}

/// The queues and exchanges of `prefix` on the broker at `url`.
pub async fn delete_topology_at(url: &str, prefix: &str) {
    let Ok(connection) = provisiond::queue::connect(url, "test-cleanup").await else {
        return;
    };
    let channel = connection.create_channel().await.unwrap();
    let delays = [100, 200].map(Duration::from_millis);
    let topology = provisiond::queue::Topology::new(prefix, 10).with_retry_delays(&delays);
    for name in topology.queues() {
        let _ = channel
            .queue_delete(name.as_str().into(), Default::default())
            .await;
    }
    for name in topology.exchanges() {
        let _ = channel
            .exchange_delete(name.as_str().into(), Default::default())
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

impl TestApp {
    /// Number of messages ready in this test's work queue.
    pub async fn queued_messages(&self) -> u32 {
        let connection = provisiond::queue::connect(&amqp_url(), "test")
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let options = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = format!("{}.work", self.iso.prefix);
        let declared = channel
            .queue_declare(queue.as_str().into(), options, Default::default())
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
        declared.message_count()
    }
}
