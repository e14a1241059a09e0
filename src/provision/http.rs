//! The `http` target (docs/targets.md): POST the canonical event, as provisiond's own
//! `{type, timestamp, data}` envelope, to the product's endpoint, signed with Standard Webhooks
//! headers. `webhook-id` is the event id, so a product that dedupes by it makes retries safe.
//!
//! The answer decides what happens next (docs/operations.md, retries): 2xx is done; 408,
//! 409, 429, 5xx and transport failures are retried; any other status is permanent. Redirects
//! are not followed: a moved endpoint is a configuration problem, not something to chase.

use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::config::targets::{HttpOptions, HttpUrl};
use crate::domain::access::Access;
use crate::domain::event::CanonicalEvent;
use crate::domain::SourceKind;
use crate::provision::error::TargetError;
use crate::provision::response::{
    self, honours_retry_after, is_transient_status, retry_after, transport_error, EXCERPT_BYTES,
};
use crate::signing::{sign, SigningKey};

/// A configured `http` target. Its `Debug` shows neither the key nor URL credentials.
pub struct HttpTarget {
    name: String,
    url: HttpUrl,
    key: SigningKey,
    client: Client,
    timeout: Duration,
}

impl HttpTarget {
    /// The `[[targets]]` entry `name` of kind "http"; only building the client can fail.
    pub fn new(name: &str, options: &HttpOptions) -> Result<HttpTarget, String> {
        let secret = options.secret.expose();
        let key = SigningKey::from_secret(SourceKind::StandardWebhooks, secret)
            .map_err(|e| format!("secret: {e}"))?;
        Ok(HttpTarget {
            name: name.to_string(),
            url: options.url.clone(),
            key,
            client: response::client(options.timeout, HeaderMap::new())?,
            timeout: options.timeout,
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
            .map_err(|e| transport_error(&self.describe(), self.timeout, e))?;
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
        let request = self.client.post(self.url.url().clone());
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

    /// "http target `name`", the start of every message about this target.
    fn describe(&self) -> String {
        format!("http target `{}`", self.name)
    }

    fn permanent(&self, detail: String) -> TargetError {
        let message = format!("{}: {detail}", self.describe());
        TargetError::Permanent { message }
    }
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTarget")
            .field("name", &self.name)
            .field("url", &self.url)
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
