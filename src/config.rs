//! Typed configuration: a TOML file, overlaid by `PROVISIOND__SECTION__KEY` environment
//! variables, with `env:` / `file:` secret references resolved and every value validated at
//! start so a bad key is named before anything runs.

pub mod rules;
pub mod targets;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer};

use crate::domain::{Secret, SourceKind};
use crate::signing::SigningKey;

pub use targets::{TargetConfig, TargetKind};

/// Shortest `rabbitmq.message_key` accepted.
const MIN_MESSAGE_KEY_LEN: usize = 32;

/// Shortest admin token accepted.
const MIN_TOKEN_LEN: usize = 16;

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

/// The name `server.admin_token` acts under.
pub const ADMIN_TOKEN_NAME: &str = "admin";

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitConfig {
    pub url: Secret,
    pub prefix: String,
    pub prefetch: u16,
    /// Quorum queue `x-delivery-limit`: deliveries before a message is dead-lettered as poison.
    pub delivery_limit: u32,
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// Seconds sent in `Retry-After` when the broker cannot confirm a publish.
    pub retry_after_secs: u32,
    /// The internal key that signs every queue message (required to publish or consume).
    pub message_key: Option<Secret>,
    /// Keys being rotated out: messages they signed are still accepted, none is signed.
    pub previous_message_keys: Vec<Secret>,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "provisiond".into(),
            prefetch: 128,
            delivery_limit: 10,
            confirm_timeout: Duration::from_secs(5),
            retry_after_secs: 5,
            message_key: None,
            previous_message_keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Batches (database transactions) in flight at once.
    pub concurrency: usize,
    /// Most deliveries recorded in one transaction: the worker takes what the broker has
    /// already delivered, up to this many, so a busy queue is drained in batches while a
    /// quiet one still goes message by message.
    pub batch_size: usize,
    pub max_attempts: u32,
    /// Quick in-process retries (exponential backoff with jitter) before a broker retry tier.
    pub quick_retries: u32,
    /// How often the scheduler looks for terminations that have become due.
    #[serde(with = "humantime_serde")]
    pub scheduler_interval: Duration,
    /// Broker retry tiers: the n-th redelivery waits the n-th delay, the last repeats.
    #[serde(deserialize_with = "durations")]
    pub retry_delays: Vec<Duration>,
    /// A termination is retried at least this long (from its first failure) before it is
    /// dead-lettered, whatever `max_attempts` says.
    #[serde(with = "humantime_serde")]
    pub termination_retry_for: Duration,
    /// Deliveries held and none settled for this long: the worker is stalled, and
    /// `/readyz` answers 503. Longer than a batch's slowest target calls with retries.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
}

impl Default for WorkerConfig {
    /// Ten deliveries 10 s, 1 min, 10 min, 1 h, 6 h, then every 6 h apart: a target down
    /// for 31 hours is caught up without an operator (a termination: 72 hours).
    fn default() -> Self {
        let secs = [10, 60, 600, 3600, 6 * 3600];
        Self {
            concurrency: 16,
            batch_size: 32,
            max_attempts: 10,
            quick_retries: 2,
            scheduler_interval: Duration::from_secs(1),
            retry_delays: secs.into_iter().map(Duration::from_secs).collect(),
            termination_retry_for: Duration::from_secs(72 * 3600),
            stall_timeout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    #[serde(with = "humantime_serde")]
    pub deprovision_sla: Duration,
    /// When a date-only termination takes effect: `end_of_day`, `start_of_day` or `exact`.
    pub termination_time: TerminationTime,
    /// IANA time zone for date-only terminations, e.g. `Europe/Paris`.
    #[serde(deserialize_with = "time_zone")]
    pub time_zone: chrono_tz::Tz,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            deprovision_sla: Duration::from_secs(15 * 60),
            termination_time: TerminationTime::default(),
            time_zone: chrono_tz::UTC,
        }
    }
}

