//! RabbitMQ: topology, the confirmed publisher used by receivers, connections.

mod connection;
mod depth;
mod endpoints;
pub mod message;
pub mod publisher;
pub mod topology;

pub use connection::BrokerError;
pub use depth::{sample as sample_depths, QueueDepth};
pub use endpoints::{Connected, Endpoints};
pub use message::{MessageKey, UnreadableMessage};
pub use publisher::{PublishError, Publisher};
pub use topology::Topology;

use std::time::Duration;

use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties};

/// Open a connection named for the broker's management UI. provisiond runs its own
/// reconnect loops (rather than lapin's young auto-recovery) so that it always knows
/// whether it is connected, which `/readyz` reports. A failure is one clear
/// [`BrokerError`] (host, port, vhost, why; never the password).
pub async fn connect(url: &str, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(name.as_bytes().to_vec()));
    Connection::connect(url, props)
        .await
        .map_err(|error| BrokerError::new(url, &error))
}

/// Longest a connection may take, once open, to have its channels and topology ready:
/// a declare the broker holds (a quorum queue electing a leader after its node died)
/// must not keep a process unconnected; it reconnects, to the next node, instead.
pub const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves when `connection` fails: on lapin's error event, or when its status says it
/// is no longer connected (checked each second, in case no event comes).
pub async fn connection_lost(connection: &Connection) -> anyhow::Error {
    use futures::StreamExt;
    let events = connection.events_listener();
    tokio::pin!(events);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(lapin::Event::Error(error)) => return error.into(),
                Some(_) => {}
                None => return anyhow::anyhow!("the connection to the broker ended"),
            },
            _ = tick.tick() => if !connection.status().connected() {
                return anyhow::anyhow!("the connection to the broker is no longer connected");
            },
        }
    }
}

/// Reconnect delays: 100 ms doubling up to 5 s, so a broker restart costs seconds.
#[derive(Debug)]
pub(crate) struct ReconnectDelay(Duration);

impl ReconnectDelay {
    pub(crate) fn new() -> Self {
        ReconnectDelay(Duration::from_millis(100))
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let current = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        current
    }
}
