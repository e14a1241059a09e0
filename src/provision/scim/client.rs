//! The HTTP side of the SCIM target: one authenticated client per target, URLs under the
//! base URL, and the classification of answers (docs/operations.md, retries), the same as
//! the `http` target's: 2xx is success; 408, 409, 429, 5xx and transport failures are
//! transient; any other status is permanent. Redirects are not followed.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::config::targets::HttpUrl;
use crate::domain::Secret;
use crate::provision::error::TargetError;
use crate::provision::response::{
    self, excerpt, honours_retry_after, is_transient_status, retry_after, transport_error,
};

pub const SCIM_JSON: &str = "application/scim+json";

pub struct ScimClient {
    target: String,
    base: HttpUrl,
    http: reqwest::Client,
    timeout: Duration,
}

impl ScimClient {
    /// The token only goes into a default header marked sensitive; errors name the key.
    pub fn new(
        target: &str,
        base: HttpUrl,
        token: &Secret,
        timeout: Duration,
    ) -> Result<ScimClient, String> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "token: must be printable text (it goes in an HTTP header)")?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static(SCIM_JSON));
        let http = response::client(timeout, headers)?;
        Ok(ScimClient {
            target: target.to_string(),
            base,
            http,
            timeout,
        })
    }

    pub fn base(&self) -> &HttpUrl {
        &self.base
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The base URL with `segments` appended, each percent-encoded as one segment.
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.url().clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `GET {resource}?filter=…`, the filter percent-encoded (spaces as `%20`, not `+`).
    pub fn search(&self, resource: &str, filter: &str) -> Url {
        let mut url = self.endpoint(&[resource]);
        url.set_query(Some(&format!("filter={}", percent_encode(filter))));
        url
    }

    /// Send one request and read its answer, whatever its status. Only a request that got no
    /// answer is an error here.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer, TargetError> {
        let what = format!("scim target `{}`: {method} {}", self.target, url.path());
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| TargetError::Permanent {
                message: format!("{what}: cannot encode the request: {e}"),
            })?;
            request = request.header(CONTENT_TYPE, SCIM_JSON).body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&what, self.timeout, e))?;
        let status = response.status();
        let retry_after = honours_retry_after(status)
            .then(|| retry_after(response.headers(), SystemTime::now()))
            .flatten();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&what, self.timeout, e))?;
        Ok(Answer {
            what,
            status,
            retry_after,
            body,
        })
    }
}

/// A server's answer to one request, kept whole so the caller can look at the status first.
#[derive(Debug)]
pub struct Answer {
    /// "scim target `name`: METHOD /path", the start of every message about this request.
    what: String,
    pub status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl Answer {
    /// Ok for a 2xx answer, else the classified error.
    pub fn success(self) -> Result<Answer, TargetError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.into_error())
        }
    }

    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Result<Value, TargetError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|_| {
            self.permanent(format!(
                "answered {} with a body that is not JSON: {}",
                self.status,
                excerpt(&self.body)
            ))
        })
    }

    /// An error about this request that retrying cannot fix, e.g. an unexpected answer.
    pub fn permanent(&self, detail: impl std::fmt::Display) -> TargetError {
        TargetError::Permanent {
            message: format!("{}: {detail}", self.what),
        }
    }

    /// An error about this request worth retrying later.
    pub fn transient(&self, detail: impl std::fmt::Display) -> TargetError {
        TargetError::Transient {
            message: format!("{}: {detail}", self.what),
            retry_after: None,
        }
    }

    /// The error a non-2xx answer stands for.
    pub fn into_error(self) -> TargetError {
        let message = format!(
            "{} answered {}: {}",
            self.what,
            self.status,
            excerpt(&self.body)
        );
        if is_transient_status(self.status) {
            TargetError::Transient {
                message,
                retry_after: self.retry_after,
            }
        } else {
            TargetError::Permanent { message }
        }
    }
}

/// Every byte but the RFC 3986 unreserved characters as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}
