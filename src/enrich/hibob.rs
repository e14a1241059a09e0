//! HiBob: `GET {base_url}/v1/people/{id}` with HTTP Basic (service user id, token). The
//! person's `internal` section says `status` (Active / Inactive), `lifecycleStatus`
//! (Employed, Terminated, On leave, …) and `terminationDate`; `work` gives department,
//! title and manager. This is what tells a termination from a leave of absence behind
//! Bob's `employee.inactivated`.

use serde_json::Value;

use super::{date, page_of, send_json, text, EnrichError, Enricher, Page, Record};
use crate::domain::event::Attributes;

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let user = e.api.user.as_deref().unwrap_or_default();
    let request = e.client.get(e.url(&format!("/v1/people/{id}")));
    let request = request.basic_auth(user, Some(e.api.token.expose()));
    let body = send_json(request, "HiBob people API").await?;
    Ok(body.as_ref().map(record))
}

/// `POST /v1/people/search` with `showInactive`: `{employees}`, one answer.
pub(super) async fn list(e: &Enricher) -> Result<Page, EnrichError> {
    let user = e.api.user.as_deref().unwrap_or_default();
    let request = e.client.post(e.url("/v1/people/search"));
    let request = request
        .basic_auth(user, Some(e.api.token.expose()))
        .json(&serde_json::json!({ "showInactive": true }));
    let body = send_json(request, "HiBob people search").await?;
    let body =
        body.ok_or_else(|| EnrichError::Permanent("HiBob people search not found".into()))?;
    let records = page_of(
        body["employees"].as_array(),
        "HiBob people search",
        &["id"],
        record,
    )?;
    Ok(Page {
        records,
        next: None,
    })
}

fn record(body: &Value) -> Record {
    let internal = &body["internal"];
    let work = &body["work"];
    let lifecycle = text(internal, "lifecycleStatus").unwrap_or_default();
    let status = text(internal, "status").unwrap_or_default();
    let terminated = lifecycle.eq_ignore_ascii_case("terminated");
    let termination_date = date(internal, "terminationDate");
    Record {
        left: terminated,
        active: status.eq_ignore_ascii_case("active") && !terminated,
        termination_date,
        attributes: Attributes {
            email: text(body, "email"),
            given_name: text(body, "firstName"),
            family_name: text(body, "surname"),
            display_name: text(body, "displayName"),
            department: text(work, "department"),
            title: text(work, "title"),
            manager_id: text(&work["reportsTo"], "id"),
            employment_status: Some(if terminated { lifecycle } else { status })
                .filter(|s| !s.is_empty()),
            data: body.clone(),
            ..Attributes::default()
        },
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terminated_lifecycle_has_left_and_a_leave_is_neither_gone_nor_an_active_signal() {
        let gone = record(&json!({"id": "1", "internal": {"status": "Inactive",
            "lifecycleStatus": "Terminated", "terminationDate": "2026-03-31"}}));
        assert!(gone.left && !gone.active);
        let leave =
            record(&json!({"internal": {"status": "Inactive", "lifecycleStatus": "On leave"}}));
        assert!(!leave.left && !leave.active);
        let here = record(&json!({"firstName": "Annie", "work": {"department": "R&D"},
            "internal": {"status": "Active", "lifecycleStatus": "Employed"}}));
        assert!(here.active);
        assert_eq!(here.attributes.department.as_deref(), Some("R&D"));
    }
}
