//! How a target call failed, which decides retry or dead letter.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// Worth retrying later (network, timeout, 5xx, 408, 409, 429).
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (other 4xx, 3xx, invalid request).
    #[error("{message}")]
    Permanent { message: String },
}

impl TargetError {
    pub fn is_transient(&self) -> bool {
        matches!(self, TargetError::Transient { .. })
    }
}
