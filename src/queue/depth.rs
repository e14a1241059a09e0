//! How many messages wait in each of provisiond's queues, asked of the broker on a
//! connection of its own (the operator console's overview).

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use super::{BrokerError, Endpoints, Topology};

/// One queue as the broker counts it now.
#[derive(Debug, Clone)]
pub struct QueueDepth {
    /// `work`, `retry 5s`, … or `dead` (the broker's dead queue, drained to the log).
    pub role: String,
    pub queue: String,
    /// `None` when the broker does not know the queue (never declared, or deleted).
    pub messages: Option<u32>,
    pub consumers: Option<u32>,
}

/// Ask the broker for every queue of `topology` with passive declares (they create
/// nothing). A queue the broker does not know closes its channel, so each queue gets
/// its own.
pub async fn depths(
    endpoints: &Endpoints,
    topology: &Topology,
) -> Result<Vec<QueueDepth>, BrokerError> {
    let connection = endpoints.connect("provisiond-console").await?.connection;
    let mut queues = vec![("work".to_owned(), topology.work_queue.clone())];
    queues.extend(topology.retry_tiers.iter().map(|tier| {
        let delay = humantime::format_duration(tier.delay);
        (format!("retry {delay}"), tier.queue.clone())
    }));
    queues.push(("dead".to_owned(), topology.dead_queue.clone()));
    let mut depths = Vec::with_capacity(queues.len());
    for (role, queue) in queues {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let found = match connection.create_channel().await {
            Ok(channel) => {
                let declared = channel
                    .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                    .await
                    .ok();
                let _ = channel.close(200, "done".into()).await;
                declared
            }
            Err(_) => None,
        };
        depths.push(QueueDepth {
            role,
            queue,
            messages: found.as_ref().map(|q| q.message_count()),
            consumers: found.as_ref().map(|q| q.consumer_count()),
        });
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(depths)
}

/// Sample every queue's depth now and then each `every` until `shutdown`, into the
/// process's 24-hour figures (`telemetry::hourly`, charted by the console's overview).
/// A sample the broker does not answer within 5 s is skipped.
pub async fn sample(
    publisher: super::Publisher,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let asked = tokio::time::timeout(std::time::Duration::from_secs(5), publisher.depths());
        tokio::select! {
            _ = shutdown.cancelled() => return,
            answer = asked => {
                for depth in answer.ok().and_then(Result::ok).unwrap_or_default() {
                    if let Some(messages) = depth.messages {
                        crate::telemetry::hourly::queue_depth(&depth.role, u64::from(messages));
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
