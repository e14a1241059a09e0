//! Reaching RabbitMQ: one clear message per failure, naming where provisiond tried to
//! connect (host, port, vhost) and why it could not (refused, authentication, vhost,
//! TLS), never the password.

use std::fmt;
use std::io;
use std::str::FromStr;

use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::ErrorKind;

/// `cannot connect to RabbitMQ at HOST:PORT (vhost V): REASON`, with no `source()`: the
/// reason is in the message, so an error chain prints it once.
#[derive(Debug, Clone)]
pub struct BrokerError {
    place: String,
    reason: String,
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot connect to RabbitMQ {}: {}",
            self.place, self.reason
        )
    }
}

impl std::error::Error for BrokerError {}

/// Where `url` points, for messages: host, port and vhost, and the user.
struct Target {
    place: String,
    user: String,
    vhost: String,
    tls: bool,
}

fn target(url: &str) -> Option<Target> {
    let uri = AMQPUri::from_str(url).ok()?;
    let authority = &uri.authority;
    let vhost = uri.vhost.clone();
    Some(Target {
        place: format!("at {}:{} (vhost {vhost})", authority.host, authority.port),
        user: authority.userinfo.username.clone(),
        vhost,
        tls: matches!(uri.scheme, AMQPScheme::AMQPS),
    })
}

impl BrokerError {
    /// `at HOST:PORT (vhost V)` of `url`, for logs (never the password).
    pub fn place_of(url: &str) -> String {
        target(url).map_or_else(|| "(an invalid URL)".to_owned(), |t| t.place)
    }

    /// No answer from `url` within `timeout`.
    pub fn timed_out(url: &str, timeout: std::time::Duration) -> Self {
        BrokerError {
            place: Self::place_of(url),
            reason: format!("no answer within {timeout:?}"),
        }
    }

    /// Every node of a cluster failed: one error naming each (one node: its own error).
    pub fn none_answered(mut errors: Vec<BrokerError>) -> Self {
        if errors.len() == 1 {
            return errors.remove(0);
        }
        let count = errors.len();
        let each: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.place, e.reason))
            .collect();
        BrokerError {
            place: format!("(none of its {count} nodes answered)"),
            reason: each.join("; "),
        }
    }

    /// `error`, met while connecting to `url` (or on the connection's first channel).
    pub fn new(url: &str, error: &lapin::Error) -> Self {
        let Some(target) = target(url) else {
            return BrokerError {
                place: "(rabbitmq.url)".into(),
                reason: "rabbitmq.url is not a valid amqp:// or amqps:// URL".into(),
            };
        };
        let reason = reason(&target, error);
        BrokerError {
            place: target.place,
            reason,
        }
    }
}

fn reason(target: &Target, error: &lapin::Error) -> String {
    match error.kind() {
        ErrorKind::IOError(io) => {
            let io = io_reason(io);
            if target.tls && io.starts_with("I/O") {
                format!("TLS or network failure: {io}")
            } else {
                io
            }
        }
        ErrorKind::ProtocolError(amqp) => {
            let said = amqp.get_message().as_str();
            if said.starts_with("ACCESS_REFUSED") && said.contains("Login was refused") {
                format!(
                    "authentication failed for user {} (the broker said: {said})",
                    target.user
                )
            } else if said.contains("vhost") {
                format!(
                    "vhost {} does not exist or user {} may not use it (the broker said: \
                     {said})",
                    target.vhost, target.user
                )
            } else {
                format!("the broker refused: {said}")
            }
        }
        ErrorKind::InvalidProtocolVersion(_) | ErrorKind::ParsingError(_) => {
            let hint = if target.tls {
                "is it a TLS (amqps) port?"
            } else {
                "is it a TLS port (use amqps://)?"
            };
            format!("the server does not speak AMQP 0-9-1 as expected ({error}); {hint}")
        }
        ErrorKind::InvalidConnectionState(_) => {
            "the connection was closed during the handshake (a wrong user, password or vhost \
             closes it this way on some brokers)"
                .into()
        }
        _ => error.to_string(),
    }
}

fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::UnexpectedEof => {
            "the server closed the connection (is it a TLS port, or not RabbitMQ?)".into()
        }
        _ => format!("I/O error: {error}"),
    }
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn a_refused_connection_names_host_port_and_vhost_but_not_the_password() {
        // Nothing listens on port 9 (discard) on the test machines.
        let url = "amqp://guest:hunter2-secret@127.0.0.1:9/%2f";
        let error = super::super::connect(url, "test").await.unwrap_err();
        let text = error.to_string();
        assert_eq!(
            text,
            "cannot connect to RabbitMQ at 127.0.0.1:9 (vhost /): connection refused"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
