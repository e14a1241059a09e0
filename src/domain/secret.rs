//! Secrets read from the configuration: resolved once, never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A secret value: inline, `env:VAR` or `file:/path`, resolved when the config is read.
/// Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: &str) -> Self {
        Secret(SecretString::from(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Resolve `env:VAR` and `file:/path` references; anything else is the value itself.
    pub fn resolve(raw: &str) -> Result<Secret, String> {
        if let Some(var) = raw.strip_prefix("env:") {
            let value = std::env::var(var)
                .map_err(|_| format!("environment variable `{var}` is not set"))?;
            return Ok(Secret::new(&value));
        }
        if let Some(path) = raw.strip_prefix("file:") {
            let value = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?;
            return Ok(Secret::new(value.trim_end_matches(['\r', '\n'])));
        }
        Ok(Secret::new(raw))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Secret::resolve(&raw).map_err(serde::de::Error::custom)
    }
}
