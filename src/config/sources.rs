//! `[[sources]]`: the senders whose webhooks are accepted, their keys and their APIs.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::{check_name, invalid, ConfigError};
use crate::domain::{Secret, SourceKind};
use crate::signing::SigningKey;

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
    ///
    /// [`Config`]: super::Config
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Everything but the name; `key` names a field of this entry.
    fn validate(&self, key: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        // Gusto's key is the verification token it posts once the subscription exists,
        // so a gusto source may start without one (deliveries are refused until then).
        if self.secrets.is_empty() && self.kind != SourceKind::Gusto {
            return Err(invalid(key("secrets"), "at least one secret is required"));
        }
        if self.tolerance.is_some() && self.kind.default_tolerance().is_none() {
            let kind = self.kind;
            let message = format!(
                "`{kind}` deliveries carry no timestamp, so a tolerance would protect \
                 nothing: remove it (replays of such senders are stopped by the inbox)"
            );
            return Err(invalid(key("tolerance"), message));
        }
        if let Some(api) = &self.api {
            let url = reqwest::Url::parse(&api.base_url)
                .map_err(|e| invalid(key("api.base_url"), format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(invalid(key("api.base_url"), "must be http or https"));
            }
            api.check(self.kind).map_err(|e| invalid(key("api"), e))?;
        }
        if let Some(every) = self.reconcile_every {
            if every < Duration::from_secs(60) {
                return Err(invalid(key("reconcile_every"), "must be at least 1m"));
            }
            self.check_reconcile()
                .map_err(|e| invalid(key("reconcile_every"), e))?;
        }
        Ok(())
    }
}

/// Every source valid, each under its own name.
pub(super) fn validate(sources: &[SourceConfig]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, source) in sources.iter().enumerate() {
        let key = |field: &str| format!("sources[{i}].{field}");
        check_name(key("name"), &source.name)?;
        if !seen.insert(source.name.as_str()) {
            let msg = format!("duplicate source name `{}`", source.name);
            return Err(invalid(key("name"), msg));
        }
        source.validate(key)?;
    }
    Ok(())
}

/// Decode every source's secrets into its signing keys; an error names the secret.
pub(super) fn decode_keys(sources: &mut [SourceConfig]) -> Result<(), ConfigError> {
    for (i, source) in sources.iter_mut().enumerate() {
        let decoded = source.secrets.iter().enumerate().map(|(j, secret)| {
            SigningKey::from_secret(source.kind, secret.expose())
                .map_err(|e| invalid(format!("sources[{i}].secrets[{j}]"), e))
        });
        source.keys = decoded.collect::<Result<_, _>>()?;
    }
    Ok(())
}
