//! `standard-webhooks`: provisiond's own envelope `{type, timestamp, data}`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ignored, object, required_id, status_is, text, time, Verb};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let name = text(payload, "type").ok_or(NormalizeError::Missing("type"))?;
    let Some(kind) = event_kind(&name) else {
        return Ok(ignored(&name, unknown_reason(&name)));
    };
    let data = object(payload, "data", "data")?;
    let kind = if status_is(data, "status", &["terminated", "inactive"]) {
        EventKind::Terminated
    } else {
        kind
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(data, &["id"], "data.id")?,
        occurred_at: time(payload, "timestamp", "timestamp")?.unwrap_or(received_at),
        effective_at: time(data, "termination_date", "data.termination_date")?,
        attributes: attributes(data),
    }))
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    match lower.strip_prefix("employee.")? {
        "terminated" => Some(EventKind::Terminated),
        verb => Verb::parse(verb).map(Verb::kind),
    }
}

fn unknown_reason(name: &str) -> &'static str {
    if name.to_ascii_lowercase().starts_with("employee.") {
        "unknown employee event"
    } else {
        "not an employee event"
    }
}

fn attributes(data: &Value) -> Attributes {
    Attributes {
        email: text(data, "email"),
        given_name: text(data, "given_name"),
        family_name: text(data, "family_name"),
        display_name: text(data, "display_name"),
        department: text(data, "department"),
        title: text(data, "title"),
        manager_id: text(data, "manager_id"),
        location: text(data, "location"),
        start_date: text(data, "start_date"),
        employment_status: text(data, "status"),
        data: data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::StandardWebhooks;

    const HIRE: &str = r#"{"type":"employee.created","timestamp":"2026-03-02T09:15:00.250+01:00",
        "data":{"id":"emp_123","email":"grace@example.com","given_name":"Grace","family_name":"Hopper",
                "display_name":"Grace Hopper","department":"Engineering","title":"Rear Admiral",
                "manager_id":"emp_7","location":"Arlington","start_date":"2026-03-02","status":"active"}}"#;

    #[test]
    fn an_envelope_created_event_maps_every_attribute() {
        let event = employee(run(StandardWebhooks, HIRE));
        assert_eq!(event.kind, EventKind::Created);
        assert_eq!(event.employee_id, "emp_123");
        assert_eq!(event.occurred_at, at("2026-03-02T08:15:00.250Z"));
        assert_eq!(event.effective_at, None);
        let a = &event.attributes;
        assert_eq!(a.email.as_deref(), Some("grace@example.com"));
        assert_eq!(
            (a.given_name.as_deref(), a.family_name.as_deref()),
            (Some("Grace"), Some("Hopper"))
        );
        assert_eq!(a.display_name.as_deref(), Some("Grace Hopper"));
        assert_eq!(a.department.as_deref(), Some("Engineering"));
        assert_eq!(a.title.as_deref(), Some("Rear Admiral"));
        assert_eq!(a.manager_id.as_deref(), Some("emp_7"));
        assert_eq!(a.location.as_deref(), Some("Arlington"));
        assert_eq!(a.start_date.as_deref(), Some("2026-03-02"));
        assert_eq!(a.employment_status.as_deref(), Some("active"));
        assert_eq!(a.data["id"], "emp_123");
    }

    #[test]
    fn envelope_type_names_and_synonyms_map_case_insensitively() {
        for (name, kind) in [
            ("employee.added", EventKind::Created),
            ("Employee.Created", EventKind::Created),
            ("employee.changed", EventKind::Updated),
            ("EMPLOYEE.UPDATED", EventKind::Updated),
            ("employee.removed", EventKind::Terminated),
            ("employee.deleted", EventKind::Terminated),
            ("employee.terminated", EventKind::Terminated),
        ] {
            let body = format!(r#"{{"type":"{name}","data":{{"id":"emp_9"}}}}"#);
            assert_eq!(employee(run(StandardWebhooks, &body)).kind, kind, "{name}");
        }
    }

    #[test]
    fn an_envelope_terminated_event_keeps_its_termination_date() {
        let body = r#"{"type":"employee.terminated","timestamp":"2026-03-31T17:00:00Z",
            "data":{"id":"emp_123","termination_date":"2026-03-31"}}"#;
        let event = employee(run(StandardWebhooks, body));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.effective_at, Some(at("2026-03-31T00:00:00Z")));
        assert_eq!(event.occurred_at, at("2026-03-31T17:00:00Z"));
    }

    #[test]
    fn an_inactive_status_terminates_whatever_the_event_name() {
        let body = r#"{"type":"employee.updated","data":{"id":"emp_123","status":"Inactive"}}"#;
        assert_eq!(
            employee(run(StandardWebhooks, body)).kind,
            EventKind::Terminated
        );
    }

    #[test]
    fn an_envelope_without_timestamp_falls_back_to_receipt_time() {
        let body = r#"{"type":"employee.updated","data":{"id":"emp_123"}}"#;
        assert_eq!(
            employee(run(StandardWebhooks, body)).occurred_at,
            super::super::test_support::received()
        );
    }

    #[test]
    fn non_employee_envelopes_are_ignored() {
        for name in ["ping", "test", "user.created", "employee.onboarded"] {
            let body = format!(r#"{{"type":"{name}","data":{{}}}}"#);
            assert_eq!(ignored_name(run(StandardWebhooks, &body)), name);
        }
    }

    #[test]
    fn an_envelope_without_data_id_is_an_error() {
        let body = r#"{"type":"employee.created","data":{"email":"a@example.com"}}"#;
        let err = run(StandardWebhooks, body).unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.id")));
    }

    #[test]
    fn an_envelope_with_a_bad_timestamp_is_invalid() {
        let body = r#"{"type":"employee.created","timestamp":"soon","data":{"id":"e"}}"#;
        let err = run(StandardWebhooks, body).unwrap_err();
        assert!(matches!(
            err,
            NormalizeError::Invalid {
                field: "timestamp",
                ..
            }
        ));
    }
}
