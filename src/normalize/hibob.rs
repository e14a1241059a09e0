//! `hibob`: v2 thin events `{companyId, type, triggeredAt, version, data: {employeeId, …}}`.
//!
//! Lifecycle events fire on the effective date, so `employee.left` terminates at once, and
//! so does `employee.access.revoked.immediately` (Bob's immediate access revocation).
//! `employee.inactivated` also fires for a leave of absence: it terminates only when the
//! record it carries says terminated, else it is an update (which never re-activates).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{first_text, ignored, object, required_id, text, time};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

const PING: &str = "Ping test";

/// Bob's connection test can be the bare, non-JSON text `Ping test`.
pub(super) fn is_plain_ping(body: &[u8]) -> bool {
    body.trim_ascii() == PING.as_bytes()
}

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    if payload.as_str() == Some(PING) || text(payload, "text").as_deref() == Some(PING) {
        return Ok(ignored(PING, "HiBob connection test"));
    }
    let Some(name) = text(payload, "type") else {
        return Ok(ignored("unknown", "HiBob payload without a type"));
    };
    let Some(kind) = event_kind(&name) else {
        return Ok(ignored(&name, "not an employee lifecycle or data event"));
    };
    let data = object(payload, "data", "data")?;
    let inactivated = name.eq_ignore_ascii_case("employee.inactivated");
    let kind = match kind {
        EventKind::Terminated if inactivated && !says_terminated(data) => EventKind::Updated,
        kind => kind,
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(data, &["employeeId", "id"], "data.employeeId")?,
        occurred_at: time(payload, "triggeredAt", "triggeredAt")?.unwrap_or(received_at),
        effective_at: None,
        attributes: attributes(data),
    }))
}

/// Whether the record in an event says the employee is terminated.
fn says_terminated(data: &Value) -> bool {
    ["status", "lifecycleStatus", "employmentStatus"]
        .iter()
        .any(|key| text(data, key).is_some_and(|s| s.eq_ignore_ascii_case("terminated")))
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("table.entry.") {
        return Some(EventKind::Updated);
    }
    if lower == "employee.access.revoked.immediately" {
        return Some(EventKind::Terminated);
    }
    match lower.strip_prefix("employee.")? {
        "created" | "joined" => Some(EventKind::Created),
        "updated" | "activated" => Some(EventKind::Updated),
        "left" | "inactivated" | "terminated" | "deleted" => Some(EventKind::Terminated),
        _ => None,
    }
}

fn attributes(data: &Value) -> Attributes {
    Attributes {
        email: text(data, "email"),
        given_name: text(data, "firstName"),
        family_name: first_text(data, &["surname", "lastName"]),
        display_name: text(data, "displayName"),
        data: data.clone(),
        ..Attributes::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, received, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Hibob;

    fn body(event: &str) -> String {
        format!(
            r#"{{"companyId":424242,"type":"{event}","triggeredBy":"system",
                "triggeredAt":"2026-03-31T06:12:44.123456","version":"v2",
                "data":{{"employeeId":"4100000000000000001","email":"annie@bob.example"}}}}"#
        )
    }

    #[test]
    fn hibob_events_map_to_kinds() {
        for (name, kind) in [
            ("employee.created", EventKind::Created),
            ("employee.joined", EventKind::Created),
            ("employee.updated", EventKind::Updated),
            ("table.entry.updated", EventKind::Updated),
            ("employee.left", EventKind::Terminated),
            ("employee.access.revoked.immediately", EventKind::Terminated),
            ("Employee.Inactivated", EventKind::Updated),
            ("employee.deleted", EventKind::Terminated),
        ] {
            let event = employee(run(Hibob, &body(name)));
            assert_eq!(event.kind, kind, "{name}");
            assert_eq!(event.employee_id, "4100000000000000001");
            assert_eq!(event.occurred_at, at("2026-03-31T06:12:44.123456Z"));
            assert_eq!(event.attributes.email.as_deref(), Some("annie@bob.example"));
        }
    }

    #[test]
    fn hibob_pings_in_every_form_are_ignored() {
        for ping in ["Ping test", "\"Ping test\"", r#"{"text":"Ping test"}"#] {
            assert_eq!(ignored_name(run(Hibob, ping)), "Ping test", "{ping}");
        }
    }

    #[test]
    fn hibob_unknown_events_are_ignored() {
        assert_eq!(
            ignored_name(run(Hibob, &body("employee.temporaryLeave"))),
            "employee.temporaryLeave"
        );
        assert_eq!(ignored_name(run(Hibob, "{}")), "unknown");
    }

    #[test]
    fn hibob_without_trigger_time_uses_receipt_time_and_requires_an_id() {
        let event = employee(run(
            Hibob,
            r#"{"type":"employee.created","data":{"employeeId":7}}"#,
        ));
        assert_eq!(
            (event.occurred_at, event.employee_id.as_str()),
            (received(), "7")
        );
        let err = run(Hibob, r#"{"type":"employee.created","data":{}}"#).unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.employeeId")));
    }

    #[test]
    fn hibob_inactivated_terminates_only_when_the_record_says_terminated() {
        let body = r#"{"type":"employee.inactivated","triggeredAt":"2026-03-31T06:12:44",
            "data":{"employeeId":"9","lifecycleStatus":"Terminated"}}"#;
        assert_eq!(employee(run(Hibob, body)).kind, EventKind::Terminated);
        let leave = body.replace("Terminated", "On leave");
        let event = employee(run(Hibob, &leave));
        assert_eq!(event.kind, EventKind::Updated, "a leave of absence");
        assert!(!event.says_active());
    }

    #[test]
    fn hibob_immediate_revocation_is_a_termination_now() {
        let event = employee(run(Hibob, &body("employee.access.revoked.immediately")));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.effective_at, None, "not scheduled");
    }
}
