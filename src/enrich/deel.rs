//! Deel: `GET {base_url}/rest/v2/contracts/{id}` with a bearer token, for contract events
//! that name no worker. The contract's `worker.id` is the employee the event is about;
//! its `status` (terminated, cancelled, completed) says whether the person left.

use serde_json::Value;

use super::{date, page_of, send_json, text, EnrichError, Enricher, Page, Record, PAGE_SIZE};
use crate::domain::event::Attributes;
use crate::normalize::deel::CONTRACT_PREFIX;

const ENDED: [&str; 3] = ["terminated", "cancelled", "completed"];

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let Some(contract) = id.strip_prefix(CONTRACT_PREFIX) else {
        return Ok(None);
    };
    let request = e
        .client
        .get(e.url(&format!("/rest/v2/contracts/{contract}")));
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "Deel contracts API").await?;
    Ok(body.and_then(|body| record(&body["data"])))
}

/// `GET /rest/v2/people?limit=…&offset=…`: `{data, page: {total_rows}}`.
pub(super) async fn list(e: &Enricher, cursor: Option<&str>) -> Result<Page, EnrichError> {
    let offset: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let request = e.client.get(e.url("/rest/v2/people"));
    let request = request.query(&[("limit", PAGE_SIZE as u64), ("offset", offset)]);
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "Deel people API").await?;
    let body = body.ok_or_else(|| EnrichError::Permanent("Deel people API answered 404".into()))?;
    let items = body["data"].as_array();
    let listed = items.map_or(0, Vec::len);
    let records = page_of(items, "Deel people API", &["id"], person)?;
    let seen = offset + listed as u64;
    let more = match body["page"]["total_rows"].as_u64() {
        Some(total) => seen < total && listed > 0,
        None => listed >= PAGE_SIZE,
    };
    Ok(Page {
        records,
        next: more.then(|| seen.to_string()),
    })
}

/// A person of Deel's people list: `hiring_status` says whether they are here.
fn person(body: &Value) -> Record {
    let status = text(body, "hiring_status")
        .or_else(|| text(body, "status"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let email = text(body, "work_email").or_else(|| {
        let emails = body["emails"].as_array()?;
        emails.iter().find_map(|e| text(e, "value"))
    });
    Record {
        left: matches!(status.as_str(), "terminated" | "inactive" | "offboarded"),
        active: status == "active",
        termination_date: date(body, "termination_date"),
        attributes: Attributes {
            email,
            given_name: text(body, "first_name"),
            family_name: text(body, "last_name"),
            display_name: text(body, "full_name"),
            department: text(&body["department"], "name").or_else(|| text(body, "department")),
            title: text(body, "job_title"),
            start_date: text(body, "start_date"),
            employment_status: Some(status).filter(|s| !s.is_empty()),
            data: body.clone(),
            ..Attributes::default()
        },
        ..Record::default()
    }
}

/// `None` when the contract names no worker: the event stays about the contract.
fn record(contract: &Value) -> Option<Record> {
    let worker = &contract["worker"];
    // The id becomes a key everywhere: one with control characters is not used.
    let worker_id = text(worker, "id").filter(|id| !id.chars().any(char::is_control))?;
    let status = text(contract, "status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ended = ENDED.contains(&status.as_str());
    let termination_date = ["termination_date", "end_date", "completion_date"]
        .iter()
        .find_map(|k| date(contract, k));
    Some(Record {
        employee_id: Some(worker_id),
        left: ended,
        active: status == "in_progress" || status == "active",
        termination_date,
        attributes: Attributes {
            email: text(worker, "email"),
            given_name: text(worker, "first_name"),
            family_name: text(worker, "last_name"),
            display_name: text(worker, "full_name").or_else(|| text(worker, "name")),
            data: contract.clone(),
            ..Attributes::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_terminated_contract_names_its_worker_and_has_left() {
        let r = record(
            &json!({"id": "c1", "status": "terminated", "termination_date": "2026-03-15",
            "worker": {"id": "w9", "email": "w9@deel.example"}}),
        )
        .unwrap();
        assert_eq!(r.employee_id.as_deref(), Some("w9"));
        assert!(r.left);
        assert!(record(&json!({"id": "c1", "status": "terminated"})).is_none());
    }
}
