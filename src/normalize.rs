//! Maps each sender's payload to the canonical event (docs/senders.md).
//!
//! Termination is read from state as well as from event names, because most senders report a
//! leaver as an update. Payloads that are valid but not about an employee are `Ignored`.

mod bamboohr;
pub mod deel;
mod envelope;
mod finch;
mod gusto;
mod hibob;
pub(crate) mod merge;
pub(crate) mod workos;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::domain::event::{Attributes, EventKind, NormalizeError, Normalized};
use crate::domain::SourceKind;

/// Maps a verified body from a source of `kind` to a canonical event.
pub fn normalize(
    kind: SourceKind,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    if kind == SourceKind::Hibob && hibob::is_plain_ping(body) {
        return Ok(ignored("Ping test", "HiBob connection test"));
    }
    let payload: Value = serde_json::from_slice(body)?;
    let normalized = match kind {
        SourceKind::StandardWebhooks => envelope::normalize(&payload, received_at),
        SourceKind::Merge => merge::normalize(&payload, received_at),
        SourceKind::Workos => workos::normalize(&payload, received_at),
        SourceKind::Bamboohr => bamboohr::normalize(&payload, received_at),
        SourceKind::Gusto => gusto::normalize(&payload, received_at),
        SourceKind::Hibob => hibob::normalize(&payload, received_at),
        SourceKind::Deel => deel::normalize(&payload, received_at),
        SourceKind::Finch => finch::normalize(&payload, received_at),
    }?;
    let normalized = match normalized {
        Normalized::Employee(mut event) => {
            without_nul(&mut event.attributes);
            Normalized::Employee(event)
        }
        other => other,
    };
    match &normalized {
        Normalized::Employee(event) => check_employee_id(&event.employee_id)?,
        Normalized::DirectoryDeleted { directory_id, .. } => check_employee_id(directory_id)?,
        Normalized::Ignored { .. } => {}
    }
    Ok(normalized)
}

/// The employee id is a key everywhere (rows, dead letters, SCIM `externalId`): control
/// characters (PostgreSQL refuses NUL in text) make it unusable, so it is refused here.
fn check_employee_id(id: &str) -> Result<(), NormalizeError> {
    if id.chars().any(char::is_control) {
        let detail = "contains control characters".to_owned();
        return Err(NormalizeError::Invalid {
            field: "employee id",
            detail,
        });
    }
    Ok(())
}

/// An accepted body that is not about an employee. The sender's event name is stored and
/// shown as a label, so its control characters (a NUL PostgreSQL refuses, an escape
/// sequence for a terminal) are written as `\u{…}` escapes.
/// PostgreSQL stores no NUL in `text` or `jsonb`: an event whose attributes held one could
/// not be stored, and a leaver's termination would fail with it. NUL becomes U+FFFD in
/// every attribute text and everywhere in `data` (values and keys).
fn without_nul(attributes: &mut Attributes) {
    let texts = [
        &mut attributes.email,
        &mut attributes.given_name,
        &mut attributes.family_name,
        &mut attributes.display_name,
        &mut attributes.department,
        &mut attributes.title,
        &mut attributes.manager_id,
        &mut attributes.location,
        &mut attributes.start_date,
        &mut attributes.employment_status,
    ];
    texts.into_iter().flatten().for_each(replace_nul);
    replace_nul_in_json(&mut attributes.data);
}

fn replace_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{fffd}");
    }
}

/// Depth is bounded by `serde_json`'s recursion limit on the body this was parsed from.
fn replace_nul_in_json(value: &mut Value) {
    match value {
        Value::String(text) => replace_nul(text),
        Value::Array(items) => items.iter_mut().for_each(replace_nul_in_json),
        Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, value)| (key.replace('\0', "\u{fffd}"), value))
                    .collect();
            }
            map.values_mut().for_each(replace_nul_in_json);
        }
        _ => {}
    }
}

fn ignored(event_name: &str, reason: &str) -> Normalized {
    Normalized::Ignored {
        event_name: printable(event_name),
        reason: reason.to_string(),
    }
}

fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The generic verbs senders use, matched case-insensitively with their synonyms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Created,
    Updated,
    Deleted,
}

impl Verb {
    fn parse(verb: &str) -> Option<Verb> {
        match verb.to_ascii_lowercase().as_str() {
            "added" | "created" => Some(Verb::Created),
            "changed" | "updated" => Some(Verb::Updated),
            "removed" | "deleted" => Some(Verb::Deleted),
            _ => None,
        }
    }

    fn kind(self) -> EventKind {
        match self {
            Verb::Created => EventKind::Created,
            Verb::Updated => EventKind::Updated,
            Verb::Deleted => EventKind::Terminated,
        }
    }
}

/// A string or number field as text; empty strings count as absent.
fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of `keys` present in `value`, as text.
fn first_text(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| text(value, key))
}

/// The employee id: required for every employee event.
fn required_id(
    value: &Value,
    keys: &[&str],
    field: &'static str,
) -> Result<String, NormalizeError> {
    first_text(value, keys).ok_or(NormalizeError::Missing(field))
}

