//! Provisioning targets beyond the directory (which lives in the worker's transaction).

pub mod directory;
pub mod error;
pub mod http;
pub mod response;
pub mod rules;
pub mod runtime;
pub mod scim;
#[cfg(test)]
mod test_support;

use crate::config::{TargetConfig, TargetKind};
use crate::domain::access::Access;
use crate::domain::event::CanonicalEvent;
use error::TargetError;

/// A target outside provisiond's database, called after the event's transaction commits.
#[derive(Debug)]
pub enum ExternalTarget {
    Http(http::HttpTarget),
    Scim(scim::ScimTarget),
}

impl ExternalTarget {
    /// `None` for the directory target. The configuration was checked when it was read: only
    /// building an HTTP client can fail here.
    pub fn from_config(config: &TargetConfig) -> Result<Option<ExternalTarget>, String> {
        let name = &config.name;
        let target = match &config.kind {
            TargetKind::Directory => return Ok(None),
            TargetKind::Http(options) => {
                ExternalTarget::Http(http::HttpTarget::new(name, options)?)
            }
            TargetKind::Scim(options) => {
                ExternalTarget::Scim(scim::ScimTarget::new(name, options)?)
            }
        };
        Ok(Some(target))
    }

    pub fn name(&self) -> &str {
        match self {
            ExternalTarget::Http(t) => t.name(),
            ExternalTarget::Scim(t) => t.name(),
        }
    }

    /// How long one call to this target may take in all (its requests, each within the
    /// target's timeout): the lease a worker holds on an (employee, target) while calling.
    pub fn call_limit(&self) -> std::time::Duration {
        let timeout = match self {
            ExternalTarget::Http(t) => t.timeout(),
            ExternalTarget::Scim(t) => t.timeout(),
        };
        // A SCIM apply makes a few requests (find, write, each group); an HTTP one, one.
        timeout * 8 + std::time::Duration::from_secs(5)
    }

    /// Bring the target to the event's state: for an active employee, what `decision`
    /// gives; `managed_groups` are the groups provisiond may remove someone from.
    pub async fn apply(
        &self,
        source: &str,
        event_id: &str,
        event: &CanonicalEvent,
        decision: &Access,
        managed_groups: &[String],
    ) -> Result<(), TargetError> {
        let active = event.kind.is_active();
        match self {
            ExternalTarget::Http(t) => {
                let decision = active.then_some(decision);
                t.apply_with(source, event_id, event, decision).await
            }
            ExternalTarget::Scim(t) => {
                let groups: &[String] = if active { &decision.groups } else { &[] };
                t.apply(source, event, groups, managed_groups).await
            }
        }
    }
}
