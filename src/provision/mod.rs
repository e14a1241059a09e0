//! Provisioning targets beyond the directory (which lives in the worker's transaction).

pub mod error;
pub mod http;
pub mod rules;

use crate::config::{TargetConfig, TargetKind};
use crate::event::CanonicalEvent;
use error::TargetError;

/// A target outside provisiond's database, called after the event's transaction commits.
#[derive(Debug)]
pub enum ExternalTarget {
    Http(http::HttpTarget),
}

impl ExternalTarget {
    /// `None` for the directory target; an error names the bad key.
    pub fn from_config(config: &TargetConfig) -> Result<Option<ExternalTarget>, String> {
        match config.kind {
            TargetKind::Directory => Ok(None),
            TargetKind::Http => Ok(Some(ExternalTarget::Http(http::HttpTarget::from_config(
                config,
            )?))),
            TargetKind::Scim => {
                Err("kind: `scim` targets are not supported by this version".into())
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            ExternalTarget::Http(t) => t.name(),
        }
    }

    pub async fn apply(
        &self,
        source: &str,
        event_id: &str,
        event: &CanonicalEvent,
    ) -> Result<(), TargetError> {
        match self {
            ExternalTarget::Http(t) => t.apply(source, event_id, event).await,
        }
    }
}
