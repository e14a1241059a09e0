//! `merge`: `{hook: {event: "Employee.changed"}, linked_account, data: <Employee>}`.
//!
//! Merge has no termination event: a leaver arrives as `Employee.changed` with
//! `employment_status: INACTIVE` and/or a `termination_date`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ignored, object, required_id, status_is, text, time, Verb};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let Some(name) = payload.get("hook").and_then(|hook| text(hook, "event")) else {
        return without_hook(payload);
    };
    let Some(verb) = employee_verb(&name) else {
        return Ok(ignored(
            &name,
            "not an employee added/changed/removed event",
        ));
    };
    let data = object(payload, "data", "data")?;
    let effective_at = time(data, "termination_date", "data.termination_date")?;
    let kind = if verb == Verb::Deleted || is_terminated(data, effective_at, received_at)? {
        EventKind::Terminated
    } else {
        verb.kind()
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(data, &["id"], "data.id")?,
        occurred_at: time(data, "modified_at", "data.modified_at")?.unwrap_or(received_at),
        effective_at,
        attributes: attributes(data),
    }))
}

/// Merge's "Send test POST request" body is `{"response": "Success! ..."}`.
fn without_hook(payload: &Value) -> Result<Normalized, NormalizeError> {
    if payload.get("response").is_some() {
        return Ok(ignored("test", "Merge test ping"));
    }
    Err(NormalizeError::Missing("hook.event"))
}

fn employee_verb(name: &str) -> Option<Verb> {
    let (model, verb) = name.split_once('.')?;
    if !model.eq_ignore_ascii_case("employee") {
        return None;
    }
    Verb::parse(verb)
}

