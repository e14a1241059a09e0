//! `workos`: Directory Sync events `{id, event: "dsync.user.updated", data: <directory user>}`.
//!
//! A leaver arrives either as `dsync.user.deleted` ("secure flow") or as `dsync.user.updated`
//! with `state: inactive` ("custom management flow"); both terminate. Deleting a whole
//! directory sends only `dsync.deleted` (WorkOS sends no per-user deletions then): every
//! user of that directory leaves.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{first_text, ignored, object, required_id, status_is, text, time, Verb};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

const SCIM_ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let name = text(payload, "event").ok_or(NormalizeError::Missing("event"))?;
    if name.eq_ignore_ascii_case("dsync.deleted") {
        let data = object(payload, "data", "data")?;
        return Ok(Normalized::DirectoryDeleted {
            directory_id: required_id(data, &["id"], "data.id")?,
            occurred_at: time(payload, "created_at", "created_at")?.unwrap_or(received_at),
        });
    }
    let Some(verb) = user_verb(&name) else {
        return Ok(ignored(&name, "not a directory user event"));
    };
    let data = object(payload, "data", "data")?;
    let kind = if verb == Verb::Deleted || status_is(data, "state", &["inactive", "suspended"]) {
        EventKind::Terminated
    } else {
        verb.kind()
    };
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(data, &["id"], "data.id")?,
        occurred_at: occurred_at(payload, data)?.unwrap_or(received_at),
        effective_at: None,
        attributes: attributes(data),
    }))
}

fn user_verb(name: &str) -> Option<Verb> {
    let lower = name.to_ascii_lowercase();
    Verb::parse(lower.strip_prefix("dsync.user.")?)
}

fn occurred_at(payload: &Value, data: &Value) -> Result<Option<DateTime<Utc>>, NormalizeError> {
    match time(data, "updated_at", "data.updated_at")? {
        Some(at) => Ok(Some(at)),
        None => time(payload, "created_at", "created_at"),
    }
}

/// The directory user's attributes (also read from WorkOS's API by enrichment).
pub(crate) fn attributes(data: &Value) -> Attributes {
    let custom = &data["custom_attributes"];
    let enterprise = &data["raw_attributes"][SCIM_ENTERPRISE];
    Attributes {
        email: text(data, "email").or_else(|| listed_email(data)),
        given_name: text(data, "first_name"),
        family_name: text(data, "last_name"),
        display_name: text(data, "name"),
        department: text(custom, "department").or_else(|| text(enterprise, "department")),
        title: first_text(custom, &["job_title", "title"]),
        manager_id: text(custom, "manager_id").or_else(|| text(&enterprise["manager"], "value")),
        location: text(custom, "location"),
        start_date: text(custom, "start_date"),
        employment_status: text(data, "state"),
        data: data.clone(),
    }
}