/// The sender's employee object; an event without one has nothing to map.
fn object<'a>(
    value: &'a Value,
    key: &str,
    field: &'static str,
) -> Result<&'a Value, NormalizeError> {
    value
        .get(key)
        .filter(|v| v.is_object())
        .ok_or(NormalizeError::Missing(field))
}

fn status_is(value: &Value, key: &str, states: &[&str]) -> bool {
    text(value, key).is_some_and(|s| states.iter().any(|st| s.eq_ignore_ascii_case(st)))
}

/// An optional timestamp field: absent or null is `None`, anything unparseable is an error.
/// Strings may be RFC 3339, offset without colon, naive (taken as UTC) or a plain date
/// (midnight UTC); numbers are Unix seconds.
fn time(
    value: &Value,
    key: &str,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, NormalizeError> {
    let invalid = |detail: String| NormalizeError::Invalid { field, detail };
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s)
            .map(Some)
            .ok_or_else(|| invalid(format!("`{s}` is not a timestamp"))),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .map(Some)
            .ok_or_else(|| invalid(format!("{n} is not a Unix timestamp"))),
        Some(other) => Err(invalid(format!("expected a timestamp, got {other}"))),
    }
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod test_support {
    use super::*;
    use crate::domain::event::CanonicalEvent;

    pub fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub fn received() -> DateTime<Utc> {
        at("2026-04-01T12:00:00Z")
    }

    pub fn run(kind: SourceKind, body: &str) -> Result<Normalized, NormalizeError> {
        normalize(kind, body.as_bytes(), received())
    }

    pub fn employee(result: Result<Normalized, NormalizeError>) -> CanonicalEvent {
        match result.unwrap() {
            Normalized::Employee(event) => event,
            other => panic!("expected an employee event, got {other:?}"),
        }
    }

    pub fn ignored_name(result: Result<Normalized, NormalizeError>) -> String {
        match result.unwrap() {
            Normalized::Ignored { event_name, .. } => event_name,
            other => panic!("expected an ignored event, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_every_common_shape_parse() {
        let expected = "2026-03-31T06:12:44Z".parse::<DateTime<Utc>>().unwrap();
        for s in [
            "2026-03-31T06:12:44Z",
            "2026-03-31T06:12:44.000Z",
            "2026-03-31T08:12:44+02:00",
            "2026-03-31T06:12:44+0000",
            "2026-03-31T06:12:44",
        ] {
            assert_eq!(parse_time(s), Some(expected), "{s}");
        }
        let midnight = "2026-03-31T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(parse_time("2026-03-31"), Some(midnight));
        assert_eq!(
            time(&json!({"t": 1774937564}), "t", "t").unwrap(),
            Some(expected)
        );
    }

    #[test]
    fn an_unparseable_timestamp_is_invalid_and_null_is_absent() {
        let err = time(&json!({"t": "next tuesday"}), "t", "timestamp").unwrap_err();
        assert!(matches!(
            err,
            NormalizeError::Invalid {
                field: "timestamp",
                ..
            }
        ));
        assert_eq!(time(&json!({"t": null}), "t", "t").unwrap(), None);
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error_for_every_kind() {
        for kind in SourceKind::ALL {
            let result = normalize(kind, b"<html>", Utc::now());
            assert!(matches!(result, Err(NormalizeError::Json(_))), "{kind}");
        }
    }

    #[test]
    fn an_ignored_event_name_keeps_no_control_character() {
        let body = br#"{"type":"ping\u0000\u007f\u001b[31m","data":{}}"#;
        let result = normalize(SourceKind::StandardWebhooks, body, Utc::now());
        let Ok(Normalized::Ignored { event_name, .. }) = result else {
            panic!("expected an ignored event, got {result:?}");
        };
        assert_eq!(event_name, "ping\\u{0}\\u{7f}\\u{1b}[31m");
    }

    #[test]
    fn a_nul_in_a_leavers_attributes_becomes_a_replacement_character() {
        let body = br#"{"type":"employee.terminated","data":{"id":"e1","display_name":"A\u0000B",
            "extra":{"k\u0000":["\u0000"]}}}"#;
        let event = match normalize(SourceKind::StandardWebhooks, body, Utc::now()) {
            Ok(Normalized::Employee(event)) => event,
            other => panic!("expected an employee event, got {other:?}"),
        };
        assert_eq!(event.kind, EventKind::Terminated);
        let attributes = &event.attributes;
        assert_eq!(attributes.display_name.as_deref(), Some("A\u{fffd}B"));
        assert_eq!(attributes.data["display_name"], "A\u{fffd}B");
        assert_eq!(attributes.data["extra"]["k\u{fffd}"][0], "\u{fffd}");
        assert!(!attributes.data.to_string().contains("\\u0000"));
    }

    #[test]
    fn an_employee_id_with_a_nul_character_is_invalid() {
        let body = br#"{"type":"employee.created","timestamp":"2026-03-01T09:00:00Z","data":{"id":"x\u0000y"}}"#;
        let result = normalize(SourceKind::StandardWebhooks, body, Utc::now());
        assert!(
            matches!(
                result,
                Err(NormalizeError::Invalid {
                    field: "employee id",
                    ..
                })
            ),
            "{result:?}"
        );
    }
}
