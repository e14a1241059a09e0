//! The broker's nodes: connect to the first that answers, and after a failure start from
//! the node after the one that failed, so a dead node is not the first tried again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::Connection;

use super::{connect, BrokerError};
use crate::domain::Secret;

/// One connection attempt may take this long (a node that does not answer at all, e.g.
/// behind a dropped route, would otherwise hold the whole failover up).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The URLs of the broker's nodes, in the order given, and where to start next time.
#[derive(Debug, Clone)]
pub struct Endpoints {
    urls: Arc<[Secret]>,
    next: Arc<AtomicUsize>,
}

/// A connection and which node it is to (an index into [`Endpoints`]).
pub struct Connected {
    pub connection: Connection,
    pub node: usize,
}

impl Endpoints {
    /// `urls` must not be empty (`RabbitConfig::broker_urls` never is).
    pub fn new(urls: Vec<Secret>) -> Endpoints {
        assert!(!urls.is_empty(), "at least one broker URL");
        Endpoints {
            urls: urls.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The same nodes, tried from the first again: each connection owner keeps its own
    /// place, so a publisher's failover does not move a worker's.
    pub fn fresh(&self) -> Endpoints {
        Endpoints::new(self.urls.to_vec())
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The first node's URL (for one-off connections that need no failover, e.g. bench).
    pub fn first(&self) -> &str {
        self.urls[0].expose()
    }

    /// Connect to the first node that answers, starting where the last failure left off.
    /// When none does, one error that names every node and why.
    pub async fn connect(&self, name: &str) -> Result<Connected, BrokerError> {
        let count = self.urls.len();
        let start = self.next.load(Ordering::Relaxed) % count;
        let mut errors = Vec::new();
        for step in 0..count {
            let node = (start + step) % count;
            let url = self.urls[node].expose();
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(url, name)).await;
            match attempt {
                Ok(Ok(connection)) => {
                    self.next.store(node, Ordering::Relaxed);
                    if step > 0 || count > 1 {
                        tracing::info!(
                            node = %BrokerError::place_of(url),
                            "{name} connected to broker node {} of {count}",
                            node + 1
                        );
                    }
                    return Ok(Connected { connection, node });
                }
                Ok(Err(error)) => errors.push(error),
                Err(_) => errors.push(BrokerError::timed_out(url, CONNECT_TIMEOUT)),
            }
        }
        // Next round starts from the node after this round's first.
        self.next.store((start + 1) % count, Ordering::Relaxed);
        Err(BrokerError::none_answered(errors))
    }

    /// The connection to `node` failed: next time start from the node after it.
    pub fn failed(&self, node: usize) {
        let count = self.urls.len();
        let _ = self.next.compare_exchange(
            node % count,
            (node + 1) % count,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}
