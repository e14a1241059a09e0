//! Error classification in one place: what is worth retrying and what is not.

use std::error::Error as StdError;
use std::time::Duration;

use crate::domain::event::NormalizeError;
use crate::provision::error::TargetError;
use crate::store::dead_letters::Reason;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The body cannot be mapped to an event: retrying cannot help.
    #[error("payload: {0}")]
    Payload(#[from] NormalizeError),
    /// PostgreSQL failed; connection losses, timeouts and serialization failures are transient.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The sender's API could not give the employee's record.
    #[error("sender API: {0}")]
    Sender(#[from] crate::enrich::EnrichError),
    /// A message processing creates could not be published (broker unavailable).
    #[error("publish: {0}")]
    Publish(String),
    /// An external target refused or failed (its message names the target).
    #[error("{error}")]
    Target { target: String, error: TargetError },
}

impl ProcessError {
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessError::Payload(_) => false,
            ProcessError::Database(error) => database_is_transient(error),
            ProcessError::Publish(_) => true,
            ProcessError::Sender(error) => {
                matches!(error, crate::enrich::EnrichError::Transient(_))
            }
            ProcessError::Target { error, .. } => error.is_transient(),
        }
    }

    /// The target's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProcessError::Target {
                error: TargetError::Transient { retry_after, .. },
                ..
            } => *retry_after,
            _ => None,
        }
    }

    /// The reason a permanent failure is dead-lettered with. A body that is not JSON is a
    /// `permanent_error` too (the sender's payload); `unparseable` is kept for queue
    /// messages provisiond cannot read at all.
    pub fn permanent_reason(&self) -> Reason {
        Reason::PermanentError
    }

    /// This error and its sources, outermost first, for the dead-letter log.
    pub fn chain(&self) -> Vec<String> {
        let mut chain = vec![self.to_string()];
        let mut source = self.source();
        while let Some(error) = source {
            let text = error.to_string();
            if chain.last() != Some(&text) {
                chain.push(text);
            }
            source = error.source();
        }
        chain
    }
}

/// SQLSTATE classes worth retrying: serialization failure, deadlock, too many
/// connections, shutdown in progress, connection exceptions.
fn database_is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(error: TargetError) -> ProcessError {
        let target = "crm".into();
        ProcessError::Target { target, error }
    }

    #[test]
    fn target_5xx_and_429_are_transient_and_keep_retry_after() {
        let error = target(TargetError::Transient {
            message: "503".into(),
            retry_after: Some(Duration::from_secs(7)),
        });
        assert!(error.is_transient());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn target_4xx_is_permanent() {
        let error = target(TargetError::Permanent {
            message: "400".into(),
        });
        assert!(!error.is_transient());
        assert_eq!(error.permanent_reason(), Reason::PermanentError);
    }

    #[test]
    fn an_unparseable_body_is_a_permanent_error_with_its_chain() {
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let error = ProcessError::Payload(NormalizeError::Json(json));
        assert!(!error.is_transient());
        assert_eq!(error.permanent_reason(), Reason::PermanentError);
        assert!(error.chain().len() >= 2, "the chain keeps the JSON error");
    }

    #[test]
    fn lost_connections_are_transient_and_constraint_errors_are_not() {
        assert!(ProcessError::Database(sqlx::Error::PoolTimedOut).is_transient());
        let io = std::io::Error::other("reset");
        assert!(ProcessError::Database(sqlx::Error::Io(io)).is_transient());
        assert!(!ProcessError::Database(sqlx::Error::RowNotFound).is_transient());
    }
}
