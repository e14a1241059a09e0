//! `bamboohr`: event-based `{type, timestamp, data: {companyId, employeeId, changedFields}}`
//! (thin: ids only) or the legacy field-based `{employees: [{id, action, timestamp, fields}]}`.
//!
//! BambooHR has no termination event; a status field in the payload is used when present.
//! Field-based payloads name fields as BambooHR shows them ("First Name", "Termination
//! Date", …) unless an admin set aliases (`firstName`): both are read, ignoring case,
//! spaces and punctuation.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ignored, object, parse_time, required_id, text, time, Verb};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    match payload.get("employees").and_then(Value::as_array) {
        Some(list) => field_based(list, received_at),
        None => event_based(payload, received_at),
    }
}

fn event_based(payload: &Value, received_at: DateTime<Utc>) -> Result<Normalized, NormalizeError> {
    let Some(name) = text(payload, "type") else {
        return Ok(ignored("unknown", "BambooHR payload without a type"));
    };
    let Some(kind) = event_kind(&name) else {
        return Ok(ignored(&name, "not an employee event"));
    };
    let data = object(payload, "data", "data")?;
    let id = required_id(data, &["employeeId", "id"], "data.employeeId")?;
    let occurred_at = time(payload, "timestamp", "timestamp")?.unwrap_or(received_at);
    Ok(employee(kind, id, occurred_at, received_at, data))
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    let verb = lower
        .strip_prefix("employee.")
        .or_else(|| lower.strip_prefix("employee_with_fields."))?;
    match verb {
        "update" => Some(EventKind::Updated),
        verb => Verb::parse(verb).map(Verb::kind),
    }
}

/// Legacy webhooks batch employees; only a single-employee batch maps to one event.
fn field_based(list: &[Value], received_at: DateTime<Utc>) -> Result<Normalized, NormalizeError> {
    let [entry] = list else {
        let reason = "legacy field-based batch of several employees; use event-based webhooks";
        return Ok(ignored("employee_with_fields", reason));
    };
    let action = text(entry, "action").unwrap_or_default();
    let Some(verb) = Verb::parse(&action) else {
        return Ok(ignored(
            &format!("employee_with_fields.{action}"),
            "unknown action",
        ));
    };
    let id = required_id(entry, &["id", "employeeId"], "employees[0].id")?;
    let occurred_at = time(entry, "timestamp", "employees[0].timestamp")?.unwrap_or(received_at);
    Ok(employee(verb.kind(), id, occurred_at, received_at, entry))
}

fn employee(
    kind: EventKind,
    employee_id: String,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    raw: &Value,
) -> Normalized {
    let fields = raw.get("fields").filter(|f| f.is_object()).unwrap_or(raw);
    let termination_date = field(fields, &["terminationDate"]).and_then(|d| parse_time(&d));
    let status_left = field_is(fields, &["status"], &["inactive", "terminated"])
        || field_is(
            fields,
            &["employmentHistoryStatus", "employmentStatus"],
            &["terminated"],
        );
    // A date counts once it has come by the time the event reached us (a late delivery of
    // "terminated as of yesterday" is a termination, not an update).
    let now = occurred_at.max(received_at);
    let date_passed = termination_date.is_some_and(|date| date <= now);
    Normalized::Employee(CanonicalEvent {
        kind: if status_left || date_passed {
            EventKind::Terminated
        } else {
            kind
        },
        employee_id,
        occurred_at,
        // A future date schedules the termination (the employee stays active until then);
        // a status that already says the person left terminates now, whatever the date.
        effective_at: termination_date.filter(|_| !status_left),
        attributes: attributes(fields, raw),
    })
}

fn attributes(fields: &Value, raw: &Value) -> Attributes {
    Attributes {
        email: field(fields, &["workEmail", "email", "homeEmail"]),
        given_name: field(fields, &["firstName", "preferredName"]),
        family_name: field(fields, &["lastName"]),
        display_name: field(fields, &["displayName", "fullName2"]),
        department: field(fields, &["department"]),
        title: field(fields, &["jobTitle"]),
        manager_id: field(fields, &["supervisorEId", "supervisorId", "reportsTo"]),
        location: field(fields, &["location"]),
        start_date: field(fields, &["hireDate"]),
        employment_status: field(
            fields,
            &["status", "employmentHistoryStatus", "employmentStatus"],
        ),
        data: raw.clone(),
    }
}

/// The first of `names` present in `fields`, matching BambooHR's display names ("Job
/// Title") as well as aliases (`jobTitle`): keys compare by their letters and digits,
/// ignoring case.
fn field(fields: &Value, names: &[&str]) -> Option<String> {
    let object = fields.as_object()?;
    names.iter().find_map(|name| {
        let wanted = folded(name);
        let (key, _) = object.iter().find(|(key, _)| folded(key) == wanted)?;
        text(fields, key)
    })
}

fn field_is(fields: &Value, names: &[&str], states: &[&str]) -> bool {
    field(fields, names).is_some_and(|s| states.iter().any(|st| s.eq_ignore_ascii_case(st)))
}