/// `[guard]`: the mass-change guard. Terminations of one source beyond these limits within
/// `window` (webhooks and reconcile runs alike) are held for an operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// More than this many terminations in the window are held, whatever the fraction.
    pub max_terminations: u32,
    /// From this many on, more than `max_fraction` of the source's active employees are held.
    pub min_terminations: u32,
    pub max_fraction: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(3600),
            max_terminations: 50,
            min_terminations: 10,
            max_fraction: 0.2,
        }
    }
}

/// When a termination dated without a time of day takes effect (`audit.termination_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationTime {
    /// Access lasts through the termination date (the common HR meaning of "last day").
    #[default]
    EndOfDay,
    StartOfDay,
    /// The date or timestamp exactly as sent (a date means midnight UTC).
    Exact,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub secrets: Vec<Secret>,
    /// `secrets` decoded as the sender's scheme says, once, when the config is read.
    #[serde(skip)]
    keys: Vec<SigningKey>,
    #[serde(default, with = "humantime_serde")]
    pub tolerance: Option<Duration>,
    /// The sender's API, to fetch the full record of thin events.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// Reconcile with the sender's employee list this often (off when absent).
    #[serde(default, with = "humantime_serde")]
    pub reconcile_every: Option<Duration>,
}

/// `[[sources]] api = { base_url, token, company?, user?, account_token?, timeout? }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub base_url: String,
    pub token: Secret,
    /// BambooHR's company domain (`{company}.bamboohr.com`).
    #[serde(default)]
    pub company: Option<String>,
    /// HiBob's service user id (the token is its password).
    #[serde(default)]
    pub user: Option<String>,
    /// Merge's linked-account token (`X-Account-Token`); the token is the API key.
    #[serde(default)]
    pub account_token: Option<Secret>,
    /// WorkOS: the directory whose users a reconcile run lists.
    #[serde(default)]
    pub directory: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

impl ApiConfig {
    /// What each sender's API needs besides `base_url` and `token`.
    pub fn check(&self, kind: SourceKind) -> Result<(), String> {
        match kind {
            SourceKind::Hibob if self.user.is_none() => {
                Err("`user` (the service user id) is required for HiBob".into())
            }
            SourceKind::Merge if self.account_token.is_none() => {
                Err("`account_token` (the linked account's token) is required for Merge".into())
            }
            SourceKind::Bamboohr if self.company.is_none() => Err(
                "`company` is required for BambooHR (the `{company}.bamboohr.com` domain)".into(),
            ),
            _ => Ok(()),
        }
    }
}

impl SourceConfig {
    /// Whether provisiond can reconcile this source: it reads the sender's employee list.
    pub fn check_reconcile(&self) -> Result<(), String> {
        let Some(api) = &self.api else {
            return Err("needs the source's `api` (the sender's employee list)".into());
        };
        match self.kind {
            SourceKind::Finch | SourceKind::StandardWebhooks => Err(format!(
                "`{}` has no employee list provisiond reads",
                self.kind
            )),
            SourceKind::Workos if api.directory.is_none() => {
                Err("WorkOS needs `api.directory` (the directory whose users are listed)".into())
            }
            SourceKind::Gusto if api.company.is_none() => {
                Err("Gusto needs `api.company` (the company UUID)".into())
            }
            _ => Ok(()),
        }
    }

    /// The timestamp window: the configured one, else the scheme's default.
    pub fn effective_tolerance(&self) -> Option<Duration> {
        self.tolerance.or(self.kind.default_tolerance())
    }

    /// The decoded `secrets` (empty until the config is read through [`Config`]).
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }
}

