//! `[server]`: the receiver's address and limits, and the admin tokens with their roles.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, positive, ConfigError};
use crate::domain::{Secret, SYSTEM_ACTOR};

/// Shortest admin token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// The name `server.admin_token` acts under.
pub const ADMIN_TOKEN_NAME: &str = "admin";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// The unnamed operator token of earlier versions; recorded as the actor `admin`.
    pub admin_token: Option<Secret>,
    /// Named admin tokens (`[[server.tokens]]`), each with a role.
    pub tokens: Vec<TokenConfig>,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Connections open at once on `listen`; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Webhook body bytes buffered before their signature is verified, all requests
    /// together; beyond it a webhook is answered `503` with `Retry-After`.
    pub max_inflight_bytes: usize,
    /// Time a client has to send a request's headers (or to start its next request on an
    /// idle connection) before the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A second listener for `/healthz`, `/readyz` and `/metrics` (off when absent); when
    /// set, `/metrics` is no longer served on `listen`.
    pub ops_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 262_144,
            admin_token: None,
            tokens: Vec::new(),
            request_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_inflight_bytes: 64 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            ops_listen: None,
        }
    }
}

/// One named admin token: its name is the actor recorded for what it does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: AdminRole,
    pub token: Secret,
}

/// What an admin token may do: an auditor reads (reports, employee state, dead-letter
/// summaries); an operator also reads raw bodies and acts (replay, discard, holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    Auditor,
    Operator,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Auditor => "auditor",
            AdminRole::Operator => "operator",
        }
    }
}

impl ServerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_limits()?;
        self.validate_tokens()
    }

    /// Every admin token with its name and role: `[[server.tokens]]`, then
    /// `admin_token` as the operator `admin`.
    pub(super) fn admin_tokens(&self) -> Vec<(&str, AdminRole, &Secret)> {
        let named = self.tokens.iter();
        let mut tokens: Vec<_> = named.map(|t| (t.name.as_str(), t.role, &t.token)).collect();
        if let Some(token) = &self.admin_token {
            tokens.push((ADMIN_TOKEN_NAME, AdminRole::Operator, token));
        }
        tokens
    }

    /// The receiver's limits against hostile traffic (see docs/security.md).
    fn validate_limits(&self) -> Result<(), ConfigError> {
        positive("server.max_body_bytes", self.max_body_bytes)?;
        positive("server.max_connections", self.max_connections)?;
        positive("server.max_inflight_bytes", self.max_inflight_bytes)?;
        positive("server.header_timeout", self.header_timeout)?;
        if self.max_inflight_bytes < self.max_body_bytes {
            return Err(invalid(
                "server.max_inflight_bytes",
                format!(
                    "must be at least server.max_body_bytes ({})",
                    self.max_body_bytes
                ),
            ));
        }
        if self.ops_listen == Some(self.listen) && self.listen.port() != 0 {
            return Err(invalid(
                "server.ops_listen",
                "must differ from server.listen",
            ));
        }
        Ok(())
    }

    fn validate_tokens(&self) -> Result<(), ConfigError> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = &self.admin_token {
            if token.expose().len() < MIN_TOKEN_LEN {
                return Err(invalid(
                    "server.admin_token",
                    "must be at least 16 characters",
                ));
            }
            seen.push((ADMIN_TOKEN_NAME, token.expose()));
        }
        for (i, entry) in self.tokens.iter().enumerate() {
            let at = |(field, message)| invalid(format!("server.tokens[{i}].{field}"), message);
            entry.check(&seen).map_err(at)?;
            seen.push((entry.name.as_str(), entry.token.expose()));
        }
        Ok(())
    }
}

impl TokenConfig {
    /// This token on its own and against the `seen` ones (name, token) before it; an
    /// error names the field at fault.
    fn check(&self, seen: &[(&str, &str)]) -> Result<(), (&'static str, String)> {
        let name = self.name.as_str();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._@-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return Err((
                "name",
                "must be 1 to 64 letters, digits or `. _ @ -`".into(),
            ));
        }
        if name.eq_ignore_ascii_case(SYSTEM_ACTOR) {
            let message = "`provisiond` is the actor of what provisiond does itself";
            return Err(("name", message.into()));
        }
        if self.token.expose().len() < MIN_TOKEN_LEN {
            return Err(("token", "must be at least 16 characters".into()));
        }
        for (other, token) in seen {
            if other.eq_ignore_ascii_case(name) {
                let message = if name.eq_ignore_ascii_case(ADMIN_TOKEN_NAME) {
                    "`admin` is the name of server.admin_token; choose another".to_owned()
                } else {
                    format!("`{name}` is used by another token")
                };
                return Err(("name", message));
            }
            if *token == self.token.expose() {
                return Err(("token", format!("is the same as the token of `{other}`")));
            }
        }
        Ok(())
    }
}