fn folded(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Bamboohr;

    #[test]
    fn bamboohr_event_based_created_maps_the_employee_id_and_timestamp() {
        let body = r#"{"type":"employee.created","timestamp":"2026-03-02T09:15:00+0000",
            "data":{"companyId":"777","employeeId":"2051"}}"#;
        let event = employee(run(Bamboohr, body));
        assert_eq!(event.kind, EventKind::Created);
        assert_eq!(event.employee_id, "2051");
        assert_eq!(event.occurred_at, at("2026-03-02T09:15:00Z"));
        assert_eq!(event.attributes.data["companyId"], "777");
    }

    #[test]
    fn bamboohr_event_names_map_to_kinds() {
        for (name, kind) in [
            ("employee.updated", EventKind::Updated),
            ("employee.update", EventKind::Updated),
            ("Employee_With_Fields.Created", EventKind::Created),
            ("employee.deleted", EventKind::Terminated),
        ] {
            let body = format!(r#"{{"type":"{name}","data":{{"employeeId":2051}}}}"#);
            let event = employee(run(Bamboohr, &body));
            assert_eq!(
                (event.kind, event.employee_id.as_str()),
                (kind, "2051"),
                "{name}"
            );
        }
    }

    #[test]
    fn bamboohr_legacy_single_employee_maps_fields_and_status() {
        let body = r#"{"employees":[{"id":"2051","action":"Updated","timestamp":"2026-03-20T10:00:00+00:00",
            "changedFields":["status"],"fields":{"firstName":"Mary","lastName":"Jackson",
            "workEmail":"mary@langley.example","department":"Engineering","jobTitle":"Engineer",
            "status":"Inactive"}}]}"#;
        let event = employee(run(Bamboohr, body));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(
            event.attributes.email.as_deref(),
            Some("mary@langley.example")
        );
        assert_eq!(event.attributes.title.as_deref(), Some("Engineer"));
        assert_eq!(event.occurred_at, at("2026-03-20T10:00:00Z"));
    }

    #[test]
    fn bamboohr_legacy_batches_and_unknown_shapes_are_ignored() {
        let batch =
            r#"{"employees":[{"id":"1","action":"Created"},{"id":"2","action":"Created"}]}"#;
        assert_eq!(ignored_name(run(Bamboohr, batch)), "employee_with_fields");
        assert_eq!(
            ignored_name(run(Bamboohr, r#"{"hello":"world"}"#)),
            "unknown"
        );
        assert_eq!(
            ignored_name(run(Bamboohr, r#"{"type":"timeoff.approved"}"#)),
            "timeoff.approved"
        );
    }

    #[test]
    fn bamboohr_event_without_employee_id_is_an_error() {
        let err = run(
            Bamboohr,
            r#"{"type":"employee.created","data":{"companyId":"7"}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.employeeId")));
    }

    #[test]
    fn bamboohr_field_based_default_field_names_map_and_a_past_termination_date_terminates() {
        let body = r#"{"employees":[{"id":"2051","action":"Updated",
            "timestamp":"2026-03-31T06:12:44+0000","changedFields":["Termination Date"],
            "fields":{"First Name":"Mary","Last Name":"Jackson","Work Email":"mary@example.com",
                      "Department":"Engineering","Job Title":"Engineer","Status":"Active",
                      "Termination Date":"2026-03-30"}}]}"#;
        let event = employee(run(Bamboohr, body));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.effective_at, Some(at("2026-03-30T00:00:00Z")));
        let a = &event.attributes;
        assert_eq!(a.given_name.as_deref(), Some("Mary"));
        assert_eq!(a.family_name.as_deref(), Some("Jackson"));
        assert_eq!(a.email.as_deref(), Some("mary@example.com"));
        assert_eq!(a.department.as_deref(), Some("Engineering"));
        assert_eq!(a.title.as_deref(), Some("Engineer"));
    }

    #[test]
    fn bamboohr_default_status_inactive_terminates_and_a_future_date_is_carried() {
        let inactive = r#"{"employees":[{"id":"7","action":"Updated",
            "fields":{"Status":"Inactive"}}]}"#;
        assert_eq!(
            employee(run(Bamboohr, inactive)).kind,
            EventKind::Terminated
        );
        let later = r#"{"employees":[{"id":"7","action":"Updated",
            "timestamp":"2026-03-31T06:12:44+0000","fields":{"Termination Date":"2026-06-30"}}]}"#;
        let event = employee(run(Bamboohr, later));
        assert_eq!(event.kind, EventKind::Updated, "scheduled, not yet");
        assert_eq!(event.effective_at, Some(at("2026-06-30T00:00:00Z")));
    }

    #[test]
    fn bamboohr_a_termination_date_passed_by_delivery_time_terminates_and_status_wins_over_a_date()
    {
        // Sent on the 30th with the 31st as the date, received on April 1st.
        let late = r#"{"employees":[{"id":"8","action":"Updated",
            "timestamp":"2026-03-30T06:00:00+0000","fields":{"Termination Date":"2026-03-31"}}]}"#;
        assert_eq!(employee(run(Bamboohr, late)).kind, EventKind::Terminated);
        let inactive = r#"{"employees":[{"id":"8","action":"Updated",
            "fields":{"Status":"Inactive","Termination Date":"2026-09-30"}}]}"#;
        let event = employee(run(Bamboohr, inactive));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(
            event.effective_at, None,
            "the status says gone: now, not in September"
        );
    }
}
