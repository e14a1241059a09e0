//! `gusto`: thin events `{uuid, event_type, entity_type: "Employee", entity_uuid, timestamp}`.
//!
//! `employee.terminated` only announces a (possibly future-dated) termination, so it is an
//! update; the termination takes effect with `employee.terminated_effective` (also spelled
//! `employee.termination_effective`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ignored, required_id, text, time};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let Some(name) = text(payload, "event_type") else {
        return Ok(without_event_type(payload));
    };
    let about_employee =
        text(payload, "entity_type").is_none_or(|t| t.eq_ignore_ascii_case("employee"));
    let Some(kind) = event_kind(&name).filter(|_| about_employee) else {
        return Ok(ignored(&name, "not an employee event"));
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(payload, &["entity_uuid", "entity_id"], "entity_uuid")?,
        occurred_at: time(payload, "timestamp", "timestamp")?.unwrap_or(received_at),
        effective_at: None,
        attributes: Attributes {
            data: payload.clone(),
            ..Attributes::default()
        },
    }))
}

/// The subscription handshake posts `{"verification_token": …}` before any event.
fn without_event_type(payload: &Value) -> Normalized {
    if payload.get("verification_token").is_some() {
        return ignored("verification", "Gusto subscription verification token");
    }
    ignored("unknown", "Gusto payload without an event_type")
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.strip_prefix("employee.")? {
        "created" => EventKind::Created,
        "terminated_effective" | "termination_effective" | "deleted" => EventKind::Terminated,
        _ => EventKind::Updated,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Gusto;

    fn body(event: &str) -> String {
        format!(
            r#"{{"uuid":"0d1e2f30-0000-4000-8000-00000000abcd","event_type":"{event}","resource_type":"Company",
                "resource_uuid":"c0","entity_type":"Employee","entity_uuid":"e0e0e0e0-1111-4222-8333-444444444444",
                "timestamp":1774937564}}"#
        )
    }

    #[test]
    fn gusto_events_map_to_kinds_and_employee_uuid() {
        for (name, kind) in [
            ("employee.created", EventKind::Created),
            ("employee.onboarded", EventKind::Updated),
            ("employee.terminated", EventKind::Updated),
            ("employee.terminated_effective", EventKind::Terminated),
            ("employee.termination_effective", EventKind::Terminated),
            ("Employee.Deleted", EventKind::Terminated),
            ("employee.rehire_effective", EventKind::Updated),
        ] {
            let event = employee(run(Gusto, &body(name)));
            assert_eq!(event.kind, kind, "{name}");
            assert_eq!(event.employee_id, "e0e0e0e0-1111-4222-8333-444444444444");
            assert_eq!(event.occurred_at, at("2026-03-31T06:12:44Z"));
        }
    }

    #[test]
    fn gusto_handshake_and_company_events_are_ignored() {
        let handshake = r#"{"verification_token":"6590f590-0000-4000-8000-000000000000"}"#;
        assert_eq!(ignored_name(run(Gusto, handshake)), "verification");
        assert_eq!(
            ignored_name(run(Gusto, &body("company.updated"))),
            "company.updated"
        );
        let contractor = body("employee.created").replace(r#""Employee""#, r#""Contractor""#);
        assert_eq!(ignored_name(run(Gusto, &contractor)), "employee.created");
    }

    #[test]
    fn gusto_employee_event_without_entity_is_an_error() {
        let err = run(Gusto, r#"{"event_type":"employee.created"}"#).unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("entity_uuid")));
    }
}
