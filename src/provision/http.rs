//! The `http` target (DESIGN.md "Targets"): POST the canonical event, as provisiond's own
//! `{type, timestamp, data}` envelope, to the product's endpoint, signed with Standard Webhooks
//! headers. `webhook-id` is the event id, so a product that dedupes by it makes retries safe.
//!
//! The answer decides what happens next (DESIGN.md "Errors and retries"): 2xx is done; 408,
//! 409, 429, 5xx and transport failures are retried; any other status is permanent. Redirects
//! are not followed: a moved endpoint is a configuration problem, not something to chase.

use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::CONTENT_TYPE;
use reqwest::{redirect, Client, Response, Url};
use serde_json::{json, Map, Value};

use crate::config::{TargetConfig, TargetKind};
use crate::domain::access::Access;
use crate::domain::event::CanonicalEvent;
use crate::domain::Secret;
use crate::domain::SourceKind;
use crate::provision::error::TargetError;
use crate::provision::response::{
    self, error_chain, honours_retry_after, is_transient_status, redacted_url, retry_after,
    EXCERPT_BYTES,
};
use crate::signing::{sign, SigningKey};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("provisiond/", env!("CARGO_PKG_VERSION"));
const KNOWN_KEYS: [&str; 3] = ["url", "secret", "timeout"];

/// A configured `http` target. Its `Debug` shows neither the key nor URL credentials.
pub struct HttpTarget {
    name: String,
    url: Url,
    key: SigningKey,
    client: Client,
    timeout: Duration,
}

impl HttpTarget {
    /// Build from a `[[targets]]` entry of kind "http". Errors name the key, e.g.
    /// "url: must be an http(s) URL".
    pub fn from_config(config: &TargetConfig) -> Result<HttpTarget, String> {
        if config.kind != TargetKind::Http {
            return Err("kind: must be `http` for an http target".to_string());
        }
        let options = &config.options;
        reject_unknown_keys(options)?;
        let timeout = timeout_option(options)?;
        Ok(HttpTarget {
            name: config.name.clone(),
            url: url_option(options)?,
            key: secret_option(options)?,
            client: build_client(timeout)?,
            timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// POST the canonical event; Ok on 2xx.
    pub async fn apply(
        &self,
        source: &str,
        event_id: &str,
        event: &CanonicalEvent,
    ) -> Result<(), TargetError> {
        self.apply_with(source, event_id, event, None).await
    }

    /// POST the canonical event with what the rules decided (`data.provisioning`:
    /// role, groups, entitlements) for an active employee.
    pub async fn apply_with(
        &self,
        source: &str,
        event_id: &str,
        event: &CanonicalEvent,
        decision: Option<&Access>,
    ) -> Result<(), TargetError> {
        let mut envelope = envelope(source, event);
        if let Some(decision) = decision {
            envelope["data"]["provisioning"] = serde_json::json!({
                "rule": decision.rule,
                "role": decision.role,
                "groups": decision.groups,
                "entitlements": decision.entitlements,
            });
        }
        let body = serde_json::to_vec(&envelope)
            .map_err(|e| self.permanent(format!("cannot encode the event: {e}")))?;
        let response = self
            .signed_request(event_id, body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        self.classify(response).await
    }

    fn signed_request(&self, event_id: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let signed = sign(
            SourceKind::StandardWebhooks,
            &self.key,
            &body,
            SystemTime::now(),
            event_id,
        );
        let request = self.client.post(self.url.clone());
        signed
            .into_iter()
            .fold(request, |request, (name, value)| {
                request.header(name, value)
            })
            .header(CONTENT_TYPE, "application/json")
            .body(body)
    }

    async fn classify(&self, response: Response) -> Result<(), TargetError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = honours_retry_after(status)
            .then(|| retry_after(response.headers(), SystemTime::now()))
            .flatten();
        let message = format!(
            "http target `{}` answered {status}: {}",
            self.name,
            excerpt(response).await
        );
        if is_transient_status(status) {
            Err(TargetError::Transient {
                message,
                retry_after,
            })
        } else {
            Err(TargetError::Permanent { message })
        }
    }

    /// A request that never got an answer. Only a request that cannot be built (an event id
    /// that is no valid header value) is permanent; the URL is left out, as it may hold
    /// credentials.
    fn transport_error(&self, error: reqwest::Error) -> TargetError {
        let what = if error.is_timeout() {
            format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )
        } else {
            "request failed".to_string()
        };
        let unbuildable = error.is_builder();
        let message = format!(
            "http target `{}`: {what}: {}",
            self.name,
            error_chain(&error.without_url())
        );
        if unbuildable {
            return TargetError::Permanent { message };
        }
        TargetError::Transient {
            message,
            retry_after: None,
        }
    }

    fn permanent(&self, detail: String) -> TargetError {
        let message = format!("http target `{}`: {detail}", self.name);
        TargetError::Permanent { message }
    }
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTarget")
            .field("name", &self.name)
            .field("url", &redacted_url(&self.url))
            .field("key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The JSON body posted (also useful to tests): provisiond's canonical envelope, the same
/// shape its `standard-webhooks` sources accept, so a product can use one parser.
pub fn envelope(source: &str, event: &CanonicalEvent) -> Value {
    json!({
        "type": format!("employee.{}", event.kind.as_str()),
        "timestamp": rfc3339(event.occurred_at),
        "data": envelope_data(source, event),
    })
}

fn envelope_data(source: &str, event: &CanonicalEvent) -> Value {
    let a = &event.attributes;
    let status = if event.kind.is_active() {
        "active"
    } else {
        "terminated"
    };
    json!({
        "source": source,
        "id": event.employee_id,
        "email": a.email,
        "given_name": a.given_name,
        "family_name": a.family_name,
        "display_name": a.display_name,
        "department": a.department,
        "title": a.title,
        "manager_id": a.manager_id,
        "location": a.location,
        "start_date": a.start_date,
        "status": status,
        "effective_at": event.effective_at.map(rfc3339),
        "termination_date": event.effective_at.map(rfc3339),
    })
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn reject_unknown_keys(options: &Map<String, Value>) -> Result<(), String> {
    match options.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "{key}: unknown key for an http target (expected url, secret, timeout)"
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
    string_option(options, key)?.ok_or_else(|| format!("{key}: is required for an http target"))
}

fn url_option(options: &Map<String, Value>) -> Result<Url, String> {
    let invalid = || "url: must be an http(s) URL".to_string();
    let url = Url::parse(required(options, "url")?.trim()).map_err(|_| invalid())?;
    let web = matches!(url.scheme(), "http" | "https");
    if !web || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(url)
}

/// The messages of `resolve` and `from_secret` name variables, paths and formats, never the
/// value.
fn secret_option(options: &Map<String, Value>) -> Result<SigningKey, String> {
    let secret =
        Secret::resolve(required(options, "secret")?).map_err(|e| format!("secret: {e}"))?;
    SigningKey::from_secret(SourceKind::StandardWebhooks, secret.expose())
        .map_err(|e| format!("secret: {e}"))
}

fn timeout_option(options: &Map<String, Value>) -> Result<Duration, String> {
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

fn build_client(timeout: Duration) -> Result<Client, String> {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The start of the response body (at most `EXCERPT_BYTES` are read), on one line.
async fn excerpt(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => return "(body unreadable)".to_string(),
        }
    }
    response::excerpt(&bytes)
}

#[cfg(test)]
mod tests;
