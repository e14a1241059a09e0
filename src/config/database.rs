//! `[database]`: the PostgreSQL connection pool and whether `serve` migrates.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, positive, ConfigError};
use crate::domain::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
    /// Create the database and apply migrations at `serve`. Turn off when a separate owner
    /// role runs `provisiond migrate` and the service runs with least privilege.
    pub migrate: bool,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://provisiond:provisiond@127.0.0.1:5432/provisiond"),
            max_connections: 10,
            migrate: true,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let url = self.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid("database.url", "must start with postgres://"));
        }
        positive("database.max_connections", self.max_connections)
    }
}