/// A configuration problem, always naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file `{0}` does not exist")]
    MissingFile(PathBuf),
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
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
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
        config.decode_keys()?;
        Ok(config)
    }

    /// Decode every source's secrets into its signing keys; an error names the secret.
    fn decode_keys(&mut self) -> Result<(), ConfigError> {
        for (i, source) in self.sources.iter_mut().enumerate() {
            let decoded = source.secrets.iter().enumerate().map(|(j, secret)| {
                SigningKey::from_secret(source.kind, secret.expose())
                    .map_err(|e| invalid(format!("sources[{i}].secrets[{j}]"), e))
            });
            source.keys = decoded.collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_queues()?;
        self.validate_sources()?;
        self.validate_targets()?;
        self.validate_guard()?;
        Ok(())
    }

    fn validate_guard(&self) -> Result<(), ConfigError> {
        let guard = &self.guard;
        if !(guard.max_fraction > 0.0 && guard.max_fraction <= 1.0) {
            return Err(invalid("guard.max_fraction", "must be in (0, 1]"));
        }
        if guard.window.is_zero() {
            return Err(invalid("guard.window", "must be greater than 0"));
        }
        if guard.max_terminations == 0 {
            return Err(invalid("guard.max_terminations", "must be greater than 0"));
        }
        Ok(())
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        self.validate_server_limits()?;
        self.validate_tokens()?;
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid("database.url", "must start with postgres://"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be greater than 0",
            ));
        }
        Ok(())
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
        let named = self.server.tokens.iter();
        let mut tokens: Vec<_> = named.map(|t| (t.name.as_str(), t.role, &t.token)).collect();
        if let Some(token) = &self.server.admin_token {
            tokens.push((ADMIN_TOKEN_NAME, AdminRole::Operator, token));
        }
        tokens
    }

    fn validate_tokens(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.server.admin_token {
            if token.expose().len() < MIN_TOKEN_LEN {
                return Err(invalid(
                    "server.admin_token",
                    "must be at least 16 characters",
                ));
            }
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = &self.server.admin_token {
            seen.push((ADMIN_TOKEN_NAME, token.expose()));
        }
        for (i, entry) in self.server.tokens.iter().enumerate() {
            let key = |field: &str| format!("server.tokens[{i}].{field}");
            let name = entry.name.as_str();
            let allowed = |c: char| c.is_ascii_alphanumeric() || "._@-".contains(c);
            if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
                let message = "must be 1 to 64 letters, digits or `. _ @ -`";
                return Err(invalid(key("name"), message));
            }
            if name.eq_ignore_ascii_case(crate::domain::SYSTEM_ACTOR) {
                let message = "`provisiond` is the actor of what provisiond does itself";
                return Err(invalid(key("name"), message));
            }
            if entry.token.expose().len() < MIN_TOKEN_LEN {
                return Err(invalid(key("token"), "must be at least 16 characters"));
            }
            for (other, token) in &seen {
                if other.eq_ignore_ascii_case(name) {
                    let message = if name.eq_ignore_ascii_case(ADMIN_TOKEN_NAME) {
                        "`admin` is the name of server.admin_token; choose another".to_owned()
                    } else {
                        format!("`{name}` is used by another token")
                    };
                    return Err(invalid(key("name"), message));
                }
                if *token == entry.token.expose() {
                    let message = format!("is the same as the token of `{other}`");
                    return Err(invalid(key("token"), message));
                }
            }
            seen.push((name, entry.token.expose()));
        }
        Ok(())
    }

    /// The receiver's limits against hostile traffic (see docs/security.md).
    fn validate_server_limits(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        let positive = [
            ("server.max_body_bytes", server.max_body_bytes),
            ("server.max_connections", server.max_connections),
            ("server.max_inflight_bytes", server.max_inflight_bytes),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(invalid(*key, "must be greater than 0"));
        }
        if server.header_timeout.is_zero() {
            return Err(invalid("server.header_timeout", "must be greater than 0"));
        }
        if server.max_inflight_bytes < server.max_body_bytes {
            return Err(invalid(
                "server.max_inflight_bytes",
                format!(
                    "must be at least server.max_body_bytes ({})",
                    server.max_body_bytes
                ),
            ));
        }
        if server.ops_listen == Some(server.listen) && server.listen.port() != 0 {
            return Err(invalid(
                "server.ops_listen",
                "must differ from server.listen",
            ));
        }
        Ok(())
    }

    fn validate_queues(&self) -> Result<(), ConfigError> {
        let url = self.rabbitmq.url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(invalid(
                "rabbitmq.url",
                "must start with amqp:// or amqps://",
            ));
        }
        let prefix = &self.rabbitmq.prefix;
        if prefix.is_empty() || !prefix.chars().all(is_name_char) {
            return Err(invalid(
                "rabbitmq.prefix",
                "must be non-empty and use only letters, digits, '.', '-' and '_'",
            ));
        }
        if self.rabbitmq.prefetch == 0 {
            return Err(invalid("rabbitmq.prefetch", "must be greater than 0"));
        }
        if self.rabbitmq.delivery_limit == 0 {
            return Err(invalid("rabbitmq.delivery_limit", "must be greater than 0"));
        }
        if let Some(key) = &self.rabbitmq.message_key {
            if key.expose().len() < MIN_MESSAGE_KEY_LEN {
                let message = format!("must be at least {MIN_MESSAGE_KEY_LEN} characters");
                return Err(invalid("rabbitmq.message_key", message));
            }
        }
        for (i, key) in self.rabbitmq.previous_message_keys.iter().enumerate() {
            if key.expose().len() < MIN_MESSAGE_KEY_LEN {
                let message = format!("must be at least {MIN_MESSAGE_KEY_LEN} characters");
                return Err(invalid(
                    format!("rabbitmq.previous_message_keys[{i}]"),
                    message,
                ));
            }
        }
        if self.worker.concurrency == 0 {
            return Err(invalid("worker.concurrency", "must be greater than 0"));
        }
        if self.worker.batch_size == 0 {
            return Err(invalid("worker.batch_size", "must be greater than 0"));
        }
        if self.worker.max_attempts == 0 {
            return Err(invalid("worker.max_attempts", "must be greater than 0"));
        }
        if self.worker.retry_delays.is_empty() {
            return Err(invalid(
                "worker.retry_delays",
                "at least one delay is required",
            ));
        }
        if self.worker.retry_delays.iter().any(Duration::is_zero) {
            return Err(invalid(
                "worker.retry_delays",
                "delays must be greater than 0",
            ));
        }
        if self.worker.stall_timeout.is_zero() {
            return Err(invalid("worker.stall_timeout", "must be greater than 0"));
        }
        Ok(())
    }

    fn validate_sources(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = |field: &str| format!("sources[{i}].{field}");
            if source.name.is_empty() || !source.name.chars().all(is_name_char) {
                return Err(invalid(
                    key("name"),
                    "must be non-empty and use only letters, digits, '.', '-' and '_'",
                ));
            }
            if !seen.insert(source.name.as_str()) {
                let msg = format!("duplicate source name `{}`", source.name);
                return Err(invalid(key("name"), msg));
            }
            // Gusto's key is the verification token it posts once the subscription exists,
            // so a gusto source may start without one (deliveries are refused until then).
            if source.secrets.is_empty() && source.kind != SourceKind::Gusto {
                return Err(invalid(key("secrets"), "at least one secret is required"));
            }
            if source.tolerance.is_some() && source.kind.default_tolerance().is_none() {
                let kind = source.kind;
                let message = format!(
                    "`{kind}` deliveries carry no timestamp, so a tolerance would protect \
                     nothing: remove it (replays of such senders are stopped by the inbox)"
                );
                return Err(invalid(key("tolerance"), message));
            }
            if let Some(api) = &source.api {
                let url = reqwest::Url::parse(&api.base_url)
                    .map_err(|e| invalid(key("api.base_url"), format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(key("api.base_url"), "must be http or https"));
                }
                api.check(source.kind).map_err(|e| invalid(key("api"), e))?;
            }
            if let Some(every) = source.reconcile_every {
                if every < Duration::from_secs(60) {
                    return Err(invalid(key("reconcile_every"), "must be at least 1m"));
                }
                source
                    .check_reconcile()
                    .map_err(|e| invalid(key("reconcile_every"), e))?;
            }
        }
        Ok(())
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

fn time_zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<chrono_tz::Tz, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("unknown time zone `{text}`")))
}

fn durations<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    let parse = |t: &String| humantime::parse_duration(t).map_err(serde::de::Error::custom);
    texts.iter().map(parse).collect()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}
