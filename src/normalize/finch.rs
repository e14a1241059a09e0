//! `finch`: thin events `{company_id, account_id, connection_id, entity_id, event_type,
//! data: {individual_id}}`; the event id is only in the `Finch-Event-Id` header.
//!
//! Finch has no termination event: a leaver is an `employment.updated` whose employment
//! (fetched from Finch's API) says `is_active: false` / `employment_status: terminated`.
//! Without that record an update is applied as far as its payload allows, which never
//! re-activates anyone. A deleted individual or employment is a termination: the person
//! is gone from the payroll system. A `created` creates the account of someone new but is
//! read as an update: Finch stamps no time and does not guarantee order, so a late
//! `created` must not count as a rehire of someone deleted since.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ignored, object, required_id, text, Verb};
use crate::domain::event::{Attributes, CanonicalEvent, EventKind, NormalizeError, Normalized};

/// The resources whose events are about a person.
const PEOPLE: [&str; 3] = ["individual", "employment", "directory"];

pub(super) fn normalize(
    payload: &Value,
    received_at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let Some(name) = text(payload, "event_type") else {
        return Ok(ignored("unknown", "Finch payload without an event_type"));
    };
    let Some(kind) = event_kind(&name) else {
        return Ok(ignored(&name, "not an individual or employment event"));
    };
    let data = object(payload, "data", "data")?;
    Ok(Normalized::Employee(CanonicalEvent {
        kind,
        employee_id: required_id(data, &["individual_id"], "data.individual_id")?,
        // Finch puts no time in the body.
        occurred_at: received_at,
        effective_at: None,
        attributes: Attributes {
            data: data.clone(),
            ..Attributes::default()
        },
    }))
}

fn event_kind(name: &str) -> Option<EventKind> {
    let lower = name.to_ascii_lowercase();
    let (resource, verb) = lower.split_once('.')?;
    if !PEOPLE.contains(&resource) {
        return None;
    }
    match Verb::parse(verb)? {
        Verb::Deleted => Some(EventKind::Terminated),
        Verb::Created | Verb::Updated => Some(EventKind::Updated),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{employee, ignored_name, received, run};
    use crate::domain::event::{EventKind, NormalizeError};
    use crate::domain::SourceKind::Finch;

    fn body(event: &str) -> String {
        format!(
            r#"{{"company_id":"6f0b0000-0000-4000-8000-000000000000","account_id":"1a2b",
                "connection_id":"c0ffee00-0000-4000-8000-000000000001","entity_id":null,
                "event_type":"{event}","data":{{"individual_id":"e1f2a3b4"}}}}"#
        )
    }

    #[test]
    fn finch_people_events_map_to_kinds_and_the_individual_id() {
        for (event, kind) in [
            ("employment.created", EventKind::Updated),
            ("directory.created", EventKind::Updated),
            ("individual.updated", EventKind::Updated),
            ("employment.updated", EventKind::Updated),
            ("employment.deleted", EventKind::Terminated),
            ("individual.deleted", EventKind::Terminated),
        ] {
            let e = employee(run(Finch, &body(event)));
            assert_eq!(e.kind, kind, "{event}");
            assert_eq!(e.employee_id, "e1f2a3b4");
            assert_eq!(e.occurred_at, received(), "no time in the body");
            assert!(!e.says_active(), "{event}: never a rehire signal");
        }
    }

    #[test]
    fn finch_company_payment_account_and_job_events_are_ignored() {
        for event in [
            "company.updated",
            "payment.created",
            "pay_statement.updated",
            "account.updated",
            "job.data_sync_all.completed",
        ] {
            assert_eq!(ignored_name(run(Finch, &body(event))), event);
        }
    }

    #[test]
    fn finch_people_event_without_individual_id_is_an_error() {
        let body = r#"{"event_type":"employment.updated","data":{}}"#;
        assert!(matches!(
            run(Finch, body),
            Err(NormalizeError::Missing("data.individual_id"))
        ));
    }
}
