//! `[[targets]]`: a `name`, a `kind` and the kind's own keys, all at the same level of the
//! table. Each kind's keys are checked while the file is read, unknown ones refused, so a
//! `Config` that loads holds only targets that can be built.
//!
//! serde's `deny_unknown_fields` does not work through `flatten`, so an entry is read as a
//! table first and its kind's keys are then read from what remains. figment reads those
//! keys, which keeps the name of the key at fault in every error.

use std::fmt;
use std::time::Duration;

use figment::error::Kind as FigmentKind;
use figment::value::{Dict, Value};
use reqwest::header::HeaderValue;
use reqwest::Url;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use crate::domain::{Secret, SourceKind};
use crate::signing::SigningKey;

/// A target's per-request timeout when its entry gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[targets]]` entry.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: String,
    pub kind: TargetKind,
}

/// The entry's `kind` (`directory`, `scim` or `http`) with that kind's keys.
#[derive(Debug, Clone)]
pub enum TargetKind {
    /// provisiond's own accounts table: no keys of its own.
    Directory,
    Scim(ScimOptions),
    Http(HttpOptions),
}

/// `kind = "http"`: POST signed events to `url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOptions {
    #[serde(deserialize_with = "http_url")]
    pub url: HttpUrl,
    /// A Standard Webhooks key (`whsec_…` or base64), checked to decode.
    #[serde(deserialize_with = "webhook_secret")]
    pub secret: Secret,
    #[serde(default = "default_timeout", deserialize_with = "timeout")]
    pub timeout: Duration,
}

/// `kind = "scim"`: a SCIM 2.0 app under `base_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimOptions {
    #[serde(deserialize_with = "scim_base_url")]
    pub base_url: HttpUrl,
    /// The bearer token: not blank, and fit for an HTTP header.
    #[serde(deserialize_with = "bearer_token")]
    pub token: Secret,
    #[serde(default)]
    pub deprovision: Deprovision,
    #[serde(default = "default_timeout", deserialize_with = "timeout")]
    pub timeout: Duration,
}

/// What a termination does to the SCIM user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deprovision {
    /// PATCH `active = false`: the account stays, unable to sign in (the default).
    #[default]
    Deactivate,
    /// DELETE the user.
    Delete,
}

/// An absolute `http` or `https` URL with a host. Its `Debug` hides a password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl(Url);

impl HttpUrl {
    /// `None` unless `text` (surrounding spaces ignored) is an http(s) URL with a host.
    pub fn parse(text: &str) -> Option<HttpUrl> {
        let url = Url::parse(text.trim()).ok()?;
        let web = matches!(url.scheme(), "http" | "https");
        let host = url.host_str().is_some_and(|h| !h.is_empty());
        (web && host).then_some(HttpUrl(url))
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("<redacted>"));
        }
        fmt::Debug::fmt(shown.as_str(), f)
    }
}

/// The kinds' names, as `kind` spells them.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum KindName {
    Directory,
    Scim,
    Http,
}

/// A directory target has no keys besides `name` and `kind`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryOptions {}

/// A bad key of one entry. Its text, `key: message`, is what [`invalid_key`] reads back
/// from figment's error, as serde lets a `Deserialize` report nothing but text.
struct KeyError {
    key: String,
    message: String,
}

impl KeyError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> KeyError {
        let (key, message) = (key.into(), message.into());
        KeyError { key, message }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl<'de> Deserialize<'de> for TargetConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = Dict::deserialize(deserializer)?;
        TargetConfig::from_table(table).map_err(D::Error::custom)
    }
}

impl TargetConfig {
    fn from_table(mut table: Dict) -> Result<TargetConfig, KeyError> {
        let name = take(&mut table, "name")?;
        let kind = match take(&mut table, "kind")? {
            KindName::Directory => {
                options::<DirectoryOptions>(table, "a directory target")?;
                TargetKind::Directory
            }
            KindName::Scim => TargetKind::Scim(options(table, "a scim target")?),
            KindName::Http => TargetKind::Http(options(table, "an http target")?),
        };
        Ok(TargetConfig { name, kind })
    }
}

/// `targets[i].key` and the message, when figment's error is a bad key of a target entry.
pub(super) fn invalid_key(error: &figment::Error) -> Option<(String, String)> {
    let FigmentKind::Message(text) = &error.kind else {
        return None;
    };
    let [list, index] = error.path.as_slice() else {
        return None;
    };
    if list != "targets" {
        return None;
    }
    let (key, message) = text.split_once(": ")?;
    Some((format!("targets[{index}].{key}"), message.to_owned()))
}

fn take<T: DeserializeOwned>(table: &mut Dict, key: &str) -> Result<T, KeyError> {
    let value = table
        .remove(key)
        .ok_or_else(|| KeyError::new(key, "is required"))?;
    value
        .deserialize()
        .map_err(|e| KeyError::new(key, e.kind.to_string()))
}

/// The kind's keys, read by figment so that an error names the key; `what` names the kind.
fn options<T: DeserializeOwned>(table: Dict, what: &str) -> Result<T, KeyError> {
    let error = match Value::from(table).deserialize() {
        Ok(options) => return Ok(options),
        Err(error) => error,
    };
    Err(match error.kind {
        FigmentKind::MissingField(key) => KeyError::new(key, format!("is required for {what}")),
        FigmentKind::UnknownField(key, []) => KeyError::new(
            key,
            format!("unknown key for {what} (it takes only name and kind)"),
        ),
        FigmentKind::UnknownField(key, expected) => KeyError::new(
            key,
            format!("unknown key for {what} (expected {})", expected.join(", ")),
        ),
        kind if error.path.is_empty() => KeyError::new("kind", kind.to_string()),
        kind => KeyError::new(error.path.join("."), kind.to_string()),
    })
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let timeout = humantime_serde::deserialize(deserializer)?;
    if timeout == Duration::ZERO {
        return Err(D::Error::custom("must be greater than zero"));
    }
    Ok(timeout)
}

fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HttpUrl, D::Error> {
    let text = String::deserialize(deserializer)?;
    HttpUrl::parse(&text).ok_or_else(|| D::Error::custom("must be an http(s) URL"))
}

/// The base of `/Users` and `/Groups`: a query or fragment would end up in between.
fn scim_base_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HttpUrl, D::Error> {
    let text = String::deserialize(deserializer)?;
    let url = HttpUrl::parse(&text).ok_or_else(|| {
        D::Error::custom("must be an http(s) URL such as https://app.example.com/scim/v2")
    })?;
    if url.0.query().is_some() || url.0.fragment().is_some() {
        return Err(D::Error::custom("must not have a query or a fragment"));
    }
    Ok(url)
}

/// The messages of `from_secret` name the format, never the value.
fn webhook_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let secret = Secret::deserialize(deserializer)?;
    SigningKey::from_secret(SourceKind::StandardWebhooks, secret.expose())
        .map_err(D::Error::custom)?;
    Ok(secret)
}

fn bearer_token<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let token = Secret::deserialize(deserializer)?;
    if token.expose().trim().is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    if HeaderValue::from_str(&format!("Bearer {}", token.expose())).is_err() {
        let message = "must be printable text (it goes in an HTTP header)";
        return Err(D::Error::custom(message));
    }
    Ok(token)
}

impl<'de> Deserialize<'de> for Deprovision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim() {
            "deactivate" => Ok(Deprovision::Deactivate),
            "delete" => Ok(Deprovision::Delete),
            other => Err(D::Error::custom(format!(
                "must be \"deactivate\" or \"delete\", not `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
