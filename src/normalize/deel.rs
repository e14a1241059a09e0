//! `deel`: `{data: {meta: {event_type, tracking_id, …}, resource: {…} | [{…}]}, timestamp}`.
//!
//! Deel terminates contracts (`contract.terminated`, with `completion_date`) rather than
//! employees; the worker id is preferred over the resource's own id so that contract and
//! profile events land on the same employee when Deel sends it. A contract event that
//! carries only the contract's own id is about `contract:<id>`: with the source's `api`,
//! the worker fetches the contract and applies the event to its worker.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{first_text, ignored, required_id, status_is, text, time};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

const ID_KEYS: [&str; 4] = ["worker_id", "hris_profile_id", "employee_id", "id"];
/// The employee id of a contract event that names no worker: `contract:<contract id>`.
pub const CONTRACT_PREFIX: &str = "contract:";

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let data = &payload["data"];
    let Some(name) = text(&data["meta"], "event_type") else {
        return Ok(ignored(
            "unknown",
            "Deel payload without data.meta.event_type",
        ));
    };
    let Some(kind) = event_kind(&name) else {
        return Ok(ignored(&name, "not a worker lifecycle event"));
    };
    let resource = resource(data).ok_or(NormalizeError::Missing("data.resource"))?;
    let kind = if status_is(
        resource,
        "status",
        &["terminated", "inactive", "offboarded"],
    ) {
        EventKind::Terminated
    } else {
        kind
    };
    let worker = first_text(resource, &ID_KEYS[..3]);
    let employee_id = match worker {
        Some(worker) => worker,
        None if name.to_ascii_lowercase().starts_with("contract.") => {
            let contract = required_id(resource, &["id"], "data.resource.id")?;
            format!("{CONTRACT_PREFIX}{contract}")
        }
        None => required_id(resource, &ID_KEYS, "data.resource.id")?,
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id,
        occurred_at: time(payload, "timestamp", "timestamp")?.unwrap_or(received_at),
        effective_at: effective_at(resource)?,
        attributes: attributes(resource),
    }))
}

/// The contracts a worker's event names: `contract_id`, `contract.id`, `contracts[].id`,
/// and the resource's own id when it is not the employee's (a contract naming its worker).
/// `data` is the event's resource (the canonical event's `attributes.data`).
pub fn contract_ids(data: &Value, employee_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = [text(data, "contract_id"), text(&data["contract"], "id")]
        .into_iter()
        .flatten()
        .collect();
    if let Some(contracts) = data["contracts"].as_array() {
        ids.extend(contracts.iter().filter_map(|c| text(c, "id")));
    }
    ids.extend(text(data, "id").filter(|id| id != employee_id));
    ids.retain(|id| id != employee_id && !id.chars().any(char::is_control));
    ids.sort();
    ids.dedup();
    ids
}

/// `resource` is documented both as an object and as an array; the first item is used.
fn resource(data: &Value) -> Option<&Value> {
    match data.get("resource")? {
        Value::Array(items) => items.first().filter(|r| r.is_object()),
        object @ Value::Object(_) => Some(object),
        _ => None,
    }
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("employee.created") || lower == "worker.v2.created" {
        Some(EventKind::Created)
    } else if lower.contains("terminat") || lower == "worker.v2.deleted" {
        Some(EventKind::Terminated)
    } else if lower.starts_with("employee.updated")
        || matches!(
            lower.as_str(),
            "worker.v2.updated" | "contract.status.updated"
        )
    {
        Some(EventKind::Updated)
    } else {
        None
    }
}

fn effective_at(resource: &Value) -> Result<Option<DateTime<Utc>>, NormalizeError> {
    match time(resource, "completion_date", "data.resource.completion_date")? {
        Some(at) => Ok(Some(at)),
        None => time(
            resource,
            "termination_date",
            "data.resource.termination_date",
        ),
    }
}

fn attributes(resource: &Value) -> Attributes {
    Attributes {
        email: first_text(resource, &["work_email", "email"]),
        given_name: text(resource, "first_name"),
        family_name: text(resource, "last_name"),
        display_name: text(resource, "full_name"),
        department: text(resource, "department"),
        title: text(resource, "job_title"),
        start_date: text(resource, "start_date"),
        employment_status: text(resource, "status"),
        data: resource.clone(),
        ..Attributes::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Deel;

    fn body(event: &str, resource: &str) -> String {
        format!(
            r#"{{"data":{{"meta":{{"event_type":"{event}","tracking_id":"trk_1","organization_id":"org_9"}},
                "resource":{resource}}},"timestamp":"2026-03-02T09:15:00.000Z"}}"#
        )
    }

    const PROFILE: &str = r#"{"id":"hris_profile_900","first_name":"Mae","last_name":"Jemison",
        "work_email":"mae@deel.example","job_title":"Astronaut"}"#;

    #[test]
    fn deel_employee_created_maps_the_profile() {
        let event = employee(run(Deel, &body("employee.created.eor", PROFILE)));
        assert_eq!(event.kind, EventKind::Created);
        assert_eq!(event.employee_id, "hris_profile_900");
        assert_eq!(event.occurred_at, at("2026-03-02T09:15:00Z"));
        assert_eq!(event.attributes.email.as_deref(), Some("mae@deel.example"));
        assert_eq!(event.attributes.title.as_deref(), Some("Astronaut"));
    }

    #[test]
    fn deel_contract_terminated_uses_worker_id_and_completion_date() {
        let contract =
            r#"[{"id":"contract_1","worker_id":"worker_77","completion_date":"2026-03-15"}]"#;
        let event = employee(run(Deel, &body("contract.terminated", contract)));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.employee_id, "worker_77");
        assert_eq!(event.effective_at, Some(at("2026-03-15T00:00:00Z")));
    }

    #[test]
    fn deel_worker_events_map_to_kinds() {
        for (name, kind) in [
            ("worker.v2.created", EventKind::Created),
            ("employee.updated.direct", EventKind::Updated),
            ("worker.v2.deleted", EventKind::Terminated),
        ] {
            assert_eq!(
                employee(run(Deel, &body(name, PROFILE))).kind,
                kind,
                "{name}"
            );
        }
    }

    #[test]
    fn deel_other_events_are_ignored_and_missing_resources_are_errors() {
        assert_eq!(
            ignored_name(run(Deel, &body("invoice.created", "{}"))),
            "invoice.created"
        );
        assert_eq!(ignored_name(run(Deel, r#"{"timestamp":"x"}"#)), "unknown");
        let err = run(Deel, &body("worker.v2.created", "[]")).unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.resource")));
    }

    #[test]
    fn deel_contract_event_without_a_worker_is_about_the_contract() {
        let contract = r#"{"id":"c_88","completion_date":"2026-03-15"}"#;
        let event = employee(run(Deel, &body("contract.terminated", contract)));
        assert_eq!(event.kind, EventKind::Terminated);
        assert_eq!(event.employee_id, "contract:c_88");
    }

    #[test]
    fn deel_contract_ids_come_from_every_documented_place_but_the_employee_itself() {
        let resource = serde_json::json!({"id": "c_1", "worker_id": "w_1", "contract_id": "c_2",
            "contract": {"id": "c_3"}, "contracts": [{"id": "c_4"}, {"id": "w_1"}]});
        let ids = super::contract_ids(&resource, "w_1");
        assert_eq!(ids, ["c_1", "c_2", "c_3", "c_4"]);
        let profile = serde_json::json!({"id": "hris_profile_1", "first_name": "Ada"});
        assert!(super::contract_ids(&profile, "hris_profile_1").is_empty());
    }
}