/// A termination date that has passed counts, unless a later start date shows a rehire.
fn is_terminated(
    data: &Value,
    termination: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Result<bool, NormalizeError> {
    if status_is(data, "employment_status", &["inactive"])
        || data.get("remote_was_deleted") == Some(&Value::Bool(true))
    {
        return Ok(true);
    }
    let Some(termination) = termination.filter(|t| *t <= received_at) else {
        return Ok(false);
    };
    let start = time(data, "start_date", "data.start_date")?;
    Ok(start.is_none_or(|start| start <= termination))
}

/// The Employee's attributes (also read from Merge's API by enrichment).
pub(crate) fn attributes(data: &Value) -> Attributes {
    Attributes {
        email: text(data, "work_email").or_else(|| text(data, "personal_email")),
        given_name: text(data, "first_name"),
        family_name: text(data, "last_name"),
        display_name: text(data, "display_full_name"),
        department: text(data, "department"),
        title: text(data, "job_title"),
        manager_id: text(data, "manager"),
        location: None,
        start_date: text(data, "start_date").or_else(|| text(data, "hire_date")),
        employment_status: text(data, "employment_status"),
        data: data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, received, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Merge;

    fn body(event: &str, data: &str) -> String {
        format!(
            r#"{{"hook":{{"id":"c0ffee00-0000-4000-8000-000000000001","event":"{event}"}},
                "linked_account":{{"id":"la_1","integration_slug":"personio"}},"data":{data}}}"#
        )
    }

    const LEAVER: &str = r#"{"id":"3f2a9c1e-aaaa-4bbb-8ccc-000000000042","remote_id":"88",
        "first_name":"Katherine","last_name":"Johnson","display_full_name":"Katherine Johnson",
        "work_email":"katherine@orbit.example","personal_email":"kj@home.example",
        "manager":"3f2a9c1e-aaaa-4bbb-8ccc-000000000001","employment_status":"INACTIVE",
        "start_date":"2023-05-02T00:00:00Z","termination_date":"2026-03-20T00:00:00Z",
        "remote_was_deleted":false,"modified_at":"2026-03-20T07:30:00.5Z"}"#;

    #[test]
    fn merge_inactive_employee_changed_is_a_termination() {
        let event = employee(run(Merge, &body("Employee.changed", LEAVER)));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.employee_id, "3f2a9c1e-aaaa-4bbb-8ccc-000000000042");
        assert_eq!(event.occurred_at, at("2026-03-20T07:30:00.5Z"));
        assert_eq!(event.effective_at, Some(at("2026-03-20T00:00:00Z")));
        let a = &event.attributes;
        assert_eq!(a.email.as_deref(), Some("katherine@orbit.example"));
        assert_eq!(a.given_name.as_deref(), Some("Katherine"));
        assert_eq!(a.family_name.as_deref(), Some("Johnson"));
        assert_eq!(a.display_name.as_deref(), Some("Katherine Johnson"));
        assert_eq!(
            a.manager_id.as_deref(),
            Some("3f2a9c1e-aaaa-4bbb-8ccc-000000000001")
        );
        assert_eq!(a.employment_status.as_deref(), Some("INACTIVE"));
        assert_eq!(a.data["remote_id"], "88");
    }

    #[test]
    fn merge_future_termination_date_stays_active_with_effective_at() {
        let data = r#"{"id":"e42","employment_status":"ACTIVE","termination_date":"2026-06-30"}"#;
        let event = employee(run(Merge, &body("Employee.changed", data)));
        assert_eq!(event.kind, EventKind::Updated);
        assert_eq!(event.effective_at, Some(at("2026-06-30T00:00:00Z")));
        assert_eq!(event.occurred_at, received());
    }

    #[test]
    fn merge_past_termination_date_terminates_an_active_status() {
        let data = r#"{"id":"e42","employment_status":"ACTIVE","termination_date":"2026-03-01"}"#;
        assert_eq!(
            employee(run(Merge, &body("Employee.changed", data))).kind,
            EventKind::Terminated
        );
    }

    #[test]
    fn merge_rehire_after_an_old_termination_date_stays_active() {
        let data = r#"{"id":"e42","employment_status":"ACTIVE","termination_date":"2025-01-31",
                       "start_date":"2026-02-01"}"#;
        assert_eq!(
            employee(run(Merge, &body("Employee.changed", data))).kind,
            EventKind::Updated
        );
    }

    #[test]
    fn merge_remote_deletion_and_removed_events_terminate() {
        let deleted = r#"{"id":"e42","employment_status":"ACTIVE","remote_was_deleted":true}"#;
        let kind = employee(run(Merge, &body("Employee.changed", deleted))).kind;
        assert_eq!(kind, EventKind::Terminated);
        let removed = employee(run(Merge, &body("Employee.removed", r#"{"id":"e42"}"#)));
        assert_eq!(removed.kind, EventKind::Terminated);
    }

    #[test]
    fn merge_event_names_match_case_insensitively_with_synonyms() {
        for (name, kind) in [
            ("Employee.added", EventKind::Created),
            ("employee.created", EventKind::Created),
            ("EMPLOYEE.CHANGED", EventKind::Updated),
            ("employee.updated", EventKind::Updated),
            ("Employee.Deleted", EventKind::Terminated),
        ] {
            let event = employee(run(
                Merge,
                &body(name, r#"{"id":"e1","employment_status":"ACTIVE"}"#),
            ));
            assert_eq!(event.kind, kind, "{name}");
        }
    }

    #[test]
    fn merge_falls_back_to_personal_email() {
        let data = r#"{"id":"e1","work_email":null,"personal_email":"me@home.example"}"#;
        let event = employee(run(Merge, &body("Employee.added", data)));
        assert_eq!(event.attributes.email.as_deref(), Some("me@home.example"));
    }

    #[test]
    fn merge_non_employee_events_are_ignored() {
        for name in [
            "LinkedAccount.synced",
            "Issue.created",
            "Employment.changed",
            "Employee.synced",
        ] {
            assert_eq!(ignored_name(run(Merge, &body(name, "{}"))), name);
        }
    }

    #[test]
    fn merge_test_ping_is_ignored() {
        let ping = r#"{"response": "Success! This URL will be notified."}"#;
        assert_eq!(ignored_name(run(Merge, ping)), "test");
    }

    #[test]
    fn merge_employee_event_without_an_id_is_an_error() {
        let err = run(Merge, &body("Employee.added", r#"{"first_name":"X"}"#)).unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.id")));
        let no_hook = run(Merge, r#"{"data":{"id":"e1"}}"#).unwrap_err();
        assert!(matches!(no_hook, NormalizeError::Missing("hook.event")));
    }
}