/// Older payloads carry `emails: [{primary, type, value}]`: the primary one, else the first.
fn listed_email(data: &Value) -> Option<String> {
    let emails = data.get("emails")?.as_array()?;
    let primary = emails.iter().find(|e| e["primary"] == Value::Bool(true));
    primary.or(emails.first()).and_then(|e| text(e, "value"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, employee, ignored_name, received, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Workos;

    fn body(event: &str, data: &str) -> String {
        format!(
            r#"{{"object":"event","id":"event_01TEST","event":"{event}","data":{data},
                "created_at":"2026-03-31T06:12:45.000Z"}}"#
        )
    }

    const USER: &str = r#"{"object":"directory_user","id":"directory_user_01TEST","directory_id":"directory_01",
        "first_name":"Dorothy","last_name":"Vaughan","name":"Dorothy Vaughan","email":"dorothy@langley.example",
        "state":"active","custom_attributes":{"department":"Computing","job_title":"Supervisor"},
        "raw_attributes":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
            {"manager":{"value":"00u_manager","displayName":"Boss"}}},
        "created_at":"2024-01-08T10:00:00.000Z","updated_at":"2026-03-31T06:12:44.123Z"}"#;

    #[test]
    fn workos_user_created_maps_attributes() {
        let event = employee(run(Workos, &body("dsync.user.created", USER)));
        assert_eq!(event.kind, EventKind::Created);
        assert_eq!(event.employee_id, "directory_user_01TEST");
        assert_eq!(event.occurred_at, at("2026-03-31T06:12:44.123Z"));
        let a = &event.attributes;
        assert_eq!(a.email.as_deref(), Some("dorothy@langley.example"));
        assert_eq!(a.given_name.as_deref(), Some("Dorothy"));
        assert_eq!(a.family_name.as_deref(), Some("Vaughan"));
        assert_eq!(a.display_name.as_deref(), Some("Dorothy Vaughan"));
        assert_eq!(a.department.as_deref(), Some("Computing"));
        assert_eq!(a.title.as_deref(), Some("Supervisor"));
        assert_eq!(a.manager_id.as_deref(), Some("00u_manager"));
        assert_eq!(a.employment_status.as_deref(), Some("active"));
        assert_eq!(a.data["directory_id"], "directory_01");
    }

    #[test]
    fn workos_user_deleted_is_a_termination() {
        let event = employee(run(Workos, &body("dsync.user.deleted", USER)));
        assert_eq!(event.kind, EventKind::Terminated);
    }

    #[test]
    fn workos_inactive_or_suspended_update_is_a_termination() {
        for state in ["inactive", "Suspended"] {
            let data = format!(r#"{{"id":"directory_user_02","state":"{state}"}}"#);
            let event = employee(run(Workos, &body("DSYNC.USER.UPDATED", &data)));
            assert_eq!(event.kind, EventKind::Terminated, "{state}");
            assert_eq!(event.occurred_at, at("2026-03-31T06:12:45Z"));
        }
    }

    #[test]
    fn workos_active_update_is_an_update() {
        let event = employee(run(Workos, &body("dsync.user.updated", USER)));
        assert_eq!(event.kind, EventKind::Updated);
    }

    #[test]
    fn workos_legacy_emails_list_yields_the_primary_address() {
        let data = r#"{"id":"u1","emails":[{"primary":false,"value":"old@x.example"},
                       {"primary":true,"type":"work","value":"main@x.example"}]}"#;
        let event = employee(run(Workos, &body("dsync.user.created", data)));
        assert_eq!(event.attributes.email.as_deref(), Some("main@x.example"));
        let unflagged = r#"{"id":"u1","emails":[{"value":"only@x.example"}]}"#;
        let event = employee(run(Workos, &body("dsync.user.created", unflagged)));
        assert_eq!(event.attributes.email.as_deref(), Some("only@x.example"));
    }

    #[test]
    fn workos_custom_title_and_manager_id_are_used() {
        let data = r#"{"id":"u1","custom_attributes":{"title":"Analyst","manager_id":"u0"}}"#;
        let a = employee(run(Workos, &body("dsync.user.created", data))).attributes;
        assert_eq!(
            (a.title.as_deref(), a.manager_id.as_deref()),
            (Some("Analyst"), Some("u0"))
        );
    }

    #[test]
    fn workos_without_any_timestamp_uses_receipt_time() {
        let body = r#"{"event":"dsync.user.created","data":{"id":"u1"}}"#;
        assert_eq!(employee(run(Workos, body)).occurred_at, received());
    }

    #[test]
    fn workos_group_and_directory_events_are_ignored() {
        for name in [
            "dsync.group.user_added",
            "dsync.activated",
            "user.created",
            "dsync.user.synced",
        ] {
            assert_eq!(ignored_name(run(Workos, &body(name, "{}"))), name);
        }
    }

    #[test]
    fn workos_user_event_without_an_id_is_an_error() {
        let err = run(
            Workos,
            &body("dsync.user.created", r#"{"email":"a@b.example"}"#),
        )
        .unwrap_err();
        assert!(matches!(err, NormalizeError::Missing("data.id")));
    }

    #[test]
    fn workos_directory_deleted_names_the_directory() {
        let body = r#"{"id":"event_9","event":"dsync.deleted","created_at":"2026-03-31T06:12:45.000Z",
            "data":{"object":"directory","id":"directory_01","state":"deleting"}}"#;
        match run(Workos, body).unwrap() {
            crate::domain::event::Normalized::DirectoryDeleted {
                directory_id,
                occurred_at,
            } => {
                assert_eq!(directory_id, "directory_01");
                assert_eq!(occurred_at, at("2026-03-31T06:12:45Z"));
            }
            other => panic!("expected a deleted directory, got {other:?}"),
        }
    }
}
