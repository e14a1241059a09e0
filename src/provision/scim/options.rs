//! The keys of a `[[targets]]` entry of kind "scim". Every error starts with the key's name.

use std::time::Duration;

use reqwest::Url;
use serde_json::{Map, Value};

use super::Deprovision;
use crate::domain::Secret;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const KNOWN_KEYS: [&str; 4] = ["base_url", "token", "deprovision", "timeout"];

pub fn reject_unknown_keys(options: &Map<String, Value>) -> Result<(), String> {
    match options.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "{key}: unknown key for a scim target (expected base_url, token, deprovision, \
             timeout)"
        )),
        None => Ok(()),
    }
}

/// A string option; `Ok(None)` when absent.
fn string_option<'a>(
    options: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{key}: must be a string")),
    }
}

fn required<'a>(options: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    string_option(options, key)?.ok_or_else(|| format!("{key}: is required for a scim target"))
}

pub fn base_url(options: &Map<String, Value>) -> Result<Url, String> {
    let invalid = || "base_url: must be an http(s) URL such as https://app.example.com/scim/v2";
    let url = Url::parse(required(options, "base_url")?.trim()).map_err(|_| invalid())?;
    let web = matches!(url.scheme(), "http" | "https");
    if !web || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid().to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("base_url: must not have a query or a fragment".to_string());
    }
    Ok(url)
}

/// The messages of `resolve` name variables and paths, never the value.
pub fn token(options: &Map<String, Value>) -> Result<Secret, String> {
    let token = Secret::resolve(required(options, "token")?).map_err(|e| format!("token: {e}"))?;
    if token.expose().trim().is_empty() {
        return Err("token: must not be empty".to_string());
    }
    Ok(token)
}

pub fn deprovision(options: &Map<String, Value>) -> Result<Deprovision, String> {
    match string_option(options, "deprovision")?.map(str::trim) {
        None | Some("deactivate") => Ok(Deprovision::Deactivate),
        Some("delete") => Ok(Deprovision::Delete),
        Some(other) => Err(format!(
            "deprovision: must be \"deactivate\" or \"delete\", not `{other}`"
        )),
    }
}

pub fn timeout(options: &Map<String, Value>) -> Result<Duration, String> {
    let Some(raw) = string_option(options, "timeout")? else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let timeout = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("timeout: `{raw}` is not a duration such as \"10s\" ({e})"))?;
    if timeout.is_zero() {
        return Err("timeout: must be greater than zero".to_string());
    }
    Ok(timeout)
}
