//! Typed configuration: a TOML file, overlaid by `PROVISIOND__SECTION__KEY` environment
//! variables, with `env:` / `file:` secret references resolved and every value validated at
//! start so a bad key is named before anything runs.

mod broker;
mod database;
pub mod rules;
mod server;
mod sources;
pub mod targets;
mod terminations;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::domain::Secret;

pub use broker::{RabbitConfig, WorkerConfig};
pub use database::DatabaseConfig;
pub use server::{AdminRole, ServerConfig, TokenConfig, ADMIN_TOKEN_NAME};
pub use sources::{ApiConfig, SourceConfig};
pub use targets::{TargetConfig, TargetKind};
pub use terminations::{AuditConfig, GuardConfig, TerminationTime};

/// Environment variable prefix for overrides: `PROVISIOND__SERVER__LISTEN=…`.
pub const ENV_PREFIX: &str = "PROVISIOND__";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub rabbitmq: RabbitConfig,
    pub worker: WorkerConfig,
    pub audit: AuditConfig,
    pub guard: GuardConfig,
    pub sources: Vec<SourceConfig>,
    pub targets: Vec<TargetConfig>,
    /// Provisioning rules (`[[rules]]`), checked as they are read.
    #[serde(deserialize_with = "rules::unique_rules")]
    pub rules: Vec<rules::RuleConfig>,
    /// What an employee gets when no rule matches (`[default]`).
    pub default: Option<rules::GrantConfig>,
}

/// A configuration problem, always naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file `{0}` does not exist")]
    MissingFile(PathBuf),
    #[error("configuration file `{0}` is a directory; expected a TOML file")]
    Directory(PathBuf),
    #[error("cannot read configuration file `{path}`: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// `value` is not zero (a count) or empty (a duration).
fn positive<T: Default + PartialEq>(key: &str, value: T) -> Result<(), ConfigError> {
    if value == T::default() {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(())
}

/// A name that is safe in queue names, metrics labels and URLs.
fn check_name(key: impl Into<String>, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || !name.chars().all(is_name_char) {
        return Err(invalid(
            key,
            "must be non-empty and use only letters, digits, '.', '-' and '_'",
        ));
    }
    Ok(())
}

/// A rules error names its key the way the rules are written (`rules[0].when.title`), as
/// their checks did before they were typed; any other keeps figment's wording.
fn parse_error(error: figment::Error) -> ConfigError {
    if let Some((key, message)) = targets::invalid_key(&error) {
        return invalid(key, message);
    }
    match rules::key(&error.path) {
        Some(key) => invalid(key, error.kind.to_string()),
        None => ConfigError::Parse(Box::new(error)),
    }
}

impl Config {
    /// Read the file (if any), overlay the environment, validate.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            check_file(path)?;
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        Self::from_figment(figment)
    }

    /// Parse a TOML string (tests, `rules test`), overlaid by nothing.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    /// Read, validate and decode a configuration: the one way every command gets one.
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = figment.extract().map_err(parse_error)?;
        config.validate()?;
        sources::decode_keys(&mut config.sources)?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.rabbitmq.validate()?;
        self.worker.validate()?;
        sources::validate(&self.sources)?;
        self.validate_targets()?;
        self.guard.validate()
    }

    /// The key that signs queue messages: every command that publishes or consumes needs
    /// it, the same in every process.
    pub fn message_key(&self) -> Result<&Secret, ConfigError> {
        self.rabbitmq.message_key.as_ref().ok_or_else(|| {
            invalid(
                "rabbitmq.message_key",
                "is required to publish or consume queue messages: a secret of at least 32 \
                 characters, the same for every provisiond process (e.g. \
                 message_key = \"env:PROVISIOND_MESSAGE_KEY\")",
            )
        })
    }

    /// Every admin token with its name and role: `[[server.tokens]]`, then
    /// `server.admin_token` as the operator `admin`.
    pub fn admin_tokens(&self) -> Vec<(&str, AdminRole, &Secret)> {
        self.server.admin_tokens()
    }

    fn validate_targets(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, target) in self.targets.iter().enumerate() {
            let key = |field: &str| format!("targets[{i}].{field}");
            if target.name.is_empty() || !target.name.chars().all(is_name_char) {
                return Err(invalid(key("name"), "must be non-empty"));
            }
            if !seen.insert(target.name.as_str()) {
                let msg = format!("duplicate target name `{}`", target.name);
                return Err(invalid(key("name"), msg));
            }
        }
        Ok(())
    }

    /// The name of the directory target (provisiond's own accounts table).
    pub fn directory_target(&self) -> String {
        let dir = self
            .targets
            .iter()
            .find(|t| matches!(t.kind, TargetKind::Directory));
        dir.map_or_else(|| "directory".to_owned(), |t| t.name.clone())
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// `path` is a file provisiond may read: figment would take a missing file or a directory
/// for an empty configuration and start with defaults.
fn check_file(path: &Path) -> Result<(), ConfigError> {
    let unreadable = |error: std::io::Error| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: match error.kind() {
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => error.to_string(),
        },
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::MissingFile(path.to_owned()));
        }
        Err(error) => return Err(unreadable(error)),
    };
    if metadata.is_dir() {
        return Err(ConfigError::Directory(path.to_owned()));
    }
    std::fs::File::open(path).map_err(unreadable)?;
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}
