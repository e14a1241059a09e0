//! What the HTTP-based targets (http, scim) share: their client, which statuses are worth
//! retrying, `Retry-After`, short error excerpts, and requests that got no answer.

use std::time::{Duration, SystemTime};

use chrono::DateTime;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{redirect, Client, StatusCode};

use crate::provision::error::TargetError;

const USER_AGENT: &str = concat!("provisiond/", env!("CARGO_PKG_VERSION"));

/// Error messages quote at most this many characters of a response body.
pub const EXCERPT_CHARS: usize = 200;
/// Bytes read for an excerpt (UTF-8 takes up to four bytes a character).
pub const EXCERPT_BYTES: usize = 4 * EXCERPT_CHARS;

/// A target's client: `timeout` for each request (and its connection), `headers` on every
/// request, and redirects not followed (a moved endpoint is a configuration problem).
pub fn client(timeout: Duration, headers: HeaderMap) -> Result<Client, String> {
    Client::builder()
        .default_headers(headers)
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A request that never got a (whole) answer, `what` starting the message: transient, unless
/// it could not be built. The URL is left out of the cause, as it may hold credentials.
pub fn transport_error(what: &str, timeout: Duration, error: reqwest::Error) -> TargetError {
    let failure = if error.is_timeout() {
        format!("no answer within {}", humantime::format_duration(timeout))
    } else {
        "request failed".to_string()
    };
    let unbuildable = error.is_builder();
    let message = format!("{what}: {failure}: {}", error_chain(&error.without_url()));
    if unbuildable {
        return TargetError::Permanent { message };
    }
    TargetError::Transient {
        message,
        retry_after: None,
    }
}

/// 408, 409, 429 and 5xx are worth retrying; other 4xx and 3xx are not.
pub fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS
        )
}

/// The statuses whose `Retry-After` says when to come back.
pub fn honours_retry_after(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// `Retry-After` as delay-seconds or as an HTTP date (a past date means "now").
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(at.to_utc());
    Some(at.duration_since(now).unwrap_or_default())
}

/// The start of a body, on one line, at most `EXCERPT_CHARS` characters.
pub fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(head);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    if text.chars().count() <= EXCERPT_CHARS && head.len() == body.len() {
        return text;
    }
    let mut short: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    short.push('…');
    short
}

/// An error and its causes on one line, without repeating a cause already quoted.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_design_says() {
        for code in [408, 409, 429, 500, 502, 503, 504, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(is_transient_status(status), "{code}");
        }
        for code in [300, 301, 304, 307, 400, 401, 403, 404, 410, 413, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!is_transient_status(status), "{code}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_ignores_garbage() {
        let at = DateTime::parse_from_rfc3339("2026-03-02T09:15:00Z").unwrap();
        let now = SystemTime::from(at.to_utc());
        let parse = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(parse(" 7 "), Some(Duration::from_secs(7)));
        let date = parse("Mon, 02 Mar 2026 09:16:30 GMT");
        assert_eq!(date, Some(Duration::from_secs(90)));
        let past = parse("Mon, 02 Mar 2026 09:00:00 GMT");
        assert_eq!(past, Some(Duration::ZERO));
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("-3"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn excerpts_are_one_line_and_cut_long_bodies() {
        assert_eq!(excerpt(b"  a\n b  "), "a b");
        assert_eq!(excerpt(b""), "(empty body)");
        let long = "x".repeat(EXCERPT_BYTES * 2);
        let short = excerpt(long.as_bytes());
        assert_eq!(short.chars().count(), EXCERPT_CHARS);
        assert!(short.ends_with('…'));
    }
}
